# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Firecracker backend: API calls as data (held to the official swagger by the tests), rendered
as curl commands over the API socket; or one --config-file document with --no-api.

Lessons built in: the VMM writes its own pid (the wrapper shell writes $$ and execs firecracker, never
`sudo ... & echo $!`); --enable-pci only when asked; the jailer's chroot is
<chroot_base>/<exec-file-name>/<id>/root and API paths are the in-chroot ones; SendCtrlAltDel only on
x86_64 (aarch64 goes straight to the timeout path).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import guest, identity, validate, vm_steps
from ansible_collections.mvm.microvm.plugins.module_utils.driver import Driver
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote, write_file

MIN_MEMORY_MIB = 128
MAX_VCPUS = 32
# What the jailer accepts as --id, not starting with '-' (it would read as an option).
_JAILER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}", re.ASCII)
BOOT_ARGS = "console=ttyS0 reboot=k panic=1 root=/dev/vda rw"
# jailer None: jailed wherever the jailer binary is installed; uid None: jailed VMs get their own uid from
# uid_base on (gid the same unless given).
OPTION_DEFAULTS = {"api": True, "enable_pci": False, "drives": [], "vsock_cid": None, "jailer": None,
                   "jailer_id": None, "uid": None, "gid": None, "uid_base": 10000, "chroot_base": "/srv/jailer",
                   "cgroup_version": 2, "netns": None, "seccomp_filter": None, "snapshot_type": "Full"}


@dataclass(frozen=True)
class Drive:
    drive_id: str
    path: str
    read_only: bool


@dataclass(frozen=True)
class Options:
    api: bool = True
    enable_pci: bool = False
    drives: Tuple[Drive, ...] = ()
    vsock_cid: Optional[int] = None
    jailer: Optional[bool] = None
    jailer_id: Optional[str] = None
    uid: Optional[int] = None
    gid: Optional[int] = None
    uid_base: int = 10000
    chroot_base: str = "/srv/jailer"
    cgroup_version: int = 2
    netns: Optional[str] = None
    seccomp_filter: Optional[str] = None
    snapshot_type: str = "Full"


@dataclass(frozen=True)
class Call:
    """One API request: method, path, JSON body."""

    method: str
    path: str
    body: Dict[str, Any] = field(default_factory=dict)


def options(value: Any) -> Options:
    """The `firecracker:` dict of the vm operation, validated field by field."""
    p = validate.options(value if value is not None else {}, OPTION_DEFAULTS, prefix="firecracker.")
    drives = []
    for index, d in enumerate(validate.items("firecracker.drives", p["drives"])):
        where = "firecracker.drives[%d]" % index
        if not isinstance(d, Mapping):
            raise SpecError(where, "expected {id, path, read_only}; got %r" % (d,))
        drives.append(Drive(validate.name(where + ".id", d.get("id")), str(validate.abs_path(where + ".path", d.get("path"))),
                            validate.boolean(where + ".read_only", d.get("read_only", False))))
    cid = p["vsock_cid"]
    if cid is not None:
        cid = validate.integer("firecracker.vsock_cid", cid, 3, 2 ** 32 - 1)
    jailer_id = p["jailer_id"]
    if jailer_id is not None and (isinstance(jailer_id, bool) or not _JAILER_ID.fullmatch(str(jailer_id))):
        raise SpecError("firecracker.jailer_id", "expected 1 to 64 letters, digits or '-', starting with a letter or "
                                                 "digit (what the jailer accepts); got %r" % (jailer_id,))
    jailer_id = None if jailer_id is None else str(jailer_id)  # YAML reads `jailer_id: 7` as a number
    return Options(
        api=validate.boolean("firecracker.api", p["api"]),
        enable_pci=validate.boolean("firecracker.enable_pci", p["enable_pci"]), drives=tuple(drives), vsock_cid=cid,
        jailer=validate.boolean("firecracker.jailer", p["jailer"]) if p["jailer"] is not None else None,
        jailer_id=jailer_id,
        uid=validate.integer("firecracker.uid", p["uid"], 0, 2 ** 32 - 2) if p["uid"] is not None else None,
        gid=validate.integer("firecracker.gid", p["gid"], 0, 2 ** 32 - 2) if p["gid"] is not None else None,
        uid_base=validate.integer("firecracker.uid_base", p["uid_base"], 1000, 2 ** 31),
        chroot_base=str(validate.abs_path("firecracker.chroot_base", p["chroot_base"])),
        cgroup_version=validate.integer("firecracker.cgroup_version", p["cgroup_version"], 1, 2),
        netns=validate.abs_path("firecracker.netns", p["netns"], optional=True),
        seccomp_filter=validate.abs_path("firecracker.seccomp_filter", p["seccomp_filter"], optional=True),
        snapshot_type=validate.choice("firecracker.snapshot_type", p["snapshot_type"], ("Full", "Diff")),
    )


def resolve(opts: Options, facts: Mapping[str, Any], name: str) -> Options:
    """The options a VM starts with on this host: jailed where the jailer is installed (unless told not to),
    and a jailed VM under its own uid (kept across restarts, else the lowest free one from uid_base)."""
    from dataclasses import replace

    from ansible_collections.mvm.microvm.plugins.module_utils import security

    jailer = opts.jailer if opts.jailer is not None else bool(facts["tools"].get("jailer", {}).get("present"))
    uid = opts.uid if opts.uid is not None else (security.allocate_uid(name, facts, opts.uid_base) if jailer else 0)
    return replace(opts, jailer=jailer, uid=uid, gid=opts.gid if opts.gid is not None else uid)


def recorded(opts: Options) -> Dict[str, Any]:
    """The options as the applied spec records them (and options_from_applied reads them back)."""
    record = {"api": opts.api, "enable_pci": opts.enable_pci, "vsock_cid": opts.vsock_cid, "jailer": opts.jailer,
              "jailer_id": opts.jailer_id, "uid": opts.uid, "gid": opts.gid, "uid_base": opts.uid_base,
              "chroot_base": opts.chroot_base, "cgroup_version": opts.cgroup_version, "netns": opts.netns,
              "seccomp_filter": opts.seccomp_filter,
              "drives": [[d.drive_id, d.path, d.read_only] for d in opts.drives]}  # type: Dict[str, Any]
    if opts.snapshot_type != "Full":
        # Recorded only when not the default, so that VMs recorded before this field existed do not drift.
        record["snapshot_type"] = opts.snapshot_type
    return record


def options_from_applied(applied: Mapping[str, Any]) -> Options:
    """The options a VM was started with, from its applied spec."""
    recorded = dict(applied.get("firecracker") or {})
    recorded["drives"] = [{"id": i, "path": p, "read_only": r} for i, p, r in recorded.get("drives", [])]
    return options(recorded)


def check_machine(applied: Mapping[str, Any], opts: Options) -> None:
    """What Firecracker refuses, refused here first (with the field the user wrote)."""
    cpus = applied["cpus"]
    if cpus < 1 or cpus > MAX_VCPUS:
        raise SpecError("cpus", "Firecracker takes 1 to %d vCPUs; got %d" % (MAX_VCPUS, cpus))
    if cpus > 1 and cpus % 2:
        raise SpecError("cpus", "Firecracker takes 1 or an even number of vCPUs; got %d" % cpus)
    if applied["memory_mib"] < MIN_MEMORY_MIB:
        raise SpecError("memory", "Firecracker needs at least %d MiB; got %d" % (MIN_MEMORY_MIB, applied["memory_mib"]))
    jailer_id = opts.jailer_id or applied["name"]
    if opts.jailer and not _JAILER_ID.fullmatch(jailer_id):
        raise SpecError("firecracker.jailer_id", "the VM name %r is not a valid jailer id (letters, digits, '-'); "
                                                 "give firecracker.jailer_id" % jailer_id)


# ---- layout ------------------------------------------------------------------------------------------


def layout(vm_dir: str, applied: Mapping[str, Any], opts: Options) -> Dict[str, str]:
    """Host paths, and the paths the VMM sees (in-chroot ones under the jailer)."""
    if opts.jailer:
        jail = "%s/firecracker/%s/root" % (opts.chroot_base, opts.jailer_id or applied["name"])
        return {"jail": jail, "socket": jail + "/run/firecracker.socket", "api_socket": "/run/firecracker.socket",
                "pid": jail + "/firecracker.pid", "kernel": "/vmlinux", "initrd": "/initrd.img",
                "rootfs": "/rootfs.ext4", "log": "/firecracker.log", "host_log": jail + "/firecracker.log",
                "vsock": "/v.sock", "config": jail + "/vm-config.json", "api_config": "/vm-config.json",
                "console": vm_dir + "/console.log"}
    return {"jail": "", "socket": vm_dir + "/api.sock", "api_socket": vm_dir + "/api.sock", "pid": vm_dir + "/pid",
            "kernel": applied["kernel"], "initrd": applied.get("initrd") or "", "rootfs": vm_dir + "/disk.ext4",
            "log": vm_dir + "/firecracker.log", "host_log": vm_dir + "/firecracker.log", "vsock": vm_dir + "/v.sock",
            "config": vm_dir + "/vm-config.json", "api_config": vm_dir + "/vm-config.json",
            "console": vm_dir + "/console.log"}


def boot_args(applied: Mapping[str, Any], opts: Options) -> str:
    """With a vsock, the guest agent listens on it (guest.py): QEMU's virtio-serial does not exist here."""
    agent = "mvm.agent=vsock:%d:%d" % (opts.vsock_cid, guest.AGENT_VSOCK_PORT) if opts.vsock_cid else ""
    return vm_steps.guest_args(applied, BOOT_ARGS + ("" if opts.enable_pci else " pci=off"),
                               " ".join(w for w in (vm_steps.disk_args(applied, vm_steps.extra_disks(applied, "", "")),
                                                    agent) if w))


def workload_drives(applied: Mapping[str, Any], vm_dir: str, opts: Options) -> List[Tuple[str, str, str, bool]]:
    """The workload's disks and volumes after the root drive, before the user's drives (the guest sees them in this
    order: vdb, vdc, ...): (drive id, host path, path the VMM opens, read-only)."""
    root = vm_dir.rsplit("/", 2)[0]
    return [(ident, path, "/%s.ext4" % ident if opts.jailer else path, ro)
            for ident, path, ro in vm_steps.extra_disks(applied, vm_dir, root)]


# ---- API calls ---------------------------------------------------------------------------------------


def boot_calls(applied: Mapping[str, Any], opts: Options, paths: Mapping[str, str], vm_dir: str) -> List[Call]:
    """Pre-boot configuration in the order the API allows, then InstanceStart."""
    boot = {"kernel_image_path": paths["kernel"], "boot_args": boot_args(applied, opts)}
    if applied.get("initrd"):
        boot["initrd_path"] = paths["initrd"]
    calls = [
        Call("PUT", "/logger", {"log_path": paths["log"], "level": "Info"}),
        Call("PUT", "/boot-source", boot),
        Call("PUT", "/machine-config", dict({"vcpu_count": applied["cpus"], "mem_size_mib": applied["memory_mib"],
                                             "smt": False},
                                            # Diff snapshots need dirty page tracking from boot on.
                                            **({"track_dirty_pages": True} if opts.snapshot_type == "Diff" else {}))),
        Call("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": paths["rootfs"], "is_root_device": True,
                                       "is_read_only": False}),
    ]
    for ident, _host, seen, read_only in workload_drives(applied, vm_dir, opts):
        body = {"drive_id": ident, "path_on_host": seen, "is_root_device": False, "is_read_only": read_only}
        calls.append(Call("PUT", "/drives/" + ident, body))
    for d in opts.drives:
        calls.append(Call("PUT", "/drives/" + d.drive_id, {"drive_id": d.drive_id, "path_on_host": _in_jail(d.path, opts),
                                                           "is_root_device": False, "is_read_only": d.read_only}))
    net = applied.get("network")
    if net:
        calls.append(Call("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": net["tap"],
                                                              "guest_mac": net["mac"]}))
    if opts.vsock_cid:
        calls.append(Call("PUT", "/vsock", {"guest_cid": opts.vsock_cid, "uds_path": paths["vsock"]}))
    calls.append(Call("PUT", "/actions", {"action_type": "InstanceStart"}))
    return calls


def config_document(applied: Mapping[str, Any], opts: Options, paths: Mapping[str, str], vm_dir: str) -> Dict[str, Any]:
    """The --config-file document: GET /vm/config's schema, with hyphenated top-level keys."""
    keys = {"/logger": "logger", "/boot-source": "boot-source", "/machine-config": "machine-config",
            "/vsock": "vsock"}
    doc = {"drives": [], "network-interfaces": []}  # type: Dict[str, Any]
    for call in boot_calls(applied, opts, paths, vm_dir):
        if call.path in keys:
            doc[keys[call.path]] = call.body
        elif call.path.startswith("/drives/"):
            doc["drives"].append(call.body)
        elif call.path.startswith("/network-interfaces/"):
            doc["network-interfaces"].append(call.body)
    return doc


def pause_call() -> Call:
    return Call("PATCH", "/vm", {"state": "Paused"})


def resume_call() -> Call:
    return Call("PATCH", "/vm", {"state": "Resumed"})


def snapshot_create_call(snapshot_path: str, mem_path: str, snapshot_type: str = "Full") -> Call:
    return Call("PUT", "/snapshot/create", {"snapshot_type": snapshot_type, "snapshot_path": snapshot_path,
                                            "mem_file_path": mem_path})


def snapshot_load_call(snapshot_path: str, mem_path: str, applied: Mapping[str, Any], version: str,
                       vsock_path: Optional[str] = None) -> Call:
    """Load on a fresh process; network_overrides give the restored VM its own TAP (vsock_override needs 1.16)."""
    body = {"snapshot_path": snapshot_path, "mem_backend": {"backend_type": "File", "backend_path": mem_path},
            "resume_vm": True}  # type: Dict[str, Any]
    net = applied.get("network")
    if net:
        body["network_overrides"] = [{"iface_id": "eth0", "host_dev_name": net["tap"]}]
    if vsock_path and _version_at_least(version, (1, 16)):
        body["vsock_override"] = {"uds_path": vsock_path}
    return Call("PUT", "/snapshot/load", body)


def _version_at_least(version: str, wanted: Tuple[int, int]) -> bool:
    try:
        major, minor = (int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= wanted


def _in_jail(path: str, opts: Options) -> str:
    return "/" + path.rsplit("/", 1)[-1] if opts.jailer else path


# ---- commands ----------------------------------------------------------------------------------------


def curl(socket_path: str, call: Call) -> str:
    """One API call over the unix socket; fails on an HTTP error and prints Firecracker's fault message."""
    argv = ["curl", "--unix-socket", socket_path, "-sS", "--fail-with-body", "-X", call.method,
            "http://localhost" + call.path]
    if call.body:
        argv += ["-H", "Content-Type: application/json", "-d", json.dumps(call.body, sort_keys=True)]
    return join(argv)


def start_command(applied: Mapping[str, Any], opts: Options, vm_dir: str, paths: Mapping[str, str],
                  binaries: Mapping[str, str]) -> str:
    """Start the VMM so that its own pid lands in the pid file: the wrapper writes $$, then execs it."""
    fc_args = ["--api-sock", paths["api_socket"]] if opts.api else ["--no-api", "--config-file", paths["api_config"]]
    if opts.enable_pci:
        fc_args.append("--enable-pci")
    if opts.seccomp_filter:
        fc_args += ["--seccomp-filter", _in_jail(opts.seccomp_filter, opts)]
    if opts.jailer:
        argv = [binaries["jailer"], "--id", opts.jailer_id or applied["name"], "--exec-file", binaries["firecracker"],
                "--uid", str(opts.uid), "--gid", str(opts.gid), "--chroot-base-dir", opts.chroot_base,
                "--cgroup-version", str(opts.cgroup_version), "--new-pid-ns"]
        if opts.netns:
            argv += ["--netns", opts.netns]
        # With --new-pid-ns the jailer forks firecracker into a pid namespace and writes its pid (as the host
        # sees it) to <exec-file-name>.pid in the chroot; without it no pid file appears.
        launch = "setsid %s -- %s" % (join(argv), join(fc_args))
    else:
        # $0 is the pid file; $$ is this shell, which becomes firecracker by exec: the VMM's own pid.
        launch = "setsid sh -c %s %s" % (
            quote('echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"'),
            join([paths["pid"], binaries["firecracker"]] + fc_args))
    return "cd %s && %s </dev/null >%s 2>&1 &" % (quote(vm_dir), launch, quote(paths["console"]))


def wait_socket_command(socket_path: str, pidfile: str, timeout: float, console: str) -> str:
    """Wait for the API socket; on failure show what the VMM (or the jailer) printed."""
    return ("i=0; while [ ! -S %(s)s ]; do i=$((i+1)); if [ $i -gt %(t)d ]; then "
            "echo 'the Firecracker API socket did not appear; the VMM printed:' >&2; tail -n 20 %(c)s >&2; exit 1; fi; "
            "sleep 0.05; done; [ -s %(p)s ]") % {
        "s": quote(socket_path), "p": quote(pidfile), "t": int(timeout * 20), "c": quote(console)}


def jail_steps(applied: Mapping[str, Any], opts: Options, vm_dir: str, paths: Mapping[str, str]) -> List[Tuple[str, str]]:
    """The chroot the jailed VMM sees, made so that its user gets only what is its own.

    Shared inputs (kernel, initrd, read-only drives, the seccomp filter) are *copied* into a root-made
    directory and stay root's (readable by the VM's group): a hard link would share the inode, and a chown
    of it would hand the original to the VM's user. The VM's own disk and its writable drives are hard-linked
    (the VM writes them; a copy would lose those writes) and given to its uid. Whatever the VM's user may
    have left in the chroot is removed first (rm -f takes a planted symlink, never its target), every chown
    is `-h`, and a symlink on the way to the chroot stops the step.
    """
    jail = paths["jail"]
    jail_id = opts.jailer_id or applied["name"]
    shared = [(applied["kernel"], jail + "/vmlinux")]
    if applied.get("initrd"):
        shared.append((applied["initrd"], jail + "/initrd.img"))
    shared += [(d.path, jail + "/" + d.path.rsplit("/", 1)[-1]) for d in opts.drives if d.read_only]
    if opts.seccomp_filter:
        shared.append((opts.seccomp_filter, jail + "/" + opts.seccomp_filter.rsplit("/", 1)[-1]))
    own = [(vm_dir + "/disk.ext4", jail + "/rootfs.ext4")]
    own += [(d.path, jail + "/" + d.path.rsplit("/", 1)[-1]) for d in opts.drives if not d.read_only]
    # The workload's disks: its config and secrets copied (read-only, the VM's group), its volumes hard-linked.
    for _ident, host, seen, read_only in workload_drives(applied, vm_dir, opts):
        (shared if read_only else own).append((host, jail + seen))
    uid = int(opts.uid or 0)
    gid = int(opts.gid) if opts.gid is not None else uid
    ids = {"uid": uid, "gid": gid}
    chain = [opts.chroot_base, opts.chroot_base + "/firecracker", opts.chroot_base + "/firecracker/" + jail_id, jail]
    commands = ["for d in %s; do if [ -L \"$d\" ]; then echo \"$d is a symbolic link: refusing to build the "
                "jailer chroot through it\" >&2; exit 1; fi; done" % " ".join(quote(d) for d in chain),
                "install -d -m 0755 -o 0 -g 0 %s" % " ".join(quote(d) for d in chain),
                "rm -rf %s && install -d -m 0700 -o %d -g %d %s" % (quote(jail + "/run"), uid, gid, quote(jail + "/run")),
                # The VMM's log, made for it: the chroot's root is root's, so the jailed VMM cannot create files there.
                "rm -f %s && install -m 0600 -o %d -g %d /dev/null %s" % (quote(paths["host_log"]), uid, gid,
                                                                          quote(paths["host_log"]))]
    for src, dst in shared:
        commands.append("rm -f %(d)s && cp --sparse=always %(s)s %(d)s && chown -h 0:%(gid)d %(d)s && chmod 0640 %(d)s"
                        % dict(ids, s=quote(src), d=quote(dst)))
    for src, dst in own:
        commands.append("rm -f %(d)s && { ln %(s)s %(d)s || { echo 'the jailer chroot and %(s)s must be on one "
                        "file system: the VM writes its disk through a hard link' >&2; exit 1; }; } && "
                        "chown -h %(uid)d:%(gid)d %(d)s && chmod 0600 %(d)s" % dict(ids, s=quote(src), d=quote(dst)))
    return [("prepare the jailer chroot %s" % jail, " && ".join(commands))]


def config_file_step(applied: Mapping[str, Any], opts: Options, paths: Mapping[str, str],
                     vm_dir: str) -> Tuple[str, str]:
    return ("write the Firecracker config file", write_file(paths["config"], json.dumps(
        config_document(applied, opts, paths, vm_dir), sort_keys=True, indent=1)))


def snapshot_steps(applied: Mapping[str, Any], vm_dir: str, tmp: str, snapshot_type: str,
                   was_running: bool) -> List[Tuple[str, str]]:
    """Pause, PUT /snapshot/create into the VMM's view of the file system, bring the files to `tmp`."""
    opts = options_from_applied(applied)
    paths = layout(vm_dir, applied, opts)
    sock = paths["socket"]
    inner = "/mvm-snapshot" if opts.jailer else tmp
    host_side = paths["jail"] + "/mvm-snapshot" if opts.jailer else tmp
    steps = []  # type: List[Tuple[str, str]]
    if was_running:
        steps.append(("pause the VM", curl(sock, pause_call())))
    # Jailed, the VMM writes the files as the VM's user: the directory is made for that user.
    make = "mkdir -p %s" % quote(host_side)
    if opts.jailer:
        make = "rm -rf %s && install -d -m 0700 -o %d -g %d %s" % (
            quote(host_side), int(opts.uid or 0), int(opts.gid or 0), quote(host_side))
    steps.append(("create the snapshot (%s)" % snapshot_type, "%s && %s" % (
        make, curl(sock, snapshot_create_call(inner + "/vm.snap", inner + "/memory.bin", snapshot_type)))))
    if opts.jailer:
        steps.append(("move the snapshot out of the jail", "mv %s/vm.snap %s/memory.bin %s/ && rmdir %s" % (
            quote(host_side), quote(host_side), quote(tmp), quote(host_side))))
    return steps


def restore_steps(applied: Mapping[str, Any], vm_dir: str, snapshot_dir: str, version: str,
                  timeout: float) -> List[Tuple[str, str]]:
    """On the fresh process: PUT /snapshot/load with this VM's TAP (and vsock on >= 1.16), then wait for Running."""
    opts = options_from_applied(applied)
    paths = layout(vm_dir, applied, opts)
    sock = paths["socket"]
    steps = []  # type: List[Tuple[str, str]]
    snap, mem = snapshot_dir + "/vm.snap", snapshot_dir + "/memory.bin"
    if opts.jailer:
        # Copies, never links: the snapshot is shared by every VM restored from it.
        steps.append(("copy the snapshot into the jail", (
            "rm -f %(j)s/vm.snap %(j)s/memory.bin && cp --sparse=always %(s)s %(j)s/vm.snap && "
            "cp --sparse=always %(m)s %(j)s/memory.bin && chown -h %(uid)d:%(gid)d %(j)s/vm.snap %(j)s/memory.bin && "
            "chmod 0600 %(j)s/vm.snap %(j)s/memory.bin") % {
                "s": quote(snap), "m": quote(mem), "j": quote(paths["jail"]), "uid": int(opts.uid or 0),
                "gid": int(opts.gid or 0)}))
        snap, mem = "/vm.snap", "/memory.bin"
    call = snapshot_load_call(snap, mem, applied, version, paths["vsock"] if opts.vsock_cid else None)
    steps.append(("load the snapshot", curl(sock, call)))
    steps.append(("wait until the VM runs", (
        "i=0; until curl --unix-socket %(s)s -sS http://localhost/ | grep -q '\"state\": *\"Running\"'; do "
        "i=$((i+1)); [ $i -gt %(t)d ] && { echo 'the restored VM is not running' >&2; exit 1; }; sleep 0.1; done"
    ) % {"s": quote(sock), "t": int(timeout * 10)}))
    return steps


def identity_argument(applied: Mapping[str, Any], opts: Options, paths: Mapping[str, str]) -> str:
    """The argv element that names this VM in its VMM's command line (see identity)."""
    if opts.jailer:
        return opts.jailer_id or applied["name"]
    return paths["api_socket"] if opts.api else paths["api_config"]


def record_command(applied: Mapping[str, Any], opts: Options, vm_dir: str, paths: Mapping[str, str]) -> str:
    """Once the pid file exists (the jailer writes it a moment after the start), record the VMM's identity."""
    record = identity.record_command(vm_dir, paths["pid"], identity_argument(applied, opts, paths))
    return ("i=0; while [ ! -s %(p)s ]; do i=$((i+1)); if [ $i -gt 200 ]; then echo 'no pid file:' %(p)s >&2; "
            "exit 1; fi; sleep 0.05; done; %(record)s") % {"p": quote(paths["pid"]), "record": record}


def stop_command(applied: Mapping[str, Any], socket_path: str, vm_dir: str, pid: Any, timeout: float) -> str:
    """x86_64: SendCtrlAltDel, then SIGKILL after the timeout; aarch64 has no CtrlAltDel: SIGTERM, then SIGKILL.
    Only while the pid is this VM's VMM."""
    pid_text = str(int(pid))
    if applied["arch"] == "x86_64":
        ask = curl(socket_path, Call("PUT", "/actions", {"action_type": "SendCtrlAltDel"}))
    else:
        ask = "kill -TERM %s" % pid_text
    return identity.kill_command(vm_dir, pid_text, ask, int(timeout * 10))


def kill_command(vm_dir: str, pid: Any = None) -> str:
    """Immediate end (removal, recreation). Without a pid (a VM this same plan started), the pid file says which."""
    who = str(int(pid)) if pid else "$(cat %s 2>/dev/null)" % quote(vm_dir + "/pid")
    return identity.kill_command(vm_dir, who, ticks=0)


def jail_dir(opts: Options, name: str) -> str:
    """The jailer's directory of one VM (its chroot is the `root` inside)."""
    return "%s/firecracker/%s" % (opts.chroot_base, opts.jailer_id or name)


class FirecrackerDriver(Driver):
    """Firecracker: configured through its API (or one --config-file document), jailed where the jailer is
    installed, snapshots through /snapshot/create and /snapshot/load."""

    name = "firecracker"
    priority = 1
    capabilities = {"snapshots": True, "pause": True, "guest_channel": "vsock", "tap": True, "ports": True,
                    "workload": True, "disks": False, "volumes": True, "autostart": False}
    install_hint = "a Linux host with usable KVM (kvm_intel, kvm_amd or arm KVM) and the firecracker binary"
    needs = ("kvm usable", "firecracker", "ip", "image tools")
    probe_tools = ("firecracker", "jailer")
    probe_versions = (("firecracker", "--version"), ("jailer", "--version"))

    def why_not(self, facts: Mapping[str, Any]) -> List[str]:
        linux = facts["platform"]["os"] == "linux"
        return [w for w in (
            "" if linux else "not a Linux host",
            "" if not linux or facts["kvm"]["usable"] else "KVM not usable: " + facts["kvm"]["reason"],
            "" if facts["tools"].get("firecracker", {}).get("present") else "the firecracker binary is not installed",
        ) if w]

    def resolve(self, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
                artifacts: Mapping[str, Optional[str]]) -> None:
        vmlinux = artifacts.get("vmlinux")
        if vmlinux and applied["arch"] == "x86_64":
            applied["kernel"] = vmlinux  # Firecracker boots an ELF kernel on x86_64
        applied["accel"] = "kvm"
        opts = resolve(spec.firecracker or Options(), facts, spec.name)
        check_machine(applied, opts)
        applied["firecracker"] = recorded(opts)

    def plan(self, plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
             current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
        """State directory, TAP and lease as for every VM; the VMM configured through its API."""
        directory = vm_steps.vm_dir(facts, spec.name)
        opts = options_from_applied(applied)
        paths = layout(directory, applied, opts)
        binaries = {"firecracker": facts["tools"].get("firecracker", {}).get("path") or "firecracker",
                    "jailer": facts["tools"].get("jailer", {}).get("path") or "jailer"}
        if opts.jailer and not facts["tools"].get("jailer", {}).get("present"):
            raise SpecError("firecracker.jailer", "the jailer binary is not installed next to firecracker")
        if spec.state == "paused" and not opts.api:
            raise SpecError("firecracker.api", "pausing a Firecracker VM needs its API socket, which api: false turns "
                                               "off; use state: running or stopped, or api: true")
        where = vm_steps.lifecycle(spec, facts, applied, current, changes)
        running, paused, fresh, restore, snap = where.running, where.paused, where.fresh, where.restore, where.snapshot
        if restore and snap and not opts.jailer and snap.get("vm") != spec.name:
            # The snapshot holds the paths the VMM opened; unjailed those are the source VM's own files.
            raise SpecError("firecracker.jailer", "snapshot %s was taken of %s without the jailer: its device state "
                                                  "names %s's disk by path, so restoring it as %s would open that VM's disk; "
                                                  "restore it under the name %s, or take snapshots of jailed VMs"
                            % (spec.snapshot, snap.get("vm"), snap.get("vm"), spec.name, snap.get("vm")))
        if current and changes and running:
            plan.add("stop VM %s to apply: %s" % (spec.name, ", ".join(sorted(changes))),
                     kill_command(directory, current["pid"]))
            running = paused = False
        vm_steps.network_steps(plan, spec, applied, facts, current)
        snap_dir = vm_steps.snapshot_dir(facts["state_root"], spec.snapshot or "")
        if fresh:
            vm_steps.create_steps(plan, applied, directory, snap_dir + "/" + vm_steps.DISK_FILE if restore else applied["rootfs"],
                                  lambda p: vm_steps.prepare_steps(p, spec, facts, applied, directory, None))
        elif (current or {}).get("applied") != applied:
            vm_steps.record_steps(plan, applied, directory,
                                  lambda p: vm_steps.prepare_steps(p, spec, facts, applied, directory, current))
        sock = paths["socket"]
        if spec.state in ("running", "paused"):
            if not running:
                plan.add("clear old socket and pid", "rm -f %s %s" % (quote(sock), quote(paths["pid"])))
                if opts.jailer:
                    for description, command in jail_steps(applied, opts, directory, paths):
                        plan.add(description, command)
                if not opts.api:
                    plan.add(*config_file_step(applied, opts, paths, directory))
                plan.add("start VM %s (firecracker%s)" % (spec.name, ", jailed" if opts.jailer else ""),
                         start_command(applied, opts, directory, paths, binaries))
                if opts.jailer:
                    # The probe reads every VM's pid and API socket in its own directory; jailed, both live in the chroot.
                    plan.add("link the jailer's pid file and API socket", "ln -sfn %s %s && ln -sfn %s %s" % (
                        quote(paths["pid"]), quote(directory + "/pid"), quote(sock), quote(directory + "/api.sock")))
                plan.add("record the identity of %s's VMM" % spec.name, record_command(applied, opts, directory, paths))
                if opts.api:
                    plan.add("wait for the API socket",
                             wait_socket_command(sock, paths["pid"], spec.boot_timeout, paths["console"]))
                if restore:
                    version = str(facts["tools"].get("firecracker", {}).get("version") or "")
                    for description, command in restore_steps(applied, directory, snap_dir, version, spec.boot_timeout):
                        plan.add(description, command)
                else:
                    for call in boot_calls(applied, opts, paths, directory) if opts.api else []:
                        plan.add("%s %s" % (call.method, call.path), curl(sock, call))
                    plan.wait("wait for %s to be ready (%gs)" % (spec.name, spec.boot_timeout), vm_steps.wait_ready_command(
                        directory, spec.boot_timeout, pid_file=paths["pid"]))
                vm_steps.wait_healthy_steps(plan, spec, applied, vm_steps.console_source(directory))
                if spec.state == "paused":
                    plan.add("pause VM %s" % spec.name, curl(sock, pause_call()))
            else:
                plan.result["pid"] = (current or {}).get("pid")
                if spec.state == "running" and paused:
                    plan.add("resume VM %s" % spec.name, curl(sock, resume_call()))
                elif spec.state == "paused" and not paused:
                    plan.add("pause VM %s" % spec.name, curl(sock, pause_call()))
        elif running:
            pid = (current or {}).get("pid")
            if paused:
                plan.add("resume VM %s so it can shut down" % spec.name, curl(sock, resume_call()))
            plan.add("stop VM %s (pid %s)" % (spec.name, pid),
                     stop_command(applied, sock, directory, pid, spec.stop_timeout))
        plan.result["security"] = {"jailer": opts.jailer, "seccomp": opts.seccomp_filter or "default"}
        return plan

    def remove(self, plan: Plan, facts: Mapping[str, Any], current: Mapping[str, Any]) -> None:
        applied = current["applied"] or {}
        name = current["name"]
        opts = options_from_applied(applied)
        if current["pid"]:
            plan.add("stop VM %s (pid %d)" % (name, current["pid"]), kill_command(current["dir"], current["pid"]))
        net = applied.get("network")
        if net:
            vm_steps.release_network(plan, facts, name, net)
        if opts.jailer:
            jail = jail_dir(opts, name)
            plan.add("remove the jailer chroot %s" % jail, "rm -rf %s" % quote(jail))

    def save(self, plan: Plan, name: str, vm: Mapping[str, Any], directory: str, was_running: bool,
             resume: bool) -> Dict[str, Any]:
        """Pause, /snapshot/create, the disk, metadata, publish, resume (when it ran and `resume`)."""
        applied = vm["applied"] or {}
        opts = options_from_applied(applied)
        meta = vm_steps.save_snapshot(plan, name, vm["name"], vm["dir"], applied, directory,
                                      {"boot_args": boot_args(applied, opts), "snapshot_type": opts.snapshot_type},
                                      lambda tmp: snapshot_steps(applied, vm["dir"], tmp, opts.snapshot_type, was_running))
        if resume and was_running:
            plan.add("resume %s" % vm["name"], curl(layout(vm["dir"], applied, opts)["socket"], resume_call()))
        return meta

    def discard(self, plan: Plan, vm_dir: str, applied: Mapping[str, Any]) -> None:
        plan.add("remove builder VM %s" % applied["name"], kill_command(vm_dir))
        opts = options_from_applied(applied)
        if opts.jailer:
            jail = jail_dir(opts, applied["name"])
            plan.add("remove the jailer chroot %s" % jail, "rm -rf %s" % quote(jail))


DRIVER = FirecrackerDriver()
