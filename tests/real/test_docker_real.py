"""The docker backend for real against dockerd, through ansible-playbook and pyinfra."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_dockerd
from tests.real.conftest import BIN, ENV, PLAYBOOKS, ansible_playbook, engine_apply, host_facts, seed_image, wait_for

DEPLOYS = Path(__file__).parent / "deploys"


def sh(command: str) -> str:
    return subprocess.run(command, shell=True, capture_output=True, text=True).stdout


def playbook(root: Path, port: int, *extra: str) -> tuple[int, str, int]:
    return ansible_playbook(PLAYBOOKS / "docker_vm.yml", root, "-e", f"host_port={port}", *extra)


def pyinfra(root: Path, port: int, *extra: str) -> str:
    proc = subprocess.run([str(BIN / "pyinfra"), "@local", str(DEPLOYS / "docker_vm.py"), "--data", f"mvm_state_root={root}",
                           "--data", f"host_port={port}", *extra], capture_output=True, text=True, env=ENV, cwd="/")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def page(port: int) -> str:
    return sh(f"curl -s --max-time 3 http://127.0.0.1:{port}/")


@pytest.fixture(scope="module")
def root(tmp_path_factory, built_image: Path):
    need_dockerd()
    root = tmp_path_factory.mktemp("dk")
    seed_image(built_image, root)
    yield root
    sh(f"docker ps -aq --filter label=mvm.state_root={root} | xargs -r docker rm -f")


def test_ansible_runs_pauses_recreates_and_removes(root: Path) -> None:
    port = 18081
    rc, out, changed = playbook(root, port)
    assert rc == 0 and changed == 1, out
    assert "MVM-READY dweb" in sh("docker logs mvm-dweb 2>&1")
    wait_for(lambda: "mvm guest dweb" in page(port), 20, "the published port")
    rc, out, changed = playbook(root, port)
    assert rc == 0 and changed == 0, out
    rc, out, changed = playbook(root, port, "--check")
    assert rc == 0 and changed == 0, out

    rc, out, changed = playbook(root, port, "-e", "vm_state=paused")
    assert rc == 0 and changed == 1, out
    assert host_facts(root)["vms"]["dweb"]["state"] == "paused"
    rc, out, changed = playbook(root, port)
    assert rc == 0 and changed == 1, out
    assert host_facts(root)["vms"]["dweb"]["state"] == "running"

    first = host_facts(root)["vms"]["dweb"]["container_id"]
    # The container is the guest's disk: a change that replaces it waits for recreate (#13, data safety).
    rc, out, changed = playbook(root, port, "-e", "memory=320")
    assert rc == 0 and changed == 0 and "replaces the VM's disk, so nothing was done" in out, out
    assert host_facts(root)["vms"]["dweb"]["container_id"] == first
    rc, out, changed = playbook(root, port, "-e", "memory=320", "-e", "recreate=true", "--diff")
    assert rc == 0 and changed == 1 and '+        "memory_mib": 320,' in out, out
    facts = host_facts(root)["vms"]["dweb"]
    assert facts["container_id"] != first and facts["applied"]["memory_mib"] == 320
    assert sh("docker inspect -f '{{.HostConfig.Memory}}' mvm-dweb").strip() == str(320 * 1024 * 1024)

    # The container publishes its ports itself: another port replaces it too, so it waits for recreate.
    second = facts["container_id"]
    rc, out, changed = playbook(root, port + 1, "-e", "memory=320")
    assert rc == 0 and changed == 0 and "ports changed; applying it replaces the VM's disk" in out, out
    assert host_facts(root)["vms"]["dweb"]["container_id"] == second
    rc, out, changed = playbook(root, port + 1, "-e", "memory=320", "-e", "recreate=true")
    assert rc == 0 and changed == 1, out
    wait_for(lambda: "mvm guest dweb" in page(port + 1), 20, "the new published port")
    assert page(port) == ""

    rc, out, changed = playbook(root, port + 1, "-e", "vm_state=absent")
    assert rc == 0 and changed == 1, out
    assert sh(f"docker ps -aq --filter label=mvm.state_root={root}").strip() == ""
    assert "mvm/default" not in sh("docker images --format '{{.Repository}}'")
    assert not (root / "vms").exists()


def test_pyinfra_converges_twice(root: Path) -> None:
    port = 18082
    out = pyinfra(root, port, "-y")
    assert "[@local] Success" in out
    wait_for(lambda: "mvm guest dweb" in page(port), 20, "the published port")
    out = pyinfra(root, port, "-y")
    assert "[@local] No changes" in out and "[@local] Success" not in out, out
    out = pyinfra(root, port, "-y", "--data", "vm_state=absent")
    assert "[@local] Success" in out
    assert sh(f"docker ps -aq --filter label=mvm.state_root={root}").strip() == ""


def test_the_engine_api_and_the_cli_give_the_same_facts(root: Path) -> None:
    """The probe asks the default socket's Engine API with curl (one process for the version, the containers and the
    images, one for the containers' pids); with DOCKER_HOST set it asks the docker CLI as before. Both see a
    running and a paused VM, a container of another state root is in neither, and the first runs no docker
    process at all."""
    import os

    from ansible_collections.mvm.microvm.plugins.module_utils import probe

    engine_apply("vm", {"name": "api1", "image": "default", "backend": "docker", "state_root": str(root)})
    engine_apply("vm", {"name": "api2", "image": "default", "backend": "docker", "state": "paused",
                        "state_root": str(root)})
    stranger = sh("docker run -d --label mvm.managed=true --label mvm.name=api3 --label mvm.state_root=/elsewhere "
                  "--entrypoint /init mvm/default:" + host_facts(root)["vms"]["api1"]["applied"]["image_id"]).strip()
    try:
        script = probe.host_probe(str(root))

        def facts(env: dict[str, str]) -> dict:
            # status=successful: each execve printed whole once it succeeded (with -f, concurrent processes would
            # otherwise split a call into "unfinished" and "resumed" lines)
            proc = subprocess.run(["strace", "-f", "-e", "trace=execve", "-e", "status=successful", "-o",
                                   str(root / "trace"), "/bin/sh", "-c", script], capture_output=True, text=True,
                                  env=dict(os.environ, **env), check=True)
            return {"facts": probe.parse_host(proc.stdout), "trace": (root / "trace").read_text()}

        api, cli = facts({}), facts({"DOCKER_HOST": "unix:///var/run/docker.sock"})
        for seen in (api, cli):
            vms = seen["facts"]["vms"]
            assert {n: vms[n]["state"] for n in vms} == {"api1": "running", "api2": "paused"}
            assert all(vms[n]["pid"] for n in vms) and seen["facts"]["warnings"] == []
        assert api["facts"]["vms"] == cli["facts"]["vms"] and api["facts"]["docker"] == cli["facts"]["docker"]
        assert api["facts"]["docker"]["daemon"] and api["facts"]["docker"]["server_version"]
        def ran(trace: str, tool: str) -> int:
            return len(re.findall(r'execve\("[^"]*/%s", ' % tool, trace))

        assert ran(api["trace"], "docker") == 0 and ran(api["trace"], "curl") == 2
        assert ran(cli["trace"], "docker") >= 3
    finally:
        sh("docker rm -f %s" % stranger)
        (root / "trace").unlink(missing_ok=True)
        for name in ("api1", "api2"):
            engine_apply("vm", {"name": name, "state": "absent", "state_root": str(root)})


def test_capabilities_name_a_backend_that_can(root: Path) -> None:
    engine_apply("vm", {"name": "cap", "image": "default", "backend": "docker", "state_root": str(root)})
    try:
        with pytest.raises(Exception, match="backend docker cannot do snapshots; use one of qemu, firecracker, lima"):
            engine_apply("snapshot", {"name": "s", "vm": "cap", "state_root": str(root)})
        with pytest.raises(Exception, match="network: backend docker cannot do tap; use one of qemu, firecracker, lima"):
            engine_apply("vm", {"name": "cap2", "image": "default", "backend": "docker", "network": "br0",
                                "state_root": str(root)})
    finally:
        engine_apply("vm", {"name": "cap", "state": "absent", "state_root": str(root)})
