# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU backend (microvm.nix style): command line, start, stop and removal commands."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import autostart, guest, identity, qmp, vm_steps
from ansible_collections.mvm.microvm.plugins.module_utils.driver import Driver
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote

# `ram`: the machine's own name for its RAM block, which a snapshot's migration stream is matched by.
MACHINE = {
    "x86_64": {"binary": "qemu-system-x86_64", "machine": "microvm", "console": "ttyS0", "ram": "microvm.ram"},
    "aarch64": {"binary": "qemu-system-aarch64", "machine": "virt", "console": "ttyAMA0", "ram": "mach-virt.ram"},
}
MACHINE["arm64"] = MACHINE["aarch64"]
# Under TCG, QEMU reserves a 1 GiB translation cache by default and a busybox guest's boot alone fills 30 MiB of
# it; a microVM's cache is kept small (it is flushed and refilled when full, which costs little for such guests).
# Measured here with mvm's kernel (two guests): 32 MiB -> 114 MiB resident, 16 -> 96 MiB at the same boot time;
# 8 -> 87 MiB but boots 40% slower, 4 -> twice as slow.
TCG_CACHE_MIB = 16

# A process that has exited but was not reaped yet is not alive.
_ALIVE = ("alive() { kill -0 \"$1\" 2>/dev/null || return 1; "
          "case \"$(cat /proc/$1/stat 2>/dev/null)\" in *\") Z \"*) return 1;; esac; return 0; }; ")


def opt(value: str) -> str:
    """A value inside a QEMU option string (`-drive file=...`): QEMU splits on ',' and reads ',,' as one."""
    return str(value).replace(",", ",,")


files = vm_steps.files


def cmdline(applied: Mapping[str, Any]) -> str:
    """The guest kernel command line: console, root, hostname, network, the TSC rate, the user's extra arguments."""
    disks = vm_steps.extra_disks(applied, "", "")  # the order alone decides the devices
    overlay = applied.get("root_format") == "squashfs"
    extra = " ".join(w for w in ("tsc_early_khz=%d" % applied["tsc_khz"] if applied.get("tsc_khz") else "",
                                 "mvm.overlay=vdb" if overlay else "",
                                 vm_steps.disk_args(applied, disks, first=2 if overlay else 1)) if w)
    return vm_steps.guest_args(applied, "console=%s root=/dev/vda rw panic=-1 quiet" % MACHINE[applied["arch"]]["console"],
                               extra)


def argv(applied: Mapping[str, Any], vm_dir: str) -> List[str]:
    """The VMM command line for an applied spec."""
    m = MACHINE[applied["arch"]]
    f = files(vm_dir)
    kvm = applied["accel"] == "kvm"
    args = [m["binary"], "-name", applied["name"], "-M", "%s,memory-backend=%s" % (m["machine"], m["ram"]),
            "-accel", applied["accel"] if kvm else "tcg,tb-size=%d" % TCG_CACHE_MIB]
    if kvm or m["machine"] == "virt":
        args += ["-cpu", "host" if kvm else "max"]
    net = applied.get("network")
    # Guest RAM from a memfd: anonymous RAM is advised into transparent huge pages, so each page the guest touches
    # costs the host 2 MiB; shared memory is backed page by page. The backend keeps the machine's own RAM name, so
    # snapshots taken before (plain -m) still restore.
    args += ["-object", "memory-backend-memfd,id=%s,size=%dM" % (m["ram"], applied["memory_mib"]),
             "-m", "%dM" % applied["memory_mib"], "-smp", str(applied["cpus"]),
             "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
             # QEMU's seccomp filter; spawning stays allowed: snapshots migrate through `exec:cat`.
             "-sandbox", "on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny",
             "-kernel", applied["kernel"]]
    if applied["initrd"]:
        args += ["-initrd", applied["initrd"]]
    args += ["-append", cmdline(applied),
             "-drive", "id=root,file=%s,format=raw,if=none" % opt(f["disk"]),
             "-device", "virtio-blk-device,drive=root"]
    if applied.get("root_format") == "squashfs":
        # vda: the image's squashfs, shared and read-only; vdb: the VM's own disk, the overlay's writable layer.
        args[-4:] = ["-drive", "id=root,file=%s,format=raw,if=none,readonly=on" % opt(applied["rootfs"]),
                     "-device", "virtio-blk-device,drive=root",
                     "-drive", "id=upper,file=%s,format=raw,if=none" % opt(f["disk"]),
                     "-device", "virtio-blk-device,drive=upper"]
    for ident, path, read_only in vm_steps.extra_disks(applied, vm_dir, vm_dir.rsplit("/", 2)[0]):
        args += ["-drive", "id=%s,file=%s,format=raw,if=none%s" % (ident, opt(path), ",readonly=on" if read_only else ""),
                 "-device", "virtio-blk-device,drive=%s" % ident]
    args += ["-serial", "file:" + f["console"]]
    if net:
        args += ["-netdev", "tap,id=net0,ifname=%s,script=no,downscript=no" % net["tap"],
                 "-device", "virtio-net-device,netdev=net0,mac=%s" % net["mac"]]
    args += ["-device", "virtio-serial-device",
             "-chardev", "socket,id=agent,path=%s,server=on,wait=off" % opt(f["agent"]),
             "-device", "virtconsole,chardev=agent",
             # The QEMU guest agent's port (exec, files, health): the name qemu-ga and libvirt use.
             "-chardev", "socket,id=qga,path=%s,server=on,wait=off" % opt(f["qga"]),
             "-device", "virtserialport,chardev=qga,name=%s" % guest.AGENT_PORT_NAME,
             "-qmp", "unix:%s,server=on,wait=off" % opt(f["qmp"]), "-pidfile", f["pid"]]
    return args


def start_command(applied: Mapping[str, Any], vm_dir: str, incoming: Optional[str] = None) -> str:
    """Start the VMM in its own session; QEMU writes its own pid file (no -daemonize: it breaks migrate).

    With `incoming`, the guest's state comes from a saved snapshot file instead of a boot.
    """
    f = files(vm_dir)
    command = argv(applied, vm_dir) + (["-incoming", "exec:cat %s" % quote(incoming)] if incoming else [])
    return (
        "rm -f %(pid)s %(qmp)s %(con)s; cd %(dir)s && "
        "setsid %(argv)s </dev/null >>%(log)s 2>&1 & "
        "i=0; while [ ! -s %(pid)s ]; do i=$((i+1)); "
        "if [ $i -gt 300 ] || ! kill -0 $! 2>/dev/null; then echo 'qemu did not start:' >&2; "
        "cat %(log)s >&2; exit 1; fi; sleep 0.1; done; %(record)s"
    ) % {"pid": quote(f["pid"]), "qmp": quote(f["qmp"]), "con": quote(f["console"]), "dir": quote(vm_dir),
         "argv": join(command), "log": quote(f["vmm_log"]),
         "record": identity.record_command(vm_dir, f["pid"], f["pid"])}


wait_ready_command = vm_steps.wait_ready_command


def stop_command(vm_dir: str, pid: int, timeout: float) -> str:
    """ACPI power button through QMP, then SIGKILL once the timeout has passed (only this VM's VMM)."""
    f = files(vm_dir)
    return identity.kill_command(vm_dir, str(int(pid)), qmp.command(f["qmp"], ["system_powerdown"]),
                                 int(timeout * 10)) + "; rm -f %s %s" % (quote(f["pid"]), quote(f["qmp"]))


def kill_command(vm_dir: str, pid: Optional[int] = None) -> str:
    """Immediate end, for removal and recreation: QMP quit, SIGKILL if it lingers (only this VM's VMM).

    Without a pid (a VM this same plan started), the VMM's own pid file says which process it is.
    """
    f = files(vm_dir)
    who = str(int(pid)) if pid else "$(cat %s 2>/dev/null)" % quote(f["pid"])
    return identity.kill_command(vm_dir, who, qmp.command(f["qmp"], ["quit"])) + "; rm -f %s %s" % (
        quote(f["pid"]), quote(f["qmp"]))


def pause_command(vm_dir: str) -> str:
    return qmp.command(files(vm_dir)["qmp"], ["stop"])


def resume_command(vm_dir: str) -> str:
    return qmp.command(files(vm_dir)["qmp"], ["cont"])


def save_command(vm_dir: str, memory_file: str) -> str:
    """Stop the guest and write its state to a file (the guest stays stopped)."""
    return qmp.save_command(files(vm_dir)["qmp"], memory_file)


def incoming_command(vm_dir: str, timeout: float) -> str:
    return qmp.incoming_command(files(vm_dir)["qmp"], timeout)


def agent_command(vm_dir: str, lines: List[str]) -> str:
    """Tell the guest agent who it is now (after a restore), one line each."""
    return qmp.agent_command(files(vm_dir)["agent"], "\n".join(lines))


class QemuDriver(Driver):
    """QEMU (microvm.nix style): -M microvm on x86_64, virt on aarch64; QMP for pause, resume and snapshots."""

    name = "qemu"
    priority = None  # runs anywhere it is installed: the fallback when no preferred backend fits
    capabilities = {"snapshots": True, "pause": True, "guest_channel": "vsock or virtio-serial", "tap": True,
                    "ports": True, "workload": True, "disks": True, "volumes": True, "autostart": True}
    install_hint = "qemu-system-<arch> (Debian: qemu-system-x86 or qemu-system-arm)"
    needs = ("qemu", "python3", "setsid", "image tools")
    probe_tools = ("qemu-system-x86_64", "qemu-system-aarch64")
    probe_versions = (("qemu-system-x86_64", "--version"), ("qemu-system-aarch64", "--version"))

    def why_not(self, facts: Mapping[str, Any]) -> List[str]:
        binary = MACHINE.get(facts["platform"]["arch"], MACHINE["x86_64"])["binary"]
        return [] if facts["tools"].get(binary, {}).get("present") else ["%s is not installed" % binary]

    def resolve(self, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
                artifacts: Mapping[str, Optional[str]]) -> None:
        if applied["arch"] not in MACHINE:
            raise MvmError("qemu backend: no machine type for arch %s" % applied["arch"])
        # Under TCG on x86_64 the guest's TSC runs at the host's rate, and a guest that fails to calibrate it
        # against the PIT hangs at boot (seen here about once in 30 boots): tell the kernel the rate instead.
        mhz = facts["platform"].get("cpu_mhz")
        applied["tsc_khz"] = int(mhz * 1000) if applied["accel"] == "tcg" and applied["arch"] == "x86_64" and mhz \
            else None

    def plan(self, plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
             current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
        directory = vm_steps.vm_dir(facts, spec.name)
        now = current or {}  # type: Mapping[str, Any]
        where = vm_steps.lifecycle(spec, facts, applied, current, changes)
        running, paused, fresh, restore = where.running, where.paused, where.fresh, where.restore
        managed = bool((now.get("applied") or {}).get("autostart"))  # systemd would start a VMM it saw killed
        if current and changes and running:
            plan.add("stop VM %s to apply: %s" % (spec.name, ", ".join(sorted(changes))),
                     _unmanaged(directory, managed) + kill_command(directory, now["pid"]))
            running = paused = False
        service = (start_command(applied, directory), _stop_script(directory, spec.stop_timeout))
        vm_steps.network_steps(plan, spec, applied, facts, current)
        if fresh:
            disk = "%s/%s" % (vm_steps.snapshot_dir(facts["state_root"], spec.snapshot or ""), vm_steps.DISK_FILE) \
                if restore else applied["rootfs"]
            vm_steps.create_steps(plan, applied, directory, disk,
                                  lambda p: vm_steps.prepare_steps(p, spec, facts, applied, directory, None, service))
        elif now["applied"] != applied:
            vm_steps.record_steps(plan, applied, directory,
                                  lambda p: vm_steps.prepare_steps(p, spec, facts, applied, directory, now, service))
        if spec.state in ("running", "paused"):
            if not running:
                _start_steps(plan, spec, applied, directory, facts["state_root"] if restore else None)
                if spec.state == "paused":
                    plan.add("pause VM %s" % spec.name, pause_command(directory))
            else:
                plan.result["pid"] = now["pid"]
                if spec.state == "running" and paused:
                    plan.add("resume VM %s" % spec.name, resume_command(directory))
                elif spec.state == "paused" and not paused:
                    plan.add("pause VM %s" % spec.name, pause_command(directory))
                if not paused and not now.get("ready"):
                    # Running is not ready: a rerun while the guest boots waits for it instead of reporting it done.
                    plan.wait("wait for %s to be ready (%gs)" % (spec.name, spec.boot_timeout),
                              wait_ready_command(directory, spec.boot_timeout))
        elif running:
            if paused:
                plan.add("resume VM %s so it can power down" % spec.name, resume_command(directory))
            plan.add("power down VM %s (pid %d)" % (spec.name, now["pid"]),
                     autostart.stop_command(directory) if managed else stop_command(directory, now["pid"], spec.stop_timeout))
        return plan

    def remove(self, plan: Plan, facts: Mapping[str, Any], current: Mapping[str, Any]) -> None:
        if (current["applied"] or {}).get("autostart"):
            autostart.remove_steps(plan, current["dir"])
        if current["pid"]:
            plan.add("stop VM %s (pid %d)" % (current["name"], current["pid"]), kill_command(current["dir"], current["pid"]))
        net = (current["applied"] or {}).get("network")
        if net:
            vm_steps.release_network(plan, facts, current["name"], net)

    def save(self, plan: Plan, name: str, vm: Mapping[str, Any], directory: str, was_running: bool,
             resume: bool) -> Dict[str, Any]:
        """Stop the guest and migrate its state to a file; copy the disk; resume (when it ran and `resume`)."""
        applied = vm["applied"] or {}
        meta = vm_steps.save_snapshot(plan, name, vm["name"], vm["dir"], applied, directory,
                                      {"boot_args": cmdline(applied)},
                                      lambda tmp: [("save the state of %s" % vm["name"],
                                                    save_command(vm["dir"], tmp + "/" + vm_steps.MEMORY_FILE))])
        if resume and was_running:
            plan.add("resume %s" % vm["name"], resume_command(vm["dir"]))
        return meta

    def discard(self, plan: Plan, vm_dir: str, applied: Mapping[str, Any]) -> None:
        plan.add("remove builder VM %s" % applied["name"], kill_command(vm_dir))


def _unmanaged(vm_dir: str, managed: bool) -> str:
    """Before mvm kills a VMM that systemd runs (autostart): stop the unit, or systemd starts it again."""
    return autostart.stop_command(vm_dir) + " >/dev/null 2>&1; " if managed else ""


def _stop_script(vm_dir: str, timeout: float) -> str:
    """The power-down systemd runs as ExecStop: the ACPI button, then SIGKILL once `timeout` has passed."""
    f = files(vm_dir)
    return identity.kill_command(vm_dir, "$(cat %s 2>/dev/null)" % quote(f["pid"]),
                                 qmp.command(f["qmp"], ["system_powerdown"]), int(timeout * 10))


def _start_steps(plan: Plan, spec: Any, applied: Mapping[str, Any], directory: str,
                 restore_root: Optional[str]) -> None:
    """Boot (through systemd for autostart), or resume from a snapshot and tell the guest agent its name and
    address; then wait for ready."""
    if restore_root is None and applied.get("autostart"):
        plan.add("start VM %s (qemu, %s, systemd)" % (spec.name, applied["accel"]), autostart.start_command(directory))
    elif restore_root is None:
        plan.add("start VM %s (qemu, %s)" % (spec.name, applied["accel"]), start_command(applied, directory))
    else:
        memory = "%s/%s" % (vm_steps.snapshot_dir(restore_root, str(spec.snapshot)), vm_steps.MEMORY_FILE)
        plan.add("start VM %s from snapshot %s" % (spec.name, spec.snapshot),
                 start_command(applied, directory, incoming=memory))
        plan.add("resume %s once its state is loaded" % spec.name, incoming_command(directory, spec.boot_timeout))
        lines = []
        net = applied.get("network")
        if net:
            lines.append("net %s %s/%s %s" % (net["mac"], net["ip"], net["prefix"], net["gateway"]))
        lines.append("hostname %s" % applied["hostname"])
        plan.add("tell %s who it is now" % spec.name, agent_command(directory, lines))
    plan.wait("wait for %s to be ready (%gs)" % (spec.name, spec.boot_timeout),
              wait_ready_command(directory, spec.boot_timeout))
    vm_steps.wait_healthy_steps(plan, spec, applied, vm_steps.console_source(directory))


DRIVER = QemuDriver()
