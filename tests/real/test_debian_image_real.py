"""A Debian image for real: mmdebstrap (minbase + python3) from Debian's mirror, mvm's init added, booted under QEMU
with python3 as the workload's command."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import need
from tests.real.conftest import engine_apply, host_facts, seed_image, wait_for


def test_a_debian_image_with_python3_boots_and_runs_python(module_root: Path, built_image: Path) -> None:
    need(shutil.which("mmdebstrap") is not None, "needs mmdebstrap (scripts/setup.sh installs it)")
    seed_image(built_image, module_root)
    kernel = (built_image / "images/debian").resolve()  # the Debian kernel + initramfs path
    image = {"name": "py", "debian": {"packages": ["python3"]}, "state_root": str(module_root),
             "kernel": str(kernel / "vmlinuz"), "initrd": str(kernel / "initrd.img")}
    plan = engine_apply("image", image)
    assert "make a Debian bookworm root file system (minbase + python3)" in [s.description for s in plan.steps]
    assert not engine_apply("image", image).changed
    vm = {"name": "py", "image": "py", "backend": "qemu", "state_root": str(module_root), "memory": 384,
          "command": ["python3", "-c", "import sys; print('MVM-PY', 6 * 7, sys.version_info[0])"]}
    engine_apply("vm", vm)
    console = module_root / "vms/py/console.log"
    wait_for(lambda: "MVM-EXIT" in console.read_text(), 60, "the workload's end")
    text = console.read_text()
    assert "MVM-PY 42 3" in text and "MVM-EXIT 0" in text
    wait_for(lambda: host_facts(module_root)["vms"]["py"]["state"] == "stopped", 30, "power-off after the workload")
    engine_apply("vm", dict(vm, state="absent"))
