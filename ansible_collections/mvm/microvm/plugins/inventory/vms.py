# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible inventory plugin: the microVMs of one or more VM hosts, reached through mvm's connection plugin."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vms
short_description: The microVMs mvm manages on one or more VM hosts
description:
  - Runs mvm's host probe on each VM host named in the configuration (this machine, or another one over SSH) and
    adds one inventory host per microVM, with the connection plugin C(mvm.microvm.vm) set up to reach its guest.
  - Host variables C(mvm_backend), C(mvm_state), C(mvm_address), C(mvm_image), C(mvm_labels), C(mvm_health),
    C(mvm_ports), C(mvm_vm_host); groups C(mvm_backend_<backend>), C(mvm_state_<state>), C(mvm_host_<VM host>) and
    C(mvm_label_<name>_<value>); and O(compose), O(groups), O(keyed_groups) as the community inventory plugins
    have them.
  - The configuration file's name must end with C(mvm.yml) or C(mvm.yaml).
author:
  - mvm developers (@mvm-dev)
version_added: 0.1.0
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [mvm.microvm.vms]
  vm_hosts:
    description:
      - The VM hosts to list. Without it, this machine with the default state root.
    type: list
    elements: dict
    suboptions:
      name:
        description: The VM host's name in the inventory (in C(mvm_vm_host) and the C(mvm_host_<name>) group).
        type: str
        required: true
      ssh:
        description:
          - SSH destination of the VM host (C(user@host) or a name from the SSH configuration); unset, this
            machine.
        type: str
      ssh_args:
        description: Extra arguments for C(ssh), such as C(-p 2222) or C(-i KEY).
        type: list
        elements: str
        default: []
      state_root:
        description: mvm's state root on that VM host (unset, the default there).
        type: str
  states:
    description: Only VMs in these states (empty, all).
    type: list
    elements: str
    default: []
  agent_timeout:
    description: Seconds each probe and, through C(ansible_mvm_agent_timeout), each guest agent request may take.
    type: float
    default: 10
"""

EXAMPLES = r"""
# inventory/lab.mvm.yml
plugin: mvm.microvm.vms
vm_hosts:
  - name: laptop
  - name: kvm1
    ssh: root@kvm1.example.org
    state_root: /srv/mvm
states: [running]
keyed_groups:
  - key: mvm_labels.role | default('none')
    prefix: role
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
"""

import re
import subprocess

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

from ansible_collections.mvm.microvm.plugins.module_utils import agent, probe, validate, vm_info
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError

_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


def _group(*parts):
    return _GROUP_CHARS.sub("_", "_".join(str(p) for p in parts))


class InventoryModule(BaseInventoryPlugin, Constructable):
    """One inventory host per VM; the VM hosts are probed with mvm's own probe, nothing else."""

    NAME = "mvm.microvm.vms"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("mvm.yml", "mvm.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        strict = self.get_option("strict")
        states = set(self.get_option("states") or [])
        seen = {}
        for entry in self.get_option("vm_hosts") or [{"name": "localhost"}]:
            host = self._vm_host(entry)
            for record in vm_info.records(self._probe(host)["vms"], vm_host=host["name"]):
                if states and record["state"] not in states:
                    continue
                if record["name"] in seen:
                    raise AnsibleParserError("VM %s is on both %s and %s: inventory host names must be unique"
                                             % (record["name"], seen[record["name"]], host["name"]))
                seen[record["name"]] = host["name"]
                self._add(record, host, strict)

    def _vm_host(self, entry):
        try:
            name = validate.name("vm_hosts[].name", entry.get("name"))
            ssh = validate.ssh_destination("vm_hosts[].ssh", entry["ssh"]) if entry.get("ssh") else None
            args = [validate.text_line("vm_hosts[].ssh_args", str(a), 1024) for a in entry.get("ssh_args") or []]
            root = validate.abs_path("vm_hosts[].state_root", entry.get("state_root"), optional=True)
        except MvmError as e:
            raise AnsibleParserError(to_native(e)) from e
        return {"name": name, "ssh": ssh, "ssh_args": args, "state_root": root}

    def _probe(self, host):
        script = probe.host_probe(host["state_root"])
        argv = agent.host_argv(host["ssh"], host["ssh_args"], ["sh", "-s"])
        try:
            proc = subprocess.run(argv, input=script.encode(), capture_output=True,
                                  timeout=float(self.get_option("agent_timeout")) + 30, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise AnsibleParserError("cannot probe VM host %s: %s" % (host["name"], to_native(e))) from e
        if proc.returncode != 0:
            raise AnsibleParserError("the probe of VM host %s failed (rc=%d): %s"
                                     % (host["name"], proc.returncode, to_text(proc.stderr).strip()[-2000:]))
        return probe.parse_host(to_text(proc.stdout))

    def _add(self, record, host, strict):
        name = record["name"]
        self.inventory.add_host(name)
        variables = {
            "ansible_connection": "mvm.microvm.vm",
            "ansible_mvm_vm": name,
            "ansible_mvm_agent_timeout": self.get_option("agent_timeout"),
        }
        if host["ssh"]:
            variables["ansible_mvm_host"] = host["ssh"]
            variables["ansible_mvm_ssh_args"] = host["ssh_args"]
        if host["state_root"]:
            variables["ansible_mvm_state_root"] = host["state_root"]
        for key in ("backend", "state", "address", "image", "labels", "health", "ports", "vm_host"):
            variables["mvm_" + key] = record[key]
        for key, value in variables.items():
            self.inventory.set_variable(name, key, value)
        groups = [_group("mvm_backend", record["backend"]), _group("mvm_state", record["state"]),
                  _group("mvm_host", host["name"])]
        groups += [_group("mvm_label", k, v) for k, v in sorted(record["labels"].items())]
        for group in groups:
            self.inventory.add_group(group)
            self.inventory.add_child(group, name)
        self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)
