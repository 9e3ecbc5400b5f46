"""The host probe script run for real on this machine against a state root laid out by hand: what it reports
for VM directories, snapshots, images, networks and leases, and how it tells a VM's VMM from a stranger
(a process double: a copy of the Python interpreter installed as `qemu-system-x86_64`). No VM boots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import identity, probe

KINDS = ("vm", "snapshot", "image", "net", "lease", "artifact")


def run_probe(root: Path) -> list[str]:
    out = subprocess.run(["/bin/sh", "-c", probe.host_probe(str(root))], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return out.splitlines()


def start_time(pid: int) -> str:
    stat = Path("/proc/%d/stat" % pid).read_text()
    return stat[stat.rindex(")") + 2:].split()[19]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "state"
    (r / "vms" / "old").mkdir(parents=True)
    (r / "vms" / "old" / "spec.json").write_text('{"name":"old"}')
    os.chmod(r / "vms" / "old" / "spec.json", 0o600)
    (r / "snapshots" / "s1").mkdir(parents=True)
    (r / "snapshots" / "s1" / "metadata.json").write_text('{"name":"s1"}')
    (r / "snapshots" / "broken").mkdir()
    (r / "artifacts" / "abc").mkdir(parents=True)
    (r / "artifacts" / "abc" / "manifest.json").write_text('{"id":"abc"}')
    (r / "artifacts" / "half").mkdir()
    (r / "images").mkdir()
    (r / "images" / "default").symlink_to("../artifacts/abc")
    (r / "images" / "plain-dir").mkdir()
    (r / "networks" / "br0" / "leases").mkdir(parents=True)
    (r / "networks" / "br0.json").write_text('{"subnet":"10.77.0.0/24"}')
    (r / "networks" / "br0" / "leases" / "web").write_text('{"ip":"10.77.0.2"}')
    (r / "networks" / ".ip_forward").write_text("0")
    (r / "firecracker-install.json").write_text('{"version":"1.14.1"}')
    os.chmod(r, 0o700)
    return r


def test_state_root_records(root: Path) -> None:
    lines = run_probe(root)
    assert [line for line in lines if line.split("\t")[0] in KINDS] == [
        "vm\told\tdir\t%s/vms/old" % root,
        "vm\told\tmodes\tspec.json=600",
        'vm\told\tspec\t{"name":"old"}',
        'snapshot\ts1\t{"name":"s1"}',
        "image\tdefault\ttarget\t../artifacts/abc",
        'image\tdefault\tmanifest\t{"id":"abc"}',
        'net\tbr0\t{"subnet":"10.77.0.0/24"}',
        'lease\tbr0\tweb\t{"ip":"10.77.0.2"}',
        "artifact\tabc\tdir\t%s/artifacts/abc" % root,
    ]
    host = [line for line in lines if line.startswith("host\t")]
    for expected in ("host\tstate_root\t%s" % root, "host\tstate_root_mode\t700", "host\tip_forward_saved\t0",
                     'host\tfc_installed\t{"version":"1.14.1"}', "host\tprobe_version\t%d" % probe.PROBE_VERSION,
                     "host\tuid\t%d" % os.getuid(), "host\tos\tLinux"):
        assert expected in host, expected


def test_missing_state_root_and_a_root_without_slash() -> None:
    lines = run_probe(Path("/nonexistent/mvm-state"))
    assert "host\tstate_root\t/nonexistent/mvm-state" in lines
    assert not [line for line in lines if line.split("\t")[0] in KINDS or line.startswith("host\tstate_root_mode")]
    free = [line for line in lines if line.startswith("host\tdisk_free_kib\t")]
    assert len(free) == 1 and free[0].split("\t")[2].isdigit()  # measured on the nearest existing parent
    out = subprocess.run(["/bin/sh", "-c", probe.host_probe("relative-root")], capture_output=True, text=True,
                         timeout=20, cwd="/")
    assert out.returncode == 0 and "host\tstate_root\trelative-root" in out.stdout.splitlines()


def fake_qemu(tmp_path: Path) -> Path:
    """An executable named qemu-system-x86_64 (this Python, copied)."""
    exe = tmp_path / "bin" / "qemu-system-x86_64"
    if not exe.exists():
        exe.parent.mkdir(exist_ok=True)
        shutil.copy2(os.path.realpath(sys.executable), exe)
    return exe


def start_vmm(exe: Path, vm_dir: Path) -> subprocess.Popen:
    """A process that looks like a VM's QEMU: `exe`, its -pidfile path (in `vm_dir`, written) in argv."""
    vm_dir.mkdir(parents=True)
    proc = subprocess.Popen([str(exe), "-c", "import time; time.sleep(60)", "-pidfile", str(vm_dir / "pid")],
                            env={"PYTHONHOME": sys.base_prefix})
    (vm_dir / "pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 10
    while b"-pidfile" not in Path("/proc/%d/cmdline" % proc.pid).read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


@pytest.fixture
def vmm(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """One fake QEMU of the VM `web` (see start_vmm)."""
    vm_dir = tmp_path / "state" / "vms" / "web"
    proc = start_vmm(fake_qemu(tmp_path), vm_dir)
    yield vm_dir, proc
    proc.kill()
    proc.wait()


def vm_records(root: Path, name: str = "web") -> list[str]:
    return [line for line in run_probe(root) if line.startswith("vm\t%s\t" % name) and "\tmodes\t" not in line]


def test_a_vmm_with_its_record_is_running_and_ready(vmm) -> None:
    vm_dir, proc = vmm
    root = vm_dir.parents[1]
    (vm_dir / identity.RECORD).write_text("%s\n%s\n" % (start_time(proc.pid), vm_dir / "pid"))
    (vm_dir / "console.log").write_text("boot\nMVM-READY web\n")
    assert vm_records(root) == ["vm\tweb\tdir\t%s" % vm_dir, "vm\tweb\tpid\t%d" % proc.pid,
                                "vm\tweb\tvmm_uid\t%d" % os.getuid(), "vm\tweb\tready\t1"]


def test_a_vmm_without_a_record_is_known_by_its_pidfile_argument(vmm) -> None:
    vm_dir, proc = vmm
    assert vm_records(vm_dir.parents[1]) == ["vm\tweb\tdir\t%s" % vm_dir, "vm\tweb\tpid\t%d" % proc.pid,
                                             "vm\tweb\tvmm_uid\t%d" % os.getuid()]


@pytest.mark.parametrize("record", ["1\n{pidfile}\n", "{start}\n/other/pid\n"], ids=["start-time", "argument"])
def test_a_pid_that_fails_the_identity_is_stale(vmm, record: str) -> None:
    vm_dir, proc = vmm
    (vm_dir / identity.RECORD).write_text(record.format(pidfile=vm_dir / "pid", start=start_time(proc.pid)))
    (vm_dir / "console.log").write_text("MVM-READY web\n")
    assert vm_records(vm_dir.parents[1]) == ["vm\tweb\tdir\t%s" % vm_dir, "vm\tweb\tstale\t1"]


def test_a_stranger_or_a_dead_pid_is_stale(tmp_path: Path) -> None:
    vm_dir = tmp_path / "state" / "vms" / "web"
    vm_dir.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        for pid in (str(stranger.pid), "999999999", "12 34", "-1"):
            (vm_dir / "pid").write_text(pid)
            assert vm_records(vm_dir.parents[1]) == ["vm\tweb\tdir\t%s" % vm_dir, "vm\tweb\tstale\t1"], pid
    finally:
        stranger.kill()
        stranger.wait()


def test_kill_command_spares_a_stranger_and_stops_the_vmm(vmm, tmp_path: Path) -> None:
    vm_dir, proc = vmm
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        subprocess.run(["/bin/sh", "-c", identity.kill_command(str(vm_dir), str(stranger.pid), ticks=2)], check=True,
                       timeout=20)
        assert stranger.poll() is None and proc.poll() is None
        (vm_dir / identity.RECORD).write_text("%s\n%s\n" % (start_time(proc.pid), vm_dir / "pid"))
        subprocess.run(["/bin/sh", "-c", identity.kill_command(str(vm_dir), str(proc.pid), ticks=2)], check=True,
                       timeout=20)
        assert proc.wait(timeout=10) == -9
        assert not (vm_dir / identity.RECORD).exists()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_record_command_writes_start_time_and_argument(vmm) -> None:
    vm_dir, proc = vmm
    subprocess.run(["/bin/sh", "-c", identity.record_command(str(vm_dir), str(vm_dir / "pid"), str(vm_dir / "pid"))],
                   check=True, timeout=20)
    assert (vm_dir / identity.RECORD).read_text() == "%s\n%s\n" % (start_time(proc.pid), vm_dir / "pid")
    assert not (vm_dir / (identity.RECORD + ".tmp")).exists()


def versions_of(root: Path, path: str) -> list[str]:
    out = subprocess.run(["/bin/sh", "-c", probe.host_probe(str(root))], capture_output=True, text=True, check=True,
                         timeout=60, env=dict(os.environ, PATH=path)).stdout
    return [line for line in out.splitlines() if line.startswith("tool\tcurl\tversion\t")]


def test_a_tools_version_is_asked_once_per_binary_and_remembered_only_where_the_state_root_is(tmp_path: Path) -> None:
    """The probe asks each tool its version once per binary (path, size, mtime, inode) and keeps the answers in
    `<state_root>/.probe-versions` (0600); a tool double (`curl`, a script that counts its calls) shows it."""
    tools, calls = tmp_path / "bin", tmp_path / "calls"
    tools.mkdir()
    curl = tools / "curl"
    # (only its --version calls are counted: the probe also asks a Docker daemon's socket with curl where one runs)
    curl.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo x >> %s\nprintf 'curl 9.9\\twith a tab\\n'\n" % calls)
    curl.chmod(0o755)
    path = "%s:%s" % (tools, os.environ["PATH"])
    root = tmp_path / "st"
    root.mkdir(mode=0o700)
    for _ in range(3):
        assert versions_of(root, path) == ["tool\tcurl\tversion\tcurl 9.9with a tab"]
    assert calls.read_text() == "x\n"  # asked once, then read from the cache
    cache = root / ".probe-versions"
    assert cache.stat().st_mode & 0o777 == 0o600 and "%s\t" % curl in cache.read_text()
    curl.write_text(curl.read_text().replace("9.9", "10.0"))  # another binary at the same path: asked again
    assert versions_of(root, path) == ["tool\tcurl\tversion\tcurl 10.0with a tab"]
    assert calls.read_text() == "x\nx\n"
    gone = tmp_path / "absent"  # no state root: nothing is written, the tool is asked every time
    for _ in range(2):
        assert versions_of(gone, path) == ["tool\tcurl\tversion\tcurl 10.0with a tab"]
    assert calls.read_text() == "x\n" * 4 and not gone.exists()


class FakeQmp:
    """A QMP server on a Unix socket, for the status query: greets, answers qmp_capabilities after an event (as
    QEMU may), then `query-status` with the status it is given (or a reply of its own)."""

    def __init__(self, path: Path, status: str = "paused", reply: dict | None = None) -> None:
        import socket
        import threading

        self.reply = reply if reply is not None else {"return": {"status": status, "running": False}}
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        import json

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rw") as f:
                f.write('{"QMP": {"version": {}, "capabilities": []}}\n')
                f.flush()
                for line in f:
                    name = json.loads(line)["execute"]
                    if name == "qmp_capabilities":
                        f.write('{"event": "RESUME", "timestamp": {}}\n{"return": {}}\n')
                    else:
                        f.write(json.dumps(self.reply) + "\n")
                    f.flush()

    def close(self) -> None:
        self.sock.close()


def both_ways(root: Path) -> list[dict]:
    """The VM's facts from the probe that runs the QMP program (pyinfra's) and from the one whose caller asks in
    its own process (the Ansible modules')."""
    from ansible_collections.mvm.microvm.plugins.module_utils import ops, runner

    return [ops.run_probe(runner.local, local=local)[0](str(root))["vms"]["web"] for local in (False, True)]


@pytest.mark.parametrize("status,state", [("paused", "paused"), ("running", "running"), ("postmigrate", "paused")])
def test_the_vmm_status_is_the_same_asked_by_the_program_or_in_process(vmm, status: str, state: str) -> None:
    vm_dir, _proc = vmm
    server = FakeQmp(vm_dir / "qmp.sock", status)
    try:
        for facts in both_ways(vm_dir.parents[1]):
            assert (facts["state"], facts["vmm_status"]) == (state, status)
    finally:
        server.close()


@pytest.mark.parametrize("reply", [
    {"return": {"status": "paused\tvm\tweb\tstatus\tx"}},  # a status that would forge a record
    {"return": {"status": 7}}, {"error": {"class": "GenericError", "desc": "no"}}, {"return": []},
], ids=["forged-record", "not-text", "error", "wrong-shape"])
def test_a_vmm_status_that_is_not_one_is_no_status(vmm, reply: dict) -> None:
    """The in-process query keeps only a status word; a VMM that answers anything else is running, status unknown,
    as when the program finds no answer."""
    vm_dir, _proc = vmm
    server = FakeQmp(vm_dir / "qmp.sock", reply=reply)
    try:
        in_process = both_ways(vm_dir.parents[1])[1]
        assert (in_process["state"], in_process["vmm_status"]) == ("running", None)
    finally:
        server.close()


def test_a_vmm_that_does_not_answer_costs_the_query_its_timeout_only(vmm) -> None:
    import socket

    from ansible_collections.mvm.microvm.plugins.module_utils import qmp

    vm_dir, _proc = vmm
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(str(vm_dir / "qmp.sock"))
    silent.listen(1)  # accepts the connection, never greets
    try:
        started = time.monotonic()
        assert qmp.query_status(str(vm_dir / "qmp.sock"), timeout=0.3) is None
        assert time.monotonic() - started < 2
        assert probe.vmm_status_lines("vm\tweb\tpid\t1\nvm\tweb\tqmp\t%s\n" % (vm_dir / "nothing")) == ""
    finally:
        silent.close()


def test_one_vmm_that_answers_an_error_leaves_the_others_status(tmp_path: Path) -> None:
    """Two VMs, the first's QMP answers an error: the probe's program (which exits on a QMP error for its other
    modes) still reports the second one's status, as the in-process query does."""
    from ansible_collections.mvm.microvm.plugins.module_utils import ops, runner

    exe = fake_qemu(tmp_path)
    procs, servers = [], []
    try:
        for name, reply in (("a", {"error": {"class": "GenericError", "desc": "no"}}),
                            ("b", {"return": {"status": "paused"}})):
            vm_dir = tmp_path / "state" / "vms" / name
            procs.append(start_vmm(exe, vm_dir))
            servers.append(FakeQmp(vm_dir / "qmp.sock", reply=reply))
        for local in (False, True):
            vms = ops.run_probe(runner.local, local=local)[0](str(tmp_path / "state"))["vms"]
            assert (vms["a"]["state"], vms["a"]["vmm_status"]) == ("running", None), local
            assert (vms["b"]["state"], vms["b"]["vmm_status"]) == ("paused", "paused"), local
    finally:
        for server in servers:
            server.close()
        for proc in procs:
            proc.kill()
            proc.wait()
