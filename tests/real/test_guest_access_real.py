"""Inside the guest, for real: QEMU guests (busybox, and Debian with python3) and a Docker VM booted by
ansible-playbook, then configured through the inventory plugin and the connection plugin (qemu-ga over
virtio-serial; docker exec); pyinfra's connector on the same guests; health checks; an agent that stops answering;
and a QEMU VM on a second VM host reached over SSH (sshd in a network namespace of its own)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import agent
from tests.conftest import REPO, need, need_dockerd
from tests.real.conftest import BIN, ENV, PLAYBOOKS, engine_apply, host_facts, kill_under, seed_image
from tests.support.ssh_lab import SshLab

DEPLOYS = Path(__file__).parent / "deploys"


def _changed(out: str, host: str) -> int:
    match = re.search(r"%s\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(host), out)
    assert match, out
    assert match.group(2) == match.group(3) == "0", out
    return int(match.group(1))


def _playbook(playbook: Path, inventory: Path, *extra: str) -> tuple[int, str]:
    argv = [str(BIN / "ansible-playbook"), "-i", str(REPO / "inventory/hosts.yml"), "-i", str(inventory),
            str(playbook), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd="/")
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def guests(tmp_path_factory, built_image: Path):
    need_dockerd()
    need(shutil.which("mmdebstrap") is not None, "needs mmdebstrap (scripts/setup.sh installs it)")
    root = tmp_path_factory.mktemp("ga")
    work = tmp_path_factory.mktemp("gaw")
    seed_image(built_image, root)
    inventory = work / "lab.mvm.yml"
    inventory.write_text("plugin: mvm.microvm.vms\nvm_hosts:\n  - name: here\n    state_root: %s\n"
                         "agent_timeout: 5\ncompose:\n  ansible_python_interpreter: \"'/usr/bin/python3'\"\n" % root)
    extra = ("-e", "mvm_state_root=%s" % root, "-e", "fetch_dir=%s" % work)
    rc, out = _playbook(PLAYBOOKS / "guest_up.yml", inventory, *extra)
    yield root, work, inventory, extra, rc, out
    for name in ("bb", "py", "dk", "sick"):
        engine_apply("vm", {"name": name, "state": "absent", "state_root": str(root)})
    subprocess.run(["docker", "rmi", "-f"] + [i for i in subprocess.run(
        ["docker", "images", "-q", "--filter", "label=mvm.managed=true", "--filter", "label=mvm.state_root=%s" % root],
        capture_output=True, text=True).stdout.split()], capture_output=True)
    kill_under(root)


def test_a_playbook_configures_guests_through_the_inventory_and_connection_plugins(guests) -> None:
    root, work, _, _, rc, out = guests
    assert rc == 0, out
    assert _changed(out, "py") == 4 and _changed(out, "dk") == 4, out  # copy, template, lineinfile, fetch
    assert _changed(out, "bb") == 0, out
    assert (work / "py.conf").read_text() == "vm=py\nimage=py\n"
    assert (work / "dk.conf").read_text() == "vm=dk\nimage=py\n"


def test_the_second_run_changes_nothing(guests) -> None:
    _, _, inventory, extra, _, _ = guests
    rc, out = _playbook(PLAYBOOKS / "guest_up.yml", inventory, *extra)
    assert rc == 0, out
    for host in ("localhost", "py", "dk", "bb"):
        assert _changed(out, host) == 0, (host, out)


def test_ansible_inventory_graph_shows_the_vms_and_their_groups(guests) -> None:
    _, _, inventory, _, _, _ = guests
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--graph"], capture_output=True,
                          text=True, env=ENV, cwd="/")
    assert proc.returncode == 0, proc.stderr
    graph = proc.stdout
    for group, members in (("mvm_backend_qemu", ("bb", "py")), ("mvm_backend_docker", ("dk",)),
                           ("mvm_label_role_app", ("py", "dk")), ("mvm_host_here", ("bb", "py", "dk")),
                           ("mvm_state_running", ("bb", "py", "dk"))):
        block = graph.split("@%s:" % group)[1].split("|--@")[0]
        assert sorted(re.findall(r"\|--(\w+)", block)) == sorted(members), graph
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--host", "py"], capture_output=True,
                          text=True, env=ENV, cwd="/")
    host = json.loads(proc.stdout)
    assert host["mvm_backend"] == "qemu" and host["mvm_labels"] == {"role": "app"} and host["mvm_image"] == "py"
    assert host["ansible_connection"] == "mvm.microvm.vm"


def test_pyinfra_runs_inside_the_guests(guests) -> None:
    root, work, _, _, _, _ = guests
    for vm in ("bb", "dk"):
        proc = subprocess.run([str(BIN / "pyinfra"), "-y", "@mvm/%s" % vm, "--data", "mvm_state_root=%s" % root,
                               "exec", "--", "cat", "/proc/cmdline"], capture_output=True, text=True, env=ENV, cwd="/")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        if vm == "bb":
            assert "mvm.hostname=bb" in proc.stdout, proc.stdout
    (work / "payload.txt").write_text("payload\n")
    outputs = []
    for _ in range(2):
        proc = subprocess.run([str(BIN / "pyinfra"), "-y", "@mvm/py", str(DEPLOYS / "guest_files.py"),
                               "--data", "mvm_state_root=%s" % root, "--data", "payload=%s" % (work / "payload.txt")],
                              capture_output=True, text=True, env=ENV, cwd="/")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    assert re.search(r"Put the payload\s+1\s+1\s+-\s+-", outputs[0]), outputs[0]
    assert re.search(r"Put the payload\s+1\s+-\s+-\s+1", outputs[1]), outputs[1]  # no change the second time
    with agent.open_session(agent.Target("py", state_root=str(root))) as s:
        assert s.get("/etc/mvm-payload") == b"payload\n"
        assert s.exec("stat -c %a /etc/mvm-payload")[1] == b"640\n"


def test_health_is_reported_and_waited_for(guests) -> None:
    root = guests[0]
    facts = host_facts(root)["vms"]
    assert facts["bb"]["health"] == {"status": "healthy", "exit_code": 0, "output": ""}
    assert facts["py"]["health"] is None  # no check
    params = {"name": "sick", "image": "default", "backend": "qemu", "state_root": str(root), "boot_timeout": 60,
              "health": {"command": "echo sick-output-$((6*7)); exit 3", "interval": 1, "retries": 2}}
    with pytest.raises(Exception) as failed:
        engine_apply("vm", params)
    assert "VM sick is unhealthy: rc=3 sick-output-42" in str(failed.value)
    assert host_facts(root)["vms"]["sick"]["health"] == {"status": "unhealthy", "exit_code": 3, "output": "sick-output-42"}
    proc = subprocess.run([str(BIN / "ansible"), "-i", str(REPO / "inventory/hosts.yml"), "localhost", "-m",
                           "mvm.microvm.vm_info", "-a", "name=sick state_root=%s console_lines=5" % root],
                          capture_output=True, text=True, env=ENV, cwd="/")
    assert proc.returncode == 0, proc.stdout
    info = json.loads(proc.stdout.split("=>", 1)[1])["vms"][0]
    assert (info["health"], info["health_exit_code"], info["health_output"], info["state"]) == (
        "unhealthy", 3, "sick-output-42", "running")
    assert any("MVM-HEALTH unhealthy" in line for line in info["console"]), info
    proc = subprocess.run([str(BIN / "pyinfra"), "@local", "fact", "mvm_pyinfra.facts.MvmVmInfo",
                           "state_root=%s" % root], capture_output=True, text=True, env=ENV, cwd="/")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr  # pyinfra prints the fact's JSON with its progress, on stderr
    found = {r["name"]: r for r in json.loads(text[text.index("{"):text.rindex("}") + 1])["@local"]}
    assert (found["sick"]["health"], found["bb"]["health"], found["py"]["health"]) == ("unhealthy", "healthy", None)
    assert found["bb"]["labels"] == {"role": "tools"}
    # Without waiting, the same VM converges (it runs; its health is the facts' business).
    assert not engine_apply("vm", dict(params, wait_healthy=False)).changed


def test_an_agent_that_does_not_answer_is_a_bounded_error_naming_the_vm(guests) -> None:
    root, _, inventory, _, _, _ = guests
    with agent.open_session(agent.Target("bb", state_root=str(root))) as s:
        rc, _, err = s.exec("kill $(cat /run/mvm-agent/supervisor); (sleep 0.3; kill $(pidof ld.so)) "
                            ">/dev/null 2>&1 &")
        assert rc == 0, err
    time.sleep(1)
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible"), "-i", str(inventory), "bb", "-m", "raw", "-a", "true"],
                          capture_output=True, text=True, env=ENV, cwd="/", timeout=120)
    took = time.monotonic() - started
    assert proc.returncode != 0
    assert "UNREACHABLE" in proc.stdout and "the guest agent of VM bb did not answer within 5s" in proc.stdout
    assert "last console lines of bb" in proc.stdout and "MVM-READY bb" in proc.stdout, proc.stdout
    assert took < 30, took


@pytest.fixture(scope="module")
def lab(tmp_path_factory, built_image: Path):
    """A second VM host: sshd in its own namespace, its own state root with the session's images."""
    work = tmp_path_factory.mktemp("lab")
    root = tmp_path_factory.mktemp("labroot")
    seed_image(built_image, root)
    server = SshLab.start(work)
    yield server, root, work
    kill_under(root)
    server.stop()


def test_a_vm_on_a_remote_vm_host_over_ssh(lab, guests) -> None:
    server, root, work = lab
    py = Path(guests[0]) / "images/py"
    target = (Path(guests[0]) / "artifacts" / py.resolve().name)
    shutil.copytree(target, root / "artifacts" / target.name)
    (root / "images/py").symlink_to("../artifacts/" + target.name)
    hosts = work / "hosts.yml"
    hosts.write_text(
        "lab:\n  hosts:\n    lab2:\n      ansible_host: %s\n      ansible_user: root\n"
        "      ansible_ssh_private_key_file: %s\n"
        "      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\n"
        "      ansible_python_interpreter: /usr/bin/python3\n" % (server.address, work / "user_key"))
    inventory = work / "remote.mvm.yml"
    inventory.write_text(
        "plugin: mvm.microvm.vms\nvm_hosts:\n  - name: lab2\n    ssh: %s\n    state_root: %s\n    ssh_args: %s\n"
        "compose:\n  ansible_python_interpreter: \"'/usr/bin/python3'\"\n"
        % (server.destination, root, json.dumps(server.ssh_args)))
    argv = [str(BIN / "ansible-playbook"), "-i", str(hosts), "-i", str(inventory), str(PLAYBOOKS / "guest_remote.yml"),
            "-e", "mvm_state_root=%s" % root, "-e", "fetch_dir=%s" % work]
    runs = [subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd="/") for _ in range(2)]
    for proc in runs:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _changed(runs[0].stdout, "lab2") == 1 and _changed(runs[0].stdout, "rv") == 2, runs[0].stdout
    assert _changed(runs[1].stdout, "lab2") == 0 and _changed(runs[1].stdout, "rv") == 0, runs[1].stdout
    assert (work / "rv.conf").read_text() == "vm=rv\nimage=py\n"
    # The VMM runs in the lab's namespace: it was started over SSH, not here.
    pids = subprocess.run(["ip", "netns", "pids", server.ns], capture_output=True, text=True).stdout.split()
    assert any("qemu-system" in Path("/proc/%s/cmdline" % p).read_text(errors="replace") for p in pids
               if Path("/proc/%s" % p).exists())
    proc = subprocess.run([str(BIN / "pyinfra"), "-y", "@mvm/%s/rv" % server.destination, "--data",
                           "mvm_state_root=%s" % root, "--data", "mvm_ssh_args=%s" % json.dumps(server.ssh_args),
                           "exec", "--", "hostname"], capture_output=True, text=True, env=ENV, cwd="/")
    assert proc.returncode == 0 and "rv" in proc.stdout, proc.stdout + proc.stderr
