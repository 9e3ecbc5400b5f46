"""A converged host costs the same number of commands for 1 VM and for 10 (the vms operation)."""

from __future__ import annotations

import json

from tests.support import frontends
from tests.support.probes import LINUX_PVM_QEMU, applied, image_lines, vm_lines

IMG = "0123456789abcdef"


def converged(n: int) -> tuple[str, list[dict]]:
    facts = LINUX_PVM_QEMU + image_lines("default", IMG)
    entries = []
    for i in range(n):
        name = f"web{i}"
        facts += vm_lines(name, applied(name, image_id=IMG), 1000 + i)
        entries.append({"name": name})
    return facts, entries


def commands_sent(n: int) -> dict[str, int]:
    facts, entries = converged(n)
    params = {"vms": entries, "image": "default", "backend": "qemu"}
    rec = frontends.Recording(facts)
    result = frontends.ansible("vms", params, rec, check_mode=False)
    assert not result.failed and result.result["changed"] is False, result.result
    ansible_count = len(rec.commands)
    rec = frontends.Recording(facts)
    commands, fake = frontends.pyinfra("vms", params, rec)
    assert commands == [] and fake.noops
    return {"ansible": ansible_count, "pyinfra": len(rec.commands)}


def test_commands_do_not_grow_with_the_number_of_vms() -> None:
    one, ten = commands_sent(1), commands_sent(10)
    assert one == ten == {"ansible": 1, "pyinfra": 1}


def test_vms_take_distinct_leases_in_one_plan() -> None:
    record = 'net\tbr0\t{"gateway":"10.77.0.1","nat":false,"prefix":24,"subnet":"10.77.0.0/24","uplink":null}\n'
    facts = LINUX_PVM_QEMU + image_lines("default", IMG) + record
    params = {"vms": [{"name": "a", "network": "br0"}, {"name": "b", "network": "br0"}], "image": "default",
              "backend": "qemu"}
    commands = frontends.three_ways("vms", params, facts)
    leases = [json.loads(c.split("printf %s '")[1].split("'")[0]) for c in commands if "/leases/" in c and "printf" in c]
    assert [lease["ip"] for lease in leases] == ["10.77.0.2", "10.77.0.3"]


def test_vms_start_every_vm_before_waiting_for_any() -> None:
    """Three fresh VMs: three starts, then three waits (a TCG boot each: waited for together, not one by one); each
    VM's own steps keep their order."""
    params = {"vms": [{"name": n} for n in ("a", "b", "c")], "image": "default", "backend": "qemu"}
    commands = frontends.three_ways("vms", params, LINUX_PVM_QEMU + image_lines("default", IMG))
    steps = [c for c in commands if "setsid qemu-system" in c or "MVM-READY" in c]
    kinds = ["start" if "setsid qemu-system" in c else "wait" for c in steps]
    assert kinds == ["start"] * 3 + ["wait"] * 3, kinds
    order = [next(n for n in "abc" if "/vms/%s/" % n in c) for c in steps]
    assert order == list("abcabc")


def test_one_host_probe_per_module_run_on_a_converged_host() -> None:
    """Each Ansible module run on a converged host sends the host probe once and nothing else: the plan changes
    nothing, so no second look (the one after steps, or the one under the locks) is taken."""
    facts, entries = converged(2)
    cases = [("facts", {}), ("vm", {"name": "web0", "image": "default", "backend": "qemu"}),
             ("vms", {"vms": entries, "image": "default", "backend": "qemu"})]
    for kind, params in cases:
        rec = frontends.Recording(facts)
        result = frontends.ansible(kind, params, rec, check_mode=False)
        assert not result.failed and not result.result["changed"], (kind, result.result)
        assert [c for c in rec.commands if "probe_version" in c] == rec.commands and len(rec.commands) == 1, kind
