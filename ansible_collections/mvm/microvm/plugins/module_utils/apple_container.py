# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Apple Container backend (macOS 26+ on Apple Silicon): each VM is a `container run` VM.

The rootfs reaches it as an OCI archive built with the image (oci.tar), loaded with
`container image load --input`. Like docker, labels carry mvm's bookkeeping. Untested on real
hardware: the tests plan against recorded `container ls --all --format json` outputs.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils.driver import ContainerDriver, major_version
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.image import oci_ref
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote


def container(name: str) -> str:
    return "mvm-" + name


def parse_list(text: str, state_root: str, warnings: List[str]) -> Dict[str, Dict[str, Any]]:
    """mvm's VMs in `container ls --all --format json` (status as a string in older releases, an object later)."""
    try:
        items = json.loads(text) if text.strip() else []
    except ValueError:
        warnings.append("container ls printed something that is not JSON; Apple Container VMs unknown")
        return {}
    found = {}  # type: Dict[str, Dict[str, Any]]
    for item in items if isinstance(items, list) else []:
        config = item.get("configuration") or {}
        labels = config.get("labels") or {}
        if labels.get("mvm.managed") != "true" or labels.get("mvm.state_root") != state_root:
            continue
        status = item.get("status")
        state = status.get("state") if isinstance(status, dict) else status
        try:
            spec = json.loads(labels.get("mvm.spec") or "null")
        except ValueError:
            spec = None
        name = str(labels.get("mvm.name") or config.get("id"))
        found[name] = {"name": name, "dir": None, "pid": None, "vmm_status": state,
                       "state": "running" if state == "running" else "stopped", "backend": "apple-container",
                       "applied": spec if isinstance(spec, dict) else None, "qmp_socket": None,
                       "container": config.get("id") or item.get("id")}
    return found


def parse_images(text: str) -> List[str]:
    try:
        items = json.loads(text) if text.strip() else []
    except ValueError:
        return []
    refs = []
    for item in items if isinstance(items, list) else []:
        ref = item.get("reference") or (item.get("configuration") or {}).get("reference") or item.get("name")
        if ref:
            refs.append(ref)
    return sorted(refs)


def run_command(applied: Mapping[str, Any], state_root: str) -> str:
    argv = ["container", "run", "-d", "--name", container(applied["name"]),
            "--label", "mvm.managed=true", "--label", "mvm.name=" + applied["name"],
            "--label", "mvm.state_root=" + state_root,
            "--label", "mvm.spec=" + json.dumps(applied, sort_keys=True, separators=(",", ":")),
            "--kernel", applied["kernel"], "--cpus", str(applied["cpus"]), "--memory", "%dM" % applied["memory_mib"],
            "-e", "MVM_ARGS=" + ("mvm.hostname=%s %s" % (applied["hostname"], applied["kernel_args"])).strip()]
    for port in applied.get("ports") or []:
        argv += ["-p", port]
    return join(argv + [oci_ref(applied["image_id"])])


def plan_container(plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Mapping[str, Any],
                   current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
    if not applied.get("oci"):
        raise SpecError("image", "the apple-container backend loads an image's oci.tar: give image: NAME of an image "
                                 "built by mvm.microvm.rootfs")
    name = container(spec.name)
    ref = oci_ref(applied["image_id"])
    plan.result.update(console_log="container logs %s" % name, dir=None)
    if not facts["apple_container_service"]:
        plan.add("start the container system service", "container system start --disable-kernel-install")
    state = current["state"] if current else "absent"
    if current and changes:
        plan.add("delete %s to apply: %s" % (name, ", ".join(sorted(changes))), "container delete --force %s" % quote(name))
        state = "absent"
    if state == "absent" and ref not in facts.get("apple_container_images", []):
        plan.add("load image %s" % ref, join(["container", "image", "load", "--input", applied["oci"]]))
    if spec.state == "running":
        if state == "absent":
            plan.add("run %s" % name, run_command(applied, facts["state_root"]))
        elif state == "stopped":
            plan.add("start %s" % name, "container start %s" % quote(name))
    elif spec.state == "stopped":
        if state == "absent":
            plan.add("create %s" % name, run_command(applied, facts["state_root"]).replace(
                "container run -d", "container create", 1))
        elif state == "running":
            plan.add("stop %s" % name, "container stop -t %d %s" % (int(spec.stop_timeout), quote(name)))
    return plan


def remove_steps(plan: Plan, current: Mapping[str, Any]) -> None:
    name = container(current["name"])
    plan.add("delete %s" % name, "container delete --force %s" % quote(name))
    image_id = (current["applied"] or {}).get("image_id")
    if image_id:
        ref = oci_ref(image_id)
        plan.add("delete image %s if unused" % ref, "container image delete %s 2>/dev/null; true" % quote(ref))


class AppleContainerDriver(ContainerDriver):
    """Apple's `container` (macOS 26+ on Apple Silicon): one lightweight VM per container, from the image's oci.tar."""

    name = "apple-container"
    priority = 2
    capabilities = {"snapshots": False, "pause": False, "guest_channel": "vsock", "tap": False, "ports": True,
                    "workload": False, "disks": False, "volumes": False, "autostart": False}
    install_hint = "macOS 26 or later on Apple Silicon with Apple's container tool"
    needs = ("container", "container service")
    artifact = "oci"
    accel = "vm"
    probe_tools = ("container",)
    probe_versions = (("container", "--version"),)
    probe_script = r"""if command -v container >/dev/null 2>&1 && $T container system status >/dev/null 2>&1; then
  t container_service 1
  printf 'acl\t%s\n' "$($T container ls --all --format json 2>/dev/null | tr -d '\n')"
  printf 'aimg\t%s\n' "$($T container image list --format json 2>/dev/null | tr -d '\n')"
fi
"""
    probe_records = {"acl": 2, "aimg": 2}

    def parse_probe(self, records: Any, facts: Dict[str, Any], warnings: List[str]) -> None:
        listed = records.lines("acl")
        images = records.lines("aimg")
        facts["apple_container_service"] = bool(records.one("container_service"))
        facts["vms"].update(parse_list(listed[-1][0] if listed else "", facts["state_root"], warnings))
        facts["apple_container_images"] = parse_images(images[-1][0] if images else "")

    def why_not(self, facts: Mapping[str, Any]) -> List[str]:
        plat = facts["platform"]
        darwin = plat["os"] == "darwin"
        return [w for w in (
            "" if darwin and major_version(plat.get("macos_version")) >= 26 else "needs macOS 26 or later",
            "" if not darwin or plat["arch"] in ("arm64", "aarch64") else "needs Apple Silicon",
            "" if facts["tools"].get("container", {}).get("present") else "Apple's container tool is not installed",
        ) if w]

    # The steps, from this module's functions above.
    plan_container = staticmethod(plan_container)
    remove_steps = staticmethod(remove_steps)


DRIVER = AppleContainerDriver()
