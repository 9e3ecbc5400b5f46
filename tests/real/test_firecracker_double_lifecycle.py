"""Firecracker's lifecycle end to end through both front-ends, against PROCESS DOUBLES (issue #14).

No Firecracker guest boots on this machine. `firecracker` and `jailer` are the doubles of tests/support
(firecracker_double.py, jailer_double.py), put on PATH by this module only; the probe sees a KVM host because
the front-ends run in a mount namespace whose /sys/module lists kvm_intel (tests/support/fc_doubles.py).
What is real: ansible-playbook and pyinfra processes, the engine's plans and shell, the bridge, TAPs and
firewall rules in a network namespace, the jailed process under its own uid, the files and sockets, and the
requests, each validated against Firecracker's swagger of v1.14.1 and v1.16.1.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import need_root
from tests.real.conftest import BIN, ENV, host_facts, kill_under, processes_under, seed_image
from tests.real.netns import Netns
from tests.support.fc_doubles import Doubles, run_on_kvm_host

HERE = Path(__file__).parent
PHASES = ("up", "change", "down")


# Each front-end drives a double of another Firecracker version: both contracts are exercised, neither run twice.
VERSION = {"ansible": "1.16.1", "pyinfra": "1.14.1"}


@pytest.fixture
def doubles(frontend: str) -> Iterator[Doubles]:
    need_root()
    made = Doubles.install(VERSION[frontend])
    yield made
    made.remove()


def ansible(ns: Netns, doubles: Doubles, root: Path, chroot: Path, phase: str, *extra: str,
            fails: bool = False) -> tuple[str, int]:
    proc = run_on_kvm_host([str(BIN / "ansible-playbook"), str(HERE / "playbooks" / "fc_lifecycle.yml"),
                            "-e", f"mvm_state_root={root}", "-e", f"chroot_base={chroot}", "-e", f"phase={phase}",
                            *extra], doubles.env(ENV), netns=ns.host)
    out = proc.stdout + proc.stderr
    assert (proc.returncode != 0) is fails, out[-6000:]
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", out)
    assert match, out[-3000:]
    return out, int(match.group(1))


def pyinfra(ns: Netns, doubles: Doubles, root: Path, chroot: Path, phase: str, *extra: str,
            fails: bool = False) -> str:
    proc = run_on_kvm_host([str(BIN / "pyinfra"), "@local", str(HERE / "deploys" / "fc_lifecycle.py"),
                            "--data", f"mvm_state_root={root}", "--data", f"chroot_base={chroot}",
                            "--data", f"phase={phase}", *extra], doubles.env(ENV), netns=ns.host)
    out = proc.stdout + proc.stderr
    assert (proc.returncode != 0) is fails, out[-6000:]
    return out


def changes_sent(doubles: Doubles) -> list[dict[str, Any]]:
    """Requests that change a VM (the probe's GET / only reads)."""
    return [r for r in doubles.requests() if r["method"] != "GET"]


def check_phase(phase: str, root: Path, chroot: Path) -> None:
    """What each phase leaves on the host, whichever front-end ran it."""
    facts = host_facts(root)
    seen = {name: vm["state"] for name, vm in facts["vms"].items()}
    if phase == "up":
        assert seen == {"jl": "running", "cf": "running", "un": "paused"}, seen
        jl = facts["vms"]["jl"]
        assert jl["backend"] == "firecracker" and int(jl["vmm_uid"]) >= 10000, jl  # auto chose it; jailed, not root
        assert facts["vms"]["un"]["vmm_uid"] == 0 and facts["vms"]["un"]["vmm_status"] == "Paused"
        assert (chroot / "firecracker" / "jl" / "root" / "run" / "firecracker.socket").is_socket()
    elif phase == "change":
        assert seen == {"jl": "paused", "cf": "stopped", "un": "running", "rs": "running", "ti": "running"}, seen
        snap = facts["snapshots"]["s1"]
        assert snap["snapshot_type"] == "Diff" and snap["backend"] == "firecracker"
        rs = facts["vms"]["rs"]["applied"]["firecracker"]
        # A restore keeps the snapshotted VM's options (jailed, its chroot base, Diff), with its own jailer id.
        assert rs["jailer"] is True and rs["snapshot_type"] == "Diff" and rs["chroot_base"] == str(chroot)
        assert rs["jailer_id"] is None and rs["uid"] != facts["vms"]["jl"]["applied"]["firecracker"]["uid"]
        assert "tp" in facts["snapshots"] and not [n for n in facts["vms"] if n.startswith("tpl-")]
    else:
        assert seen == {} and not facts["snapshots"], (seen, facts["snapshots"])
        assert processes_under(root) == [] and processes_under(chroot) == []
        assert sorted(p.name for p in (chroot / "firecracker").iterdir()) == [] if (chroot / "firecracker").exists() else True


def check_requests(doubles: Doubles, root: Path) -> None:
    """Every request the double received is valid for both contract versions; the restore got its own TAP
    and (1.16) vsock; the jailed VMs were configured as their own uid."""
    from tests.support.firecracker_contract import VERSIONS, Contract

    requests = doubles.requests()
    assert requests and {r["version"] for r in requests} == {doubles.version} and doubles.version in VERSIONS
    contract = Contract(doubles.version)
    for r in requests:
        if r["method"] == "CONFIG":
            assert contract.errors("#/definitions/FullVmConfiguration", r["body"]) == [], r
        elif r["method"] != "GET":
            assert contract.check_call(r["method"], r["path"], r["body"]) == [], r
    assert all(r["status"] in (0, 200, 204) for r in requests), [r for r in requests if r["status"] not in (0, 200, 204)]
    loads = [r for r in requests if r["path"] == "/snapshot/load"]
    assert len(loads) == 2 and all(r["uid"] >= 10000 for r in loads), loads  # rs and ti, jailed
    for load in loads:
        assert load["body"]["network_overrides"][0]["host_dev_name"].startswith("mvm"), load
    by_id = {r["id"]: r for r in loads}
    # jl had a vsock: 1.16 is told the restored VM's own socket; 1.14 has no vsock_override.
    assert by_id["rs"]["body"].get("vsock_override") == ({"uds_path": "/v.sock"} if doubles.version == "1.16.1" else None)
    creates = [r["body"]["snapshot_type"] for r in requests if r["path"] == "/snapshot/create"]
    assert sorted(creates) == ["Diff", "Full"], creates  # jl (Diff), the template builder (Full)
    assert any(r["method"] == "CONFIG" for r in requests)  # cf ran from --config-file
    assert not [r for r in requests if r["path"] == "/vm" and r["id"] is None and r["method"] == "PATCH"
                and r["body"]["state"] == "Paused" and r["uid"] != 0]


@pytest.mark.parametrize("frontend", ["ansible", "pyinfra"])
def test_firecracker_lifecycle_twice_each_against_the_doubles(frontend: str, tmp_path: Path, doubles: Doubles,
                                                              built_image: Path) -> None:
    root = tmp_path / "state"
    # The jailer double cannot chroot: the jailed double reaches its files through the path, so the chroot base
    # sits where every uid may pass (pytest's own directory is root's alone).
    chroot = Path(tempfile.mkdtemp(prefix="mvm-jail-"))
    chroot.chmod(0o755)
    seed_image(built_image, root)
    doubles.log.write_text("")
    ns = Netns.create()
    try:
        links, rules = ns.links(), ns.rules()
        for phase in PHASES:
            if frontend == "ansible":
                if phase == "up":
                    # Check mode on a fresh host: the VM on the bridge plans on the bridge the task before it only
                    # planned (the collection's action plugin hands it the `mvm_planned` fact).
                    _out, changed = ansible(ns, doubles, root, chroot, phase, "--check")
                    assert changed > 0 and host_facts(root)["vms"] == {} and changes_sent(doubles) == []
                _out, changed = ansible(ns, doubles, root, chroot, phase)
                assert changed > 0
                out, changed = ansible(ns, doubles, root, chroot, phase)
                assert changed == 0, out[-4000:]
            else:
                if phase == "up":
                    out = pyinfra(ns, doubles, root, chroot, phase, "--dry")
                    assert host_facts(root)["vms"] == {} and changes_sent(doubles) == [], out[-3000:]
                out = pyinfra(ns, doubles, root, chroot, phase, "-y")
                assert "[@local] Success" in out, out[-3000:]
                out = pyinfra(ns, doubles, root, chroot, phase, "-y")
                assert "[@local] Success" not in out and "No changes" in out, out[-4000:]
            check_phase(phase, root, chroot)
            if phase == "up":
                # Pausing a --config-file VM (api: false) is refused naming the option, before anything runs.
                if frontend == "ansible":
                    out, _changed = ansible(ns, doubles, root, chroot, phase, "-e", "cf_state=paused", fails=True)
                else:
                    out = pyinfra(ns, doubles, root, chroot, phase, "-y", "--data", "cf_state=paused", fails=True)
                assert "firecracker.api" in out and "api: false" in out, out[-3000:]
                check_phase(phase, root, chroot)
            if phase == "change":
                check_requests(doubles, root)
        assert ns.links() == links and ns.rules() == rules
    finally:
        kill_under(root)
        kill_under(chroot)
        ns.destroy()
        shutil.rmtree(chroot, ignore_errors=True)
