"""Firecracker install for real, from a release tarball made here (no Firecracker release is downloaded, and
the binaries inside are stand-ins that only print a version: nothing boots)."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.real.conftest import engine_apply
from tests.support import frontends


def make_release(tmp: Path, version: str = "1.14.1", arch: str = "x86_64") -> tuple[Path, str]:
    folder = tmp / f"release-v{version}-{arch}"
    folder.mkdir(parents=True)
    for tool in ("firecracker", "jailer"):
        binary = folder / f"{tool}-v{version}-{arch}"
        binary.write_text(f"#!/bin/sh\necho '{tool.capitalize()} v{version}'\n")
        binary.chmod(0o755)
    tarball = tmp / f"firecracker-v{version}-{arch}.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return tarball, hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_install_verify_and_idempotence(tmp_path: Path) -> None:
    tarball, sha = make_release(tmp_path / "dl")
    root, bin_dir = tmp_path / "state", tmp_path / "bin"
    params = {"version": "1.14.1", "arch": "x86_64", "url": f"file://{tmp_path}/dl/firecracker-v{{version}}-{{arch}}.tgz",
              "sha256": sha, "bin_dir": str(bin_dir), "state_root": str(root)}
    plan = engine_apply("firecracker_install", params)
    assert plan.changed
    out = subprocess.run([str(bin_dir / "firecracker"), "--version"], capture_output=True, text=True).stdout
    assert out.strip() == "Firecracker v1.14.1"
    assert (bin_dir / "jailer").exists()
    assert not engine_apply("firecracker_install", params).changed
    assert not [p for p in root.iterdir() if p.name.startswith(".firecracker-")]  # the work directory is gone

    engine_apply("firecracker_install", dict(params, state="absent"))
    assert not (bin_dir / "firecracker").exists() and not (bin_dir / "jailer").exists()


def test_wrong_checksum_installs_nothing(tmp_path: Path) -> None:
    make_release(tmp_path / "dl")
    root, bin_dir = tmp_path / "state", tmp_path / "bin"
    params = {"version": "1.14.1", "arch": "x86_64", "url": f"file://{tmp_path}/dl/firecracker-v{{version}}-{{arch}}.tgz",
              "sha256": "0" * 64, "bin_dir": str(bin_dir), "state_root": str(root)}
    with pytest.raises(Exception, match="sha256 mismatch"):
        engine_apply("firecracker_install", params)
    assert not bin_dir.exists() or list(bin_dir.iterdir()) == []
    assert not root.exists() or list(root.iterdir()) == []


def test_install_from_a_local_tarball_through_both_front_ends(tmp_path: Path) -> None:
    tarball, sha = make_release(tmp_path / "dl")
    from tests.support.probes import LINUX_PVM_QEMU
    params = {"version": "1.14.1", "src": str(tarball), "sha256": sha, "bin_dir": str(tmp_path / "bin")}
    commands = frontends.three_ways("firecracker_install", params, LINUX_PVM_QEMU)
    assert commands[0].endswith(f"cp {tarball} /srv/mvm/.firecracker-1.14.1-x86_64/release")
    result = frontends.ansible("firecracker_install", {"version": "1.14"}, frontends.Recording(LINUX_PVM_QEMU))
    assert result.failed and result.result["field"] == "version"
    result = frontends.ansible("firecracker_install", {"version": "1.14.1"}, frontends.Recording(LINUX_PVM_QEMU))
    assert result.failed and result.result["field"] == "sha256"


def test_the_host_role_installs_firecracker_where_kvm_is_usable(tmp_path: Path) -> None:
    """#14: with backend auto on a fresh KVM server the role installs Firecracker, so auto selects it. The KVM
    module list is the double of tests/support/fc_doubles.py and the release holds stand-ins that print a version."""
    from tests.conftest import REPO
    from tests.real.conftest import BIN, ENV
    from tests.support.fc_doubles import run_on_kvm_host

    tarball, sha = make_release(tmp_path / "dl")
    bin_dir = tmp_path / "bin"
    env = dict(ENV, PATH="%s:%s" % (bin_dir, ENV["PATH"]))
    base = [str(BIN / "ansible-playbook"), str(REPO / "tests/real/playbooks/host_role.yml"),
            "-e", f"mvm_state_root={tmp_path / 'state'}", "-e", f"host_firecracker_bin_dir={bin_dir}",
            "-e", f"host_firecracker_url=file://{tmp_path}/dl/firecracker-v{{version}}-{{arch}}.tgz"]
    proc = run_on_kvm_host(base, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Give host_firecracker_sha256" in out, out[-3000:]
    assert not bin_dir.exists()
    proc = run_on_kvm_host(base + ["-e", f"host_firecracker_sha256={sha}"], env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert (bin_dir / "firecracker").exists() and (bin_dir / "jailer").exists()
