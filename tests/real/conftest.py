"""Fixtures for tests that run real processes: QEMU guests, ansible-playbook, pyinfra."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import image, kernel, ops, probe, runner, spec
from tests.conftest import REPO, need_qemu, need_root

BIN = Path(sys.executable).parent
# The suite's own ansible local temporary directory: the collection keeps its module payloads beside it
# (plugin_utils/ansiballz_cache.py), and a test run leaves nothing in the user's ~/.ansible.
LOCAL_TEMP = tempfile.mkdtemp(prefix="mvm-tests-ansible-")
atexit.register(shutil.rmtree, LOCAL_TEMP, True)
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=LOCAL_TEMP,
           PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))


def sh(command: str, stdin: str = "") -> tuple[int, str, str]:
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, input=stdin)
    return proc.returncode, proc.stdout, proc.stderr


PLAYBOOKS = Path(__file__).parent / "playbooks"


def ansible_playbook(playbook: Path | str, root: Path, *extra: str, ns: Any = None) -> tuple[int, str, int]:
    """A real ansible-playbook run against this machine (inside `ns` when given): rc, output, changed count."""
    argv = [str(BIN / "ansible-playbook"), str(playbook), "-e", f"mvm_state_root={root}", *extra]
    if ns is not None:
        proc = ns.exec(*argv, check=False, env=ENV, cwd="/")
    else:
        proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd="/")
    out = proc.stdout + proc.stderr
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", out)
    return proc.returncode, out, int(match.group(1)) if match else -1


@pytest.fixture(scope="module")
def ns() -> Iterator[Any]:
    """A network namespace with an uplink to a client namespace, for one test module."""
    from tests.real.netns import Netns

    need_root()
    need_qemu()
    netns = Netns.create()
    yield netns
    netns.destroy()


def processes_under(root: Path) -> list[str]:
    """Command lines of live processes that mention the state root (our VMMs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if str(root) in cmdline and ") Z " not in stat:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def kill_under(root: Path) -> None:
    for line in processes_under(root):
        try:
            os.kill(int(line.split(":")[0]), 9)
        except OSError:
            pass


def qmp(sock: Path, command: str, **arguments: Any) -> Any:
    """One QMP command from the test side (independent of the engine's client)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sock))
        f = s.makefile("rw")
        f.readline()
        for cmd in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": arguments}):
            f.write(json.dumps(cmd) + "\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    break
        assert "return" in reply, reply
        return reply["return"]


def wait_for(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session", autouse=True)
def host_kernel(tmp_path_factory) -> None:
    """mvm's kernel in the host's store before any real test runs: `kernel: auto` (every default image) boots it
    where the host can build it, and a cold build (minutes, once per machine) belongs to no test's own time."""
    if os.geteuid() != 0 or not os.path.exists(kernel.SOURCE_TARBALL):
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs root and %s for mvm's kernel (scripts/setup.sh installs it)" % kernel.SOURCE_TARBALL)
        return  # here `auto` means Debian's kernel: the tests run on that
    root = tmp_path_factory.mktemp("kernel")
    gather_host, gather_paths = ops.run_probe(sh)
    _spec, plan, _entry = ops.image_plan({"name": "k", "kernel": "mvm", "state_root": str(root)}, gather_host,
                                         gather_paths)
    runner.execute(plan, sh)
    shutil.rmtree(root)


@pytest.fixture(scope="session")
def built_image(tmp_path_factory) -> Path:
    """The images built once per session by the engine, for tests that are not about building: `default` (the
    default kernel: mvm's here) and `debian` (Debian's cloud kernel and its initramfs, for the tests of that path)."""
    need_qemu()
    root = tmp_path_factory.mktemp("img")
    for params in ({}, {"name": "debian", "kernel": "debian"}):
        gather_host, gather_paths = ops.run_probe(sh)
        _spec, plan, _entry = ops.image_plan(dict(params, state_root=str(root)), gather_host, gather_paths)
        runner.execute(plan, sh)
    return root


def seed_image(built: Path, root: Path) -> None:
    """Give a state root the session's image (artifacts are immutable; a copy keeps roots apart)."""
    (root / "images").mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copytree(built / "artifacts", root / "artifacts", dirs_exist_ok=True)
    for link in (built / "images").iterdir():
        target = root / "images" / link.name
        if not target.is_symlink():
            target.symlink_to(os.readlink(link))


@pytest.fixture(scope="module")
def module_root(tmp_path_factory) -> Iterator[Path]:
    """A state root for one test module; whatever runs under it is killed and removed at the end."""
    need_qemu()
    root = tmp_path_factory.mktemp("st")
    yield root
    kill_under(root)
    shutil.rmtree(root, ignore_errors=True)


def engine_apply(kind: str, params: dict[str, Any]) -> Any:
    """Plan and run an operation through the engine with a local shell (no front-end)."""
    gather_host, gather_paths = ops.run_probe(sh)
    if kind == "vm":
        _spec, plan = ops.vm_plan(params, gather_host, gather_paths)
    elif kind == "snapshot":
        _spec, plan, _meta = ops.snapshot_plan(params, gather_host, gather_paths)
    elif kind == "volume":
        _spec, plan = ops.volume_plan(params, gather_host)
    elif kind == "firecracker_install":
        _spec, plan = ops.install_plan(params, gather_host, gather_paths)
    else:
        _spec, plan, _entry = ops.image_plan(params, gather_host, gather_paths)
    runner.execute(plan, sh)
    return plan


def host_facts(root: Path) -> dict[str, Any]:
    return probe.parse_host(sh(probe.host_probe(str(root)))[1])


__all__ = ["ENV", "BIN", "sh", "qmp", "processes_under", "wait_for", "seed_image", "engine_apply", "host_facts",
           "spec", "image"]
