"""#14: one operation table (ops.OPERATIONS). The Ansible glue, the pyinfra operations and the test tables plan
through it; every module's argument spec is held to the engine's options, defaults and choices here."""

from __future__ import annotations

import importlib
import inspect
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.mvm.microvm.plugins.module_utils import ops
from mvm_pyinfra import operations
from tests.support import frontends

# Options a module has that the engine does not take: the action plugin's (see ansible_glue._planned).
FRONT_END_ONLY = {"planned"}


class _Captured(Exception):
    pass


def argument_spec(module_name: str) -> dict[str, Any]:
    module = importlib.import_module("ansible_collections.mvm.microvm.plugins.modules." + module_name)
    seen: dict[str, Any] = {}

    def capture(self: Any, argument_spec: dict[str, Any], **_kwargs: Any) -> None:
        seen.update(argument_spec)
        raise _Captured

    with mock.patch.object(basic.AnsibleModule, "__init__", capture), pytest.raises(_Captured):
        module.main()
    return seen


@pytest.mark.parametrize("name", sorted(ops.OPERATIONS))
def test_module_argument_specs_match_the_engine(name: str) -> None:
    op = ops.OPERATIONS[name]
    spec = argument_spec(op.module)
    assert set(spec) - FRONT_END_ONLY == set(op.options), name
    for option, default in op.options.items():
        declared = spec[option].get("default")
        # A module states the engine's default or none (the engine fills it in); never another one.
        assert declared is None or declared == default, (name, option, declared, default)


@pytest.mark.parametrize("name", sorted(ops.OPERATIONS))
def test_pyinfra_operations_take_every_option(name: str) -> None:
    op = ops.OPERATIONS[name]
    function = getattr(operations, frontends.PYINFRA_OPS[name])
    params = set(inspect.signature(getattr(function, "_inner", function)).parameters)
    renamed = {"name": frontends.PYINFRA_NAME[name]} if frontends.PYINFRA_NAME[name] else {}
    if name in frontends.PYINFRA_PRESENT:
        renamed["state"] = "present"
    wanted = {renamed.get(o, o) for o in op.options} - ({"name"} if not frontends.PYINFRA_NAME[name] else set())
    assert wanted <= params, (name, sorted(wanted - params))


def test_every_ansible_module_but_facts_is_an_operation() -> None:
    from tests.conftest import REPO

    modules = {p.stem for p in (REPO / "ansible_collections/mvm/microvm/plugins/modules").glob("*.py")}
    assert modules - {"facts"} == {op.module for op in ops.OPERATIONS.values()}


def test_a_promise_is_folded_and_withdrawn() -> None:
    pending: dict[str, dict[str, Any]] = {}
    ops.remember(pending, ("images", "web", {"id": "abc", "initrd": True}))
    ops.remember(pending, None)
    assert pending == {"images": {"web": {"id": "abc", "initrd": True}}}
    ops.remember(pending, ("images", "web", {}))
    assert pending == {"images": {}}
