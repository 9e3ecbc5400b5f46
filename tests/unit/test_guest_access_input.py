"""Hostile values on the ways into a guest: the inventory plugin's configuration, the connection plugin's variables
and the pyinfra connector's names are refused naming the field, before any probe, ssh or relay runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.real.conftest import BIN, ENV

HOSTILE_HOSTS = [
    ({"name": "a;reboot"}, "vm_hosts[].name"),
    ({"name": "lab", "ssh": "-oProxyCommand=touch /tmp/mvm-pwned"}, "vm_hosts[].ssh"),
    ({"name": "lab", "ssh": "root@h\nx"}, "vm_hosts[].ssh"),
    ({"name": "lab", "ssh": "root@h", "ssh_args": ["-p\n22"]}, "vm_hosts[].ssh_args"),
    ({"name": "lab", "state_root": "relative/root"}, "vm_hosts[].state_root"),
]


@pytest.mark.parametrize("entry,field", HOSTILE_HOSTS, ids=[f + str(i) for i, (_e, f) in enumerate(HOSTILE_HOSTS)])
def test_the_inventory_plugin_refuses_a_hostile_vm_host(tmp_path: Path, entry: dict, field: str) -> None:
    config = tmp_path / "lab.mvm.yml"
    config.write_text("plugin: mvm.microvm.vms\nvm_hosts:\n  - %s\n" % json.dumps(entry))
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(config), "--list"], capture_output=True,
                          text=True, env=dict(ENV, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), cwd="/")
    assert proc.returncode != 0
    assert field in proc.stderr, proc.stderr
    assert not Path("/tmp/mvm-pwned").exists()


@pytest.mark.parametrize("variables,field", [
    ("ansible_host='a;b'", "vm"),
    ("ansible_mvm_host=-oProxyCommand=true", "host"),
    ("ansible_mvm_state_root=relative", "state_root"),
])
def test_the_connection_plugin_refuses_hostile_variables(tmp_path: Path, variables: str, field: str) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("web ansible_connection=mvm.microvm.vm %s\n" % variables)
    proc = subprocess.run([str(BIN / "ansible"), "-i", str(inventory), "web", "-m", "raw", "-a", "true"],
                          capture_output=True, text=True, env=ENV, cwd="/", timeout=60)
    assert proc.returncode != 0 and "UNREACHABLE" in proc.stdout
    assert "%s: " % field in proc.stdout, proc.stdout


@pytest.mark.parametrize("name,field", [("a;b", "vm"), ("-oProxyCommand=x/web", "host"), ("h/../etc", "host"),
                                        ("h/web\nx", "vm")])
def test_the_pyinfra_connector_refuses_hostile_names(name: str, field: str) -> None:
    proc = subprocess.run([str(BIN / "pyinfra"), "-y", "@mvm/%s" % name, "exec", "--", "true"], capture_output=True,
                          text=True, env=ENV, cwd=str(REPO))
    assert proc.returncode != 0
    assert "%s: " % field in proc.stdout + proc.stderr, proc.stdout + proc.stderr
