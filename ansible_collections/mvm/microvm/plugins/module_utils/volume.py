# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named persistent data disks: `<state_root>/volumes/<name>.ext4` (0600), made once, attached to one VM at a time,
grown when asked for more (never shrunk), kept across VM recreation and VM `absent`, deleted only by the volume
operation with `state: absent` (and refused while a VM still lists it).

A container backend cannot mount an ext4 image without privileges: its volumes are directories,
`<state_root>/volumes/<name>.d` (0700), bind-mounted, with no size of their own. A name is one or the other.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote

STATES = ("present", "absent")
DEFAULT_SIZE_MIB = 1024
MAX_VOLUMES = 16
DEFAULTS = {"name": None, "state": "present", "size": None, "state_root": None}
# A mount point reaches the guest's kernel command line: no spaces, commas or colons (the separators there).
_MOUNT = re.compile(r"/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", re.ASCII)
_RESERVED = ("/", "/proc", "/sys", "/dev", "/run", "/tmp", "/mvm")


@dataclass(frozen=True)
class Attachment:
    """A volume as a VM asks for it."""

    name: str
    size_mib: int
    mount: str


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    state: str
    size_mib: Optional[int]
    state_root: Optional[str]


def volume_spec(params: Mapping[str, Any]) -> VolumeSpec:
    p = validate.options(params, DEFAULTS)
    return VolumeSpec(name=validate.name("name", p["name"]), state=validate.choice("state", p["state"], STATES),
                      size_mib=validate.size_mib("size", p["size"], minimum=8) if p["size"] is not None else None,
                      state_root=validate.abs_path("state_root", p["state_root"], optional=True))


def attachments(value: Any) -> Tuple[Attachment, ...]:
    """A VM's `volumes` option, validated (each error names its item and field)."""
    found = []  # type: List[Attachment]
    for index, item in enumerate(validate.items("volumes", value) if value is not None else []):
        where = "volumes[%d]" % index
        if not isinstance(item, Mapping):
            raise SpecError(where, "expected a dictionary with name, mount and size; got %r" % (item,))
        p = validate.options(item, {"name": None, "mount": None, "size": DEFAULT_SIZE_MIB}, where + ".")
        mount = "" if p["mount"] is None else str(p["mount"]).rstrip("/") or "/"
        if not _MOUNT.fullmatch(mount) or ".." in mount.split("/") or any(
                mount == r or mount.startswith(r + "/") for r in _RESERVED if r != "/") or mount in _RESERVED:
            raise SpecError(where + ".mount", "expected an absolute path in the guest of letters, digits, '.', '_', "
                                              "'-' and '/', outside /proc, /sys, /dev, /run, /tmp and /mvm; got %r"
                            % (p["mount"],))
        found.append(Attachment(validate.name(where + ".name", p["name"]),
                                validate.size_mib(where + ".size", p["size"], minimum=8), mount))
    if len(found) > MAX_VOLUMES:
        raise SpecError("volumes", "expected at most %d volumes; got %d" % (MAX_VOLUMES, len(found)))
    for field, values in (("name", [a.name for a in found]), ("mount", [a.mount for a in found])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise SpecError("volumes", "%s %s is given twice" % (field, twice[0]))
    return tuple(found)


def path(state_root: str, name: str, kind: str = "disk") -> str:
    return "%s/volumes/%s.%s" % (state_root, name, "ext4" if kind == "disk" else "d")


def record(volumes: Tuple[Attachment, ...]) -> List[Dict[str, Any]]:
    """What the applied spec keeps of a VM's volumes."""
    return [{"name": a.name, "size_mib": a.size_mib, "mount": a.mount} for a in volumes]


def users(facts: Mapping[str, Any], name: str) -> List[str]:
    """The recorded VMs that list volume `name`."""
    return sorted(vm for vm, found in facts["vms"].items()
                  if any(v.get("name") == name for v in ((found.get("applied") or {}).get("volumes") or [])))


def check_free(facts: Mapping[str, Any], vm_name: str, volumes: Tuple[Attachment, ...]) -> None:
    """A volume belongs to one VM at a time: two guests mounting one ext4 would corrupt it."""
    for index, a in enumerate(volumes):
        others = [u for u in users(facts, a.name) if u != vm_name]
        if others:
            raise SpecError("volumes[%d].name" % index, "volume %s is attached to VM %s; a volume belongs to one VM "
                                                        "at a time" % (a.name, others[0]))


def ensure_steps(plan: Plan, facts: Mapping[str, Any], name: str, size_mib: int, kind: str = "disk") -> None:
    """Make a volume that does not exist; grow one that is smaller than asked (the VM using it is stopped). A
    larger one is left as it is, with a warning: a volume never shrinks. A container's volume is a directory."""
    root = facts["state_root"]
    target = path(root, name, kind)
    have = (facts.get("volumes") or {}).get(name)
    if have is not None and have.get("kind", "disk") != kind:
        raise SpecError("volumes", "volume %s is %s; a %s cannot use it (a VM mounts ext4 disks, a container "
                                   "directories)" % (name, "an ext4 disk" if have.get("kind", "disk") == "disk"
                                                     else "a directory", "container" if kind == "dir" else "VM"))
    if kind == "dir":
        if have is None:
            plan.add("create volume %s (a directory)" % name, "mkdir -p -m 0700 %s %s" % (
                quote(root + "/volumes"), quote(target)))
        return
    if have is None:
        tmp = target + ".new"
        plan.add("create volume %s (%d MiB)" % (name, size_mib), " && ".join([
            "mkdir -p -m 0700 %s" % quote(root + "/volumes"),
            "rm -f %s" % quote(tmp),
            "truncate -s %dM %s" % (size_mib, quote(tmp)),
            "mkfs.ext4 -q -F -L %s %s" % (quote(name[:16]), quote(tmp)),
            "chmod 0600 %s" % quote(tmp),
            "mv %s %s" % (quote(tmp), quote(target)),  # published whole: a killed run leaves no half volume
        ]))
    elif have["size_mib"] < size_mib:
        plan.add("grow volume %s from %d to %d MiB" % (name, have["size_mib"], size_mib), " && ".join([
            "truncate -s %dM %s" % (size_mib, quote(target)),
            fsck_command(quote(target)),
            "resize2fs %s >/dev/null 2>&1" % quote(target),
        ]))
    elif have["size_mib"] > size_mib:
        plan.warnings.append("volume %s is %d MiB, more than the %d MiB asked for: volumes never shrink"
                             % (name, have["size_mib"], size_mib))


def fsck_command(quoted_path: str) -> str:
    """e2fsck before a resize; exit codes 1 and 2 mean it corrected errors (a guest that was killed leaves its
    journal to replay), which is what resize2fs needs, so only a higher code fails."""
    return "{ e2fsck -f -p %s >/dev/null 2>&1; [ $? -le 2 ]; }" % quoted_path


def plan_volume(spec: VolumeSpec, facts: Mapping[str, Any]) -> Plan:
    """The volume operation: made or grown (present), deleted only while no recorded VM lists it (absent)."""
    have = (facts.get("volumes") or {}).get(spec.name)
    plan = Plan()
    plan.before = {"volume": spec.name, "size_mib": have["size_mib"]} if have else {}
    using = users(facts, spec.name)
    if spec.state == "absent":
        plan.after = {}
        if have:
            if using:
                raise MvmError("volume %s is still attached to VM %s: remove the VM (state: absent) or its volume "
                               "entry first" % (spec.name, using[0]))
            if have.get("kind") == "dir":
                plan.add("delete volume %s (a directory)" % spec.name,
                         "rm -rf %s" % quote(path(facts["state_root"], spec.name, "dir")))
            else:
                plan.add("delete volume %s (%d MiB)" % (spec.name, have["size_mib"]),
                         "rm -f %s" % quote(path(facts["state_root"], spec.name)))
        plan.result = {"name": spec.name, "state": "absent"}
        return plan
    if have and have.get("kind") == "dir":
        plan.after = plan.before
        plan.result = {"name": spec.name, "state": "present", "path": path(facts["state_root"], spec.name, "dir"),
                       "size_mib": None, "vms": using}
        return plan
    size = spec.size_mib or (have["size_mib"] if have else DEFAULT_SIZE_MIB)
    if have and have["size_mib"] < size:
        running = [u for u in using if facts["vms"][u]["pid"]]
        if running:
            raise MvmError("volume %s is in use by running VM %s: grow it through that VM's volumes entry (which "
                           "restarts it) or stop the VM first" % (spec.name, running[0]))
    ensure_steps(plan, facts, spec.name, size)
    plan.after = {"volume": spec.name, "size_mib": max(size, have["size_mib"] if have else 0)}
    plan.result = {"name": spec.name, "state": "present", "path": path(facts["state_root"], spec.name),
                   "size_mib": plan.after["size_mib"], "vms": using}
    return plan
