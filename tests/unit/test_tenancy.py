"""A tenant's network per VM host (plugin_utils/tenancy.py) and what a pool's apply makes of it: the bridge name,
the /24 each host keeps, every instance on the tenant's isolated bridge, one instance per host when the pool
publishes ports."""

from __future__ import annotations

import pytest

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet, revisions, tenancy
from tests.unit.test_placement import DIGEST, facts


def tenant(subnet_pool: str = "10.80.0.0/16", name: str = "acme") -> fleet.Tenant:
    return fleet.Tenant(name=name, subnet_pool=subnet_pool)


@pytest.mark.parametrize("name,bridge", [("acme", "mvt-acme"), ("a_b-c", "mvt-a_b-c"), ("abcdefghijk", "mvt-abcdefghijk")])
def test_a_short_plain_tenant_name_is_its_bridges_name(name: str, bridge: str) -> None:
    assert tenancy.bridge_name(name) == bridge and len(bridge) <= 15


@pytest.mark.parametrize("name", ["abcdefghijkl", "acme.corp", "x" * 64])
def test_a_long_or_dotted_tenant_name_is_hashed_into_an_interface_name(name: str) -> None:
    bridge = tenancy.bridge_name(name)
    assert len(bridge) == 11 and bridge.startswith("mvt") and "-" not in bridge
    assert tenancy.bridge_name(name) == bridge  # stable


def with_bridge(subnet: str) -> dict:
    found = facts()
    found["networks"] = {"mvt-acme": {"subnet": subnet, "gateway": subnet[:-4] + "1", "prefix": 24}}
    return found


def test_each_host_gets_its_own_24_and_keeps_it() -> None:
    got = tenancy.host_networks(tenant(), {"a": facts(), "b": facts(), "c": facts()}, ["c", "a", "b"])
    assert [got[h]["subnet"] for h in "abc"] == ["10.80.0.0/24", "10.80.1.0/24", "10.80.2.0/24"]
    assert got["a"] == {"name": "mvt-acme", "subnet": "10.80.0.0/24", "nat": True, "isolated": True}
    # b already has 10.80.7.0/24: kept; a new host takes the lowest one nobody in play uses
    got = tenancy.host_networks(tenant(), {"a": facts(), "b": with_bridge("10.80.0.0/24"), "d": facts()}, ["a", "b", "d"])
    assert [got[h]["subnet"] for h in "abd"] == ["10.80.1.0/24", "10.80.0.0/24", "10.80.2.0/24"]


def test_a_recorded_subnet_outside_the_pool_is_not_kept() -> None:
    got = tenancy.host_networks(tenant(), {"a": with_bridge("192.168.5.0/24")}, ["a"])
    assert got["a"]["subnet"] == "10.80.0.0/24"


def test_a_pool_with_no_24_left_is_refused_naming_the_host() -> None:
    with pytest.raises(fleet.FleetError, match="10.80.0.0/24 has no /24 left for b"):
        tenancy.host_networks(tenant("10.80.0.0/24"), {"a": facts(), "b": facts()}, ["a", "b"])


def load(ports: str = "") -> fleet.Fleet:
    return fleet.parse("tenants:\n  - {name: acme, subnet_pool: 10.80.0.0/16}\npools:\n"
                       "  - {name: web, tenant: acme, image: {name: web, digest: \"%s\"}, instances: 3%s}\n"
                       % (DIGEST, ", ports: [\"8080:80\"]" if ports else ""))


def test_a_pools_instances_run_on_the_tenants_bridge_of_their_host() -> None:
    loaded = load()
    applying = revisions.plan_pool(loaded.pools[0], loaded.tenants[0], {"a": facts(), "b": facts()})
    assert sorted(applying.networks) == ["a", "b"]
    for entries in applying.hosts.values():
        assert {e["network"] for e in entries} == {"mvt-acme"}
    # a host with none of the pool's instances gets no bridge
    applying = revisions.plan_pool(loaded.pools[0], loaded.tenants[0], {"a": facts(), "b": facts(), "c": facts(),
                                                                       "d": facts()})
    assert sorted(applying.networks) == ["a", "b", "c"]


def test_a_pool_that_publishes_ports_runs_one_instance_per_host() -> None:
    loaded = load(ports="yes")
    applying = revisions.plan_pool(loaded.pools[0], loaded.tenants[0], {"a": facts(), "b": facts(), "c": facts()})
    assert applying.placed == {"a": ["web-0"], "b": ["web-1"], "c": ["web-2"]}
    with pytest.raises(fleet.FleetError, match="one instance per host for a pool that publishes ports"):
        revisions.plan_pool(loaded.pools[0], loaded.tenants[0], {"a": facts(), "b": facts()})


def test_a_pool_refuses_an_image_imported_from_another_bundle_than_the_pinned_one() -> None:
    loaded = load()
    good, other = facts(), facts()
    good["images"] = {"web": {"manifest": {"bundle": {"digest": DIGEST, "signed_by": "b"}}}}
    other["images"] = {"web": {"manifest": {"bundle": {"digest": "sha256:" + "cd" * 32, "signed_by": "b"}}}}
    assert revisions.plan_pool(loaded.pools[0], loaded.tenants[0], {"a": good, "b": facts()}).placed
    with pytest.raises(fleet.FleetError, match="b has it from bundle sha256:cdcd"):
        revisions.plan_pool(loaded.pools[0], loaded.tenants[0], {"a": good, "b": other})


def test_a_bridge_is_converged_only_as_asked_and_healthy() -> None:
    bridge = {"name": "mvt-acme", "subnet": "10.80.0.0/24", "nat": True, "isolated": True}
    assert not tenancy.converged(None, bridge) and not tenancy.converged(facts(), bridge)  # no record: not there
