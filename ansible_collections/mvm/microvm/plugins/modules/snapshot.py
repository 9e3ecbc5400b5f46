#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: snapshot
short_description: Snapshot a microVM, restore a VM from a snapshot, remove a snapshot
version_added: "0.1.0"
description:
  - V(present) snapshots a running or paused VM into C(<state_root>/snapshots/<name>) - memory and
    device state, a copy of the disk, and C(metadata.json) (created, sizes, boot arguments, vcpus,
    memory, backend, image id) - and resumes it unless O(resume=false). An existing snapshot of that
    name is left as it is.
  - V(restored) makes sure VM O(vm) (default, the snapshotted VM's name) runs, started from the
    snapshot when it has to be started. The guest carries on where it was when the snapshot was taken.
  - V(absent) removes the snapshot.
  - QEMU saves with C(stop) and C(migrate) to a file and restores with C(-incoming); backends without
    snapshots (docker, apple-container) fail with a message naming one that has them.
seealso:
  - module: mvm.microvm.vm
    description: Start a VM from a snapshot (its snapshot option).
  - module: mvm.microvm.vm_template
    description: A snapshot made once from a builder VM.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  name:
    description: Snapshot name.
    type: str
    required: true
  vm:
    description: VM to snapshot (V(present)) or to restore into (V(restored)).
    type: str
  state:
    description: Desired state.
    type: str
    choices: [present, absent, restored]
    default: present
  resume:
    description: Resume the VM after the snapshot was taken.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Snapshot the template VM
  mvm.microvm.snapshot:
    name: web-template
    vm: web-template

- name: Start two instances from it
  mvm.microvm.vm:
    name: "web-{{ item }}"
    image: default
    backend: qemu
    network: mvmbr0
    snapshot: web-template
  loop: [a, b]
"""

RETURN = r"""
snapshot:
  description: The snapshot, or for V(restored) the VM started from it.
  returned: success
  type: dict
  sample: {name: web-template, dir: /var/lib/mvm/snapshots/web-template, state: present, vm: web-template}
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
from ansible_collections.mvm.microvm.plugins.module_utils.ansible_glue import run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            vm=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent", "restored"]),
            resume=dict(type="bool", default=True),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "snapshot")


if __name__ == "__main__":
    main()
