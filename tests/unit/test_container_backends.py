"""Docker and Apple Container plans on recorded facts, three ways; capabilities; the OCI archive."""

from __future__ import annotations

import json

import pytest

from tests.support import frontends
from tests.support.probes import HOSTS, LINUX_PVM_QEMU, applied, image_lines

ROOT = "/srv/mvm"
IMG = "0123456789abcdef"
MAC = HOSTS["macos-26-arm64"]
DOCKER_UP = LINUX_PVM_QEMU.replace("host\tdocker_server\t\n", "host\tdocker_server\t20.10.24\n")


def mac_image() -> str:
    manifest = {"format": 3, "id": IMG, "kernel": "vmlinuz", "initrd": "initrd.img", "rootfs": "rootfs.ext4",
                "rootfs_tar": "rootfs.tar", "oci": "oci.tar", "inputs": {}}
    return (f"image\tdefault\ttarget\t../artifacts/{IMG}\nimage\tdefault\tmanifest\t{json.dumps(manifest)}\n"
            f"artifact\t{IMG}\tdir\t{ROOT}/artifacts/{IMG}\n")


def mac_applied(name: str = "web", memory: int = 256) -> dict:
    spec = applied(name, memory=memory, image_id=IMG, arch="aarch64", accel="vm", backend="apple-container")
    spec["oci"] = f"{ROOT}/images/default/oci.tar"
    spec.pop("snapshot")
    return spec


def container_ls(state: str, spec: dict, old_format: bool = False) -> str:
    """A recorded-shape `container ls --all --format json` line (status object; a string before 0.5)."""
    item = {"configuration": {"id": "mvm-web", "image": {"reference": f"mvm/rootfs:{IMG}"},
                              "labels": {"mvm.managed": "true", "mvm.name": "web", "mvm.state_root": ROOT,
                                         "mvm.spec": json.dumps(spec, sort_keys=True, separators=(",", ":"))},
                              "resources": {"cpus": 1, "memoryInBytes": 268435456}},
            "id": "mvm-web", "status": state if old_format else {"state": state, "networks": []}}
    other = {"configuration": {"id": "buildkit", "labels": {}}, "id": "buildkit", "status": {"state": "running"}}
    return "acl\t" + json.dumps([item, other]) + "\n"


APPLE = {"name": "web", "image": "default", "backend": "apple-container"}


def test_apple_fresh_loads_the_image_and_runs() -> None:
    commands = frontends.three_ways("vm", APPLE, MAC.replace("host\tcontainer_service\t1\n", "") + mac_image())
    assert commands[0] == "container system start --disable-kernel-install"
    assert commands[1] == f"container image load --input {ROOT}/images/default/oci.tar"
    assert commands[2].startswith("container run -d --name mvm-web --label mvm.managed=true")
    assert f"--kernel {ROOT}/images/default/vmlinuz --cpus 1 --memory 256M" in commands[2]
    assert commands[2].endswith(f"mvm/rootfs:{IMG}")


def test_apple_running_is_converged_and_old_status_format_parses() -> None:
    for old in (False, True):
        facts = MAC + mac_image() + container_ls("running", mac_applied(), old) + f'aimg\t[{{"reference": "mvm/rootfs:{IMG}"}}]\n'
        assert frontends.three_ways("vm", APPLE, facts) == []
        vms = frontends.pyinfra_fact("MvmHost", frontends.Recording(facts))["vms"]
        assert vms["web"]["state"] == "running" and "buildkit" not in vms


def test_apple_stopped_is_started_and_running_is_stopped() -> None:
    facts = MAC + mac_image() + container_ls("stopped", mac_applied())
    assert frontends.three_ways("vm", APPLE, facts) == ["container start mvm-web"]
    facts = MAC + mac_image() + container_ls("running", mac_applied())
    assert frontends.three_ways("vm", dict(APPLE, state="stopped"), facts) == ["container stop -t 10 mvm-web"]


def test_apple_drift_and_absent() -> None:
    facts = MAC + mac_image() + container_ls("running", mac_applied(memory=128))
    assert frontends.three_ways("vm", APPLE, facts) == []  # the container is the disk: only with recreate
    commands = frontends.three_ways("vm", dict(APPLE, recreate=True), facts)
    assert commands[0] == "container delete --force mvm-web" and commands[-1].startswith("container run -d")
    commands = frontends.three_ways("vm", {"name": "web", "state": "absent"}, facts)
    assert commands == ["container delete --force mvm-web", f"container image delete mvm/rootfs:{IMG} 2>/dev/null; true"]


def test_apple_cannot_pause_or_snapshot() -> None:
    rec = frontends.Recording(MAC + mac_image())
    result = frontends.ansible("vm", dict(APPLE, state="paused"), rec)
    assert result.failed and "backend apple-container cannot do pause; use one of" in result.result["msg"]


def test_docker_plans_three_ways() -> None:
    facts = DOCKER_UP + image_lines("default", IMG)
    params = {"name": "dweb", "image": "default", "backend": "docker", "ports": ["8080:80"]}
    commands = frontends.three_ways("vm", params, facts)
    assert commands[0].startswith("docker import --change 'ENTRYPOINT [\"/init\"]'")
    assert "-p 8080:80/tcp" in commands[1] and "--label mvm.state_root=/srv/mvm" in commands[1]
    # The mvm.spec label as docker inspect returns it for that container (written out by hand).
    label = ('{"accel":"container","arch":"x86_64","backend":"docker","cpus":1,"format":1,"hostname":"dweb",'
             '"image":"default","image_id":"0123456789abcdef","initrd":"/srv/mvm/images/default/initrd.img",'
             '"kernel":"/srv/mvm/images/default/vmlinuz","kernel_args":"","memory_mib":256,"name":"dweb",'
             '"network":null,"ports":["8080:80/tcp"],"rootfs":"/srv/mvm/images/default/rootfs.ext4",'
             '"rootfs_tar":"/srv/mvm/images/default/rootfs.tar","tsc_khz":null}')
    assert "'mvm.spec=%s'" % label in commands[1]
    line = "dvm\tdweb\trunning\t4242\tabc123\t" + label + "\n"
    tag = f"dimg\tmvm/default:{IMG}\n"
    assert frontends.three_ways("vm", params, facts + line + tag) == []
    assert frontends.three_ways("vm", dict(params, state="paused"), facts + line + tag) == ["docker pause mvm-dweb >/dev/null"]


@pytest.mark.parametrize("ports,field", [(["80:"], "ports"), (["a:b"], "ports"), (["8080:80", "8080:81"], "ports")])
def test_docker_bad_ports(ports: list, field: str) -> None:
    rec = frontends.Recording(DOCKER_UP)
    result = frontends.ansible("vm", {"name": "d", "image": "default", "backend": "docker", "ports": ports}, rec)
    assert result.failed and result.result["field"] == field and rec.commands == []


def test_docker_memory_minus_one() -> None:
    rec = frontends.Recording(DOCKER_UP)
    result = frontends.ansible("vm", {"name": "d", "image": "default", "backend": "docker", "memory": -1}, rec)
    assert result.failed and result.result["field"] == "memory" and rec.commands == []


def api_lines(containers: list, images: list, version: object = None, pids: dict | None = None) -> str:
    """The probe's `dapi` records as its awk program prints the Engine API's answers (docker_backend.API_AWK)."""
    version = {"Version": "27.3.1"} if version is None else version
    lines = ["dapi\tversion\t" + json.dumps(version), "dapi\tcontainers\t" + json.dumps(containers),
             "dapi\timages\t" + json.dumps(images)]
    lines += ["dapi\tinspect\t" + json.dumps({"Id": ident, "State": {"Pid": pid}}) for ident, pid in (pids or {}).items()]
    return "".join(line + "\n" for line in lines)


def test_the_engine_api_answers_read_as_the_cli_records() -> None:
    """The same facts from the Engine API's answers as from the CLI's records: this state root's containers only,
    their pids from the inspect answers, images by repo:tag; a label mvm could not have written is not a VM."""
    from ansible_collections.mvm.microvm.plugins.module_utils import probe

    label = json.dumps(applied("dweb"), sort_keys=True, separators=(",", ":"))
    base = LINUX_PVM_QEMU.replace("host\tdocker_server\t\n", "")

    def container(ident: str, name: str, state: str, root: str = ROOT) -> dict:
        return {"Id": ident, "State": state, "Labels": {"mvm.managed": "true", "mvm.name": name,
                                                       "mvm.state_root": root, "mvm.spec": label}}

    a, b, c, d = ("%064x" % n for n in range(1, 5))
    api = probe.parse_host(base + api_lines(
        [container(a, "dweb", "running"), container(b, "other", "running", "/elsewhere"),
         container(c, "x; rm -rf /", "running"), container(d, "held", "paused")],
        [{"Id": "sha256:1", "RepoTags": [f"mvm/default:{IMG}"]}, {"Id": "sha256:2", "RepoTags": None}],
        pids={a: 4242, b: 7, c: 8, d: 4343}))
    cli = probe.parse_host(base + "host\tdocker_server\t27.3.1\n"
                           + f"dvm\tdweb\trunning\t4242\t{a}\t{label}\ndvm\theld\tpaused\t4343\t{d}\t{label}\n"
                           + f"dimg\tmvm/default:{IMG}\ndimg\t<none>:<none>\n")
    assert api["vms"] == cli["vms"] and api["docker"] == cli["docker"]
    assert {n: (v["state"], v["pid"]) for n, v in api["vms"].items() if v["backend"] == "docker"} == {
        "dweb": ("running", 4242), "held": ("paused", 4343)}
    assert any("not a VM name 'x; rm -rf /'" in w for w in api["warnings"])
    assert api["docker"] == {"client": True, "daemon": True, "server_version": "27.3.1",
                             "images": ["<none>:<none>", f"mvm/default:{IMG}"]}


@pytest.mark.parametrize("answers", [
    "dapi\tversion\t\ndapi\tcontainers\t\ndapi\timages\t\n",  # the socket is there, nobody answers
    "dapi\tversion\t{not json\ndapi\tcontainers\t{}\ndapi\timages\t[1, \"x\"]\n",  # answers of the wrong shape
])
def test_engine_api_answers_that_say_nothing_mean_no_daemon_and_no_vm(answers: str) -> None:
    from ansible_collections.mvm.microvm.plugins.module_utils import probe

    facts = probe.parse_host(LINUX_PVM_QEMU.replace("host\tdocker_server\t\n", "") + answers)
    assert facts["docker"]["daemon"] is False and facts["docker"]["images"] == []
    assert not [v for v in facts["vms"].values() if v["backend"] == "docker"]
