"""mvm's own kernel for real: built here from Debian's linux-source-6.1 (once per machine: later runs find it in
the host's store, /var/cache/mvm/kernels), its config checked against the fragment, and guests booted with it under
QEMU with no initrd — the busybox image, an OCI image, on a TAP network, through a snapshot and its restore."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import agent, kernel, oci
from tests.conftest import need, need_root
from tests.real.conftest import BIN, ENV, PLAYBOOKS, ansible_playbook, engine_apply, host_facts, kill_under, wait_for
from tests.real.netns import Netns
from tests.support.fc_doubles import Doubles, run_on_kvm_host

HERE = Path(__file__).parent
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    need(os.path.exists(kernel.SOURCE_TARBALL), "needs linux-source-6.1 (scripts/setup.sh installs it)")
    root = tmp_path_factory.mktemp("kern")
    engine_apply("image", {"name": "mk", "kernel": "mvm", "state_root": str(root)})  # the host's store: built
    yield root
    kill_under(root)
    shutil.rmtree(root, ignore_errors=True)


def _kernel_dir(root: Path) -> Path:
    ident = host_facts(root)["images"]["mk"]["manifest"]["inputs"]["kernel_build"]
    assert not (root / "kernels").exists()  # root's kernels are the host's, not the state root's
    return Path(kernel.HOST_STORE) / kernel.kernel_id(ident)


def test_the_kernel_has_every_option_of_the_fragment_and_no_modules(built: Path) -> None:
    config = (_kernel_dir(built) / "config").read_text()
    assert kernel.missing("x86_64", config) == []
    assert (_kernel_dir(built) / "vmlinux").read_bytes()[:4] == b"\x7fELF"
    assert (_kernel_dir(built)).stat().st_mode & 0o077 == 0


def test_the_same_inputs_are_a_cache_hit_and_another_image_reuses_the_kernel(built: Path) -> None:
    assert not engine_apply("image", {"name": "mk", "kernel": "mvm", "state_root": str(built)}).changed
    plan = engine_apply("image", {"name": "mk2", "kernel": "mvm", "rootfs_size": 80, "state_root": str(built)})
    steps = [s.description for s in plan.steps]
    assert "copy mvm's kernel" in steps and not any(s.startswith("build mvm's kernel") for s in steps)
    assert not list(Path(kernel.HOST_STORE).glob(".build-*"))


def _vm(root: Path, name: str, **extra) -> dict:
    return dict({"name": name, "image": "mk", "backend": "qemu", "state_root": str(root)}, **extra)


def test_a_guest_boots_with_no_initrd_and_its_agent_answers(built: Path) -> None:
    engine_apply("vm", _vm(built, "k1"))
    vm = host_facts(built)["vms"]["k1"]
    assert vm["state"] == "running" and vm["ready"] and vm["applied"]["initrd"] is None
    argv = Path("/proc/%d/cmdline" % vm["pid"]).read_bytes().split(b"\0")
    assert b"-initrd" not in argv
    with agent.open_session(agent.Target("k1", state_root=str(built))) as s:
        rc, out, _ = s.exec("cat /proc/cmdline; uname -r; ls /lib/modules 2>&1 | head -n 1")
        assert rc == 0 and b"init=/init" in out and b"6.1." in out
    plan = engine_apply("vm", _vm(built, "k1", state="stopped", stop_timeout=30))
    assert "reboot: Power down" in (built / "vms/k1/console.log").read_text()  # the ACPI button, not a kill
    assert plan.changed


def test_snapshot_and_restore_with_mvms_kernel(built: Path) -> None:
    engine_apply("vm", _vm(built, "k2"))
    engine_apply("snapshot", {"name": "ks", "vm": "k2", "state_root": str(built)})
    engine_apply("vm", _vm(built, "k2", state="absent"))
    engine_apply("snapshot", {"name": "ks", "state": "restored", "state_root": str(built)})
    with agent.open_session(agent.Target("k2", state_root=str(built))) as s:
        assert s.exec("hostname")[1] == b"k2\n"
    engine_apply("vm", _vm(built, "k2", state="absent"))
    engine_apply("snapshot", {"name": "ks", "state": "absent", "state_root": str(built)})


def test_a_squashfs_root_gets_its_overlay_from_mvms_init_and_keeps_writes_across_a_restart(built: Path) -> None:
    engine_apply("image", {"name": "mks", "kernel": "mvm", "format": "squashfs", "state_root": str(built)})
    image = (built / "images/mks").resolve() / "rootfs.squashfs"
    before = image.read_bytes()
    engine_apply("vm", _vm(built, "k4", image="mks"))
    with agent.open_session(agent.Target("k4", state_root=str(built))) as s:
        rc, out, _ = s.exec("grep ' / ' /proc/mounts; cat /proc/cmdline; echo kept > /etc/mvm-kept")
        assert rc == 0 and b"overlay / overlay rw" in out and b"rootfstype=squashfs" in out, out
        mounted = [line.split()[1] for line in s.exec("cat /proc/mounts")[1].decode().splitlines()]
        assert not [m for m in mounted if m.startswith("/mvm/overlay")], mounted  # the old root was let go
    engine_apply("vm", _vm(built, "k4", image="mks", state="stopped", stop_timeout=30))
    engine_apply("vm", _vm(built, "k4", image="mks"))
    with agent.open_session(agent.Target("k4", state_root=str(built))) as s:
        assert s.exec("cat /etc/mvm-kept")[1] == b"kept\n"
    assert image.read_bytes() == before  # shared by the image's VMs: never written
    engine_apply("vm", _vm(built, "k4", image="mks", state="absent"))


def test_an_oci_image_on_a_tap_network(built: Path) -> None:
    archive = (built / "images/mk").resolve() / oci.OCI_FILE
    plan = engine_apply("image", {"name": "mko", "kernel": "mvm", "oci": "oci-archive:%s" % archive,
                                  "state_root": str(built)})
    assert not any(s.description.startswith("build mvm's kernel") for s in plan.steps)
    ns = Netns.create()
    try:
        rc, out, changed = ansible_playbook(PLAYBOOKS / "kernel_net.yml", built, ns=ns)
        assert (rc, changed) == (0, 2), out
        wait_for(lambda: "MVM-NET gateway 10.79.0.1 reachable" in (built / "vms/k3/console.log").read_text(), 30,
                 "the guest to reach its gateway")
        address = host_facts(built)["vms"]["k3"]["applied"]["network"]["ip"]
        assert ns.exec("ping", "-c", "1", "-W", "3", address, check=False).returncode == 0
        rc, out, changed = ansible_playbook(PLAYBOOKS / "kernel_net.yml", built, ns=ns)
        assert (rc, changed) == (0, 0), out
    finally:
        kill_under(built / "vms/k3")
        ns.destroy()


def test_firecracker_plans_hand_the_double_the_built_vmlinux_and_no_initrd(built: Path) -> None:
    """Against the Firecracker and jailer PROCESS DOUBLES (tests/support): no Firecracker guest boots here."""
    need_root()
    from tests.support.firecracker_contract import Contract  # needs the shared contracts (../shared)
    doubles = Doubles.install("1.16.1")
    chroot = Path(tempfile.mkdtemp(prefix="mvm-jail-"))
    chroot.chmod(0o755)
    try:
        for phase in ("up", "up", "down"):
            proc = run_on_kvm_host([str(BIN / "pyinfra"), "-y", "@local", str(HERE / "deploys/fc_kernel.py"),
                                    "--data", "mvm_state_root=%s" % built, "--data", "chroot_base=%s" % chroot,
                                    "--data", "image=mk", "--data", "phase=%s" % phase], doubles.env(ENV))
            assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        contract = Contract(doubles.version)
        boots = [r for r in doubles.requests() if r["path"] == "/boot-source"]
        assert len(boots) == 2, boots  # one per VM: the second run changed nothing
        for r in boots:
            assert contract.check_call(r["method"], r["path"], r["body"]) == [], r
            assert "initrd_path" not in r["body"] and " init=/init " in r["body"]["boot_args"], r
        assert sorted(r["uid"] >= 10000 for r in boots) == [False, True]  # one jailed (its own uid), one not
        unjailed = next(r["body"]["kernel_image_path"] for r in boots if r["uid"] == 0)
        assert Path(unjailed).read_bytes()[:4] == b"\x7fELF"  # Firecracker's x86_64 kernel: an ELF vmlinux
        assert not {"fkj", "fku"} & set(host_facts(built)["vms"])  # both gone again
    finally:
        kill_under(chroot)
        doubles.remove()
        shutil.rmtree(chroot, ignore_errors=True)


@pytest.mark.parametrize("arch", sorted(kernel.FRAGMENTS))
def test_each_fragment_survives_olddefconfig_for_its_architecture(arch: str, tmp_path: Path) -> None:
    """aarch64 is configured (not built) here: kconfig runs with the host's compiler."""
    need(os.path.exists(kernel.SOURCE_TARBALL), "needs linux-source-6.1 (scripts/setup.sh installs it)")
    proc = subprocess.run(["/bin/sh", "-c", kernel.config_command(arch, shlex.quote(str(tmp_path / "src")))], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert kernel.missing(arch, (tmp_path / "src/.config").read_text()) == []
    shutil.rmtree(tmp_path / "src")


def test_a_dropped_option_fails_the_configuration_naming_it(tmp_path: Path, monkeypatch) -> None:
    need(os.path.exists(kernel.SOURCE_TARBALL), "needs linux-source-6.1 (scripts/setup.sh installs it)")
    # GPIO_PL061 and KEYBOARD_GPIO depend on GPIOLIB: without it, olddefconfig drops both without a word.
    monkeypatch.setitem(kernel.FRAGMENTS, "aarch64", kernel.FRAGMENTS["aarch64"].replace("CONFIG_GPIOLIB=y\n", ""))
    proc = subprocess.run(["/bin/sh", "-c", kernel.config_command("aarch64", shlex.quote(str(tmp_path / "src")))],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "the kernel config lost options of mvm's fragment: CONFIG_GPIO_PL061=y CONFIG_KEYBOARD_GPIO=y" in proc.stderr
    shutil.rmtree(tmp_path / "src")
