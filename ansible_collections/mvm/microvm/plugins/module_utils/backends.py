# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend selection and capabilities: DESIGN.md's table, decided here and nowhere else."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

PRIORITY = ("firecracker", "apple-container", "docker", "lima")

CAPABILITIES = {  # type: Dict[str, Dict[str, Any]]
    "firecracker": {"snapshots": True, "pause": True, "guest_channel": "vsock", "tap": True, "ports": True},
    "apple-container": {"snapshots": False, "pause": False, "guest_channel": "vsock", "tap": False, "ports": True},
    "qemu": {"snapshots": True, "pause": True, "guest_channel": "vsock or virtio-serial", "tap": True, "ports": True},
    "docker": {"snapshots": False, "pause": True, "guest_channel": None, "tap": False, "ports": True},
    "lima": {"snapshots": True, "pause": True, "guest_channel": "vsock", "tap": True, "ports": True},
}

INSTALL_HINT = {
    "firecracker": "a Linux host with usable KVM (kvm_intel, kvm_amd or arm KVM) and the firecracker binary",
    "apple-container": "macOS 26 or later on Apple Silicon with Apple's container tool",
    "docker": "a reachable Docker daemon (install docker and start dockerd)",
    "lima": "limactl (Lima) on macOS before 26 or Linux without KVM",
    "qemu": "qemu-system-<arch> (Debian: qemu-system-x86 or qemu-system-arm)",
}


def _major(version: Any) -> int:
    try:
        return int(str(version).split(".", maxsplit=1)[0])
    except ValueError:
        return 0


def availability(facts: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Every backend with available yes/no and, when no, why not."""
    plat = facts["platform"]
    tools = facts["tools"]
    kvm = facts["kvm"]
    linux = plat["os"] == "linux"
    darwin = plat["os"] == "darwin"
    arm = plat["arch"] in ("arm64", "aarch64")
    qemu_bin = "qemu-system-" + ("aarch64" if arm else "x86_64")

    def has(tool: str) -> bool:
        return bool(tools.get(tool, {}).get("present"))

    table = {}  # type: Dict[str, Dict[str, Any]]

    def put(name: str, why_not: List[str]) -> None:
        table[name] = {"available": not why_not, "why_not": "; ".join(why_not),
                       "capabilities": CAPABILITIES[name]}

    put("firecracker", [w for w in (
        "" if linux else "not a Linux host",
        "" if not linux or kvm["usable"] else "KVM not usable: " + kvm["reason"],
        "" if has("firecracker") else "the firecracker binary is not installed",
    ) if w])
    put("apple-container", [w for w in (
        "" if darwin and _major(plat.get("macos_version")) >= 26 else "needs macOS 26 or later",
        "" if not darwin or arm else "needs Apple Silicon",
        "" if has("container") else "Apple's container tool is not installed",
    ) if w])
    put("docker", [w for w in (
        "" if has("docker") else "the docker client is not installed",
        "" if facts["docker"]["daemon"] else "no Docker daemon answers",
    ) if w])
    lima_host = (darwin and _major(plat.get("macos_version")) < 26) or (linux and not kvm["usable"])
    put("lima", [w for w in (
        "" if lima_host else "Lima is only chosen on macOS before 26 or Linux without usable KVM",
        "" if has("limactl") else "limactl is not installed",
    ) if w])
    put("qemu", [] if has(qemu_bin) else ["%s is not installed" % qemu_bin])
    return table


def select(facts: Mapping[str, Any], requested: str = "auto") -> Tuple[str, str]:
    """(backend, reason). A requested backend that cannot run here fails with what to install."""
    table = availability(facts)
    if requested != "auto":
        entry = table[requested]
        if not entry["available"]:
            raise MvmError("backend %s is not available on this host: %s. It needs %s."
                           % (requested, entry["why_not"], INSTALL_HINT[requested]))
        return requested, "requested"
    for name in PRIORITY:
        if table[name]["available"]:
            return name, "first available in priority order %s" % ", ".join(PRIORITY)
    if table["qemu"]["available"]:
        return "qemu", ("none of %s fits (%s); qemu-system is installed, so qemu is used"
                        % (", ".join(PRIORITY),
                           "; ".join("%s: %s" % (n, table[n]["why_not"]) for n in PRIORITY)))
    raise MvmError("no backend fits this host. " + "; ".join(
        "%s: %s (needs %s)" % (n, table[n]["why_not"], INSTALL_HINT[n]) for n in PRIORITY + ("qemu",)))


def require(backend: str, capability: str, field: str) -> None:
    """Fail before anything runs when the backend cannot serve a request."""
    if CAPABILITIES[backend].get(capability):
        return
    able = [n for n, caps in CAPABILITIES.items() if caps.get(capability)]
    raise MvmError("%s: backend %s cannot do %s; use one of %s" % (field, backend, capability, ", ".join(able)))


def summary(facts: Mapping[str, Any], requested: str = "auto") -> Dict[str, Any]:
    """The backend section of the facts: chosen, reason, every backend's availability."""
    table = availability(facts)
    try:
        chosen, reason = select(facts, requested)
    except MvmError as exc:
        chosen, reason = None, str(exc)
    return {"chosen": chosen, "reason": reason, "requested": requested, "backends": table,
            "capabilities": CAPABILITIES}
