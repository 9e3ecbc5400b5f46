# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The choices are module_utils/registry.py's CHOICES (a test holds them equal): a new backend is added there
    # and here, nowhere else.
    DOCUMENTATION = r"""
options:
  backend:
    description:
      - Backend that runs the microVM (M(mvm.microvm.vms) - the entries that do not name one; M(mvm.microvm.vm_template) -
        the builder's, which needs snapshots; M(mvm.microvm.facts) - the one to check the host for).
      - V(auto) picks the first that fits the host, in the order V(firecracker), V(apple-container), V(docker),
        V(lima), then V(qemu); the facts of M(mvm.microvm.facts) say which and why. V(lima) runs Firecracker inside
        a Lima instance.
      - A backend that cannot run on the host fails with the reason and what to install; a request it cannot serve
        (a network on a container backend, a pause on V(apple-container), a snapshot without snapshots) fails
        before anything runs, naming the backends that can.
    type: str
    choices: [auto, qemu, firecracker, docker, apple-container, lima]
    default: auto
"""
