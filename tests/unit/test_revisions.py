"""A pool's revision records (plugin_utils/revisions.py): numbered across hosts, written once per change, a rerun
or a host that already holds one adds nothing; rollback reads a recorded spec; the write keeps the log whole."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet, revisions

DIGEST = "sha256:" + "ab" * 32


def pool(instances: int = 2) -> fleet.Pool:
    return fleet.parse("tenants: [{name: acme, subnet_pool: 10.80.0.0/16}]\npools:\n  - {name: web, tenant: acme, "
                       "image: {name: web, digest: \"%s\"}, instances: %d}\n" % (DIGEST, instances)).pools[0]


def holding(*records: dict) -> dict:
    return {"revisions": {"web": list(records)}}


def test_the_first_apply_is_revision_1_on_every_host_and_a_rerun_adds_nothing() -> None:
    placed = {"a": ["web-0"], "b": ["web-1"]}
    first = revisions.to_write(pool(), placed, {"a": {}, "b": {}}, user="ops", now=0)
    assert first["a"] == first["b"] and first["a"]["revision"] == 1 and first["a"]["user"] == "ops"
    assert first["a"]["instances"] == placed and first["a"]["image_digest"] == DIGEST
    assert first["a"]["time"] == "1970-01-01T00:00:00Z" and first["a"]["spec"]["instances"] == 2
    again = revisions.to_write(pool(), placed, {"a": holding(first["a"]), "b": holding(first["b"])})
    assert again == {"a": None, "b": None}


def test_a_change_is_the_next_number_and_hosts_that_ran_before_are_agreed_with() -> None:
    one = revisions.to_write(pool(), {"a": ["web-0"], "b": ["web-1"]}, {"a": {}, "b": {}})["a"]
    placed = {"a": ["web-0", "web-2"], "b": ["web-1"]}
    # a (pyinfra's first host) already wrote revision 2; b, planning after it, writes the same number
    two = revisions.to_write(pool(3), placed, {"a": holding(one), "b": holding(one)})["a"]
    assert two["revision"] == 2
    later = revisions.to_write(pool(3), placed, {"a": holding(one, two), "b": holding(one)})
    assert later["a"] is None and later["b"]["revision"] == 2
    # an unreachable host is neither written nor part of the placement recorded
    assert set(revisions.to_write(pool(3), placed, {"a": holding(one), "b": None})) == {"a"}


def test_rollback_reads_the_recorded_spec_and_names_what_exists_otherwise() -> None:
    one = revisions.to_write(pool(6), {"a": ["web-0"]}, {"a": {}})["a"]
    assert revisions.spec_of({"a": holding(one)}, "web", 1).instances == 6
    with pytest.raises(fleet.FleetError, match="pool web has no revision 4 on the hosts in play \\(it has 1\\)"):
        revisions.spec_of({"a": holding(one)}, "web", 4)


def test_the_write_step_appends_through_a_temporary_file_and_keeps_the_log_private(tmp_path: Path) -> None:
    for n in (1, 2):
        record = {"revision": n, "pool": "web", "note": "it's; $(reboot)"}
        step = revisions.write_step(str(tmp_path), record)
        assert "reboot" not in step.command  # the record is on standard input, never in the command
        subprocess.run(["/bin/sh", "-c", step.script], input=step.stdin, text=True, check=True)
    log = tmp_path / "fleet/web.revisions"
    assert [json.loads(line)["revision"] for line in log.read_text().splitlines()] == [1, 2]
    assert (log.stat().st_mode & 0o777, (tmp_path / "fleet").stat().st_mode & 0o777) == (0o600, 0o700)
    assert not list((tmp_path / "fleet").glob("*.tmp"))
