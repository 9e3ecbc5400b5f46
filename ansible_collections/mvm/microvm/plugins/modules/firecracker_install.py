#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: firecracker_install
short_description: Install a pinned Firecracker release (firecracker and jailer), checksum verified
version_added: "0.1.0"
description:
  - Fetches the release for O(version) and O(arch) from O(url) (or copies O(src)), verifies O(sha256),
    unpacks it and installs C(firecracker) and C(jailer) into O(bin_dir). A wrong checksum fails and leaves
    the bin dir as it was.
  - Idempotent by version - a record under the state root names the version and the binary installed; the
    same version with the same binary in place is no change.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.attributes
options:
  version:
    description: Release version, such as V(1.14.1). Required when O(state=present).
    type: str
  arch:
    description: V(x86_64) or V(aarch64); defaults to the host's.
    type: str
    choices: [x86_64, aarch64]
  url:
    description: URL template of the release tarball, with C({version}) and C({arch}).
    type: str
    default: https://github.com/firecracker-microvm/firecracker/releases/download/v{version}/firecracker-v{version}-{arch}.tgz
  sha256:
    description: SHA-256 of the release tarball (or of O(src)). Required for downloads.
    type: str
  src:
    description: A local release tarball, or a firecracker binary, on the target.
    type: path
  bin_dir:
    description: Where the binaries go.
    type: path
    default: /usr/local/bin
  state:
    description: Whether Firecracker should be installed.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Install Firecracker 1.14.1
  mvm.microvm.firecracker_install:
    version: 1.14.1
    sha256: "{{ firecracker_sha256 }}"
"""

RETURN = r"""
firecracker:
  description: What was (or would be) installed.
  returned: success
  type: dict
  sample: {version: 1.14.1, arch: x86_64, bin_dir: /usr/local/bin}
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
            version=dict(type="str"),
            arch=dict(type="str", choices=["x86_64", "aarch64"]),
            url=dict(type="str", default="https://github.com/firecracker-microvm/firecracker/releases/download/"
                                         "v{version}/firecracker-v{version}-{arch}.tgz"),
            sha256=dict(type="str"),
            src=dict(type="path"),
            bin_dir=dict(type="path", default="/usr/local/bin"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            state_root=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    run(module, "firecracker_install")


if __name__ == "__main__":
    main()
