#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_template
short_description: Make a template snapshot once - boot a builder VM, snapshot it, remove the builder
version_added: "0.1.0"
description:
  - When snapshot O(name) does not exist, boots a builder VM (C(tpl-<name>)) with the given machine,
    waits for it to be ready, snapshots it into C(<state_root>/snapshots/<name>) and removes the builder.
    When it exists, nothing happens - the builder boots once.
  - Instances start from it with M(mvm.microvm.vm) and O(mvm.microvm.vm#module:snapshot); each gets
    its own disk copy, TAP, address and sockets, and the guest agent gives it its own name and address.
  - O(firecracker) are the builder VM's Firecracker options; instances restored from a Firecracker template keep
    them (but get their own jailer id and uid).
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.backend
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.firecracker
  - mvm.microvm.attributes
options:
  name:
    description: Template (snapshot) name.
    type: str
    required: true
  state:
    description: Whether the template snapshot should exist.
    type: str
    choices: [present, absent]
    default: present
  image:
    description: Image of the builder VM (see M(mvm.microvm.vm)).
    type: str
  kernel:
    description: Kernel path of the builder VM.
    type: path
  initrd:
    description: Initrd path of the builder VM.
    type: path
  rootfs:
    description: Rootfs path of the builder VM.
    type: path
  memory:
    description: Memory of the builder VM (and of every instance).
    type: raw
  cpus:
    description: vCPUs of the builder VM (and of every instance).
    type: raw
  kernel_args:
    description: Extra kernel arguments of the builder VM (and of every instance).
    type: str
  network:
    description: Bridge for the builder's network device; instances on a network need a template with one.
    type: str
  boot_timeout:
    description: Seconds to wait for the builder to be ready.
    type: raw
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Template for web instances
  mvm.microvm.vm_template:
    name: web
    image: default
    backend: qemu
    network: mvmbr0

- name: Two instances from it
  mvm.microvm.vm:
    name: "web-{{ item }}"
    image: default
    backend: qemu
    network: mvmbr0
    snapshot: web
  loop: [a, b]
"""

RETURN = r"""
template:
  description: The template snapshot.
  returned: success
  type: dict
  sample: {name: web, state: present, dir: /var/lib/mvm/snapshots/web}
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
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            backend=dict(type="str", default="auto", choices=list(registry.CHOICES)),
            image=dict(type="str"),
            kernel=dict(type="path"),
            initrd=dict(type="path"),
            rootfs=dict(type="path"),
            memory=dict(type="raw"),
            cpus=dict(type="raw"),
            kernel_args=dict(type="str"),
            network=dict(type="str"),
            boot_timeout=dict(type="raw"),
            firecracker=dict(type="dict"),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "vm_template")


if __name__ == "__main__":
    main()
