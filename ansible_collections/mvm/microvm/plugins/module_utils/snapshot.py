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

import json
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import backends, firecracker, qemu, validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote

SNAPSHOT_FORMAT = 1
MEMORY_FILE = "memory.bin"
DISK_FILE = "disk.ext4"
# Fields a restored VM must share with the snapshot, as the user calls them.
MUST_MATCH = (("memory_mib", "memory"), ("cpus", "cpus"), ("arch", "arch"), ("backend", "backend"),
              ("kernel", "kernel"), ("initrd", "initrd"), ("image_id", "image"), ("kernel_args", "kernel_args"))

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


def snapshot_dir(state_root: str, name: str) -> str:
    return "%s/snapshots/%s" % (state_root, name)


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
    applied = vm["applied"] or {}
    backend = applied.get("backend", "unknown")
    if backend not in backends.CAPABILITIES or not backends.CAPABILITIES[backend]["snapshots"]:
        backends.require(backend if backend in backends.CAPABILITIES else "docker", "snapshots", "vm")
    if backend == "firecracker":
        meta = firecracker_save_steps(plan, spec.name, str(spec.vm), vm["dir"], applied, directory,
                                      was_running=vm["state"] == "running", resume=spec.resume)
    else:
        meta = save_steps(plan, spec.name, str(spec.vm), vm["dir"], applied, directory)
        if spec.resume and vm["state"] == "running":
            plan.add("resume %s" % spec.vm, qemu.resume_command(vm["dir"]))
    plan.after = {"snapshot": meta}
    return plan


def firecracker_save_steps(plan: Plan, name: str, vm_name: str, vm_dir: str, applied: Mapping[str, Any],
                          directory: str, was_running: bool, resume: bool) -> Dict[str, Any]:
    """Firecracker: pause, /snapshot/create, the disk, metadata, publish, resume (when it ran and `resume`)."""
    tmp = directory + ".tmp"
    opts = firecracker.options_from_applied(applied)
    meta = {"format": SNAPSHOT_FORMAT, "name": name, "vm": vm_name, "backend": "firecracker",
            "applied": dict(applied), "memory_mib": applied.get("memory_mib"), "cpus": applied.get("cpus"),
            "image_id": applied.get("image_id"), "boot_args": firecracker.boot_args(applied, opts),
            "snapshot_type": opts.snapshot_type}
    plan.add("prepare %s" % tmp, "rm -rf %s && mkdir -p %s" % (quote(tmp), quote(tmp)))
    for description, command in firecracker.snapshot_steps(applied, vm_dir, tmp, opts.snapshot_type, was_running):
        plan.add(description, command)
    plan.add("copy the disk of %s" % vm_name, "cp --sparse=always %s %s" % (
        quote(vm_dir + "/disk.ext4"), quote(tmp + "/" + DISK_FILE)))
    plan.add("write snapshot metadata", join(["python3", "-c", _METADATA, tmp, json.dumps(meta, sort_keys=True)]))
    plan.add("publish snapshot %s" % name, "mkdir -p %s && mv %s %s" % (
        quote(directory.rsplit("/", 1)[0]), quote(tmp), quote(directory)))
    if resume and was_running:
        sock = firecracker.layout(vm_dir, applied, opts)["socket"]
        plan.add("resume %s" % vm_name, firecracker.curl(sock, firecracker.resume_call()))
    return meta


def save_steps(plan: Plan, name: str, vm_name: str, vm_dir: str, applied: Mapping[str, Any],
               directory: str) -> Dict[str, Any]:
    """Save a QEMU VM's state and disk into `directory` (published whole, by rename). Returns the metadata."""
    tmp = directory + ".tmp"
    backend = applied.get("backend")
    meta = {"format": SNAPSHOT_FORMAT, "name": name, "vm": vm_name, "backend": backend, "applied": dict(applied),
            "memory_mib": applied.get("memory_mib"), "cpus": applied.get("cpus"),
            "image_id": applied.get("image_id"), "boot_args": qemu.cmdline(applied)}
    plan.add("prepare %s" % tmp, "rm -rf %s && mkdir -p %s" % (quote(tmp), quote(tmp)))
    plan.add("save the state of %s" % vm_name, qemu.save_command(vm_dir, tmp + "/" + MEMORY_FILE))
    plan.add("copy the disk of %s" % vm_name, "cp --sparse=always %s %s" % (
        quote(qemu.files(vm_dir)["disk"]), quote(tmp + "/" + DISK_FILE)))
    plan.add("write snapshot metadata", join(["python3", "-c", _METADATA, tmp, json.dumps(meta, sort_keys=True)]))
    plan.add("publish snapshot %s" % name, "mkdir -p %s && mv %s %s" % (
        quote(directory.rsplit("/", 1)[0]), quote(tmp), quote(directory)))
    return meta


def check_compatible(snapshot: Mapping[str, Any], applied: Mapping[str, Any]) -> None:
    """A VM restored from a snapshot must have the machine the snapshot was taken of."""
    source = snapshot.get("applied") or {}
    for key, field in MUST_MATCH:
        if source.get(key) != applied.get(key):
            raise SpecError(field, "snapshot %s was taken with %s=%r; this VM asks for %r (restore needs the same)"
                            % (snapshot.get("name"), key, source.get(key), applied.get(key)))
    if source.get("backend") == "firecracker":
        # The device state holds the paths the VMM saw: in-chroot ones when jailed, host ones when not.
        was, now = source.get("firecracker") or {}, applied.get("firecracker") or {}
        if bool(was.get("jailer")) != bool(now.get("jailer")):
            raise SpecError("firecracker.jailer", "snapshot %s was taken of a %s VM; this VM is %s (restore needs the same)"
                            % (snapshot.get("name"), "jailed" if was.get("jailer") else "unjailed",
                               "jailed" if now.get("jailer") else "unjailed"))
        if not now.get("api", True):
            raise SpecError("firecracker.api", "a snapshot is loaded through the API socket, which api: false turns off")
    if bool(source.get("network")) != bool(applied.get("network")):
        raise SpecError("network", "snapshot %s was taken %s a network device; this VM %s one"
                        % (snapshot.get("name"), "with" if source.get("network") else "without",
                           "has" if applied.get("network") else "has not"))
