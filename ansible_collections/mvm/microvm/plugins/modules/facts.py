#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: facts
short_description: Detect the platform, KVM, tools, backends and microVMs of a host
version_added: "0.1.0"
description:
  - Runs one probe script on the target and sets C(ansible_facts.mvm).
  - Tells usable KVM apart from KVM that is present but not usable (PVM nested virtualisation).
  - Selects the backend mvm would use and says why, and lists every backend with why it is not available.
seealso:
  - module: mvm.microvm.vm
    description: Run a VM on the backend the facts chose.
  - module: mvm.microvm.vm_info
    description: The VMs as records, with their consoles.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.backend
  - mvm.microvm.state_root
  - mvm.microvm.attributes
  - mvm.microvm.attributes.facts
options:
  doctor_backend:
    description:
      - The backend the doctor's report (C(ansible_facts.mvm.doctor)) answers about, whether or not it can run
        here. Unlike O(backend), one that cannot run here does not fail the task; its report says why and gives the
        command that fixes each failing check (C(fix)), and C(table) holds the report as text lines.
      - Default is O(backend)'s choice.
    type: str
    choices: [auto, qemu, firecracker, docker, apple-container, lima]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
"""

EXAMPLES = r"""
- name: Gather mvm facts
  mvm.microvm.facts:

- name: Show the backend mvm chose
  ansible.builtin.debug:
    msg: "{{ ansible_facts.mvm.backend.chosen }} ({{ ansible_facts.mvm.backend.reason }})"

- name: What this host needs for Firecracker, with the command that fixes each failing check
  mvm.microvm.facts:
    doctor_backend: firecracker

- name: Show the doctor's table
  ansible.builtin.debug:
    msg: "{{ ansible_facts.mvm.doctor.table }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    mvm:
      description:
        - Platform (OS, kind such as V(wsl2) or V(macos), arch, kernel, distribution, macOS version), KVM
          (present, read-write, kind, usable and why not), tools with path and version, docker daemon,
          nix flakes, Lima instances, bridges and TAP devices, microVMs and images under the state root.
        - C(backend) holds the chosen backend, the reason, every backend's availability, the capability matrix,
          and C(prepare), the backend to provision the host for (what M(mvm.microvm.facts)' O(backend) asks
          for, or the one V(auto) picks once QEMU or Firecracker is installed, which the host role installs).
        - C(doctor) holds C(checks) (name, category, ok, info, needed, and C(fix), the command that makes a failing
          check pass), C(all_ok) and C(table) (the report as text lines) for the chosen backend, or the one
          O(doctor_backend) names; the host's security checks are listed there too, as advice (not needed).
        - C(security) is the security posture, C(host) and C(vms) (by name) each a list of checks with C(name),
          C(ok), C(why) and C(fix) (kvm device permissions, state root mode, jailer installed, firewall isolation;
          per VM jailer, vmm not root, distinct uid, seccomp, cgroup limits, file modes), and C(all_ok).
        - C(capacity) holds the host's available memory (C(memory_available_mib)) and C(cpus), which a fleet's
          placement weighs (M(mvm.microvm.pool)); C(revisions) the records of each fleet pool applied here, by pool.
        - C(kernel_inputs) is what mvm's own kernel is built from here (C(source), the kernel source package's
          version; C(gcc), the compiler's version line) and the kernels already built (C(built) under the state
          root, C(host_built) in the host's store), which M(mvm.microvm.rootfs) plans on.
      returned: always
      type: dict
      sample:
        platform: {os: linux, arch: x86_64, wsl: false}
        kvm: {present: true, usable: false, kind: kvm_pvm}
        backend: {chosen: qemu, reason: "none of firecracker, apple-container, docker, lima fits"}
        vms: {}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mvm.microvm.plugins.module_utils import registry
from ansible_collections.mvm.microvm.plugins.module_utils.ansible_glue import run_facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_root=dict(type="path"),
            backend=dict(type="str", default="auto",
                         choices=list(registry.CHOICES)),
            doctor_backend=dict(type="str", choices=list(registry.CHOICES)),
        ),
        supports_check_mode=True,
    )
    run_facts(module)


if __name__ == "__main__":
    main()
