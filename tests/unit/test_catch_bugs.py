"""Cases that catch the small bugs a reviewer planted in the engine (issue #22): each drift field alone
changes the plan and fields outside it do not, firewall owners that are prefixes of each other stay apart,
a rule's tag follows its fields (literal tags recorded from a real iptables), Lima is not offered on
macOS 26. Expectations are literals or recorded outputs, never computed by the code under test."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import backends, firewall, probe
from tests.support import frontends
from tests.support.probes import HOSTS, ROOT, applied, host, image_lines, vm_lines
from tests.unit.test_network_plans import BR_LINKS, RECORD, RECORDED_IPTABLES, UPLINK

IMG = "0123456789abcdef"
BASE = {"name": "web", "image": "default", "backend": "qemu"}
NET = {"name": "mvmbr0", "ip": "10.77.0.2", "prefix": 24, "gateway": "10.77.0.1", "mac": "02:00:00:00:00:02",
       "tap": "mvmtap2", "slot": 2}
LEASE = 'lease\tmvmbr0\tweb\t{"ip":"10.77.0.2","mac":"02:00:00:00:00:02","slot":2,"tap":"mvmtap2","made_tap":true}\n'
TAP = ('links\t[{"ifname":"eth0","flags":["UP"],"addr_info":[]},{"ifname":"mvmbr0","flags":["UP"],"linkinfo":'
       '{"info_kind":"bridge"},"addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24}]},'
       '{"ifname":"mvmtap2","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun","info_data":{"type":"tap"}}}]\n')


def _running(**spec: Any) -> str:
    return host(extra=[UPLINK, TAP, RECORD, LEASE, image_lines("default", IMG),
                       vm_lines("web", applied("web", image_id=IMG, **spec), 4242)])


# One parameter changed at a time on a converged running VM: the plan restarts it naming that field.
RESTARTS = [
    ({"memory": 384}, {}, "memory_mib"),
    ({"cpus": 2}, {}, "cpus"),
    ({"kernel_args": "quiet"}, {}, "kernel_args"),
    ({"hostname": "other"}, {}, "hostname"),
    ({"network": "mvmbr0"}, {}, "network"),
    ({}, {"network": NET, "hostname": "web"}, "network"),  # on a network, asked without one
]


@pytest.mark.parametrize("change,on_host,field", RESTARTS, ids=[f"{f}-{i}" for i, (_c, _h, f) in enumerate(RESTARTS)])
def test_each_drift_field_alone_restarts_the_vm(change: dict, on_host: dict, field: str) -> None:
    commands = frontends.three_ways("vm", dict(BASE, **change), _running(**on_host))
    plan = frontends.engine("vm", dict(BASE, **change), frontends.Recording(_running(**on_host)))
    assert plan.steps[0].description == "stop VM web to apply: %s" % field
    assert any(c.startswith("rm -f %s/vms/web/pid" % ROOT) and "setsid qemu-system-x86_64" in c for c in commands)
    assert not any("cp --sparse=always" in c for c in commands)  # the disk is kept


@pytest.mark.parametrize("change", [{"boot_timeout": 5}, {"stop_timeout": 3}, {"state": "running"},
                                    {"recreate": True}, {"production": False}])
def test_fields_outside_the_drift_list_change_nothing(change: dict) -> None:
    assert frontends.three_ways("vm", dict(BASE, **change), _running()) == []


def test_a_converged_networked_vm_keeps_its_lease() -> None:
    """A held lease is not allocated again (a converged networked VM would be restarted)."""
    on_host = {"network": NET}
    published = "".join("ipt\t%s\t%s\n" % row for row in RECORDED_IPTABLES["web"])
    facts = _running(**on_host, ports=["8080:80/tcp"]) + published
    assert frontends.three_ways("vm", dict(BASE, network="mvmbr0", ports=["8080:80"]), facts) == []


def test_an_owner_that_is_a_prefix_of_another_takes_only_its_own_rules() -> None:
    web2 = [(t, line.replace(":vm:web:", ":vm:web2:").replace("10.77.0.2", "10.77.0.3")) for t, line in
            RECORDED_IPTABLES["web"]]
    rules = "".join("ipt\t%s\t%s\n" % row for row in RECORDED_IPTABLES["web"] + web2)
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, rules, vm_lines("web", applied("web", network=NET), 4242)])
    commands = frontends.three_ways("vm", {"name": "web", "state": "absent"}, facts)
    deletes = [c for c in commands if " -D " in c]
    assert len(deletes) == 3 and all(":vm:web:" in c for c in deletes) and not any("web2" in c for c in deletes)


def test_a_rule_tag_follows_its_fields() -> None:
    """Literal tags as a real iptables printed them (RECORDED_IPTABLES): another field, another digest."""
    owner = firewall.owner({"state_root": ROOT}, "vm", "web")
    rules = firewall.forward_rules(owner, "tcp", 8080, "10.77.0.2", 80)
    assert [r.tag for r in rules] == ["mvm:81902b:vm:web:tcp8080:eb3e035e", "mvm:81902b:vm:web:tcp8080:813a24a5",
                                      "mvm:81902b:vm:web:tcp8080:a0d27a5e"]
    moved = firewall.forward_rules(owner, "tcp", 8080, "10.77.0.3", 80)
    assert not {r.tag for r in moved} & {r.tag for r in rules}


def test_lima_is_not_offered_on_macos_26() -> None:
    table = backends.availability(probe.parse_host(HOSTS["macos-26-arm64"]))
    assert table["lima"]["available"] is False and "before 26" in table["lima"]["why_not"]
    assert backends.availability(probe.parse_host(HOSTS["macos-15-arm64"]))["lima"]["available"] is True
