"""The engine against real QEMU guests: stop through the ACPI power button, start again, absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real.conftest import engine_apply, host_facts, processes_under, qmp, seed_image


@pytest.fixture(scope="module")
def running(module_root: Path, built_image: Path):
    seed_image(built_image, module_root)
    params = {"name": "life", "image": "default", "backend": "qemu", "state_root": str(module_root)}
    plan = engine_apply("vm", params)
    assert plan.changed
    return module_root, params


def test_running_vm_is_in_the_facts(running) -> None:
    root, _ = running
    vm = host_facts(root)["vms"]["life"]
    assert vm["state"] == "running" and vm["backend"] == "qemu" and vm["pid"]
    assert vm["applied"]["memory_mib"] == 256


def test_stopped_powers_down_cleanly(running) -> None:
    root, params = running
    plan = engine_apply("vm", dict(params, state="stopped", stop_timeout=30))
    assert [s.description.split(" (")[0] for s in plan.steps] == ["power down VM life"]
    console = (root / "vms/life/console.log").read_text()
    assert "reboot: Power down" in console  # the guest shut itself down; it was not killed
    assert processes_under(root / "vms") == []
    facts = host_facts(root)["vms"]["life"]
    assert facts["state"] == "stopped" and facts["pid"] is None
    assert not (root / "vms/life/qmp.sock").exists()
    assert not engine_apply("vm", dict(params, state="stopped")).changed


def test_start_again_keeps_the_disk(running) -> None:
    root, params = running
    disk = root / "vms/life/disk.ext4"
    inode = disk.stat().st_ino
    plan = engine_apply("vm", params)
    assert [s.description.split(" (")[0] for s in plan.steps] == ["start VM life", "wait for life to be ready"]
    assert disk.stat().st_ino == inode
    assert qmp(root / "vms/life/qmp.sock", "query-status")["status"] == "running"


def test_absent_removes_process_socket_and_directory(running) -> None:
    root, params = running
    engine_apply("vm", dict(params, state="absent"))
    assert processes_under(root / "vms") == []
    assert not (root / "vms/life").exists()
    assert not engine_apply("vm", dict(params, state="absent")).changed


def test_image_rebuild_is_skipped_for_equal_inputs(running) -> None:
    root, _ = running
    plan = engine_apply("image", {"state_root": str(root)})
    assert not plan.changed
