"""Fleet files through both front-ends for real: ansible-playbook's lookup mvm.microvm.fleet and a pyinfra deploy
calling load_pool_spec / load_tenant_config read the example on the controller; a bad file stops each run before
any task runs, naming file, line and field."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.real.conftest import BIN, ENV, PLAYBOOKS

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory/fleet.yml"
DEPLOY = Path(__file__).parent / "deploys/fleet_read.py"


def _bad(tmp_path: Path) -> Path:
    bad = tmp_path / "fleet.yml"
    bad.write_text(EXAMPLE.read_text().replace("instances: 3", "instances: six"))
    return bad


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_ansible_reads_the_fleet_and_a_bad_file_fails_naming_file_line_and_field(tmp_path: Path) -> None:
    run = lambda f: subprocess.run([str(BIN / "ansible-playbook"), str(PLAYBOOKS / "fleet_read.yml"),  # noqa: E731
                                    "-e", "fleet_file=%s" % f], capture_output=True, text=True, env=ENV)
    good = run(EXAMPLE)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "web (acme): web-0,web-1,web-2" in good.stdout and "jobs (globex): jobs-0,jobs-1" \
        in good.stdout and "acme subnets from 10.80.0.0/16" in good.stdout
    bad = _bad(tmp_path)
    failed = run(bad)
    assert failed.returncode != 0
    assert "%s:%d: pools[0].instances" % (bad, _line_of(bad, "instances: six")) in failed.stdout + failed.stderr


def test_pyinfra_reads_the_fleet_and_a_bad_file_fails_naming_file_line_and_field(tmp_path: Path) -> None:
    run = lambda f: subprocess.run([str(BIN / "pyinfra"), "-y", "@local", str(DEPLOY),  # noqa: E731
                                    "--data", "fleet_file=%s" % f], capture_output=True, text=True, env=ENV)
    good = run(EXAMPLE)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Pool web of acme: 3 instances from 10.80.0.0/16" in good.stdout + good.stderr
    bad = _bad(tmp_path)
    failed = run(bad)
    assert failed.returncode != 0
    assert "%s:%d: pools[0].instances" % (bad, _line_of(bad, "instances: six")) in failed.stdout + failed.stderr
