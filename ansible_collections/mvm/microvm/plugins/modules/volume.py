#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: volume
short_description: Ensure a persistent data volume of microVMs, or delete one
version_added: "0.2.0"
description:
  - A volume is an ext4 disk at C(<state_root>/volumes/<name>.ext4) (mode 0600) that VMs attach with
    O(mvm.microvm.vm#module:volumes). A VM makes the volumes it lists that do not exist yet, so this module is
    needed only to make one ahead of time, to grow one, or to delete one.
  - A volume is kept across a VM's recreation and its O(mvm.microvm.vm#module:state=absent); only this module with
    O(state=absent) deletes it, and it refuses while a VM still lists the volume.
  - A volume grows when asked for more (C(resize2fs); refused while a running VM uses it) and never shrinks (a
    smaller O(size) is reported with a warning).
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  name:
    description: Volume name (letters, digits, C(.), C(_), C(-)).
    type: str
    required: true
  state:
    description: Whether the volume should exist.
    type: str
    choices: [present, absent]
    default: present
  size:
    description: Size in MiB or with a unit (C(512M), C(10G)); default 1 GiB for a new volume, the size it has otherwise.
    type: raw
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: A 10 GiB data volume, made before the VMs that use it
  mvm.microvm.volume:
    name: pgdata
    size: 10G

- name: Delete it (the VM that listed it is gone)
  mvm.microvm.volume:
    name: pgdata
    state: absent
"""

RETURN = r"""
volume:
  description: The volume.
  returned: success
  type: dict
  sample: {name: pgdata, state: present, path: /var/lib/mvm/volumes/pgdata.ext4, size_mib: 10240, vms: [db]}
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
            size=dict(type="raw"),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "volume")


if __name__ == "__main__":
    main()
