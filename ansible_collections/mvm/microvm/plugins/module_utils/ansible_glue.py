# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every mvm Ansible module does with an AnsibleModule: probe, plan, run unless check mode, report.

It takes the module object and never imports ansible, so the engine stays standard-library only.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from typing import Any, Callable, Dict, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import lock, ops
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.runner import StepFailed, execute


def _runner(module: Any):
    def run(command: str) -> Tuple[int, str, str]:
        return module.run_command(["/bin/sh", "-c", command])
    return run


def _params(module: Any) -> Dict[str, Any]:
    return dict(module.params)


def _finish(module: Any, plan: Any, key: str, replan: Callable[[], Any],
            after: Optional[Callable[[Dict[str, Any]], None]] = None) -> None:
    """Run the plan unless in check mode, then report the plan's result under `key`; `after` adds to that
    result what exists only once the steps ran.

    A plan that changes something runs under its locks, planned again once they are held: a run that
    waited for another acts on what that one left (usually: nothing left to do).
    """
    held = None
    try:
        if plan.steps and plan.locks and not module.check_mode:
            held = lock.Held(plan.locks)
            plan = replan()
        done = execute(plan, _runner(module), check_mode=module.check_mode)
    except StepFailed as exc:
        module.fail_json(msg=str(exc), step=exc.description, command=exc.command, rc=exc.rc,
                         stdout=exc.stdout, stderr=exc.stderr, commands=plan.commands)
        return
    except (MvmError, RuntimeError) as exc:
        _fail(module, exc)
        return
    finally:
        if held is not None:
            held.release()
    shown = dict(plan.result)
    if done and after is not None:
        after(shown)
    for warning in plan.warnings:
        module.warn(warning)
    result = dict(changed=plan.changed, commands=plan.commands, steps=[s.description for s in plan.steps],
                  executed=done)
    result[key] = shown
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


def _fail(module: Any, exc: Exception) -> None:
    if isinstance(exc, SpecError):
        module.fail_json(msg=str(exc), field=exc.field)
    module.fail_json(msg=str(exc))


def run_vm(module: Any) -> None:
    gather_host, gather_paths = ops.run_probe(_runner(module))

    def replan() -> Any:
        return ops.vm_plan(_params(module), gather_host, gather_paths, gather_in=ops.run_probe_in(_runner(module)))

    try:
        desired, plan = replan()
    except (MvmError, RuntimeError) as exc:
        _fail(module, exc)
        return

    def refresh(shown: Dict[str, Any]) -> None:
        """The pid exists only once the VMM wrote it."""
        found = gather_host(desired.state_root)["vms"].get(desired.name)
        if found and desired.state != "absent":
            shown.update(pid=found["pid"], state=found["state"])

    _finish(module, plan, "vm", lambda: replan()[1], after=refresh)


# Module -> how the engine plans it from the parameters and the fact gatherers, and the result's key.
_PLANNERS = {
    "rootfs": (lambda p, host, paths: ops.image_plan(p, host, paths)[1], "image"),
    "vms": (lambda p, host, paths: ops.vms_plan(p, host, paths)[1], "vms"),
    "bridge": (lambda p, host, paths: ops.bridge_plan(p, host)[1], "bridge"),
    "tap": (lambda p, host, paths: ops.tap_plan(p, host)[1], "tap"),
    "port_forward": (lambda p, host, paths: ops.forward_plan(p, host)[1], "port_forward"),
    "snapshot": (lambda p, host, paths: ops.snapshot_plan(p, host, paths)[1], "snapshot"),
    "vm_template": (lambda p, host, paths: ops.template_plan(p, host, paths)[1], "template"),
    "firecracker_install": (lambda p, host, paths: ops.install_plan(p, host, paths)[1], "firecracker"),
    "lima_vm": (lambda p, host, paths: ops.lima_plan(p, host)[1], "lima"),
}  # type: Dict[str, Tuple[Callable[[Dict[str, Any], Any, Any], Any], str]]


def run(module: Any, kind: str) -> None:
    """Every module but vm and facts: plan from the host facts, run unless in check mode, report."""
    planner, key = _PLANNERS[kind]
    gather_host, gather_paths = ops.run_probe(_runner(module))
    try:
        plan = planner(_params(module), gather_host, gather_paths)
    except (MvmError, RuntimeError) as exc:
        _fail(module, exc)
        return
    _finish(module, plan, key, lambda: planner(_params(module), gather_host, gather_paths))


def run_facts(module: Any) -> None:
    gather_host, _gather_paths = ops.run_probe(_runner(module))
    try:
        facts = ops.host_report(gather_host(module.params.get("state_root")), module.params.get("backend") or "auto")
    except (MvmError, RuntimeError) as exc:
        module.fail_json(msg=str(exc))
        return
    for warning in facts["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"mvm": facts})
