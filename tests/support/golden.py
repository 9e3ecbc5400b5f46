"""Golden files: a reviewed exact output kept under tests/golden/ and compared byte for byte.

When a change is intended, regenerate with `MVM_GOLDEN=update make test-fast` and review the diff; under CI
a missing file fails instead of being written, so nothing is accepted unread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.support.ci_rule import in_ci

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def recorded(name: str) -> str:
    """A tool's output as tests/support/record_outputs.py recorded it, without the line saying what printed it."""
    text = (RECORDED / name).read_text()
    assert text.startswith("# recorded by "), name
    return text.split("\n", 1)[1]


def plan_text(plan: Any) -> str:
    """Every step (description and command), then the warnings, the result the front-ends report, the locks
    the run takes and the before/after its --diff shows."""
    text = "".join("# %s\n%s\n\n" % (s.description, s.command) for s in plan.steps)
    for warning in plan.warnings:
        text += "# warning: %s\n" % warning
    if plan.result:
        text += "# result: %s\n" % json.dumps(plan.result, sort_keys=True)
    if plan.locks:
        text += "# locks: %s\n" % " ".join(plan.locks)
    if plan.before is not None or plan.after is not None:
        text += "# diff: %s\n" % json.dumps({"before": plan.before, "after": plan.after}, sort_keys=True)
    return text


def render(kind: str, params: dict, facts: str, files: dict | None = None) -> str:
    """The engine's plan for one operation on recorded facts, or the error it refuses with."""
    from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
    from tests.support import frontends

    try:
        plan = frontends.engine(kind, params, frontends.Recording(facts, dict(files or {})))
    except MvmError as err:
        return "# error: %s: %s\n" % (type(err).__name__, err)
    return plan_text(plan) or "# nothing to do\n"


def check(name: str, got: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MVM_GOLDEN") == "update" and not in_ci():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got)
    assert path.exists(), "no golden file %s: run MVM_GOLDEN=update and review it" % path
    assert got == path.read_text(), "%s differs (MVM_GOLDEN=update to accept, then review the diff)" % path
