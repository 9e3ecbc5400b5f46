#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bridge
short_description: Ensure a bridge for microVMs, with its gateway address and optional outbound NAT
version_added: "0.1.0"
description:
  - Creates the bridge, puts the gateway address on it and brings it up; records the network
    (subnet, gateway, NAT, uplink) under the state root so that M(mvm.microvm.vm) can lease addresses on it.
  - With O(nat=true), masquerades the subnet out of the uplink (the default route's interface unless
    given), adds the forward rules it needs and turns IPv4 forwarding on (remembering the old value,
    which the removal of the last network restores).
  - With O(isolated=true), the bridge's VMs reach each other, the host's address on the bridge and the uplink
    (outbound NAT, published ports), nothing else; traffic between this bridge and any other interface is
    dropped, before any accept rule (iptables' mangle table, nft's C(isolate) chain). A tenant's bridge.
  - Rules are made with iptables (nft or legacy variant) or nft, whichever the host has; each carries a
    C(mvm:) comment, so a second run adds nothing and removal takes exactly what mvm made.
seealso:
  - module: mvm.microvm.vm
    description: Put a VM on the bridge (its network option).
  - module: mvm.microvm.port_forward
    description: Publish a guest port on the host.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  name:
    description: Bridge interface name (1 to 15 bytes).
    type: str
    required: true
  state:
    description: Whether the bridge and its rules should exist.
    type: str
    choices: [present, absent]
    default: present
  subnet:
    description: IPv4 subnet of the network, in CIDR form (V(10.77.0.0/24)). Required when O(state=present).
    type: str
  gateway:
    description: Address of the bridge, inside O(subnet); defaults to the subnet's first host address.
    type: str
  nat:
    description: Masquerade outbound traffic of the subnet through the uplink.
    type: bool
    default: false
  isolated:
    description:
      - Keep the bridge's VMs from every other interface but the uplink (other bridges, other tenants' VMs).
    type: bool
    default: false
  uplink:
    description:
      - Interface to masquerade to (and, with O(isolated=true), the only other one the VMs may reach).
      - Defaults to the interface of the default route.
    type: str
  firewall:
    description: Firewall tool to use; V(auto) prefers iptables, then nft.
    type: str
    choices: [auto, iptables, nft]
    default: auto
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - iproute2; iptables or nft when O(nat=true) or O(isolated=true)
"""

EXAMPLES = r"""
- name: A NATed network for microVMs
  mvm.microvm.bridge:
    name: mvmbr0
    subnet: 10.77.0.0/24
    nat: true

- name: Remove it
  mvm.microvm.bridge:
    name: mvmbr0
    state: absent
"""

RETURN = r"""
bridge:
  description: The network as recorded.
  returned: success
  type: dict
  sample: {name: mvmbr0, subnet: 10.77.0.0/24, gateway: 10.77.0.1, prefix: 24, nat: true, uplink: eth0, firewall: iptables}
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
            subnet=dict(type="str"),
            gateway=dict(type="str"),
            nat=dict(type="bool", default=False),
            isolated=dict(type="bool", default=False),
            uplink=dict(type="str"),
            firewall=dict(type="str", default="auto", choices=["auto", "iptables", "nft"]),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "bridge")


if __name__ == "__main__":
    main()
