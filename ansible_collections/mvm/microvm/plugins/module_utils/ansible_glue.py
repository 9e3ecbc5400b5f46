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
    def run(command: str, stdin: Optional[str] = None) -> Tuple[int, str, str]:
        return module.run_command(["/bin/sh", "-c", command], data=stdin, binary_data=True)
    return run


def _params(module: Any) -> Dict[str, Any]:
    """The module's options as the engine takes them (`planned` is the front-end's, see _planned)."""
    return {k: v for k, v in module.params.items() if k != PLANNED}


PLANNED = "planned"


def _planned(module: Any) -> Dict[str, Dict[str, Any]]:
    """In check mode, what earlier tasks of the play only planned under this state root: the collection's action
    plugin hands the module the host's `mvm_planned` fact, which each check-mode task folds its promise into."""
    if not module.check_mode:
        return {}
    # Only check mode reads it, where no command runs; a shape other than the plugin's is ignored, not trusted.
    found = (module.params.get(PLANNED) or {}).get(module.params.get("state_root") or "")
    found = found if isinstance(found, dict) else {}
    return {kind: dict(found[kind]) if isinstance(found.get(kind), dict) else {} for kind in ops.PENDING_KINDS}


def _finish(module: Any, plan: Any, key: str, replan: Callable[[], Any],
            after: Optional[Callable[[Dict[str, Any]], None]] = None, facts: Optional[Dict[str, Any]] = None) -> None:
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
    if facts:
        result["ansible_facts"] = facts
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


def _fail(module: Any, exc: Exception) -> None:
    if isinstance(exc, SpecError):
        module.fail_json(msg=str(exc), field=exc.field)
    module.fail_json(msg=str(exc))


def run_vm(module: Any) -> None:
    run(module, "vm")


def run(module: Any, kind: str) -> None:
    """Every module but facts: plan from the host facts (and, in check mode, what earlier tasks planned), run
    unless in check mode, report."""
    op = ops.BY_MODULE[kind]
    gather_host, gather_paths = ops.run_probe(_runner(module), local=True)
    gather_in = ops.run_probe_in(_runner(module))
    pending = _planned(module)

    def plan_once() -> Any:
        return op.plan(_params(module), gather_host, gather_paths, pending, gather_in)

    try:
        desired, plan, promise = plan_once()
    except (MvmError, RuntimeError) as exc:
        _fail(module, exc)
        return

    def refresh(shown: Dict[str, Any]) -> None:
        """A VM's pid exists only once the VMM wrote it."""
        found = gather_host(desired.state_root)["vms"].get(desired.name)
        if found and desired.state != "absent":
            shown.update(pid=found["pid"], state=found["state"])

    facts = None
    if module.check_mode and promise is not None:
        ops.remember(pending, promise)
        planned = dict(module.params.get(PLANNED) or {})
        planned[module.params.get("state_root") or ""] = pending
        facts = {"mvm_planned": planned}
    _finish(module, plan, op.result, lambda: plan_once()[1], after=refresh if kind == "vm" else None, facts=facts)


def run_facts(module: Any) -> None:
    gather_host, _gather_paths = ops.run_probe(_runner(module), local=True)
    try:
        facts = ops.host_report(gather_host(module.params.get("state_root")), module.params.get("backend") or "auto")
        if module.params.get("doctor_backend"):  # answered about, available here or not (see doctor.report)
            from ansible_collections.mvm.microvm.plugins.module_utils import doctor

            facts["doctor"] = doctor.report(facts, module.params["doctor_backend"])
    except (MvmError, RuntimeError) as exc:
        module.fail_json(msg=str(exc))
        return
    for warning in facts["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"mvm": facts})


def run_vm_info(module: Any) -> None:
    """vm_info: the probe's VMs as records (vm_info.describe), each with its console's last lines."""
    from ansible_collections.mvm.microvm.plugins.module_utils import validate, vm_info

    run = _runner(module)
    try:
        name = validate.name("name", module.params["name"]) if module.params.get("name") else None
        lines = validate.integer("console_lines", module.params.get("console_lines"), 0, 1000)
        gather_host, _gather_paths = ops.run_probe(run, local=True)
        found = vm_info.records(gather_host(module.params.get("state_root"))["vms"], name)
    except (MvmError, RuntimeError) as exc:
        _fail(module, exc)
        return
    for record in found:
        record["console"] = run(vm_info.console_command(record, lines))[1].splitlines()[-lines:] if lines else []
    module.exit_json(changed=False, vms=found, exists=bool(found))
