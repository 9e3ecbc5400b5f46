# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The doctor: the facts as a list of checks, each marked as needed or not by the chosen backend."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import backends, registry
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

MIN_FREE_MIB = 1024
IMAGE_TOOLS = ("busybox", "mkfs.ext4", "cpio", "gzip")
# Checks each backend cannot do without (names of checks below), as each driver lists them.
NEEDS = {d.name: d.needs for d in registry.DRIVERS}
ALWAYS = ("backend", "state root disk")


def _tool(facts: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """The probe reports every tool in probe.tools(), present or not."""
    return facts["tools"][name]


def _tool_info(entry: Mapping[str, Any], hint: str) -> str:
    if not entry.get("present"):
        return "not installed (%s)" % hint
    return "%s %s" % (entry.get("path"), entry.get("version") or "")


def checks(facts: Mapping[str, Any], chosen: Optional[str], reason: str) -> List[Dict[str, Any]]:
    plat, kvm = facts["platform"], facts["kvm"]
    arm = plat["arch"] in ("aarch64", "arm64")
    qemu = _tool(facts, "qemu-system-" + ("aarch64" if arm else "x86_64"))
    image_missing = [t for t in IMAGE_TOOLS if not _tool(facts, t).get("present")]
    free = facts.get("disk_free_mib")
    found = [
        ("backend", "backend", chosen is not None, "%s: %s" % (chosen, reason) if chosen else reason),
        ("platform", "platform", plat["os"] in ("linux", "darwin"), "%s %s (%s)" % (plat["kind"], plat["arch"], plat["kernel"])),
        ("kvm present", "kvm", kvm["present"], "/dev/kvm" + (" exists" if kvm["present"] else " does not exist")),
        ("kvm usable", "kvm", kvm["usable"], "%s: %s" % (kvm["kind"], kvm["reason"])),
        ("firecracker", "tools", _tool(facts, "firecracker")["present"],
         _tool_info(_tool(facts, "firecracker"), backends.INSTALL_HINT["firecracker"])),
        ("jailer", "tools", _tool(facts, "jailer")["present"],
         _tool_info(_tool(facts, "jailer"), "ships with firecracker releases")),
        ("qemu", "tools", qemu["present"], _tool_info(qemu, backends.INSTALL_HINT["qemu"])),
        ("python3", "tools", _tool(facts, "python3")["present"],
         _tool_info(_tool(facts, "python3"), "QMP client of the qemu backend")),
        ("setsid", "tools", _tool(facts, "setsid")["present"],
         _tool_info(_tool(facts, "setsid"), "util-linux")),
        ("image tools", "tools", not image_missing,
         "missing: %s (Debian: busybox-static e2fsprogs cpio gzip)" % ", ".join(image_missing) if image_missing
         else "busybox, mkfs.ext4, cpio, gzip"),
        ("docker daemon", "tools", facts["docker"]["daemon"],
         "server %s" % facts["docker"]["server_version"] if facts["docker"]["daemon"]
         else ("client installed, no daemon answers" if facts["docker"]["client"] else "docker not installed")),
        ("limactl", "tools", _tool(facts, "limactl")["present"],
         _tool_info(_tool(facts, "limactl"), backends.INSTALL_HINT["lima"])),
        ("container", "tools", _tool(facts, "container")["present"],
         _tool_info(_tool(facts, "container"), backends.INSTALL_HINT["apple-container"])),
        ("container service", "tools", facts["apple_container_service"],
         "running" if facts["apple_container_service"] else "not running (container system start)"),
        ("ip", "network", _tool(facts, "ip")["present"], _tool_info(_tool(facts, "ip"), "iproute2")),
        ("firewall", "network", _tool(facts, "iptables")["present"] or _tool(facts, "nft")["present"],
         "iptables (%s)" % _tool(facts, "iptables").get("variant") if _tool(facts, "iptables").get("present")
         else ("nft" if _tool(facts, "nft").get("present") else "neither iptables nor nft is installed")),
        ("state root disk", "state", free is None or free >= MIN_FREE_MIB,
         "%s: %s MiB free" % (facts["state_root"], free if free is not None else "unknown")),
    ]
    needed = set(ALWAYS) | set(NEEDS.get(chosen or "", ()))
    return [{"name": n, "category": c, "ok": bool(ok), "info": info, "needed": n in needed}
            for n, c, ok, info in found]


def report(facts: Mapping[str, Any], requested: str = "auto") -> Dict[str, Any]:
    """{"checks": [...], "all_ok": bool, "backend": chosen}: all_ok covers the checks the backend needs."""
    try:
        chosen, reason = backends.select(facts, requested)  # type: Optional[str], str
    except MvmError as exc:
        chosen, reason = None, str(exc)
    found = checks(facts, chosen, reason)
    if "security" in facts:  # the posture, as advice: needed only by VMs that ask for production
        found += [{"name": "security: " + c["name"], "category": "security", "ok": c["ok"],
                   "info": c["why"] + ("; fix: " + c["fix"] if c["fix"] else ""), "needed": False}
                  for c in facts["security"]["host"]]
    return {"backend": chosen, "checks": found, "all_ok": all(c["ok"] for c in found if c["needed"])}
