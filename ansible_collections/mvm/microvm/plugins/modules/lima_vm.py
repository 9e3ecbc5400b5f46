#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lima_vm
short_description: Ensure a Lima VM (the Linux side on macOS before 26 and Linux without KVM)
version_added: "0.1.0"
description:
  - Ensures a Lima instance is V(present) (created), V(running), V(stopped) or V(absent), with the CPUs,
    memory, disk, arch, vmType, nested virtualisation, mounts, port forwards and provisioning asked for.
  - C(lima.yaml) is written with ruamel.yaml on the target; when it exists, only the keys mvm manages
    change, and the user's comments, order and other keys stay as they were.
  - Changing CPUs, memory or disk of a running instance stops and starts it only with O(allow_restart);
    otherwise the pending change is reported and nothing changes.
  - Lima itself is not run by mvm's tests (it does not run on their machines); the planner is tested on
    recorded C(limactl list --json) outputs.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.attributes
options:
  name:
    description: Instance name.
    type: str
    required: true
  state:
    description: Desired state.
    type: str
    choices: [present, running, stopped, absent]
    default: running
  cpus:
    description: CPUs.
    type: raw
    default: 4
  memory:
    description: Memory, in MiB or with a unit (V(4G)).
    type: raw
    default: 4096
  disk:
    description: Disk size in GiB.
    type: raw
    default: 100
  arch:
    description: Guest architecture.
    type: str
    choices: [x86_64, aarch64]
  vm_type:
    description: Lima vmType.
    type: str
    choices: [qemu, vz, krunkit, wsl2]
  nested_virtualization:
    description: Expose /dev/kvm inside the instance (Firecracker needs it).
    type: bool
    default: true
  mounts:
    description: Host directories to mount in the instance (Lima's C(mounts)).
    type: list
    elements: dict
    suboptions:
      location:
        description: The host directory.
        type: str
        required: true
      writable:
        description: Mount it writable.
        type: bool
        default: false
  port_forwards:
    description: Ports of the instance to forward to the host (Lima's C(portForwards)).
    type: list
    elements: dict
    suboptions:
      guest_port:
        description: The port in the instance, 1 to 65535.
        type: int
        required: true
      host_port:
        description: The port on the host, 1 to 65535.
        type: int
        required: true
  provision:
    description: What the Linux side needs - V(kvm_group), V(firecracker), V(nix).
    type: list
    elements: str
  image:
    description: Location of the guest image (default Ubuntu 24.04 cloud images).
    type: str
  allow_restart:
    description: Allow stopping and starting a running instance to apply CPUs, memory or disk.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - limactl on the target; python3 with ruamel.yaml to write lima.yaml
"""

EXAMPLES = r"""
- name: The Lima VM that runs Firecracker on a Mac before macOS 26
  mvm.microvm.lima_vm:
    name: mvm
    cpus: 4
    memory: 8G
    vm_type: vz
    provision: [kvm_group, firecracker]
"""

RETURN = r"""
lima:
  description: The instance.
  returned: success
  type: dict
  sample: {name: mvm, state: running, status: Stopped}
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
            state=dict(type="str", default="running", choices=["present", "running", "stopped", "absent"]),
            cpus=dict(type="raw", default=4),
            memory=dict(type="raw", default=4096),
            disk=dict(type="raw", default=100),
            arch=dict(type="str", choices=["x86_64", "aarch64"]),
            vm_type=dict(type="str", choices=["qemu", "vz", "krunkit", "wsl2"]),
            nested_virtualization=dict(type="bool", default=True),
            mounts=dict(type="list", elements="dict"),
            port_forwards=dict(type="list", elements="dict"),
            provision=dict(type="list", elements="str"),
            image=dict(type="str"),
            allow_restart=dict(type="bool", default=False),
            state_root=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    run(module, "lima_vm")


if __name__ == "__main__":
    main()
