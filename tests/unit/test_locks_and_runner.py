"""Locks, the runner and the command log, for real on this machine (flock on files in a temporary directory,
the pyinfra lock holder as a real process, plans run by /bin/sh); no VM, no network."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import lock, runner, trace
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan


def sh(command: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout)


def test_paths_and_names() -> None:
    assert lock.paths("/srv/mvm", ["vm-b", "net-x", "vm-b"]) == ["/srv/mvm/locks/net-x.lock", "/srv/mvm/locks/vm-b.lock"]

    class Spec:
        name, network, ports, snapshot = "web", "br0", ["8080:80"], "s1"

    assert lock.for_vm(Spec) == ["vm-web", "net-br0", "ports", "snap-s1"]
    Spec.network, Spec.ports, Spec.snapshot = None, [], None
    assert lock.for_vm(Spec) == ["vm-web"]


def test_held_excludes_a_second_holder_until_released(tmp_path: Path) -> None:
    files = lock.paths(str(tmp_path / "root"), ["vm-web", "net-br0"])
    first = lock.Held(files)
    assert stat.S_IMODE(os.stat(tmp_path / "root" / "locks").st_mode) == 0o700
    assert [stat.S_IMODE(os.stat(f).st_mode) for f in files] == [0o600, 0o600]
    started = time.monotonic()
    with pytest.raises(MvmError) as err:
        lock.Held(files[1:], timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert str(err.value) == ("another mvm run holds %s; gave up after 0.3s (wait for it to finish, or remove a stale "
                              "holder: fuser -k %s)" % (files[1], files[1]))
    first.release()
    first.release()  # letting go twice is harmless (an explicit release, then the context manager's)
    with lock.Held(files, timeout=0.3):
        pass
    with lock.Held(files, timeout=0.3) as again:  # released on leaving the block
        assert again
    # A lock taken partly is given back: the first file is free again after the second one was busy.
    blocker = lock.Held(files[1:])
    with pytest.raises(MvmError):
        lock.Held(files, timeout=0.2)
    lock.Held(files[:1], timeout=0.2).release()
    blocker.release()


def test_held_refuses_a_planted_symlink(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir()
    (tmp_path / "target").write_text("keep")
    (tmp_path / "locks" / "vm-web.lock").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        lock.Held(lock.paths(str(tmp_path), ["vm-web"]), timeout=0.2)
    assert (tmp_path / "target").read_text() == "keep"


def test_holder_process_takes_and_gives_back_the_locks(tmp_path: Path) -> None:
    files = lock.paths(str(tmp_path), ["vm-web"])
    token = lock.token_path(files, "t1")
    assert token == str(tmp_path / "locks" / "holder-t1")
    assert sh(lock.acquire_command(files, "t1", timeout=2)).returncode == 0
    assert Path(token).read_text() == "held"
    with pytest.raises(MvmError):
        lock.Held(files, timeout=0.2)
    busy = sh(lock.acquire_command(files, "t2", timeout=0.3))
    assert (busy.returncode, busy.stderr) == (1, "another mvm run holds %s; gave up after 0.3s\n" % files[0])
    assert not Path(lock.token_path(files, "t2")).exists()
    assert sh(lock.release_command(files, "t1")).returncode == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            lock.Held(files, timeout=0).release()
            break
        except MvmError:
            time.sleep(0.1)
    else:
        raise AssertionError("the holder did not let go after its token was removed")


def test_releasing_lets_go_when_the_step_fails(tmp_path: Path) -> None:
    files = lock.paths(str(tmp_path), ["vm-web"])
    assert sh(lock.acquire_command(files, "t1", timeout=2)).returncode == 0
    failed = sh(lock.releasing("echo out; exit 3", files, "t1"))
    assert (failed.returncode, failed.stdout) == (3, "out\n")
    assert not Path(lock.token_path(files, "t1")).exists()
    ok = sh(lock.releasing("true", files, "t1"))
    assert ok.returncode == 0


def test_holder_lets_go_when_its_run_is_gone(tmp_path: Path) -> None:
    """The run a holder serves is the first ancestor that is no shell: here a python process that exits."""
    files = lock.paths(str(tmp_path), ["vm-web"])
    code = "import subprocess,sys; sys.exit(subprocess.run(['/bin/sh','-c',sys.argv[1]]).returncode)"
    assert subprocess.run([sys.executable, "-c", code, lock.acquire_command(files, "t1", timeout=2)],
                          timeout=20).returncode == 0
    deadline = time.monotonic() + 5
    while Path(lock.token_path(files, "t1")).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(lock.token_path(files, "t1")).exists()
    lock.Held(files, timeout=2).release()


def test_runner_runs_steps_in_order_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = Plan()
    plan.add("one", "echo 1 >> %s" % out)
    plan.add("fails", "echo partial; echo broken >&2; exit 4")
    plan.add("never", "echo 3 >> %s" % out)
    with pytest.raises(runner.StepFailed) as err:
        runner.execute(plan, runner.local)
    assert out.read_text() == "1\n"
    e = err.value
    assert (e.description, e.command, e.rc, e.stdout, e.stderr) == (
        "fails", "echo partial; echo broken >&2; exit 4", 4, "partial\n", "broken\n")
    assert str(e) == "step 'fails' failed (rc=4): broken"
    assert runner.execute(plan, runner.local, check_mode=True) == []
    good = Plan()
    good.add("a", "true")
    good.add("b", "umask")
    assert runner.execute(good, runner.local) == ["a", "b"]
    assert runner.local("echo out; echo x >&2; exit 5") == (5, "out\n", "x\n")


def test_runner_message_falls_back_to_stdout_and_is_bounded() -> None:
    plan = Plan()
    plan.add("long", "python3 -c 'print(\"x\" * 3000)'; exit 1")
    with pytest.raises(runner.StepFailed) as err:
        runner.execute(plan, runner.local)
    assert str(err.value) == "step 'long' failed (rc=1): " + "x" * 2000


def test_command_log_records_probes_and_steps(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "log"
    monkeypatch.setenv("MVM_COMMAND_LOG", str(log))
    trace.record("probe", "host")
    trace.record("step", "line one\nline two " + "y" * 300)
    assert log.read_text() == "probe\thost\nstep\tline one line two " + "y" * 182 + "\n"
    monkeypatch.delenv("MVM_COMMAND_LOG")
    trace.record("probe", "not logged")
    assert log.read_text().count("\n") == 2


def test_fault_point_kills_the_process_group_after_k_steps(tmp_path: Path) -> None:
    code = ("from ansible_collections.mvm.microvm.plugins.module_utils import trace\n"
            "import sys\n"
            "for i in range(5):\n"
            "    trace.record('step', 's%d' % i); print(i, flush=True)\n")
    for after, printed in (("2", "0\n1\n"), ("0", ""), ("x", "0\n1\n2\n3\n4\n")):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, start_new_session=True,
                              env=dict(os.environ, MVM_TEST_KILL_AFTER_STEPS=after, PYTHONPATH=os.getcwd()),
                              timeout=30)
        assert (proc.stdout, proc.returncode) == (printed, 0 if after == "x" else -9), after
