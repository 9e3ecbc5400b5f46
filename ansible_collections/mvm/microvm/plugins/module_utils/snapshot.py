# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots: a VM's memory and device state plus a copy of its disk, under <root>/snapshots/<name>.

QEMU: `stop`, `migrate` to a file, copy the disk, `cont`; restoring starts a VMM with `-incoming`
from that file and resumes it. A VM restored from a snapshot gets its own disk copy, TAP, lease and
sockets, and the guest agent tells the guest its new name, MAC and address.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import registry, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote
from ansible_collections.mvm.microvm.plugins.module_utils.vm_steps import snapshot_dir

SNAPSHOT_DEFAULTS = {"name": None, "vm": None, "state": "present", "resume": True, "state_root": None}

# Writes metadata.json with creation time and file sizes, known only once the files exist.
_METADATA = r"""import json,os,sys,time
d=sys.argv[1];m=json.loads(sys.argv[2])
m['created']=time.strftime('%Y-%m-%dT%H:%M:%SZ',time.gmtime())
m['sizes']={n:os.path.getsize(os.path.join(d,n)) for n in sorted(os.listdir(d)) if n!='metadata.json'}
open(os.path.join(d,'metadata.json'),'w').write(json.dumps(m,sort_keys=True,separators=(',',':')))
"""


@dataclass(frozen=True)
class SnapshotSpec:
    name: str
    vm: Optional[str]
    state: str
    resume: bool
    state_root: Optional[str]


def snapshot_spec(params: Mapping[str, Any]) -> SnapshotSpec:
    p = validate.options(params, SNAPSHOT_DEFAULTS)
    state = validate.choice("state", p["state"], ("present", "absent", "restored"))
    if state == "present" and not p["vm"]:
        raise SpecError("vm", "expected the name of the running VM to snapshot")
    resume = validate.boolean("resume", p["resume"])
    return SnapshotSpec(validate.name("name", p["name"]), validate.name("vm", p["vm"]) if p["vm"] else None,
                        state, resume, validate.abs_path("state_root", p["state_root"], optional=True))


def plan_snapshot(spec: SnapshotSpec, facts: Mapping[str, Any]) -> Plan:
    """present / absent. (`restored` is a VM started from the snapshot: see vm.plan_vm.)"""
    root = facts["state_root"]
    directory = snapshot_dir(root, spec.name)
    existing = facts["snapshots"].get(spec.name)
    plan = Plan()
    plan.before = {"snapshot": existing}
    if spec.state == "absent":
        if existing or spec.name in facts.get("snapshot_dirs", []):
            plan.add("remove snapshot %s" % spec.name, "rm -rf %s && { rmdir %s 2>/dev/null; true; }" % (
                quote(directory), quote(root + "/snapshots")))
        plan.after = {"snapshot": None}
        plan.result = {"name": spec.name, "state": "absent"}
        return plan
    plan.result = {"name": spec.name, "dir": directory, "state": "present", "vm": spec.vm}
    if existing:
        plan.after = plan.before
        return plan
    vm = facts["vms"].get(spec.vm or "")
    if not vm or not vm["pid"]:
        raise SpecError("vm", "VM %r is not running; a snapshot is taken of a running or paused VM" % (spec.vm,))
    backend = (vm["applied"] or {}).get("backend", "unknown")
    registry.require(backend, "snapshots", "vm")
    meta = registry.get(backend).save(plan, spec.name, vm, directory, was_running=vm["state"] == "running",
                                      resume=spec.resume)
    plan.after = {"snapshot": meta}
    return plan
