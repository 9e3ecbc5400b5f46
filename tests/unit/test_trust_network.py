"""Trust on the network paths (issue #13: defects 1, 11, 12, 13, 20): removal never runs probe output
as shell, owners are namespaced by state root, a host port has one owner, forwarding is restored only
when nothing needs it, a numeric TAP owner is stable, an uplink must exist, a TAP mvm did not make stays."""

from __future__ import annotations

import shlex

import pytest
from pyinfra.api import OperationValueError

from ansible_collections.mvm.microvm.plugins.module_utils import firewall
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from tests.support import frontends
from tests.support.probes import ROOT, applied, host, image_lines, vm_lines
from tests.unit.test_network_plans import BR_LINKS, RECORD, RECORDED_IPTABLES, UPLINK, nat_rule_lines

OTHER_ROOT_RULE = ('ipt\tnat\t-A POSTROUTING -s 10.77.0.0/24 -o eth0 -m comment --comment '
                   '"mvm:0a0b0c:br:mvmbr0:nat:fc9e4d27" -j MASQUERADE\n')


def test_iptables_delete_quotes_every_token_of_a_hostile_line() -> None:
    """A line holding shell syntax (a comment, an interface) stays text: each token is one argument."""
    line = '-A FORWARD -i "br$(touch /tmp/pwned)" -o eth0 -m comment --comment "mvm:81902b:br:x;reboot:out:1" -j ACCEPT'
    command = firewall.delete_command("iptables", {"table": "filter", "line": line, "tag": "t"})
    argv = shlex.split(command)
    assert argv == ["iptables", "-w", "-t", "filter", "-D", "FORWARD", "-i", "br$(touch /tmp/pwned)", "-o", "eth0",
                    "-m", "comment", "--comment", "mvm:81902b:br:x;reboot:out:1", "-j", "ACCEPT"]
    assert "'br$(touch /tmp/pwned)'" in command


@pytest.mark.parametrize("present", [
    {"table": "nat;id", "line": "-A POSTROUTING -j MASQUERADE"},
    {"table": "nat", "line": "-A 'POST ROUTING' -j MASQUERADE"},
    {"table": "nat", "line": "-A POSTROUTING -j 'MASQ"},
])
def test_iptables_delete_refuses_what_it_cannot_read(present: dict) -> None:
    with pytest.raises(MvmError):
        firewall.delete_command("iptables", dict(present, tag="t"))


@pytest.mark.parametrize("present", [{"chain": "forward", "handle": "7;reboot"}, {"chain": "for ward", "handle": "7"},
                                     {"chain": "forward", "handle": "٧"}])
def test_nft_delete_takes_only_a_chain_name_and_a_number(present: dict) -> None:
    with pytest.raises(MvmError):
        firewall.delete_command("nft", present)


def test_removal_leaves_another_state_roots_rules() -> None:
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, nat_rule_lines(), OTHER_ROOT_RULE])
    commands = frontends.three_ways("bridge", {"name": "mvmbr0", "state": "absent"}, facts)
    deletes = [c for c in commands if " -D " in c]
    assert len(deletes) == 3 and not any("0a0b0c" in c for c in deletes)


def test_a_host_port_has_one_owner() -> None:
    published = "".join("ipt\t%s\t%s\n" % row for row in RECORDED_IPTABLES["web"])
    facts = host(extra=[UPLINK, BR_LINKS, RECORD, published, image_lines("default", "0123456789abcdef")])
    params = {"name": "db", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:5432"]}
    rec = frontends.Recording(facts)
    with pytest.raises(OperationValueError, match="^ports: host port tcp/8080 is already published by vm:web"):
        frontends.pyinfra("vm", params, rec)
    fwd = {"host_port": 8080, "guest": "10.77.0.9", "guest_port": 80}
    result = frontends.ansible_module("port_forward", fwd, frontends.Recording(facts), check_mode=False)
    assert result.failed and "vm:web" in result.result["msg"] and "fwd:tcp8080" in result.result["msg"]
    # The owner itself converges: web keeps its port.
    mine = {"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:80"]}
    frontends.three_ways("vm", mine, facts)


def test_uplink_must_exist() -> None:
    rec = frontends.Recording(host(extra=[UPLINK]))
    with pytest.raises(OperationValueError, match="^uplink: no interface named eth9"):
        frontends.pyinfra("bridge", {"name": "mvmbr0", "subnet": "10.77.0.0/24", "nat": True, "uplink": "eth9"}, rec)


def _forward_only(extra: str = "") -> str:
    rows = "".join("ipt\t%s\t%s\n" % row for row in RECORDED_IPTABLES["web"])
    return host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), "host\tip_forward_saved\t0\n", BR_LINKS,
                       RECORD, nat_rule_lines(), rows, extra])


def test_forwarding_stays_on_while_a_port_forward_needs_it() -> None:
    commands = frontends.three_ways("bridge", {"name": "mvmbr0", "state": "absent"}, _forward_only())
    assert not any("ip_forward=0" in c for c in commands)


def test_forwarding_stays_on_where_docker_needs_it() -> None:
    facts = host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), "host\tip_forward_saved\t0\n", BR_LINKS,
                        RECORD, nat_rule_lines(), "host\tdocker_chains\t1\n"])
    commands = frontends.three_ways("bridge", {"name": "mvmbr0", "state": "absent"}, facts)
    assert not any("ip_forward=0" in c for c in commands)


def test_forwarding_restored_when_nothing_needs_it() -> None:
    facts = host(extra=[UPLINK.replace("ip_forward\t0", "ip_forward\t1"), "host\tip_forward_saved\t0\n", BR_LINKS,
                        RECORD, nat_rule_lines()])
    commands = frontends.three_ways("bridge", {"name": "mvmbr0", "state": "absent"}, facts)
    assert any(c.startswith("sysctl -q -w net.ipv4.ip_forward=0") for c in commands)


def test_a_tap_owned_by_a_numeric_uid_is_stable() -> None:
    """iproute2 prints the user's name; sysfs has the number: no recreation on every run."""
    tap = ('links\t[{"ifname":"mvmbr0","flags":["UP"],"linkinfo":{"info_kind":"bridge"},"addr_info":[]},'
           '{"ifname":"fc-tap0","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun",'
           '"info_data":{"type":"tap","user":"alice"}}}]\n'
           'tapown\tfc-tap0\t1000\t-1\n')
    assert frontends.three_ways("tap", {"name": "fc-tap0", "bridge": "mvmbr0", "user": "1000"}, host(extra=[tap])) == []
    changed = frontends.three_ways("tap", {"name": "fc-tap0", "bridge": "mvmbr0", "user": "1001"}, host(extra=[tap]))
    assert changed[0] == "ip link del fc-tap0"


def _absent_with_user_tap(made_tap: bool) -> list[str]:
    """Plan the removal of a VM on a TAP named by the user; its lease says whether mvm made that TAP."""
    net = {"name": "mvmbr0", "ip": "10.77.0.2", "prefix": 24, "gateway": "10.77.0.1", "mac": "02:00:00:00:00:01",
           "tap": "usertap0", "slot": 1}
    tap = ('links\t[{"ifname":"usertap0","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun",'
           '"info_data":{"type":"tap"}}}]\n')
    lease = ('lease\tmvmbr0\tweb\t{"ip":"10.77.0.2","mac":"02:00:00:00:00:01","slot":1,"tap":"usertap0"%s}\n'
             % (',"made_tap":true' if made_tap else ""))
    facts = host(extra=[tap, RECORD, lease, vm_lines("web", applied("web", network=net), 4242)])
    return frontends.three_ways("vm", {"name": "web", "state": "absent"}, facts)


def test_absent_keeps_a_tap_mvm_did_not_make() -> None:
    commands = _absent_with_user_tap(made_tap=False)
    assert "ip link del usertap0" not in commands
    assert commands[-1].startswith(f"rm -rf {ROOT}/vms/web")


def test_absent_deletes_a_tap_mvm_made() -> None:
    assert "ip link del usertap0" in _absent_with_user_tap(made_tap=True)

def _web_published(edit: str = "", extra: str = "") -> str:
    rows = [row for row in RECORDED_IPTABLES["web"]]
    if edit:
        rows[0] = (rows[0][0], rows[0][1].replace("10.77.0.2:80", edit))
    published = "".join("ipt\t%s\t%s\n" % row for row in rows) + extra
    lease = 'lease\tmvmbr0\tweb\t{"ip":"10.77.0.2","mac":"02:00:00:00:00:02","slot":2,"tap":"mvmtap2","made_tap":true}\n'
    tap = ('links\t[{"ifname":"eth0","flags":["UP"],"addr_info":[]},{"ifname":"mvmbr0","flags":["UP"],"linkinfo":'
           '{"info_kind":"bridge"},"addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24}]},'
           '{"ifname":"mvmtap2","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun","info_data":{"type":"tap"}}}]\n')
    net = {"name": "mvmbr0", "ip": "10.77.0.2", "prefix": 24, "gateway": "10.77.0.1", "mac": "02:00:00:00:00:02",
           "tap": "mvmtap2", "slot": 2}
    spec = applied("web", image_id="0123456789abcdef", network=net, ports=["8080:80/tcp"])
    return host(extra=[UPLINK, tap, RECORD, lease, published, image_lines("default", "0123456789abcdef"),
                       vm_lines("web", spec, 4242)])


WEB = {"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0", "ports": ["8080:80"]}


def test_recorded_rules_as_mvm_wrote_them_are_converged() -> None:
    assert frontends.three_ways("vm", WEB, _web_published()) == []


def test_a_rule_edited_by_hand_is_replaced() -> None:
    """#13, defect 13: the DNAT target was changed by hand, the comment kept."""
    commands = frontends.three_ways("vm", WEB, _web_published(edit="10.77.0.66:80"))
    assert len(commands) == 2
    assert commands[0].startswith("iptables -w -t nat -D PREROUTING") and "10.77.0.66:80" in commands[0]
    assert commands[1].startswith("iptables -w -t nat -A PREROUTING") and "10.77.0.2:80" in commands[1]


def test_a_duplicated_rule_is_deleted_once() -> None:
    duplicate = "ipt\tnat\t%s\n" % RECORDED_IPTABLES["web"][0][1]
    commands = frontends.three_ways("vm", WEB, _web_published(extra=duplicate))
    assert len(commands) == 1 and commands[0].startswith("iptables -w -t nat -D PREROUTING")


def test_a_running_vm_not_yet_ready_is_waited_for() -> None:
    """#13, defect 18: a rerun while the guest boots waits for its marker instead of reporting it done."""
    facts = host(extra=[image_lines("default", "0123456789abcdef"),
                        vm_lines("web", applied("web", image_id="0123456789abcdef"), 4242, ready=False)])
    commands = frontends.three_ways("vm", {"name": "web", "image": "default", "backend": "qemu"}, facts)
    assert len(commands) == 1 and "MVM-READY" in commands[0] and "no readiness marker" in commands[0]
    facts = frontends.pyinfra_fact("MvmHost", frontends.Recording(facts))
    assert facts["vms"]["web"]["state"] == "running" and facts["vms"]["web"]["ready"] is False
