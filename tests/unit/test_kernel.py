"""mvm's own kernel (`kernel: mvm`): the config check that catches an option olddefconfig dropped, the kernel's
content address, the build planned once and cached, the refusals, and VMs that boot it with no initrd."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import kernel, qemu
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.support import frontends
from tests.support.probes import ROOT, host

HOST = {"source": "6.1.192-1", "gcc": "gcc (Debian 12.2.0-14+deb12u1) 12.2.0", "built": []}
ENTRY = kernel.probe_entry(ROOT)


def _files(**changes) -> dict:
    return {ENTRY: json.dumps(dict(HOST, **changes))}


def test_the_config_check_names_what_olddefconfig_dropped_or_left_on() -> None:
    config = "\n".join(line for line in kernel.wanted("x86_64") if not line.startswith("# "))
    assert kernel.missing("x86_64", config) == []
    dropped = config.replace("CONFIG_SQUASHFS=y\n", "")
    assert kernel.missing("x86_64", dropped) == ["CONFIG_SQUASHFS=y"]
    assert kernel.missing("x86_64", config + "\nCONFIG_MODULES=y") == ["# CONFIG_MODULES is not set"]


@pytest.mark.parametrize("arch", sorted(kernel.FRAGMENTS))
def test_each_fragment_builds_in_what_a_microvm_needs(arch: str) -> None:
    lines = kernel.wanted(arch)
    for option in ("CONFIG_VIRTIO_MMIO=y", "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y", "CONFIG_VIRTIO_BLK=y",
                   "CONFIG_VIRTIO_NET=y", "CONFIG_VIRTIO_CONSOLE=y", "CONFIG_VIRTIO_VSOCKETS=y",
                   "CONFIG_HW_RANDOM_VIRTIO=y", "CONFIG_EXT4_FS=y", "CONFIG_SQUASHFS=y", "CONFIG_OVERLAY_FS=y",
                   "CONFIG_DEVTMPFS=y", "CONFIG_SERIAL_8250_CONSOLE=y", "# CONFIG_MODULES is not set",
                   "# CONFIG_BLK_DEV_INITRD is not set"):
        assert option in lines, option
    assert len(lines) == len(set(lines))


def test_the_kernels_address_follows_source_compiler_and_fragment() -> None:
    base = kernel.kernel_id(kernel.identity("x86_64", HOST))
    assert kernel.kernel_id(kernel.identity("x86_64", HOST)) == base
    assert kernel.kernel_id(kernel.identity("x86_64", dict(HOST, source="6.1.193-1"))) != base
    assert kernel.kernel_id(kernel.identity("x86_64", dict(HOST, gcc="gcc 13"))) != base
    assert kernel.kernel_id(kernel.identity("aarch64", HOST)) != base


@pytest.mark.parametrize("arch,found,text", [
    ("x86_64", dict(HOST, source=""), "(package linux-source-6.1), which is not installed"),
    ("x86_64", dict(HOST, gcc=""), "needs gcc and make"),
    ("riscv64", HOST, "for aarch64, x86_64 only"),
])
def test_a_kernel_that_cannot_be_built_here_is_refused_naming_kernel(arch: str, found: dict, text: str) -> None:
    with pytest.raises(SpecError) as failed:
        kernel.identity(arch, found)
    assert failed.value.field == "kernel" and text in str(failed.value)


def _plan(params: dict, files: dict):
    return frontends.engine("image", dict({"kernel": "mvm"}, **params), frontends.Recording(host(), files))


def test_a_cold_build_is_planned_with_a_warning_and_the_image_boots_it_without_an_initrd() -> None:
    plan = _plan({}, _files())
    steps = [s.description for s in plan.steps]
    kid = kernel.kernel_id(kernel.identity("x86_64", HOST))
    assert steps[1] == "build mvm's kernel %s (linux-source-6.1, about 5 minutes on 2 cores)" % kid
    assert steps[2] == "copy mvm's kernel" and not any("initramfs" in s for s in steps)
    build = plan.steps[1].command
    assert "tar -xf /usr/src/linux-source-6.1.tar.xz" in build and "make -s tinyconfig" in build
    assert "merge_config.sh -m .config mvm.config" in build and "the kernel config lost options" in build
    assert "%s/kernels/%s" % (ROOT, kid) in build
    assert any("building mvm's kernel" in w for w in plan.warnings)
    assert plan.after["inputs"]["kernel_build"]["source"] == "linux-source-6.1 6.1.192-1"


def test_a_built_kernel_is_not_built_again_and_a_new_fragment_is_a_new_kernel(monkeypatch) -> None:
    kid = kernel.kernel_id(kernel.identity("x86_64", HOST))
    steps = [s.description for s in _plan({}, _files(built=[kid])).steps]
    assert not any("build mvm's kernel" in s for s in steps) and "copy mvm's kernel" in steps
    monkeypatch.setitem(kernel.FRAGMENTS, "x86_64", kernel.FRAGMENTS["x86_64"] + "CONFIG_IPV6=y\n")
    steps = [s.description for s in _plan({}, _files(built=[kid])).steps]
    assert any(s.startswith("build mvm's kernel") and kid not in s for s in steps)


@pytest.mark.parametrize("params,field", [({"initrd": "/boot/initrd.img"}, "initrd"),
                                          ({"kernel": "mvm;reboot"}, "kernel"), ({"kernel": "linux"}, "kernel")])
def test_what_mvms_kernel_cannot_boot_is_refused(params: dict, field: str) -> None:
    module = frontends.ansible("image", dict({"kernel": "mvm"}, **params),
                               frontends.Recording(host(), dict(_files(), **{"/boot/initrd.img": "ab" * 32})))
    assert module.failed and module.result.get("field") == field, module.result


@pytest.mark.parametrize("root_format,expected", [
    (None, "root=/dev/vda rw panic=-1 quiet init=/init"),
    ("squashfs", "root=/dev/vda ro rootfstype=squashfs panic=-1 quiet init=/init mvm.hostname=h mvm.overlay=vdb")])
def test_mvms_kernel_mounts_a_squashfs_root_read_only_for_the_init_to_overlay(root_format, expected) -> None:
    applied = {"name": "h", "hostname": "h", "arch": "x86_64", "kernel_source": "mvm", "tsc_khz": None,
               "kernel_args": "", "network": None}
    if root_format:
        applied["root_format"] = root_format
    assert expected in qemu.cmdline(applied)


def test_the_three_front_ends_plan_the_same_build() -> None:
    assert frontends.three_ways("image", {"kernel": "mvm"}, host(), _files()) != []
