"""Faults and races, for real (issue #13): real QEMU guests, real ansible-playbook and pyinfra processes,
bridges and TAPs inside a network namespace.

- kill -9 of the VMM: the next run restarts it, the one after changes nothing;
- a stale pid file naming a stranger (whose command line even names the VM's pid file): it survives;
- two runs of one VM at once: exactly one VMM; two VMs on one bridge at once: distinct addresses and MACs;
- SIGKILL of the runner at every step boundary: the next run converges, with no orphan VMM, TAP, rule or
  half-written file;
- a full disk during an image build: a clear error, no artifact a later run takes for complete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import probe
from tests.conftest import need_root
from tests.real.conftest import BIN, ENV, PLAYBOOKS, host_facts, seed_image, wait_for
from tests.real.netns import Netns

DEPLOYS = Path(__file__).parent / "deploys"
FRONT_ENDS = ("ansible", "pyinfra")


def _argv(front_end: str, root: Path, data: dict[str, Any], playbook: str = "trust_vm.yml") -> list[str]:
    if front_end == "ansible":
        argv = [str(BIN / "ansible-playbook"), str(PLAYBOOKS / playbook), "-e", f"mvm_state_root={root}"]
        for key, value in data.items():
            argv += ["-e", json.dumps({key: value})]
        return argv
    argv = [str(BIN / "pyinfra"), "@local", str(DEPLOYS / "trust_vm.py"), "-y", "--data", f"mvm_state_root={root}"]
    for key, value in data.items():
        argv += ["--data", f"{key}={value}"]
    return argv


def launch(front_end: str, root: Path, ns: Netns | None, data: dict[str, Any], kill_after: int | None = None,
           playbook: str = "trust_vm.yml") -> subprocess.Popen:
    """Start a run in its own session (its process group is what the fault hook kills)."""
    env = dict(ENV)
    if kill_after is not None:
        env["MVM_TEST_KILL_AFTER_STEPS"] = str(kill_after)
    argv = _argv(front_end, root, data, playbook)
    if ns is not None:
        argv = ["ip", "netns", "exec", ns.host] + argv
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd="/",
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def converge(front_end: str, root: Path, ns: Netns | None, data: dict[str, Any], **kw: Any) -> tuple[bool, str]:
    """One run to completion: (changed, output); fails the test if the run failed."""
    rc, out = finish(launch(front_end, root, ns, data, **kw))
    assert rc == 0, out
    if front_end == "ansible":
        return "changed=0" not in out.split("PLAY RECAP")[-1], out
    return "[@local] Success" in out, out


def vmms(root: Path, name: str) -> list[int]:
    """Live QEMU processes of this VM (by their exact pid-file argument), independent of the engine."""
    wanted = str(root / "vms" / name / "pid").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if wanted in argv and argv[0].endswith(b"qemu-system-x86_64") and ") Z " not in stat:
            found.append(int(entry.name))
    return found


def leftovers(root: Path) -> list[str]:
    """Half-written files and lock holders a run may leave."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith(".tmp") or p.name.startswith("holder-") or p.name.startswith(".build-"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, built_image: Path) -> Iterator[tuple[Path, Netns]]:
    need_root()
    root = tmp_path_factory.mktemp("trust")
    seed_image(built_image, root)
    netns = Netns.create()
    rc, out = finish(launch("ansible", root, netns, {}, playbook="trust_net.yml"))
    assert rc == 0, out
    yield root, netns
    for pid in [int(p) for p in subprocess.run(["ip", "netns", "pids", netns.host], capture_output=True,
                                                 text=True).stdout.split()]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    netns.destroy()


def test_kill_9_of_the_vmm_restarts_it_then_changes_nothing(lab) -> None:
    root, ns = lab
    changed, out = converge("ansible", root, ns, {"vm_name": "k9"})
    assert changed, out
    [first] = vmms(root, "k9")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not vmms(root, "k9"), 10, "the VMM to die")
    changed, out = converge("ansible", root, ns, {"vm_name": "k9"})
    assert changed, out
    [second] = vmms(root, "k9")
    assert second != first
    assert not converge("ansible", root, ns, {"vm_name": "k9"})[0]
    converge("ansible", root, ns, {"vm_name": "k9", "vm_state": "absent"})
    assert vmms(root, "k9") == []


def test_a_stale_pid_naming_a_stranger_is_left_alone(lab) -> None:
    root, ns = lab
    converge("ansible", root, ns, {"vm_name": "st"})
    vm_dir = root / "vms" / "st"
    [vmm] = vmms(root, "st")
    os.kill(vmm, signal.SIGKILL)
    wait_for(lambda: not vmms(root, "st"), 10, "the VMM to die")
    # A process whose command line names the VM's directory and its exact pid file, and whose pid is in it.
    stranger = subprocess.Popen(["python3", "-c", "import time; time.sleep(300)", str(vm_dir / "pid"), str(vm_dir)])
    try:
        (vm_dir / "pid").write_text(str(stranger.pid))
        facts = host_facts(root)["vms"]["st"]
        assert facts["pid"] is None and facts["stale_pid"] and facts["state"] == "stopped"
        changed, out = converge("ansible", root, ns, {"vm_name": "st"})
        assert changed and stranger.poll() is None, out
        [started] = vmms(root, "st")
        assert int((vm_dir / "pid").read_text()) == started != stranger.pid
        converge("ansible", root, ns, {"vm_name": "st", "vm_state": "absent"})
        assert stranger.poll() is None and vmms(root, "st") == []
    finally:
        stranger.kill()


def test_security_posture_for_real_and_production_refuses_a_root_vmm(lab) -> None:
    """The posture of this machine and of a real QEMU guest (a VMM running as root, its files 0600), and
    `production: true` refusing that VM before anything runs."""
    from ansible_collections.mvm.microvm.plugins.module_utils import ops

    root, ns = lab
    converge("ansible", root, ns, {"vm_name": "pos"})
    report = ops.host_report(host_facts(root))["security"]
    checks = {c["name"]: c for c in report["vms"]["pos"]}
    assert checks["vmm not root"]["ok"] is False and checks["vmm not root"]["why"] == "the VMM runs as uid 0"
    assert checks["file modes"]["ok"] is True and checks["seccomp"]["ok"] is True and checks["jailer"]["ok"] is False
    host = {c["name"]: c for c in report["host"]}
    assert host["state root mode"]["ok"] and host["state root mode"]["why"].endswith("is 711")
    assert host["jailer installed"]["ok"] is False and "firecracker_install" in host["jailer installed"]["fix"]
    rc, out = finish(launch("ansible", root, ns, {"vm_name": "pos2", "vm_production": True}))
    assert rc != 0 and "production: check 'jailer' fails for pos2" in out, out
    assert not (root / "vms" / "pos2").exists()
    converge("ansible", root, ns, {"vm_name": "pos", "vm_state": "absent"})


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_two_runs_of_one_vm_at_once_start_one_vmm(lab, front_end: str) -> None:
    root, ns = lab
    name = "race-" + front_end[:3]
    runs = [launch(front_end, root, ns, {"vm_name": name}) for _ in range(2)]
    results = [finish(p) for p in runs]
    assert all(rc == 0 for rc, _ in results), results
    assert len(vmms(root, name)) == 1
    assert host_facts(root)["vms"][name]["ready"]
    assert leftovers(root) == []
    assert not converge(front_end, root, ns, {"vm_name": name})[0]
    converge(front_end, root, ns, {"vm_name": name, "vm_state": "absent"})
    assert vmms(root, name) == []


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_run_waits_while_another_holds_the_network(lab, front_end: str) -> None:
    """Deterministic: while the bridge's lease lock is held (as another run would), a run for a VM on it
    starts nothing; once it is released the run goes on and plans on what it then finds."""
    from ansible_collections.mvm.microvm.plugins.module_utils import lock

    root, ns = lab
    name = "wait-" + front_end[:3]
    held = lock.Held(lock.paths(str(root), ["net-tbr0"]))
    try:
        proc = launch(front_end, root, ns, {"vm_name": name, "vm_network": "tbr0"})
        time.sleep(6)
        assert proc.poll() is None and vmms(root, name) == []
        assert not (root / "networks/tbr0/leases" / name).exists()
    finally:
        held.release()
    rc, out = finish(proc)
    assert rc == 0 and len(vmms(root, name)) == 1, out
    converge(front_end, root, ns, {"vm_name": name, "vm_network": "tbr0", "vm_state": "absent"})


def test_two_vms_on_one_bridge_at_once_get_distinct_leases(lab) -> None:
    root, ns = lab
    runs = [launch("ansible", root, ns, {"vm_name": n, "vm_network": "tbr0"}) for n in ("la", "lb")]
    results = [finish(p) for p in runs]
    assert all(rc == 0 for rc, _ in results), results
    leases = {n: json.loads((root / "networks/tbr0/leases" / n).read_text()) for n in ("la", "lb")}
    assert leases["la"]["ip"] != leases["lb"]["ip"] and leases["la"]["mac"] != leases["lb"]["mac"]
    assert leases["la"]["tap"] != leases["lb"]["tap"]
    for n in ("la", "lb"):
        converge("ansible", root, ns, {"vm_name": n, "vm_state": "absent"})


def _taps(ns: Netns) -> list[str]:
    links = json.loads(ns.exec("ip", "-j", "-d", "link", "show").stdout)
    return sorted(link["ifname"] for link in links if link.get("linkinfo", {}).get("info_kind") == "tun")


def _vm_rules(ns: Netns, name: str) -> list[str]:
    return [r for r in ns.rules() if f":vm:{name}:" in r]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_run_killed_at_every_step_boundary_is_converged_by_the_next(lab, front_end: str) -> None:
    root, ns = lab
    name = "cut-" + front_end[:3]
    data = {"vm_name": name, "vm_network": "tbr0"}
    data.update({"vm_ports": ["18099:80"]} if front_end == "ansible" else {"vm_port": "18099:80"})
    absent = dict(data, vm_state="absent")
    taps_before = _taps(ns)
    killed_at = []
    for k in range(40):
        rc, out = finish(launch(front_end, root, ns, data, kill_after=k))
        if rc == 0:  # k is past the last step: the run completed
            break
        # pyinfra dies with its process group; Ansible's module runs in a worker of its own session, which dies
        # with the module (the process on the host), and ansible-playbook lives on to report it.
        assert rc == -signal.SIGKILL or "worker was found in a dead state" in out, out
        killed_at.append(k)
        changed, out = converge(front_end, root, ns, data)
        assert len(vmms(root, name)) == 1, (k, out)
        facts = host_facts(root)["vms"][name]
        assert facts["state"] == "running" and facts["ready"], (k, facts)
        assert len(_taps(ns)) == len(taps_before) + 1, (k, _taps(ns))
        assert len(_vm_rules(ns, name)) == 3, (k, ns.rules())
        assert not converge(front_end, root, ns, data)[0], k
        converge(front_end, root, ns, absent)
        assert vmms(root, name) == [] and _taps(ns) == taps_before and _vm_rules(ns, name) == [], k
        wait_for(lambda: leftovers(root) == [], 5, "lock holders to let go")
    assert len(killed_at) >= 8, killed_at  # every boundary of a fresh networked VM's plan was cut
    converge(front_end, root, ns, absent)


def test_a_full_disk_during_an_image_build_leaves_no_artifact(tmp_path: Path) -> None:
    need_root()
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(root)], check=True)
    try:
        # Too small from the start: refused before anything is written, saying why.
        rc, out = finish(launch("ansible", root, None, {}, playbook="trust_image.yml"))
        assert rc != 0 and "not enough free space" in out, out
        assert sorted(p.name for p in root.iterdir() if p.name != probe.VERSION_CACHE) == []  # (the probe's cache)
        # Room at the start, filled while the build runs: the step fails, the half-built directory goes.
        subprocess.run(["mount", "-o", "remount,size=420m", str(root)], check=True)
        proc = launch("ansible", root, None, {}, playbook="trust_image.yml")
        time.sleep(2.0)
        subprocess.run(["fallocate", "-l", "300m", str(root / "filler")], check=False)
        rc, out = finish(proc)
        assert rc != 0 and ("No space left" in out or "not enough free space" in out), out
        assert not list(root.glob("artifacts/*/manifest.json")) and not list(root.glob("artifacts/.build-*"))
        assert not (root / "images" / "default").exists()
        assert host_facts(root)["images"] == {}
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)
