"""Fleet files (plugin_utils/fleet.py): validated on the controller, every error naming file, line and field; the
JSON Schema is current and accepts the example; the pools' VM options are the vm operation's own."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from ansible_collections.mvm.microvm.plugins.plugin_utils import fleet
from mvm_pyinfra import fleet as pyinfra_fleet

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory/fleet.yml"
DIGEST = "sha256:" + "ab" * 32
TENANT = "tenants:\n  - name: acme\n    subnet_pool: 10.80.0.0/16\n"


def pool(extra: str = "", instances: str = "2", tenant: str = "acme") -> str:
    return (TENANT + "pools:\n  - name: web\n    tenant: %s\n    image: {name: web, digest: \"%s\"}\n"
            "    instances: %s\n" % (tenant, DIGEST, instances) + extra)


@pytest.mark.parametrize("text,where,words", [
    (pool(instances="two"), "f.yml:8: pools[0].instances", "valid integer"),
    (pool("    colour: red\n"), "f.yml:9: pools[0].colour", "Extra inputs are not permitted"),
    (TENANT + "pools:\n  - name: web\n    tenant: acme\n    instances: 1\n", "f.yml:5: pools[0].image", "Field required"),
    (pool(tenant="umbrella"), "f.yml:6: pools[0].tenant", "no tenant named umbrella"),
    (pool().replace(DIGEST, "sha256:abc"), "f.yml:7: pools[0].image.digest", "should match pattern"),
    (pool("    ports: [\"x:80\"]\n"), "f.yml:9: pools[0].ports", "HOST:GUEST"),
    (pool("    memory: 16\n"), "f.yml:9: pools[0].memory", "greater than or equal to 32"),
    (pool("    workload: {command: [sh, -c, \"echo \\x01\"]}\n"), "f.yml:9: pools[0].workload.command", "command"),
    (pool("    workload: {secrets: {a: b}}\n"), "f.yml:9: pools[0].workload", "secrets do not go in a fleet file"),
    (pool("    workload: {memory: 512}\n"), "f.yml:9: pools[0].workload", "the pool's own option"),
    (pool("    update: {max_unavailable: 0, max_surge: 0}\n"), "f.yml:9: pools[0].update", "could never start"),
    (pool().replace("name: web\n    tenant", "name: \"web;reboot\"\n    tenant"), "f.yml:5: pools[0].name", "name"),
    (pool() + "  - name: web\n    tenant: acme\n    image: {name: w, digest: \"%s\"}\n    instances: 1\n" % DIGEST,
     "f.yml:9: pools[1].name", "appears more than once"),
    (TENANT.replace("/16", "/28"), "f.yml:3: tenants[0].subnet_pool", "no room for a /24"),
    (TENANT.replace("10.80.0.0/16", "10.80.0.1/16"), "f.yml:3: tenants[0].subnet_pool", "IPv4 network"),
    (pool(instances="5").replace("10.80.0.0/16\n", "10.80.0.0/16\n    quotas: {total: {vms: 4}}\n"),
     "f.yml:4: tenants[0].quotas.total.vms", "ask for 5 vms in all, over its quota of 4"),
    (pool(instances="5").replace("10.80.0.0/16\n", "10.80.0.0/16\n    quotas:\n      total:\n        memory: 1000\n"),
     "f.yml:6: tenants[0].quotas.total.memory", "1280 MiB of memory in all, over its quota of 1000"),
    ("pools: [\n", "f.yml: not YAML", "expected"),
    ("- a\n- b\n", "f.yml:1: (top)", "valid dictionary"),
])
def test_a_bad_fleet_file_names_file_line_and_field(text: str, where: str, words: str) -> None:
    with pytest.raises(fleet.FleetError) as caught:
        fleet.parse(text, "f.yml")
    assert str(caught.value).startswith(where) and words in str(caught.value), str(caught.value)


def test_the_example_loads_with_its_defaults_and_its_instances_are_vm_operations() -> None:
    loaded = fleet.load(str(EXAMPLE))
    web = pyinfra_fleet.load_pool_spec(str(EXAMPLE), "web")
    assert [p.name for p in loaded.pools] == ["web", "jobs"] and web.update.max_surge == 1
    assert loaded.pools[1].cpus == 1 and loaded.pools[1].update.max_unavailable == 1  # defaults
    params = web.vm_params(5)
    assert params["name"] == "web-5" and params["image"] == "web" and params["labels"]["mvm.tenant"] == "acme"
    assert pyinfra_fleet.load_tenant_config(str(EXAMPLE), "globex").quotas.total.vms == 6
    with pytest.raises(fleet.FleetError, match="no pool named db"):
        fleet.load_pool_spec(str(EXAMPLE), "db")


def test_the_committed_schema_is_current_and_accepts_the_example_and_refuses_an_unknown_key() -> None:
    committed = json.loads((REPO / "schemas/fleet.schema.json").read_text())
    assert committed == json.loads(json.dumps(fleet.json_schema())), "run make schema"
    document = json.loads(json.dumps(YAML(typ="safe").load(EXAMPLE.read_text())))
    jsonschema.validate(document, committed)
    document["pools"][0]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, committed)


def test_the_command_line_checks_and_prints_the_schema(tmp_path: Path, capsys) -> None:
    assert pyinfra_fleet.main(["check", str(EXAMPLE)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text(pool(instances="-1"))
    assert pyinfra_fleet.main(["check", str(bad)]) == 1
    assert "%s:8: pools[0].instances" % bad in capsys.readouterr().err
    assert pyinfra_fleet.main(["schema"]) == 0 and '"title": "mvm fleet file"' in capsys.readouterr().out
