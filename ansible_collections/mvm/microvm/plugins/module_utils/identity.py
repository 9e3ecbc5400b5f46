# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which process is a VM's VMM: the one test used by the probe and by every stop and kill.

A pid file alone proves nothing: the VMM may be gone and its pid reused, or (jailed) the file may sit
where the VM's own user can write it. A pid is this VM's VMM only when
  - its executable is a VMM (qemu-system-*, firecracker),
  - one element of its command line is exactly this VM's identifying argument (QEMU: its -pidfile
    path; Firecracker: its API socket or config file; jailed: its jailer id), and
  - its start time (field 22 of /proc/PID/stat) is the one recorded right after it started.
The record `vmm.id` (start time, then the argument) lives in the root-owned VM directory.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.mvm.microvm.plugins.module_utils.shell import quote

RECORD = "vmm.id"

# ours PID ARG [START]: 0 if PID is a live, non-zombie process with ARG in its argv and START as its start time
# (without START: a VMM's executable).
# vmm_ok DIR PID: the same with ARG and START from DIR/vmm.id (a VM started before the record: DIR/pid).
FUNCTIONS = (
    "ours() { case \"$1\" in ''|*[!0-9]*) return 1;; esac; _p=$1; _a=$2; "
    "[ -r /proc/$_p/stat ] && read -r _s 2>/dev/null </proc/$_p/stat || return 1; case \"$_s\" in *\") Z \"*) return 1;; esac; "
    # With the start time mvm recorded, pid and start time name one process (and its argv names our pid file): the
    # executable's name adds nothing and would cost a process per VM on every probe. Without it (a VM started
    # before the record), the name must be a VMM's.
    "if [ -n \"$3\" ]; then _t=$3; set -- ${_s##*) }; [ $# -ge 20 ] && shift 19 && [ \"$1\" = \"$_t\" ] || return 1; "
    "else _e=$(readlink /proc/$_p/exe 2>/dev/null); case \"${_e##*/}\" in qemu-system-*|firecracker*) ;; *) return 1;; esac; fi; "
    "tr '\\0' '\\n' </proc/$_p/cmdline 2>/dev/null | grep -qxF -- \"$_a\"; }; "
    "vmm_ok() { _st=; _arg=\"$1/pid\"; if [ -f \"$1/" + RECORD + "\" ]; then "
    "{ read -r _st; read -r _arg; } <\"$1/" + RECORD + "\"; fi; ours \"$2\" \"$_arg\" \"$_st\"; }; "
)


def start_time_of(pid_expr: str) -> str:
    """Shell text: the start time of a pid (field 22 of its stat, read past the command name)."""
    return "$(s=$(cat /proc/%s/stat) && printf '%%s' \"${s##*) }\" | cut -d' ' -f20)" % pid_expr


def record_command(vm_dir: str, pid_file: str, argument: str) -> str:
    """Write vmm.id for the VMM whose pid is in pid_file (called right after it started)."""
    path = "%s/%s" % (vm_dir, RECORD)
    return ("p=$(cat %(pidf)s) && printf '%%s\\n%%s\\n' \"%(st)s\" %(arg)s > %(tmp)s && mv -f %(tmp)s %(path)s") % {
        "pidf": quote(pid_file), "st": start_time_of("$p"), "arg": quote(argument), "tmp": quote(path + ".tmp"),
        "path": quote(path)}


def kill_command(vm_dir: str, pid_expr: str, ask: str = "", ticks: int = 20) -> str:
    """Ask the VMM to go (`ask`, a command), then SIGKILL it after `ticks` tenths of a second, but only while
    the pid is still this VM's VMM: a reused pid or a stranger named in a pid file is never signalled."""
    return FUNCTIONS + (
        "p=%(who)s; d=%(dir)s; if vmm_ok \"$d\" \"$p\"; then %(ask)s i=0; "
        "while vmm_ok \"$d\" \"$p\"; do i=$((i+1)); [ $i -gt %(ticks)d ] && kill -9 \"$p\" 2>/dev/null; sleep 0.1; "
        "done; fi; rm -f \"$d/%(rec)s\""
    ) % {"who": pid_expr, "dir": quote(vm_dir), "ask": (ask + " >/dev/null 2>&1;") if ask else "",
         "ticks": ticks, "rec": RECORD}
