"""Lima: instance state transitions from recorded `limactl list --json` outputs (one object per line), the
lima.yaml round trip with ruamel.yaml, and a Lima-backed Firecracker VM planned as the native plan wrapped
for `limactl shell`. Lima itself does not run on this machine; nothing here starts it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import lima, ops
from tests.support import frontends
from tests.support.probes import HOSTS, image_lines

MAC15 = HOSTS["macos-15-arm64"]


def instance(status: str, cpus: int = 4, memory_mib: int = 4096, disk_gib: int = 100) -> str:
    """One line of `limactl list --json`, as limactl 1.x prints it."""
    return "lima\t" + json.dumps({"name": "mvm", "status": status, "dir": "/Users/dev/.lima/mvm", "vmType": "vz",
                                  "arch": "aarch64", "cpus": cpus, "memory": memory_mib * 1024 * 1024,
                                  "disk": disk_gib * 1024 ** 3, "sshLocalPort": 60022}) + "\n"


BASE = {"name": "mvm", "vm_type": "vz", "arch": "aarch64"}


def three(params: dict, facts: str) -> list[str]:
    return frontends.three_ways("lima", params, facts)


def test_version_line_is_read() -> None:
    assert frontends.pyinfra_fact("MvmHost", frontends.Recording(MAC15))["tools"]["limactl"]["version"] == "1.0.7"


def test_missing_instance_is_created_and_started() -> None:
    commands = three(BASE, MAC15)
    assert commands[0].startswith("mkdir -p /srv/mvm/lima && python3 -c")
    assert commands[1] == "limactl create --tty=false --name mvm /srv/mvm/lima/mvm.yaml"
    assert commands[2] == "limactl start --tty=false mvm"
    assert three(dict(BASE, state="present"), MAC15)[-1].startswith("limactl create")


def test_transitions() -> None:
    assert three(BASE, MAC15 + instance("Running")) == []
    assert three(BASE, MAC15 + instance("Stopped")) == ["limactl start --tty=false mvm"]
    assert three(dict(BASE, state="stopped"), MAC15 + instance("Running")) == ["limactl stop mvm"]
    assert three(dict(BASE, state="stopped"), MAC15 + instance("Stopped")) == []
    assert three(dict(BASE, state="absent"), MAC15 + instance("Stopped")) == ["limactl delete --force mvm"]
    assert three(dict(BASE, state="absent"), MAC15) == []
    assert three(BASE, MAC15 + instance("Broken")) == ["limactl stop --force mvm", "limactl start --tty=false mvm"]


def test_installing_is_refused_with_a_clear_message() -> None:
    result = frontends.ansible("lima", BASE, frontends.Recording(MAC15 + instance("Installing")))
    assert result.failed and "still Installing" in result.result["msg"]


def test_resize_of_a_running_instance_needs_allow_restart() -> None:
    facts = MAC15 + instance("Running", cpus=2)
    module = frontends.ansible("lima", BASE, frontends.Recording(facts))
    assert module.result["changed"] is False and module.result["lima"]["pending_changes"]["cpus"] == {"before": 2, "after": 4}
    commands = three(dict(BASE, allow_restart=True), facts)
    assert commands[0] == "limactl stop mvm" and "/Users/dev/.lima/mvm/lima.yaml" in commands[1]
    assert commands[2] == "limactl start --tty=false mvm"


@pytest.mark.parametrize("params,field", [({"name": "bad name"}, "name"), ({"name": "-x"}, "name"),
                                          ({"name": "mvm", "memory": 0}, "memory"),
                                          ({"name": "mvm", "vm_type": "hyperv"}, "vm_type")])
def test_bad_lima_input(params: dict, field: str) -> None:
    rec = frontends.Recording(MAC15)
    result = frontends.ansible("lima", params, rec)
    assert result.failed and (result.result.get("field") == field or f"value of {field} must be" in result.result["msg"])
    assert rec.commands == []


USER_YAML = """\
# My Lima VM: keep this comment
vmType: qemu   # the user's choice, replaced by mvm
images:
  # pinned image, keep
  - location: "https://example.invalid/img.qcow2"
    arch: aarch64
cpus: 2
myKey:
  nested: [1, 2, 3]  # trailing comment
memory: 2GiB
"""


def test_lima_yaml_round_trip_keeps_everything_outside_managed_keys(tmp_path: Path) -> None:
    path = tmp_path / "lima.yaml"
    path.write_text(USER_YAML)
    spec = lima.lima_spec(dict(BASE, cpus=4, memory="8G"))
    command = lima.edit_command(str(path), spec.managed)
    proc = subprocess.run(["sh", "-c", command.replace("python3", sys.executable, 1)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = path.read_text().splitlines()
    src = USER_YAML.splitlines()
    managed = ("vmType:", "cpus:", "memory:")
    kept = [line for line in src if not line.startswith(managed)]
    assert [line for line in out if not line.startswith(managed + ("disk:", "arch:", "nestedVirtualization:"))] == kept
    assert "cpus: 4" in out and "memory: 8192MiB" in out and "vmType: vz" in out[1]
    # a second edit changes nothing
    before = path.read_text()
    subprocess.run(["sh", "-c", command.replace("python3", sys.executable, 1)], check=True)
    assert path.read_text() == before


class TwoHosts(frontends.Recording):
    """The Mac answers plain probes; the Lima instance answers probes sent through limactl shell."""

    def __init__(self, outer: str, inner: str) -> None:
        super().__init__(outer)
        self.inner = frontends.Recording(inner)

    def run(self, command: str) -> tuple[int, str, str]:
        if command.startswith("limactl shell"):
            self.commands.append(command)
            return self.inner.run(command)
        return super().run(command)


def test_lima_backed_firecracker_vm_is_the_native_plan_wrapped() -> None:
    inner = HOSTS["linux-aarch64-kvm-firecracker"].replace("host\tstate_root\t/srv/mvm", "host\tstate_root\t/var/lib/mvm")
    inner += image_lines("default", "0123456789abcdef").replace("/srv/mvm", "/var/lib/mvm")
    outer = MAC15 + instance("Running")
    native = frontends.engine("vm", {"name": "web", "image": "default", "backend": "firecracker"},
                              frontends.Recording(inner)).commands
    assert native
    rec = TwoHosts(outer, inner)
    gather_host, gather_paths = ops.run_probe(rec.run)
    _spec, plan = ops.vm_plan({"name": "web", "image": "default", "backend": "lima"}, gather_host, gather_paths,
                              gather_in=ops.run_probe_in(rec.run))
    # Each native step, under mvm's umask inside the instance, through one `limactl shell ... sudo sh -c`.
    assert plan.commands == ["limactl shell --workdir / mvm sudo sh -c " + shlex.quote("umask 077; " + c) for c in native]
    module = frontends.ansible("vm", {"name": "web", "image": "default", "backend": "lima"}, TwoHosts(outer, inner))
    assert not module.failed and module.result["commands"] == plan.commands
    commands, _ = frontends.pyinfra("vm", {"name": "web", "image": "default", "backend": "lima"}, TwoHosts(outer, inner))
    assert commands == plan.commands


def test_lima_vm_needs_a_running_instance() -> None:
    result = frontends.ansible("vm", {"name": "web", "image": "default", "backend": "lima"},
                               frontends.Recording(MAC15 + instance("Stopped")))
    assert result.failed and result.result["field"] == "lima_instance"
