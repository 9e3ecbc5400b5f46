# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM as its users look at it: one record shape for the vm_info module, the inventory plugin and pyinfra's
MvmVmInfo fact, made from the host probe's facts."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import docker_backend
from ansible_collections.mvm.microvm.plugins.module_utils.shell import quote

CONSOLE_LINES = 20


def describe(vm: Mapping[str, Any], vm_host: Optional[str] = None) -> Dict[str, Any]:
    """name, backend, state, ready, pid, address, network, image, ports, labels, health with the check's last exit
    code and output."""
    applied = vm.get("applied") or {}
    net = applied.get("network") or {}
    health = vm.get("health") or {}
    return {
        "name": vm["name"],
        "vm_host": vm_host,
        "backend": vm.get("backend"),
        "state": vm.get("state"),
        "ready": bool(vm.get("ready")),
        "pid": vm.get("pid"),
        "address": net.get("ip") or vm.get("address"),
        "network": net.get("name"),
        "image": applied.get("image"),
        "ports": list(applied.get("ports") or []),
        "labels": dict(applied.get("labels") or {}),
        "health": health.get("status"),
        "health_exit_code": health.get("exit_code"),
        "health_output": health.get("output") or "",
        "console_log": "%s/console.log" % vm["dir"] if vm.get("dir") else None,
    }


def console_command(record: Mapping[str, Any], lines: int) -> str:
    """What prints the last lines of a VM's console: its log file, or `docker logs` for a container."""
    n = int(lines)
    if record.get("console_log"):
        return "tail -n %d %s 2>/dev/null || true" % (n, quote(record["console_log"]))
    return "docker logs --tail %d %s 2>&1 || true" % (n, quote(docker_backend.container(record["name"])))


def records(vms: Mapping[str, Mapping[str, Any]], name: Optional[str] = None,
            vm_host: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every VM (or the one named), by name."""
    return [describe(vm, vm_host) for key, vm in sorted(vms.items()) if name is None or key == name]
