#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pool
short_description: Spread a pool of identical microVMs over the VM hosts of the play
version_added: "0.1.0"
description:
  - Reads the pool O(pool) of the fleet file O(fleet) on the controller (see the lookup P(mvm.microvm.fleet#lookup)),
    decides from the mvm facts of every host of the play where each instance runs, and runs M(mvm.microvm.vms) on
    each host with that host's share.
  - Instances are named C(<pool>-0) to C(<pool>-<N-1>). An instance stays on its host while that host is in the
    play; a missing one goes to the host with the fewest of the pool's instances, then by name, if the host has
    the memory available and the tenant's per-host quota allows it. Instances beyond the count
    are removed, and nothing else. When the pool does not fit, or goes over its tenant's quotas, the task fails
    on every host before any changes. A pool that publishes ports runs one instance per host.
  - On each host that runs instances, the pool's tenant gets its bridge first (M(mvm.microvm.bridge) with NAT and
    O(mvm.microvm.bridge#module:isolated=true), named C(mvt-<tenant>), a /24 of the tenant's C(subnet_pool) that
    the host keeps once it has one); every instance gets a TAP on it.
  - Every host of the play must have run M(mvm.microvm.facts) before this task (in the same play, so the facts are
    current); hosts that are unreachable or failed are left out and their instances are started elsewhere.
  - An image that came to a host as a signed bundle (M(mvm.microvm.rootfs) O(mvm.microvm.rootfs#module:bundle))
    must be the pool's pinned digest there, or the task fails naming the host.
  - B(Rolling update.) Each instance carries the pool spec it runs (label C(mvm.spec)). When the fleet file
    changes what the instances run (image, size, workload, ...), the out-of-date instances are updated in batches
    of C(update.max_unavailable + update.max_surge), in index order; with C(max_surge), surge instances start
    first and go last. An instance's disk is replaced when its image changes (pool instances are replicas).
    One task applies one step, O(batch); the result's C(rollout.batches) says how many there are. Loop over the
    rest with M(ansible.builtin.include_tasks) (the linear strategy runs each step on every host before the next)
    and C(any_errors_fatal), as C(playbooks/fleet.yml) does. A step returns when its VMs are ready (and healthy,
    with a health check). A step that fails, or a host lost, stops the run with the later instances still on the
    old spec; a rerun goes on from what is still out of date. While instances are out of date, a host of the play
    that does not answer stops the update before it begins.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.attributes
options:
  fleet:
    description: Path of the fleet file on the controller.
    type: path
    required: true
  pool:
    description: The pool's name in the fleet file.
    type: str
    required: true
  state_root:
    description:
      - mvm's state root on every host; unset, the state root each host's facts were gathered with.
    type: path
  revision:
    description:
      - Apply the pool as revision O(revision) recorded it (its spec and image), instead of the fleet file's; the
        rollback is recorded as a new revision.
      - Every apply that changes the pool or where its instances run appends a record (number, time, spec and
        its sha256, image digest, instances per host, the controller's user) to C(<state_root>/fleet/<pool>.revisions)
        on each host; M(mvm.microvm.facts) lists them under C(revisions).
    type: int
  batch:
    description:
      - The step of a rolling update to apply, from 0; every step computes the same batches from the facts the
        play gathered. Step 0 makes every placement change (new instances, removals; with C(max_surge), the surge
        instances), updates the first batch and records the revision; step k updates batch k only (the last one
        with surge also removes the surge instances). Past the last step, nothing.
    type: int
    default: 0
attributes:
  action:
    description:
      - Runs as an action plugin on the controller, which executes M(mvm.microvm.bridge) and M(mvm.microvm.vms) on
        each host.
    support: full
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Runs through its action plugin; the module itself only documents it.
seealso:
  - module: mvm.microvm.vms
  - module: mvm.microvm.facts
"""

EXAMPLES = r"""
- name: The pool web of the fleet file, over every host of the play
  hosts: vm_hosts
  tasks:
    - name: Current facts of every VM host
      mvm.microvm.facts:

    - name: Pool web
      mvm.microvm.pool:
        fleet: inventory/fleet.yml
        pool: web
"""

RETURN = r"""
placement:
  description: Per host of the play, the pool's instances it runs.
  returned: success
  type: dict
  sample: {"kvm1": ["web-0", "web-3"], "kvm2": ["web-1"], "kvm3": ["web-2"]}
vms:
  description: This host's M(mvm.microvm.vms) result, per VM name.
  returned: success
  type: dict
revision:
  description: The pool's revision after this apply (0 when none was ever recorded).
  returned: success
  type: int
rollout:
  description: The rolling update as this step saw it.
  returned: success
  type: dict
  contains:
    batches:
      description: How many steps the update has (1 when nothing is out of date).
      type: int
    batch:
      description: The step this task applied.
      type: int
    updating:
      description: The instances this step updated.
      type: list
      elements: str
    outdated:
      description: Every instance that ran another spec when the facts were gathered.
      type: list
      elements: str
    surge:
      description: The surge instances that run while the update is under way.
      type: list
      elements: str
  sample: {"batches": 3, "batch": 0, "updating": ["web-0", "web-1"], "outdated": ["web-0", "web-1", "web-2"],
           "surge": []}
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fleet=dict(type="path", required=True),
            pool=dict(type="str", required=True),
            state_root=dict(type="path"),
            revision=dict(type="int"),
            batch=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="mvm.microvm.pool runs through its action plugin on the controller; call it as a task")


if __name__ == "__main__":
    main()
