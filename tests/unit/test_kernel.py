"""mvm's own kernel (`kernel: mvm`): the config check that catches an option olddefconfig dropped, the kernel's
content address, the build planned once and cached, the refusals, and VMs that boot it with no initrd."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import kernel, qemu
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.support import frontends
from tests.support.probes import ROOT, host

HOST = {"source": "6.1.192-1", "gcc": "gcc (Debian 12.2.0-14+deb12u1) 12.2.0", "built": [], "host_built": []}


def _files(**changes) -> str:
    """The host probe's records of mvm's kernel's inputs (gcc's version line, the source, the kernels built)."""
    found = dict(HOST, **changes)
    lines = ["tool\tgcc\tversion\t%s" % found["gcc"], "ksrc\tsource\t%s" % found["source"]]
    lines += ["ksrc\t%s\t%s" % (key, ident) for key in ("built", "host_built") for ident in found[key]]
    return "".join(line + "\n" for line in lines)


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


def _plan(params: dict, files: str):
    return frontends.engine("image", dict({"kernel": "mvm"}, **params), frontends.Recording(host() + files))


def test_a_cold_build_is_planned_with_a_warning_and_the_image_boots_it_without_an_initrd() -> None:
    plan = _plan({}, _files())
    steps = [s.description for s in plan.steps]
    kid = kernel.kernel_id(kernel.identity("x86_64", HOST))
    assert steps[1] == "build mvm's kernel %s (linux-source-6.1, about 5 minutes on 2 cores)" % kid
    assert steps[2] == "copy mvm's kernel" and not any("initramfs" in s for s in steps)
    build = plan.steps[1].command
    assert "tar -xf /usr/src/linux-source-6.1.tar.xz" in build and "make -s tinyconfig" in build
    assert "merge_config.sh -m .config mvm.config" in build and "the kernel config lost options" in build
    assert "mv -T out %s/%s" % (kernel.HOST_STORE, kid) in build  # root's store is the host's
    assert "w=%s/.build-%s.$$" % (kernel.HOST_STORE, kid) in build  # a build directory of this run's own
    assert any("building mvm's kernel" in w for w in plan.warnings)
    assert plan.after["inputs"]["kernel_build"]["source"] == "linux-source-6.1 6.1.192-1"


def test_a_built_kernel_is_not_built_again_and_a_new_fragment_is_a_new_kernel(monkeypatch) -> None:
    kid = kernel.kernel_id(kernel.identity("x86_64", HOST))
    steps = [s.description for s in _plan({}, _files(host_built=[kid])).steps]
    assert not any("build mvm's kernel" in s for s in steps) and "copy mvm's kernel" in steps
    # Built only under the state root (by a run as another user): root's run builds its own in the host's store.
    assert any(s.startswith("build mvm's kernel") for s in [s.description for s in _plan({}, _files(built=[kid])).steps])
    monkeypatch.setitem(kernel.FRAGMENTS, "x86_64", kernel.FRAGMENTS["x86_64"] + "CONFIG_IPV6=y\n")
    steps = [s.description for s in _plan({}, _files(host_built=[kid])).steps]
    assert any(s.startswith("build mvm's kernel") and kid not in s for s in steps)


@pytest.mark.parametrize("params,field", [({"initrd": "/boot/initrd.img"}, "initrd"),
                                          ({"kernel": "mvm;reboot"}, "kernel"), ({"kernel": "linux"}, "kernel")])
def test_what_mvms_kernel_cannot_boot_is_refused(params: dict, field: str) -> None:
    module = frontends.ansible("image", dict({"kernel": "mvm"}, **params),
                               frontends.Recording(host() + _files(), {"/boot/initrd.img": "ab" * 32}))
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
    assert frontends.three_ways("image", {"kernel": "mvm"}, host() + _files()) != []


def test_another_user_keeps_its_kernels_under_its_state_root() -> None:
    facts = host().replace("host\tuid\t0\n", "host\tuid\t1000\n")
    assert facts != host()
    kid = kernel.kernel_id(kernel.identity("x86_64", HOST))
    plan = frontends.engine("image", {"kernel": "mvm"}, frontends.Recording(facts + _files()))
    assert "mv -T out %s/kernels/%s" % (ROOT, kid) in plan.steps[1].command
    plan = frontends.engine("image", {"kernel": "mvm"}, frontends.Recording(facts + _files(built=[kid])))
    assert not any(s.description.startswith("build mvm's kernel") for s in plan.steps)


def _image(kernel_source: str) -> str:
    manifest = {"format": 5, "id": "0123456789abcdef", "kernel": "vmlinuz", "rootfs": "rootfs.ext4",
                "initrd": "initrd.img" if kernel_source == "debian" else None, "inputs": {"kernel": kernel_source}}
    return ("image\tdefault\ttarget\t../artifacts/0123456789abcdef\n"
            "image\tdefault\tmanifest\t%s\n" % json.dumps(manifest))


@pytest.mark.parametrize("files,existing,chosen", [
    ({}, None, "debian"),  # no source (or no compiler) on the host: Debian's kernel
    ("source", None, "mvm"),  # where mvm's kernel can be built, it is the default
    ("source", "debian", "debian"),  # an image built before keeps its kernel: no rebuild, no other kernel
])
def test_auto_is_mvms_kernel_where_it_can_be_built_and_an_existing_image_keeps_its_kernel(files, existing, chosen):
    facts = host(extra=[_image(existing)] if existing else [])
    found = _files() if files == "source" else _files(source="", gcc="gcc 12")
    module = frontends.ansible("image", {"name": "default"}, frontends.Recording(facts + found))
    assert not module.failed, module.result
    assert module.result["image"]["kernel_source"] == chosen, module.result
    assert ("initrd.img" in str(module.result["image"]["initrd"])) == (chosen == "debian")


def test_an_image_on_mvms_kernel_stays_converged_when_the_source_package_is_gone() -> None:
    plan = frontends.engine("image", {"name": "default"}, frontends.Recording(host() + _files()))
    ident, inputs = plan.after["id"], plan.after["inputs"]
    manifest = {"format": 5, "id": ident, "kernel": "vmlinuz", "rootfs": "rootfs.ext4", "initrd": None,
                "inputs": inputs, "kernel_source": "mvm"}
    facts = host(extra=["image\tdefault\ttarget\t../artifacts/%s\n" % ident,
                        "image\tdefault\tmanifest\t%s\n" % json.dumps(manifest),
                        "artifact\t%s\tdir\t%s/artifacts/%s\n" % (ident, ROOT, ident)])
    gone = _files(source="", gcc="")
    module = frontends.ansible("image", {"name": "default"}, frontends.Recording(facts + gone))
    assert not module.failed and not module.result["changed"], module.result
    assert module.result["image"]["kernel_source"] == "mvm"
    # A rebuild (another size) needs the kernel again: refused, naming what is missing, before anything runs.
    module = frontends.ansible("image", {"name": "default", "rootfs_size": 80}, frontends.Recording(facts + gone))
    assert module.failed and module.result["field"] == "kernel" and "not installed" in module.result["msg"]


def test_auto_on_an_arch_mvm_builds_no_kernel_for_is_debians_kernel() -> None:
    assert kernel.choose("auto", "riscv64", HOST, None) == "debian"
    assert kernel.choose("auto", "aarch64", HOST, None) == "mvm"
    assert kernel.choose("debian", "x86_64", HOST, None) == "debian"  # the user's own choice stays


def test_a_killed_runs_build_directory_is_removed_and_a_live_ones_stays(tmp_path) -> None:
    import os
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    prefix = str(tmp_path / ".build-abc.")
    for name in (str(dead.pid), str(os.getpid()), "x1", ""):
        os.mkdir(prefix + name)
    (tmp_path / "abc").mkdir()  # a published kernel
    subprocess.run(["/bin/sh", "-c", kernel.stale_builds_command(prefix)], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["abc", ".build-abc.", ".build-abc.%d" % os.getpid(), ".build-abc.x1"])


def test_the_host_probe_reads_the_kernels_inputs_once_per_file_without_python(tmp_path) -> None:
    """The host probe's kernel records, run for real with tool doubles on PATH (dpkg-query, gcc whose version line
    holds a tab; no python3 there at all): the facts carry what the planner takes, the kernels are listed by
    builtins, and the source's version is asked again only when its tarball changes (here: never, it is absent
    or the host's)."""
    import os
    import subprocess

    from ansible_collections.mvm.microvm.plugins.module_utils import probe

    tools, calls = tmp_path / "bin", tmp_path / "calls"
    tools.mkdir()
    for name, text in (("dpkg-query", "echo q >> %s; printf '6.1.200-1'" % calls),
                       ("gcc", "printf 'gcc\\t(Test) 13.1\\nmore\\n'")):
        (tools / name).write_text("#!/bin/sh\n%s\n" % text)
        (tools / name).chmod(0o755)
    for tool in ("sh", "head", "tr", "cat", "stat", "mv", "id", "uname", "timeout"):
        found = subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True, text=True).stdout.strip()
        if found:
            (tools / tool).symlink_to(found)
    root = tmp_path / "st"
    for ident in ("aaaa", "bbbb"):
        (root / "kernels" / ident).mkdir(parents=True)
        (root / "kernels" / ident / "manifest.json").write_text("{}")
    (root / "kernels" / "half").mkdir()  # no manifest: not a kernel
    os.chmod(root, 0o700)
    for _ in range(2):
        out = subprocess.run([str(tools / "sh"), "-c", probe.host_probe(str(root))], capture_output=True, text=True,
                             env={"PATH": str(tools)}, check=True).stdout
        got = kernel.found(probe.parse_host(out))
        has_source = os.path.exists(kernel.SOURCE_TARBALL)
        assert got == {"source": "6.1.200-1" if has_source else "", "gcc": "gcc(Test) 13.1", "built": ["aaaa", "bbbb"],
                       "host_built": got["host_built"]}
    assert (calls.read_text() if calls.exists() else "") == ("q\n" if has_source else "")  # asked once, then cached
