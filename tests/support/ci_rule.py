"""The CI rule, as a pytest plugin: under CI (any truthy value of $CI: 1, yes, true, ...) a skip is a
failure, whether a test skipped itself, a module skipped at collection (`pytest.skip(allow_module_level=True)`)
or a module's import was skipped (`pytest.importorskip`). Tests under tests/real carry the `real` marker,
so `pytest -m "not real"` (make test-fast) runs nothing that boots a VM or touches the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FALSE_WORDS = ("", "0", "false", "no", "off")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in FALSE_WORDS


def _reason(longrepr: object) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = "skipped under CI=%s, which counts as a failure: %s" % (
            os.environ.get("CI"), _reason(report.longrepr))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = "a module skipped at collection under CI=%s, which counts as a failure: %s" % (
            os.environ.get("CI"), _reason(report.longrepr))


def pytest_collection_modifyitems(config, items):
    real = Path(__file__).resolve().parents[1] / "real"
    for item in items:
        if real in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.real)
