# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security posture (the seed's mvm-security): the host and each VM as checks, each with ok, why and fix.

The checks read the facts only. `production: true` on a VM turns the checks a VM is started with (jailer,
a VMM not running as root, a distinct uid) into refusals, before anything runs.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError

UID_BASE = 10000  # jailed VMs get uids from here on, one per VM (as mvmctl allocates them)
VMM_BACKENDS = ("qemu", "firecracker")


def _check(name: str, ok: bool, why: str, fix: str = "") -> Dict[str, Any]:
    return {"name": name, "ok": bool(ok), "why": why, "fix": "" if ok else fix}


def _mode(text: Optional[str]) -> Optional[int]:
    try:
        return int(str(text).split()[0], 8)
    except (ValueError, IndexError):
        return None


def host_checks(facts: Mapping[str, Any]) -> List[Dict[str, Any]]:
    kvm_mode = _mode(facts.get("kvm_mode"))
    root_mode = _mode(facts.get("state_root_mode"))
    jailer = bool(facts["tools"].get("jailer", {}).get("present"))
    found = [
        _check("kvm device permissions", kvm_mode is None or not kvm_mode & 0o007,
               "/dev/kvm is absent" if kvm_mode is None else "/dev/kvm is %s" % facts.get("kvm_mode"),
               "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (a udev rule keeps it so)"),
        _check("state root mode", root_mode is None or root_mode in (0o700, 0o711),
               "%s does not exist yet" % facts["state_root"] if root_mode is None
               else "%s is %o" % (facts["state_root"], root_mode),
               "chmod 0711 %s" % facts["state_root"]),
        _check("jailer installed", jailer,
               "the jailer is at %s" % facts["tools"]["jailer"]["path"] if jailer else "no jailer binary on PATH",
               "install Firecracker's release with mvm.microvm.firecracker_install (it ships the jailer)"),
    ]
    bridges = facts.get("network", {}).get("health", {}).get("bridges", {})
    unhealthy = sorted(n for n, b in bridges.items() if b.get("nat") and not b.get("nat_ok"))
    found.append(_check("firewall isolation", not unhealthy,
                        "every NAT bridge has exactly its rules" if not unhealthy
                        else "NAT rules missing or extra on %s" % ", ".join(unhealthy),
                        "run the bridge operation again for %s" % ", ".join(unhealthy)))
    return found


def vm_checks(name: str, vm: Mapping[str, Any], all_vms: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Checks of one VM as it runs (or would run, for a planned applied spec in `vm["applied"]`)."""
    applied = vm.get("applied") or {}
    backend = applied.get("backend")
    fc = applied.get("firecracker") or {}
    jailed = backend == "firecracker" and bool(fc.get("jailer"))
    uid = fc.get("uid") if jailed else 0
    vmm_uid = vm.get("vmm_uid")
    as_root = (vmm_uid == 0) if vmm_uid is not None else not (jailed and uid)
    others = sorted(n for n, v in all_vms.items() if n != name
                    and ((v.get("applied") or {}).get("firecracker") or {}).get("uid") == uid and jailed)
    modes = vm.get("modes") or {}
    loose = sorted(f for f, m in modes.items() if m & 0o077)
    found = [
        _check("jailer", jailed, "jailed by Firecracker's jailer (chroot, namespaces, cgroup)" if jailed
               else "%s runs without a jailer" % (backend or "the VMM"),
               "backend: firecracker with firecracker: {jailer: true} (the default where the jailer is installed)"),
        _check("vmm not root", not as_root, "the VMM runs as uid %s" % (vmm_uid if vmm_uid is not None else uid),
               "run it jailed under its own uid (firecracker: {jailer: true}); QEMU VMs run as root under mvm"),
        _check("distinct uid", jailed and bool(uid) and not others,
               "uid %s%s" % (uid, ", shared with %s" % ", ".join(others) if others else ""),
               "leave firecracker.uid unset: mvm gives each jailed VM its own uid from %d" % UID_BASE),
        _check("seccomp", backend in VMM_BACKENDS,
               ("Firecracker's %s filter" % ("default" if not fc.get("seccomp_filter") else "custom"))
               if backend == "firecracker" else "QEMU's -sandbox (obsolete, elevateprivileges, resourcecontrol denied)",
               "use Firecracker's default filter (leave seccomp_filter unset)"),
        _check("cgroup limits", jailed, "the jailer's cgroup (v%s)" % fc.get("cgroup_version", 2) if jailed
               else "no cgroup of its own", "run it jailed (the jailer puts each VM in its own cgroup)"),
        _check("file modes", not loose, "disk, logs and sockets are the owner's alone" if not loose
               else "readable by others: %s" % ", ".join(loose), "chmod 0600 in the VM's directory (mvm's umask does)"),
    ]
    return found


def report(facts: Mapping[str, Any]) -> Dict[str, Any]:
    """{"host": [checks], "vms": {name: [checks]}, "all_ok": bool} for the facts' host and VMMs."""
    vms = {n: v for n, v in facts["vms"].items() if (v.get("applied") or {}).get("backend") in VMM_BACKENDS}
    host = host_checks(facts)
    per_vm = {n: vm_checks(n, v, vms) for n, v in sorted(vms.items())}
    return {"host": host, "vms": per_vm,
            "all_ok": all(c["ok"] for c in host) and all(c["ok"] for cs in per_vm.values() for c in cs)}


PRODUCTION = ("jailer", "vmm not root", "distinct uid")


def refuse_unsafe(name: str, applied: Mapping[str, Any], facts: Mapping[str, Any]) -> None:
    """`production: true`: a VM that would start unjailed, as root or with a shared uid is refused, naming
    the check and its fix."""
    for check in vm_checks(name, {"applied": applied}, {n: v for n, v in facts["vms"].items() if n != name}):
        if check["name"] in PRODUCTION and not check["ok"]:
            raise SpecError("production", "check %r fails for %s: %s; %s" % (
                check["name"], name, check["why"], check["fix"]))


def allocate_uid(name: str, facts: Mapping[str, Any], base: int = UID_BASE) -> int:
    """The uid a jailed VM runs as: the one it was started with, else the lowest from `base` no VM uses."""
    current = ((facts["vms"].get(name) or {}).get("applied") or {}).get("firecracker") or {}
    if current.get("uid"):
        return int(current["uid"])
    taken = {((v.get("applied") or {}).get("firecracker") or {}).get("uid") for n, v in facts["vms"].items()
             if n != name}
    uid = base
    while uid in taken:
        uid += 1
    return uid
