"""The exact words of every refusal (issue #22): the bad-input tables of the other test modules and three
hostile values for every option of every operation, each planned by the engine, with the field and message
it refused with (or what it planned) kept in tests/golden/errors.txt. The other modules check that the field
is named and nothing ran; this file pins what a user reads. Regenerate with MVM_GOLDEN=update and review.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from tests.support import frontends, golden
from tests.support.probes import HOSTS, host, image_lines
from tests.unit import test_bad_input, test_firecracker, test_hostile_input, test_network_plans, test_trust_validation

HOSTILE = ("$(reboot)", "x\ny", -1)
FACTS = host(extra=[test_network_plans.UPLINK, test_network_plans.BR_LINKS, test_network_plans.RECORD,
                    image_lines("default", "0123456789abcdef")])


def outcome(kind: str, params: dict[str, Any], facts: str = FACTS) -> str:
    try:
        plan = frontends.engine(kind, params, frontends.Recording(facts, {"/r.ext4": "cd" * 32, "/k": "ab" * 32}))
    except SpecError as err:
        return "refused %s: %s" % (err.field, err)
    except MvmError as err:
        return "failed: %s" % err
    return "planned %d steps" % len(plan.steps)


QEMU_VM = {"name": "web", "image": "default", "backend": "qemu"}
LONG_ROOT = FACTS.replace("host\tstate_root\t/srv/mvm", "host\tstate_root\t/srv/" + "d" * 90)
# Refusals that need a particular host or combination (the tables above vary one option at a time).
EXTRA: list[tuple[str, dict[str, Any], str]] = [
    ("vm", dict(QEMU_VM, network="mvmbr0", ports=[{"host_port": 8080, "guest_port": 80}, "8080:81"]), FACTS),
    ("vm", dict(QEMU_VM, network="mvmbr0", ports=[{"host_port": "x", "guest_port": 80}]), FACTS),
    ("vm", dict(QEMU_VM, network="mvmbr0", ports=[{"host_port": 8080, "guest_port": 0}]), FACTS),
    ("vm", dict(QEMU_VM, network="mvmbr0", ports=[{"host_port": 8080, "guest_port": 80, "proto": "sctp"}]), FACTS),
    ("vm", dict(QEMU_VM, name="n" * 64), LONG_ROOT),
    ("vm", dict(QEMU_VM, name="web"), LONG_ROOT.replace("d" * 90, "d" * 120)),
    ("vm", dict(QEMU_VM, backend="qemu"), FACTS.replace("host\tarch\tx86_64", "host\tarch\triscv64")),
    ("vms", {"vms": [{"name": "a"}], "image": "default", "backend": "lima"}, FACTS),
    ("vm", dict(QEMU_VM, backend="firecracker", firecracker={"drives": [{"id": "d", "path": "/d.ext4"}]}),
     test_firecracker.FC_HOST + test_firecracker.fc_image()),
    ("vm", dict(QEMU_VM, backend="firecracker", firecracker={"drives": [{"id": "d", "path": "/d.ext4",
                                                                         "read_only": "maybe"}]}),
     test_firecracker.FC_HOST + test_firecracker.fc_image()),
    ("vm", dict(QEMU_VM, backend="apple-container"), FACTS),
    ("vm", dict(QEMU_VM, kernel_args="a" * 3000), FACTS),
    ("vms", {"vms": [{"name": "a"}], "image": "default"}, HOSTS["macos-15-arm64"]),
    ("vm", dict(QEMU_VM, backend="docker"), FACTS.replace("host\tdocker_server\t\n", "host\tdocker_server\t20.10.24\n")
     .replace("tool\tdocker\t", "tool\tgone\t")),
]


def cases() -> list[tuple[str, dict[str, Any], str]]:
    table = list(EXTRA)
    table += [("vm", test_bad_input._params(change), FACTS) for change, _f, _b in test_bad_input.BAD_VM]
    table += [("image", params, FACTS) for params, _f in test_bad_input.BAD_IMAGE]
    table += [(kind, params, FACTS) for kind, params, _f in test_network_plans.BAD]
    table += [("vm", dict(test_trust_validation.GOOD_VM, **change), FACTS) for change, _f in test_trust_validation.REFUSED_VM]
    table += [("bridge", dict({"name": "mvmbr0", "subnet": "10.77.0.0/24"}, **change), FACTS)
              for change, _f in test_trust_validation.REFUSED_BRIDGE]
    fc = test_firecracker.FC_HOST + test_firecracker.fc_image()
    table += [("vm", {k: v for k, v in dict(test_firecracker.VM, **change).items() if v is not None}, fc)
              for change, _f in test_firecracker.BAD]
    # Restores Firecracker cannot do, word for word (jailed into unjailed and back, a network device missing).
    for source, restore in (({"jailer": True}, {"jailer": False}), ({"jailer": False}, {"jailer": True}),
                            ({"jailer": False}, {"jailer": False})):
        meta = test_firecracker.fc_snapshot_meta("s1", test_firecracker.fc_applied("tpl", **source))
        table.append(("vm", dict(test_firecracker.VM, name="copy", snapshot="s1", firecracker=restore), fc + meta))
    net = {"gateway": "10.77.0.1", "ip": "10.77.0.2", "mac": "02:00:00:00:00:02", "name": "br0", "prefix": 24,
           "slot": 2, "tap": "mvmtap"}
    meta = test_firecracker.fc_snapshot_meta("s1", test_firecracker.fc_applied("tpl", network=net))
    table.append(("vm", dict(test_firecracker.VM, name="copy", snapshot="s1"), fc + meta))
    for kind, option in test_hostile_input.CASES:
        for value in HOSTILE:
            table.append((kind, test_hostile_input._params(kind, option, value),
                          fc if option.startswith("firecracker.") else FACTS))
    return table


def test_every_refusal_word_for_word() -> None:
    lines = []
    for kind, params, facts in cases():
        lines.append("%s %s\n  -> %s\n" % (kind, json.dumps(params, sort_keys=True), outcome(kind, params, facts)))
    golden.check("errors.txt", "".join(lines))
