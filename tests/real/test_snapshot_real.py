"""Pause, resume, snapshot and restore of real QEMU guests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import agent
from tests.real.conftest import engine_apply, host_facts, qmp, seed_image, wait_for


def ticks(console: Path) -> list[int]:
    return [int(n) for n in re.findall(r"mvm-tick (\d+)", console.read_text(errors="replace"))]


@pytest.fixture(scope="module")
def root(module_root: Path, built_image: Path) -> Path:
    seed_image(built_image, module_root)
    return module_root


def vm(root: Path, name: str, **extra) -> dict:
    return dict({"name": name, "image": "default", "backend": "qemu", "state_root": str(root)}, **extra)


def test_pause_and_resume(root: Path) -> None:
    engine_apply("vm", vm(root, "p1", kernel_args="mvm.tick=1"))
    sock = root / "vms/p1/qmp.sock"
    plan = engine_apply("vm", vm(root, "p1", kernel_args="mvm.tick=1", state="paused"))
    assert [s.description for s in plan.steps] == ["pause VM p1"]
    assert host_facts(root)["vms"]["p1"]["state"] == "paused"
    assert qmp(sock, "query-status")["status"] == "paused"
    assert not engine_apply("vm", vm(root, "p1", kernel_args="mvm.tick=1", state="paused")).changed
    frozen = ticks(root / "vms/p1/console.log")
    plan = engine_apply("vm", vm(root, "p1", kernel_args="mvm.tick=1"))
    assert [s.description for s in plan.steps] == ["resume VM p1"]
    assert host_facts(root)["vms"]["p1"]["state"] == "running"
    wait_for(lambda: ticks(root / "vms/p1/console.log")[-1:] > frozen[-1:], 10, "the counter to move again")
    engine_apply("vm", vm(root, "p1", state="absent"))


def test_snapshot_and_restore_carries_the_counter_on(root: Path) -> None:
    engine_apply("vm", vm(root, "counter", kernel_args="mvm.tick=1"))
    console = root / "vms/counter/console.log"
    wait_for(lambda: len(ticks(console)) >= 3, 30, "three ticks")
    plan = engine_apply("snapshot", {"name": "c1", "vm": "counter", "resume": False, "state_root": str(root)})
    assert plan.changed
    at_snapshot = ticks(console)[-1]
    meta = host_facts(root)["snapshots"]["c1"]
    assert meta["memory_mib"] == 256 and meta["cpus"] == 1 and meta["backend"] == "qemu"
    assert meta["sizes"]["memory.bin"] > 0 and meta["sizes"]["disk.ext4"] > 0 and meta["created"]
    assert "mvm.tick=1" in meta["boot_args"]
    assert not engine_apply("snapshot", {"name": "c1", "vm": "counter", "state_root": str(root)}).changed

    engine_apply("vm", vm(root, "counter", state="absent"))
    plan = engine_apply("snapshot", {"name": "c1", "state": "restored", "state_root": str(root)})
    assert any("from snapshot c1" in s.description for s in plan.steps)
    console = root / "vms/counter/console.log"
    wait_for(lambda: len(ticks(console)) >= 2, 30, "ticks after the restore")
    after = ticks(console)
    assert after[0] >= at_snapshot and after[0] <= at_snapshot + 2, (at_snapshot, after)  # carried on, not restarted
    assert 1 not in after
    facts = host_facts(root)["vms"]["counter"]
    assert facts["state"] == "running" and facts["applied"]["snapshot"] == "c1"
    assert not engine_apply("snapshot", {"name": "c1", "state": "restored", "state_root": str(root)}).changed
    assert not engine_apply("vm", vm(root, "counter", kernel_args="mvm.tick=1", snapshot="c1")).changed
    # The restored guest's agent answers on the new VMM's socket (its port was open across the snapshot).
    with agent.open_session(agent.Target("counter", state_root=str(root))) as session:
        assert session.exec("hostname") == (0, b"counter\n", b"")


def test_restore_into_other_memory_fails_naming_the_field(root: Path) -> None:
    with pytest.raises(Exception, match="^memory: snapshot c1 was taken with memory_mib=256"):
        engine_apply("vm", vm(root, "bigger", kernel_args="mvm.tick=1", memory=512, snapshot="c1"))
    assert not (root / "vms/bigger").exists()


def test_snapshot_absent(root: Path) -> None:
    engine_apply("vm", vm(root, "counter", state="absent"))
    assert engine_apply("snapshot", {"name": "c1", "state": "absent", "state_root": str(root)}).changed
    assert not (root / "snapshots").exists()
