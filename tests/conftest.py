"""Suite-wide rules: under CI (any truthy $CI) a skip fails the run (tests/support/ci_rule.py); helpers to need
root, QEMU, dockerd or the shared contracts."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytest_plugins = ["tests.support.ci_rule"]


def need(condition: bool, reason: str) -> None:
    """Skip locally with the reason; under CI=true the skip becomes a failure (see the hook below)."""
    if not condition:
        pytest.skip(reason)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root (network namespaces, bridges, TAPs)")


def need_qemu() -> None:
    need(shutil.which("qemu-system-x86_64") is not None, "needs qemu-system-x86_64 (make setup installs it)")


def need_dockerd() -> None:
    import subprocess

    ok = shutil.which("docker") is not None and subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True).returncode == 0
    need(ok, "needs a running dockerd (make test starts one: scripts/dockerd.sh)")


def need_contracts() -> None:
    from tests.support.firecracker_contract import contract_dir

    need((contract_dir() / "firecracker-v1.16.1.yaml").exists(),
         "needs the Firecracker swagger in ../shared/contracts/firecracker (or MVM_FIRECRACKER_SWAGGER_DIR): "
         "not found at %s" % contract_dir())
