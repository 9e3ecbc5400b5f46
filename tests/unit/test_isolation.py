"""Isolated bridges (a tenant's network): the rules each firewall gets, where they go (before any accept), a
converged host left alone, removal of exactly the bridge's rules, and the health the facts report. Through the
engine, the Ansible module in check mode and the pyinfra operation (same commands from all three)."""

from __future__ import annotations

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import firewall, network, probe
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.support import frontends
from tests.support.probes import host
from tests.unit.test_network_plans import BR_LINKS, UPLINK, nat_rule_lines

PARAMS = {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True, "isolated": True}
RECORD = ('net\tmvmbr0\t{"gateway":"10.77.0.1","isolated":true,"nat":true,"prefix":24,"subnet":"10.77.0.0/24",'
          '"uplink":"eth0"}\n')
# As `iptables -t mangle -S` printed them in a network namespace (the iptables 1.8.9 of this machine).
MANGLE = ["-A FORWARD -i mvmbr0 -o mvmbr0 -m comment --comment \"%s\" -j ACCEPT",
          "-A FORWARD -i mvmbr0 ! -o eth0 -m comment --comment \"%s\" -j DROP",
          "-A FORWARD ! -i eth0 -o mvmbr0 -m comment --comment \"%s\" -j DROP"]


def isolation_lines(uplink: str = "eth0") -> str:
    owner = firewall.owner({"state_root": "/srv/mvm"}, "br", "mvmbr0")
    rules = firewall.isolation_rules(owner, "mvmbr0", uplink)
    return "".join("ipt\tmangle\t%s\n" % (line % r.tag) for line, r in zip(MANGLE, rules))


def test_an_isolated_bridge_drops_what_is_not_its_own_or_the_uplinks_before_any_accept() -> None:
    commands = frontends.three_ways("bridge", PARAMS, host(extra=[UPLINK]))
    mangle = [c for c in commands if " -t mangle " in c]
    assert len(mangle) == 3 and len([c for c in commands if c.startswith("iptables")]) == 6
    assert "-t mangle -I FORWARD 1 -i mvmbr0 -o mvmbr0 -j ACCEPT" in mangle[0]
    assert "-t mangle -A FORWARD -i mvmbr0 '!' -o eth0 -j DROP" in mangle[1]
    assert "-t mangle -A FORWARD -o mvmbr0 '!' -i eth0 -j DROP" in mangle[2]
    assert any("isolated" in c and "networks/mvmbr0.json" in c for c in commands)


def test_with_nft_the_drops_are_one_rule_each_in_a_chain_that_runs_before_filter() -> None:
    nft = "tool\tnft\tpath\t/usr/sbin/nft\n"
    commands = frontends.three_ways("bridge", dict(PARAMS, firewall="nft"), host(extra=[UPLINK, nft]))
    assert any("add chain ip mvm isolate" in c for c in commands if c.startswith("nft 'add table ip mvm"))
    isolate = [c for c in commands if "add rule ip mvm isolate" in c]
    assert len(isolate) == 3
    assert all("add chain ip mvm isolate { type filter hook forward priority mangle; policy accept; }" in c
               for c in isolate)
    assert 'iifname "mvmbr0" oifname != { "mvmbr0", "eth0" } drop' in isolate[1]
    assert 'oifname "mvmbr0" iifname != { "mvmbr0", "eth0" } drop' in isolate[2]


def test_a_converged_isolated_bridge_is_a_no_op_and_healthy() -> None:
    facts = host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), BR_LINKS, RECORD, nat_rule_lines(),
                        isolation_lines()])
    assert frontends.three_ways("bridge", PARAMS, facts) == []
    health = network.health(probe.parse_host(facts))["bridges"]["mvmbr0"]
    assert health["isolated"] and health["isolation_ok"] and health["nat_ok"] and health["healthy"]


def test_a_missing_drop_is_added_and_the_bridge_is_unhealthy_until_then() -> None:
    lines = isolation_lines().splitlines(keepends=True)
    facts = host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), BR_LINKS, RECORD, nat_rule_lines(),
                        lines[0], lines[2]])
    commands = frontends.three_ways("bridge", PARAMS, facts)
    assert len(commands) == 1 and "-t mangle -A FORWARD -i mvmbr0 '!' -o eth0 -j DROP" in commands[0]
    health = network.health(probe.parse_host(facts))["bridges"]["mvmbr0"]
    assert not health["isolation_ok"] and not health["healthy"]


@pytest.mark.parametrize("params", [{"isolated": False}, {"state": "absent"}])
def test_isolation_turned_off_or_the_bridge_removed_deletes_only_its_rules(params: dict) -> None:
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, nat_rule_lines(), isolation_lines(), nat_rule_lines("other")])
    commands = frontends.three_ways("bridge", dict(PARAMS, **params), facts)
    deletes = [c for c in commands if " -D " in c]
    mangle = [c for c in deletes if " -t mangle " in c]
    assert len(mangle) == 3 and all("mvm:81902b:br:mvmbr0:iso-" in c for c in mangle)
    assert not any("br:other" in c for c in commands)


def test_a_record_written_before_isolation_existed_is_unchanged_by_it() -> None:
    plain = network.bridge_spec({"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True})
    assert "isolated" not in plain.record("eth0")


@pytest.mark.parametrize("value", ["yes please", 2, "$(reboot)"])
def test_isolated_takes_a_boolean(value) -> None:
    with pytest.raises(SpecError) as err:
        network.bridge_spec(dict(PARAMS, isolated=value))
    assert err.value.field == "isolated"
    module = frontends.ansible("bridge", dict(PARAMS, isolated=value), frontends.Recording(host(extra=[UPLINK]), {}))
    assert module.failed and "isolated" in module.result["msg"], module.result
