# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bridges, TAP devices, port forwards and address leases: specs and planners.

A network is a bridge plus a record `<root>/networks/<bridge>.json` (subnet, gateway, NAT, uplink);
a VM on it holds a lease `<root>/networks/<bridge>/leases/<vm>` (slot, address, MAC, TAP).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import firewall, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote, write_file

PROTOCOLS = ("tcp", "udp")
_PORT_MAP = re.compile(r"([0-9]+):([0-9]+)(?:/(tcp|udp))?", re.ASCII)


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    state: str
    subnet: Optional[str]
    gateway: Optional[str]
    prefix: Optional[int]
    nat: bool
    uplink: Optional[str]
    firewall: str
    state_root: Optional[str]
    isolated: bool = False

    def record(self, uplink: Optional[str]) -> Dict[str, Any]:
        """What the network record says (and what a VM planner reads back); `isolated` only when it is (a record
        written before the option existed stays the same)."""
        found = {"subnet": self.subnet, "gateway": self.gateway, "prefix": self.prefix, "nat": self.nat,
                 "uplink": (uplink or None) if self.nat or self.isolated else self.uplink}
        if self.isolated:
            found["isolated"] = True
        return found


@dataclass(frozen=True)
class TapSpec:
    name: str
    state: str
    bridge: Optional[str]
    user: Optional[str]
    group: Optional[str]
    state_root: Optional[str]


@dataclass(frozen=True)
class Port:
    host_port: int
    guest_port: int
    proto: str

    def __str__(self) -> str:
        return "%d:%d/%s" % (self.host_port, self.guest_port, self.proto)


@dataclass(frozen=True)
class ForwardSpec:
    host_port: int
    guest: str
    guest_port: int
    proto: str
    network: Optional[str]
    state: str
    firewall: str
    state_root: Optional[str]

    @property
    def owner(self) -> str:
        return "fwd"


BRIDGE_DEFAULTS = {"name": None, "state": "present", "subnet": None, "gateway": None, "nat": False,
                   "isolated": False, "uplink": None, "firewall": "auto", "state_root": None}
TAP_DEFAULTS = {"name": None, "state": "present", "bridge": None, "user": None, "group": None, "state_root": None}
FORWARD_DEFAULTS = {"host_port": None, "guest": None, "guest_port": None, "proto": "tcp", "network": None,
                    "state": "present", "firewall": "auto", "state_root": None}


def bridge_spec(params: Mapping[str, Any]) -> BridgeSpec:
    p = validate.options(params, BRIDGE_DEFAULTS)
    name = validate.ifname("name", p["name"])
    state = validate.choice("state", p["state"], ("present", "absent"))
    firewall_choice = validate.choice("firewall", p["firewall"], ("auto", "iptables", "nft"))
    uplink = validate.ifname("uplink", p["uplink"]) if p["uplink"] else None
    nat = validate.boolean("nat", p["nat"])
    subnet = gateway = prefix = None
    if state == "present":
        if p["subnet"] is None:
            raise SpecError("subnet", "expected an IPv4 subnet such as 10.77.0.0/24 for a present bridge")
        net = validate.ipv4_network("subnet", p["subnet"])
        first, last = net.network_address + 1, net.broadcast_address - 1
        gw = validate.ipv4_address("gateway", p["gateway"]) if p["gateway"] else first
        if not first <= gw <= last:
            raise SpecError("gateway", "expected an address inside %s other than its network and broadcast "
                                       "addresses; got %s" % (net, gw))
        subnet, gateway, prefix = str(net), str(gw), net.prefixlen
    return BridgeSpec(name, state, subnet, gateway, prefix, nat, uplink, firewall_choice,
                      validate.abs_path("state_root", p["state_root"], optional=True),
                      isolated=validate.boolean("isolated", p["isolated"]))


def tap_spec(params: Mapping[str, Any]) -> TapSpec:
    p = validate.options(params, TAP_DEFAULTS)
    owner = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}", re.ASCII)
    for field in ("user", "group"):
        if p[field] is not None and not owner.fullmatch(str(p[field])):
            raise SpecError(field, "expected a user or group name or number; got %r" % (p[field],))
    return TapSpec(
        name=validate.ifname("name", p["name"]),
        state=validate.choice("state", p["state"], ("present", "absent")),
        bridge=validate.ifname("bridge", p["bridge"]) if p["bridge"] else None,
        user=str(p["user"]) if p["user"] is not None else None,
        group=str(p["group"]) if p["group"] is not None else None,
        state_root=validate.abs_path("state_root", p["state_root"], optional=True),
    )


def forward_spec(params: Mapping[str, Any]) -> ForwardSpec:
    p = validate.options(params, FORWARD_DEFAULTS)
    state = validate.choice("state", p["state"], ("present", "absent"))
    host_port = validate.port("host_port", p["host_port"])
    proto = validate.choice("proto", p["proto"], PROTOCOLS)
    guest = str(validate.ipv4_address("guest", p["guest"])) if state == "present" or p["guest"] else ""
    guest_port = validate.port("guest_port", p["guest_port"]) if state == "present" or p["guest_port"] else 0
    return ForwardSpec(host_port, guest, guest_port, proto,
                       validate.ifname("network", p["network"]) if p["network"] else None, state,
                       validate.choice("firewall", p["firewall"], ("auto", "iptables", "nft")),
                       validate.abs_path("state_root", p["state_root"], optional=True))


def ports(field: str, value: Any) -> Tuple[Port, ...]:
    """`ports:` as docker writes them: "8080:80", "5353:53/udp"; or dicts with host_port, guest_port, proto."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise SpecError(field, "expected a list such as ['8080:80', '5353:53/udp']; got %r" % (value,))
    found = []
    for item in value:
        if isinstance(item, Mapping):
            port = Port(validate.port(field + ".host_port", item.get("host_port")),
                        validate.port(field + ".guest_port", item.get("guest_port")),
                        validate.choice(field + ".proto", item.get("proto", "tcp"), PROTOCOLS))
        else:
            match = _PORT_MAP.fullmatch(str(item).strip())
            if not match:
                raise SpecError(field, "expected HOST:GUEST or HOST:GUEST/udp such as 8080:80; got %r" % (item,))
            port = Port(validate.port(field, match.group(1)), validate.port(field, match.group(2)),
                        match.group(3) or "tcp")
        found.append(port)
    keys = [(p.host_port, p.proto) for p in found]
    if len(set(keys)) != len(keys):
        raise SpecError(field, "a host port is published twice: %s" % ", ".join(str(p) for p in found))
    return tuple(found)


# ---- leases -------------------------------------------------------------------------------------------

def tap_name(state_root: str, vm: str) -> str:
    """A stable TAP name per VM and state root, within Linux's 15 bytes."""
    return "mvm" + hashlib.sha256(("%s/%s" % (state_root, vm)).encode()).hexdigest()[:10]


def mac_for(network: str, slot: int) -> str:
    """A locally administered unicast MAC derived from the network and slot: stable across runs."""
    digest = hashlib.sha256(("%s/%d" % (network, slot)).encode()).digest()
    return "02:" + ":".join("%02x" % b for b in digest[:4]) + ":%02x" % (slot % 256)


def bridge_mac(network: str) -> str:
    """The gateway's own MAC (slot 0 of the network), set when mvm makes the bridge. A bridge without one takes
    the lowest MAC of its ports and changes it as TAPs come and go; guests that cached the old one in ARP then
    lose their gateway until the entry expires (found on the fleet lab's instance that outlived a scale-down)."""
    return mac_for(network, 0)


def lease_for(facts: Mapping[str, Any], network: str, record: Mapping[str, Any], vm: str) -> Dict[str, Any]:
    """The VM's lease: the one it holds, else the lowest free slot. Two VMs never share an address."""
    leases = record.get("leases", {})
    if vm in leases:
        return dict(leases[vm])
    net = ipaddress.IPv4Network(record["subnet"])
    taken = {lease.get("ip") for lease in leases.values()} | {record["gateway"]}
    # Slot k is the k-th host address; at most len(taken) + 1 slots are looked at, whatever the subnet's size.
    for slot in range(1, min(len(taken) + 2, net.num_addresses - 1)):
        address = str(net.network_address + slot)
        if address not in taken:
            return {"slot": slot, "ip": address, "mac": mac_for(network, slot),
                    "tap": tap_name(facts["state_root"], vm)}
    raise SpecError("network", "no free address left in %s (%d leases)" % (net, len(leases)))


def lease_path(state_root: str, network: str, vm: str) -> str:
    return "%s/networks/%s/leases/%s" % (state_root, network, vm)


# ---- planners -----------------------------------------------------------------------------------------

def _bridge_link(facts: Mapping[str, Any], name: str) -> Optional[Dict[str, Any]]:
    for bridge in facts["network"]["bridges"]:
        if bridge["name"] == name:
            return bridge
    return None


def _tap_link(facts: Mapping[str, Any], name: str) -> Optional[Dict[str, Any]]:
    for tap in facts["network"]["taps"]:
        if tap["name"] == name:
            return tap
    return None


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _ip_forward_on(plan: Plan, facts: Mapping[str, Any], root: str) -> None:
    """Turn IPv4 forwarding on, remembering what it was so the last network's removal restores it."""
    current = facts["network"]["ip_forward"]
    if current == "1":
        return
    if facts["network"]["ip_forward_saved"] is None:
        plan.add("remember net.ipv4.ip_forward=%s" % current, "mkdir -p %s && %s" % (
            quote(root + "/networks"), write_file(root + "/networks/.ip_forward", str(current or "0"))))
    plan.add("enable IPv4 forwarding", "sysctl -q -w net.ipv4.ip_forward=1")


def _ip_forward_restore(plan: Plan, facts: Mapping[str, Any], root: str, leaving_owner: str,
                        leaving: str = "") -> None:
    """Put forwarding back as mvm found it, only when nothing needs it any more: no mvm rule of any owner
    or state root stays, no other NAT network of this root, no Docker chains in this namespace (Docker needs it), and the
    value is still the one mvm set."""
    saved = facts["network"]["ip_forward_saved"]
    if saved is None or facts["network"]["ip_forward"] != "1" or facts["network"].get("docker_chains"):
        return
    if any(n != leaving and r.get("nat") for n, r in facts["networks"].items()):
        return
    if any(firewall.remaining_after(facts, fw, [leaving_owner]) for fw in firewall.BACKENDS):
        return
    command = "sysctl -q -w net.ipv4.ip_forward=%s && rm -f %s && { rmdir %s 2>/dev/null; true; }" % (
        quote(saved), quote(root + "/networks/.ip_forward"), quote(root + "/networks"))
    plan.add("restore net.ipv4.ip_forward=%s" % saved, command)


def plan_bridge(spec: BridgeSpec, facts: Mapping[str, Any]) -> Plan:
    root = facts["state_root"]
    plan = Plan()
    link = _bridge_link(facts, spec.name)
    record = facts["networks"].get(spec.name)
    owner = firewall.owner(facts, "br", spec.name)
    plan.before = {"bridge": link, "record": {k: v for k, v in (record or {}).items() if k != "leases"} or None}
    if spec.state == "absent":
        plan.after = {"bridge": None, "record": None}
        firewall.remove_owned(plan, facts, owner)
        if link:
            plan.add("delete bridge %s" % spec.name, "ip link del %s" % quote(spec.name))
        if record:
            plan.add("remove network record %s" % spec.name, "rm -rf %s %s" % (
                quote("%s/networks/%s.json" % (root, spec.name)), quote("%s/networks/%s" % (root, spec.name))))
            _ip_forward_restore(plan, facts, root, owner, leaving=spec.name)
            plan.add("remove %s/networks if empty" % root, "rmdir %s 2>/dev/null; true" % quote(root + "/networks"))
        plan.result = {"name": spec.name, "state": "absent"}
        return plan

    uplink = str(spec.uplink or facts["network"]["uplink"] or "")
    if spec.nat and not uplink:
        raise SpecError("uplink", "NAT needs an uplink and the host has no default route; give uplink: IFNAME")
    if spec.uplink and spec.uplink not in facts["network"].get("interfaces", []):
        raise SpecError("uplink", "no interface named %s on the host (it has: %s)"
                        % (spec.uplink, ", ".join(facts["network"].get("interfaces", [])) or "none"))
    backend = firewall.choose_backend(facts, spec.firewall) if spec.nat or spec.isolated else None  # type: Optional[str]
    address = "%s/%d" % (spec.gateway, spec.prefix or 0)
    mac = bridge_mac(spec.name)
    if not link:
        plan.add("create bridge %s" % spec.name, "ip link add %s address %s type bridge" % (quote(spec.name), mac))
    elif record and link.get("mac") not in (None, mac):  # made by an mvm that left the MAC to the kernel
        plan.add("pin %s's MAC to %s" % (spec.name, mac), "ip link set %s address %s" % (quote(spec.name), mac))
    if not link or address not in link["addresses"]:
        plan.add("address %s on %s" % (address, spec.name), "ip addr add %s dev %s" % (address, quote(spec.name)))
    if not link or not link["up"]:
        plan.add("bring %s up" % spec.name, "ip link set %s up" % quote(spec.name))
    wanted = spec.record(uplink)
    current = {k: v for k, v in (record or {}).items() if k != "leases"}
    if current != wanted:
        plan.add("record network %s" % spec.name, "mkdir -p %s && %s" % (
            quote(root + "/networks/" + spec.name + "/leases"),
            write_file("%s/networks/%s.json" % (root, spec.name), _compact(wanted))))
    if spec.nat:
        _ip_forward_on(plan, facts, root)
    rules = firewall.nat_rules(owner, spec.name, str(spec.subnet), uplink) if spec.nat else []
    if spec.isolated:
        rules += firewall.isolation_rules(owner, spec.name, uplink)
    firewall.ensure(plan, facts, backend, owner, rules)
    kept = link.get("mac") if link and not record else mac  # a bridge mvm did not make keeps its MAC
    plan.after = {"bridge": {"name": spec.name, "up": True, "addresses": [address], "mac": kept}, "record": wanted}
    plan.result = dict(wanted, name=spec.name, state="present", firewall=backend)
    return plan


def tap_commands(plan: Plan, facts: Mapping[str, Any], name: str, bridge: Optional[str],
                 user: Optional[str] = None, group: Optional[str] = None) -> None:
    """Create or fix one TAP: owner, bridge membership, up."""
    link = _tap_link(facts, name)
    # iproute2 prints a user's name where it has one: a numeric owner matches the uid from sysfs.
    wrong_owner = link and ((user is not None and user not in (str(link.get("user")), str(link.get("uid"))))
                            or (group is not None and group not in (str(link.get("group")), str(link.get("gid")))))
    if link and wrong_owner:
        plan.add("recreate TAP %s for its owner" % name, "ip link del %s" % quote(name))
        link = None
    if not link:
        argv = ["ip", "tuntap", "add", "dev", name, "mode", "tap"]
        argv += ["user", user] if user is not None else []
        argv += ["group", group] if group is not None else []
        plan.add("create TAP %s" % name, join(argv))
    if bridge and (not link or link["master"] != bridge):
        plan.add("attach %s to %s" % (name, bridge), "ip link set %s master %s" % (quote(name), quote(bridge)))
    if not link or not link["up"]:
        plan.add("bring %s up" % name, "ip link set %s up" % quote(name))


def plan_tap(spec: TapSpec, facts: Mapping[str, Any]) -> Plan:
    plan = Plan()
    link = _tap_link(facts, spec.name)
    plan.before = {"tap": link}
    if spec.state == "absent":
        if link:
            plan.add("delete TAP %s" % spec.name, "ip link del %s" % quote(spec.name))
        plan.after = {"tap": None}
        plan.result = {"name": spec.name, "state": "absent"}
        return plan
    # A bridge mvm made, or one an earlier operation of this run will make (see ops.fold), has a network record.
    if spec.bridge and not _bridge_link(facts, spec.bridge) and spec.bridge not in facts["networks"]:
        raise SpecError("bridge", "no bridge named %s on the host; create it first (mvm.microvm.bridge)" % spec.bridge)
    tap_commands(plan, facts, spec.name, spec.bridge, spec.user, spec.group)
    plan.after = {"tap": {"name": spec.name, "up": True, "master": spec.bridge, "user": spec.user, "group": spec.group}}
    plan.result = {"name": spec.name, "state": "present", "bridge": spec.bridge}
    return plan


def _check_guest_in(network: Optional[str], guest: str, facts: Mapping[str, Any]) -> None:
    if not network:
        return
    record = facts["networks"].get(network)
    if not record:
        raise SpecError("network", "no network named %s under %s/networks; create it with mvm.microvm.bridge"
                        % (network, facts["state_root"]))
    subnet = ipaddress.IPv4Network(record["subnet"])
    if ipaddress.IPv4Address(guest) not in subnet:
        raise SpecError("guest", "%s is outside network %s (%s)" % (guest, network, subnet))


def plan_forward(spec: ForwardSpec, facts: Mapping[str, Any]) -> Plan:
    owner = firewall.owner(facts, "fwd", "%s%d" % (spec.proto, spec.host_port))
    plan = Plan()
    present = [r for fw in firewall.BACKENDS for r in firewall.owned_rules(facts, fw, [owner])]
    plan.before = {"rules": sorted(r["tag"] for r in present)}
    if spec.state == "absent":
        if firewall.remove_owned(plan, facts, owner):
            _ip_forward_restore(plan, facts, facts["state_root"], owner)
        plan.after = {"rules": []}
        plan.result = {"host_port": spec.host_port, "proto": spec.proto, "state": "absent"}
        return plan
    _check_guest_in(spec.network, spec.guest, facts)
    firewall.check_ports_free(facts, owner, "host_port", [(spec.proto, spec.host_port)])
    backend = firewall.choose_backend(facts, spec.firewall)
    desired = firewall.forward_rules(owner, spec.proto, spec.host_port, spec.guest, spec.guest_port)
    _ip_forward_on(plan, facts, facts["state_root"])
    firewall.ensure(plan, facts, backend, owner, desired)
    plan.after = {"rules": sorted(r.tag for r in desired)}
    plan.result = {"host_port": spec.host_port, "guest": spec.guest, "guest_port": spec.guest_port,
                   "proto": spec.proto, "state": "present", "firewall": backend}
    return plan


def vm_rules(owner: str, guest: str, published: Sequence[Port]) -> List[firewall.Rule]:
    found = []  # type: List[firewall.Rule]
    for port in published:
        found += firewall.forward_rules(owner, port.proto, port.host_port, guest, port.guest_port)
    return found


_PURPOSE = re.compile(r"(tcp|udp)([0-9]+)", re.ASCII)


def health(facts: Mapping[str, Any]) -> Dict[str, Any]:
    """One structure a playbook can assert on: each network's bridge, address, members and NAT rules, and
    the published ports (from the mvm rules on the host)."""
    rules = facts["network"]["firewall"]["rules"]

    def owned(owner: str) -> List[Dict[str, Any]]:
        return [r for r in rules if r["tag"].startswith("mvm:%s:" % owner)]

    here = firewall.scope(facts["state_root"])

    names = sorted(set(facts["networks"]) | {b["name"] for b in facts["network"]["bridges"]
                                             if b["name"] in facts["networks"]})
    bridges = {}
    for name in names:
        record = facts["networks"].get(name) or {}
        link = _bridge_link(facts, name)
        wanted = "%s/%s" % (record.get("gateway"), record.get("prefix")) if record else None
        mine = [firewall.parse_tag(r["tag"]).get("purpose") for r in owned(firewall.owner(facts, "br", name))]
        nat_rules = len([p for p in mine if p in firewall.NAT_PURPOSES])
        isolation_ok = len([p for p in mine if p in firewall.ISOLATION_PURPOSES]) == (
            len(firewall.ISOLATION_PURPOSES) if record.get("isolated") else 0)
        bridges[name] = {
            "exists": link is not None,
            "up": bool(link and link["up"]),
            "addresses": link["addresses"] if link else [],
            "address_ok": bool(link and wanted in link["addresses"]),
            "members": link["members"] if link else [],
            "nat": bool(record.get("nat")),
            "nat_rules": nat_rules,
            "nat_ok": nat_rules == 3 if record.get("nat") else nat_rules == 0,
            "isolated": bool(record.get("isolated")),
            "isolation_ok": isolation_ok,
            "leases": sorted(record.get("leases", {})),
            "healthy": bool(link and link["up"] and wanted in link["addresses"] and isolation_ok
                            and (nat_rules == 3 if record.get("nat") else True)),
        }
    forwards = {}  # type: Dict[Tuple[str, str, int], Dict[str, Any]]
    for rule_ in rules:
        tag = firewall.parse_tag(rule_["tag"])
        if not tag or tag["scope"] != here or tag["kind"] not in ("fwd", "vm"):
            continue
        match = _PURPOSE.fullmatch(tag["purpose"])
        if not match:
            continue
        key = ("%s:%s" % (tag["kind"], tag["name"]), match.group(1), int(match.group(2)))
        entry = forwards.setdefault(key, {"owner": key[0], "proto": key[1], "host_port": key[2], "rules": 0})
        entry["rules"] += 1
    return {"bridges": bridges, "port_forwards": sorted(forwards.values(), key=lambda f: (f["host_port"], f["proto"])),
            "ip_forward": facts["network"]["ip_forward"] == "1"}
