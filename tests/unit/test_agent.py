"""The agent client and its relay against a real QEMU guest agent running on this machine (qemu-ga listening on a
unix socket, as it would on a guest's virtio-serial port): exec, stdin, exit codes, files both ways, a channel
with an earlier client's leftovers, Firecracker's vsock handshake (a stand-in for Firecracker's socket, held to
its documented `CONNECT <port>` / `OK <port>` exchange), and an agent that never answers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import agent
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from tests.conftest import need


@pytest.fixture(scope="module")
def qga(tmp_path_factory):
    """qemu-ga on a unix socket of a VM directory recorded as a QEMU VM's."""
    need(shutil.which("qemu-ga") is not None or os.path.exists("/usr/sbin/qemu-ga"),
         "needs qemu-ga (scripts/setup.sh installs qemu-guest-agent)")
    root = tmp_path_factory.mktemp("agent")
    vm = root / "vms/web"
    vm.mkdir(parents=True)
    (vm / "spec.json").write_text(json.dumps({"backend": "qemu", "name": "web"}))
    (vm / "console.log").write_text("booting\nMVM-READY web\n")
    state = root / "qga-state"
    state.mkdir()
    proc = subprocess.Popen([shutil.which("qemu-ga") or "/usr/sbin/qemu-ga", "-m", "unix-listen", "-p",
                             str(vm / "qga.sock"), "-t", str(state)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (vm / "qga.sock").exists():
        assert time.monotonic() < deadline, "qemu-ga did not listen"
        time.sleep(0.05)
    yield root
    proc.terminate()
    proc.wait()


def test_exec_returns_code_output_and_errors_and_reads_stdin(qga: Path) -> None:
    with agent.open_session(agent.Target("web", state_root=str(qga), shell="/bin/sh")) as s:
        assert s.exec("echo out; echo err >&2; exit 7") == (7, b"out\n", b"err\n")
        assert s.exec("cat", stdin=b"\x00binary\xff input") == (0, b"\x00binary\xff input", b"")
        assert s.exec("kill -9 $$")[0] == 128 + 9


def test_files_travel_both_ways_in_chunks(qga: Path, tmp_path: Path) -> None:
    data = os.urandom(agent.CHUNK * 2 + 123)
    with agent.open_session(agent.Target("web", state_root=str(qga), shell="/bin/sh")) as s:
        s.put(data, str(tmp_path / "f"))
        assert (tmp_path / "f").read_bytes() == data
        assert s.get(str(tmp_path / "f")) == data
        s.put(b"", str(tmp_path / "empty"))
        assert s.get(str(tmp_path / "empty")) == b""
        with pytest.raises(agent.AgentError, match="guest-file-open"):
            s.get(str(tmp_path / "missing"))


def test_a_channel_with_an_earlier_clients_leftovers_is_synced(qga: Path) -> None:
    """On a guest's virtio-serial port the channel outlives a client: one that died mid-request leaves an unread
    answer and half a request in the agent's parser. Both are on the same stream here, and sync clears them."""
    with agent.open_session(agent.Target("web", state_root=str(qga), shell="/bin/sh")) as s:
        assert isinstance(s, agent.AgentSession)
        s.stream.write(b'{"execute": "guest-info"}\n{"execute": "guest-ping", "argu')
        s.sync()
        assert s.exec("echo fine") == (0, b"fine\n", b"")


def test_a_silent_agent_is_an_error_within_the_timeout_with_the_console(tmp_path: Path) -> None:
    vm = tmp_path / "vms/mute"
    vm.mkdir(parents=True)
    (vm / "spec.json").write_text(json.dumps({"backend": "qemu"}))
    (vm / "console.log").write_text("[    0.1] kernel\nMVM-READY mute\n")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(vm / "qga.sock"))
    server.listen(4)  # accepts (the kernel does) and never answers, as QEMU's chardev with a dead qemu-ga
    started = time.monotonic()
    with pytest.raises(agent.AgentError) as failed:
        agent.open_session(agent.Target("mute", state_root=str(tmp_path), timeout=1))
    assert time.monotonic() - started < 10
    text = str(failed.value)
    assert "the guest agent of VM mute did not answer within 1s" in text and "MVM-READY mute" in text
    server.close()


def test_no_vm_and_no_agent_are_errors_naming_the_vm(tmp_path: Path) -> None:
    with pytest.raises(agent.AgentError, match="no VM ghost under"):
        agent.open_session(agent.Target("ghost", state_root=str(tmp_path)))
    vm = tmp_path / "vms/down"
    vm.mkdir(parents=True)
    (vm / "spec.json").write_text(json.dumps({"backend": "qemu"}))
    with pytest.raises(agent.AgentError, match="cannot reach the guest agent of VM down"):
        agent.open_session(agent.Target("down", state_root=str(tmp_path)))
    (tmp_path / "vms/fc").mkdir()
    (tmp_path / "vms/fc/spec.json").write_text(json.dumps({"backend": "firecracker", "firecracker": {}}))
    with pytest.raises(agent.AgentError, match=r"VM fc has no vsock \(firecracker.vsock_cid\)"):
        agent.open_session(agent.Target("fc", state_root=str(tmp_path), shell="/bin/sh"))


class _VsockStandIn(threading.Thread):
    """Firecracker's host side of a vsock device, as its documentation has it: a unix socket at uds_path where
    the host connects, writes `CONNECT <port>\\n` and reads `OK <host port>\\n`, after which bytes go to the guest
    (here: to qemu-ga's socket). Ports other than `listening` are closed without an answer, as Firecracker does
    when nothing listens in the guest."""

    def __init__(self, path: Path, guest: Path, listening: int) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(4)
        self.guest, self.listening, self.seen = guest, listening, []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            line = b""
            while not line.endswith(b"\n"):
                line += conn.recv(1)
            self.seen.append(line)
            if line != b"CONNECT %d\n" % self.listening:
                conn.close()
                continue
            conn.sendall(b"OK 1073741824\n")
            up = socket.socket(socket.AF_UNIX)
            up.connect(str(self.guest))
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        while True:
            try:
                data = a.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            b.sendall(data)


def test_firecracker_vms_are_reached_over_the_vsock_handshake(qga: Path, tmp_path: Path) -> None:
    vm = tmp_path / "vms/fc"
    vm.mkdir(parents=True)
    (vm / "spec.json").write_text(json.dumps({"backend": "firecracker", "firecracker": {"vsock_cid": 3}}))
    stand_in = _VsockStandIn(vm / "v.sock", qga / "vms/web/qga.sock", 1024)
    stand_in.start()
    with agent.open_session(agent.Target("fc", state_root=str(tmp_path), shell="/bin/sh")) as s:
        assert s.exec("echo over vsock") == (0, b"over vsock\n", b"")
    assert stand_in.seen == [b"CONNECT 1024\n"]
    stand_in.listening = 9  # nothing listens on 1024 in the guest: Firecracker closes the connection
    with pytest.raises(agent.AgentError, match="vsock handshake refused"):
        agent.open_session(agent.Target("fc", state_root=str(tmp_path), shell="/bin/sh"))
    stand_in.server.close()


def test_a_jailed_firecracker_vm_is_reached_inside_its_chroot(qga: Path, tmp_path: Path) -> None:
    (tmp_path / "vms/j").mkdir(parents=True)
    (tmp_path / "vms/j/spec.json").write_text(json.dumps({"backend": "firecracker", "firecracker": {
        "vsock_cid": 5, "jailer": True, "chroot_base": str(tmp_path / "jail"), "jailer_id": "j-1"}}))
    jail = tmp_path / "jail/firecracker/j-1/root"
    jail.mkdir(parents=True)
    stand_in = _VsockStandIn(jail / "v.sock", qga / "vms/web/qga.sock", 1024)
    stand_in.start()
    with agent.open_session(agent.Target("j", state_root=str(tmp_path), shell="/bin/sh")) as s:
        assert s.exec("echo jailed")[1] == b"jailed\n"
    stand_in.server.close()


@pytest.mark.parametrize("kwargs, field", [
    ({"vm": "web;reboot"}, "vm"), ({"vm": "../etc"}, "vm"), ({"vm": "a\nb"}, "vm"), ({"vm": ""}, "vm"),
    ({"vm": "web", "host": "-oProxyCommand=touch /tmp/x"}, "host"), ({"vm": "web", "host": "a b"}, "host"),
    ({"vm": "web", "host": "h\n"}, "host"), ({"vm": "web", "ssh_args": ["-p\n22"]}, "ssh_args"),
    ({"vm": "web", "state_root": "relative/root"}, "state_root"), ({"vm": "web", "state_root": "/a\x00b"}, "state_root"),
    ({"vm": "web", "timeout": 0}, "timeout"), ({"vm": "web", "timeout": "soon"}, "timeout"),
])
def test_hostile_targets_are_refused_naming_the_field_before_anything_runs(kwargs, field) -> None:
    with pytest.raises(MvmError, match="^%s: " % field):
        agent.Target(**kwargs)


def test_a_remote_target_runs_the_relay_through_one_quoted_ssh_command() -> None:
    t = agent.Target("web", host="root@kvm1", ssh_args=["-p", "2222"], state_root="/srv/my mvm")
    argv = t.relay_argv("connect", "10", "1024")
    assert argv[0] == "ssh" and argv[-2] == "root@kvm1" and argv[-3] == "2222"
    import shlex

    remote = shlex.split(argv[-1])
    assert remote[:2] == ["python3", "-c"] and remote[2] == agent.RELAY
    assert remote[3:] == ["connect", "/srv/my mvm", "web", "mvm-web", "10", "1024"]
