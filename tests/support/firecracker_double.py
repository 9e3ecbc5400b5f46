"""A Firecracker PROCESS DOUBLE for the tests: no guest boots, no KVM is touched.

Firecracker cannot run on this machine (its KVM is kvm_pvm, under which standard guests hang). This
executable stands in for the `firecracker` binary so that mvm's Firecracker plans run end to end: it
parses Firecracker's command line, serves the API on the unix socket as the official swagger
(../shared/contracts/firecracker) describes -- the pre-boot / running / paused state machine, snapshot
create writing files of the sizes asked, snapshot load on a fresh process only -- reads a
`--config-file` document with `--no-api`, exits on `SendCtrlAltDel` (x86_64) and SIGTERM.

What it checks, the real one checks too: every file it is pointed at (kernel, initrd, drives, snapshot,
memory file) must exist and be readable (drives not read-only: writable) by the user it runs as; the API
socket must not exist yet. What it cannot do: boot anything. On `InstanceStart` it prints one line saying
so, then mvm's readiness marker, which the guest's init would print (the plans wait for it).

Standard library only: the tests start it through a copy of the Python interpreter whose file name starts
with `firecracker` (mvm's identity check reads the executable's name, as it would for the real binary).
Every request is appended to $MVM_FC_DOUBLE_LOG as JSON; the tests validate each against the swagger of
v1.14.1 and v1.16.1. Under the jailer double, $MVM_FC_DOUBLE_CHROOT is the directory every absolute
path is resolved in (the real jailer chroots; the double cannot, its interpreter lives outside).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler
from socketserver import ThreadingMixIn, UnixStreamServer
from typing import Any

READY_MARKER = "MVM-READY"  # guest.READY_MARKER; the double imports nothing from mvm on purpose
VERSION = os.environ.get("MVM_FC_DOUBLE_VERSION", "1.16.1")
PRE_BOOT = ("/logger", "/boot-source", "/machine-config", "/drives/", "/network-interfaces/", "/vsock", "/metrics",
            "/mmds", "/entropy", "/balloon", "/cpu-config", "/serial")
FLAGS = {"--no-api", "--boot-timer", "--enable-pci", "--no-seccomp", "--show-level", "--show-log-origin"}
VALUED = {"--api-sock", "--config-file", "--id", "--seccomp-filter", "--level", "--log-path", "--metrics-path",
          "--start-time-us", "--start-time-cpu-us", "--parent-cpu-time-us", "--http-api-max-payload-size",
          "--mmds-size-limit", "--module"}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fail(message: str) -> None:
    sys.stderr.write("firecracker double: %s\n" % message)
    sys.stderr.flush()
    sys.exit(1)


def parse(argv: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in FLAGS:
            args[a] = True
        elif a in VALUED:
            if i + 1 >= len(argv):
                fail("%s needs a value" % a)
            args[a] = argv[i + 1]
            i += 1
        else:
            fail("unknown argument %r" % a)
        i += 1
    if args.get("--no-api") and "--config-file" not in args:
        fail("--no-api needs --config-file")
    if args.get("--no-api") and "--api-sock" in args:
        fail("--no-api and --api-sock exclude each other")
    return args


class Vmm:
    """The VM's state as Firecracker keeps it."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.root = os.environ.get("MVM_FC_DOUBLE_CHROOT", "")
        self.state = "Not started"
        self.config: dict[str, Any] = {"drives": {}, "network-interfaces": {}}
        self.calls = 0
        self.lock = threading.Lock()

    def host(self, path: str) -> str:
        """A path as this process sees it (inside the emulated chroot)."""
        if not path.startswith("/") or "/../" in path + "/":
            raise ValueError("not an absolute path without '..': %r" % path)
        return self.root + path if self.root else path

    def need_file(self, path: str, write: bool = False, what: str = "file") -> None:
        full = self.host(path)
        if not os.path.isfile(full):
            raise ValueError("%s %s does not exist" % (what, path))
        if not os.access(full, os.R_OK | (os.W_OK if write else 0)):
            raise ValueError("%s %s is not %s by uid %d" % (what, path, "readable and writable" if write else "readable",
                                                           os.getuid()))

    def log(self, method: str, path: str, body: Any, status: int) -> None:
        target = os.environ.get("MVM_FC_DOUBLE_LOG")
        if target:
            record = {"pid": os.getpid(), "id": self.args.get("--id"), "uid": os.getuid(), "method": method,
                      "path": path, "body": body, "status": status, "version": VERSION}
            with open(target, "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    # ---- the API ----------------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            try:
                status, reply = self._answer(method, path, body)
            except (ValueError, KeyError, TypeError, OSError) as exc:
                status, reply = 400, {"fault_message": str(exc)}
            self.log(method, path, body, status)
            self.calls += 1
            return status, reply

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/":
            return 200, {"app_name": "Firecracker", "id": self.args.get("--id", "anonymous-instance"),
                         "state": self.state, "vmm_version": VERSION}
        if method == "GET" and path == "/vm/config":
            return 200, self.document()
        if method == "GET" and path == "/version":
            return 200, {"firecracker_version": VERSION}
        if method not in ("PUT", "PATCH") or not isinstance(body, dict):
            raise ValueError("%s %s: not served by this double (or no JSON body)" % (method, path))
        if path.startswith(PRE_BOOT):
            if self.state != "Not started":
                raise ValueError("%s is a pre-boot resource; the microVM is %s" % (path, self.state))
            self.configure(path, body)
            return 204, None
        if path == "/actions":
            return self.action(body["action_type"])
        if path == "/vm" and method == "PATCH":
            if self.state == "Not started":
                raise ValueError("the microVM is not started")
            self.state = {"Paused": "Paused", "Resumed": "Running"}[body["state"]]
            return 204, None
        if path == "/snapshot/create":
            return self.snapshot_create(body)
        if path == "/snapshot/load":
            return self.snapshot_load(body)
        raise ValueError("%s %s: not served by this double" % (method, path))

    def configure(self, path: str, body: dict[str, Any]) -> None:
        if path == "/logger" and "log_path" in body:
            open(self.host(body["log_path"]), "a").close()
        if path == "/boot-source":
            self.need_file(body["kernel_image_path"], what="kernel")
            if body.get("initrd_path"):
                self.need_file(body["initrd_path"], what="initrd")
        if path.startswith("/drives/"):
            if body["drive_id"] != path.rsplit("/", 1)[1]:
                raise ValueError("drive_id %r does not match the path" % body["drive_id"])
            self.need_file(body["path_on_host"], write=not body.get("is_read_only"), what="drive")
            self.config["drives"][body["drive_id"]] = body
        elif path.startswith("/network-interfaces/"):
            self.config["network-interfaces"][body["iface_id"]] = body
        else:
            self.config[path.strip("/")] = body

    def document(self) -> dict[str, Any]:
        doc = {k: v for k, v in self.config.items() if k not in ("drives", "network-interfaces")}
        doc["drives"] = list(self.config["drives"].values())
        doc["network-interfaces"] = list(self.config["network-interfaces"].values())
        return doc

    def action(self, kind: str) -> tuple[int, Any]:
        if kind == "InstanceStart":
            if self.state != "Not started":
                raise ValueError("the microVM is already started")
            self.boot()
            return 204, None
        if kind == "SendCtrlAltDel":
            if self.state == "Not started":
                raise ValueError("the microVM is not started")
            if os.uname().machine != "x86_64":
                raise ValueError("SendCtrlAltDel exists on x86_64 only")
            say("firecracker double: SendCtrlAltDel; the VMM exits as Firecracker does when its guest reboots")
            threading.Timer(0.2, lambda: os._exit(0)).start()
            return 204, None
        if kind == "FlushMetrics":
            return 204, None
        raise ValueError("unknown action_type %r" % kind)

    def boot(self) -> None:
        if "boot-source" not in self.config:
            raise ValueError("no boot source configured")
        if not any(d.get("is_root_device") for d in self.config["drives"].values()):
            raise ValueError("no root drive configured")
        self.state = "Running"
        say("firecracker double: InstanceStart accepted (%d MiB, %d vCPU); this is a test double, no guest runs" % (
            self.config.get("machine-config", {}).get("mem_size_mib", 128),
            self.config.get("machine-config", {}).get("vcpu_count", 1)))
        say(READY_MARKER)

    def snapshot_create(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self.state != "Paused":
            raise ValueError("the microVM must be paused to create a snapshot (it is %s)" % self.state)
        mib = self.config.get("machine-config", {}).get("mem_size_mib", 128)
        if body.get("snapshot_type") == "Diff" and not self.config.get("machine-config", {}).get("track_dirty_pages"):
            raise ValueError("Diff snapshots need track_dirty_pages in the machine configuration")
        snap = {"double": "firecracker", "version": VERSION, "snapshot_type": body.get("snapshot_type", "Full"),
                "config": self.document()}
        with open(self.host(body["snapshot_path"]), "w") as f:
            json.dump(snap, f)
        with open(self.host(body["mem_file_path"]), "wb") as f:
            f.truncate(mib * 1024 * 1024)
        return 204, None

    def snapshot_load(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self.state != "Not started" or any(k not in ("logger", "metrics") for k in self.config
                                              if self.config[k] and k not in ("drives", "network-interfaces")) \
                or self.config["drives"] or self.config["network-interfaces"]:
            raise ValueError("a snapshot loads only into a fresh Firecracker process")
        self.need_file(body["snapshot_path"], what="snapshot")
        backend = body.get("mem_backend") or {}
        self.need_file(backend["backend_path"], what="memory file")
        with open(self.host(body["snapshot_path"])) as f:
            snap = json.load(f)
        config = snap["config"]
        mib = config.get("machine-config", {}).get("mem_size_mib", 128)
        if os.path.getsize(self.host(backend["backend_path"])) != mib * 1024 * 1024:
            raise ValueError("the memory file is not the snapshot's %d MiB" % mib)
        ifaces = {i["iface_id"]: i for i in config.get("network-interfaces", [])}
        for override in body.get("network_overrides", []):
            if override["iface_id"] not in ifaces:
                raise ValueError("network override for %r: no such interface in the snapshot" % override["iface_id"])
            ifaces[override["iface_id"]] = dict(ifaces[override["iface_id"]], host_dev_name=override["host_dev_name"])
        for drive in config.get("drives", []):
            self.need_file(drive["path_on_host"], write=not drive.get("is_read_only"), what="drive")
        self.config = {k: v for k, v in config.items() if k not in ("drives", "network-interfaces")}
        self.config["drives"] = {d["drive_id"]: d for d in config.get("drives", [])}
        self.config["network-interfaces"] = ifaces
        self.state = "Running" if body.get("resume_vm") else "Paused"
        say("firecracker double: snapshot loaded (%s); this is a test double, no guest runs" % self.state)
        return 204, None


class Server(ThreadingMixIn, UnixStreamServer):
    daemon_threads = True
    vmm: Vmm


class Handler(BaseHTTPRequestHandler):
    server: Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, reply = 400, {"fault_message": "the body is not JSON"}
        else:
            status, reply = self.server.vmm.answer(self.command, self.path, body)
        data = json.dumps(reply).encode() if reply is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = _handle

    def address_string(self) -> str:
        return "unix"

    def log_message(self, *args: Any) -> None:
        pass


def main(argv: list[str]) -> None:
    if argv[:1] in (["--version"], ["-V"]):
        say("Firecracker v%s" % VERSION)
        return
    args = parse(argv)
    vmm = Vmm(args)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    say("firecracker double %s: a test stand-in for Firecracker, pid %d, uid %d" % (VERSION, os.getpid(), os.getuid()))
    if args.get("--seccomp-filter"):
        vmm.need_file(args["--seccomp-filter"], what="seccomp filter")
    if args.get("--no-api"):
        config_path = args["--config-file"]
        vmm.need_file(config_path, what="config file")
        with open(vmm.host(config_path)) as f:
            doc = json.load(f)
        vmm.log("CONFIG", config_path, doc, 0)
        try:
            for key in ("logger", "boot-source", "machine-config", "vsock"):
                if key in doc:
                    vmm.configure("/" + key, doc[key])
            for drive in doc.get("drives", []):
                vmm.configure("/drives/" + drive["drive_id"], drive)
            for iface in doc.get("network-interfaces", []):
                vmm.configure("/network-interfaces/" + iface["iface_id"], iface)
            vmm.boot()
        except (ValueError, KeyError) as exc:
            fail("config file %s: %s" % (config_path, exc))
        signal.pause()
        return
    sock = vmm.host(args.get("--api-sock", "/run/firecracker.socket"))
    if os.path.exists(sock):
        fail("Failed to open the API socket at %s: Address in use" % sock)
    server = Server(sock, Handler)
    server.vmm = vmm
    try:
        server.serve_forever()
    finally:
        try:
            os.unlink(sock)
        except OSError:
            pass


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except socket.error as exc:
        fail(str(exc))
