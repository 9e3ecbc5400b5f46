"""ansible-playbook for real: up.yml builds the image and boots a QEMU microVM; idempotence, check mode,
drift, down.yml. The tests run in order and share one booted VM (a boot under TCG costs seconds).

The example says `backend: auto`; while the suite runs a Docker daemon answers, so auto would pick Docker here
(priority: firecracker, apple-container, docker, lima, then qemu): the QEMU microVM is asked for with
mvm_backend=qemu. What auto picks is pinned by the unit tests on recorded hosts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.real.conftest import BIN, ENV, processes_under, qmp

VM = "mvm-example"


def playbook(name: str, root: Path, *extra: str) -> tuple[int, str, dict[str, int]]:
    """A run of the playbook; the modules' probes and steps are in logged(root) afterwards (MVM_COMMAND_LOG)."""
    log = root.parent / (root.name + "-commands.log")
    log.unlink(missing_ok=True)
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(REPO / "playbooks" / name),
                           "-e", f"mvm_state_root={root}", "-e", "mvm_backend=qemu", *extra],
                          capture_output=True, text=True, env=dict(ENV, MVM_COMMAND_LOG=str(log)), cwd="/")
    out = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
    counts = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, recap.groups()))) if recap else {}
    return proc.returncode, out, counts


@pytest.fixture(scope="module")
def up(module_root: Path):
    # Check mode first, on a host with nothing: the VM task plans on the image the rootfs task only planned
    # (the action plugin hands it the `mvm_planned` fact), so the run reports both changes and makes nothing.
    rc, out, counts = playbook("up.yml", module_root, "--check")
    assert rc == 0 and counts["changed"] == 2, out
    assert not (module_root / "vms").exists() and not (module_root / "images").exists(), out
    rc, out, counts = playbook("up.yml", module_root)
    assert rc == 0, out
    return module_root, out, counts


def test_up_builds_image_and_boots_a_real_vm(up) -> None:
    root, out, counts = up
    assert counts["changed"] == 2, out  # the image and the VM
    vm_dir = root / "vms" / VM
    assert "MVM-READY " + VM in (vm_dir / "console.log").read_text()
    pid = int((vm_dir / "pid").read_text())
    assert any(line.startswith(f"{pid}:") and "qemu-system-x86_64" in line for line in processes_under(root))
    assert qmp(vm_dir / "qmp.sock", "query-status")["status"] == "running"
    assert f"(pid {pid})" in out
    assert "TCG emulation" in out  # KVM here is PVM only: the warning says so


def test_guest_data_is_the_owners_alone(up) -> None:
    """#13, defect 10: umask 077 under the state root; the root 0711, VM directories 0700, files and sockets 0600."""
    import os
    import stat

    root, _, _ = up
    vm_dir = root / "vms" / VM
    assert stat.S_IMODE(root.stat().st_mode) == 0o711
    assert stat.S_IMODE((root / "vms").stat().st_mode) == 0o700 and stat.S_IMODE(vm_dir.stat().st_mode) == 0o700
    for path in vm_dir.iterdir():
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, (path, oct(path.lstat().st_mode))
    # Another local user, given a way to reach the state root, reads neither the disk nor the console.
    for parent in [root, *root.parents]:
        if parent == Path("/"):
            break
        os.chmod(parent, stat.S_IMODE(parent.stat().st_mode) | 0o001)
    for leaf in ("disk.ext4", "console.log", "spec.json"):
        proc = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(vm_dir / leaf)], capture_output=True, text=True)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, (leaf, proc.stderr)


def test_second_run_changes_nothing(up) -> None:
    root, _, _ = up
    pid = (root / "vms" / VM / "pid").read_text()
    rc, out, counts = playbook("up.yml", root)
    assert rc == 0 and counts["changed"] == 0, out
    assert (root / "vms" / VM / "pid").read_text() == pid
    # One host probe per module run (facts, rootfs, vm), the kernel's inputs within it (issue #19).
    log = (root.parent / (root.name + "-commands.log")).read_text().splitlines()
    assert log == ["probe\thost", "probe\thost", "probe\thost"], log


def test_check_mode_on_converged_host_changes_nothing(up) -> None:
    rc, out, counts = playbook("up.yml", up[0], "--check")
    assert rc == 0 and counts["changed"] == 0, out


def test_check_mode_with_drift_reports_but_keeps_the_vm(up) -> None:
    root, _, _ = up
    vm_dir = root / "vms" / VM
    pid = (vm_dir / "pid").read_text()
    rc, out, counts = playbook("up.yml", root, "--check", "--diff", "-e", "mvm_vm_memory=384")
    assert rc == 0 and counts["changed"] == 1, out
    assert '-        "memory_mib": 256,' in out and '+        "memory_mib": 384,' in out
    assert (vm_dir / "pid").read_text() == pid
    assert qmp(vm_dir / "qmp.sock", "query-memory-size-summary")["base-memory"] == 256 * 1024 * 1024


def test_memory_drift_restarts_the_vm_on_its_own_disk(up) -> None:
    root, _, _ = up
    vm_dir = root / "vms" / VM
    old_pid = (vm_dir / "pid").read_text()
    disk = (vm_dir / "disk.ext4").stat()
    rc, out, counts = playbook("up.yml", root, "-e", "mvm_vm_memory=384")
    assert rc == 0 and counts["changed"] == 1, out
    assert (vm_dir / "pid").read_text() != old_pid
    # #13, defect 7: the disk is the same file, not a fresh copy of the image (the guest's data survives).
    assert (vm_dir / "disk.ext4").stat().st_ino == disk.st_ino and "copy rootfs" not in out
    assert qmp(vm_dir / "qmp.sock", "query-memory-size-summary")["base-memory"] == 384 * 1024 * 1024
    rc, out, counts = playbook("up.yml", root, "-e", "mvm_vm_memory=384")
    assert rc == 0 and counts["changed"] == 0, out


def test_down_leaves_nothing_behind(up) -> None:
    root, _, _ = up
    rc, out, counts = playbook("down.yml", root)
    assert rc == 0 and counts["changed"] == 1, out
    assert processes_under(root / "vms") == []
    assert not (root / "vms" / VM).exists()
    assert not (root / "vms").exists()  # the last VM's removal takes the vms directory too
    rc, out, counts = playbook("down.yml", root)
    assert rc == 0 and counts["changed"] == 0, out


def test_bad_input_fails_before_anything_runs(module_root: Path) -> None:
    root = module_root / "bad"
    rc, out, counts = playbook("up.yml", root, "-e", "mvm_vm_memory=lots")
    assert rc != 0 and counts["failed"] == 1, out
    assert "memory: expected a size such as 512 (MiB), 512M or 1G; got 'lots'" in out
    assert not (root / "vms").exists()


def test_ansible_doc_renders_every_module_plugin_and_the_role() -> None:
    """ansible-doc renders every module and plugin of the collection, and the host role from its argument specs."""
    import json as json_lib

    plugins = REPO / "ansible_collections/mvm/microvm/plugins"
    listed = {"module": sorted(p.stem for p in (plugins / "modules").glob("*.py") if not p.stem.startswith("_"))}
    for kind in ("connection", "inventory", "lookup"):
        listed[kind] = sorted(p.stem for p in (plugins / kind).glob("*.py") if not p.stem.startswith("_"))
    for kind, names in listed.items():
        for name in names:
            proc = subprocess.run([str(BIN / "ansible-doc"), "-t", kind, f"mvm.microvm.{name}"], capture_output=True,
                                  text=True, env=ENV, cwd="/")
            assert proc.returncode == 0 and not proc.stderr.strip(), (kind, name, proc.stderr)
            assert f"mvm.microvm.{name}" in proc.stdout.lower(), (kind, name)
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "role", "--json", "mvm.microvm.host"], capture_output=True,
                          text=True, env=ENV, cwd="/")
    assert proc.returncode == 0, proc.stderr
    options = json_lib.loads(proc.stdout)["mvm.microvm.host"]["entry_points"]["main"]["options"]
    assert "host_backend" in options and "host_firecracker_sha256" in options
