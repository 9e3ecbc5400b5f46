# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pool's rolling update, decided on the controller from one look at every VM host.

Each instance carries the pool spec it runs (label `mvm.spec`, fleet.Pool.spec_id); one with another spec is out
of date. The out-of-date instances are updated in steps of `max_unavailable + max_surge`, in index order; with
`max_surge`, the surge instances (`<pool>-N` ..) start first (a step of their own) and go once every batch is done
(a last step), so the pool never serves with fewer than `instances - max_unavailable`.

The steps are a pure function of the facts: every host, and every step of one run, computes the same ones from the
same look (Ansible's facts task before the loop; in pyinfra, the look the pool operation takes when the deploy
first calls it, before anything runs), and step `k` touches only the
instances of steps up to `k` (later ones are left exactly as they run). A step's `vms` call returns when its VMs
are ready (and healthy, with a health check): that is the gate before the next step; a failed step, or a host lost
on the way, stops the run with the later instances still on the old spec. A rerun looks again and goes on with
what is still out of date. A host that does not answer while instances are out of date stops the update before
it begins: its instances could be neither updated nor moved safely.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.plugin_utils import placement
from ansible_collections.mvm.microvm.plugins.plugin_utils.fleet import FleetError, Pool, Tenant


@dataclass
class Rollout:
    """Where the pool's instances run once updated (`placed`), while the update is under way (`during`: with the
    surge instances), and the out-of-date instances each step updates."""

    placed: Dict[str, List[str]]
    during: Dict[str, List[str]]
    steps: List[List[str]] = field(default_factory=lambda: [[]])
    surge: List[str] = field(default_factory=list)

    @property
    def outdated(self) -> List[str]:
        return [n for step in self.steps for n in step]


def plan(pool: Pool, tenant: Tenant, views: List[placement.HostView]) -> Rollout:
    """The update's steps from every host's view; FleetError when an update is due and a host does not answer."""
    placed = placement.place(pool, tenant, views)
    wanted = pool.spec_id()
    outdated = sorted((n for v in views if v.reachable for n in placed.get(v.name, [])
                       if n in v.pool and v.specs.get(n) != wanted), key=placement.index)
    if not outdated:
        return Rollout(placed, placed)
    lost = sorted(v.name for v in views if not v.reachable)
    if lost:
        raise FleetError("pool %s: %d instances run another spec, and %s did not answer: the rolling update stops "
                         "before it begins (the old instances keep serving); run again when %s back" % (
                             pool.name, len(outdated), ", ".join(lost), "it is" if len(lost) == 1 else "they are"))
    size = pool.update.max_unavailable + pool.update.max_surge
    batches = [outdated[i:i + size] for i in range(0, len(outdated), size)]
    if not pool.update.max_surge:
        return Rollout(placed, placed, batches)
    wide = pool.model_copy(update={"instances": pool.instances + pool.update.max_surge})
    during = placement.place(wide, tenant, views)
    surge = ["%s-%d" % (pool.name, i) for i in range(pool.instances, wide.instances)]
    return Rollout(placed, during, [[]] + batches + [[]], surge)


def host_entries(pool: Pool, rollout: Rollout, host: placement.HostView, step: int) -> List[Dict[str, Any]]:
    """The `vms` entries of one host at `step`. Step 0: the instances as the pool wants them (the new ones
    started, those beyond the count removed, with surge: the surge instances too), except the out-of-date ones of
    later steps, which are left as they run. Step k: only the instances of batch k (the last step with surge: the
    surge instances go). Past the last step: nothing. Each step names only what it changes: every step is computed
    from the same look at the hosts, taken before the first one ran. An out-of-date instance is given `recreate`: the pool's
    instances are replicas, and an image change replaces their disks, one batch at a time."""
    if step >= len(rollout.steps):
        return []

    def updated(name: str) -> Dict[str, Any]:
        return dict(pool.vm_params(placement.index(name)), state="running", recreate=True)

    if step > 0:
        entries = [updated(n) for n in rollout.steps[step] if n in rollout.placed.get(host.name, [])]
        if step == len(rollout.steps) - 1:
            entries += [{"name": n, "state": "absent"} for n in rollout.surge if n in rollout.during.get(host.name, [])]
        return entries
    later = {n for batch in rollout.steps[1:] for n in batch}
    here = rollout.during.get(host.name, [])
    entries = [updated(n) if n in rollout.steps[0] else dict(pool.vm_params(placement.index(n)), state="running")
               for n in here if n not in later]
    entries += [{"name": n, "state": "absent"} for n in sorted(host.pool, key=placement.index) if n not in here]
    return entries


def step_bound(pool: Pool) -> int:
    """At most how many steps an update of `pool` takes (every instance out of date): a pyinfra deploy, which must
    list its operations before it runs them, calls `pool` this many times (steps past the last change nothing)."""
    size = pool.update.max_unavailable + pool.update.max_surge
    return max(1, -(-pool.instances // size)) + (2 if pool.update.max_surge else 0)


def summary(rollout: Rollout, step: int) -> Dict[str, Any]:
    """What a front-end reports: how many steps the update has, and which instances this step updates."""
    return {"batches": len(rollout.steps), "batch": step,
            "updating": list(rollout.steps[step]) if step < len(rollout.steps) else [],
            "outdated": rollout.outdated, "surge": list(rollout.surge)}


def for_hosts(pool: Pool, tenant: Tenant, facts: Mapping[str, Optional[Mapping[str, Any]]], step: int = 0
              ) -> Tuple[Rollout, Dict[str, List[Dict[str, Any]]]]:
    """(rollout, host -> its `vms` entries at `step`) from every host's facts (None: did not answer)."""
    views = [placement.view(name, f, pool) for name, f in facts.items()]
    rollout = plan(pool, tenant, views)
    return rollout, {v.name: host_entries(pool, rollout, v, step) for v in views if v.reachable}
