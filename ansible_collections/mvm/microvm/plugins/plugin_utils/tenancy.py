# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant's network on each VM host, decided on the controller: one bridge per tenant (NAT out of the host's
uplink, isolated from every other bridge: module_utils/network, `isolated`), with a /24 of the tenant's
`subnet_pool`, and each of the tenant's VMs on a TAP of that bridge (the vm operation makes it).

The /24 a host has stays its own: one recorded on the host is kept; a host without one gets the lowest /24 of
the pool that no host in play uses for the tenant, hosts taken by name - the same answer on every controller run
and for every front-end (Ansible's action `mvm.microvm.pool`, pyinfra's operation `pool`).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import re
from typing import Any, Dict, Iterable, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import network as net_engine
from ansible_collections.mvm.microvm.plugins.plugin_utils.fleet import FleetError, Tenant

_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,11}", re.ASCII)


def bridge_name(tenant: str) -> str:
    """`mvt-<tenant>` where that is an interface name (15 bytes), else `mvt` and 8 hex digits of its hash: stable,
    and the two forms never meet (the hashed one has no dash)."""
    if _PLAIN.fullmatch(tenant):
        return "mvt-" + tenant
    return "mvt" + hashlib.sha256(tenant.encode()).hexdigest()[:8]


def _recorded(facts: Optional[Mapping[str, Any]], bridge: str) -> Optional[str]:
    record = ((facts or {}).get("networks") or {}).get(bridge) or {}
    subnet = record.get("subnet")
    return str(subnet) if isinstance(subnet, str) else None


def host_networks(tenant: Tenant, facts: Mapping[str, Optional[Mapping[str, Any]]], hosts: Iterable[str]
                  ) -> Dict[str, Dict[str, Any]]:
    """host name -> the `bridge` operation's parameters of the tenant's bridge there, for `hosts` (those that run
    the tenant's VMs). FleetError when the pool has no /24 left."""
    bridge = bridge_name(tenant.name)
    pool = ipaddress.IPv4Network(tenant.subnet_pool)
    ours = {}  # type: Dict[str, str]
    for name, host_facts in facts.items():
        subnet = _recorded(host_facts, bridge)
        if subnet and ipaddress.IPv4Network(subnet).subnet_of(pool):  # type: ignore[arg-type]
            ours[name] = subnet
    used = set(ours.values())
    free = (str(s) for s in pool.subnets(new_prefix=24) if str(s) not in used)
    out = {}
    for name in sorted(hosts):
        if name not in ours:
            ours[name] = next(free, "")
            if not ours[name]:
                raise FleetError("tenant %s: subnet_pool %s has no /24 left for %s" % (tenant.name, pool, name))
        out[name] = {"name": bridge, "subnet": ours[name], "nat": True, "isolated": True}
    return out


def converged(host_facts: Optional[Mapping[str, Any]], bridge: Mapping[str, Any]) -> bool:
    """The tenant's bridge as `host_networks` asks it and healthy in facts gathered earlier in the same run (the
    engine's network health): a front-end that pays a round trip per operation (Ansible) skips the bridge."""
    try:
        record = ((host_facts or {}).get("networks") or {}).get(bridge["name"]) or {}
        health = net_engine.health(host_facts or {})["bridges"].get(bridge["name"]) or {}
    except (AttributeError, KeyError, TypeError):
        return False
    return (record.get("subnet") == bridge["subnet"] and bool(record.get("nat")) == bridge["nat"]
            and bool(record.get("isolated")) == bridge["isolated"] and bool(health.get("healthy")))
