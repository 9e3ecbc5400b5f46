"""The small web application image of the workload tests and the image benchmark, built with Docker: a busybox
base imported from a tree (no registry is reachable here), then tests/real/images/app on top of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "real" / "images" / "app"
BASE_TAG = "mvm-test/base:1"


def _run(*argv: str, **kwargs) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(" ".join(argv) + ": " + proc.stdout + proc.stderr)
    return proc.stdout


def build(work: Path, tag: str) -> None:
    """mvm-test/base:1 from a static busybox with its applets, then `tag` from the app's Dockerfile."""
    base = work / "base"
    (base / "bin").mkdir(parents=True)
    (base / "etc").mkdir()
    shutil.copy(shutil.which("busybox") or "/bin/busybox", base / "bin/busybox")
    for applet in _run(str(base / "bin/busybox"), "--list").split():
        if applet != "busybox":
            (base / "bin" / applet).symlink_to("busybox")
    (base / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (base / "etc/group").write_text("root:x:0:\n")
    _run("sh", "-c", "tar -C %s -c . | docker import - %s >/dev/null" % (base, BASE_TAG))
    _run("docker", "build", "-q", "-t", tag, str(APP), env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"})


def remove(tag: str) -> None:
    subprocess.run(["docker", "rmi", "-f", tag, BASE_TAG], capture_output=True)
