# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend driver protocol: what one backend provides, in one module of its own (qemu, firecracker,
docker_backend, apple_container, lima), listed once in `registry`.

A driver answers, from the facts and the desired VM:
  - whether it can run here (`why_not`, empty when it can) and what to install (`install_hint`);
  - what it can do (`capabilities`: snapshots, pause, tap, ports, workload, disks, volumes, autostart,
    guest_channel), so that a request it cannot serve is refused by the registry, naming the backends that can;
  - the applied spec it records (`resolve` adds its fields to the generic record);
  - the steps to bring a VM to running / paused / stopped (`plan`, restore included where capable) and
    to remove it (`remove`);
  - where capable, the steps that save a VM's state into a snapshot (`save`) and end a VM this same plan
    started (`discard`, for template builders).
The defaults refuse: a driver that lacks a capability need not write anything for it.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan

CAPABILITY_NAMES = ("snapshots", "pause", "tap", "ports", "workload", "disks", "volumes", "autostart", "guest_channel")


class Driver:
    """One backend. Subclasses set the class attributes and override what they can do."""

    name: str = ""
    # Order of automatic selection (lower first); None: never chosen by `auto` before the others (qemu: the
    # fallback that runs anywhere it is installed).
    priority: Optional[int] = None
    capabilities: Dict[str, Any] = {}
    install_hint: str = ""
    # Doctor checks (by name, see doctor.checks) this backend cannot do without.
    needs: Tuple[str, ...] = ()
    # The guest's file system is the container itself: every change replaces it, ports included.
    container = False
    # A driver that runs another backend's plan somewhere else (Lima runs Firecracker inside its instance).
    wraps: Optional[str] = None
    # Its part of the host probe (probe.py runs all parts in one script): the tools it reports (present or
    # not), how each prints its version, its own lines of shell (`t KEY VALUE` prints a host record, `$T` is
    # a timeout, `$r` the state root) and the record kinds those lines print, with their field counts.
    probe_tools: Tuple[str, ...] = ()
    probe_versions: Tuple[Tuple[str, str], ...] = ()
    probe_script: str = ""
    probe_records: Dict[str, int] = {}

    def why_not(self, facts: Mapping[str, Any]) -> List[str]:
        """Reasons this backend cannot run on the host the facts describe; empty when it can."""
        raise NotImplementedError

    def parse_probe(self, records: Any, facts: Dict[str, Any], warnings: List[str]) -> None:
        """Add what its probe lines found to the facts (`records.one(key)`: a host record, `records.lines(kind)`:
        its own records). Never raises on odd tool output: a warning instead."""

    def resolve(self, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
                artifacts: Mapping[str, Optional[str]]) -> None:
        """Complete the applied spec with what this backend records (accel, kernel form, options); `artifacts`
        are the image's other forms of the guest (rootfs_tar, oci, vmlinux), for the backends that take them."""

    def plan(self, plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
             current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
        """Steps to running / paused / stopped (and restore, where capable)."""
        raise SpecError("backend", "backend %s does not drive VMs itself" % self.name)

    def remove(self, plan: Plan, facts: Mapping[str, Any], current: Mapping[str, Any]) -> None:
        """Steps that remove a VM of this backend (its directory and rules are removed by the caller)."""
        raise SpecError("backend", "backend %s does not drive VMs itself" % self.name)

    def save(self, plan: Plan, name: str, vm: Mapping[str, Any], directory: str, was_running: bool,
             resume: bool) -> Dict[str, Any]:
        """Steps that snapshot a running or paused VM (`vm` as the facts list it) into `directory`."""
        raise SpecError("vm", "backend %s cannot take snapshots" % self.name)

    def discard(self, plan: Plan, vm_dir: str, applied: Mapping[str, Any]) -> None:
        """Steps that end a VM this same plan started (a template's builder), before its directory goes."""
        raise SpecError("backend", "backend %s cannot build templates" % self.name)


def major_version(version: Any) -> int:
    """The major number of a version text (macOS 26.1 -> 26); 0 when there is none."""
    try:
        return int(str(version).split(".", maxsplit=1)[0])
    except ValueError:
        return 0


class ContainerDriver(Driver):
    """A backend whose guest is a container of the image's files: the image's `artifact` (rootfs_tar, oci) is what
    it runs, every change replaces the container, and its steps come from the module's plan_container and
    remove_steps."""

    container = True
    artifact = ""
    accel = ""

    def resolve(self, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
                artifacts: Mapping[str, Optional[str]]) -> None:
        applied[self.artifact] = artifacts.get(self.artifact)
        applied["accel"] = self.accel

    def plan(self, plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Dict[str, Any],
             current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
        return self.plan_container(plan, spec, facts, applied, current, changes)

    def remove(self, plan: Plan, facts: Mapping[str, Any], current: Mapping[str, Any]) -> None:
        self.remove_steps(plan, current)

    def plan_container(self, plan: Plan, spec: Any, facts: Mapping[str, Any], applied: Mapping[str, Any],
                       current: Optional[Mapping[str, Any]], changes: Mapping[str, Any]) -> Plan:
        raise NotImplementedError

    def remove_steps(self, plan: Plan, current: Mapping[str, Any]) -> None:
        raise NotImplementedError
