"""Placement of a pool's instances over VM hosts (plugin_utils/placement.py), table-driven on facts shaped as the
probe gives them."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet, placement, rollout

DIGEST = "sha256:" + "ab" * 32


def pool_and_tenant(instances: int, memory: int = 256, per_host: dict | None = None) -> tuple[Any, Any]:
    quotas = "    quotas: {per_host: %s}\n" % (per_host or {}) if per_host else ""
    loaded = fleet.parse("tenants:\n  - name: acme\n    subnet_pool: 10.80.0.0/16\n" + quotas +
                         "pools:\n  - {name: web, tenant: acme, image: {name: web, digest: \"%s\"}, instances: %d, "
                         "memory: %d}\n" % (DIGEST, instances, memory))
    return loaded.pools[0], loaded.tenants[0]


def facts(*names: str, memory: int = 8192, other_tenant_vms: int = 0, tenant_vms: int = 0,
          spec: str | None = None) -> dict:
    """A host running the pool's instances `names` (on pool spec `spec`; None: the current one of
    pool_and_tenant's pool)."""
    spec = spec or pool_and_tenant(1)[0].spec_id()
    vms = {n: {"state": "running", "applied": {"labels": {"mvm.pool": "web", "mvm.tenant": "acme", "mvm.spec": spec},
                                                "cpus": 1, "memory_mib": 256}} for n in names}
    for i in range(tenant_vms):
        vms["db-%d" % i] = {"state": "running", "applied": {"labels": {"mvm.pool": "db", "mvm.tenant": "acme"},
                                                            "cpus": 1, "memory_mib": 512}}
    for i in range(other_tenant_vms):
        vms["x-%d" % i] = {"state": "running", "applied": {"labels": {"mvm.tenant": "globex"}, "cpus": 4}}
    vms["web-manual"] = {"state": "running", "applied": {"labels": {}}}  # not the pool's: never touched
    return {"capacity": {"memory_available_mib": memory, "cpus": 2}, "vms": vms, "state_root": "/srv/mvm"}


def placed(instances: int, hosts: dict, **pool_args: Any) -> dict:
    pool, tenant = pool_and_tenant(instances, **pool_args)
    return placement.place(pool, tenant, [placement.view(n, f, pool) for n, f in hosts.items()])


@pytest.mark.parametrize("instances,hosts,expected", [
    (6, {"a": facts(), "b": facts(), "c": facts()},
     {"a": ["web-0", "web-3"], "b": ["web-1", "web-4"], "c": ["web-2", "web-5"]}),
    # scaled up: the running ones stay, the new ones fill the emptiest hosts
    (9, {"a": facts("web-0", "web-3"), "b": facts("web-1", "web-4"), "c": facts("web-2", "web-5")},
     {"a": ["web-0", "web-3", "web-6"], "b": ["web-1", "web-4", "web-7"], "c": ["web-2", "web-5", "web-8"]}),
    # scaled down: only the ones below the count stay
    (3, {"a": facts("web-0", "web-3", "web-6"), "b": facts("web-1", "web-4", "web-7"), "c": facts("web-2", "web-8")},
     {"a": ["web-0"], "b": ["web-1"], "c": ["web-2"]}),
    # a host out of the play: its instances start elsewhere; the name breaks a tie, never the memory (it changes
    # between two looks)
    (4, {"a": None, "b": facts("web-1", memory=1024), "c": facts("web-2", memory=4096)},
     {"a": [], "b": ["web-0", "web-1"], "c": ["web-2", "web-3"]}),
    # a host without the memory is passed over
    (2, {"a": facts(memory=100), "b": facts()}, {"a": [], "b": ["web-0", "web-1"]}),
    # a copy on two hosts: the first host by name keeps it
    (1, {"a": facts("web-0"), "b": facts("web-0")}, {"a": ["web-0"], "b": []}),
])
def test_placement(instances: int, hosts: dict, expected: dict) -> None:
    assert placed(instances, hosts) == expected


def test_the_vms_entries_of_a_host_remove_only_the_pools_own_extra_instances() -> None:
    pool, tenant = pool_and_tenant(1)
    _steps, hosts = rollout.for_hosts(pool, tenant, {"a": facts("web-0", "web-5"), "b": facts("web-0")})
    assert [(e["name"], e["state"]) for e in hosts["a"]] == [("web-0", "running"), ("web-5", "absent")]
    assert hosts["b"] == [{"name": "web-0", "state": "absent"}]
    entry = hosts["a"][0]
    assert entry["labels"] == {"mvm.pool": "web", "mvm.tenant": "acme", "mvm.spec": pool.spec_id()}
    assert entry["image"] == "web" and "recreate" not in entry


@pytest.mark.parametrize("hosts,pool_args,words", [
    ({"a": facts(memory=300), "b": facts(memory=200)}, {}, "a: 300 MiB of memory available, 512 MiB asked; "
                                                           "b: 200 MiB of memory available, 256 MiB asked"),
    ({"a": facts(tenant_vms=2)}, {"per_host": {"vms": 3}}, "a: tenant acme's quota of 3 VMs per host"),
    ({"a": facts(other_tenant_vms=5)}, {"per_host": {"cpus": 1}}, "a: tenant acme's quota of 1 vCPUs per host"),
    ({"a": None}, {}, "a: unreachable"),
])
def test_a_pool_that_does_not_fit_fails_naming_what_each_host_lacks(hosts: dict, pool_args: dict, words: str) -> None:
    with pytest.raises(fleet.FleetError) as caught:
        placed(2, hosts, **pool_args)
    assert "pool web: no VM host has room for web-" in str(caught.value) and words in str(caught.value), caught.value
