"""Put the Firecracker and jailer PROCESS DOUBLES on a PATH, and run commands on a host that looks like a KVM
server to mvm's probe. Nothing here boots a guest (see firecracker_double.py).

The "KVM server" is this machine seen through a private mount namespace whose /sys/module lists `kvm` and
`kvm_intel` (the real one lists kvm_pvm, which mvm rightly calls unusable): a double of one sysfs directory,
made so that `backend: auto` and `backend: firecracker` select Firecracker. /dev/kvm is the real node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
# Firecracker's own process names start with this (mvm's identity check reads the executable's name).
INTERPRETER = "firecracker-double-python"
KVM_MODULES = "mount -t tmpfs -o mode=0755 mvm-kvm-double /sys/module && mkdir /sys/module/kvm /sys/module/kvm_intel"


@dataclass
class Doubles:
    """A directory holding `firecracker` and `jailer` doubles, traversable by the jailed VMs' users."""

    bindir: Path
    version: str
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.bindir / "requests.jsonl"

    @classmethod
    def install(cls, version: str = "1.16.1") -> "Doubles":
        bindir = Path(tempfile.mkdtemp(prefix="mvm-fc-double-"))
        bindir.chmod(0o755)
        doubles = cls(bindir, version)
        python = os.path.realpath(sys.executable)
        shutil.copy2(python, bindir / INTERPRETER)
        for script in ("firecracker_double.py", "jailer_double.py"):
            shutil.copy2(HERE / script, bindir / script)
            (bindir / script).chmod(0o644)
        env = "export MVM_FC_DOUBLE_VERSION=%s MVM_FC_DOUBLE_LOG=%s\n" % (version, doubles.log)
        (bindir / "firecracker").write_text("#!/bin/sh\n# firecracker PROCESS DOUBLE (tests/support)\n%sexec %s %s \"$@\"\n" % (
            env, bindir / INTERPRETER, bindir / "firecracker_double.py"))
        (bindir / "jailer").write_text("#!/bin/sh\n# jailer PROCESS DOUBLE (tests/support)\n%sexec %s %s \"$@\"\n" % (
            env, python, bindir / "jailer_double.py"))
        for exe in ("firecracker", "jailer"):
            (bindir / exe).chmod(0o755)
        doubles.log.touch()
        doubles.log.chmod(0o666)  # the jailed doubles append as their own uid
        return doubles

    def remove(self) -> None:
        shutil.rmtree(self.bindir, ignore_errors=True)

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return dict(base, PATH="%s:%s" % (self.bindir, base.get("PATH", "")))


def on_kvm_host(argv: list[str], netns: str | None = None) -> list[str]:
    """argv run where the probe sees kvm_intel loaded (inside `netns` when given)."""
    inner = ["unshare", "--mount", "--propagation", "private", "sh", "-c", KVM_MODULES + ' && exec "$@"', "sh"] + argv
    return (["ip", "netns", "exec", netns] if netns else []) + inner


def run_on_kvm_host(argv: list[str], env: dict[str, str], netns: str | None = None,
                    cwd: str = "/") -> subprocess.CompletedProcess:
    return subprocess.run(on_kvm_host(argv, netns), capture_output=True, text=True, env=env, cwd=cwd)
