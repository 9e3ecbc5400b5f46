# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mvm.microvm.pool: placement on the controller (plugin_utils/placement.py) from the mvm facts of every host of
the play, then mvm.microvm.vms on this host with its share. Every host computes the same placement from the same
facts, so the hosts agree without talking to each other."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet, revisions, tenancy
from ansible_collections.mvm.microvm.plugins.plugin_utils.ansiballz_cache import CachedPayload


class ActionModule(CachedPayload, ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        unknown = sorted(set(args) - {"fleet", "pool", "state_root", "revision", "batch"})
        if unknown or not args.get("fleet") or not args.get("pool"):
            raise AnsibleActionFail("mvm.microvm.pool takes fleet and pool (required), state_root, revision and "
                                    "batch%s" % ("; unknown: %s" % ", ".join(unknown) if unknown else ""))
        revision, batch = args.get("revision"), args.get("batch")
        if revision is not None and (isinstance(revision, bool) or not str(revision).isdigit() or int(revision) < 1):
            raise AnsibleActionFail("revision: expected a revision number (1 or more), got %r" % (revision,))
        if batch is not None and (isinstance(batch, bool) or not str(batch).isdigit()):
            raise AnsibleActionFail("batch: expected a step number of the update (0 or more), got %r" % (batch,))
        path = self._find_needle("files", args["fleet"])
        try:
            loaded = fleet.load(path)
            pool = next((p for p in loaded.pools if p.name == args["pool"]), None)
            if pool is None:
                raise fleet.FleetError("%s: no pool named %s" % (path, args["pool"]))
            tenant = next(t for t in loaded.tenants if t.name == pool.tenant)
            facts = self._facts(task_vars)
            applying = revisions.plan_pool(pool, tenant, facts, int(revision) if revision is not None else None,
                                           int(batch or 0))
        except fleet.FleetError as exc:
            raise AnsibleActionFail(str(exc)) from None
        me = task_vars.get("inventory_hostname")
        state_root = args.get("state_root") or (facts.get(me) or {}).get("state_root")
        pool, entries = applying.pool, applying.hosts.get(me, [])
        result.update(placement=applying.placed, changed=False, vms={}, rollout=applying.rollout)
        network = applying.networks.get(me)
        planned = (task_vars.get("ansible_facts") or {}).get("mvm_planned")
        if network and not tenancy.converged(facts.get(me), network):
            # The tenant's bridge first; in check mode the VMs then plan on it as the bridge module planned it.
            bridge_args = dict(network, state_root=state_root) if state_root else dict(network)
            if self._task.check_mode and planned:
                bridge_args["planned"] = planned
            made = self._execute_module(module_name="mvm.microvm.bridge", module_args=bridge_args,
                                        task_vars=task_vars)
            if made.get("failed"):
                result.update(failed=True, msg="tenant %s's bridge %s: %s" % (pool.tenant, network["name"],
                                                                              made.get("msg")))
                return result
            planned = (made.get("ansible_facts") or {}).get("mvm_planned") or planned
            result.update(changed=bool(made.get("changed")), network=made.get("network") or network)
        if entries:
            module_args = {"vms": entries}
            if state_root:
                module_args["state_root"] = state_root
            if self._task.check_mode and planned:
                module_args["planned"] = planned
            ran = self._execute_module(module_name="mvm.microvm.vms", module_args=module_args, task_vars=task_vars)
            ran.pop("ansible_facts", None)
            changed = result["changed"] or bool(ran.get("changed"))
            result.update(ran)
            result["changed"] = changed
            if ran.get("failed"):
                return result
        record = applying.records.get(me)
        result["revision"] = (record or {}).get("revision") or max(
            [r["revision"] for r in ((facts.get(me) or {}).get("revisions") or {}).get(pool.name, [])] or [0])
        if record is not None and state_root:
            result["changed"] = True
            if not self._task.check_mode:
                step = revisions.write_step(state_root, record)
                wrote = self._execute_module(module_name="ansible.legacy.command", task_vars=task_vars, module_args={
                    "argv": ["/bin/sh", "-c", step.script], "stdin": step.stdin, "stdin_add_newline": False})
                if wrote.get("rc"):
                    result.update(failed=True, msg="recording revision %d of pool %s failed: %s" % (
                        record["revision"], pool.name, wrote.get("stderr") or wrote.get("msg")))
        return result

    @staticmethod
    def _facts(task_vars):
        """Host name -> its mvm facts (None: not in play any more: unreachable or failed)."""
        hostvars = task_vars.get("hostvars") or {}
        active = set(task_vars.get("ansible_play_hosts") or [])
        found, missing = {}, []
        for name in task_vars.get("ansible_play_hosts_all") or []:
            facts = ((hostvars.get(name) or {}).get("ansible_facts") or {}).get("mvm")
            if name not in active:
                found[name] = None
            elif not facts:
                missing.append(name)
            else:
                found[name] = facts
        if missing:
            raise fleet.FleetError("no mvm facts for %s: run mvm.microvm.facts on every host of the play before "
                                   "mvm.microvm.pool" % ", ".join(sorted(missing)))
        return found
