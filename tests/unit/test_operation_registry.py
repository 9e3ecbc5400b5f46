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


def test_every_ansible_module_but_the_read_only_ones_is_an_operation() -> None:
    from tests.conftest import REPO

    modules = {p.stem for p in (REPO / "ansible_collections/mvm/microvm/plugins/modules").glob("*.py")}
    # facts and vm_info only read; pool places a fleet's instances on the controller and runs vms on each host.
    assert modules - {"facts", "vm_info", "pool"} == {op.module for op in ops.OPERATIONS.values()}


def test_facts_after_the_plan_are_folded_without_touching_the_probed_facts() -> None:
    """A plan's promise is the fact it leaves (None: gone); later plans read the probed facts folded with them,
    and the probed facts (pyinfra's cache) stay as the host is."""
    pending: dict[str, dict[str, Any]] = {}
    ops.remember(pending, ("images", "web", {"name": "web", "id": "abc", "complete": True, "manifest": {}}))
    ops.remember(pending, None)
    ops.remember(pending, ("snapshots", "old", None))
    probed = {"images": {}, "networks": {"br0": {"leases": {}}}, "snapshots": {"old": {"name": "old"}}}
    folded = ops.fold(probed, pending)
    assert folded["images"]["web"]["id"] == "abc" and "old" not in folded["snapshots"]
    folded["images"]["web"]["id"] = "changed"
    assert probed == {"images": {}, "networks": {"br0": {"leases": {}}}, "snapshots": {"old": {"name": "old"}}}
    assert pending["images"]["web"]["id"] == "abc"
    assert ops.fold(probed, {}) is probed and ops.fold(probed, None) is probed


def test_a_bridge_planned_again_keeps_the_leases_of_its_vms() -> None:
    """Found by the Firecracker lifecycle against the doubles: the second converge of "bridge, then a VM on it"
    restarted nothing but re-leased the VM, because the bridge's promise carried no leases."""
    from tests.support.golden import recorded

    rec = frontends.Recording(recorded("probe-qemu-running.txt"))
    gather_host, gather_paths = ops.run_probe(rec.run)
    probed = gather_host(None)
    name, record = "mvmbr0", probed["networks"]["mvmbr0"]
    assert record["leases"], "the recorded host has a VM on its bridge"
    params = {"name": name, "subnet": record["subnet"], "nat": record["nat"], "uplink": record.get("uplink")}
    _desired, _plan, promise = ops.OPERATIONS["bridge"].plan(params, gather_host, gather_paths, {}, None)
    assert promise and promise[2]["leases"] == record["leases"]


OPERATIONS_WITH_A_NAME = [(op, arg) for op, arg in (
    ("rootfs", "image"), ("vm", "vm"), ("bridge", "bridge"), ("tap", "tap"), ("snapshot", "snapshot"),
    ("vm_template", "template"), ("volume", "volume"), ("lima_vm", "instance"))]


@pytest.mark.parametrize("op,arg", OPERATIONS_WITH_A_NAME)
def test_every_pyinfra_operation_says_present_and_names_its_arguments_as_the_deploy_does(op: str, arg: str) -> None:
    """One way to say present or absent (`present=`) across the operations; an error about the engine's `name`
    names the operation's own argument (`vm`, `image`, ...: pyinfra keeps `name=` for the label)."""
    inner = getattr(operations, op)._inner
    assert "present" in inspect.signature(inner).parameters, op
    with pytest.raises(operations.OperationValueError, match=r"^%s: expected .*; got .not a name!." % arg):
        getattr(operations, op)(**{arg: "not a name!", "name": "label", **({"vm": "web"} if op == "snapshot" else {})})


@pytest.mark.parametrize("kind,name", [("vm", "web"), ("snapshot", "s1")])
def test_the_old_state_absent_still_removes_with_a_deprecation_warning(kind: str, name: str, caplog) -> None:
    from tests.support.probes import LINUX_PVM_QEMU, applied, image_lines, vm_lines

    facts = LINUX_PVM_QEMU + image_lines("default", "0123456789abcdef") + vm_lines("web", applied("web"), 1000)
    arg = frontends.PYINFRA_NAME[kind]
    new, _fake = frontends.pyinfra(kind, {"name": name, "state": "absent"}, frontends.Recording(facts))
    op = getattr(operations, frontends.PYINFRA_OPS[kind])._inner
    fake = frontends.FakeHost(frontends.Recording(facts))
    with frontends.ctx_state.use(fake.state), frontends.ctx_host.use(fake):
        old = frontends.unwrap([str(c) for c in op(**{arg: name, "state": "absent"})])
    assert old == new and ("state='absent' is deprecated; use present=False" in caplog.text)
