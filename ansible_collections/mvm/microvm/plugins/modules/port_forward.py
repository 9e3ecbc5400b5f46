#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: port_forward
short_description: Forward a host port to a guest address and port
version_added: "0.1.0"
description:
  - DNATs connections to O(host_port) on any of the host's own addresses (from other hosts and from
    the host itself, loopback excepted) to O(guest):O(guest_port), and accepts the forwarded traffic.
  - One forward per host port and protocol; changing the guest replaces the rules.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  host_port:
    description: Port on the host, 1 to 65535.
    type: raw
    required: true
  guest:
    description: Guest IPv4 address. Required when O(state=present).
    type: str
  guest_port:
    description: Port in the guest. Required when O(state=present).
    type: raw
  proto:
    description: Protocol.
    type: str
    choices: [tcp, udp]
    default: tcp
  network:
    description: Network (bridge) the guest is on; when given, O(guest) must be inside its subnet.
    type: str
  state:
    description: Whether the forward should exist.
    type: str
    choices: [present, absent]
    default: present
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
"""

EXAMPLES = r"""
- name: Publish the guest's web server on port 8080
  mvm.microvm.port_forward:
    host_port: 8080
    guest: 10.77.0.2
    guest_port: 80
    network: mvmbr0
"""

RETURN = r"""
port_forward:
  description: The forward.
  returned: success
  type: dict
  sample: {host_port: 8080, guest: 10.77.0.2, guest_port: 80, proto: tcp, state: present, firewall: iptables}
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
            host_port=dict(type="raw", required=True),
            guest=dict(type="str"),
            guest_port=dict(type="raw"),
            proto=dict(type="str", default="tcp", choices=["tcp", "udp"]),
            network=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            firewall=dict(type="str", default="auto", choices=["auto", "iptables", "nft"]),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "port_forward")


if __name__ == "__main__":
    main()
