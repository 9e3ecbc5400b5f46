# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operations as both front-ends call them: parameters + a way to read facts -> spec and plan.

A front-end supplies `gather_host(state_root)` and `gather_paths(paths)` (Ansible runs the probes
with run_command, pyinfra through host.get_fact); everything else happens here, once.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import (
    backends,
    doctor,
    image,
    install,
    lima,
    lock,
    network,
    probe,
    security,
    snapshot,
    spec,
    template,
    trace,
    vm,
    volume,
)
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, Step

GatherHost = Callable[[Optional[str]], Dict[str, Any]]
GatherPaths = Callable[[Sequence[str]], Dict[str, str]]
# How a front-end reads facts inside a Lima instance: instance name -> (gather_host, gather_paths) there.
GatherIn = Callable[[str], Tuple[GatherHost, GatherPaths]]
# What the plans of earlier operations of the same run leave behind, in the facts' own shape: {kind: {name: fact
# or None (gone)}} for the kinds below. Both front-ends keep one per host (pyinfra for a deploy, Ansible across the
# tasks of a check-mode run) and every planner plans on the facts folded with it (see fold).
Pending = Mapping[str, Mapping[str, Any]]
# What one plan leaves behind: (kind, name, fact); fact None: the thing will be gone.
Promise = Optional[Tuple[str, str, Optional[Dict[str, Any]]]]
PENDING_KINDS = ("images", "networks", "snapshots")


def remember(pending: Dict[str, Dict[str, Any]], promise: Promise) -> None:
    """Fold one plan's facts-after into the record of the run."""
    if promise is None:
        return
    kind, name, fact = promise
    pending.setdefault(kind, {})[name] = fact


def _made_already(current: Any, planned: Mapping[str, Any]) -> bool:
    """A planned image the host already has, complete, under the same id."""
    return (isinstance(current, Mapping) and bool((planned.get("manifest") or {}).get("planned"))
            and current.get("id") == planned.get("id") and bool(current.get("complete")))


def fold(facts: Dict[str, Any], pending: Optional[Pending]) -> Dict[str, Any]:
    """The host's facts as the earlier plans of this run leave them. The probed facts are never changed (pyinfra
    caches them; a plan made again under its locks starts from them)."""
    if not pending or not any(pending.get(kind) for kind in PENDING_KINDS):
        return facts
    folded = dict(facts)
    for kind in PENDING_KINDS:
        changes = pending.get(kind) or {}
        if changes:
            section = copy.deepcopy(dict(facts[kind]))
            for name, fact in changes.items():
                if fact is None:
                    section.pop(name, None)
                elif _made_already(section.get(name), fact):
                    continue  # the host has it as planned: its own record says more (a bundle's kernel, ...)
                else:
                    section[name] = copy.deepcopy(fact)
            folded[kind] = section
    return folded


def _folding(gather_host: "GatherHost", pending: Optional[Pending]) -> "GatherHost":
    return lambda root: fold(gather_host(root), pending)


def _folding_in(gather_in: "Optional[GatherIn]", pending: Optional[Pending]) -> "Optional[GatherIn]":
    """The same inside a Lima instance (its facts are the ones the wrapped plan reads)."""
    if gather_in is None:
        return None
    inner = gather_in

    def folded(instance: str) -> Tuple["GatherHost", "GatherPaths"]:
        host, paths = inner(instance)
        return _folding(host, pending), paths
    return folded


def host_report(facts: Mapping[str, Any], requested: str = "auto") -> Dict[str, Any]:
    """The facts structure users see: the probe's findings, backend selection and the doctor's checks.

    A requested backend that cannot run here raises MvmError with the reason and what to install.
    """
    if requested != "auto":
        backends.select(facts, requested)
    report = dict(facts)
    report["network"] = dict(facts["network"], health=network.health(facts))
    report["backend"] = backends.summary(facts, requested)
    report["security"] = security.report(report)
    report["doctor"] = doctor.report(report, requested)
    return report


def vm_plan(params: Mapping[str, Any], gather_host: GatherHost, gather_paths: GatherPaths,
            gather_in: Optional[GatherIn] = None) -> Tuple[spec.VmSpec, Plan]:
    desired = spec.vm_spec(params)
    facts = gather_host(desired.state_root)
    if desired.backend == "lima" or (desired.backend == "auto" and backends.summary(facts)["chosen"] == "lima"):
        return desired, _lima_vm_plan(desired, facts, gather_in)
    wanted = vm.explicit_paths(desired) if desired.state != "absent" else []
    shas = gather_paths(wanted) if wanted else {}
    return desired, _locked(vm.plan_vm(desired, facts, shas), facts, lock.for_vm(desired))


def _locked(plan: Plan, facts: Mapping[str, Any], names: Sequence[str]) -> Plan:
    """A plan that changes something names the locks its run must hold (see lock)."""
    if plan.steps:
        plan.locks = lock.paths(facts["state_root"], names)
    return plan


def image_plan(params: Mapping[str, Any], gather_host: GatherHost,
               gather_paths: GatherPaths) -> Tuple[spec.ImageSpec, Plan, Optional[Dict[str, Any]]]:
    """Also returns the image as the facts will list it after the plan (None: gone)."""
    desired = spec.image_spec(params)
    facts = gather_host(desired.state_root)
    wanted = image.user_paths(desired, facts["state_root"]) if desired.state != "absent" else []
    shas = gather_paths(wanted) if wanted else {}
    desired = image.resolve(desired, facts, shas)
    exported = image.export_paths(desired, facts, shas)
    if exported:
        shas = dict(shas, **gather_paths(exported))
    plan = _locked(image.plan_image(desired, facts, shas), facts, ["images"])
    entry = image.planned_fact(desired, facts, shas) if desired.state == "present" else None
    return desired, plan, entry


def vms_specs(params: Mapping[str, Any]) -> list:
    """`vms` entries, each with the operation's other options (backend, image, state_root) as defaults."""
    common = {k: v for k, v in params.items() if k != "vms" and v is not None}
    for index, entry in enumerate(params.get("vms") or []):
        if isinstance(entry, Mapping) and entry.get("secrets"):
            # Ansible knows a secret only by an option marked no_log; inside a list of free-form entries it would
            # log it with the task's arguments. Secrets are the vm operation's.
            raise SpecError("vms[%d].secrets" % index,
                            "give secrets with mvm.microvm.vm (its secrets option is no_log), not in a vms entry")
    return [spec.vm_spec(dict(common, **{k: v for k, v in entry.items() if v is not None}))
            for entry in params.get("vms") or []]


def vms_plan(params: Mapping[str, Any], gather_host: GatherHost, gather_paths: GatherPaths) -> Tuple[list, Plan]:
    """Many VMs from one probe: a converged host costs one round trip whatever the number of VMs.

    Each VM is planned on the facts as the VMs before it leave them (leases taken), so two VMs never
    get the same address.
    """
    desired = vms_specs(params)
    roots = {d.state_root for d in desired}
    if len(roots) > 1:
        raise SpecError("state_root", "all VMs of one operation share a state root; got %s" % ", ".join(sorted(map(str, roots))))
    # Each VM lends its lease to the next one's plan: on a copy (the probed facts stay as the host is).
    facts = copy.deepcopy(gather_host(desired[0].state_root)) if desired else {}
    wanted = [p for d in desired if d.state != "absent" for p in vm.explicit_paths(d)]
    shas = gather_paths(wanted) if wanted else {}
    names = [d.name for d in desired]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise SpecError("vms", "a VM name appears more than once: %s" % ", ".join(twice))
    combined = Plan(before={}, after={})
    waits: List[Step] = []
    for d in desired:
        plan = vm.plan_vm(d, facts, shas)
        # Every VM is started before any is waited for: a VM's first wait and what follows it go last, in order.
        first = next((i for i, s in enumerate(plan.steps) if s.waits), len(plan.steps))
        combined.steps.extend(plan.steps[:first])
        waits.extend(plan.steps[first:])
        combined.warnings.extend(w for w in plan.warnings if w not in combined.warnings)
        combined.before[d.name] = plan.before
        combined.after[d.name] = plan.after
        combined.result[d.name] = plan.result
        combined.locks = sorted(set(combined.locks) | set(lock.paths(facts["state_root"], lock.for_vm(d))))
        net = ((plan.after or {}).get("spec") or {}).get("network")
        if net and net["name"] in facts["networks"]:
            facts["networks"][net["name"]]["leases"][d.name] = {
                k: net[k] for k in ("slot", "ip", "mac", "tap")}
    combined.steps.extend(waits)
    if not combined.steps:
        combined.locks = []
    return desired, combined


def _lima_vm_plan(desired: spec.VmSpec, facts: Mapping[str, Any], gather_in: Optional[GatherIn]) -> Plan:
    """A Lima-backed VM: the Firecracker plan made from the facts inside the instance, each step sent there."""
    if desired.state != "absent":
        backends.select(facts, "lima")
    instance = next((i for i in facts["lima"] if i["name"] == desired.lima_instance), None)
    if not instance or instance["status"] != "Running":
        raise SpecError("lima_instance", "Lima instance %r is not running (%s); ensure it with mvm.microvm.lima_vm"
                        % (desired.lima_instance, instance["status"] if instance else "missing"))
    if gather_in is None:
        raise SpecError("backend", "this front-end cannot read facts inside a Lima instance")
    inner_host, inner_paths = gather_in(desired.lima_instance)
    inner = replace(desired, backend="firecracker", state_root=None)
    inner_facts = inner_host(None)
    wanted = vm.explicit_paths(inner) if inner.state != "absent" else []
    plan = vm.plan_vm(inner, inner_facts, inner_paths(wanted) if wanted else {})
    return lima.wrap(plan, desired.lima_instance)


def volume_plan(params: Mapping[str, Any], gather_host: GatherHost) -> Tuple[volume.VolumeSpec, Plan]:
    desired = volume.volume_spec(params)
    facts = gather_host(desired.state_root)
    plan = volume.plan_volume(desired, facts)
    return desired, _locked(plan, facts, ["volume-" + desired.name] + ["vm-" + n for n in volume.users(facts, desired.name)])


def lima_plan(params: Mapping[str, Any], gather_host: GatherHost) -> Tuple[lima.LimaSpec, Plan]:
    desired = lima.lima_spec(params)
    return desired, lima.plan_lima(desired, gather_host(desired.state_root))


def bridge_plan(params: Mapping[str, Any], gather_host: GatherHost) -> Tuple[network.BridgeSpec, Plan, Optional[Dict[str, Any]]]:
    """Also returns the network record as the facts will list it after the plan (None: gone)."""
    desired = network.bridge_spec(params)
    facts = gather_host(desired.state_root)
    plan = _locked(network.plan_bridge(desired, facts), facts, ["net-" + desired.name, "ports"])
    entry = None  # type: Optional[Dict[str, Any]]
    if desired.state == "present":
        # The leases stay those the network has: a bridge made again keeps its VMs' addresses.
        held = (facts["networks"].get(desired.name) or {}).get("leases") or {}
        entry = dict(desired.record(desired.uplink or facts["network"]["uplink"]), leases=dict(held))
    return desired, plan, entry


def tap_plan(params: Mapping[str, Any], gather_host: GatherHost) -> Tuple[network.TapSpec, Plan]:
    desired = network.tap_spec(params)
    facts = gather_host(desired.state_root)
    return desired, _locked(network.plan_tap(desired, facts), facts, ["tap-" + desired.name])


def forward_plan(params: Mapping[str, Any], gather_host: GatherHost) -> Tuple[network.ForwardSpec, Plan]:
    desired = network.forward_spec(params)
    facts = gather_host(desired.state_root)
    return desired, _locked(network.plan_forward(desired, facts), facts, ["ports"])


def snapshot_plan(params: Mapping[str, Any], gather_host: GatherHost,
                  gather_paths: GatherPaths) -> Tuple[snapshot.SnapshotSpec, Plan, Dict[str, Any]]:
    """present/absent snapshot a VM; restored starts a VM from it. Also returns the metadata a later
    operation may count on (pyinfra's prepare phase)."""
    desired = snapshot.snapshot_spec(params)
    facts = gather_host(desired.state_root)
    if desired.state != "restored":
        plan = _locked(snapshot.plan_snapshot(desired, facts), facts,
                       ["snap-" + desired.name] + (["vm-" + desired.vm] if desired.vm else []))
        return desired, plan, dict((plan.after or {}).get("snapshot") or {})
    meta = facts["snapshots"].get(desired.name)
    if not meta:
        raise SpecError("name", "no snapshot named %r under %s/snapshots" % (desired.name, facts["state_root"]))
    _vm_spec, plan = vm_plan(restore_params(meta, desired), lambda _root: facts, gather_paths)
    return desired, plan, dict(meta)


def template_plan(params: Mapping[str, Any], gather_host: GatherHost,
                  gather_paths: GatherPaths) -> Tuple[Dict[str, Any], Plan, Dict[str, Any]]:
    """Returns the validated parameters, the plan and the snapshot metadata it makes."""
    desired = template.template_params(params)
    facts = gather_host(desired.get("state_root"))
    wanted = [x for x in (desired.get("kernel"), desired.get("initrd"), desired.get("rootfs")) if x]
    shas = gather_paths(wanted) if wanted and desired["state"] == "present" else {}
    plan = template.plan_template(desired, facts, shas)
    _locked(plan, facts, ["snap-" + desired["name"], "vm-" + template.builder_name(desired["name"])])
    return desired, plan, dict((plan.after or {}).get("snapshot") or {})


def install_plan(params: Mapping[str, Any], gather_host: GatherHost,
                 gather_paths: GatherPaths) -> Tuple[install.InstallSpec, Plan]:
    desired = install.install_spec(params)
    facts = gather_host(desired.state_root)
    return desired, _locked(install.plan_install(desired, facts, gather_paths(install.binaries(desired))), facts,
                            ["firecracker-install"])


def restore_params(meta: Mapping[str, Any], desired: snapshot.SnapshotSpec) -> Dict[str, Any]:
    """The VM a snapshot restores into: the snapshotted machine, under the requested name."""
    applied = meta.get("applied") or {}
    name = desired.vm or meta.get("vm")
    params = {"name": name, "state": "running", "backend": applied.get("backend"), "memory": applied.get("memory_mib"),
              "cpus": applied.get("cpus"), "kernel_args": applied.get("kernel_args"), "snapshot": desired.name,
              "state_root": desired.state_root, "network": (applied.get("network") or {}).get("name"),
              # A host port is published once: a copy under another name (a clone beside its source) gets none.
              "ports": (applied.get("ports") or None) if name == meta.get("vm") else None}
    if applied.get("firecracker"):
        params["firecracker"] = restored_firecracker(applied["firecracker"])
    if applied.get("image"):
        params["image"] = applied["image"]
    else:
        params.update(kernel=applied.get("kernel"), initrd=applied.get("initrd"), rootfs=applied.get("rootfs"))
    return params


# What names one VM among others: a VM restored under another name gets its own jailer id and uid.
_PER_VM_FIRECRACKER = ("jailer_id", "uid", "gid")


def restored_firecracker(recorded: Mapping[str, Any]) -> Dict[str, Any]:
    """The Firecracker options of a VM restored from a snapshot: the snapshotted VM's (API mode, jailer, chroot
    base, seccomp filter, drives, snapshot type...), without what identified that one VM."""
    options = {k: v for k, v in recorded.items() if k not in _PER_VM_FIRECRACKER}
    options["drives"] = [{"id": i, "path": p, "read_only": r} for i, p, r in recorded.get("drives") or []]
    return options


def run_probe_in(run: Callable[[str], Tuple[int, str, str]]) -> GatherIn:
    """Fact gatherers inside a Lima instance, over a command runner on its host."""
    def gather_in(instance: str) -> Tuple[GatherHost, GatherPaths]:
        return run_probe(lambda command: run(lima.in_lima(instance, command)))
    return gather_in


def run_probe(run: Callable[[str], Tuple[int, str, str]], local: bool = False) -> Tuple[GatherHost, GatherPaths]:
    """Fact gatherers over a command runner (for front-ends that run on the host, like Ansible). `local`: the
    runner's commands run on this process's host, so the VMMs' status is asked from here (no second Python)."""
    def gather_host(state_root: Optional[str]) -> Dict[str, Any]:
        trace.record("probe", "host")
        rc, out, err = run(probe.host_probe(state_root, vmm_status=not local))
        if rc != 0:
            raise RuntimeError("host probe failed (rc=%d): %s" % (rc, err.strip()))
        return probe.parse_host(out + probe.vmm_status_lines(out) if local else out)

    def gather_paths(paths: Sequence[str]) -> Dict[str, str]:
        trace.record("probe", "paths")
        rc, out, err = run(probe.paths_probe(paths))
        if rc != 0:
            raise RuntimeError("paths probe failed (rc=%d): %s" % (rc, err.strip()))
        return probe.parse_paths(out)

    return gather_host, gather_paths


# ---- the operations, once: what each front-end calls ----------------------------------------------------------

PlanFn = Callable[[Mapping[str, Any], GatherHost, GatherPaths, Optional[GatherIn]], Tuple[Any, Plan, Promise]]


@dataclass(frozen=True)
class Operation:
    """One operation: its Ansible module, the key of its result there, how the engine plans it, and its options
    with the engine's defaults (the modules' argument specs are held to these by a test)."""

    name: str
    module: str
    result: str
    planner: PlanFn
    options: Mapping[str, Any]

    def plan(self, params: Mapping[str, Any], gather_host: GatherHost, gather_paths: GatherPaths,
             pending: Optional[Pending], gather_in: Optional[GatherIn]) -> Tuple[Any, Plan, Promise]:
        """Plan on the host's facts as the earlier operations of this run leave them (folded here, once for all)."""
        return self.planner(params, _folding(gather_host, pending), gather_paths, _folding_in(gather_in, pending))


def _op_image(p: Mapping[str, Any], host: GatherHost, paths: GatherPaths,
              gather_in: Optional[GatherIn]) -> Tuple[Any, Plan, Promise]:
    desired, plan, entry = image_plan(p, host, paths)
    return desired, plan, ("images", desired.name, entry)


def _op_bridge(p: Mapping[str, Any], host: GatherHost, paths: GatherPaths,
               gather_in: Optional[GatherIn]) -> Tuple[Any, Plan, Promise]:
    desired, plan, entry = bridge_plan(p, host)
    return desired, plan, ("networks", desired.name, entry)


def _op_snapshot(p: Mapping[str, Any], host: GatherHost, paths: GatherPaths,
                 gather_in: Optional[GatherIn]) -> Tuple[Any, Plan, Promise]:
    desired, plan, meta = snapshot_plan(p, host, paths)
    promise = None if desired.state == "restored" else ("snapshots", desired.name,
                                                        meta if desired.state == "present" else None)
    return desired, plan, promise


def _op_template(p: Mapping[str, Any], host: GatherHost, paths: GatherPaths,
                 gather_in: Optional[GatherIn]) -> Tuple[Any, Plan, Promise]:
    desired, plan, meta = template_plan(p, host, paths)
    return desired, plan, ("snapshots", desired["name"], meta if desired["state"] == "present" else None)


VMS_OPTIONS = {"vms": None, "backend": "auto", "image": None, "state_root": None}
# Operations whose plans promise nothing to later ones plan through a lambda; the others through _op_*.
OPERATIONS = {op.name: op for op in (
    Operation("vm", "vm", "vm", lambda p, h, g, gi: vm_plan(p, h, g, gi) + (None,), spec.VM_DEFAULTS),
    Operation("vms", "vms", "vms", lambda p, h, g, gi: vms_plan(p, h, g) + (None,), VMS_OPTIONS),
    Operation("image", "rootfs", "image", _op_image, spec.IMAGE_DEFAULTS),
    Operation("bridge", "bridge", "bridge", _op_bridge, network.BRIDGE_DEFAULTS),
    Operation("tap", "tap", "tap", lambda p, h, g, gi: tap_plan(p, h) + (None,), network.TAP_DEFAULTS),
    Operation("port_forward", "port_forward", "port_forward", lambda p, h, g, gi: forward_plan(p, h) + (None,),
              network.FORWARD_DEFAULTS),
    Operation("snapshot", "snapshot", "snapshot", _op_snapshot, snapshot.SNAPSHOT_DEFAULTS),
    Operation("template", "vm_template", "template", _op_template, template.TEMPLATE_DEFAULTS),
    Operation("firecracker_install", "firecracker_install", "firecracker",
              lambda p, h, g, gi: install_plan(p, h, g) + (None,), install.DEFAULTS),
    Operation("lima", "lima_vm", "lima", lambda p, h, g, gi: lima_plan(p, h) + (None,), lima.DEFAULTS),
    Operation("volume", "volume", "volume", lambda p, h, g, gi: volume_plan(p, h) + (None,), volume.DEFAULTS),
)}
BY_MODULE = {op.module: op for op in OPERATIONS.values()}
