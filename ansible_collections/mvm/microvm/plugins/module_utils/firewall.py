# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firewall rules as data, rendered for iptables (nft or legacy variant) or nft.

Every rule mvm makes carries a comment `mvm:<scope>:<kind>:<name>:<purpose>:<digest>`: the scope is a
short id of the state root (two roots on one host never own each other's rules), the facts find our
rules by it, a changed rule gets a new digest (old one deleted, new one added), and removal takes
exactly what the owner made, nothing else. Removal never pastes a probed line into a command: nft
rules go by handle, iptables rules by their spec re-tokenised and quoted token by token.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import re
import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence

from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote

NFT_TABLE = "mvm"
_NFT_CHAINS = {
    "prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "output": "type nat hook output priority -100; policy accept;",
    "postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    "forward": "type filter hook forward priority filter; policy accept;",
    # A tenant's isolation, before any filter rule: a published port's accept (or another program's) never lets
    # a VM of another bridge through.
    "isolate": "type filter hook forward priority mangle; policy accept;",
}


@dataclass(frozen=True)
class Rule:
    """One rule: an owner (bridge, forward or VM), a purpose, and backend-neutral match fields."""

    owner: str
    purpose: str
    kind: str  # masquerade | forward_out | forward_back | dnat_prerouting | dnat_output | accept_to | isolate_*
    fields: tuple  # sorted (key, value) pairs

    @property
    def tag(self) -> str:
        digest = hashlib.sha256(repr((self.kind, self.fields)).encode()).hexdigest()[:8]
        return "mvm:%s:%s:%s" % (self.owner, self.purpose, digest)


def scope(state_root: str) -> str:
    """A short id of a state root, carried in every tag it owns."""
    return hashlib.sha256(state_root.encode()).hexdigest()[:6]


def owner(facts: Mapping[str, Any], kind: str, name: str) -> str:
    """The owner part of a tag: scope, kind (br, vm, fwd) and name."""
    return "%s:%s:%s" % (scope(facts["state_root"]), kind, name)


def rule(owner: str, purpose: str, kind: str, **fields: Any) -> Rule:
    return Rule(owner, purpose, kind, tuple(sorted(fields.items())))


def choose_backend(facts: Mapping[str, Any], requested: str = "auto") -> str:
    tools = facts["tools"]
    have = {name: bool(tools.get(name, {}).get("present")) for name in ("iptables", "nft")}
    if requested != "auto":
        if not have[requested]:
            raise SpecError("firewall", "%s is not installed on the host" % requested)
        return requested
    if have["iptables"]:
        return "iptables"
    if have["nft"]:
        return "nft"
    raise SpecError("firewall", "neither iptables nor nft is installed on the host (Debian: apt-get install iptables)")


def _iptables(r: Rule) -> tuple:
    """(table, chain, args) of a rule for iptables."""
    f = dict(r.fields)
    if r.kind == "masquerade":
        return "nat", "POSTROUTING", ["-s", f["subnet"], "-o", f["uplink"], "-j", "MASQUERADE"]
    if r.kind == "forward_out":
        return "filter", "FORWARD", ["-i", f["bridge"], "-o", f["uplink"], "-j", "ACCEPT"]
    if r.kind == "forward_back":
        return "filter", "FORWARD", ["-i", f["uplink"], "-o", f["bridge"], "-m", "conntrack", "--ctstate",
                                     "RELATED,ESTABLISHED", "-j", "ACCEPT"]
    if r.kind == "dnat_prerouting":
        return "nat", "PREROUTING", ["-p", f["proto"], "-m", "addrtype", "--dst-type", "LOCAL", "--dport",
                                     str(f["host_port"]), "-j", "DNAT", "--to-destination",
                                     "%s:%s" % (f["guest"], f["guest_port"])]
    if r.kind == "dnat_output":
        return "nat", "OUTPUT", ["-p", f["proto"], "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL",
                                 "--dport", str(f["host_port"]), "-j", "DNAT", "--to-destination",
                                 "%s:%s" % (f["guest"], f["guest_port"])]
    if r.kind == "accept_to":
        return "filter", "FORWARD", ["-d", f["guest"], "-p", f["proto"], "--dport", str(f["guest_port"]), "-j", "ACCEPT"]
    # Isolation lives in mangle's FORWARD, which runs before filter's: first the bridge's own traffic (bridged
    # frames pass FORWARD where br_netfilter is loaded), then everything else to or from another interface than
    # the uplink is dropped.
    if r.kind == "isolate_same":
        return "mangle", "FORWARD", ["-i", f["bridge"], "-o", f["bridge"], "-j", "ACCEPT"]
    if r.kind == "isolate_out":
        return "mangle", "FORWARD", ["-i", f["bridge"]] + (["!", "-o", f["uplink"]] if f["uplink"] else []) + [
            "-j", "DROP"]
    if r.kind == "isolate_in":
        return "mangle", "FORWARD", ["-o", f["bridge"]] + (["!", "-i", f["uplink"]] if f["uplink"] else []) + [
            "-j", "DROP"]
    raise ValueError(r.kind)


def _nft(r: Rule) -> tuple:
    """(chain, expression) of a rule for nft, in table ip mvm."""
    f = dict(r.fields)
    if r.kind == "masquerade":
        return "postrouting", 'ip saddr %s oifname "%s" masquerade' % (f["subnet"], f["uplink"])
    if r.kind == "forward_out":
        return "forward", 'iifname "%s" oifname "%s" accept' % (f["bridge"], f["uplink"])
    if r.kind == "forward_back":
        return "forward", 'iifname "%s" oifname "%s" ct state related,established accept' % (f["uplink"], f["bridge"])
    if r.kind == "dnat_prerouting":
        return "prerouting", "fib daddr type local %s dport %s dnat to %s:%s" % (
            f["proto"], f["host_port"], f["guest"], f["guest_port"])
    if r.kind == "dnat_output":
        return "output", "ip daddr != 127.0.0.0/8 fib daddr type local %s dport %s dnat to %s:%s" % (
            f["proto"], f["host_port"], f["guest"], f["guest_port"])
    if r.kind == "accept_to":
        return "forward", "ip daddr %s %s dport %s accept" % (f["guest"], f["proto"], f["guest_port"])
    allowed = '{ "%s", "%s" }' % (f["bridge"], f["uplink"]) if f.get("uplink") else '"%s"' % f.get("bridge")
    if r.kind == "isolate_same":
        return "isolate", 'iifname "%s" oifname "%s" accept' % (f["bridge"], f["bridge"])
    if r.kind == "isolate_out":
        return "isolate", 'iifname "%s" oifname != %s drop' % (f["bridge"], allowed)
    if r.kind == "isolate_in":
        return "isolate", 'oifname "%s" iifname != %s drop' % (f["bridge"], allowed)
    raise ValueError(r.kind)


def add_command(backend: str, r: Rule) -> str:
    if backend == "iptables":
        table, chain, args = _iptables(r)
        # FORWARD accepts go first so a host's DROP policy rules (docker) do not shadow them; an isolation's
        # drops go last in mangle, after every bridge's accept of its own traffic.
        where = ["-A", chain] if chain != "FORWARD" or r.kind in ("isolate_out", "isolate_in") else ["-I", chain, "1"]
        return join(["iptables", "-w", "-t", table] + where + args + ["-m", "comment", "--comment", r.tag])
    chain, expression = _nft(r)
    add = "nft %s" % quote("add rule ip %s %s %s comment \"%s\"" % (NFT_TABLE, chain, expression, r.tag))
    if chain == "isolate":  # a table made before mvm isolated bridges has no such chain yet ("add" keeps one)
        return "nft %s && %s" % (quote("add chain ip %s isolate { %s }" % (NFT_TABLE, _NFT_CHAINS["isolate"])), add)
    return add


_CHAIN = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_HANDLE = re.compile(r"[0-9]{1,12}", re.ASCII)
IPTABLES_TABLES = ("nat", "filter", "mangle")


def delete_command(backend: str, present: Mapping[str, Any]) -> str:
    """Delete a rule found by the facts: nft by its handle; iptables by its -S spec, split into tokens
    as iptables printed them and each quoted as one argument (a name holding `$(...)` stays text)."""
    if backend == "iptables":
        try:
            tokens = shlex.split(present["line"])
        except ValueError:
            tokens = []
        if present.get("table") not in IPTABLES_TABLES or len(tokens) < 2 or tokens[0] != "-A" \
                or not _CHAIN.fullmatch(tokens[1]):
            raise MvmError("cannot read the iptables rule %r of %s; delete it by hand" % (
                present.get("line"), present.get("tag")))
        return join(["iptables", "-w", "-t", present["table"], "-D"] + tokens[1:])
    if not _CHAIN.fullmatch(str(present.get("chain"))) or not _HANDLE.fullmatch(str(present.get("handle"))):
        raise MvmError("cannot read the nft rule %r; delete it by hand" % (present.get("tag"),))
    return join(["nft", "delete", "rule", "ip", NFT_TABLE, present["chain"], "handle", present["handle"]])


def nft_setup_command() -> str:
    parts = ["add table ip %s" % NFT_TABLE] + [
        "add chain ip %s %s { %s }" % (NFT_TABLE, chain, spec) for chain, spec in sorted(_NFT_CHAINS.items())]
    return "nft %s" % quote("; ".join(parts))


def present_rules(facts: Mapping[str, Any], backend: str) -> List[Dict[str, Any]]:
    return [r for r in facts["network"]["firewall"]["rules"] if r["backend"] == backend]


def _groups(tokens: Sequence[str]) -> List[tuple]:
    """An iptables rule spec as sorted (option, values) groups, in the form `iptables -S` prints: the
    comment and the protocol matches iptables adds (-m tcp, -m udp) left out, host addresses as /32."""
    groups, current = [], None  # type: List[tuple], Any
    negate = False
    for token in tokens:
        if token == "!":
            negate = True
        elif token.startswith("-"):
            current = ["!" + token if negate else token]
            groups.append(current)
            negate = False
        elif current is not None:
            current.append(token + "/32" if current[0] in ("-s", "-d", "!-s", "!-d") and "/" not in token else token)
    kept = [tuple(g) for g in groups if tuple(g) not in (("-m", "tcp"), ("-m", "udp"), ("-m", "comment"))
            and g[0] not in ("--comment", "-A", "-I")]
    return sorted(kept)


def drifted(backend: str, found: Mapping[str, Any], rule_: Rule) -> bool:
    """A rule that carries our tag but no longer says what mvm wrote (edited by hand): iptables only, where
    the facts hold the rule's text; nft rules are compared by their tag alone."""
    if backend != "iptables":
        return False
    table, chain, args = _iptables(rule_)
    try:
        tokens = shlex.split(found["line"])
    except ValueError:
        return True
    return found.get("table") != table or tokens[1:2] != [chain] or _groups(tokens[2:]) != _groups(args)


def reconcile(plan: Plan, facts: Mapping[str, Any], backend: str, owners: Sequence[str],
              desired: Sequence[Rule]) -> None:
    """Add the desired rules that are missing; delete rules of these owners that are not desired, and
    replace those that drifted from what mvm wrote."""
    present = present_rules(facts, backend)
    wanted = {r.tag: r for r in desired}
    owned = owned_rules(facts, backend, owners)
    good = set()
    for found in owned:
        tag = found["tag"]
        if tag in wanted and tag not in good and not drifted(backend, found, wanted[tag]):
            good.add(tag)
        elif tag in good:
            plan.add("delete a duplicate of firewall rule %s" % tag, delete_command(backend, found))
        elif tag in wanted:
            plan.add("replace firewall rule %s (it was changed by hand)" % tag, delete_command(backend, found))
        else:
            plan.add("delete firewall rule %s" % tag, delete_command(backend, found))
    tags = {r["tag"] for r in present if r["tag"] not in wanted} | good
    missing = [r for r in desired if r.tag not in tags]
    if missing and backend == "nft" and not facts["network"]["firewall"]["nft_table"]:
        plan.add("create nft table ip %s" % NFT_TABLE, nft_setup_command())
    for r in missing:
        plan.add("add firewall rule %s" % r.tag, add_command(backend, r))


BACKENDS = ("iptables", "nft")


def owned_rules(facts: Mapping[str, Any], backend: str, owners: Sequence[str]) -> List[Dict[str, Any]]:
    """The rules on the host that these owners made (an owner ends at its ':', so vm:web is not vm:web2)."""
    return [r for r in present_rules(facts, backend) if any(r["tag"].startswith("mvm:%s:" % o) for o in owners)]


def parse_tag(tag: str) -> Dict[str, str]:
    """mvm:<scope>:<kind>:<name>:<purpose>:<digest> -> its parts ({} for a tag of another shape)."""
    parts = tag.split(":")
    if len(parts) != 6 or parts[0] != "mvm":
        return {}
    return {"scope": parts[1], "kind": parts[2], "name": parts[3], "owner": ":".join(parts[1:4]),
            "purpose": parts[4]}


def port_holder(facts: Mapping[str, Any], this_owner: str, proto: str, host_port: int) -> str:
    """Another owner (of any state root) that already publishes this host port, or ''."""
    for found in facts["network"]["firewall"]["rules"]:
        tag = parse_tag(found["tag"])
        if tag and tag["purpose"] == "%s%d" % (proto, host_port) and tag["owner"] != this_owner:
            return "%s:%s (state root id %s)" % (tag["kind"], tag["name"], tag["scope"])
    return ""


def check_ports_free(facts: Mapping[str, Any], this_owner: str, field: str, published: Sequence[Any]) -> None:
    """Refuse a host port another owner publishes, naming both: two DNAT rules would race for it."""
    for proto, host_port in published:
        holder = port_holder(facts, this_owner, proto, host_port)
        if holder:
            kind, name = this_owner.split(":", 2)[1:]
            raise SpecError(field, "host port %s/%d is already published by %s; %s:%s cannot publish it too"
                            % (proto, host_port, holder, kind, name))


def ensure(plan: Plan, facts: Mapping[str, Any], backend: Any, owner: str, desired: Sequence[Rule]) -> None:
    """An owner's rules exactly as desired with the chosen backend, and none left with the other one."""
    for fw in BACKENDS:
        wanted = desired if fw == backend else []
        if wanted or owned_rules(facts, fw, [owner]):
            reconcile(plan, facts, fw, [owner], wanted)


def remove_owned(plan: Plan, facts: Mapping[str, Any], owner: str) -> bool:
    """Delete every rule the owner made (and mvm's nft table once it is empty). Any removed?"""
    removed = False
    for fw in BACKENDS:
        owned = owned_rules(facts, fw, [owner])
        for found in owned:
            plan.add("delete firewall rule %s" % found["tag"], delete_command(fw, found))
        if owned:
            drop_empty_table(plan, facts, fw, [owner])
            removed = True
    return removed


def remaining_after(facts: Mapping[str, Any], backend: str, owners: Sequence[str]) -> int:
    """How many mvm rules stay once the owners' rules are gone (to drop an empty nft table)."""
    return len(present_rules(facts, backend)) - len(owned_rules(facts, backend, owners))


def drop_empty_table(plan: Plan, facts: Mapping[str, Any], backend: str, owners: Sequence[str],
                     adds: int = 0) -> None:
    if backend == "nft" and facts["network"]["firewall"]["nft_table"] and not adds \
            and remaining_after(facts, backend, owners) == 0:
        plan.add("delete nft table ip %s" % NFT_TABLE, "nft delete table ip %s" % NFT_TABLE)


def forward_rules(owner: str, proto: str, host_port: int, guest: str, guest_port: int) -> List[Rule]:
    fields = dict(proto=proto, host_port=host_port, guest=guest, guest_port=guest_port)
    purpose = "%s%d" % (proto, host_port)
    return [rule(owner, purpose, "dnat_prerouting", **fields), rule(owner, purpose, "dnat_output", **fields),
            rule(owner, purpose, "accept_to", proto=proto, guest=guest, guest_port=guest_port)]


def nat_rules(owner: str, bridge: str, subnet: str, uplink: str) -> List[Rule]:
    return [rule(owner, "nat", "masquerade", subnet=subnet, uplink=uplink),
            rule(owner, "out", "forward_out", bridge=bridge, uplink=uplink),
            rule(owner, "back", "forward_back", bridge=bridge, uplink=uplink)]


def isolation_rules(owner: str, bridge: str, uplink: str) -> List[Rule]:
    """A bridge whose VMs reach only each other, the host (its gateway address) and the uplink (NAT and published
    ports): what keeps one tenant's VMs from another's."""
    return [rule(owner, "iso-same", "isolate_same", bridge=bridge),
            rule(owner, "iso-out", "isolate_out", bridge=bridge, uplink=uplink),
            rule(owner, "iso-in", "isolate_in", bridge=bridge, uplink=uplink)]


NAT_PURPOSES = ("nat", "out", "back")
ISOLATION_PURPOSES = ("iso-same", "iso-out", "iso-in")


_COMMENT = re.compile(r'--comment "?(mvm:[^"\s]+)"?')
_NFT_COMMENT = re.compile(r'comment "(mvm:[^"]+)" # handle ([0-9]+)', re.ASCII)


def parse_iptables(table: str, lines: Sequence[str]) -> List[Dict[str, Any]]:
    found = []
    for line in lines:
        match = _COMMENT.search(line)
        if match and line.startswith("-A "):
            found.append({"backend": "iptables", "table": table, "chain": line.split()[1], "tag": match.group(1),
                          "line": line.strip()})
    return found


def parse_nft(lines: Sequence[str]) -> List[Dict[str, Any]]:
    found = []  # type: List[Dict[str, Any]]
    chain = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("chain "):
            chain = stripped.split()[1]
        match = _NFT_COMMENT.search(stripped)
        if match and chain:
            found.append({"backend": "nft", "table": NFT_TABLE, "chain": chain, "tag": match.group(1),
                          "handle": match.group(2)})
    return found
