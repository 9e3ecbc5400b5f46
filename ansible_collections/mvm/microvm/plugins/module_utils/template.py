# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Template snapshots: boot a builder VM once, snapshot it, remove the builder.

Instances then start from the snapshot (`vm` with `snapshot: NAME`), each with its own disk copy,
TAP, address and sockets. A template that exists is left as it is: the builder boots only once.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import network, registry, snapshot, spec, validate, vm
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote

VM_KEYS = ("backend", "image", "kernel", "initrd", "rootfs", "memory", "cpus", "kernel_args", "network",
           "boot_timeout", "state_root", "firecracker")
TEMPLATE_DEFAULTS = dict({k: None for k in VM_KEYS}, name=None, state="present", backend="auto")


def builder_name(name: str) -> str:
    return ("tpl-" + name)[:64]


def template_params(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Validated template parameters (the builder VM's spec is validated by the VM's own rules)."""
    p = validate.options(params, TEMPLATE_DEFAULTS)
    p["name"] = validate.name("name", p["name"])
    p["state"] = validate.choice("state", p["state"], ("present", "absent"))
    # The builder VM's rules check every VM option; the removal path uses the state root too.
    p["state_root"] = validate.abs_path("state_root", p.get("state_root"), optional=True)
    if p["state"] == "present":
        spec.vm_spec(builder_params(p))
    return p


def builder_params(p: Mapping[str, Any]) -> Dict[str, Any]:
    return dict({k: p.get(k) for k in VM_KEYS}, name=builder_name(p["name"]), state="running")


def plan_template(p: Mapping[str, Any], facts: Mapping[str, Any], shas: Optional[Mapping[str, str]] = None) -> Plan:
    root = facts["state_root"]
    name = p["name"]
    if p["state"] == "absent":
        return snapshot.plan_snapshot(snapshot.SnapshotSpec(name, None, "absent", True, p.get("state_root")), facts)
    existing = facts["snapshots"].get(name)
    if existing:
        plan = Plan(before={"snapshot": existing}, after={"snapshot": existing})
        plan.result = {"name": name, "state": "present", "dir": snapshot.snapshot_dir(root, name)}
        return plan
    builder = spec.vm_spec(builder_params(p))
    plan = vm.plan_vm(builder, facts, shas)
    applied = plan.after["spec"]
    registry.require(applied["backend"], "snapshots", "backend")
    directory = vm.vm_dir(facts, builder.name)
    driver = registry.get(applied["backend"])
    # The builder as the facts will list it once its steps ran: running, in its own directory.
    builder_vm = {"name": builder.name, "dir": directory, "applied": applied, "state": "running"}
    meta = driver.save(plan, name, builder_vm, snapshot.snapshot_dir(root, name), was_running=True, resume=False)
    driver.discard(plan, directory, applied)
    net = applied.get("network")
    if net:
        plan.add("delete TAP %s" % net["tap"], "ip link del %s 2>/dev/null; true" % quote(net["tap"]))
        plan.add("release %s on %s" % (net["ip"], net["name"]), "rm -f %s" % quote(
            network.lease_path(root, net["name"], builder.name)))
    plan.add("remove state directory %s" % directory, "rm -rf %s && { rmdir %s 2>/dev/null; true; }" % (
        quote(directory), quote(root + "/vms")))
    plan.before = {"snapshot": None}
    plan.after = {"snapshot": meta}
    plan.result = {"name": name, "state": "present", "dir": snapshot.snapshot_dir(root, name)}
    return plan
