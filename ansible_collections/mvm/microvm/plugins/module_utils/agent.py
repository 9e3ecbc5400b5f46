# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inside the guest: one client for every way mvm reaches a VM's inside, standard library only.

QEMU and Firecracker guests run the QEMU guest agent (qemu-ga, see guest.py); this client speaks its protocol
(`guest-sync-delimited`, `guest-exec` + `guest-exec-status`, `guest-file-*`) over a byte stream. The stream is a
small relay (`RELAY`, run with the VM host's python3, locally or over SSH) that finds the VM under the state root,
connects to its agent socket (QEMU's virtio-serial chardev, or Firecracker's vsock socket with its `CONNECT <port>`
handshake) and copies bytes both ways; the relay first prints one JSON line saying what it found. Docker VMs are
reached with `docker exec` instead. The Ansible connection plugin, the pyinfra connector, the health checks and
vm_info all go through `open_session`.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import json
import os
import random
import select
import shlex
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import docker_backend, guest, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

DEFAULT_TIMEOUT = 10.0     # seconds an agent has to answer one request (never a hang)
CHUNK = 512 * 1024         # bytes per guest-file-read / guest-file-write request
CONSOLE_TAIL_LINES = 20
SHELL = "/mvm/bin/sh"      # every image mvm builds has it (guest.py); the image's own shell may not exist

# Runs on the VM host (python3 -c RELAY MODE STATE_ROOT VM CONTAINER ...). MODE `connect` (then TIMEOUT PORT):
# one JSON line (the backend, or an error), then bytes both ways between stdin/stdout and the agent's socket.
# MODE `tail` (then LINES): the console's end.
RELAY = r'''
import json, os, select, socket, sys
mode, root, name, container = sys.argv[1:5]
if not root:
    root = "/var/lib/mvm" if os.getuid() == 0 else os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "mvm")
d = os.path.join(root, "vms", name)
def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n"); sys.stdout.flush()
def docker_vm():
    """A Docker VM has no directory: its container carries mvm's labels."""
    import subprocess
    try:
        found = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "mvm.state_root"}}', container],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"backend": "docker"} if found == root else None
try:
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
except (OSError, ValueError):
    spec = docker_vm()
    if spec is None:
        out({"error": "no VM %s under %s" % (name, root)}); sys.exit(0)
backend = spec.get("backend")
if mode == "tail":
    try:
        with open(os.path.join(d, "console.log"), "rb") as f:
            f.seek(0, 2); f.seek(max(0, f.tell() - 16384))
            lines = f.read().decode("utf-8", "replace").splitlines()[-int(sys.argv[5]):]
    except OSError:
        lines = []
    out({"backend": backend, "lines": lines}); sys.exit(0)
if backend == "docker":
    out({"backend": backend}); sys.exit(0)
import time
def connect(path):
    """A listener that serves one client at a time may refuse for a moment after the last one left: retry."""
    deadline = time.monotonic() + float(sys.argv[5])
    while True:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(float(sys.argv[5]))
        try:
            c.connect(path)
            return c
        except ConnectionRefusedError:
            c.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
try:
    if backend == "firecracker":
        fc = spec.get("firecracker") or {}
        if not fc.get("vsock_cid"):
            out({"error": "VM %s has no vsock (firecracker.vsock_cid): its guest agent is unreachable" % name})
            sys.exit(0)
        where = (os.path.join(fc.get("chroot_base") or "/srv/jailer", "firecracker", fc.get("jailer_id") or name,
                              "root", "v.sock") if fc.get("jailer") else os.path.join(d, "v.sock"))
        s = connect(where)
        s.sendall(b"CONNECT %d\n" % int(sys.argv[6]))
        ok = b""
        while not ok.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                break
            ok += c
        if not ok.startswith(b"OK "):
            raise OSError("vsock handshake refused: %r" % ok[:80])
    elif backend in ("qemu",):
        s = connect(os.path.join(d, "qga.sock"))
    else:
        out({"error": "VM %s runs on %s, which has no guest agent mvm can reach" % (name, backend)}); sys.exit(0)
except OSError as e:
    out({"error": "cannot reach the guest agent of VM %s: %s" % (name, e)}); sys.exit(0)
out({"backend": backend})
s.settimeout(None)
fin, fout = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer, sys.stdout.buffer
while True:
    r, _, _ = select.select([fin, s], [], [])
    if fin in r:
        b = os.read(fin.fileno(), 65536)
        if not b:
            break
        s.sendall(b)
    if s in r:
        b = s.recv(65536)
        if not b:
            break
        fout.write(b); fout.flush()
'''


def host_argv(host: Optional[str], ssh_args: Sequence[str], argv: Sequence[str]) -> List[str]:
    """A command for a VM host: as is on this machine, through ssh (one quoted command line, a shared master
    connection) on another. Validate `host` and `ssh_args` first (Target, the inventory plugin)."""
    if not host:
        return list(argv)
    return ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
            "-o", "ControlPath=/tmp/mvm-ssh-%C"] + list(ssh_args) + [host, " ".join(shlex.quote(a) for a in argv)]


class AgentError(MvmError):
    """The guest could not be reached or did not answer; says which VM and shows its console's end."""


class Target:
    """Where a VM is: its name, the VM host (None: this machine) with the ssh arguments to reach it, the state root
    there (None: the default for the user), and the shell commands run with inside (mvm's own in every image)."""

    def __init__(self, vm: str, host: Optional[str] = None, ssh_args: Sequence[str] = (),
                 state_root: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT, shell: str = SHELL) -> None:
        self.vm = validate.name("vm", vm)
        self.host = validate.ssh_destination("host", host) if host else None
        self.ssh_args = [validate.text_line("ssh_args", a, 1024) for a in ssh_args]
        self.state_root = validate.abs_path("state_root", state_root, optional=True) if state_root else None
        self.timeout = validate.number("timeout", timeout, 0.5, 3600)
        self.shell = str(validate.abs_path("shell", shell))

    def label(self) -> str:
        return "%s on %s" % (self.vm, self.host) if self.host else self.vm

    def argv(self, argv: Sequence[str]) -> List[str]:
        return host_argv(self.host, self.ssh_args, argv)

    def relay_argv(self, mode: str, *extra: str) -> List[str]:
        return self.argv(["python3", "-c", RELAY, mode, self.state_root or "", self.vm, self.container] + list(extra))

    @property
    def container(self) -> str:
        """The container a Docker VM of this name is (docker_backend names them)."""
        return docker_backend.container(self.vm)


def open_session(target: Target) -> "Session":
    """Reach the inside of a VM: the guest agent's session for QEMU and Firecracker, docker exec for Docker."""
    proc = subprocess.Popen(target.relay_argv("connect", str(target.timeout), str(guest.AGENT_VSOCK_PORT)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stream = _Stream(proc, target)
    header = stream.header()
    if header.get("error"):
        stream.close()
        raise AgentError("%s%s" % (header["error"], _tail_text(target)))
    if header.get("backend") == "docker":
        stream.close()
        return DockerSession(target, target.container)
    session = AgentSession(target, stream)
    session.sync()
    return session


def console_tail(target: Target, lines: int = CONSOLE_TAIL_LINES) -> List[str]:
    """The last lines the VM wrote to its console (docker: its log)."""
    try:
        proc = subprocess.run(target.relay_argv("tail", str(int(lines))), capture_output=True,
                              timeout=target.timeout, check=False)
        found = json.loads(proc.stdout.decode("utf-8", "replace").splitlines()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return []
    if found.get("backend") == "docker":
        try:
            proc = subprocess.run(target.argv(["docker", "logs", "--tail", str(int(lines)), target.container]),
                                  capture_output=True, timeout=target.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return (proc.stdout + proc.stderr).decode("utf-8", "replace").splitlines()[-lines:]
    return [str(x) for x in found.get("lines") or []]


def _tail_text(target: Target) -> str:
    lines = console_tail(target)
    return "\nlast console lines of %s:\n  %s" % (target.vm, "\n  ".join(lines)) if lines else ""


class Session:
    """exec, put and get inside one VM; `close` when done."""

    target: Target

    def exec(self, command: str, stdin: bytes = b"", timeout: Optional[float] = None) -> Tuple[int, bytes, bytes]:
        """Run a shell command line inside the guest (mvm's shell, as root): (rc, stdout, stderr)."""
        raise NotImplementedError

    def put(self, data: bytes, path: str) -> None:
        raise NotImplementedError

    def get(self, path: str) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Stream:
    """The relay's stdout read with a deadline, so a silent agent is an error, never a hang."""

    def __init__(self, proc: "subprocess.Popen[bytes]", target: Target) -> None:
        self.proc, self.target, self.buf = proc, target, b""

    def _fill(self, deadline: float) -> None:
        if self.proc.stdout is None:
            raise AgentError("the relay for VM %s has no output" % self.target.label())
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
            raise AgentError("the guest agent of VM %s did not answer within %gs%s"
                             % (self.target.label(), self.target.timeout, _tail_text(self.target)))
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            err = self.proc.stderr.read().decode("utf-8", "replace").strip() if self.proc.stderr else ""
            raise AgentError("the connection to the guest agent of VM %s closed%s%s"
                             % (self.target.label(), ": " + err[-2000:] if err else "", _tail_text(self.target)))
        self.buf += chunk

    def line(self, deadline: float) -> bytes:
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def skip_to(self, marker: bytes, deadline: float) -> None:
        while marker not in self.buf:
            self.buf = b""
            self._fill(deadline)
        self.buf = self.buf.split(marker, 1)[1]

    def header(self) -> Dict[str, Any]:
        raw = self.line(time.monotonic() + self.target.timeout + 30)  # ssh's own connect comes first
        try:
            found = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise AgentError("VM %s: the VM host answered %r instead of the relay's header"
                             % (self.target.label(), raw[:200]))
        return found

    def write(self, data: bytes) -> None:
        if self.proc.stdin is None:
            raise AgentError("the relay for VM %s has no input" % self.target.label())
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise AgentError("the connection to the guest agent of VM %s closed%s"
                             % (self.target.label(), _tail_text(self.target))) from None

    def close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class AgentSession(Session):
    """The QEMU guest agent protocol: one JSON request per line, one answer per request."""

    def __init__(self, target: Target, stream: _Stream) -> None:
        self.target, self.stream = target, stream

    def sync(self) -> None:
        """Drop whatever an earlier client left in the channel: 0xFF resets the agent's parser, and the answer
        to guest-sync-delimited comes after a 0xFF of its own."""
        token = random.randint(1, 2 ** 31 - 1)
        deadline = time.monotonic() + self.target.timeout
        self.stream.write(b"\xff" + json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": token}})
                          .encode() + b"\n")
        while True:
            self.stream.skip_to(b"\xff", deadline)
            answer = self._answer(deadline)
            if answer.get("return") == token:
                return

    def _answer(self, deadline: float) -> Dict[str, Any]:
        while True:
            line = self.stream.line(deadline).strip(b"\xff \r\t")
            if not line:
                continue
            try:
                answer = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue
            if isinstance(answer, dict):
                return answer

    def call(self, command: str, arguments: Optional[Dict[str, Any]] = None) -> Any:
        request = {"execute": command}  # type: Dict[str, Any]
        if arguments is not None:
            request["arguments"] = arguments
        self.stream.write(json.dumps(request).encode() + b"\n")
        answer = self._answer(time.monotonic() + self.target.timeout)
        if "error" in answer:
            detail = (answer["error"] or {}).get("desc", answer["error"])
            raise AgentError("VM %s: %s: %s" % (self.target.label(), command, detail))
        return answer.get("return")

    def exec(self, command: str, stdin: bytes = b"", timeout: Optional[float] = None) -> Tuple[int, bytes, bytes]:
        args = {"path": self.target.shell, "arg": ["-c", command], "capture-output": True}  # type: Dict[str, Any]
        if stdin:
            args["input-data"] = base64.b64encode(stdin).decode()
        pid = self.call("guest-exec", args)["pid"]
        started, pause = time.monotonic(), 0.002
        while True:
            status = self.call("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                break
            if timeout is not None and time.monotonic() - started > timeout:
                self.exec("kill -9 %d" % int(pid))
                raise AgentError("VM %s: the command did not finish within %gs" % (self.target.label(), timeout))
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        out = base64.b64decode(status.get("out-data", ""))
        err = base64.b64decode(status.get("err-data", ""))
        rc = status.get("exitcode")
        if rc is None:  # ended by a signal, as a shell would say
            rc = 128 + int(status.get("signal") or 0)
        return int(rc), out, err

    def put(self, data: bytes, path: str) -> None:
        handle = self.call("guest-file-open", {"path": path, "mode": "wb"})
        try:
            for at in range(0, len(data), CHUNK):
                self.call("guest-file-write", {"handle": handle, "buf-b64": base64.b64encode(data[at:at + CHUNK]).decode()})
        finally:
            self.call("guest-file-close", {"handle": handle})

    def get(self, path: str) -> bytes:
        handle = self.call("guest-file-open", {"path": path, "mode": "rb"})
        parts = []
        try:
            while True:
                got = self.call("guest-file-read", {"handle": handle, "count": CHUNK})
                parts.append(base64.b64decode(got.get("buf-b64", "")))
                if got.get("eof") or not got.get("count"):
                    break
        finally:
            self.call("guest-file-close", {"handle": handle})
        return b"".join(parts)

    def close(self) -> None:
        self.stream.close()


class DockerSession(Session):
    """A Docker VM: `docker exec` on its VM host (over ssh where that is another machine)."""

    def __init__(self, target: Target, container: str) -> None:
        self.target, self.container = target, validate.name("container", container, 128)

    def _run(self, argv: List[str], stdin: bytes, timeout: Optional[float]) -> Tuple[int, bytes, bytes]:
        try:
            proc = subprocess.run(self.target.argv(["docker", "exec", "-i", self.container] + argv), input=stdin,
                                  capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise AgentError("VM %s: the command did not finish within %gs" % (self.target.label(), timeout or 0)) from None
        if proc.returncode in (125, 126) or b"is not running" in proc.stderr:
            raise AgentError("VM %s: docker exec failed: %s%s" % (
                self.target.label(), proc.stderr.decode("utf-8", "replace").strip()[-2000:], _tail_text(self.target)))
        return proc.returncode, proc.stdout, proc.stderr

    def exec(self, command: str, stdin: bytes = b"", timeout: Optional[float] = None) -> Tuple[int, bytes, bytes]:
        return self._run([self.target.shell, "-c", command], stdin, timeout)

    def put(self, data: bytes, path: str) -> None:
        rc, _out, err = self._run([self.target.shell, "-c", 'cat > "$1"', "sh", path], data, None)
        if rc:
            raise AgentError("VM %s: cannot write %s: %s" % (self.target.label(), path, err.decode("utf-8", "replace")))

    def get(self, path: str) -> bytes:
        rc, out, err = self._run([self.target.shell, "-c", 'cat -- "$1"', "sh", path], b"", None)
        if rc:
            raise AgentError("VM %s: cannot read %s: %s" % (self.target.label(), path, err.decode("utf-8", "replace")))
        return out
