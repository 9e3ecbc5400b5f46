"""Record what the real tools print, once, as fixtures for the unit tests (`make record-outputs`, as root).

Each scenario runs in its own mount and network namespace (`unshare --mount --net`), with a tmpfs on /srv
so the state root is /srv/mvm as in the unit tests (firewall scope 81902b) and nothing touches the machine:
a veth `eth0` with a default route is the uplink. The engine makes the state (bridges, a real QEMU guest
under TCG, port forwards, a Docker container), then the real tools are asked what is there: the host probe's
whole output, `iptables -S` (nf_tables and legacy), `nft -j list ruleset`, `ip -j -d addr show`, QMP replies
from the running guest. The unit tests read these files and never make their own "recorded" input.

Regenerate only on purpose and review the diff: every unit test that reads a file sees the new output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ansible_collections.mvm.microvm.plugins.module_utils import ops, runner  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "recorded"
ROOT = "/srv/mvm"
SCENARIOS: Dict[str, Callable[[], None]] = {}


def sh(command: str) -> tuple[int, str, str]:
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def out(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


def write(name: str, text: str, source: str) -> None:
    """One fixture: a first line saying what printed it, then the tool's output byte for byte."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text("# recorded by tests/support/record_outputs.py: %s\n%s" % (source, text))
    print("wrote", OUT / name)


def apply(kind: str, params: Dict[str, Any], root: str = ROOT) -> None:
    """Plan an operation with the engine on this host's real probe and run it."""
    gather_host, gather_paths = ops.run_probe(sh)
    params = dict(params, state_root=root)
    if kind == "vm":
        plan = ops.vm_plan(params, gather_host, gather_paths)[1]
    elif kind == "rootfs":
        plan = ops.image_plan(params, gather_host, gather_paths)[1]
    elif kind == "bridge":
        plan = ops.bridge_plan(params, gather_host)[1]
    elif kind == "port_forward":
        plan = ops.forward_plan(params, gather_host)[1]
    else:
        raise ValueError(kind)
    runner.execute(plan, sh)


def probe(name: str, what: str) -> None:
    from ansible_collections.mvm.microvm.plugins.module_utils import probe as engine_probe

    rc, text, err = sh(engine_probe.host_probe(ROOT))
    assert rc == 0, err
    write(name, text, "the host probe, state root %s: %s" % (ROOT, what))


def scenario(func: Callable[[], None]) -> Callable[[], None]:
    SCENARIOS[func.__name__] = func
    return func


def uplink() -> None:
    for argv in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "uplink0"],
                 ["ip", "addr", "add", "192.0.2.10/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                 ["ip", "link", "set", "uplink0", "up"],
                 ["ip", "route", "add", "default", "via", "192.0.2.1", "dev", "eth0"]):
        subprocess.run(argv, check=True)
    # As on a fresh host: forwarding off until a NAT bridge turns it on (and its removal restores it).
    Path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")


def seed_image() -> None:
    """The default image, built before the namespace was entered (the build downloads a kernel package), copied
    into the state root as the real tests seed theirs."""
    built = Path(os.environ["MVM_RECORD_IMAGES"])
    Path(ROOT, "images").mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copytree(built / "artifacts", Path(ROOT, "artifacts"), dirs_exist_ok=True, symlinks=True)
    for link in (built / "images").iterdir():
        Path(ROOT, "images", link.name).symlink_to(os.readlink(link))


def networks(firewall: str) -> None:
    apply("bridge", {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True, "firewall": firewall})
    apply("bridge", {"name": "other", "subnet": "10.78.0.0/24", "nat": True, "firewall": firewall})
    apply("port_forward", {"host_port": 9090, "guest": "10.77.0.2", "guest_port": 80, "network": "mvmbr0",
                           "firewall": firewall})
    apply("port_forward", {"host_port": 5353, "guest": "10.77.0.2", "guest_port": 53, "proto": "udp",
                           "network": "mvmbr0", "firewall": firewall})


def iptables_lines(binary: str) -> str:
    return "".join("## -t %s\n%s" % (table, out(binary, "-w", "-t", table, "-S")) for table in ("nat", "filter"))


def qmp_transcript(sock: str) -> str:
    """Each command sent to the running guest's QMP socket and every line QEMU answered, as JSON lines."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    f = s.makefile("rw")
    lines = [json.dumps({"recv": json.loads(f.readline())})]
    for command in ("qmp_capabilities", "query-status", "stop", "query-status", "cont", "query-status",
                    "query-block", "query-migrate"):
        f.write(json.dumps({"execute": command}) + "\n")
        f.flush()
        lines.append(json.dumps({"send": {"execute": command}}))
        while True:
            reply = json.loads(f.readline())
            lines.append(json.dumps({"recv": reply}))
            if "return" in reply or "error" in reply:
                break
    s.close()
    return "\n".join(lines) + "\n"


@scenario
def qemu_iptables_nft() -> None:
    """Bridges with NAT through Debian's default iptables (nf_tables), a QEMU guest with a published port."""
    networks("iptables")
    seed_image()
    web = {"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:80"],
           "kernel_args": "mvm.httpd=80"}
    apply("vm", web)
    write("iptables-nft-S.txt", iptables_lines("iptables"), "iptables -w -t nat -S; iptables -w -t filter -S "
          "(%s)" % out("iptables", "--version").strip())
    write("ip-j-d-addr.txt", out("ip", "-j", "-d", "addr", "show") + "\n", "ip -j -d addr show")
    probe("probe-qemu-running.txt", "bridges mvmbr0 and other with NAT (iptables), VM web running on mvmbr0 with "
          "8080:80, port forwards 9090/tcp to 10.77.0.2:80 and 5353/udp to 10.77.0.2:53")
    write("qmp-web.jsonl", qmp_transcript(ROOT + "/vms/web/qmp.sock"), "QMP of VM web (%s)"
          % out("qemu-system-x86_64", "--version").splitlines()[0])
    apply("vm", dict(web, state="paused"))
    probe("probe-qemu-paused.txt", "as probe-qemu-running.txt with VM web paused")
    apply("vm", dict(web, state="stopped"))
    probe("probe-qemu-stopped.txt", "as probe-qemu-running.txt with VM web stopped")
    apply("vm", {"name": "web", "state": "absent"})
    for name in ("mvmbr0", "other"):
        apply("bridge", {"name": name, "state": "absent"})
    apply("port_forward", {"host_port": 9090, "guest": "10.77.0.2", "guest_port": 80, "state": "absent"})
    apply("port_forward", {"host_port": 5353, "proto": "udp", "state": "absent"})
    probe("probe-after-absent.txt", "after VM web, both bridges and the forwards were made absent")


@scenario
def iptables_legacy() -> None:
    """The same networks through iptables-legacy (a PATH entry where `iptables` is iptables-legacy)."""
    shim = Path(tempfile.mkdtemp())
    (shim / "iptables").symlink_to(shutil.which("iptables-legacy") or "/usr/sbin/iptables-legacy")
    os.environ["PATH"] = "%s:%s" % (shim, os.environ["PATH"])
    networks("iptables")
    write("iptables-legacy-S.txt", iptables_lines("iptables"), "iptables-legacy -w -t nat -S; -t filter -S (%s)"
          % out("iptables", "--version").strip())
    probe("probe-iptables-legacy.txt", "bridges mvmbr0 and other with NAT and port forwards 9090/tcp and 5353/udp, "
          "iptables-legacy")
    for name in ("mvmbr0", "other"):
        apply("bridge", {"name": name, "state": "absent"})
    probe("probe-forwards-only.txt", "as probe-iptables-legacy.txt after both bridges were made absent (the forwards "
          "still need forwarding on)")
    apply("port_forward", {"host_port": 9090, "guest": "10.77.0.2", "guest_port": 80, "state": "absent"})
    probe("probe-last-forward.txt", "as probe-forwards-only.txt after the 9090/tcp forward was made absent")


@scenario
def nft() -> None:
    """The same networks through nft."""
    networks("nft")
    write("nft-j-ruleset.json", out("nft", "-j", "list", "ruleset") + "\n", "nft -j list ruleset (%s)"
          % out("nft", "--version").strip())
    probe("probe-nft.txt", "bridges mvmbr0 and other with NAT and port forwards 9090/tcp and 5353/udp, nft table ip mvm")
    apply("bridge", {"name": "other", "state": "absent"})
    apply("port_forward", {"host_port": 9090, "guest": "10.77.0.2", "guest_port": 80, "state": "absent"})
    apply("port_forward", {"host_port": 5353, "proto": "udp", "state": "absent"})
    probe("probe-nft-last-bridge.txt", "as probe-nft.txt after bridge other and the forwards were made absent")
    apply("bridge", {"name": "mvmbr0", "state": "absent"})
    probe("probe-nft-after-absent.txt", "as probe-nft-last-bridge.txt after bridge mvmbr0 was made absent")


@scenario
def docker() -> None:
    """A Docker container made by the engine (dockerd must run: make setup starts it)."""
    seed_image()
    box = {"name": "box", "image": "default", "backend": "docker"}
    try:
        apply("vm", box)
        probe("probe-docker-running.txt", "VM box on the docker backend, running")
        apply("vm", dict(box, state="paused"))
        probe("probe-docker-paused.txt", "VM box on the docker backend, paused")
        apply("vm", dict(box, state="stopped"))
        probe("probe-docker-stopped.txt", "VM box on the docker backend, stopped")
    finally:
        apply("vm", {"name": "box", "state": "absent", "backend": "docker"})


def main(argv: List[str]) -> int:
    if os.geteuid() != 0:
        print("record_outputs: run as root (make record-outputs)", file=sys.stderr)
        return 2
    if argv[1:2] == ["--inside"]:
        subprocess.run(["mount", "--make-rprivate", "/"], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/srv"], check=True)
        uplink()
        SCENARIOS[argv[2]]()
        return 0
    names = argv[1:] or list(SCENARIOS)
    images = Path(tempfile.mkdtemp(prefix="mvm-record-"))
    apply("rootfs", {}, str(images))
    os.environ["MVM_RECORD_IMAGES"] = str(images)
    try:
        for name in names:
            started = time.monotonic()
            subprocess.run(["unshare", "--mount", "--net", "--fork", sys.executable, __file__, "--inside", name],
                           check=True)
            print("%s: %.1f s" % (name, time.monotonic() - started))
    finally:
        shutil.rmtree(images, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
