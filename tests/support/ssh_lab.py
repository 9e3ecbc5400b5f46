"""A second VM host for tests: sshd inside a network namespace of its own, reached from this namespace over a
veth pair, with a key made for the test. VMs that mvm starts over this SSH run inside that namespace.

Nothing of the machine's own SSH setup is used or changed: host key, authorized key, configuration and log all
live in the test's directory, and deleting the namespace ends every process left in it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def _run(*argv: str) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    assert proc.returncode == 0, " ".join(argv) + ": " + proc.stdout + proc.stderr
    return proc.stdout


@dataclass
class SshLab:
    work: Path
    ns: str = ""
    address: str = ""
    server: subprocess.Popen | None = None
    ssh_args: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, work: Path, octet: int = 7) -> "SshLab":
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        assert os.path.exists(sshd), "sshd is missing (scripts/setup.sh installs openssh-server)"
        tag = uuid.uuid4().hex[:6]
        lab = cls(work=work, ns="mvms" + tag, address="10.203.%d.2" % octet)
        _run("ip", "netns", "add", lab.ns)
        _run("ip", "link", "add", "vs" + tag, "type", "veth", "peer", "name", "vp" + tag, "netns", lab.ns)
        _run("ip", "addr", "add", "10.203.%d.1/30" % octet, "dev", "vs" + tag)
        _run("ip", "link", "set", "vs" + tag, "up")
        # A server has a default route: its VMs' NAT goes out of it (the uplink the facts report).
        for argv in (("addr", "add", lab.address + "/30", "dev", "vp" + tag), ("link", "set", "vp" + tag, "up"),
                     ("link", "set", "lo", "up"), ("route", "add", "default", "via", "10.203.%d.1" % octet)):
            _run("ip", "-n", lab.ns, *argv)
        for name in ("host_key", "user_key"):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / name))
        shutil.copy(work / "user_key.pub", work / "authorized_keys")
        os.chmod(work / "authorized_keys", 0o600)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        (work / "sshd_config").write_text("\n".join([
            "ListenAddress %s" % lab.address, "Port 22", "HostKey %s" % (work / "host_key"),
            "AuthorizedKeysFile %s" % (work / "authorized_keys"), "PermitRootLogin prohibit-password",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "PidFile %s" % (work / "sshd.pid"), "MaxStartups 50", "MaxSessions 50",
            "AcceptEnv LANG LC_*", "Subsystem sftp internal-sftp", ""]))
        lab.server = subprocess.Popen(["ip", "netns", "exec", lab.ns, sshd, "-D", "-e", "-f", str(work / "sshd_config")],
                                      stdout=open(work / "sshd.log", "wb"), stderr=subprocess.STDOUT)
        lab.ssh_args = ["-i", str(work / "user_key"), "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((lab.address, 22), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("sshd did not listen: " + (work / "sshd.log").read_text())
        return lab

    @property
    def destination(self) -> str:
        return "root@" + self.address

    def ssh(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", *self.ssh_args, self.destination, command], capture_output=True, text=True)

    def cut(self, down: bool = True) -> None:
        """Make the host unreachable (its link down: connections in flight hang, new ones time out), or back."""
        _run("ip", "link", "set", "vs" + self.ns[len("mvms"):], "down" if down else "up")

    def stop(self) -> None:
        for pid in subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        if self.server is not None:
            self.server.wait()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def write_inventories(work: Path, labs: "dict[str, SshLab]", **extra: str) -> tuple[Path, Path]:
    """`hosts.yml` (Ansible) and `inventory.py` (pyinfra) under `work` for lab hosts whose files are under
    `work/<name>`: group vm_hosts, root over SSH with the host's key, state root `work/<name>/st`, and each
    `extra` variable with `{dir}` standing for `work/<name>`."""
    lines = ["vm_hosts:", "  hosts:"]
    data = {}
    for name, one in labs.items():
        here = work / name
        values = dict({"mvm_state_root": str(here / "st")}, **{k: v.format(dir=here) for k, v in extra.items()})
        data[name] = values
        lines += ["    %s:" % name, "      ansible_host: %s" % one.address, "      ansible_user: root",
                  "      ansible_ssh_private_key_file: %s" % (here / "user_key"),
                  # A host cut off mid-run (the rolling update's test) is found unreachable in seconds, not minutes.
                  "      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                  " -o ServerAliveInterval=2 -o ServerAliveCountMax=2 -o ConnectTimeout=5",
                  "      ansible_python_interpreter: /usr/bin/python3"]
        lines += ["      %s: %s" % (k, v) for k, v in values.items()]
    (work / "hosts.yml").write_text("\n".join(lines) + "\n")
    (work / "inventory.py").write_text("vm_hosts = [%s]\n" % ", ".join(
        "(%r, %r)" % (name, dict({"ssh_hostname": one.address, "ssh_user": "root", "ssh_key": str(work / name / "user_key"),
                                  "ssh_known_hosts_file": "/dev/null", "ssh_strict_host_key_checking": "no"},
                                 **data[name]))
        for name, one in labs.items()))
    return work / "hosts.yml", work / "inventory.py"
