# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VMs that come back: `autostart: true` makes a VM start again after the host reboots and after its VMM dies.

On a host whose PID 1 is systemd, a VM is an instance of one template unit, `mvm-vm@.service`, whose instance name
is the VM's directory (systemd-escaped): the unit runs the start and stop scripts mvm writes there, so systemd
starts, stops and restarts the VMM, and mvm asks systemd for it (`systemctl start|stop`). A container backend has
its runtime's own policy (Docker: `--restart unless-stopped`). Removing the VM disables its instance.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Mapping

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote, write_file

UNIT_DIR = "/etc/systemd/system"
TEMPLATE = "mvm-vm@.service"
START_SCRIPT = "start.sh"
STOP_SCRIPT = "stop.sh"
UNIT = """[Unit]
Description=mvm microVM in %f
Documentation=https://github.com/mvm-dev/mvm
After=network-online.target
Wants=network-online.target
ConditionPathExists=%f/spec.json

[Service]
Type=forking
PIDFile=%f/pid
ExecStart=/bin/sh %f/start.sh
ExecStop=/bin/sh %f/stop.sh
Restart=on-failure
RestartSec=2
TimeoutStartSec=300
KillMode=process

[Install]
WantedBy=multi-user.target
"""


def check_host(facts: Mapping[str, Any], container: bool) -> None:
    """autostart on a VM backend needs systemd as PID 1; refused, naming the field, before anything runs."""
    init = facts["platform"].get("init")
    if not container and init != "systemd":
        raise SpecError("autostart", "needs systemd as PID 1 on the VM host to start the VM again (PID 1 here is %s); "
                                     "a container backend uses its runtime's restart policy instead" % (init or "unknown"))


def escape_path(path: str) -> str:
    """`systemd-escape --path`, for the validated paths mvm makes (letters, digits and `._-/`): '/' -> '-', a '-'
    -> '\\x2d', a '.' that starts the whole name -> '\\x2e'."""
    trimmed = path.strip("/")
    out = []
    for index, char in enumerate(trimmed):
        if char == "/":
            out.append("-")
        elif char.isalnum() or char == "_" or (char == "." and index > 0):
            out.append(char)
        else:
            out.append("\\x%02x" % ord(char))
    return "".join(out) or "-"


def unit_name(vm_dir: str) -> str:
    return "mvm-vm@%s.service" % escape_path(vm_dir)


def install_steps(plan: Plan, facts: Mapping[str, Any], vm_dir: str, start: str, stop: str) -> None:
    """The template unit (where it differs), the VM's start and stop scripts, its instance enabled."""
    unit = "%s/%s" % (UNIT_DIR, TEMPLATE)
    plan.add("write the VM's start and stop scripts for systemd", " && ".join([
        write_file("%s/%s" % (vm_dir, START_SCRIPT), "set -e\n" + start + "\n", "0700"),
        write_file("%s/%s" % (vm_dir, STOP_SCRIPT), stop + "\n", "0700")]))
    plan.add("install %s and enable %s" % (TEMPLATE, unit_name(vm_dir)), (
        "if ! printf %%s %(text)s | cmp -s - %(unit)s; then %(write)s && systemctl daemon-reload; fi && "
        "systemctl enable %(inst)s >/dev/null 2>&1") % {
            "text": quote(UNIT), "unit": quote(unit), "write": write_file(unit, UNIT, "0644"),
            "inst": quote(unit_name(vm_dir))})


def remove_steps(plan: Plan, vm_dir: str) -> None:
    plan.add("disable %s" % unit_name(vm_dir), "systemctl disable %s >/dev/null 2>&1; true" % quote(unit_name(vm_dir)))


def start_command(vm_dir: str) -> str:
    """Running: enabled (it comes back) and started by systemd."""
    return "systemctl enable --quiet %s && systemctl start %s" % (quote(unit_name(vm_dir)), quote(unit_name(vm_dir)))


def stop_command(vm_dir: str) -> str:
    """Stopped: disabled too, so a reboot keeps it stopped (as Docker's unless-stopped does)."""
    return "systemctl disable --quiet %s; systemctl stop %s" % (quote(unit_name(vm_dir)), quote(unit_name(vm_dir)))
