# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every VM backend driver shares: a VM's directory and files, its lease, TAP and published ports, the
snapshot files and their metadata, the guest's kernel arguments. No backend is named here.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import autostart, firewall, network, volume, workload
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.guest import HEALTH_MARKER, READY_MARKER
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote, write_file

MAX_SOCKET_PATH = 107
SNAPSHOT_FORMAT = 1
MEMORY_FILE = "memory.bin"
DISK_FILE = "disk.ext4"
# Fields a restored VM must share with the snapshot, as the user calls them.
MUST_MATCH = (("memory_mib", "memory"), ("cpus", "cpus"), ("arch", "arch"), ("backend", "backend"),
              ("kernel", "kernel"), ("initrd", "initrd"), ("image_id", "image"), ("kernel_args", "kernel_args"))

# Writes metadata.json with creation time and file sizes, known only once the files exist.
METADATA_SCRIPT = r"""import json,os,sys,time
d=sys.argv[1];m=json.loads(sys.argv[2])
m['created']=time.strftime('%Y-%m-%dT%H:%M:%SZ',time.gmtime())
m['sizes']={n:os.path.getsize(os.path.join(d,n)) for n in sorted(os.listdir(d)) if n!='metadata.json'}
open(os.path.join(d,'metadata.json'),'w').write(json.dumps(m,sort_keys=True,separators=(',',':')))
"""


# A process that has exited but was not reaped yet is not alive.
_ALIVE = ("alive() { kill -0 \"$1\" 2>/dev/null || return 1; "
          "case \"$(cat /proc/$1/stat 2>/dev/null)\" in *\") Z \"*) return 1;; esac; return 0; }; ")


def wait_ready_command(vm_dir: str, timeout: float, pid_file: Optional[str] = None) -> str:
    """Block until the guest prints the readiness marker; fail with the console's tail.

    Any VMM that writes a pid file and a console log can be waited on this way (Firecracker too).
    """
    f = dict(files(vm_dir))
    f["pid"] = pid_file or f["pid"]
    return (
        _ALIVE + "pid=$(cat %(pid)s); i=0; "
        "while ! grep -q %(marker)s %(con)s 2>/dev/null; do i=$((i+1)); "
        "if ! alive \"$pid\"; then echo 'the VM exited before it was ready:' >&2; tail -n 20 %(con)s >&2; exit 1; fi; "
        "if [ $i -gt %(ticks)d ]; then echo 'no readiness marker after %(t)gs:' >&2; tail -n 20 %(con)s >&2; exit 1; fi; "
        "sleep 0.1; done"
    ) % {"pid": quote(f["pid"]), "marker": READY_MARKER, "con": quote(f["console"]),
         "ticks": int(timeout * 10), "t": timeout}


def wait_healthy_steps(plan: Plan, spec: Any, applied: Mapping[str, Any], log: str) -> None:
    """After a start: with a health check and wait_healthy, wait until the guest's check passes (see guest's
    health loop, which writes each change of state to the console); fail on unhealthy or after boot_timeout, with
    the check's last output. `log` prints the console (a VM's file, a container's log)."""
    if spec.state != "running" or not spec.wait_healthy or not (applied.get("workload") or {}).get("health"):
        return
    plan.wait("wait for %s to be healthy (%gs)" % (spec.name, spec.boot_timeout), (
        "i=0; while :; do h=$(%(log)s 2>&1 | tr -d '\\r' | grep -a '^%(m)s ' | tail -n 1); "
        "case \"$h\" in '%(m)s healthy'*) exit 0;; '%(m)s unhealthy'*) "
        "echo \"VM %(name)s is unhealthy: ${h#%(m)s unhealthy }\" >&2; exit 1;; esac; i=$((i+1)); "
        "if [ $i -gt %(ticks)d ]; then echo \"VM %(name)s is not healthy after %(t)gs: ${h:-no check has passed}\" >&2; "
        "exit 1; fi; sleep 0.2; done") % {"log": log, "m": HEALTH_MARKER, "name": spec.name,
                                          "ticks": int(spec.boot_timeout * 5), "t": spec.boot_timeout})


def console_source(vm_dir: str) -> str:
    """The end of a VM's console log, for wait_healthy_steps."""
    return "tail -c 65536 %s" % quote(files(vm_dir)["console"])


def vm_dir(facts: Mapping[str, Any], name: str) -> str:
    return "%s/vms/%s" % (facts["state_root"], name)


def files(vm_dir: str) -> Dict[str, str]:
    """The state directory layout of one VM."""
    return {name: "%s/%s" % (vm_dir, leaf) for name, leaf in (
        ("spec", "spec.json"), ("pid", "pid"), ("qmp", "qmp.sock"), ("console", "console.log"),
        ("vmm_log", "vmm.log"), ("disk", "disk.ext4"), ("agent", "agent.sock"),
        ("qga", "qga.sock"))}


def snapshot_dir(state_root: str, name: str) -> str:
    return "%s/snapshots/%s" % (state_root, name)


def json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def guest_args(applied: Mapping[str, Any], prefix: str, extra: str = "") -> str:
    """The guest kernel command line every backend builds the same way: the backend's own prefix (console, root
    device, panic), then mvm's init arguments (hostname, address), the backend's extra, the user's arguments."""
    if applied.get("kernel_source") == "mvm":
        prefix += " init=/init"  # no initramfs to switch_root to it: the kernel runs mvm's init itself
        if applied.get("root_format") == "squashfs":  # mounted read-only; mvm's init puts the overlay over it
            prefix = prefix.replace(" rw", " ro rootfstype=squashfs")
    line = (prefix + " mvm.hostname=%s" % applied["hostname"]).strip()
    net = applied.get("network")
    if net:
        line += " mvm.ip=%s/%s mvm.gw=%s" % (net["ip"], net["prefix"], net["gateway"])
    if extra:
        line += " " + extra
    if applied.get("kernel_args"):
        line += " " + applied["kernel_args"]
    return line


def create_steps(plan: Plan, applied: Mapping[str, Any], directory: str, disk: str,
                 prepare: Optional[Callable[[Plan], None]] = None) -> None:
    """A new VM directory: its own copy of the disk, what `prepare` adds (see prepare_steps), then the applied spec,
    last, so a run killed before it leaves a VM the next run makes again."""
    f = files(directory)
    root = directory.rsplit("/", 2)[0]
    # The state root may be crossed by a jailed VM's user (0711), a VM directory is root's alone (0700).
    plan.add("create state directory %s" % directory, "mkdir -p %s && chmod 0711 %s && mkdir -p -m 0700 %s %s && rm -f %s" % (
        quote(root), quote(root), quote(root + "/vms"), quote(directory), quote(f["disk"])))
    if disk == applied["rootfs"] and applied.get("root_format") == "squashfs":
        # The image stays shared and read-only; what the guest writes goes to an overlay on a disk of its own.
        plan.add("make the VM's writable layer (%d MiB, over the squashfs root)" % overlay_mib(applied),
                 "truncate -s %dM %s && mkfs.ext4 -q -F -L mvm-upper %s" % (
                     overlay_mib(applied), quote(f["disk"]), quote(f["disk"])))
    else:
        plan.add("copy %s to the VM's own disk" % ("rootfs" if disk == applied["rootfs"] else "the snapshot's disk"),
                 "cp --sparse=always %s %s" % (quote(disk), quote(f["disk"])))
    if prepare is not None:
        prepare(plan)
    plan.add("record applied spec", write_file(f["spec"], json_text(applied)))


OVERLAY_MIB = 256  # the writable layer of a VM on a squashfs root, unless disk_size says otherwise


def overlay_mib(applied: Mapping[str, Any]) -> int:
    return int(applied.get("disk_size_mib") or OVERLAY_MIB)


def record_steps(plan: Plan, applied: Mapping[str, Any], directory: str,
                 prepare: Optional[Callable[[Plan], None]] = None) -> None:
    """An existing VM whose applied spec changed: what `prepare` adds, then the record."""
    if prepare is not None:
        prepare(plan)
    plan.add("record applied spec", write_file(files(directory)["spec"], json_text(applied)))


def prepare_steps(plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Mapping[str, Any], directory: str,
                  current: Optional[Mapping[str, Any]], service: Tuple[str, str] = ("", "")) -> None:
    """What a VM needs before it starts (current: None for a new VM): its root disk grown to disk_size, its
    volumes made or grown, its systemd unit (autostart: `service` is its start and stop commands), its workload
    disks made again where the workload changed."""
    old = (current or {}).get("applied") or {}
    size = applied.get("disk_size_mib")
    if size and (current is None or size != old.get("disk_size_mib")):
        disk = quote(files(directory)["disk"])
        values = {"d": disk, "b": size * 1024 * 1024, "m": size, "fsck": volume.fsck_command(disk)}
        plan.add("grow the VM's disk to %d MiB" % size, (
            "if [ \"$(stat -c %%s %(d)s)\" -lt %(b)d ]; then truncate -s %(m)dM %(d)s && %(fsck)s "
            "&& resize2fs %(d)s >/dev/null 2>&1; fi") % values)
    for a in spec.volumes:
        volume.ensure_steps(plan, facts, a.name, a.size_mib)
    if applied.get("autostart") and (current is None or old != applied):
        start, stop = service
        autostart.install_steps(plan, facts, directory, start, stop)
    elif old.get("autostart") and not applied.get("autostart"):
        autostart.remove_steps(plan, directory)
    if applied.get("workload") and (current is None or old.get("workload") != applied.get("workload")):
        workload.disk_steps(plan, spec.workload, applied["workload"], directory)
    elif old.get("workload") and not applied.get("workload"):
        workload.disk_steps(plan, spec.workload, None, directory)


def extra_disks(applied: Mapping[str, Any], directory: str, state_root: str) -> List[Tuple[str, str, bool]]:
    """The VM's disks after its root disk, in the order a backend attaches them: (id, host path, read-only)."""
    disks = []  # type: List[Tuple[str, str, bool]]
    w = applied.get("workload")
    if w:
        paths = workload.disk_paths(directory)
        disks.append(("config", paths["config"], True))
        if w.get("secrets"):
            disks.append(("secrets", paths["secrets"], True))
    for index, v in enumerate(applied.get("volumes") or []):
        disks.append(("vol%d" % index, volume.path(state_root, v["name"]), False))
    return disks


def disk_args(applied: Mapping[str, Any], disks: List[Tuple[str, str, bool]], first: int = 1) -> str:
    """mvm's init arguments naming the device each extra disk became (vda is the root disk; a backend whose disks
    enumerate in attachment order passes first=1)."""
    words, mounts = [], []
    volumes = applied.get("volumes") or []
    for index, (ident, _path, _ro) in enumerate(disks):
        dev = "vd" + chr(ord("a") + first + index)
        if ident in ("config", "secrets"):
            words.append("mvm.%s=%s" % (ident, dev))
        else:
            mounts.append("%s:%s" % (dev, volumes[int(ident[3:])]["mount"]))
    if mounts:
        words.append("mvm.volumes=" + ",".join(mounts))
    return " ".join(words)


def network_steps(plan: Plan, spec: Any, applied: Mapping[str, Any], facts: Mapping[str, Any],
                  current: Optional[Mapping[str, Any]]) -> None:
    """Lease, TAP and published ports of a VM; a TAP or lease it no longer uses is released."""
    old = (current or {}).get("applied") or {}
    old_net = old.get("network")
    new_net = applied["network"]
    root = facts["state_root"]
    if old_net and (not new_net or (old_net["name"], old_net["tap"]) != (new_net["name"], new_net["tap"])):
        release_network(plan, facts, spec.name, old_net)
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
                quote(path.rsplit("/", 1)[0]), write_file(path, json_text(lease))))
        network.tap_commands(plan, facts, new_net["tap"], new_net["name"])
    owner = firewall.owner(facts, "vm", spec.name)
    firewall.check_ports_free(facts, owner, "ports", [(p.proto, p.host_port) for p in spec.ports])
    desired = network.vm_rules(owner, new_net["ip"], spec.ports) if new_net else []
    firewall.ensure(plan, facts, firewall.choose_backend(facts) if desired else None, owner, desired)


def release_network(plan: Plan, facts: Mapping[str, Any], vm_name: str, net: Mapping[str, Any]) -> None:
    held = facts["networks"].get(net["name"], {}).get("leases", {}).get(vm_name) or {}
    ours = held.get("made_tap") or net["tap"] == network.tap_name(facts["state_root"], vm_name)
    for tap in facts["network"]["taps"]:
        if tap["name"] == net["tap"] and ours:
            plan.add("delete TAP %s" % net["tap"], "ip link del %s" % quote(net["tap"]))
    if vm_name in facts["networks"].get(net["name"], {}).get("leases", {}):
        plan.add("release %s on %s" % (net["ip"], net["name"]), "rm -f %s" % quote(
            network.lease_path(facts["state_root"], net["name"], vm_name)))


def recorded(current: Optional[Mapping[str, Any]]) -> bool:
    """A VM that exists as mvm made it: its applied spec is on the host."""
    return bool(current and current.get("applied"))


def snapshot_for(spec: Any, facts: Mapping[str, Any], applied: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The snapshot a VM starts from, checked against the VM it would become."""
    if not spec.snapshot:
        return None
    snap = facts["snapshots"].get(spec.snapshot)
    if not snap:
        raise SpecError("snapshot", "no snapshot named %r under %s/snapshots; take one with mvm.microvm.snapshot"
                        % (spec.snapshot, facts["state_root"]))
    check_compatible(snap, applied)
    return snap


@dataclass(frozen=True)
class Lifecycle:
    """Where a VM stands and what its plan starts from."""

    running: bool
    paused: bool
    fresh: bool  # a new disk: never recorded, or changed with recreate
    restore: bool  # a fresh VM asked to run, from a snapshot
    snapshot: Optional[Mapping[str, Any]]


def lifecycle(spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any], current: Optional[Mapping[str, Any]],
              changes: Mapping[str, Any]) -> Lifecycle:
    """The same for every VM backend; records in `applied` the snapshot the VM was started from."""
    snap = snapshot_for(spec, facts, applied)
    fresh = not recorded(current) or (bool(changes) and spec.recreate)
    restore = snap is not None and fresh and spec.state != "stopped"
    applied["snapshot"] = spec.snapshot if restore else ((current or {}).get("applied") or {}).get("snapshot")
    return Lifecycle(running=bool(current and current["pid"]), paused=bool(current and current["state"] == "paused"),
                     fresh=fresh, restore=restore, snapshot=snap)


def save_snapshot(plan: Plan, name: str, vm_name: str, vm_dir: str, applied: Mapping[str, Any], directory: str,
                  meta: Dict[str, Any], state_steps: Callable[[str], List[Tuple[str, str]]]) -> Dict[str, Any]:
    """A snapshot made whole in `directory`.tmp and published by rename: the backend's steps save the machine's
    state into the temporary directory, then the disk is copied and the metadata written."""
    tmp = directory + ".tmp"
    meta = dict({"format": SNAPSHOT_FORMAT, "name": name, "vm": vm_name, "backend": applied.get("backend"),
                 "applied": dict(applied), "memory_mib": applied.get("memory_mib"), "cpus": applied.get("cpus"),
                 "image_id": applied.get("image_id")}, **meta)
    plan.add("prepare %s" % tmp, "rm -rf %s && mkdir -p %s" % (quote(tmp), quote(tmp)))
    for description, command in state_steps(tmp):
        plan.add(description, command)
    plan.add("copy the disk of %s" % vm_name, "cp --sparse=always %s %s" % (
        quote(files(vm_dir)["disk"]), quote(tmp + "/" + DISK_FILE)))
    plan.add("write snapshot metadata", join(["python3", "-c", METADATA_SCRIPT, tmp, json.dumps(meta, sort_keys=True)]))
    plan.add("publish snapshot %s" % name, "mkdir -p %s && mv %s %s" % (
        quote(directory.rsplit("/", 1)[0]), quote(tmp), quote(directory)))
    return meta


def disk_shape(applied: Mapping[str, Any]) -> Tuple[bool, bool, int, str]:
    """The block devices a VM has besides its root disk, which its saved device state names: a config disk, a
    secrets disk, how many volumes, and the kind of root."""
    w = applied.get("workload") or {}
    return bool(w), bool(w.get("secrets")), len(applied.get("volumes") or []), applied.get("root_format") or "ext4"


def _shape_text(shape: Tuple[bool, bool, int, str]) -> str:
    config, secrets, volumes, root = shape
    return "%s root, %s config disk, %s secrets disk and %d volume(s)" % (
        root, "a" if config else "no", "a" if secrets else "no", volumes)


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
            raise SpecError("firecracker.jailer", "snapshot %s was taken of %s VM; this VM is %s (restore needs the same)"
                            % (snapshot.get("name"), "a jailed" if was.get("jailer") else "an unjailed",
                               "jailed" if now.get("jailer") else "unjailed"))
        if not now.get("api", True):
            raise SpecError("firecracker.api", "a snapshot is loaded through the API socket, which api: false turns off")
    if disk_shape(source) != disk_shape(applied):
        raise SpecError("snapshot", "snapshot %s was taken of a VM with %s; this VM would have %s (a restore needs the "
                                    "same devices)" % (snapshot.get("name"), _shape_text(disk_shape(source)),
                                                       _shape_text(disk_shape(applied))))
    if bool(source.get("network")) != bool(applied.get("network")):
        raise SpecError("network", "snapshot %s was taken %s a network device; this VM %s"
                        % (snapshot.get("name"), "with" if source.get("network") else "without",
                           "has one" if applied.get("network") else "has none"))
