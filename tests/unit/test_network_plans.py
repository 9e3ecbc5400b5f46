"""Networking planners on recorded facts, through the engine, the Ansible modules in check mode and the
pyinfra operations (same commands from all three), and bad network input."""

from __future__ import annotations

from typing import Any

import pytest
from pyinfra.api import OperationValueError

from ansible_collections.mvm.microvm.plugins.module_utils import network
from tests.support import frontends
from tests.support.probes import ROOT, applied, host, image_lines, vm_lines

UPLINK = "host\tuplink\teth0\nhost\tip_forward\t0\n"
BR_LINKS = ('links\t[{"ifname":"mvmbr0","flags":["UP"],"linkinfo":{"info_kind":"bridge"},'
            '"addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24}]}]\n')
RECORD = 'net\tmvmbr0\t{"gateway":"10.77.0.1","nat":true,"prefix":24,"subnet":"10.77.0.0/24","uplink":"eth0"}\n'


# Recorded: `iptables -w -t nat -S` and `-t filter -S` in a fresh network namespace after mvm added
# the NAT rules of bridges mvmbr0 and other and the port 8080 of VM web, state root /srv/mvm (scope 81902b).
RECORDED_IPTABLES = {
    "mvmbr0": [
        ("nat", '-A POSTROUTING -s 10.77.0.0/24 -o eth0 -m comment --comment "mvm:81902b:br:mvmbr0:nat:fc9e4d27" '
                '-j MASQUERADE'),
        ("filter", '-A FORWARD -i eth0 -o mvmbr0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment '
                   '"mvm:81902b:br:mvmbr0:back:215442fc" -j ACCEPT'),
        ("filter", '-A FORWARD -i mvmbr0 -o eth0 -m comment --comment "mvm:81902b:br:mvmbr0:out:b021c98b" -j ACCEPT'),
    ],
    "other": [
        ("nat", '-A POSTROUTING -s 10.78.0.0/24 -o eth0 -m comment --comment "mvm:81902b:br:other:nat:515a7002" '
                '-j MASQUERADE'),
        ("filter", '-A FORWARD -i eth0 -o other -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment '
                   '"mvm:81902b:br:other:back:4104a6b4" -j ACCEPT'),
        ("filter", '-A FORWARD -i other -o eth0 -m comment --comment "mvm:81902b:br:other:out:b4cbb23f" -j ACCEPT'),
    ],
    "web": [
        ("nat", '-A PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -m comment --comment '
                '"mvm:81902b:vm:web:tcp8080:eb3e035e" -j DNAT --to-destination 10.77.0.2:80'),
        ("nat", '-A OUTPUT ! -d 127.0.0.0/8 -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -m comment '
                '--comment "mvm:81902b:vm:web:tcp8080:813a24a5" -j DNAT --to-destination 10.77.0.2:80'),
        ("filter", '-A FORWARD -d 10.77.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment '
                   '"mvm:81902b:vm:web:tcp8080:a0d27a5e" -j ACCEPT'),
    ],
}


def nat_rule_lines(bridge: str = "mvmbr0") -> str:
    """The three NAT rules of a bridge as the probe reports them (recorded iptables -S lines)."""
    return "".join("ipt\t%s\t%s\n" % (table, line) for table, line in RECORDED_IPTABLES[bridge])


def run_all(kind: str, params: dict[str, Any], facts: str) -> list[str]:
    return frontends.three_ways(kind, params, facts)


def test_bridge_fresh_with_nat() -> None:
    commands = run_all("bridge", {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True}, host(extra=[UPLINK]))
    assert commands[:3] == ["ip link add mvmbr0 address %s type bridge" % network.bridge_mac("mvmbr0"),
                            "ip addr add 10.77.0.1/24 dev mvmbr0",
                            "ip link set mvmbr0 up"]
    assert "networks/mvmbr0.json" in commands[3]
    assert "sysctl -q -w net.ipv4.ip_forward=1" in commands
    nat = [c for c in commands if c.startswith("iptables")]
    assert len(nat) == 3
    assert "-t nat -A POSTROUTING -s 10.77.0.0/24 -o eth0 -j MASQUERADE -m comment --comment mvm:81902b:br:mvmbr0:nat:" in nat[0]
    assert "-I FORWARD 1 -i mvmbr0 -o eth0 -j ACCEPT" in nat[1]


def test_bridge_converged_is_a_no_op() -> None:
    facts = host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), BR_LINKS, RECORD, nat_rule_lines()])
    assert run_all("bridge", {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True}, facts) == []


def with_mac(links: str, mac: str) -> str:
    return links.replace('"flags"', '"address":"%s","flags"' % mac)


def test_a_bridge_keeps_one_mac_whatever_tap_comes_and_goes() -> None:
    """The kernel gives a bridge without its own MAC the lowest MAC of its ports: a guest that cached the gateway's
    MAC loses it when a TAP with a lower one joins or leaves. mvm's bridge has a MAC derived from its name (made
    with it; pinned on a bridge an earlier mvm made); a bridge mvm did not make keeps its own."""
    mac = network.bridge_mac("mvmbr0")
    assert mac.startswith("02:") and mac != network.bridge_mac("mvmbr1") and mac == network.bridge_mac("mvmbr0")
    converged = [UPLINK.replace("ip_forward\t0", "ip_forward\t1"), RECORD, nat_rule_lines()]
    params = {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True}
    assert run_all("bridge", params, host(extra=[with_mac(BR_LINKS, mac)] + converged)) == []
    assert run_all("bridge", params, host(extra=[with_mac(BR_LINKS, "0a:22:2f:c1:92:99")] + converged)) == [
        "ip link set mvmbr0 address %s" % mac]
    foreign = [UPLINK.replace("ip_forward\t0", "ip_forward\t1"), with_mac(BR_LINKS, "0a:22:2f:c1:92:99")]
    assert not any("address" in c and "link set" in c for c in run_all("bridge", params, host(extra=foreign)))


def test_bridge_nat_turned_off_deletes_only_its_rules() -> None:
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, nat_rule_lines(), nat_rule_lines("other")])
    commands = run_all("bridge", {"name": "mvmbr0", "subnet": "10.77.0.0/24"}, facts)
    deletes = [c for c in commands if " -D " in c]
    assert len(deletes) == 3 and all("mvm:81902b:br:mvmbr0:" in c for c in deletes)


def test_bridge_with_nft_when_no_iptables() -> None:
    facts = host(extra=[UPLINK, "tool\tnft\tpath\t/usr/sbin/nft\n"]).replace("tool\tiptables\t", "tool\tgone\t")
    commands = run_all("bridge", {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True}, facts)
    assert any(c.startswith("nft 'add table ip mvm;") for c in commands)
    assert any("masquerade comment" in c for c in commands)


def test_bridge_absent_removes_rules_link_record_and_restores_forwarding() -> None:
    facts = host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), "host\tip_forward_saved\t0\n", BR_LINKS,
                        RECORD, nat_rule_lines()])
    commands = run_all("bridge", {"name": "mvmbr0", "state": "absent"}, facts)
    assert [c.split()[0] for c in commands[:3]] == ["iptables"] * 3
    assert "ip link del mvmbr0" in commands
    assert any(c.startswith("sysctl -q -w net.ipv4.ip_forward=0") for c in commands)


def test_tap_fresh_and_converged() -> None:
    commands = run_all("tap", {"name": "fc-tap0", "bridge": "mvmbr0", "user": "1000"}, host(extra=[BR_LINKS]))
    assert commands == ["ip tuntap add dev fc-tap0 mode tap user 1000", "ip link set fc-tap0 master mvmbr0",
                        "ip link set fc-tap0 up"]
    tap = ('links\t[{"ifname":"mvmbr0","flags":["UP"],"linkinfo":{"info_kind":"bridge"},"addr_info":[]},'
           '{"ifname":"fc-tap0","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun",'
           '"info_data":{"type":"tap","user":"1000"}}}]\n')
    assert run_all("tap", {"name": "fc-tap0", "bridge": "mvmbr0", "user": "1000"}, host(extra=[tap])) == []
    assert run_all("tap", {"name": "fc-tap0", "bridge": "mvmbr0", "user": "1001"}, host(extra=[tap]))[0] == \
        "ip link del fc-tap0"


def test_port_forward_rules() -> None:
    commands = run_all("port_forward", {"host_port": 8080, "guest": "10.77.0.2", "guest_port": 80,
                                        "network": "mvmbr0"}, host(extra=[UPLINK, RECORD]))
    rules = [c for c in commands if c.startswith("iptables")]
    assert len(rules) == 3
    assert "-A PREROUTING -p tcp -m addrtype --dst-type LOCAL --dport 8080 -j DNAT --to-destination 10.77.0.2:80" in rules[0]
    assert "-A OUTPUT -p tcp '!' -d 127.0.0.0/8" in rules[1]


def test_vm_on_network_gets_lease_tap_and_ports() -> None:
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, image_lines("default", "0123456789abcdef")])
    params = {"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:80"]}
    commands = run_all("vm", params, facts)
    lease = [c for c in commands if "/networks/mvmbr0/leases/web" in c][0]
    assert '"ip":"10.77.0.2"' in lease and '"slot":2' in lease
    assert any(c.startswith("ip tuntap add dev mvm") for c in commands)
    start = [c for c in commands if "setsid" in c][0]
    assert "mvm.ip=10.77.0.2/24 mvm.gw=10.77.0.1" in start and "virtio-net-device,netdev=net0,mac=02:" in start
    assert len([c for c in commands if "--comment mvm:81902b:vm:web:tcp8080:" in c]) == 3


def test_second_vm_gets_the_next_address() -> None:
    lease = 'lease\tmvmbr0\tweb\t{"ip":"10.77.0.2","mac":"02:aa:bb:cc:dd:01","slot":1,"tap":"mvmaaaa"}\n'
    facts = host(extra=[UPLINK, BR_LINKS, RECORD.replace("\n", "") + "\n", lease, image_lines("default", "0123456789abcdef")])
    commands = run_all("vm", {"name": "db", "image": "default", "backend": "qemu", "network": "mvmbr0"}, facts)
    assert any('"ip":"10.77.0.3"' in c for c in commands)


def test_vm_absent_releases_tap_lease_and_rules() -> None:
    net = {"name": "mvmbr0", "ip": "10.77.0.2", "prefix": 24, "gateway": "10.77.0.1", "mac": "02:00:00:00:00:01",
           "tap": "mvmtap1", "slot": 1}
    tap = ('links\t[{"ifname":"mvmtap1","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun",'
           '"info_data":{"type":"tap"}}}]\n')
    lease = 'lease\tmvmbr0\tweb\t{"ip":"10.77.0.2","mac":"02:00:00:00:00:01","slot":1,"tap":"mvmtap1","made_tap":true}\n'
    rule = "ipt\tnat\t%s\n" % RECORDED_IPTABLES["web"][0][1]
    facts = host(extra=[tap, RECORD, lease, rule, vm_lines("web", applied("web", network=net), 4242)])
    commands = run_all("vm", {"name": "web", "state": "absent"}, facts)
    assert "ip link del mvmtap1" in commands
    assert any(c.startswith("rm -f ") and c.endswith("/networks/mvmbr0/leases/web") for c in commands)
    assert "iptables -w -t nat -D PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -m comment " \
           "--comment mvm:81902b:vm:web:tcp8080:eb3e035e -j DNAT --to-destination 10.77.0.2:80" in commands
    assert commands[-1].startswith(f"rm -rf {ROOT}/vms/web")


BAD = [
    ("bridge", {"name": "mvmbr0", "subnet": "10.0.0.0/33"}, "subnet"),
    ("bridge", {"name": "mvmbr0", "subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "gateway"),
    ("bridge", {"name": "mvmbr0", "subnet": "10.0.0.0/24", "gateway": "10.0.0.0"}, "gateway"),
    ("bridge", {"name": "averyveryverylongname", "subnet": "10.0.0.0/24"}, "name"),
    ("bridge", {"name": "br/0", "subnet": "10.0.0.0/24"}, "name"),
    ("tap", {"name": "tap:0"}, "name"),
    ("port_forward", {"host_port": 70000, "guest": "10.77.0.2", "guest_port": 80}, "host_port"),
    ("port_forward", {"host_port": 8080, "guest": "10.77.0.2", "guest_port": 0}, "guest_port"),
    ("port_forward", {"host_port": 8080, "guest": "10.88.0.2", "guest_port": 80, "network": "mvmbr0"}, "guest"),
    ("vm", {"name": "web", "image": "default", "ports": ["80:"]}, "ports"),
    ("vm", {"name": "web", "image": "default", "network": "mvmbr0", "ports": ["a:b"]}, "ports"),
    ("vm", {"name": "web", "image": "default", "backend": "qemu", "ports": ["8080:80"]}, "ports"),
]


@pytest.mark.parametrize("kind,params,field", BAD, ids=["%s-%s" % (k, f) for k, _, f in BAD])
def test_bad_network_input(kind: str, params: dict[str, Any], field: str) -> None:
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, image_lines("default", "0123456789abcdef")])
    rec = frontends.Recording(facts)
    result = frontends.ansible_module(kind, params, rec, check_mode=False)
    assert result.failed and result.result["msg"].startswith(field + ":"), result.result
    assert all("probe_version" in c for c in rec.commands)
    rec = frontends.Recording(facts)
    with pytest.raises(OperationValueError, match="^%s: " % field):
        frontends.pyinfra_op(kind, params, rec)
    assert all("probe_version" in c for c in rec.commands)


def test_facts_report_bridge_health() -> None:
    facts = frontends.pyinfra_fact("MvmHost", frontends.Recording(host(extra=[UPLINK, BR_LINKS, RECORD, nat_rule_lines()])))
    assert facts["networks"]["mvmbr0"] == {"subnet": "10.77.0.0/24", "gateway": "10.77.0.1", "prefix": 24, "nat": True,
                                           "uplink": "eth0", "leases": {}}
    assert facts["network"]["bridges"][0]["addresses"] == ["10.77.0.1/24"]
    assert sorted(r["tag"].split(":")[4] for r in facts["network"]["firewall"]["rules"]) == ["back", "nat", "out"]


def test_health_report() -> None:
    forward = "ipt\tnat\t%s\n" % RECORDED_IPTABLES["web"][0][1]
    facts = frontends.pyinfra_fact("MvmHost", frontends.Recording(host(extra=[
        UPLINK.replace("ip_forward\t0", "ip_forward\t1"), BR_LINKS, RECORD, nat_rule_lines(), forward])))
    bridge = facts["network"]["health"]["bridges"]["mvmbr0"]
    assert bridge["exists"] and bridge["up"] and bridge["address_ok"] and bridge["nat_rules"] == 3 and bridge["healthy"]
    assert facts["network"]["health"]["port_forwards"] == [{"owner": "vm:web", "proto": "tcp", "host_port": 8080, "rules": 1}]
    broken = frontends.pyinfra_fact("MvmHost", frontends.Recording(host(extra=[UPLINK, RECORD])))
    assert broken["network"]["health"]["bridges"]["mvmbr0"]["healthy"] is False
