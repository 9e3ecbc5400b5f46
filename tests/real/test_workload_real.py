"""A user's software in a microVM, for real: an image built here with Docker, pushed to a local registry (Debian's
docker-registry, inside the test's network namespace), pulled by the rootfs operation (skopeo + umoci), booted
under QEMU on a NATed bridge by ansible-playbook, answering on its published port from the client namespace with
the env, config file and secret it was given."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need, need_dockerd
from tests.real.conftest import BIN, ENV, PLAYBOOKS, ansible_playbook, engine_apply, host_facts, kill_under, wait_for
from tests.real.netns import Netns
from tests.support import app_image

DEPLOYS = Path(__file__).parent / "deploys"
SECRET = "tok-5f2b9c-not-in-any-output"
REGISTRY = "127.0.0.1:5000"


def _run(*argv: str, **kwargs) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, " ".join(argv) + ": " + proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def registry(ns: Netns, tmp_path_factory):
    """The app image built with Docker and pushed to a registry that listens inside the host namespace."""
    need_dockerd()
    for tool in ("docker-registry", "skopeo", "umoci"):
        need(shutil.which(tool) is not None, "needs %s (scripts/setup.sh installs it)" % tool)
    work = tmp_path_factory.mktemp("reg")
    (work / "config.yml").write_text("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                                     "http:\n  addr: %s\n" % (work / "data", REGISTRY))
    server = subprocess.Popen(["ip", "netns", "exec", ns.host, "docker-registry", "serve", str(work / "config.yml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app_image.build(work, "mvm-test/app:1")
    wait_for(lambda: ns.exec("curl", "-s", "http://%s/v2/" % REGISTRY, check=False).returncode == 0, 20, "the registry")
    ns.exec("skopeo", "copy", "-q", "--dest-tls-verify=false", "docker-daemon:mvm-test/app:1",
            "docker://%s/app:1" % REGISTRY)
    yield work
    server.terminate()
    server.wait()
    app_image.remove("mvm-test/app:1")


def args(built_image: Path, *extra: str) -> tuple[str, ...]:
    return ("-e", "registry=" + REGISTRY, "-e", "app_secret=" + SECRET) + extra


@pytest.fixture(scope="module")
def converged(registry, ns: Netns, tmp_path_factory, built_image: Path):
    root = tmp_path_factory.mktemp("wl")
    rc, out, changed = ansible_playbook(PLAYBOOKS / "workload_up.yml", root, *args(built_image, "-v"), ns=ns)
    assert rc == 0, out
    yield root, out, changed
    kill_under(root)  # the namespace, deleted with the module, takes the bridge, TAP and rules


def page(ns: Netns) -> str:
    proc = ns.client_exec("curl", "-s", "--max-time", "5", "http://%s:8080/" % ns.host_ip, check=False)
    return proc.stdout


def test_the_application_answers_with_its_env_config_and_secret(converged, ns: Netns) -> None:
    root, out, changed = converged
    assert changed == 3, out
    wait_for(lambda: "greeting=" in page(ns), 30, "the application on its published port")
    text = page(ns)
    assert "greeting=hello from mvm" in text  # the VM's env over the image's
    assert "config=listen=8080 name=demo" in text
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    assert "secret=600 app %s" % digest in text  # readable by the workload's user, and by no one else
    assert "secrets_dir=700 app" in text
    assert "user=app cwd=/app" in text  # the image's USER and WORKDIR


def test_the_secret_is_in_no_output_and_no_host_file_but_its_own_disk(converged) -> None:
    root, out, _ = converged
    assert SECRET not in out
    holders = _run("grep", "-rlaF", SECRET, str(root)).split() if subprocess.run(
        ["grep", "-rqaF", SECRET, str(root)]).returncode == 0 else []
    assert holders == [str(root / "vms/app/secrets.ext4")]
    assert (root / "vms/app/secrets.ext4").stat().st_mode & 0o777 == 0o600
    assert SECRET not in (root / "vms/app/spec.json").read_text()
    assert not list(Path("/dev/shm").glob("mvm-secrets.*"))


def test_second_run_and_check_mode_change_nothing(converged, ns: Netns, built_image: Path) -> None:
    root, _, _ = converged
    for extra in ((), ("--check",)):
        rc, out, changed = ansible_playbook(PLAYBOOKS / "workload_up.yml", root, *args(built_image, *extra), ns=ns)
        assert (rc, changed) == (0, 0), out


def test_a_changed_env_restarts_on_the_same_disk(converged, ns: Netns, built_image: Path) -> None:
    root, _, _ = converged
    disk = root / "vms/app/disk.ext4"
    inode = disk.stat().st_ino
    rc, out, changed = ansible_playbook(PLAYBOOKS / "workload_up.yml", root,
                                        *args(built_image, "-e", "greeting=changed"), ns=ns)
    assert (rc, changed) == (0, 1), out
    assert disk.stat().st_ino == inode
    wait_for(lambda: "greeting=changed" in page(ns), 30, "the restarted application")
    assert host_facts(root)["vms"]["app"]["applied"]["workload"]["env"]["GREETING"] == "changed"


def test_the_same_image_from_the_daemon_and_an_archive_is_a_cache_hit(converged, registry: Path,
                                                                     built_image: Path) -> None:
    root, _, _ = converged
    built = host_facts(root)["images"]["app"]["id"]
    archive = registry / "app.tar"
    _run("skopeo", "copy", "-q", "docker-daemon:mvm-test/app:1", "oci-archive:%s:app" % archive)
    for name, ref in (("app-daemon", "docker-daemon:mvm-test/app:1"), ("app-archive", "oci-archive:%s" % archive)):
        plan = engine_apply("image", {"name": name, "oci": ref, "state_root": str(root)})
        assert [s.description for s in plan.steps] == ["point image %s at %s" % (name, built)]
    assert host_facts(root)["images"]["app-archive"]["id"] == built


def deploy(ns: Netns, root: Path, built_image: Path, *extra: str) -> str:
    proc = ns.exec(str(BIN / "pyinfra"), "@local", str(DEPLOYS / "workload_up.py"), "--data", f"mvm_state_root={root}",
                   "--data", "registry=" + REGISTRY, "--data", "app_secret=" + SECRET, *extra,
                   check=False, env=ENV, cwd="/")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_pyinfra_runs_the_same_workload_three_ways(converged, ns: Netns, built_image: Path) -> None:
    root, _, _ = converged
    out = deploy(ns, root, built_image, "-y", "-vv")  # -vv: every command pyinfra runs is printed
    assert out.count("[@local] Success") == 1 and out.count("[@local] No changes") == 1, out
    assert SECRET not in out
    wait_for(lambda: "greeting=hello from pyinfra" in ns.client_exec(
        "curl", "-s", "--max-time", "5", "http://%s:8081/" % ns.host_ip, check=False).stdout, 30, "the pyinfra VM")
    text = ns.client_exec("curl", "-s", "--max-time", "5", "http://%s:8081/" % ns.host_ip).stdout
    assert "secret=600 app %s" % hashlib.sha256(SECRET.encode()).hexdigest() in text
    out = deploy(ns, root, built_image, "-y")
    assert out.count("[@local] No changes") == 2 and "[@local] Success" not in out, out
    out = deploy(ns, root, built_image, "--dry", "--data", "greeting=other")
    assert "will stop VM app2 to apply: workload" in out, out
    out = deploy(ns, root, built_image, "-y")
    assert out.count("[@local] No changes") == 2, out  # the dry run changed nothing
    assert not list(Path("/dev/shm").glob("mvm-in-*")) and not list(Path("/dev/shm").glob("mvm-secrets.*"))


def test_the_docker_backend_runs_the_same_image_with_the_same_options(converged) -> None:
    root, _, _ = converged
    params = {"name": "dapp", "image": "app", "backend": "docker", "state_root": str(root), "ports": ["18080:8080"],
              "env": {"GREETING": "hello from mvm"}, "files": [{"path": "app.conf", "content": "listen=8080\nname=demo\n"}],
              "secrets": [{"path": "token", "content": SECRET}], "restart": "on-failure", "autostart": True}
    try:
        plan = engine_apply("vm", params)
        assert [s.description.split(" (")[0] for s in plan.steps] == [
            "import image mvm/app:" + host_facts(root)["images"]["app"]["id"], "create container mvm-dapp",
            "copy the workload's files into mvm-dapp", "start container mvm-dapp"]
        assert not any(SECRET in c for c in plan.commands)

        def docker_page() -> str:
            return subprocess.run(["curl", "-s", "--max-time", "3", "http://127.0.0.1:18080/"], capture_output=True,
                                  text=True).stdout

        wait_for(lambda: "greeting=" in docker_page(), 30, "the application in the container")
        text = docker_page()
        assert "greeting=hello from mvm" in text and "config=listen=8080 name=demo" in text
        assert "secret=600 app %s" % hashlib.sha256(SECRET.encode()).hexdigest() in text
        assert "user=app cwd=/app" in text
        inspect = _run("docker", "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.Config.WorkingDir}}",
                       "mvm-dapp").split()
        assert inspect == ["unless-stopped", "/app"]
        assert not engine_apply("vm", params).changed
        # autostart: the container comes back when dockerd does (the suite's own dockerd, restarted).
        mark = Path("/run/mvm-test-dockerd.pid")
        need(mark.exists(), "restarting dockerd needs the suite's own daemon (make test starts it)")
        script = Path(__file__).resolve().parents[2] / "scripts/dockerd.sh"
        _run("bash", str(script), "stop")
        assert docker_page() == ""
        _run("bash", str(script), "start")
        wait_for(lambda: "greeting=hello from mvm" in docker_page(), 60, "the container after dockerd came back")
    finally:
        engine_apply("vm", {"name": "dapp", "state": "absent", "backend": "docker", "state_root": str(root)})
