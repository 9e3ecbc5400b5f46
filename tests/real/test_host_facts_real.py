"""Facts and doctor for real on this machine, through both front-ends and the mvm-doctor command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO, need_qemu
from tests.real.conftest import BIN, ENV, sh


def ansible_facts(root: Path, tmp_path: Path) -> dict:
    dump = tmp_path / "facts.json"
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(Path(__file__).parent / "playbooks/facts_dump.yml"),
                           "-e", f"mvm_state_root={root}", "-e", f"dump={dump}"],
                          capture_output=True, text=True, env=ENV, cwd="/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(dump.read_text())


def pyinfra_facts(root: Path) -> dict:
    proc = subprocess.run([str(BIN / "pyinfra"), "@local", "fact", "mvm_pyinfra.facts.MvmHost", f"state_root={root}"],
                          capture_output=True, text=True, env=ENV, cwd="/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    text = out[out.index("{", out.index("Fact data for")):]
    return json.JSONDecoder().raw_decode(text)[0]["@local"]


def normalised(facts: dict) -> dict:
    """Free disk space and available memory move between two probes; everything else must be equal."""
    facts = json.loads(json.dumps(facts))
    facts.pop("disk_free_mib")
    assert facts["capacity"]["memory_available_mib"] > 0 and facts["capacity"]["cpus"] == len(os.sched_getaffinity(0))
    facts["capacity"].pop("memory_available_mib")
    for check in facts["doctor"]["checks"]:
        if check["name"] == "state root disk":
            check.pop("info")
    facts["doctor"]["table"] = [line for line in facts["doctor"]["table"] if not line.startswith("state root disk")]
    return facts


def test_facts_match_this_machine_in_both_front_ends(tmp_path: Path) -> None:
    need_qemu()
    root = tmp_path / "state"
    from_ansible = ansible_facts(root, tmp_path)
    from_pyinfra = pyinfra_facts(root)
    assert normalised(from_ansible) == normalised(from_pyinfra)
    facts = from_ansible
    modules = sorted(p.name for p in Path("/sys/module").iterdir() if p.name in ("kvm_intel", "kvm_amd", "kvm_pvm"))
    assert facts["kvm"]["present"] == Path("/dev/kvm").exists()
    if modules == ["kvm_pvm"]:
        assert facts["kvm"]["kind"] == "kvm_pvm" and facts["kvm"]["usable"] is False
    assert facts["tools"]["qemu-system-x86_64"]["present"] is True
    assert facts["tools"]["qemu-system-x86_64"]["path"] == shutil.which("qemu-system-x86_64")
    daemon_up = sh("docker version --format '{{.Server.Version}}'")[0] == 0 if shutil.which("docker") else False
    assert facts["docker"]["daemon"] is daemon_up
    assert facts["platform"]["os"] == "linux" and facts["state_root"] == str(root)
    assert facts["backend"]["chosen"] == ("docker" if daemon_up else "qemu")
    assert {c["name"] for c in facts["doctor"]["checks"]} >= {"backend", "kvm usable", "qemu", "docker daemon"}


def test_doctor_command_exit_codes(tmp_path: Path) -> None:
    """mvm-doctor: a table by default (check, ok, needed, why, the command that fixes it), JSON with --json; the
    backend asked for is the one answered about, even one that cannot run here."""
    need_qemu()
    ok = subprocess.run([str(BIN / "mvm-doctor"), "--state-root", str(tmp_path), "--backend", "qemu", "--json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    report = json.loads(ok.stdout)
    assert report["all_ok"] is True and report["backend"] == "qemu"
    assert all(set(c) >= {"name", "category", "ok", "info", "needed", "fix"} for c in report["checks"])
    assert report["table"][-1] == "backend qemu: ready"
    text = subprocess.run([str(BIN / "mvm-doctor"), "--state-root", str(tmp_path), "--backend", "qemu"],
                          capture_output=True, text=True)
    assert text.returncode == 0 and text.stdout.splitlines() == report["table"], text.stdout
    assert text.stdout.splitlines()[0].split()[:3] == ["check", "ok", "needed"]
    bad = subprocess.run([str(BIN / "mvm-doctor"), "--state-root", str(tmp_path), "--backend", "firecracker", "--json"],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["backend"] == "firecracker" and not report["all_ok"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["backend"]["ok"] is False and "not available here" in checks["backend"]["info"]
    assert checks["firecracker"]["needed"] and checks["firecracker"]["fix"].startswith("ansible localhost -m ")
    assert checks["docker daemon"]["needed"] is False  # about firecracker, not the backend auto would pick
    table = subprocess.run([str(BIN / "mvm-doctor"), "--state-root", str(tmp_path), "--backend", "firecracker"],
                           capture_output=True, text=True).stdout
    assert "fix: ansible localhost -m mvm.microvm.firecracker_install" in table
    assert table.splitlines()[-1].startswith("backend firecracker: not ready (backend, ")


def test_doctor_playbook_and_deploy(tmp_path: Path) -> None:
    need_qemu()
    for backend, expect_ok in (("qemu", True), ("firecracker", False)):
        proc = subprocess.run([str(BIN / "ansible-playbook"), str(REPO / "playbooks/doctor.yml"),
                               "-e", f"mvm_state_root={tmp_path}", "-e", f"mvm_backend={backend}"],
                              capture_output=True, text=True, env=ENV, cwd="/")
        assert (proc.returncode == 0) is expect_ok, proc.stdout
        # the same table in both front-ends, about the backend asked for
        assert f"backend {backend}: {'ready' if expect_ok else 'not ready'}" in proc.stdout, proc.stdout
        proc = subprocess.run([str(BIN / "pyinfra"), str(REPO / "inventory/inventory.py"), str(REPO / "playbooks/doctor.py"),
                               "--data", f"mvm_state_root={tmp_path}", "--data", f"mvm_backend={backend}", "-y"],
                              capture_output=True, text=True, env=ENV, cwd="/")
        out = proc.stdout + proc.stderr
        assert (proc.returncode == 0) is expect_ok, out
        assert f"backend {backend}: {'ready' if expect_ok else 'not ready'}" in out and "fix" in out or expect_ok, out
