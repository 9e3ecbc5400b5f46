#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm
short_description: Run, stop or remove a microVM
version_added: "0.1.0"
description:
  - Ensures a microVM is V(running), V(paused), V(stopped) or V(absent). A change that needs only a restart
    (memory, cpus, kernel arguments, hostname, network) restarts the VM on its own disk; one that would replace
    its disk waits for O(recreate) (the diff names the fields).
  - O(backend) drives the VM with one of the backends the facts list (V(auto) picks as M(mvm.microvm.facts)
    says). Firecracker (Linux with usable KVM; API socket or config file, jailer, seccomp, snapshots), QEMU
    (C(-M microvm) on x86_64, C(-M virt) on aarch64, KVM where usable and TCG emulation otherwise, with a
    warning), Docker (a labelled container running the image's root file system with mvm's init), Apple
    Container (macOS 26 and later) and Lima (Firecracker or QEMU inside a Lima instance).
  - A QEMU or Firecracker VMM is started with C(setsid) and writes its own pid file; its sockets, console log and
    applied spec live in C(<state_root>/vms/<name>), files only their owner reads.
  - V(running) waits for the guest's readiness marker on the console.
  - V(stopped) presses the ACPI power button through QMP and kills the VMM after O(stop_timeout).
  - V(paused) stops the guest's vCPUs (QMP C(stop)); V(running) resumes a paused guest.
  - With O(snapshot), a VM that has to be created starts from that snapshot (made by
    M(mvm.microvm.snapshot)) instead of booting, with its own disk copy, TAP, address and sockets.
notes:
  - Firecracker, Lima and Apple Container are held to their documented interfaces by doubles in the collection's
    tests; QEMU (under TCG) and Docker run for real there.
  - A VM of the QEMU and Firecracker backends comes back after a host reboot with O(autostart) (a systemd unit).
seealso:
  - module: mvm.microvm.rootfs
    description: Build the image a VM boots.
  - module: mvm.microvm.vms
    description: Many VMs from one probe, started together.
  - module: mvm.microvm.snapshot
    description: Snapshot a VM, or start one from a snapshot.
  - module: mvm.microvm.facts
    description: Which backend the host has, and why.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.backend
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.workload
  - mvm.microvm.firecracker
  - mvm.microvm.attributes
options:
  name:
    description: VM name; 1 to 64 letters, digits, C(.), C(_) or C(-).
    type: str
    required: true
  state:
    description: Desired state.
    type: str
    choices: [running, paused, stopped, absent]
    default: running
  image:
    description: Name of an image built with M(mvm.microvm.rootfs). Excludes O(kernel), O(initrd), O(rootfs).
    type: str
  kernel:
    description: Absolute path of the guest kernel on the target.
    type: path
  initrd:
    description: Absolute path of an initrd on the target.
    type: path
  rootfs:
    description: Absolute path of an ext4 root file system; the VM boots a copy of it.
    type: path
  memory:
    description: Guest memory, in MiB or with a unit (C(512M), C(1G)); at least 32 MiB.
    type: raw
    default: 256
  cpus:
    description: Number of vCPUs, 1 to 64.
    type: raw
    default: 1
  kernel_args:
    description: Extra kernel command line arguments.
    type: str
    default: ""
  hostname:
    description: Guest hostname; defaults to O(name).
    type: str
  boot_timeout:
    description: Seconds to wait for the readiness marker.
    type: raw
    default: 60
  stop_timeout:
    description: Seconds to wait for an ACPI power-down before the VMM is killed.
    type: raw
    default: 10
  network:
    description:
      - Bridge made by M(mvm.microvm.bridge) to put the VM on. The VM gets a free address of the
        network (kept while it exists), a MAC derived from the network and slot, and its own TAP; the
        guest learns address and gateway from the kernel arguments C(mvm.ip) and C(mvm.gw).
    type: str
  ports:
    description:
      - Host ports to publish to the guest, as V(HOST:GUEST) or V(HOST:GUEST/udp). Needs O(network).
    type: list
    elements: raw
  tap:
    description: Name of the VM's TAP device; defaults to one derived from the state root and VM name.
    type: str
  labels:
    description:
      - Labels of the VM (name to value), recorded with it; the inventory plugin C(mvm.microvm.vms) makes groups and
        variables of them. Changing them changes no VM.
    type: dict
  production:
    description:
      - Refuse to start a VM that would run unjailed, as root, or under a uid another VM uses, naming the failing
        check of the security posture (the C(security) facts of M(mvm.microvm.facts)). Set it for every VM
        of a play with C(module_defaults) for M(mvm.microvm.vm).
      - QEMU VMs run as root under mvm, so with this option only jailed Firecracker VMs start.
    type: bool
    default: false
  lima_instance:
    description: Lima instance that runs the VM when the backend is V(lima) (made by M(mvm.microvm.lima_vm)).
    type: str
    default: mvm
  recreate:
    description:
      - Allow a change that replaces the VM's disk (another image, rootfs, backend or architecture; any change of a
        container backend) to be applied. Without it such a change is reported in RV(vm.pending) and a warning, and
        nothing is done.
      - Changes that only need a restart (memory, cpus, kernel arguments, hostname, network) restart the VM on the
        disk it has, with or without this option. Only O(state=absent) deletes a disk otherwise.
    type: bool
    default: false
  snapshot:
    description:
      - Name of a snapshot to start the VM from when it has to be created (a template snapshot).
      - The VM must have the snapshot's machine (memory, cpus, kernel, image, kernel arguments and whether
        it has a network device); a difference fails naming the field.
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - qemu-system-x86_64 or qemu-system-aarch64, setsid and python3 on the target
"""

EXAMPLES = r"""
- name: Build the default image
  mvm.microvm.rootfs:

- name: Run a microVM from it
  mvm.microvm.vm:
    name: web
    image: default
    backend: qemu
    memory: 512M
    cpus: 2
  register: web

- name: Remove it
  mvm.microvm.vm:
    name: web
    state: absent
"""

RETURN = r"""
vm:
  description: The VM after the run (in check mode, as it would be).
  returned: success
  type: dict
  contains:
    name:
      description: VM name.
      type: str
      returned: always
    backend:
      description: Backend that runs it.
      type: str
      returned: always
    state:
      description: One of V(running), V(paused), V(stopped) or V(absent).
      type: str
      returned: always
    pid:
      description: VMM process id when running, else null.
      type: int
      returned: always
    accel:
      description: V(kvm) or V(tcg) (emulation, slow; a warning says why KVM is not used).
      type: str
      returned: when not absent
    console_log:
      description: Path of the console log.
      type: str
      returned: always
    pending:
      description: Changes not applied because they would replace the VM's disk (see O(recreate)), each field
        with its V(before) and V(after) value.
      type: dict
      returned: when such a change was asked for without O(recreate)
    dir:
      description: State directory of the VM.
      type: str
      returned: always
    ip:
      description: The guest's address on its network.
      type: str
      returned: when O(network) is set
    changes:
      description: Fields whose change made the running VM be recreated, with before and after.
      type: dict
      returned: when not absent
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
from ansible_collections.mvm.microvm.plugins.module_utils import workload
from ansible_collections.mvm.microvm.plugins.module_utils.ansible_glue import run_vm


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="running", choices=["running", "paused", "stopped", "absent"]),
            backend=dict(type="str", default="auto",
                         choices=list(registry.CHOICES)),
            image=dict(type="str"),
            kernel=dict(type="path"),
            initrd=dict(type="path"),
            rootfs=dict(type="path"),
            memory=dict(type="raw", default=256),
            cpus=dict(type="raw", default=1),
            kernel_args=dict(type="str", default=""),
            hostname=dict(type="str"),
            boot_timeout=dict(type="raw", default=60),
            stop_timeout=dict(type="raw", default=10),
            network=dict(type="str"),
            ports=dict(type="list", elements="raw"),
            tap=dict(type="str"),
            snapshot=dict(type="str"),
            firecracker=dict(type="dict"),
            lima_instance=dict(type="str", default="mvm"),
            recreate=dict(type="bool", default=False),
            production=dict(type="bool", default=False),
            labels=dict(type="dict"),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
            **workload.ARGSPEC
        ),
        supports_check_mode=True,
    )
    run_vm(module)


if __name__ == "__main__":
    main()
