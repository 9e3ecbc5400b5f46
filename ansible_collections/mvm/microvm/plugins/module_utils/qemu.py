# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU backend (microvm.nix style): command line, start, stop and removal commands."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import identity, qmp
from ansible_collections.mvm.microvm.plugins.module_utils.guest import READY_MARKER
from ansible_collections.mvm.microvm.plugins.module_utils.shell import join, quote

MACHINE = {
    "x86_64": {"binary": "qemu-system-x86_64", "machine": "microvm", "console": "ttyS0"},
    "aarch64": {"binary": "qemu-system-aarch64", "machine": "virt", "console": "ttyAMA0"},
}
MACHINE["arm64"] = MACHINE["aarch64"]

# A process that has exited but was not reaped yet is not alive.
_ALIVE = ("alive() { kill -0 \"$1\" 2>/dev/null || return 1; "
          "case \"$(cat /proc/$1/stat 2>/dev/null)\" in *\") Z \"*) return 1;; esac; return 0; }; ")


def opt(value: str) -> str:
    """A value inside a QEMU option string (`-drive file=...`): QEMU splits on ',' and reads ',,' as one."""
    return str(value).replace(",", ",,")


def files(vm_dir: str) -> Dict[str, str]:
    """The state directory layout of one VM."""
    return {name: "%s/%s" % (vm_dir, leaf) for name, leaf in (
        ("spec", "spec.json"), ("pid", "pid"), ("qmp", "qmp.sock"), ("console", "console.log"),
        ("vmm_log", "vmm.log"), ("disk", "disk.ext4"), ("agent", "agent.sock"))}


def cmdline(applied: Mapping[str, Any]) -> str:
    """The guest kernel command line: console, root, hostname, network, the user's extra arguments."""
    m = MACHINE[applied["arch"]]
    line = "console=%s root=/dev/vda rw panic=-1 quiet mvm.hostname=%s" % (m["console"], applied["hostname"])
    net = applied.get("network")
    if net:
        line += " mvm.ip=%s/%s mvm.gw=%s" % (net["ip"], net["prefix"], net["gateway"])
    if applied.get("tsc_khz"):
        line += " tsc_early_khz=%d" % applied["tsc_khz"]
    if applied["kernel_args"]:
        line += " " + applied["kernel_args"]
    return line


def argv(applied: Mapping[str, Any], vm_dir: str) -> List[str]:
    """The VMM command line for an applied spec."""
    m = MACHINE[applied["arch"]]
    f = files(vm_dir)
    kvm = applied["accel"] == "kvm"
    args = [m["binary"], "-name", applied["name"], "-M", m["machine"], "-accel", applied["accel"]]
    if kvm or m["machine"] == "virt":
        args += ["-cpu", "host" if kvm else "max"]
    net = applied.get("network")
    args += ["-m", "%dM" % applied["memory_mib"], "-smp", str(applied["cpus"]),
             "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
             # QEMU's seccomp filter; spawning stays allowed: snapshots migrate through `exec:cat`.
             "-sandbox", "on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny",
             "-kernel", applied["kernel"]]
    if applied["initrd"]:
        args += ["-initrd", applied["initrd"]]
    args += ["-append", cmdline(applied),
             "-drive", "id=root,file=%s,format=raw,if=none" % opt(f["disk"]),
             "-device", "virtio-blk-device,drive=root",
             "-serial", "file:" + f["console"]]
    if net:
        args += ["-netdev", "tap,id=net0,ifname=%s,script=no,downscript=no" % net["tap"],
                 "-device", "virtio-net-device,netdev=net0,mac=%s" % net["mac"]]
    args += ["-device", "virtio-serial-device",
             "-chardev", "socket,id=agent,path=%s,server=on,wait=off" % opt(f["agent"]),
             "-device", "virtconsole,chardev=agent",
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
