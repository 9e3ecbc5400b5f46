# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of the modules that plan on what earlier tasks made (rootfs, bridge, snapshot,
vm_template) or make what later tasks plan on.

In check mode nothing is made, so a later task would not find the image, bridge or snapshot an earlier one
only planned, and would fail. Each of these modules returns, in check mode, the host fact `mvm_planned`
with its own promise folded in (see module_utils/ops.remember); this plugin hands that fact back to the next
module as its `planned` option. Outside check mode it only runs the module.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.mvm.microvm.plugins.plugin_utils.ansiballz_cache import CachedPayload


class ActionModule(CachedPayload, ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        planned = (task_vars.get("ansible_facts") or {}).get("mvm_planned")
        if self._task.check_mode and planned:
            args["planned"] = planned
        result.update(self._execute_module(module_name=self._task.resolved_action, module_args=args,
                                           task_vars=task_vars))
        return result
