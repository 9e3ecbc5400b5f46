# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pool's revisions: every apply that changes a pool (its spec, or where its instances run) appends a record to
an append-only log on each VM host, `<state_root>/fleet/<pool>.revisions` (one JSON record a line, 0600 in a 0700
directory, replaced whole through a temporary file so a killed run leaves the old log or the new one).

A record: its number, the time, the pool's spec and its sha256, the image digest, the instances per host, the
controller's user, and the revision it rolled back to, if any. The number is one past the highest any host
holds; a host whose last record already says the same (spec and placement) gets none, so a rerun and a host that
already has it add nothing, and hosts that ran one after the other (pyinfra) agree on the number.
`revision: N` applies record N's spec again (a rollback is itself a new revision).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import getpass
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils.shell import Step, quote
from ansible_collections.mvm.microvm.plugins.plugin_utils import rollout, tenancy
from ansible_collections.mvm.microvm.plugins.plugin_utils.fleet import FleetError, Pool, Tenant

LOG_DIR = "fleet"


def log_path(state_root: str, pool: str) -> str:
    return "%s/%s/%s.revisions" % (state_root, LOG_DIR, pool)


def spec_sha256(pool: Pool) -> str:
    return hashlib.sha256(json.dumps(pool.model_dump(), sort_keys=True).encode()).hexdigest()


def _records(facts: Optional[Mapping[str, Any]], pool: str) -> List[Dict[str, Any]]:
    return list(((facts or {}).get("revisions") or {}).get(pool) or [])


def _same(record: Mapping[str, Any], sha: str, placed: Mapping[str, List[str]]) -> bool:
    return record.get("spec_sha256") == sha and record.get("instances") == dict(placed)


def to_write(pool: Pool, placed: Mapping[str, List[str]], facts: Mapping[str, Optional[Mapping[str, Any]]],
             rolled_back_to: Optional[int] = None, user: Optional[str] = None, now: Optional[float] = None
             ) -> Dict[str, Optional[Dict[str, Any]]]:
    """Reachable host -> the record to append there (None: its log is current)."""
    sha = spec_sha256(pool)
    reachable = {h: f for h, f in facts.items() if f is not None}
    placed = {h: list(n) for h, n in sorted(placed.items()) if h in reachable}
    held = [r for f in reachable.values() for r in _records(f, pool.name)]
    latest = max(held, key=lambda r: r["revision"]) if held else None
    number = latest["revision"] if latest is not None and _same(latest, sha, placed) else (
        (latest["revision"] if latest else 0) + 1)
    record = {"revision": number, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "pool": pool.name,
              "spec_sha256": sha, "image_digest": pool.image.digest, "instances": placed,
              "user": user or getpass.getuser(), "rolled_back_to": rolled_back_to, "spec": pool.model_dump()}
    out = {}  # type: Dict[str, Optional[Dict[str, Any]]]
    for host, host_facts in reachable.items():
        own = _records(host_facts, pool.name)
        out[host] = None if own and own[-1]["revision"] == number and _same(own[-1], sha, placed) else record
    return out


def write_step(state_root: str, record: Mapping[str, Any]) -> Step:
    """Append `record` to the pool's log on a host: the record travels on standard input, not in the command."""
    path = log_path(state_root, str(record["pool"]))
    directory = path.rsplit("/", 1)[0]
    return Step("record revision %d of pool %s" % (record["revision"], record["pool"]),
                "mkdir -p %(d)s && chmod 0700 %(d)s && { cat %(f)s 2>/dev/null; cat; } > %(f)s.tmp && mv -f %(f)s.tmp %(f)s"
                % {"d": quote(directory), "f": quote(path)}, stdin=json.dumps(record, sort_keys=True) + "\n")


def spec_of(facts: Mapping[str, Optional[Mapping[str, Any]]], pool: str, revision: int) -> Pool:
    """The pool as revision `revision` had it (from any host that holds the record)."""
    for host_facts in facts.values():
        for record in _records(host_facts, pool):
            if record.get("revision") == revision and isinstance(record.get("spec"), dict):
                try:
                    return Pool.model_validate(record["spec"])
                except ValueError as exc:
                    raise FleetError("revision %d of pool %s no longer validates: %s" % (revision, pool, exc)) from None
    known = sorted({r["revision"] for f in facts.values() for r in _records(f, pool)})
    raise FleetError("revision: pool %s has no revision %d on the hosts in play (it has %s)" % (
        pool, revision, ", ".join(map(str, known)) or "none"))


def check_images(pool: Pool, facts: Mapping[str, Optional[Mapping[str, Any]]]) -> None:
    """The pool's image where its instances run: one that came from a bundle (rootfs `bundle`, verified on the host
    when it was imported) must be the pinned digest; FleetError naming the host otherwise. An image built on the
    host itself has no bundle digest to compare: it is used as it is."""
    wrong = []
    for host, host_facts in sorted(facts.items()):
        image = ((host_facts or {}).get("images") or {}).get(pool.image.name) or {}
        came = ((image.get("manifest") or {}).get("bundle") or {}).get("digest")
        if came and came != pool.image.digest:
            wrong.append("%s has it from bundle %s" % (host, came))
    if wrong:
        raise FleetError("pool %s pins image %s at %s, but %s: import the pinned bundle first"
                         % (pool.name, pool.image.name, pool.image.digest, "; ".join(wrong)))


@dataclass
class PoolApply:
    """One apply of a pool, as every front-end carries it out: the pool (a recorded revision's, for a rollback),
    each host's `vms` entries, the instances per host, and the record each host appends (None: none)."""

    pool: Pool
    hosts: Dict[str, List[Dict[str, Any]]]
    placed: Dict[str, List[str]]
    records: Dict[str, Optional[Dict[str, Any]]]
    networks: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # host -> its tenant bridge's parameters
    rollout: Dict[str, Any] = field(default_factory=dict)  # rollout.summary: batches, this batch, ...


def plan_pool(pool: Pool, tenant: Tenant, facts: Mapping[str, Optional[Mapping[str, Any]]],
              revision: Optional[int] = None, batch: int = 0) -> PoolApply:
    """Step `batch` of the apply of a pool (see rollout.py; a pool with nothing out of date has one step) from every
    host's facts (None: unreachable); FleetError when it cannot be. The revision is recorded by step 0."""
    if revision is not None:
        pool = spec_of(facts, pool.name, revision)
    steps, hosts = rollout.for_hosts(pool, tenant, facts, batch)
    placed = {h: list(steps.placed.get(h, [])) for h in hosts}
    running = [h for h in hosts if any(e.get("state") != "absent" for e in hosts[h])]
    check_images(pool, {h: facts.get(h) for h in running})
    networks = tenancy.host_networks(tenant, facts, running)
    for host, entries in hosts.items():
        for entry in entries:
            if entry.get("state") != "absent":
                entry["network"] = networks[host]["name"]
    records = to_write(pool, placed, facts, revision) if batch == 0 else {}
    return PoolApply(pool, hosts, placed, records, networks, rollout.summary(steps, batch))
