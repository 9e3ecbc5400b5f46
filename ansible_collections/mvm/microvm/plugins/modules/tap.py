#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tap
short_description: Ensure a TAP device, owned by a user, attached to a bridge and up
version_added: "0.1.0"
description:
  - Creates a persistent TAP device (C(ip tuntap add ... mode tap)), owned by O(user) and O(group)
    when given, attaches it to O(bridge) and brings it up. A TAP with another owner is recreated.
  - M(mvm.microvm.vm) with O(mvm.microvm.vm#module:network) makes its own TAP; this module is for TAPs
    used by other VMMs (Firecracker run by hand, a jailer).
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  name:
    description: TAP interface name (1 to 15 bytes).
    type: str
    required: true
  state:
    description: Whether the TAP should exist.
    type: str
    choices: [present, absent]
    default: present
  bridge:
    description: Bridge to attach the TAP to.
    type: str
  user:
    description: User (name or uid) allowed to open the TAP.
    type: str
  group:
    description: Group (name or gid) allowed to open the TAP.
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: A TAP for a Firecracker VM run by user fc
  mvm.microvm.tap:
    name: fc-tap0
    bridge: mvmbr0
    user: fc
"""

RETURN = r"""
tap:
  description: The TAP device.
  returned: success
  type: dict
  sample: {name: fc-tap0, state: present, bridge: mvmbr0}
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
            state=dict(type="str", default="present", choices=["present", "absent"]),
            bridge=dict(type="str"),
            user=dict(type="str"),
            group=dict(type="str"),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "tap")


if __name__ == "__main__":
    main()
