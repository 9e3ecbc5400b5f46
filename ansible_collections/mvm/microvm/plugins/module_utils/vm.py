# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The microVM planner: desired VmSpec + host facts -> ordered steps, diff and result."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import (
    apple_container,
    backends,
    docker_backend,
    firecracker,
    firewall,
    image,
    network,
    qemu,
    security,
    snapshot,
)
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote, write_file
from ansible_collections.mvm.microvm.plugins.module_utils.spec import VmSpec

APPLIED_FORMAT = 1
# Fields whose change means the running VM is not the one asked for.
DRIFT_FIELDS = ("backend", "arch", "memory_mib", "cpus", "kernel", "initrd", "rootfs", "image",
                "image_id", "kernel_args", "hostname", "network", "firecracker")
# Of those, the ones whose change means another disk (a new copy of another image): such a change is applied
# only with recreate: true. The others restart the VM on the disk it has.
DISK_FIELDS = ("backend", "arch", "rootfs", "image", "image_id")
# Backends whose guest file system is the container itself: every change replaces it.
CONTAINER_BACKENDS = ("docker", "apple-container")
MAX_SOCKET_PATH = 107
SUPPORTED = ("qemu", "firecracker", "docker", "apple-container")


def vm_dir(facts: Mapping[str, Any], name: str) -> str:
    return "%s/vms/%s" % (facts["state_root"], name)


def explicit_paths(spec: VmSpec) -> list:
    """User-given files the host must have; checked by the paths probe before planning."""
    return [p for p in (spec.kernel, spec.initrd, spec.rootfs) if p]


def _resolve_image(spec: VmSpec, facts: Mapping[str, Any], shas: Mapping[str, str],
                   pending: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
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
    elif spec.image in pending.get("images", {}):
        ident, with_initrd = pending["images"][spec.image]["id"], pending["images"][spec.image]["initrd"]
    else:
        raise SpecError("image", "no image named %r under %s/images; build it first with the rootfs "
                                 "operation (mvm.microvm.rootfs)" % (spec.image, facts["state_root"]))
    resolved = image.paths(facts["state_root"], spec.image, with_initrd)
    resolved["image_id"] = ident
    return resolved


def desired_applied(spec: VmSpec, facts: Mapping[str, Any], shas: Mapping[str, str],
                    pending: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """The record written to spec.json: what the VM runs with, in resolved form."""
    backend, _reason = backends.select(facts, spec.backend)
    if backend not in SUPPORTED:
        raise MvmError("backend %s was selected (%s), but mvm.microvm.vm drives only %s so far; "
                       "set backend: qemu" % (backend, _reason, ", ".join(SUPPORTED)))
    # What the backend cannot do fails here, naming a backend that can, before anything else is looked up.
    for wanted, capability, field in ((spec.network, "tap", "network"), (spec.snapshot, "snapshots", "snapshot"),
                                      (spec.state == "paused", "pause", "state")):
        if wanted:
            backends.require(backend, capability, field)
    arch = facts["platform"]["arch"]
    if backend == "qemu" and arch not in qemu.MACHINE:
        raise MvmError("qemu backend: no machine type for arch %s" % arch)
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
    }
    applied.update(_resolve_image(spec, facts, shas, pending))
    applied["tsc_khz"] = _tsc_khz(facts, backend, applied)
    tar = applied.pop("rootfs_tar", None)
    oci_archive = applied.pop("oci", None)
    vmlinux = applied.pop("vmlinux", None)
    if backend == "docker":
        applied["rootfs_tar"] = tar
        applied["accel"] = "container"
    elif backend == "apple-container":
        applied["oci"] = oci_archive
        applied["accel"] = "vm"
    elif backend == "firecracker":
        if vmlinux and applied["arch"] == "x86_64":
            applied["kernel"] = vmlinux
        applied["accel"] = "kvm"
        opts = firecracker.resolve(spec.firecracker or firecracker.Options(), facts, spec.name)
        firecracker.check_machine(applied, opts)
        applied["firecracker"] = firecracker.recorded(opts)
    applied["network"] = _resolve_network(spec, facts, pending) if spec.network else None
    applied["ports"] = [str(p) for p in spec.ports]
    if spec.production:
        security.refuse_unsafe(spec.name, applied, facts)
    return applied


def _tsc_khz(facts: Mapping[str, Any], backend: str, applied: Mapping[str, Any]) -> Optional[int]:
    """Under TCG on x86_64 the guest's TSC runs at the host's rate, and a guest that fails to calibrate it
    against the PIT hangs at boot (seen here about once in 30 boots): tell the kernel the rate instead."""
    mhz = facts["platform"].get("cpu_mhz")
    if backend == "qemu" and applied["accel"] == "tcg" and applied["arch"] == "x86_64" and mhz:
        return int(mhz * 1000)
    return None


def _resolve_network(spec: VmSpec, facts: Mapping[str, Any], pending: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """Address, MAC and TAP of the VM on its network (its lease, or the next free one)."""
    record = facts["networks"].get(spec.network) or pending.get("networks", {}).get(str(spec.network))
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
    fields = DRIFT_FIELDS + (("ports",) if after.get("backend") in CONTAINER_BACKENDS else ())
    return {k: {"before": before.get(k), "after": after.get(k)}
            for k in fields if before.get(k) != after.get(k)}


def _create_steps(plan: Plan, applied: Mapping[str, Any], directory: str, disk: str) -> None:
    f = qemu.files(directory)
    root = directory.rsplit("/", 2)[0]
    # The state root may be crossed by a jailed VM's user (0711), a VM directory is root's alone (0700).
    plan.add("create state directory %s" % directory, "mkdir -p %s && chmod 0711 %s && mkdir -p -m 0700 %s %s && rm -f %s" % (
        quote(root), quote(root), quote(root + "/vms"), quote(directory), quote(f["disk"])))
    plan.add("copy %s to the VM's own disk" % ("rootfs" if disk == applied["rootfs"] else "the snapshot's disk"),
             "cp --sparse=always %s %s" % (quote(disk), quote(f["disk"])))
    plan.add("record applied spec", write_file(f["spec"], _json(applied)))


def _network_steps(plan: Plan, spec: VmSpec, applied: Mapping[str, Any], facts: Mapping[str, Any],
                   current: Optional[Mapping[str, Any]]) -> None:
    """Lease, TAP and published ports of a VM; a TAP or lease it no longer uses is released."""
    old = (current or {}).get("applied") or {}
    old_net = old.get("network")
    new_net = applied["network"]
    root = facts["state_root"]
    if old_net and (not new_net or (old_net["name"], old_net["tap"]) != (new_net["name"], new_net["tap"])):
        _release_network(plan, facts, spec.name, old_net)
    if new_net:
        held = facts["networks"].get(new_net["name"], {}).get("leases", {}).get(spec.name)
        lease = {k: new_net[k] for k in ("slot", "ip", "mac", "tap")}
        # Recorded at creation: mvm deletes only a TAP it made (a user's `tap:` that existed stays).
        made = bool((held or {}).get("made_tap")) if held and held.get("tap") == lease["tap"] \
            else not any(t["name"] == lease["tap"] for t in facts["network"]["taps"])
        if made:
            lease["made_tap"] = True
        if held != lease:
            path = network.lease_path(root, new_net["name"], spec.name)
            plan.add("lease %s on %s to %s" % (new_net["ip"], new_net["name"], spec.name), "mkdir -p %s && %s" % (
                quote(path.rsplit("/", 1)[0]), write_file(path, _json(lease))))
        network.tap_commands(plan, facts, new_net["tap"], new_net["name"])
    owner = firewall.owner(facts, "vm", spec.name)
    firewall.check_ports_free(facts, owner, "ports", [(p.proto, p.host_port) for p in spec.ports])
    desired = network.vm_rules(owner, new_net["ip"], spec.ports) if new_net else []
    firewall.ensure(plan, facts, firewall.choose_backend(facts) if desired else None, owner, desired)


def _release_network(plan: Plan, facts: Mapping[str, Any], vm_name: str, net: Mapping[str, Any]) -> None:
    held = facts["networks"].get(net["name"], {}).get("leases", {}).get(vm_name) or {}
    ours = held.get("made_tap") or net["tap"] == network.tap_name(facts["state_root"], vm_name)
    for tap in facts["network"]["taps"]:
        if tap["name"] == net["tap"] and ours:
            plan.add("delete TAP %s" % net["tap"], "ip link del %s" % quote(net["tap"]))
    if vm_name in facts["networks"].get(net["name"], {}).get("leases", {}):
        plan.add("release %s on %s" % (net["ip"], net["name"]), "rm -f %s" % quote(
            network.lease_path(facts["state_root"], net["name"], vm_name)))


def _json(value: Mapping[str, Any]) -> str:
    import json
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plan_vm(spec: VmSpec, facts: Mapping[str, Any], shas: Optional[Mapping[str, str]] = None,
            pending: Optional[Mapping[str, Mapping[str, Any]]] = None) -> Plan:
    """Desired VM + facts -> Plan. Every refusal happens here, before a step exists."""
    shas = shas or {}
    pending = pending or {}
    directory = vm_dir(facts, spec.name)
    if len(directory) + len("/qmp.sock") > MAX_SOCKET_PATH:
        # Blame the name when a one-letter name would fit under this state root.
        field = "state_root" if len(vm_dir(facts, "x")) + len("/qmp.sock") > MAX_SOCKET_PATH else "name"
        raise SpecError(field, "too long: the VM's socket path would pass %d bytes (%s)" % (MAX_SOCKET_PATH, directory))
    current = facts["vms"].get(spec.name)
    plan = Plan()
    plan.before = {"state": current["state"], "spec": current["applied"]} if current else {"state": "absent"}
    result = {"name": spec.name, "dir": directory, "console_log": qemu.files(directory)["console"]}

    if spec.state == "absent":
        plan.after = {"state": "absent"}
        if current and current["backend"] == "docker":
            docker_backend.remove_steps(plan, current)
        elif current and current["backend"] == "apple-container":
            apple_container.remove_steps(plan, current)
        elif current:
            if current["backend"] == "firecracker":
                _firecracker_remove(plan, facts, spec.name, current)
            else:
                if current["pid"]:
                    plan.add("stop VM %s (pid %d)" % (spec.name, current["pid"]),
                             qemu.kill_command(directory, current["pid"]))
                net = (current["applied"] or {}).get("network")
                if net:
                    _release_network(plan, facts, spec.name, net)
            firewall.remove_owned(plan, facts, firewall.owner(facts, "vm", spec.name))
            plan.add("remove state directory %s" % directory, "rm -rf %s && rmdir %s 2>/dev/null; true" % (
                quote(directory), quote(facts["state_root"] + "/vms")))
        plan.result = dict(result, state="absent", backend=current["backend"] if current else None, pid=None)
        return plan

    applied = desired_applied(spec, facts, shas, pending)
    changes = drift(current["applied"], applied) if current else {}
    replacing = sorted(k for k in changes if k in DISK_FIELDS or applied["backend"] in CONTAINER_BACKENDS)
    # A VM whose spec was never recorded was never started (a run stopped half-way): its disk holds nothing yet.
    if replacing and not spec.recreate and _recorded(current):
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
    elif spec.ports and applied["backend"] not in CONTAINER_BACKENDS:
        raise SpecError("ports", "publishing ports of a %s VM needs network: BRIDGE (ports reach it through its TAP)"
                        % applied["backend"])
    if applied["backend"] == "docker":
        return docker_backend.plan(plan, spec, facts, applied, current, changes)
    if applied["backend"] == "apple-container":
        return apple_container.plan(plan, spec, facts, applied, current, changes)
    if applied["backend"] == "firecracker":
        return _firecracker_plan(plan, spec, facts, applied, current, changes, directory, pending)
    snap = _snapshot_for(spec, facts, pending, applied)
    running = bool(current and current["pid"])
    paused = bool(current and current["state"] == "paused")
    fresh = not _recorded(current) or (bool(changes) and spec.recreate)
    restore = snap is not None and fresh and spec.state != "stopped"
    applied["snapshot"] = spec.snapshot if restore else ((current or {}).get("applied") or {}).get("snapshot")
    if current and changes and running:
        plan.add("stop VM %s to apply: %s" % (spec.name, ", ".join(sorted(changes))),
                 qemu.kill_command(directory, current["pid"]))
        running = paused = False
    _network_steps(plan, spec, applied, facts, current)
    if fresh:
        disk = "%s/%s" % (snapshot.snapshot_dir(facts["state_root"], spec.snapshot or ""), snapshot.DISK_FILE) \
            if restore else applied["rootfs"]
        _create_steps(plan, applied, directory, disk)
    elif current["applied"] != applied:
        plan.add("record applied spec", write_file(qemu.files(directory)["spec"], _json(applied)))
    if spec.state in ("running", "paused"):
        if not running:
            _start_steps(plan, spec, applied, directory, facts["state_root"] if restore else None)
            if spec.state == "paused":
                plan.add("pause VM %s" % spec.name, qemu.pause_command(directory))
        else:
            plan.result["pid"] = current["pid"]
            if spec.state == "running" and paused:
                plan.add("resume VM %s" % spec.name, qemu.resume_command(directory))
            elif spec.state == "paused" and not paused:
                plan.add("pause VM %s" % spec.name, qemu.pause_command(directory))
            if not paused and not current.get("ready"):
                # Running is not ready: a rerun while the guest boots waits for it instead of reporting it done.
                plan.add("wait for %s to be ready (%gs)" % (spec.name, spec.boot_timeout),
                         qemu.wait_ready_command(directory, spec.boot_timeout))
    elif running:
        if paused:
            plan.add("resume VM %s so it can power down" % spec.name, qemu.resume_command(directory))
        plan.add("power down VM %s (pid %d)" % (spec.name, current["pid"]),
                 qemu.stop_command(directory, current["pid"], spec.stop_timeout))
    return plan


def _recorded(current: Optional[Mapping[str, Any]]) -> bool:
    """A VM that exists as mvm made it: its applied spec is on the host."""
    return bool(current and current.get("applied"))


def _snapshot_for(spec: VmSpec, facts: Mapping[str, Any], pending: Mapping[str, Mapping[str, Any]],
                  applied: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The snapshot a VM starts from, checked against the VM it would become."""
    if not spec.snapshot:
        return None
    snap = facts["snapshots"].get(spec.snapshot) or pending.get("snapshots", {}).get(spec.snapshot)
    if not snap:
        raise SpecError("snapshot", "no snapshot named %r under %s/snapshots; take one with mvm.microvm.snapshot"
                        % (spec.snapshot, facts["state_root"]))
    snapshot.check_compatible(snap, applied)
    return snap


def _start_steps(plan: Plan, spec: VmSpec, applied: Mapping[str, Any], directory: str,
                 restore_root: Optional[str]) -> None:
    """Boot, or resume from a snapshot and tell the guest agent its name and address; then wait for ready."""
    if restore_root is None:
        plan.add("start VM %s (qemu, %s)" % (spec.name, applied["accel"]), qemu.start_command(applied, directory))
    else:
        memory = "%s/%s" % (snapshot.snapshot_dir(restore_root, str(spec.snapshot)), snapshot.MEMORY_FILE)
        plan.add("start VM %s from snapshot %s" % (spec.name, spec.snapshot),
                 qemu.start_command(applied, directory, incoming=memory))
        plan.add("resume %s once its state is loaded" % spec.name, qemu.incoming_command(directory, spec.boot_timeout))
        lines = []
        net = applied.get("network")
        if net:
            lines.append("net %s %s/%s %s" % (net["mac"], net["ip"], net["prefix"], net["gateway"]))
        lines.append("hostname %s" % applied["hostname"])
        plan.add("tell %s who it is now" % spec.name, qemu.agent_command(directory, lines))
    plan.add("wait for %s to be ready (%gs)" % (spec.name, spec.boot_timeout),
             qemu.wait_ready_command(directory, spec.boot_timeout))


def _firecracker_plan(plan: Plan, spec: VmSpec, facts: Mapping[str, Any], applied: Dict[str, Any],
                      current: Optional[Mapping[str, Any]], changes: Mapping[str, Any], directory: str,
                      pending: Mapping[str, Mapping[str, Any]]) -> Plan:
    """Firecracker: state directory, TAP and lease as for qemu; the VMM configured through its API."""
    opts = firecracker.options_from_applied(applied)
    paths = firecracker.layout(directory, applied, opts)
    binaries = {"firecracker": facts["tools"].get("firecracker", {}).get("path") or "firecracker",
                "jailer": facts["tools"].get("jailer", {}).get("path") or "jailer"}
    if opts.jailer and not facts["tools"].get("jailer", {}).get("present"):
        raise SpecError("firecracker.jailer", "the jailer binary is not installed next to firecracker")
    if spec.state == "paused" and not opts.api:
        raise SpecError("firecracker.api", "pausing a Firecracker VM needs its API socket, which api: false turns off; "
                                           "use state: running or stopped, or api: true")
    running = bool(current and current["pid"])
    paused = bool(current and current["state"] == "paused")
    fresh = not _recorded(current) or (bool(changes) and spec.recreate)
    snap = _snapshot_for(spec, facts, pending, applied)
    restore = snap is not None and fresh and spec.state != "stopped"
    if restore and snap and not opts.jailer and snap.get("vm") != spec.name:
        # The snapshot holds the paths the VMM opened; unjailed those are the source VM's own files.
        raise SpecError("firecracker.jailer", "snapshot %s was taken of %s without the jailer: its device state names "
                                              "%s's disk by path, so restoring it as %s would open that VM's disk; "
                                              "restore it under the name %s, or take snapshots of jailed VMs"
                        % (spec.snapshot, snap.get("vm"), snap.get("vm"), spec.name, snap.get("vm")))
    applied["snapshot"] = spec.snapshot if restore else ((current or {}).get("applied") or {}).get("snapshot")
    if current and changes and running:
        plan.add("stop VM %s to apply: %s" % (spec.name, ", ".join(sorted(changes))),
                 firecracker.kill_command(directory, current["pid"]))
        running = paused = False
    _network_steps(plan, spec, applied, facts, current)
    snap_dir = snapshot.snapshot_dir(facts["state_root"], spec.snapshot or "")
    if fresh:
        _create_steps(plan, applied, directory, snap_dir + "/" + snapshot.DISK_FILE if restore else applied["rootfs"])
    elif (current or {}).get("applied") != applied:
        plan.add("record applied spec", write_file(qemu.files(directory)["spec"], _json(applied)))
    sock = paths["socket"]
    if spec.state in ("running", "paused"):
        if not running:
            plan.add("clear old socket and pid", "rm -f %s %s" % (quote(sock), quote(paths["pid"])))
            if opts.jailer:
                for description, command in firecracker.jail_steps(applied, opts, directory, paths):
                    plan.add(description, command)
            if not opts.api:
                plan.add(*firecracker.config_file_step(applied, opts, paths))
            plan.add("start VM %s (firecracker%s)" % (spec.name, ", jailed" if opts.jailer else ""),
                     firecracker.start_command(applied, opts, directory, paths, binaries))
            if opts.jailer:
                # The probe reads every VM's pid and API socket in its own directory; jailed, both live in the chroot.
                plan.add("link the jailer's pid file and API socket", "ln -sfn %s %s && ln -sfn %s %s" % (
                    quote(paths["pid"]), quote(directory + "/pid"), quote(sock), quote(directory + "/api.sock")))
            plan.add("record the identity of %s's VMM" % spec.name, firecracker.record_command(applied, opts, directory, paths))
            if opts.api:
                plan.add("wait for the API socket", firecracker.wait_socket_command(sock, paths["pid"], spec.boot_timeout,
                                                                                    paths["console"]))
            if restore:
                version = str(facts["tools"].get("firecracker", {}).get("version") or "")
                for description, command in firecracker.restore_steps(applied, directory, snap_dir, version,
                                                                      spec.boot_timeout):
                    plan.add(description, command)
            else:
                for call in firecracker.boot_calls(applied, opts, paths) if opts.api else []:
                    plan.add("%s %s" % (call.method, call.path), firecracker.curl(sock, call))
                plan.add("wait for %s to be ready (%gs)" % (spec.name, spec.boot_timeout), qemu.wait_ready_command(
                    directory, spec.boot_timeout, pid_file=paths["pid"]))
            if spec.state == "paused":
                plan.add("pause VM %s" % spec.name, firecracker.curl(sock, firecracker.pause_call()))
        else:
            plan.result["pid"] = (current or {}).get("pid")
            if spec.state == "running" and paused:
                plan.add("resume VM %s" % spec.name, firecracker.curl(sock, firecracker.resume_call()))
            elif spec.state == "paused" and not paused:
                plan.add("pause VM %s" % spec.name, firecracker.curl(sock, firecracker.pause_call()))
    elif running:
        pid = (current or {}).get("pid")
        if paused:
            plan.add("resume VM %s so it can shut down" % spec.name, firecracker.curl(sock, firecracker.resume_call()))
        plan.add("stop VM %s (pid %s)" % (spec.name, pid),
                 firecracker.stop_command(applied, sock, directory, pid, spec.stop_timeout))
    plan.result["security"] = {"jailer": opts.jailer, "seccomp": opts.seccomp_filter or "default"}
    return plan


def _firecracker_remove(plan: Plan, facts: Mapping[str, Any], name: str, current: Mapping[str, Any]) -> None:
    applied = current["applied"] or {}
    opts = firecracker.options_from_applied(applied)
    if current["pid"]:
        plan.add("stop VM %s (pid %d)" % (name, current["pid"]), firecracker.kill_command(current["dir"], current["pid"]))
    net = applied.get("network")
    if net:
        _release_network(plan, facts, name, net)
    if opts.jailer:
        jail_dir = firecracker.jail_dir(opts, name)
        plan.add("remove the jailer chroot %s" % jail_dir, "rm -rf %s" % quote(jail_dir))
