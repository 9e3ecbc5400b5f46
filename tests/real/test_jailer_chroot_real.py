"""The jailer's chroot, prepared for real as root (issue #13, defect 3). No Firecracker runs here: this
executes the engine's own chroot step against real files, a real uid and a symlink a VM's user planted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ansible_collections.mvm.microvm.plugins.module_utils import firecracker
from tests.conftest import need_root

UID = GID = 4242


def _prepare(tmp: Path, drives: list[dict]) -> tuple[Path, Path, Path]:
    shared = tmp / "images"
    shared.mkdir()
    kernel = shared / "vmlinux"
    kernel.write_bytes(b"kernel")
    vm_dir = tmp / "vms" / "web"
    vm_dir.mkdir(parents=True)
    (vm_dir / "disk.ext4").write_bytes(b"disk")
    opts = firecracker.options({"jailer": True, "jailer_id": "web-1", "uid": UID, "gid": GID,
                                "chroot_base": str(tmp / "jail"), "drives": drives})
    applied = {"name": "web", "kernel": str(kernel), "initrd": None}
    paths = firecracker.layout(str(vm_dir), applied, opts)
    [(_, command)] = firecracker.jail_steps(applied, opts, str(vm_dir), paths)
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return kernel, vm_dir / "disk.ext4", Path(paths["jail"])


def test_shared_files_stay_roots_and_the_disk_is_the_vms(tmp_path: Path) -> None:
    need_root()
    secret = tmp_path / "ro-drive"
    secret.write_bytes(b"data")
    kernel, disk, jail = _prepare(tmp_path, [{"id": "ro", "path": str(secret), "read_only": True}])
    # The originals are untouched: same owner, and the jail holds copies (other inodes).
    for original, inside in ((kernel, jail / "vmlinux"), (secret, jail / "ro-drive")):
        assert original.stat().st_uid == 0 and original.stat().st_ino != inside.stat().st_ino
        assert inside.stat().st_uid == 0 and inside.stat().st_gid == GID and oct(inside.stat().st_mode)[-3:] == "640"
    # The VM's own disk is linked (its writes land in the VM's disk) and is the VM user's alone.
    inside = jail / "rootfs.ext4"
    assert inside.stat().st_ino == disk.stat().st_ino and inside.stat().st_uid == UID
    assert oct(inside.stat().st_mode)[-3:] == "600"
    assert (jail / "run").stat().st_uid == UID and jail.stat().st_uid == 0


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    need_root()
    _prepare(tmp_path, [])
    jail = tmp_path / "jail/firecracker/web-1/root"
    victim = tmp_path / "victim"
    victim.write_text("root's file")
    for name in ("vmlinux", "rootfs.ext4"):
        (jail / name).unlink()
        (jail / name).symlink_to(victim)
    os.chown(jail / "run", UID, GID)
    # The second start (the VM's user had the run of the chroot in between).
    for child in ("images", "vms", "ro-drive"):
        subprocess.run(["rm", "-rf", str(tmp_path / child)], check=True)
    _prepare(tmp_path, [])
    assert victim.read_text() == "root's file" and victim.stat().st_uid == 0
    assert not (jail / "vmlinux").is_symlink() and not (jail / "rootfs.ext4").is_symlink()


def test_a_symlink_on_the_way_to_the_chroot_stops_the_step(tmp_path: Path) -> None:
    need_root()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "jail").mkdir()
    (tmp_path / "jail" / "firecracker").symlink_to(elsewhere)
    try:
        _prepare(tmp_path, [])
    except AssertionError as exc:
        assert "symbolic link" in str(exc)
    else:
        raise AssertionError("the chroot was prepared through a symlink")
    assert list(elsewhere.iterdir()) == []
