# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lima: the Linux side on macOS before 26 and on Linux without KVM.

An instance is ensured like any resource (present, running, stopped, absent). Its lima.yaml is
written and edited by a small program that runs on the host with ruamel.yaml, changing only the keys
mvm manages and keeping the user's comments, order and other keys. Any planner's steps run inside
an instance unchanged, wrapped by `in_lima`.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import validate
from ansible_collections.mvm.microvm.plugins.module_utils.driver import Driver, major_version
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote

VM_TYPES = ("qemu", "vz", "krunkit", "wsl2")
ARCHES = ("x86_64", "aarch64")
PROVISION = ("kvm_group", "firecracker", "nix")
_NAME = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*", re.ASCII)
DEFAULTS = {  # type: Dict[str, Any]
    "name": None, "state": "running", "cpus": 4, "memory": 4096, "disk": 100, "arch": None, "vm_type": None,
    "nested_virtualization": True, "mounts": None, "port_forwards": None, "provision": None,
    "allow_restart": False, "image": None, "state_root": None}


@dataclass(frozen=True)
class LimaSpec:
    name: str
    state: str
    managed: Dict[str, Any] = field(default_factory=dict)  # lima.yaml keys mvm owns, as Lima spells them
    allow_restart: bool = False
    state_root: Optional[str] = None


def _provision_script(what: List[str]) -> str:
    lines = ["#!/bin/sh", "set -e"]
    if "kvm_group" in what:
        lines.append('[ -e /dev/kvm ] && { getent group kvm >/dev/null || groupadd -r kvm; chgrp kvm /dev/kvm; '
                     'chmod 660 /dev/kvm; usermod -aG kvm "${LIMA_CIDATA_USER:-$(id -un 1000)}"; } || true')
    if "firecracker" in what:
        lines.append("command -v firecracker >/dev/null || echo 'install firecracker with mvm.microvm.firecracker_install'")
    if "nix" in what:
        lines.append("command -v nix >/dev/null || curl -fsSL https://install.determinate.systems/nix "
                     "| sh -s -- install --no-confirm")
    return "\n".join(lines) + "\n"


def lima_spec(params: Mapping[str, Any]) -> LimaSpec:
    p = validate.options(params, DEFAULTS)
    name = str(p["name"] or "")
    if not _NAME.fullmatch(name) or len(name) > 64:
        raise SpecError("name", "expected a Lima instance name: letters and digits, joined by single '.', '_' or "
                                "'-', at most 64; got %r" % (name,))
    state = validate.choice("state", p["state"], ("present", "running", "stopped", "absent"))
    managed = {}  # type: Dict[str, Any]
    if state != "absent":
        managed["cpus"] = validate.integer("cpus", p["cpus"], 1, 256)
        managed["memory"] = "%dMiB" % validate.size_mib("memory", p["memory"], minimum=256)
        managed["disk"] = "%dGiB" % validate.integer("disk", p["disk"], 1, 65536)
        if p["arch"]:
            managed["arch"] = validate.choice("arch", p["arch"], ARCHES)
        if p["vm_type"]:
            managed["vmType"] = validate.choice("vm_type", p["vm_type"], VM_TYPES)
        managed["nestedVirtualization"] = validate.boolean("nested_virtualization", p["nested_virtualization"])
        mounts = []
        for index, m in enumerate(validate.items("mounts", p["mounts"])):
            if not isinstance(m, Mapping) or not m.get("location"):
                raise SpecError("mounts[%d]" % index, "expected {location, writable}; got %r" % (m,))
            writable = validate.boolean("mounts[%d].writable" % index, m.get("writable", False))
            mounts.append({"location": str(m["location"]), "writable": writable})
        if p["mounts"] is not None:
            managed["mounts"] = mounts
        forwards = []
        for index, f in enumerate(validate.items("port_forwards", p["port_forwards"])):
            if not isinstance(f, Mapping):
                raise SpecError("port_forwards[%d]" % index, "expected {guest_port, host_port}; got %r" % (f,))
            forwards.append({"guestPort": validate.port("port_forwards[%d].guest_port" % index, f.get("guest_port")),
                             "hostPort": validate.port("port_forwards[%d].host_port" % index, f.get("host_port"))})
        if p["port_forwards"] is not None:
            managed["portForwards"] = forwards
        provision = [validate.choice("provision", x, PROVISION) for x in validate.items("provision", p["provision"])]
        if provision:
            managed["provision"] = [{"mode": "system", "script": _provision_script(provision)}]
        if p["image"]:
            managed["images"] = [{"location": str(p["image"])}]
    return LimaSpec(name, state, managed, validate.boolean("allow_restart", p["allow_restart"]),
                    validate.abs_path("state_root", p["state_root"], optional=True))


# The edit runs where lima.yaml lives, with ruamel.yaml's round-trip mode: keys mvm manages are set,
# everything else (comments, order, the user's keys) stays as it was.
_EDIT = r"""import importlib,json,os,sys
# Runs on the Lima host (python3 with ruamel.yaml there); the engine itself never imports ruamel.
yaml_mod=importlib.import_module('ruamel.yaml')
guess=importlib.import_module('ruamel.yaml.util').load_yaml_guess_indent
path,managed=sys.argv[1],json.loads(sys.argv[2])
yaml=yaml_mod.YAML()
yaml.preserve_quotes=True
try:
    with open(path) as f: text=f.read()
    _doc,indent,offset=guess(text)
    doc=yaml.load(text)
    yaml.indent(mapping=offset if offset else 2,sequence=indent or 2,offset=offset or 0)
except FileNotFoundError:
    doc=None
if doc is None:
    doc=importlib.import_module('ruamel.yaml.comments').CommentedMap()
    if 'images' not in managed:
        doc['images']=[{'location':'https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-arm64.img','arch':'aarch64'},
                       {'location':'https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img','arch':'x86_64'}]
for key,value in managed.items():
    if doc.get(key)!=value: doc[key]=value
with open(path+'.tmp','w') as f: yaml.dump(doc,f)
os.replace(path+'.tmp',path)
"""


def edit_command(path: str, managed: Mapping[str, Any]) -> str:
    return join(["python3", "-c", _EDIT, path, json.dumps(managed, sort_keys=True)])


def _bytes_to_unit(value: Any, unit: str) -> Optional[str]:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return "%d%s" % (number // (1024 * 1024 if unit == "MiB" else 1024 ** 3), unit)


def observed(instance: Mapping[str, Any]) -> Dict[str, Any]:
    """The managed keys as `limactl list --json` reports them (memory and disk in bytes there)."""
    return {"cpus": instance.get("cpus"), "memory": _bytes_to_unit(instance.get("memory"), "MiB"),
            "disk": _bytes_to_unit(instance.get("disk"), "GiB"), "arch": instance.get("arch"),
            "vmType": instance.get("vmType")}


def pending_changes(spec: LimaSpec, instance: Mapping[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    seen = observed(instance)
    return {k: (seen.get(k), spec.managed[k]) for k in ("cpus", "memory", "disk", "arch", "vmType")
            if k in spec.managed and seen.get(k) is not None and seen.get(k) != spec.managed[k]}


def plan_lima(spec: LimaSpec, facts: Mapping[str, Any]) -> Plan:
    if not facts["tools"].get("limactl", {}).get("present"):
        raise SpecError("name", "limactl is not installed on this host (brew install lima)")
    instance = next((i for i in facts["lima"] if i["name"] == spec.name), None)
    status = instance["status"] if instance else "absent"
    plan = Plan(before={"status": status, "config": observed(instance) if instance else None})
    plan.after = {"status": {"present": "Stopped" if status == "absent" else status, "running": "Running",
                             "stopped": "Stopped", "absent": "absent"}[spec.state], "config": spec.managed or None}
    plan.result = {"name": spec.name, "state": spec.state, "status": status}
    name = quote(spec.name)
    if spec.state == "absent":
        if instance:
            plan.add("delete Lima instance %s" % spec.name, "limactl delete --force %s" % name)
        return plan
    if status == "Installing":
        raise SpecError("name", "Lima instance %s is still Installing; run again once it is done" % spec.name)
    if status == "absent":
        template = "%s/lima/%s.yaml" % (facts["state_root"], spec.name)
        plan.add("write lima.yaml for %s" % spec.name, "mkdir -p %s && %s" % (
            quote(template.rsplit("/", 1)[0]), edit_command(template, spec.managed)))
        plan.add("create Lima instance %s" % spec.name, "limactl create --tty=false --name %s %s" % (
            name, quote(template)))
        status = "Stopped"
    else:
        changes = pending_changes(spec, instance or {})
        config = "%s/lima.yaml" % (instance or {}).get("dir")
        if changes and status == "Running" and not spec.allow_restart:
            plan.warnings.append("Lima instance %s differs in %s; set allow_restart to stop, change and start it"
                                 % (spec.name, ", ".join("%s %s -> %s" % (k, a, b) for k, (a, b) in sorted(changes.items()))))
            plan.result["pending_changes"] = {k: {"before": a, "after": b} for k, (a, b) in changes.items()}
        elif changes:
            if status == "Running":
                plan.add("stop %s to apply %s" % (spec.name, ", ".join(sorted(changes))), "limactl stop %s" % name)
                status = "Stopped"
            plan.add("update lima.yaml of %s" % spec.name, edit_command(config, spec.managed))
        if status == "Broken":
            plan.add("stop broken instance %s" % spec.name, "limactl stop --force %s" % name)
            status = "Stopped"
    if spec.state == "running" and status != "Running":
        plan.add("start Lima instance %s" % spec.name, "limactl start --tty=false %s" % name)
    if spec.state == "stopped" and status == "Running":
        plan.add("stop Lima instance %s" % spec.name, "limactl stop %s" % name)
    return plan


def in_lima(instance: str, command: str) -> str:
    """Run a command inside a Lima instance, as root, unchanged."""
    return "limactl shell --workdir / %s sudo sh -c %s" % (quote(instance), quote(command))


def wrap(plan: Plan, instance: str) -> Plan:
    """The same plan, every step sent into the instance."""
    wrapped = Plan(before=plan.before, after=plan.after, warnings=list(plan.warnings), result=dict(plan.result))
    for step in plan.steps:
        # The umask must hold inside the instance, where the files are written (a shell there does not inherit it).
        wrapped.add(step.description + " (in Lima %s)" % instance, in_lima(instance, step.script))
    wrapped.result["lima"] = instance
    return wrapped


class LimaDriver(Driver):
    """Not a VMM of its own: the environment Firecracker runs in where the host cannot (macOS before 26, Linux
    without usable KVM). The vm operation plans the wrapped backend with the facts inside the instance and sends
    every step there (see ops and `wrap`)."""

    name = "lima"
    priority = 4
    capabilities = {"snapshots": True, "pause": True, "guest_channel": "vsock", "tap": True, "ports": True,
                    "workload": False, "disks": False, "volumes": False, "autostart": False}
    install_hint = "limactl (Lima) on macOS before 26 or Linux without KVM"
    needs = ("limactl",)
    wraps = "firecracker"
    probe_tools = ("limactl",)
    probe_versions = (("limactl", "--version"),)
    probe_script = r"""if command -v limactl >/dev/null 2>&1; then
  $T limactl list --json 2>/dev/null | while IFS= read -r l; do printf 'lima\t%s\n' "$l"; done
fi
"""
    probe_records = {"lima": 2}

    def parse_probe(self, records: Any, facts: Dict[str, Any], warnings: List[str]) -> None:
        from ansible_collections.mvm.microvm.plugins.module_utils.probe import parse_lima

        facts["lima"] = parse_lima([parts[0] for parts in records.lines("lima")], warnings)

    def why_not(self, facts: Mapping[str, Any]) -> List[str]:
        plat = facts["platform"]
        lima_host = (plat["os"] == "darwin" and major_version(plat.get("macos_version")) < 26) or \
            (plat["os"] == "linux" and not facts["kvm"]["usable"])
        return [w for w in (
            "" if lima_host else "Lima is only chosen on macOS before 26 or Linux without usable KVM",
            "" if facts["tools"].get("limactl", {}).get("present") else "limactl is not installed",
        ) if w]


DRIVER = LimaDriver()
