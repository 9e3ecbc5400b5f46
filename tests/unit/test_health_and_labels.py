"""Health checks and labels: what the VM records and its init reads, the wait after a start, the facts' reading of
the console, and the refusals, each naming its field. Expectations are literals."""

from __future__ import annotations

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import probe, workload
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.spec import vm_spec
from tests.support import frontends
from tests.support.probes import vm_lines
from tests.unit.test_catch_bugs import BASE, _running
from tests.unit.test_workload import _applied_of

HEALTH = {"command": "wget -qO- localhost:8080/ready", "interval": 2, "retries": 4}


def _resolved(options: dict) -> dict:
    got = workload.resolve(workload.options(options), workload.image_defaults(None), {})
    assert got is not None
    return got


def test_a_string_check_runs_with_the_guests_shell_and_a_list_is_the_argv() -> None:
    assert _resolved({"health": HEALTH})["health"] == {
        "argv": ["/mvm/bin/sh", "-c", "wget -qO- localhost:8080/ready"], "interval": 2, "timeout": 5, "retries": 4,
        "start_period": 0}
    assert _resolved({"health": {"command": ["test", "-e", "/run/ok"]}})["health"]["argv"] == ["test", "-e", "/run/ok"]


def test_the_config_tree_carries_the_check_and_a_vm_without_a_command_idles() -> None:
    w = workload.options({"health": HEALTH, "env": {"A": "1"}})
    tree = {path: content for path, content, _mode in workload.config_tree(w, _resolved({"health": HEALTH,
                                                                                          "env": {"A": "1"}}))}
    assert ".mvm/run" not in tree  # nothing to run: init idles instead of powering off
    assert tree[".mvm/health.conf"] == "2 5 4 0\n"
    assert tree[".mvm/health"].splitlines()[-3:] == ["export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                                     "/sbin:/bin", "cd / || exit 127",
                                                     "exec /mvm/bin/sh -c 'wget -qO- localhost:8080/ready'"]


BAD = [
    ({"health": "true"}, "health"),
    ({"health": {"interval": 3}}, "health.command"),
    ({"health": {"command": ""}}, "health.command"),
    ({"health": {"command": "true\nreboot"}}, "health.command"),
    ({"health": {"command": "true", "retries": 0}}, "health.retries"),
    ({"health": {"command": "true", "interval": 0.1}}, "health.interval"),
    ({"health": {"command": "true", "timeout": "soon"}}, "health.timeout"),
    ({"health": {"command": "true", "start_period": -1}}, "health.start_period"),
    ({"health": {"command": "true", "every": 3}}, "health.every"),
    ({"wait_healthy": "maybe"}, "wait_healthy"),
    ({"labels": ["role=web"]}, "labels"),
    ({"labels": {"ro le": "web"}}, "labels"),
    ({"labels": {"role": "web\nx"}}, "labels.role"),
    ({"labels": {"role": {"nested": 1}}}, "labels.role"),
    ({"labels": {"k%d" % i: "v" for i in range(65)}}, "labels"),
]


@pytest.mark.parametrize("options,field", BAD, ids=[f for _o, f in BAD])
def test_bad_health_and_labels_are_refused_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(SpecError) as failed:
        vm_spec(dict(BASE, **options))
    assert failed.value.field == field


def _steps(params: dict, facts: str) -> list:
    return [s.description for s in frontends.engine("vm", params, frontends.Recording(facts)).steps]


def test_a_start_waits_for_healthy_unless_told_not_to() -> None:
    facts = _running()
    steps = _steps(dict(BASE, health=HEALTH, boot_timeout=30), facts)
    assert steps[-2:] == ["wait for web to be ready (30s)", "wait for web to be healthy (30s)"]
    assert "wait for web to be healthy" not in " ".join(_steps(dict(BASE, health=HEALTH, wait_healthy=False), facts))
    assert "healthy" not in " ".join(_steps(dict(BASE, health=HEALTH, state="stopped"), facts))


def test_the_wait_fails_with_the_checks_output_and_bounds_itself() -> None:
    plan = frontends.engine("vm", dict(BASE, health=HEALTH, boot_timeout=30), frontends.Recording(_running()))
    wait = plan.steps[-1].command
    assert "tail -c 65536 /srv/mvm/vms/web/console.log" in wait
    assert "is unhealthy: ${h#MVM-HEALTH unhealthy }" in wait and "[ $i -gt 150 ]" in wait


def test_labels_are_recorded_and_a_change_restarts_nothing() -> None:
    facts = _running()
    first = frontends.engine("vm", dict(BASE, labels={"role": "web", "canary": True}), frontends.Recording(facts))
    assert first.after["spec"]["labels"] == {"canary": "true", "role": "web"}
    done = facts.replace(vm_lines("web", _applied_of(facts), 4242), vm_lines("web", first.after["spec"], 4242))
    relabelled = frontends.engine("vm", dict(BASE, labels={"role": "db", "canary": True}), frontends.Recording(done))
    assert [s.description for s in relabelled.steps] == ["record applied spec"]
    assert frontends.three_ways("vm", dict(BASE, labels={"role": "web", "canary": True}), done) == []


SPEC = {"workload": {"health": {"argv": ["true"]}}}
LINES = [
    (None, "running", {"status": "starting", "exit_code": None, "output": ""}),
    ("MVM-HEALTH healthy rc=0 ", "running", {"status": "healthy", "exit_code": 0, "output": ""}),
    ("MVM-HEALTH unhealthy rc=3 sick  now", "running", {"status": "unhealthy", "exit_code": 3, "output": "sick  now"}),
    ("MVM-HEALTH unhealthy rc=x forged", "running", {"status": "starting", "exit_code": None, "output": ""}),
    ("MVM-HEALTH dead rc=1 x", "running", {"status": "starting", "exit_code": None, "output": ""}),
    ("MVM-HEALTH healthy rc=0 ", "stopped", {"status": None, "exit_code": None, "output": ""}),
]


@pytest.mark.parametrize("line,state,expected", LINES, ids=[str(i) for i in range(len(LINES))])
def test_the_facts_read_the_last_change_of_state(line, state, expected) -> None:
    assert probe.health(SPEC, state, line) == expected
    assert probe.health({"workload": {}}, state, line) is None
