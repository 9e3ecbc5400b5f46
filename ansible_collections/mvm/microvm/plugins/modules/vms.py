#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vms
short_description: Ensure many microVMs at once, from one look at the host
version_added: "0.1.0"
description:
  - Does what M(mvm.microvm.vm) does, for a list of VMs, with a single probe of the host - a converged
    host costs one round trip whatever the number of VMs (a looped M(mvm.microvm.vm) costs one per VM).
  - Each entry of O(vms) takes the options of M(mvm.microvm.vm); O(backend) and O(image) are defaults
    for the entries that do not set them. VMs are planned in order, each on the leases the ones before it took.
seealso:
  - module: mvm.microvm.vm
    description: One VM, with every option (secrets included).
  - module: mvm.microvm.pool
    description: A pool of identical VMs over many hosts.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.backend
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  vms:
    description:
      - The VMs, each a dict of M(mvm.microvm.vm) options (C(name) required), the workload ones included.
      - C(secrets) are refused here (Ansible would log a free-form list's content); give them with M(mvm.microvm.vm),
        whose option is C(no_log).
    type: list
    elements: dict
    required: true
  image:
    description: Default image of the entries.
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Three web VMs, started together, then waited for together
  mvm.microvm.vms:
    image: default
    backend: qemu
    vms:
      - name: web-0
      - name: web-1
        memory: 512M
      - name: web-2
        state: stopped

- name: Ten web VMs, the list made with ansible-core's own filters
  mvm.microvm.vms:
    image: default
    backend: qemu
    vms: "{{ range(10) | map('regex_replace', '^(.*)$', '{\"name\": \"web-\\1\"}') | map('from_json') | list }}"
"""

RETURN = r"""
vms:
  description: Per VM name, the result M(mvm.microvm.vm) gives in RV(mvm.microvm.vm#module:vm).
  returned: success
  type: dict
commands:
  description: The shell commands of the plan (run, or only planned in check mode).
  returned: always
  type: list
  elements: str
steps:
  description: One description per command.
  returned: always
  type: list
  elements: str
executed:
  description: Descriptions of the steps that ran.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mvm.microvm.plugins.module_utils import registry
from ansible_collections.mvm.microvm.plugins.module_utils.ansible_glue import run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vms=dict(type="list", elements="dict", required=True),
            backend=dict(type="str", default="auto", choices=list(registry.CHOICES)),
            image=dict(type="str"),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "vms")


if __name__ == "__main__":
    main()
