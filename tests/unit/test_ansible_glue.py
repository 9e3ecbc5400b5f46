"""The Ansible glue outside check mode: steps run in order under the plan's locks (held by the module while
its steps run, and only outside check mode), a failed step is reported with its command and output, warnings
reach module.warn, the facts module reports the host. The host is a recording whose steps "succeed" (no
command reaches this machine) and whose state root is a temporary directory, so the locks are real files."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.mvm.microvm.plugins.module_utils import lock
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from tests.support import frontends
from tests.support.probes import LINUX_PVM_QEMU, ROOT, applied, image_lines, vm_lines

IMG = "0123456789abcdef"
VM = {"name": "web", "image": "default", "backend": "qemu"}


class Host(frontends.Recording):
    """Probes answered from the recording; every other command is a step that succeeds (or fails when asked),
    and on each step we look whether the VM's lock is held by someone else than us."""

    def __init__(self, facts: str, lock_file: str, fail: str = "") -> None:
        super().__init__(facts)
        self.lock_file, self.fail, self.steps, self.lock_held = lock_file, fail, [], []
        self.after = ""

    def run(self, command: str) -> tuple[int, str, str]:
        if "probe_version" in command and self.steps and self.after:
            return 0, self.after, ""  # the host as the steps left it
        if "probe_version" in command or "sha256sum" in command:
            return super().run(command)
        self.steps.append(command)
        try:
            lock.Held([self.lock_file], timeout=0).release()
            self.lock_held.append(False)
        except MvmError:
            self.lock_held.append(True)
        if self.fail and self.fail in command:
            return 3, "partial output\n", "it broke\n"
        return 0, "", ""


@pytest.fixture
def facts(tmp_path: Path) -> str:
    return (LINUX_PVM_QEMU + image_lines("default", IMG)).replace(ROOT, str(tmp_path))


def warnings_of(kind: str, params: dict, rec: frontends.Recording, check_mode: bool) -> tuple[frontends.ModuleExit, list]:
    seen: list[str] = []
    with mock.patch.object(basic.AnsibleModule, "warn", lambda self, w: seen.append(w)):
        return frontends.ansible(kind, params, rec, check_mode=check_mode), seen


def test_steps_run_in_order_under_the_vm_lock(facts: str, tmp_path: Path) -> None:
    rec = Host(facts, str(tmp_path / "locks" / "vm-web.lock"))
    done, warned = warnings_of("vm", VM, rec, check_mode=False)
    planned = frontends.engine("vm", VM, frontends.Recording(facts))
    assert not done.failed, done.result
    assert rec.steps == ["umask 077; " + c for c in planned.commands]  # each step under mvm's umask
    assert rec.lock_held == [True] * len(planned.commands)
    assert done.result["executed"] == [s.description for s in planned.steps] == done.result["steps"]
    assert done.result["changed"] is True and done.result["commands"] == planned.commands
    assert warned == planned.warnings and warned
    assert set(done.result["diff"]) == {"before", "after"}
    lock.Held([str(tmp_path / "locks" / "vm-web.lock")], timeout=0).release()  # let go at the end


def test_the_vm_result_reports_the_pid_and_state_the_steps_left(facts: str, tmp_path: Path) -> None:
    rec = Host(facts, str(tmp_path / "locks" / "vm-web.lock"))
    rec.after = facts + vm_lines("web", applied("web", image_id=IMG), 4242)
    done, _ = warnings_of("vm", VM, rec, check_mode=False)
    assert not done.failed and (done.result["vm"]["pid"], done.result["vm"]["state"]) == (4242, "running")
    running = facts + vm_lines("web", applied("web", image_id=IMG), 4242).replace(ROOT, str(tmp_path))
    rec = Host(running, str(tmp_path / "locks" / "vm-web.lock"))
    paused = running + "vm\tweb\tstatus\tpaused\n"
    rec.after = paused
    done, _ = warnings_of("vm", dict(VM, state="paused"), rec, check_mode=False)
    assert not done.failed and (done.result["vm"]["pid"], done.result["vm"]["state"]) == (4242, "paused")


def test_check_mode_takes_no_lock_and_runs_nothing(facts: str, tmp_path: Path) -> None:
    rec = Host(facts, str(tmp_path / "locks" / "vm-web.lock"))
    done, _ = warnings_of("vm", VM, rec, check_mode=True)
    assert not done.failed and done.result["changed"] is True and done.result["executed"] == []
    assert rec.steps == [] and not (tmp_path / "locks").exists()


def test_a_failed_step_is_reported_with_its_command_and_output(facts: str, tmp_path: Path) -> None:
    rec = Host(facts, str(tmp_path / "locks" / "vm-web.lock"), fail="cp --sparse=always")
    done, _ = warnings_of("vm", VM, rec, check_mode=False)
    assert done.failed
    failed = rec.steps[-1]
    assert "cp --sparse=always" in failed
    r = done.result
    assert (r["step"], r["rc"], r["stdout"], r["stderr"]) == ("copy rootfs to the VM's own disk", 3,
                                                              "partial output\n", "it broke\n")
    assert failed == "umask 077; " + r["command"]
    assert r["msg"] == "step \"copy rootfs to the VM's own disk\" failed (rc=3): it broke"
    assert r["commands"] == frontends.engine("vm", VM, frontends.Recording(facts)).commands


def test_other_modules_run_under_their_locks(facts: str, tmp_path: Path) -> None:
    """The bridge module (through the shared runner): its network lock is held while its steps run."""
    facts += "host\tuplink\teth0\nhost\tip_forward\t0\n"
    rec = Host(facts, str(tmp_path / "locks" / "net-mvmbr1.lock"))
    done, _ = warnings_of("bridge", {"name": "mvmbr1", "subnet": "10.78.0.0/24"}, rec, check_mode=False)
    assert not done.failed, done.result
    assert rec.steps and rec.lock_held == [True] * len(rec.steps)
    assert done.result["bridge"]["name"] == "mvmbr1" and done.result["executed"]


def test_nothing_to_do_takes_no_lock(facts: str, tmp_path: Path) -> None:
    rec = Host(facts, str(tmp_path / "locks" / "vm-web.lock"))
    done, _ = warnings_of("vm", {"name": "web", "state": "absent"}, rec, check_mode=False)
    assert not done.failed and done.result["changed"] is False and rec.steps == []
    assert not (tmp_path / "locks").exists()


def test_facts_module_reports_the_host_and_its_warnings(facts: str) -> None:
    done, warned = warnings_of("facts", {}, frontends.Recording(facts), check_mode=False)
    assert not done.failed and done.result["changed"] is False
    mvm = done.result["ansible_facts"]["mvm"]
    assert mvm["platform"]["os"] == "linux" and mvm["kvm"]["kind"] == "kvm_pvm"
    assert warned == mvm["warnings"]


def test_a_failing_probe_fails_the_module_with_its_output() -> None:
    class Broken(frontends.Recording):
        def run(self, command: str) -> tuple[int, str, str]:
            return 2, "", "sh: 1: syntax error\n"

    for kind, params in (("vm", VM), ("bridge", {"name": "b", "subnet": "10.78.0.0/24"}), ("facts", {})):
        done, _ = warnings_of(kind, params, Broken(""), check_mode=True)
        assert done.failed and done.result["msg"] == "host probe failed (rc=2): sh: 1: syntax error", kind


@pytest.mark.parametrize("planned", [{"": "x"}, {"": {"images": ["x"]}}, {"": {"images": None}}, {"other": {}}],
                         ids=["root-not-dict", "kind-list", "kind-none", "other-root"])
def test_a_planned_fact_of_another_shape_is_ignored(planned: dict) -> None:
    """`planned` is the action plugin's (the host fact mvm_planned); given by hand in another shape it is ignored
    (check mode only, where nothing runs), never a traceback."""
    from ansible_collections.mvm.microvm.plugins.module_utils import ansible_glue

    module = type("M", (), {"check_mode": True, "params": {"planned": planned, "state_root": None}})()
    assert ansible_glue._planned(module) == {"images": {}, "networks": {}, "snapshots": {}}
