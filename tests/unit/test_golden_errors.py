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
from tests.support.probes import host, image_lines
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


def cases() -> list[tuple[str, dict[str, Any], str]]:
    table = [("vm", test_bad_input._params(change), FACTS) for change, _f, _b in test_bad_input.BAD_VM]
    table += [("image", params, FACTS) for params, _f in test_bad_input.BAD_IMAGE]
    table += [(kind, params, FACTS) for kind, params, _f in test_network_plans.BAD]
    table += [("vm", dict(test_trust_validation.GOOD_VM, **change), FACTS) for change, _f in test_trust_validation.REFUSED_VM]
    table += [("bridge", dict({"name": "mvmbr0", "subnet": "10.77.0.0/24"}, **change), FACTS)
              for change, _f in test_trust_validation.REFUSED_BRIDGE]
    fc = test_firecracker.FC_HOST + test_firecracker.fc_image()
    table += [("vm", {k: v for k, v in dict(test_firecracker.VM, **change).items() if v is not None}, fc)
              for change, _f in test_firecracker.BAD]
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
