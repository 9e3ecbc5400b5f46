# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The doctor: the facts as a list of checks, each marked as needed or not by the chosen backend."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import backends, image, registry
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

MIN_FREE_MIB = 1024
IMAGE_TOOLS = tuple(image.HOST_TOOLS)
IMAGE_PACKAGES = " ".join(image.HOST_TOOLS.values())
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
         "missing: %s (Debian: %s)" % (", ".join(image_missing), IMAGE_PACKAGES) if image_missing
         else ", ".join(IMAGE_TOOLS)),
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


def _apt(package: str) -> str:
    return "apt-get install " + package


def fix(name: str, facts: Mapping[str, Any], backend: Optional[str]) -> str:
    """The command that makes a failing check pass (Debian's packages on Linux, Homebrew on macOS): what the
    user runs, not a description of the condition."""
    mac = facts["platform"]["kind"] == "macos"
    arm = facts["platform"]["arch"] in ("aarch64", "arm64")
    kvm = facts["kvm"]
    if name == "backend":
        return fix(_first_missing(facts, backend), facts, backend) if backend else "mvm-doctor --backend qemu"
    if name == "kvm present":
        return "modprobe kvm_intel || modprobe kvm_amd  # on a VM: enable nested virtualisation in its hypervisor"
    if name == "kvm usable":
        if kvm["present"] and not kvm["rw"]:
            return "usermod -aG kvm \"$USER\"  # then log in again"
        return "use a host with kvm_intel or kvm_amd, or: mvm-doctor --backend qemu  # TCG, slower"
    if name in ("firecracker", "jailer"):
        return "ansible localhost -m mvm.microvm.firecracker_install  # or mvm_pyinfra's firecracker_install"
    if name == "qemu":
        return "brew install qemu" if mac else _apt("qemu-system-arm" if arm else "qemu-system-x86")
    if name == "python3":
        return "brew install python" if mac else _apt("python3")
    if name == "setsid":
        return _apt("util-linux")
    if name == "image tools":
        return _apt(IMAGE_PACKAGES)
    if name == "docker daemon":
        if facts["docker"]["client"]:
            return "systemctl start docker"
        return "brew install --cask docker" if mac else _apt("docker.io")
    if name == "limactl":
        return "brew install lima" if mac else "see https://lima-vm.io/docs/installation/"
    if name == "container":
        return "install the package from https://github.com/apple/container/releases"
    if name == "container service":
        return "container system start"
    if name == "ip":
        return _apt("iproute2")
    if name == "firewall":
        return _apt("iptables")
    if name == "state root disk":
        return "free %d MiB under %s" % (MIN_FREE_MIB, facts["state_root"])
    return ""


def _first_missing(facts: Mapping[str, Any], backend: str) -> str:
    """The first check the backend needs that fails (its fix is the backend's)."""
    found = [c for c in checks(facts, backend, "") if c["name"] in NEEDS.get(backend, ()) and not c["ok"]]
    return found[0]["name"] if found else ""


def report(facts: Mapping[str, Any], requested: str = "auto") -> Dict[str, Any]:
    """{"backend", "checks", "all_ok", "table"}: all_ok covers the checks the backend needs, each check has the
    command that fixes it. A requested backend is the one answered about, available here or not (then its
    backend check fails, saying why and what it needs), so `mvm-doctor --backend firecracker` is about
    Firecracker on any host."""
    if requested != "auto":
        entry = backends.availability(facts)[requested]
        chosen = requested  # type: Optional[str]
        ok = bool(entry["available"])
        reason = "requested" if ok else "not available here: %s. It needs %s" % (
            entry["why_not"], backends.INSTALL_HINT[requested])
    else:
        try:
            chosen, reason = backends.select(facts, requested)
            ok = True
        except MvmError as exc:
            chosen, reason, ok = None, str(exc), False
    found = checks(facts, chosen, reason)
    for check in found:
        if check["name"] == "backend":
            check["ok"] = ok
        check["fix"] = "" if check["ok"] else fix(check["name"], facts, chosen)
    if "security" in facts:  # the posture, as advice: needed only by VMs that ask for production
        found += [{"name": "security: " + c["name"], "category": "security", "ok": c["ok"], "info": c["why"],
                   "needed": False, "fix": c["fix"] or ""}
                  for c in facts["security"]["host"]]
    done = {"backend": chosen, "checks": found, "all_ok": all(c["ok"] for c in found if c["needed"])}  # type: Dict[str, Any]
    done["table"] = table(done)
    return done


def table(done: Mapping[str, Any]) -> List[str]:
    """The report as text lines: one row a check (check, ok, needed, why, the command that fixes it), the checks
    the backend needs first; then the verdict. mvm-doctor prints it; playbooks/doctor.yml shows it."""
    rows = [(c["name"], "ok" if c["ok"] else "FAIL", "needed" if c["needed"] else "-", c["info"], c.get("fix") or "")
            for c in sorted(done["checks"], key=lambda c: (not c["needed"], c["category"] == "security"))]
    head = ("check", "ok", "needed", "why (and the command that fixes it)", "")
    width = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    lines = ["%-*s  %-*s  %-*s  %s" % (width[0], head[0], width[1], head[1], width[2], head[2], head[3])]
    for name, ok, needed, why, how in rows:
        lines.append("%-*s  %-*s  %-*s  %s" % (width[0], name, width[1], ok, width[2], needed, why))
        if how:
            lines.append("%s  fix: %s" % (" " * (width[0] + width[1] + width[2] + 4), how))
    failing = [c["name"] for c in done["checks"] if c["needed"] and not c["ok"]]
    lines.append("backend %s: %s" % (done["backend"] or "none", "ready" if done["all_ok"] else
                                     "not ready (%s)" % ", ".join(failing)))
    return lines
