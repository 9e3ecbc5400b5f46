"""A squashfs image for real under QEMU: the guest boots on the shared read-only root with an overlay on its own
disk, writes, keeps what it wrote across a restart, and the image file is unchanged."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tests.conftest import need
from tests.real.conftest import engine_apply, seed_image, wait_for

WRITER = ("grep ' / ' /proc/mounts | head -n 1; if [ -f /hello ]; then echo MVM-PERSISTED; fi; "
          "echo written > /hello && echo MVM-WROTE; exec sleep 3600")


def test_a_squashfs_root_boots_with_an_overlay_and_stays_unchanged(module_root: Path, built_image: Path) -> None:
    need(shutil.which("mksquashfs") is not None, "needs squashfs-tools (scripts/setup.sh installs it)")
    seed_image(built_image, module_root)
    kernel = (built_image / "images/debian").resolve()  # the Debian kernel + initramfs path
    image = {"name": "sq", "format": "squashfs", "state_root": str(module_root),
             "kernel": str(kernel / "vmlinuz"), "initrd": str(kernel / "initrd.img")}
    plan = engine_apply("image", image)
    assert "build rootfs.squashfs (squashfs, busybox)" in [s.description for s in plan.steps]
    squashfs = (module_root / "images/sq/rootfs.squashfs").resolve()
    before = hashlib.sha256(squashfs.read_bytes()).hexdigest()
    vm = {"name": "sq", "image": "sq", "backend": "qemu", "state_root": str(module_root), "command": ["sh", "-c", WRITER]}
    plan = engine_apply("vm", vm)
    assert "make the VM's writable layer (256 MiB, over the squashfs root)" in [s.description for s in plan.steps]
    console = module_root / "vms/sq/console.log"
    wait_for(lambda: "MVM-WROTE" in console.read_text(), 30, "the guest's write")
    assert "overlay / overlay" in console.read_text() and "MVM-PERSISTED" not in console.read_text()
    engine_apply("vm", dict(vm, state="stopped"))
    engine_apply("vm", vm)
    wait_for(lambda: "MVM-WROTE" in console.read_text(), 30, "the guest's second write")
    assert "MVM-PERSISTED" in console.read_text()  # the overlay's layer is the VM's own, kept across restarts
    engine_apply("vm", dict(vm, state="absent"))
    assert hashlib.sha256(squashfs.read_bytes()).hexdigest() == before
