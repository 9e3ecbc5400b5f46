# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend selection: DESIGN.md's table, decided here from what each driver says about this host."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
from typing import Any, Dict, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import registry
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

PRIORITY = registry.PRIORITY
CAPABILITIES = registry.CAPABILITIES
INSTALL_HINT = {d.name: d.install_hint for d in registry.DRIVERS}
require = registry.require


def availability(facts: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Every backend with available yes/no and, when no, why not."""
    table = {}  # type: Dict[str, Dict[str, Any]]
    for driver in registry.DRIVERS:
        why_not = driver.why_not(facts)
        table[driver.name] = {"available": not why_not, "why_not": "; ".join(why_not),
                              "capabilities": CAPABILITIES[driver.name]}
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
    for name in registry.FALLBACK:
        if table[name]["available"]:
            return name, ("none of %s fits (%s); %s is installed, so %s is used"
                          % (", ".join(PRIORITY), "; ".join("%s: %s" % (n, table[n]["why_not"]) for n in PRIORITY),
                             "qemu-system" if name == "qemu" else name, name))
    raise MvmError("no backend fits this host. " + "; ".join(
        "%s: %s (needs %s)" % (n, table[n]["why_not"], INSTALL_HINT[n]) for n in PRIORITY + registry.FALLBACK))


# The backends whose programs a host's provisioning installs (the host role: Debian's QEMU packages, Firecracker's
# release); the others need what a package list does not give (a running Docker daemon, macOS, Lima).
INSTALLABLE = ("firecracker", "qemu")


def prepare(facts: Mapping[str, Any], requested: str = "auto") -> Optional[str]:
    """The backend to provision this host for: the one asked for, or the one `auto` picks once the installable
    backends' programs are there. On a fresh host nothing is chosen yet; a host with QEMU but usable KVM is to get
    Firecracker. None where even that leaves nothing (say, macOS without Lima)."""
    if requested != "auto":
        return requested
    ready = copy.deepcopy(dict(facts))
    for driver in registry.DRIVERS:
        if driver.name in INSTALLABLE:
            for tool in driver.probe_tools:
                ready["tools"][tool] = dict(ready["tools"].get(tool) or {}, present=True)
    try:
        return select(ready)[0]
    except MvmError:
        return None


def summary(facts: Mapping[str, Any], requested: str = "auto") -> Dict[str, Any]:
    """The backend section of the facts: chosen, reason, every backend's availability, and the backend to
    provision the host for (prepare)."""
    table = availability(facts)
    try:
        chosen, reason = select(facts, requested)
    except MvmError as exc:
        chosen, reason = None, str(exc)
    return {"chosen": chosen, "reason": reason, "requested": requested, "backends": table,
            "prepare": prepare(facts, requested), "capabilities": CAPABILITIES}
