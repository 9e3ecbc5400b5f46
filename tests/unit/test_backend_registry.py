"""#14: one registry is the only list of backends. Every registered backend implements the driver protocol and
appears in the module choices and documentation, the pyinfra docstrings, the doctor and the capability table;
a capability a backend lacks is refused naming the backends that have it."""

from __future__ import annotations

import ast
import inspect

import pytest
import yaml

from ansible_collections.mvm.microvm.plugins.module_utils import backends, doctor, registry
from ansible_collections.mvm.microvm.plugins.module_utils.driver import CAPABILITY_NAMES, Driver
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from mvm_pyinfra import operations
from tests.conftest import REPO

MODULES = REPO / "ansible_collections" / "mvm" / "microvm" / "plugins" / "modules"
# Modules with a `backend` option.
WITH_BACKEND = ("vm", "vms", "vm_template", "facts")
REQUIRED = ("why_not",)


@pytest.mark.parametrize("driver", registry.DRIVERS, ids=[d.name for d in registry.DRIVERS])
def test_every_driver_implements_the_protocol(driver: Driver) -> None:
    assert isinstance(driver, Driver) and driver.name and driver.install_hint
    assert set(driver.capabilities) == set(CAPABILITY_NAMES), driver.name
    for method in REQUIRED:
        assert getattr(type(driver), method) is not getattr(Driver, method), (driver.name, method)
    if driver.wraps:
        assert driver.wraps in registry.BACKENDS and not registry.get(driver.wraps).wraps
    else:  # a backend that drives VMs plans and removes them itself
        for method in ("resolve", "plan", "remove"):
            assert method == "resolve" or getattr(type(driver), method) is not getattr(Driver, method), driver.name
    if driver.capabilities["snapshots"] and not driver.wraps:
        assert type(driver).save is not Driver.save and type(driver).discard is not Driver.discard, driver.name
    assert set(driver.needs) <= {c["name"] for c in doctor.checks(_any_facts(), None, "")}, driver.name


def _any_facts() -> dict:
    from ansible_collections.mvm.microvm.plugins.module_utils import probe
    from tests.support.probes import HOSTS

    return probe.parse_host(HOSTS["linux-x86_64-kvm-firecracker"])


def test_every_driver_brings_its_part_of_the_probe() -> None:
    from ansible_collections.mvm.microvm.plugins.module_utils import probe

    script = probe.host_probe("/srv/mvm")
    kinds = [k for d in registry.DRIVERS for k in d.probe_records]
    assert len(kinds) == len(set(kinds))
    for driver in registry.DRIVERS:
        assert set(driver.probe_tools) <= set(probe.tools()), driver.name
        for tool, flag in driver.probe_versions:
            assert "%s) a=%s;;" % (tool, flag) in script and tool in driver.probe_tools, driver.name
        assert driver.probe_script in script, driver.name
        for kind in driver.probe_records:
            # printed by the script (printf) or by a program it runs (awk's print)
            assert "printf '%s\\t" % kind in driver.probe_script or 'print "%s\\t' % kind in driver.probe_script, \
                (driver.name, kind)


def test_the_registry_is_the_one_list() -> None:
    assert registry.BACKENDS == tuple(d.name for d in registry.DRIVERS)
    assert len(set(registry.BACKENDS)) == len(registry.BACKENDS)
    assert registry.CHOICES == ("auto",) + registry.BACKENDS
    assert set(backends.CAPABILITIES) == set(doctor.NEEDS) == set(backends.INSTALL_HINT) == set(registry.BACKENDS)
    assert set(registry.PRIORITY) | set(registry.FALLBACK) == set(registry.BACKENDS)
    assert set(backends.availability(_any_facts())) == set(registry.BACKENDS)


@pytest.mark.parametrize("module", WITH_BACKEND)
def test_module_choices_and_documentation_come_from_the_registry(module: str) -> None:
    """The option is documented once (doc fragment mvm.microvm.backend), its choices equal to the registry's."""
    from ansible_collections.mvm.microvm.plugins.doc_fragments.backend import ModuleDocFragment

    fragment = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]["backend"]
    assert tuple(fragment["choices"]) == registry.CHOICES and fragment["default"] == "auto"
    source = (MODULES / (module + ".py")).read_text()
    tree = ast.parse(source)
    doc = yaml.safe_load(next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
                              and getattr(n.targets[0], "id", "") == "DOCUMENTATION"))
    assert "mvm.microvm.backend" in doc["extends_documentation_fragment"] and "backend" not in (doc.get("options") or {}), module
    assert 'backend=dict(type="str", default="auto",' in source and "choices=list(registry.CHOICES)" in source, module


def test_pyinfra_documents_every_backend() -> None:
    text = inspect.getdoc(operations.vm) or ""
    line = next(x for x in text.splitlines() if x.strip().startswith("+ backend:"))
    assert [w.strip("`,") for w in line.split(":", 1)[1].split() if w.startswith("``")] == list(registry.CHOICES)


@pytest.mark.parametrize("capability", ["snapshots", "pause", "tap"])
def test_a_missing_capability_is_refused_naming_those_that_have_it(capability: str) -> None:
    lacking = [d.name for d in registry.DRIVERS if not d.capabilities[capability]]
    able = [d.name for d in registry.DRIVERS if d.capabilities[capability]]
    assert lacking and able
    for name in lacking:
        with pytest.raises(MvmError, match="backend %s cannot do %s; use one of %s$" % (name, capability, ", ".join(able))):
            registry.require(name, capability, "field")
    for name in able:
        registry.require(name, capability, "field")


ROWS = {"snapshots": "snapshots", "pause/resume": "pause", "guest channel": "guest_channel", "TAP networking": "tap",
        "port forwards": "ports"}


def test_the_readme_tables_say_what_the_registry_says() -> None:
    lines = (REPO / "README.md").read_text().split("## Backends", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
    priority = [r for r in rows if r[0].isdigit()]
    assert [r[1].split()[0] for r in sorted(priority, key=lambda r: int(r[0]))] == list(registry.PRIORITY)
    header = next(r for r in rows if r[0] == "" and "firecracker" in r)
    names = [h.split("+")[0] for h in header[1:]]
    assert sorted(names) == sorted(registry.BACKENDS)
    for row in rows:
        if row[0] in ROWS:
            key = ROWS[row[0]]
            for name, cell in zip(names, row[1:]):
                want = registry.CAPABILITIES[name][key]
                if key == "guest_channel":
                    assert (cell if cell != "no" else None) == want, (name, key, cell)
                else:
                    assert (cell == "yes") is bool(want) and cell.split()[0] in ("yes", "no"), (name, key, cell)
