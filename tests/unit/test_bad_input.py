"""Bad input: every front-end fails naming the field, and no command reaches the host."""

from __future__ import annotations

from typing import Any

import pytest
from pyinfra.api import OperationValueError

from tests.support import frontends
from tests.support.probes import host, image_lines

GOOD = {"name": "web", "image": "default", "backend": "qemu"}

BAD_VM = [
    ({"name": "a/b"}, "name", True),
    ({"name": "a;b"}, "name", True),
    ({"name": "a b"}, "name", True),
    ({"name": "x" * 65}, "name", True),
    ({"memory": "lots"}, "memory", True),
    ({"memory": "-1"}, "memory", True),
    ({"cpus": 0}, "cpus", True),
    ({"cpus": 65}, "cpus", True),
    ({"state": "paused-ish"}, "state", True),
    ({"kernel_args": "quiet\ninit=/bin/sh"}, "kernel_args", True),
    ({"image": None, "kernel": "vmlinux", "rootfs": "/r.ext4"}, "kernel", True),
    # Needs the host's answer: the probes run (read-only), nothing else does.
    ({"image": None, "kernel": "/does/not/exist", "rootfs": "/r.ext4"}, "kernel", False),
    ({"image": "missing"}, "image", False),
]


def _params(change: dict[str, Any]) -> dict[str, Any]:
    params = dict(GOOD, **change)
    return {k: v for k, v in params.items() if v is not None}


@pytest.mark.parametrize("change,field,before_probe", BAD_VM, ids=[f"{f}-{i}" for i, (_c, f, _b) in enumerate(BAD_VM)])
def test_bad_vm_input(change: dict[str, Any], field: str, before_probe: bool) -> None:
    facts = host(extra=[image_lines("default", "0123456789abcdef")])
    files = {"/r.ext4": "cd" * 32}

    rec = frontends.Recording(facts, files)
    result = frontends.ansible("vm", _params(change), rec, check_mode=False)
    assert result.failed
    # The engine's message starts with the field; Ansible's own choices check names it inside.
    assert result.result["msg"].startswith(field + ":") or f"value of {field} must be" in result.result["msg"]
    assert rec.commands == [] if before_probe else all("probe_version" in c or "sha256sum" in c for c in rec.commands)

    rec = frontends.Recording(facts, files)
    with pytest.raises(OperationValueError, match="^%s: " % field):
        frontends.pyinfra("vm", _params(change), rec)
    assert rec.commands == [] if before_probe else all("probe_version" in c or "sha256sum" in c for c in rec.commands)


BAD_IMAGE = [
    ({"name": "../x"}, "name"),
    ({"rootfs_size": "big"}, "rootfs_size"),
    ({"rootfs_size": 4}, "rootfs_size"),
    ({"kernel": "relative/vmlinux"}, "kernel"),
    ({"flake": "no-attribute"}, "flake"),
]


@pytest.mark.parametrize("params,field", BAD_IMAGE, ids=[f for _, f in BAD_IMAGE])
def test_bad_image_input(params: dict[str, Any], field: str) -> None:
    rec = frontends.Recording(host())
    result = frontends.ansible("image", params, rec, check_mode=False)
    assert result.failed and result.result["field"] == field, result.result
    with pytest.raises(OperationValueError, match="^%s: " % field):
        frontends.pyinfra("image", params, rec)
    assert rec.commands == []


def test_error_says_accepted_form() -> None:
    result = frontends.ansible("vm", _params({"memory": "lots"}), frontends.Recording(host()), check_mode=False)
    assert "512M" in result.result["msg"] and "'lots'" in result.result["msg"]
