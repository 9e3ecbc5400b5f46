"""The collection passes ansible-test sanity (all tests, no ignore file)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_ansible_test_sanity_passes() -> None:
    assert not list((REPO / "ansible_collections/mvm/microvm/tests/sanity").glob("ignore-*.txt"))
    proc = subprocess.run([sys.executable, str(REPO / "tests/support/run_ansible_test.py"), "sanity"],
                          capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for name in ("validate-modules", "pylint", "pep8", "import", "ansible-doc", "yamllint"):
        assert f'Running sanity test "{name}"' in out
