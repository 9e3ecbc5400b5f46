# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The Firecracker options of a VM (mvm.microvm.vm) and of a template's builder VM (mvm.microvm.vm_template):
    # module_utils/firecracker.py's OPTION_DEFAULTS, each validated there (a test holds the names and defaults equal).
    DOCUMENTATION = r"""
options:
  firecracker:
    description:
      - Options of the Firecracker backend (no Firecracker VM boots on the machines mvm is tested on; these are
        held to Firecracker's API contract by the tests).
      - The jailer's chroot gets copies of the shared inputs (kernel, read-only drives, filter), kept root's; the
        VM's own disk and writable drives are hard-linked and given to its uid, so the chroot base and the state
        root must be on one file system.
    type: dict
    suboptions:
      api:
        description:
          - Drive Firecracker through its API socket. V(false) writes one C(--config-file) document and runs it
            with C(--no-api), without pause or snapshots.
        type: bool
        default: true
      enable_pci:
        description: Give the guest PCI (C(--enable-pci)) instead of virtio-mmio devices only.
        type: bool
        default: false
      drives:
        description: Extra block devices after the root disk.
        type: list
        elements: dict
        suboptions:
          id:
            description: The drive's id (a name).
            type: str
            required: true
          path:
            description: Absolute path of the image file on the host.
            type: path
            required: true
          read_only:
            description: Attach read-only (shared inputs are copied into a jailed VM's chroot, kept root's).
            type: bool
            default: false
      vsock_cid:
        description: The guest's vsock context id (3 or more); none without it.
        type: int
      jailer:
        description: Run under Firecracker's jailer. Default is true where the jailer binary is installed.
        type: bool
      jailer_id:
        description: The jailer's C(--id), 1 to 64 letters, digits or C(-); default derived from the VM.
        type: str
      uid:
        description:
          - The uid a jailed VM runs as; default its own, the lowest free from O(firecracker.uid_base), kept
            across restarts.
        type: int
      gid:
        description: The gid a jailed VM runs as; default the same as its uid.
        type: int
      uid_base:
        description: The lowest uid given to a jailed VM.
        type: int
        default: 10000
      chroot_base:
        description: The jailer's chroot base, on the state root's file system.
        type: path
        default: /srv/jailer
      cgroup_version:
        description: The cgroup version the jailer uses.
        type: int
        choices: [1, 2]
        default: 2
      netns:
        description: A network namespace (its path) for the jailer to enter.
        type: path
      seccomp_filter:
        description: A custom seccomp filter file; Firecracker's default filter otherwise.
        type: path
      snapshot_type:
        description: The snapshots M(mvm.microvm.snapshot) takes of this VM.
        type: str
        choices: [Full, Diff]
        default: Full
"""
