"""pyinfra for real: deploy.py (what up.yml does) and down.py against @local, twice, and --dry."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.real.conftest import BIN, ENV, processes_under, qmp

VM = "mvm-example"


def pyinfra(deploy: str, root: Path, *extra: str) -> tuple[int, str]:
    """A run of the deploy; the engine's probes and steps of the run are in `root`/commands.log (MVM_COMMAND_LOG)."""
    log = root.parent / (root.name + "-commands.log")
    log.unlink(missing_ok=True)
    proc = subprocess.run([str(BIN / "pyinfra"), str(REPO / "inventory" / "inventory.py"),
                           str(REPO / "playbooks" / deploy), "--data", f"mvm_state_root={root}",
                           "--data", "mvm_backend=qemu", *extra],
                          capture_output=True, text=True, env=dict(ENV, MVM_COMMAND_LOG=str(log)), cwd="/")
    return proc.returncode, proc.stdout + proc.stderr


def logged(root: Path) -> list[str]:
    """The last run's probes and steps, as `kind<TAB>what` lines."""
    return (root.parent / (root.name + "-commands.log")).read_text().splitlines()


@pytest.fixture(scope="module")
def deployed(module_root: Path):
    rc, out = pyinfra("deploy.py", module_root, "-y")
    assert rc == 0, out
    return module_root, out


def test_deploy_builds_and_boots(deployed) -> None:
    root, out = deployed
    assert out.count("[@local] Success") == 2, out
    # The image was built: the VM operation after it looks at the host again.
    assert "probe\thost (the previous operation's, which ran nothing)" not in logged(root)
    vm_dir = root / "vms" / VM
    assert "MVM-READY " + VM in (vm_dir / "console.log").read_text()
    assert qmp(vm_dir / "qmp.sock", "query-status")["status"] == "running"


def test_second_deploy_reports_no_changes(deployed) -> None:
    root, _ = deployed
    rc, out = pyinfra("deploy.py", root, "-y")
    assert rc == 0, out
    assert out.count("[@local] No changes") == 2 and "[@local] Success" not in out, out
    # One look at the host for the whole converged deploy: the VM operation plans on the rootfs operation's,
    # which ran nothing (issue #19); the kernel's inputs come with it.
    assert logged(root) == ["probe\thost", "probe\thost (the previous operation's, which ran nothing)"]


def test_dry_run_on_converged_host_detects_no_change(deployed) -> None:
    root, _ = deployed
    rc, out = pyinfra("deploy.py", root, "--dry")
    assert rc == 0, out
    assert "(@local)" not in out.split("Detected changes")[-1], out


def test_dry_run_with_drift_changes_nothing(deployed) -> None:
    root, _ = deployed
    pid = (root / "vms" / VM / "pid").read_text()
    rc, out = pyinfra("deploy.py", root, "--dry", "--data", "mvm_vm_memory=320")
    assert rc == 0, out
    assert "differs in memory_mib" in out and "1 (@local)" in out
    assert "will stop VM mvm-example to apply: memory_mib" in out and "will start VM mvm-example" in out
    rc, out = pyinfra("deploy.py", root, "--dry", "-vv", "--data", "mvm_vm_memory=320")
    assert rc == 0 and "setsid qemu-system-x86_64" in out and "-m 320M" in out, out  # -vv: the commands too
    # --diff: the before and after the Ansible module's --diff shows, as a diff of their JSON (issue #20).
    rc, out = pyinfra("deploy.py", root, "--dry", "--diff", "--data", "mvm_vm_memory=320")
    assert rc == 0 and "Will change (before, after)" in out, out
    assert re.search(r'-\s+"memory_mib": 256', out) and re.search(r'\+\s+"memory_mib": 320', out), out
    assert out.count("Will change (before, after)") == 1
    assert (root / "vms" / VM / "pid").read_text() == pid


def test_down_leaves_nothing_behind(deployed) -> None:
    root, _ = deployed
    rc, out = pyinfra("down.py", root, "-y")
    assert rc == 0 and "[@local] Success" in out, out
    assert processes_under(root / "vms") == []
    assert not (root / "vms").exists()  # the last VM's removal takes the vms directory too
    rc, out = pyinfra("down.py", root, "-y")
    assert rc == 0 and "[@local] No changes" in out, out


def test_bad_input_raises_before_anything_runs(module_root: Path) -> None:
    root = module_root / "bad"
    rc, out = pyinfra("deploy.py", root, "-y", "--data", "mvm_vm_memory=lots")
    assert rc != 0
    assert "memory: expected a size such as 512 (MiB), 512M or 1G; got 'lots'" in out, out
    assert not root.exists() or not (root / "images").exists()
    # The error names the deploy's own line (the mvm.vm call), not mvm_pyinfra's (issue #20).
    deploy = (REPO / "playbooks" / "deploy.py").read_text().splitlines()
    line = next(n for n, text in enumerate(deploy, 1) if text.startswith("mvm.vm("))
    assert "Operation error in %s line %d: memory:" % (REPO / "playbooks" / "deploy.py", line) in out, out


def test_a_bad_argument_is_named_as_the_deploy_wrote_it_at_its_line(tmp_path: Path) -> None:
    """pyinfra keeps `name=` for an operation's label, so the VM is `vm=`: its error says `vm`, at the deploy's
    line, before anything runs."""
    deploy = tmp_path / "bad.py"
    deploy.write_text("from mvm_pyinfra import operations as mvm\n\n"
                      f"mvm.rootfs(name='image', state_root={str(tmp_path / 'st')!r})\n"
                      f"mvm.vm(name='Run it', vm='no spaces allowed', image='default', state_root={str(tmp_path / 'st')!r})\n")
    proc = subprocess.run([str(BIN / "pyinfra"), "@local", str(deploy), "-y"], capture_output=True, text=True,
                          env=ENV, cwd="/")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"Operation error in {deploy} line 4: vm: expected 1 to 64 characters" in out, out
    assert "got 'no spaces allowed'" in out and not (tmp_path / "st").exists()
