"""Run one operation three ways on recorded facts: the engine, the Ansible module in check mode
(in process, run_command answering the probes from the recording) and the pyinfra operation
(its generator, with a host whose facts come from the same recording)."""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from pyinfra.context import ctx_host, ctx_state

from ansible_collections.mvm.microvm.plugins.module_utils import ops, probe, shell
from mvm_pyinfra import facts as pyinfra_facts
from mvm_pyinfra import operations as pyinfra_ops


@dataclass
class Recording:
    """Probe outputs of one host: the host probe, and sha256 of the files that exist."""

    host: str
    files: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def run(self, command: str) -> tuple[int, str, str]:
        self.commands.append(command)
        if "probe_version" in command:
            return 0, self.host, ""
        if "sha256sum" in command:
            return 0, "".join(f"path\t{p}\t{s}\n" for p, s in self.files.items() if p in command), ""
        raise AssertionError("a command other than a probe was run: %s" % command[:200])


class ModuleExit(Exception):
    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        super().__init__(result.get("msg"))
        self.result, self.failed = result, failed


def engine(kind: str, params: dict[str, Any], rec: Recording, pending: dict | None = None):
    gather_host, gather_paths = ops.run_probe(rec.run)
    return ops.OPERATIONS[kind].plan(params, gather_host, gather_paths, pending or {}, None)[1]


def three_ways(kind: str, params: dict[str, Any], facts: str, files: dict[str, str] | None = None) -> list[str]:
    """Commands from the engine, the Ansible module (check mode) and the pyinfra operation; asserts all equal."""
    commands = engine(kind, params, Recording(facts, dict(files or {}))).commands
    module = ansible(kind, params, Recording(facts, dict(files or {})))
    assert not module.failed, module.result
    assert module.result["commands"] == commands
    assert module.result["changed"] is bool(commands)
    got, fake = pyinfra(kind, params, Recording(facts, dict(files or {})))
    assert got == commands
    assert bool(fake.noops) is not bool(commands)
    return commands


ANSIBLE_MODULES = dict({name: op.module for name, op in ops.OPERATIONS.items()}, facts="facts")


def ansible(kind: str, params: dict[str, Any], rec: Recording, check_mode: bool = True) -> ModuleExit:
    """The module's result (or failure) with run_command answering only probes."""
    module = importlib.import_module("ansible_collections.mvm.microvm.plugins.modules." + ANSIBLE_MODULES[kind])
    args = dict(params, _ansible_check_mode=check_mode, _ansible_diff=True)

    def exit_json(self, **result):
        raise ModuleExit(json.loads(json.dumps(result)), False)

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, msg=msg), True)

    def run_command(self, args, **_kwargs):
        return rec.run(args[-1])

    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fail_json), \
            mock.patch.object(basic.AnsibleModule, "run_command", run_command):
        try:
            module.main()
        except ModuleExit as done:
            return done
    raise AssertionError("the module returned without exit_json or fail_json")


class FakeHost:
    """Enough of pyinfra's Host for an operation's generator: facts from a recording, noop notes."""

    count = 0

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        FakeHost.count += 1
        # Unique per instance: the operations remember pending images per (state, host name), and a
        # short-lived test state's id() can be reused by the next one.
        self.name = "@recorded-%d" % FakeHost.count
        self.state = object()
        self.noops: list[str] = []

    def get_fact(self, cls: Any, **kwargs: Any) -> Any:
        fact = cls()
        output = self.rec.run(str(fact.command(**kwargs)))[1]
        return fact.process(output.splitlines())

    def noop(self, description: str) -> None:
        self.noops.append(description)


# How each pyinfra operation names the resource (pyinfra keeps `name=` for the operation's label).
PYINFRA_NAME = {"vm": "vm", "image": "image", "bridge": "bridge", "tap": "tap", "port_forward": None,
                "snapshot": "snapshot", "template": "template", "firecracker_install": None, "lima": "instance",
                "vms": None, "volume": "volume"}
PYINFRA_OPS = {"vm": "vm", "image": "rootfs", "bridge": "bridge", "tap": "tap", "port_forward": "port_forward",
               "snapshot": "snapshot", "template": "vm_template", "firecracker_install": "firecracker_install",
               "lima": "lima_vm", "vms": "vms", "volume": "volume"}
# Operations whose pyinfra form says present=True/False instead of state=.
PYINFRA_PRESENT = ("image", "bridge", "tap", "port_forward", "template", "firecracker_install", "volume")


def pyinfra_kwargs(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The Ansible-style parameters as the pyinfra operation spells them."""
    kwargs = {}
    for key, value in params.items():
        if key == "state" and kind in PYINFRA_PRESENT:
            kwargs["present"] = value != "absent"
        elif key == "state" and value == "absent":  # vm, snapshot, lima: present=False, their state the rest
            kwargs["present"] = False
        elif key == "name" and PYINFRA_NAME[kind]:
            kwargs[PYINFRA_NAME[kind]] = value
        else:
            kwargs[key] = value
    return kwargs


def pyinfra(kind: str, params: dict[str, Any], rec: Recording,
            before: Callable[[FakeHost], None] | None = None) -> tuple[list[str], FakeHost]:
    """The commands the pyinfra operation yields (an exception propagates)."""
    op = getattr(pyinfra_ops, PYINFRA_OPS[kind])
    fake = FakeHost(rec)
    with ctx_state.use(fake.state), ctx_host.use(fake):
        if before:
            before(fake)
        yielded = [str(c) for c in op._inner(**pyinfra_kwargs(kind, params))]
    return unwrap(yielded), fake


_RELEASING = re.compile(r"\( (.*)\n\) \|\| \{ rc=\$\?; rm -f (\S+); exit \$rc; \}", re.S)


def unwrap(yielded: list[str]) -> list[str]:
    """The plan's commands inside what pyinfra runs: a lock holder first, each step under mvm's umask and
    letting the locks go if it fails, the release last (#13: locks; files only their owner reads)."""
    if not yielded:
        return []
    if "/locks/holder-" not in yielded[0]:  # a plan without locks (Lima's own operations)
        assert all(c.startswith(shell.UMASK) for c in yielded), yielded
        return [c[len(shell.UMASK):] for c in yielded]
    assert "setsid python3 -c" in yielded[0] and "/locks/" in yielded[0], yielded[0][:200]
    token = yielded[-1]
    assert token.startswith("rm -f ") and "/locks/holder-" in token, token
    steps = []
    for command in yielded[1:-1]:
        if command.startswith("FileUploadCommand("):  # a step's standard input, staged (shell.staged_input)
            steps.append(command)
            continue
        match = _RELEASING.fullmatch(command)
        assert match and match.group(2) == token[len("rm -f "):], command[:200]
        assert match.group(1).startswith(shell.UMASK), command[:200]
        steps.append(match.group(1)[len(shell.UMASK):])
    return steps


ansible_module = ansible
pyinfra_op = pyinfra


def pyinfra_fact(cls_name: str, rec: Recording, **kwargs: Any) -> Any:
    return FakeHost(rec).get_fact(getattr(pyinfra_facts, cls_name), **kwargs)


__all__ = ["Recording", "engine", "ansible", "pyinfra", "pyinfra_fact", "probe"]
