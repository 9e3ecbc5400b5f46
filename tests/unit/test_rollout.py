"""A pool's rolling update (plugin_utils/rollout.py): which instances each step touches, table-driven on facts
shaped as the probe gives them. The lab test (tests/real/test_fleet_pool_real.py) runs it over three hosts."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet, revisions, rollout
from tests.unit.test_placement import DIGEST, facts

OLD = "0" * 16


def pool_and_tenant(instances: int, update: str = "{max_unavailable: 2}") -> tuple[Any, Any]:
    loaded = fleet.parse("tenants:\n  - name: acme\n    subnet_pool: 10.80.0.0/16\npools:\n"
                         "  - {name: web, tenant: acme, image: {name: web, digest: \"%s\"}, instances: %d, "
                         "update: %s}\n" % (DIGEST, instances, update))
    return loaded.pools[0], loaded.tenants[0]


SIX = {"a": facts("web-0", "web-3", spec=OLD), "b": facts("web-1", "web-4", spec=OLD),
       "c": facts("web-2", "web-5", spec=OLD)}


def pool_vms(host: dict) -> list[str]:
    return [n for n in host["vms"] if n != "web-manual"]


def touched(entries: list[dict]) -> list[tuple[str, str, bool]]:
    return [(e["name"], e["state"], bool(e.get("recreate"))) for e in entries]


def test_the_spec_id_is_what_an_instance_runs_not_how_many_or_how_to_roll_out() -> None:
    pool, _ = pool_and_tenant(6)
    assert pool.spec_id() == pool_and_tenant(9, "{max_unavailable: 3}")[0].spec_id()
    assert pool.spec_id() != pool.model_copy(update={"memory": 512}).spec_id()
    assert pool.vm_params(0)["labels"]["mvm.spec"] == pool.spec_id()


def test_nothing_out_of_date_is_one_step_that_touches_nothing() -> None:
    pool, tenant = pool_and_tenant(6)
    current = {h: facts(*pool_vms(f), spec=pool.spec_id()) for h, f in SIX.items()}
    steps, hosts = rollout.for_hosts(pool, tenant, current)
    assert rollout.summary(steps, 0) == {"batches": 1, "batch": 0, "updating": [], "outdated": [], "surge": []}
    assert touched(hosts["a"]) == [("web-0", "running", False), ("web-3", "running", False)]


@pytest.mark.parametrize("step,expected", [
    (0, {"a": [("web-0", "running", True)], "b": [("web-1", "running", True)], "c": []}),
    (1, {"a": [("web-3", "running", True)], "b": [], "c": [("web-2", "running", True)]}),
    (2, {"a": [], "b": [("web-4", "running", True)], "c": [("web-5", "running", True)]}),
    (3, {"a": [], "b": [], "c": []}),  # past the end: nothing (a pyinfra deploy calls pool up to a bound)
])
def test_out_of_date_instances_go_max_unavailable_at_a_time_in_index_order(step: int, expected: dict) -> None:
    pool, tenant = pool_and_tenant(6)
    steps, hosts = rollout.for_hosts(pool, tenant, SIX, step)
    assert steps.steps == [["web-0", "web-1"], ["web-2", "web-3"], ["web-4", "web-5"]]
    assert {h: touched(e) for h, e in hosts.items()} == expected


def test_each_instance_is_updated_by_one_step_and_no_step_takes_more_than_max_unavailable() -> None:
    for instances in range(1, 10):
        for size in (1, 2, 3):
            pool, tenant = pool_and_tenant(instances, "{max_unavailable: %d}" % size)
            hosts = {h: facts(*["web-%d" % i for i in range(instances) if i % 3 == n], spec=OLD)
                     for n, h in enumerate("abc")}
            done: list[str] = []
            for step in range(rollout.step_bound(pool) + 1):
                now = [e["name"] for es in rollout.for_hosts(pool, tenant, hosts, step)[1].values() for e in es
                       if e.get("recreate")]
                assert len(now) <= size and not set(now) & set(done)
                done += now
            assert sorted(done) == ["web-%d" % i for i in range(instances)]


def test_surge_instances_start_first_and_go_last() -> None:
    pool, tenant = pool_and_tenant(2, "{max_unavailable: 0, max_surge: 1}")
    hosts = {"a": facts("web-0", spec=OLD), "b": facts("web-1", spec=OLD)}
    steps, first = rollout.for_hosts(pool, tenant, hosts, 0)
    assert steps.steps == [[], ["web-0"], ["web-1"], []] and steps.surge == ["web-2"]
    assert touched(first["a"]) == [("web-2", "running", False)] and first["b"] == []
    assert touched(rollout.for_hosts(pool, tenant, hosts, 1)[1]["a"]) == [("web-0", "running", True)]
    assert touched(rollout.for_hosts(pool, tenant, hosts, 3)[1]["a"]) == [("web-2", "absent", False)]
    after = {"a": facts("web-0", "web-2"), "b": facts("web-1")}  # a rerun after all that: the surge one goes
    assert touched(rollout.for_hosts(pool, tenant, after, 0)[1]["a"]) == [("web-0", "running", False),
                                                                          ("web-2", "absent", False)]


def test_a_host_that_does_not_answer_stops_an_update_but_not_a_converged_pool() -> None:
    pool, tenant = pool_and_tenant(6)
    with pytest.raises(fleet.FleetError, match="c did not answer: the rolling update stops before it begins"):
        rollout.for_hosts(pool, tenant, dict(SIX, c=None))
    current = {h: facts(*pool_vms(f), spec=pool.spec_id()) for h, f in SIX.items()}
    steps, hosts = rollout.for_hosts(pool, tenant, dict(current, c=None))
    assert steps.outdated == [] and sorted(n for es in hosts.values() for e in es for n in [e["name"]]) == [
        "web-%d" % i for i in range(6)]  # c's two instances move to a and b


def test_the_revision_is_recorded_by_the_first_step_only() -> None:
    pool, tenant = pool_and_tenant(6)
    assert all(revisions.plan_pool(pool, tenant, SIX, batch=0).records.values())
    assert revisions.plan_pool(pool, tenant, SIX, batch=1).records == {}
    assert revisions.plan_pool(pool, tenant, SIX, batch=1).rollout["updating"] == ["web-2", "web-3"]
