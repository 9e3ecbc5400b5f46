# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The microVM planner: desired VmSpec + host facts -> ordered steps, diff and result.

What every backend shares is decided here (backend selection, capability refusals, the applied record, drift,
the disk-replacement guard, removal of a VM's directory and rules); the steps of one backend come from its
driver (see registry and driver).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import (
    autostart,
    backends,
    firewall,
    image,
    network,
    registry,
    security,
    vm_steps,
    volume,
    workload,
)
from ansible_collections.mvm.microvm.plugins.module_utils.driver import Driver
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote
from ansible_collections.mvm.microvm.plugins.module_utils.spec import VmSpec

APPLIED_FORMAT = 1
# Fields whose change means the running VM is not the one asked for.
DRIFT_FIELDS = ("backend", "arch", "memory_mib", "cpus", "kernel", "initrd", "rootfs", "image",
                "image_id", "kernel_args", "hostname", "network", "firecracker", "workload",
                "volumes", "disk_size_mib", "autostart")
# Of those, the ones whose change means another disk (a new copy of another image): such a change is applied
# only with recreate: true. The others restart the VM on the disk it has.
DISK_FIELDS = ("backend", "arch", "rootfs", "image", "image_id")
# Image files a backend may take instead of the kernel/rootfs pair (see Driver.resolve).
ARTIFACT_KEYS = ("rootfs_tar", "oci", "vmlinux")
MAX_SOCKET_PATH = vm_steps.MAX_SOCKET_PATH
vm_dir = vm_steps.vm_dir


def driver_of(backend: str) -> Driver:
    """The driver of a recorded VM; one whose spec cannot be read is treated as a VMM (qemu's removal checks
    that the pid is a VMM's before anything is signalled)."""
    return registry.get(backend if backend in registry.BACKENDS else "qemu")


def is_container(backend: Optional[str]) -> bool:
    return bool(backend in registry.BACKENDS and registry.get(str(backend)).container)


def explicit_paths(spec: VmSpec) -> list:
    """User-given files the host must have; checked by the paths probe before planning."""
    return [p for p in (spec.kernel, spec.initrd, spec.rootfs) if p] + workload.host_paths(spec.workload)


def _resolve_image(spec: VmSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Dict[str, Any]:
    """kernel/initrd/rootfs and image id, from an image name or the explicit paths."""
    if spec.image is None:
        for field in ("kernel", "initrd", "rootfs"):
            path = getattr(spec, field)
            if path and path not in shas:
                raise SpecError(field, "file not found on the host: %s" % path)
        return {"kernel": spec.kernel, "initrd": spec.initrd, "rootfs": spec.rootfs, "image_id": None}
    found = facts["images"].get(spec.image)
    if found and found["complete"]:
        ident, with_initrd = found["id"], bool(found["manifest"].get("initrd"))
    else:
        raise SpecError("image", "no image named %r under %s/images; build it first with the rootfs "
                                 "operation (mvm.microvm.rootfs)" % (spec.image, facts["state_root"]))
    fmt = found["manifest"].get("rootfs_format") or "ext4"
    resolved = image.paths(facts["state_root"], spec.image, with_initrd, fmt)
    resolved["image_id"] = ident
    if fmt != "ext4":  # recorded only when not the default, so the records of older VMs stay as they were
        resolved["root_format"] = fmt
    if found["manifest"].get("kernel_source") == "mvm":  # likewise: boots with no initrd, straight into /init
        resolved["kernel_source"] = "mvm"
    return resolved


def desired_applied(spec: VmSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Dict[str, Any]:
    """The record written to spec.json: what the VM runs with, in resolved form."""
    backend, _reason = backends.select(facts, spec.backend)
    driver = registry.get(backend)
    if driver.wraps:
        raise MvmError("backend %s was selected (%s), but this operation drives only %s so far; set backend: qemu"
                       % (backend, _reason, ", ".join(d.name for d in registry.DRIVERS if not d.wraps)))
    # What the backend cannot do fails here, naming a backend that can, before anything else is looked up.
    for wanted, capability, field in ((spec.network, "tap", "network"), (spec.snapshot, "snapshots", "snapshot"),
                                      (spec.state == "paused", "pause", "state"),
                                      (spec.workload.given, "workload", _workload_field(spec.workload)),
                                      (spec.volumes, "volumes", "volumes"), (spec.disk_size_mib, "disks", "disk_size"),
                                      (spec.autostart, "autostart", "autostart")):
        if wanted:
            registry.require(backend, capability, field)
    arch = facts["platform"]["arch"]
    applied = {
        "format": APPLIED_FORMAT,
        "name": spec.name,
        "backend": backend,
        "arch": "aarch64" if arch == "arm64" else arch,
        "accel": "kvm" if facts["kvm"]["usable"] else "tcg",
        "memory_mib": spec.memory_mib,
        "cpus": spec.cpus,
        "image": spec.image,
        "kernel_args": spec.kernel_args,
        "hostname": spec.hostname,
        "tsc_khz": None,
    }
    applied.update(_resolve_image(spec, facts, shas))
    if applied.get("root_format") == "squashfs" and not driver.container:
        registry.require(backend, "disks", "image")  # a shared read-only root with the VM's own overlay disk
    artifacts = {k: applied.pop(k, None) for k in ARTIFACT_KEYS}  # type: Dict[str, Any]
    driver.resolve(spec, facts, applied, artifacts)
    applied["network"] = _resolve_network(spec, facts) if spec.network else None
    applied["ports"] = [str(p) for p in spec.ports]
    found = facts["images"].get(spec.image) if spec.image else None
    running = workload.resolve(spec.workload, workload.image_defaults((found or {}).get("manifest")), shas)
    if running:  # an image's own command needs a backend that runs it as much as the user's does
        registry.require(backend, "workload", "image")
        applied["workload"] = running  # absent when there is none: the records of VMs without one stay as they were
    # Likewise absent unless asked for.
    if spec.volumes:
        volume.check_free(facts, spec.name, spec.volumes)
        applied["volumes"] = volume.record(spec.volumes)
    if spec.disk_size_mib:
        applied["disk_size_mib"] = spec.disk_size_mib
    if spec.autostart:
        autostart.check_host(facts, driver.container)
        applied["autostart"] = True
    if spec.labels:
        applied["labels"] = dict(spec.labels)
    if spec.production:
        security.refuse_unsafe(spec.name, applied, facts)
    return applied


def _keep_disk_size(spec: VmSpec, applied: Dict[str, Any], current: Optional[Mapping[str, Any]]) -> None:
    """A root disk grows and never shrinks: without disk_size a grown disk keeps its size; a smaller one is refused
    (a new disk, with recreate, may be any size)."""
    old = ((current or {}).get("applied") or {}).get("disk_size_mib")
    if not old or spec.recreate:
        return
    if spec.disk_size_mib is None:
        applied["disk_size_mib"] = old
    elif spec.disk_size_mib < old:
        raise SpecError("disk_size", "the VM's disk was grown to %d MiB and a disk never shrinks; ask for %d MiB or "
                                     "more (or recreate: true for a new disk)" % (old, old))


def _workload_field(w: workload.Workload) -> str:
    """The first workload option given, to name in a refusal."""
    return next((n for n in workload.OPTION_NAMES if getattr(w, n) not in (None, (), "no")), "command")


def _resolve_network(spec: VmSpec, facts: Mapping[str, Any]) -> Dict[str, Any]:
    """Address, MAC and TAP of the VM on its network (its lease, or the next free one)."""
    record = facts["networks"].get(spec.network)
    if not record:
        raise SpecError("network", "no network named %s under %s/networks; create it first with mvm.microvm.bridge"
                        % (spec.network, facts["state_root"]))
    lease = network.lease_for(facts, str(spec.network), record, spec.name)
    return {"name": spec.network, "ip": lease["ip"], "prefix": record["prefix"], "gateway": record["gateway"],
            "mac": lease["mac"], "tap": spec.tap or lease["tap"], "slot": lease["slot"]}


def drift(before: Optional[Mapping[str, Any]], after: Mapping[str, Any]) -> Dict[str, Any]:
    """Changed fields as {field: {before, after}}. A container publishes its ports itself (`-p`), so on the
    container backends a ports change replaces the container; VM backends publish through firewall rules, which
    change without a restart."""
    before = before or {}
    fields = DRIFT_FIELDS + (("ports",) if is_container(after.get("backend")) else ())
    return {k: {"before": before.get(k), "after": after.get(k)}
            for k in fields if before.get(k) != after.get(k)}


def plan_vm(spec: VmSpec, facts: Mapping[str, Any], shas: Optional[Mapping[str, str]] = None) -> Plan:
    """Desired VM + facts (as the operations before it leave them: see ops.fold) -> Plan. Every refusal happens
    here, before a step exists."""
    shas = shas or {}
    directory = vm_dir(facts, spec.name)
    if len(directory) + len("/qmp.sock") > MAX_SOCKET_PATH:
        # Blame the name when a one-letter name would fit under this state root.
        field = "state_root" if len(vm_dir(facts, "x")) + len("/qmp.sock") > MAX_SOCKET_PATH else "name"
        raise SpecError(field, "too long: the VM's socket path would pass %d bytes (%s)" % (MAX_SOCKET_PATH, directory))
    current = facts["vms"].get(spec.name)
    plan = Plan()
    plan.before = {"state": current["state"], "spec": current["applied"]} if current else {"state": "absent"}
    result = {"name": spec.name, "dir": directory, "console_log": vm_steps.files(directory)["console"]}

    if spec.state == "absent":
        plan.after = {"state": "absent"}
        if current:
            gone = driver_of(current["backend"])
            gone.remove(plan, facts, current)
            if not gone.container:  # a container holds all of its state; a VM has a directory and rules
                firewall.remove_owned(plan, facts, firewall.owner(facts, "vm", spec.name))
                plan.add("remove state directory %s" % directory, "rm -rf %s && rmdir %s 2>/dev/null; true" % (
                    quote(directory), quote(facts["state_root"] + "/vms")))
        plan.result = dict(result, state="absent", backend=current["backend"] if current else None, pid=None)
        return plan

    applied = desired_applied(spec, facts, shas)
    driver = registry.get(applied["backend"])
    _keep_disk_size(spec, applied, current)
    changes = drift(current["applied"], applied) if current else {}
    replacing = sorted(k for k in changes if k in DISK_FIELDS or driver.container)
    # A VM whose spec was never recorded was never started (a run stopped half-way): its disk holds nothing yet.
    if replacing and not spec.recreate and vm_steps.recorded(current):
        # The guest's disk holds the user's data: replacing it is never a side effect of a converge.
        plan.after = plan.before
        plan.result = dict(result, state=current["state"], backend=current["backend"], pid=current["pid"],
                           changes={}, pending=changes)
        plan.warnings.append("%s: %s changed; applying it replaces the VM's disk, so nothing was done "
                             "(set recreate: true to replace it, or state: absent first)" % (
                                 spec.name, ", ".join(replacing)))
        return plan
    plan.after = {"state": spec.state, "spec": applied}
    plan.result = dict(result, state=spec.state, backend=applied["backend"], pid=None, changes=changes)
    plan.result["accel"] = applied["accel"]
    if applied["accel"] == "tcg":
        plan.warnings.append("KVM is not usable (%s): %s runs under TCG emulation, which is slow"
                             % (facts["kvm"]["reason"], spec.name))
    if applied["network"]:
        plan.result["ip"] = applied["network"]["ip"]
    elif spec.ports and not driver.container:
        raise SpecError("ports", "publishing ports of a %s VM needs network: BRIDGE (ports reach it through its TAP)"
                        % applied["backend"])
    return driver.plan(plan, spec, facts, applied, current, changes)
