# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a pool's instances run, decided on the controller from the facts of every VM host in play.

Instances are named `<pool>-0` .. `<pool>-<N-1>`. One that runs on a reachable host stays there; a missing one
goes to the host with the fewest of the pool's instances, then by name - if that host has the memory and the tenant
quota for it. Nothing that changes from one look to the next (available memory) orders the hosts: pyinfra plans
each host's share in turn, some hosts' facts older than others', and every host must come to the same placement
(or, after earlier hosts acted, to one that keeps what they did). Instances beyond the count, and second copies of one name,
are removed. A pool that does not fit fails before anything changes, naming what each host lacks.
Both front-ends reach it through rollout.for_hosts (which adds the steps of a rolling update): Ansible's action
`mvm.microvm.pool`, pyinfra's operation `pool`.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.plugin_utils.fleet import FleetError, Pool, Tenant

POOL_LABEL = "mvm.pool"
TENANT_LABEL = "mvm.tenant"
SPEC_LABEL = "mvm.spec"


def index(name: str) -> int:
    """An instance's number: `web-3` -> 3 (names are the pool's, matched by `view`)."""
    return int(name.rsplit("-", 1)[1])


@dataclass
class HostView:
    """What placement needs to know of one VM host."""

    name: str
    reachable: bool = True
    memory_mib: Optional[int] = None  # available for new VMs; None: unknown (not a limit)
    cpus: Optional[int] = None
    pool: Dict[str, str] = field(default_factory=dict)  # this pool's instances here: name -> state
    specs: Dict[str, Optional[str]] = field(default_factory=dict)  # name -> the pool spec it runs (label mvm.spec)
    tenant_vms: int = 0  # the tenant's VMs here that are not this pool's
    tenant_cpus: int = 0
    tenant_memory: int = 0


def view(name: str, facts: Optional[Mapping[str, Any]], pool: Pool) -> HostView:
    """A host's view from mvm's facts (the probe's, or Ansible's `ansible_facts.mvm`: the same keys); None: the
    host did not answer."""
    if facts is None:
        return HostView(name=name, reachable=False)
    capacity = facts.get("capacity") or {}
    host = HostView(name=name, memory_mib=capacity.get("memory_available_mib"), cpus=capacity.get("cpus"))
    own = re.compile(r"%s-\d+" % re.escape(pool.name))
    for vm_name, vm in (facts.get("vms") or {}).items():
        applied = vm.get("applied") or {}
        labels = applied.get("labels") or {}
        if labels.get(POOL_LABEL) == pool.name and own.fullmatch(vm_name):
            host.pool[vm_name] = vm.get("state") or "unknown"
            host.specs[vm_name] = labels.get(SPEC_LABEL)
        elif labels.get(TENANT_LABEL) == pool.tenant:
            host.tenant_vms += 1
            host.tenant_cpus += int(applied.get("cpus") or 0)
            host.tenant_memory += int(applied.get("memory_mib") or 0)
    return host


def _lacks(host: HostView, pool: Pool, tenant: Tenant, placed: List[str], new: int) -> Optional[str]:
    """Why one more new instance does not fit on `host` (None: it fits). `new`: new instances given it so far."""
    if not host.reachable:
        return "unreachable"
    if pool.ports and placed:
        # As a container's host port: the host has one of each, and one instance takes it.
        return "one instance per host for a pool that publishes ports (%s)" % ", ".join(pool.ports)
    if host.memory_mib is not None and (new + 1) * pool.memory > host.memory_mib:
        return "%d MiB of memory available, %d MiB asked" % (host.memory_mib, (new + 1) * pool.memory)
    quota = tenant.quotas.per_host
    count = len(placed) + 1
    for what, used, each, bound in (("VMs", host.tenant_vms, 1, quota.vms),
                                    ("vCPUs", host.tenant_cpus, pool.cpus, quota.cpus),
                                    ("MiB of memory", host.tenant_memory, pool.memory, quota.memory)):
        if bound is not None and used + count * each > bound:
            return "tenant %s's quota of %d %s per host" % (tenant.name, bound, what)
    return None


def place(pool: Pool, tenant: Tenant, hosts: List[HostView]) -> Dict[str, List[str]]:
    """host name -> the pool's instance names it runs, in index order."""
    hosts = sorted(hosts, key=lambda h: h.name)
    wanted = ["%s-%d" % (pool.name, i) for i in range(pool.instances)]
    placed = {h.name: [] for h in hosts}  # type: Dict[str, List[str]]
    new = {h.name: 0 for h in hosts}
    for name in wanted:
        home = next((h for h in hosts if h.reachable and name in h.pool), None)
        if home is not None:
            placed[home.name].append(name)
    for name in wanted:
        if any(name in p for p in placed.values()):
            continue
        fits = [h for h in hosts if _lacks(h, pool, tenant, placed[h.name], new[h.name]) is None]
        if not fits:
            raise FleetError("pool %s: no VM host has room for %s (%s)" % (pool.name, name, "; ".join(
                "%s: %s" % (h.name, _lacks(h, pool, tenant, placed[h.name], new[h.name])) for h in hosts) or "no hosts"))
        best = min(fits, key=lambda h: (len(placed[h.name]), h.name))
        placed[best.name].append(name)
        new[best.name] += 1
    return {h: sorted(names, key=index) for h, names in placed.items()}
