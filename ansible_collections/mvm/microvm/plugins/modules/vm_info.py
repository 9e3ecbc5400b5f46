#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_info
short_description: Report one or all mvm microVMs of a host, with health and the console's last lines
version_added: "0.1.0"
description:
  - Lists the microVMs mvm manages under the state root, or the one named, with backend, state, address, image,
    labels, health and the last lines of the console log (a container's log on V(docker)).
  - Changes nothing.
author:
  - mvm developers (@mvm-dev)
options:
  name:
    description:
      - The VM to report; every VM when not given.
    type: str
  console_lines:
    description:
      - How many of the console's last lines to return per VM (0 for none).
    type: int
    default: 20
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.attributes
  - mvm.microvm.attributes.info_module
seealso:
  - module: mvm.microvm.vm
  - module: mvm.microvm.facts
"""

EXAMPLES = r"""
- name: Look at the VM web
  mvm.microvm.vm_info:
    name: web
  register: web

- name: Fail unless it is healthy
  ansible.builtin.assert:
    that: web.vms[0].health == 'healthy'
    fail_msg: "{{ web.vms[0].health_output }}"
"""

RETURN = r"""
exists:
  description: Whether any VM was found (the named one, when O(name) is given).
  returned: always
  type: bool
vms:
  description: The VMs found, by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
      returned: always
    vm_host:
      description: Always null here (the inventory plugin fills it in).
      type: str
      returned: always
    backend:
      description: The backend that runs it.
      type: str
      returned: always
    state:
      description: V(running), V(paused) or V(stopped).
      type: str
      returned: always
    ready:
      description: Whether the guest printed mvm's readiness marker.
      type: bool
      returned: always
    pid:
      description: The VMM's process id while it runs.
      type: int
      returned: always
    address:
      description: The guest's IPv4 address on its network, if it has one.
      type: str
      returned: always
    network:
      description: The bridge the VM is on.
      type: str
      returned: always
    image:
      description: The image it was made from.
      type: str
      returned: always
    ports:
      description: Published ports.
      type: list
      elements: str
      returned: always
    labels:
      description: The VM's labels.
      type: dict
      returned: always
    health:
      description: V(starting), V(healthy) or V(unhealthy) while it runs with a health check; null without one.
      type: str
      returned: always
    health_exit_code:
      description: The health check's exit code when its state last changed.
      type: int
      returned: always
    health_output:
      description: The health check's last output when its state last changed.
      type: str
      returned: always
    console_log:
      description: Path of the console log on the VM host (null for a container).
      type: str
      returned: always
    console:
      description: The last O(console_lines) lines of the console.
      type: list
      elements: str
      returned: always
  sample:
    - name: web
      backend: qemu
      state: running
      address: 10.78.0.2
      health: healthy
      labels: {role: web}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mvm.microvm.plugins.module_utils.ansible_glue import run_vm_info


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            console_lines=dict(type="int", default=20),
            state_root=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    run_vm_info(module)


if __name__ == "__main__":
    main()
