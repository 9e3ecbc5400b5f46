"""Pause, snapshot, restore and template plans on recorded facts, three ways, and their refusals."""

from __future__ import annotations

import json

import pytest

from tests.support import frontends
from tests.support.probes import ROOT, applied, host, image_lines, vm_lines

IMG = "0123456789abcdef"


def running(name: str = "web", status: str = "running", **extra) -> str:
    return vm_lines(name, applied(name, image_id=IMG, **extra), 4242) + f"vm\t{name}\tstatus\t{status}\n"


def snapshot_line(name: str, memory: int = 256, network: dict | None = None) -> str:
    meta = {"format": 1, "name": name, "vm": "tpl", "backend": "qemu", "memory_mib": memory, "cpus": 1,
            "applied": applied("tpl", memory=memory, image_id=IMG, network=network)}
    return f"snapshot\t{name}\t{json.dumps(meta)}\n"


VM = {"name": "web", "image": "default", "backend": "qemu"}


def test_pause_a_running_vm() -> None:
    commands = frontends.three_ways("vm", dict(VM, state="paused"), host(extra=[image_lines("default", IMG), running()]))
    assert len(commands) == 1 and '"stop"' not in commands[0] and " stop" in commands[0]


def test_paused_vm_is_reported_and_left_alone() -> None:
    facts = host(extra=[image_lines("default", IMG), running(status="paused")])
    assert frontends.pyinfra_fact("MvmHost", frontends.Recording(facts))["vms"]["web"]["state"] == "paused"
    assert frontends.three_ways("vm", dict(VM, state="paused"), facts) == []
    resume = frontends.three_ways("vm", VM, facts)
    assert len(resume) == 1 and " cont" in resume[0]
    stop = frontends.three_ways("vm", dict(VM, state="stopped"), facts)
    assert len(stop) == 2 and " cont" in stop[0] and "system_powerdown" in stop[1]


def test_snapshot_of_a_running_vm() -> None:
    commands = frontends.three_ways("snapshot", {"name": "s1", "vm": "web"}, host(extra=[running()]))
    assert " save " in commands[1] and f"{ROOT}/snapshots/s1.tmp/memory.bin" in commands[1]
    assert commands[2].startswith(f"cp --sparse=always {ROOT}/vms/web/disk.ext4 {ROOT}/snapshots/s1.tmp/disk.ext4")
    assert commands[4] == f"mkdir -p {ROOT}/snapshots && mv {ROOT}/snapshots/s1.tmp {ROOT}/snapshots/s1"
    assert " cont" in commands[5]


def test_existing_snapshot_is_not_taken_again() -> None:
    assert frontends.three_ways("snapshot", {"name": "s1", "vm": "web"}, host(extra=[running(), snapshot_line("s1")])) == []


def test_snapshot_of_a_stopped_vm_is_refused() -> None:
    facts = host(extra=[vm_lines("web", applied("web", image_id=IMG), None)])
    result = frontends.ansible("snapshot", {"name": "s1", "vm": "web"}, frontends.Recording(facts))
    assert result.failed and result.result["msg"].startswith("vm: VM 'web' is not running")


def test_vm_from_snapshot_restores_instead_of_booting() -> None:
    facts = host(extra=[image_lines("default", IMG), snapshot_line("tpl")])
    commands = frontends.three_ways("vm", dict(VM, snapshot="tpl"), facts)
    assert commands[1].startswith(f"cp --sparse=always {ROOT}/snapshots/tpl/disk.ext4 ")
    assert f"-incoming 'exec:cat {ROOT}/snapshots/tpl/memory.bin'" in commands[3]
    assert " incoming " in commands[4]
    assert "hostname web" in commands[5]
    assert "MVM-READY" in commands[6]


def test_restore_into_other_memory_names_the_field() -> None:
    facts = host(extra=[image_lines("default", IMG), snapshot_line("tpl")])
    result = frontends.ansible("vm", dict(VM, snapshot="tpl", memory=512), frontends.Recording(facts))
    assert result.failed and result.result["field"] == "memory"
    assert "memory_mib=256" in result.result["msg"]
    with pytest.raises(Exception, match="^memory: "):
        frontends.pyinfra("vm", dict(VM, snapshot="tpl", memory=512), frontends.Recording(facts))


def test_missing_snapshot_names_the_field() -> None:
    result = frontends.ansible("vm", dict(VM, snapshot="nope"), frontends.Recording(host(extra=[image_lines("default", IMG)])))
    assert result.failed and result.result["field"] == "snapshot"


def test_template_builds_once() -> None:
    facts = host(extra=[image_lines("default", IMG)])
    commands = frontends.three_ways("template", {"name": "tpl", "image": "default", "backend": "qemu"}, facts)
    text = "\n".join(commands)
    assert "-name tpl-tpl" in text and " save " in text and f"rm -rf {ROOT}/vms/tpl-tpl" in text
    assert frontends.three_ways("template", {"name": "tpl", "image": "default", "backend": "qemu"},
                                host(extra=[image_lines("default", IMG), snapshot_line("tpl")])) == []


def test_restore_into_a_vm_with_other_disks_names_the_snapshot() -> None:
    """A snapshot's device state names the VM's disks: a workload's config disk or a volume more is refused."""
    facts = host(extra=[image_lines("default", IMG), snapshot_line("tpl")])
    for extra in ({"command": "true"}, {"volumes": [{"name": "v", "mount": "/v"}]}):
        result = frontends.ansible("vm", dict(VM, snapshot="tpl", **extra), frontends.Recording(facts))
        assert result.failed and result.result["field"] == "snapshot", result.result
        assert "no config disk" in result.result["msg"]
