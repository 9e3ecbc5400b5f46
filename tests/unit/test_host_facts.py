"""Host facts and backend selection from recorded probe outputs, one per kind of host."""

from __future__ import annotations

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import backends, doctor, ops, probe
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from tests.support import frontends
from tests.support.probes import HOSTS, LINUX_PVM_QEMU, probe_text

SELECTION = [
    ("macos-26-arm64", "apple-container", "first available"),
    ("macos-15-arm64", "lima", "first available"),
    ("macos-14-x86_64", "lima", "first available"),
    ("linux-x86_64-kvm-firecracker", "firecracker", "first available"),
    ("linux-aarch64-kvm-firecracker", "firecracker", "first available"),
    ("linux-kvm-no-firecracker-docker", "docker", "first available"),
    ("linux-no-kvm-docker", "docker", "first available"),
    ("linux-no-kvm-no-docker", "lima", "first available"),
    ("wsl2-kvm", "firecracker", "first available"),
    ("wsl2-no-kvm", "docker", "first available"),
    ("linux-pvm-only", "qemu", "kvm_pvm"),
]


@pytest.mark.parametrize("name,backend,reason", SELECTION, ids=[s[0] for s in SELECTION])
def test_backend_selection(name: str, backend: str, reason: str) -> None:
    facts = probe.parse_host(HOSTS[name])
    chosen, why = backends.select(facts)
    assert chosen == backend
    assert reason in why
    report = ops.host_report(facts)
    assert report["backend"]["chosen"] == backend
    assert report["doctor"]["backend"] == backend


PREPARE = [
    ("nothing-fits", "auto", "qemu"),  # a fresh Linux host without KVM: what the Molecule scenario starts from
    ("fresh-kvm", "auto", "firecracker"),
    ("linux-kvm-no-firecracker-docker", "auto", "firecracker"),
    ("linux-no-kvm-docker", "auto", "docker"),
    ("linux-pvm-only", "auto", "qemu"),
    ("macos-26-arm64", "auto", "apple-container"),
    ("macos-15-arm64", "auto", "lima"),
    ("nothing-fits", "docker", "docker"),
]


@pytest.mark.parametrize("name,requested,backend", PREPARE, ids=["%s-%s" % p[:2] for p in PREPARE])
def test_the_backend_a_host_is_provisioned_for(name: str, requested: str, backend: str) -> None:
    """What the host role installs for: on a fresh host nothing is chosen yet (the role installed nothing before
    the Molecule scenario found it), so the facts say what `auto` picks once QEMU or Firecracker is installed."""
    text = probe_text(kvm=("kvm", "kvm_intel"), tools={"busybox": ""}) if name == "fresh-kvm" else HOSTS[name]
    facts = probe.parse_host(text)
    assert backends.prepare(facts, requested) == backend
    if requested == "auto":
        assert ops.host_report(facts)["backend"]["prepare"] == backend


def test_pvm_only_host_is_not_firecracker_and_says_why() -> None:
    facts = probe.parse_host(HOSTS["linux-pvm-only"])
    assert facts["kvm"] == {"present": True, "rw": True, "modules": ["kvm", "kvm_pvm"], "kind": "kvm_pvm",
                            "usable": False, "reason": facts["kvm"]["reason"]}
    assert "PVM" in facts["kvm"]["reason"]
    table = backends.availability(facts)
    assert not table["firecracker"]["available"]
    assert "kvm_pvm" in table["firecracker"]["why_not"]
    with pytest.raises(MvmError, match="backend firecracker is not available.*kvm_pvm.*It needs a Linux host"):
        backends.select(facts, "firecracker")


def test_wsl2_is_told_apart() -> None:
    assert probe.parse_host(HOSTS["wsl2-kvm"])["platform"]["kind"] == "wsl2"
    assert probe.parse_host(HOSTS["linux-no-kvm-docker"])["platform"]["kind"] == "linux"
    assert probe.parse_host(HOSTS["macos-15-arm64"])["platform"]["kind"] == "macos"


def test_nothing_fits_lists_what_is_missing_per_backend() -> None:
    facts = probe.parse_host(HOSTS["nothing-fits"])
    with pytest.raises(MvmError) as err:
        backends.select(facts)
    message = str(err.value)
    for name in ("firecracker", "apple-container", "docker", "lima", "qemu"):
        assert f"{name}:" in message
    assert "install docker" in message and "limactl" in message
    report = ops.host_report(facts)
    assert report["backend"]["chosen"] is None
    assert report["doctor"]["all_ok"] is False
    assert [c for c in report["doctor"]["checks"] if c["name"] == "backend"][0]["ok"] is False


def test_requested_backend_that_cannot_run_fails_in_both_front_ends() -> None:
    rec = frontends.Recording(HOSTS["linux-no-kvm-docker"])
    result = frontends.ansible("facts", {"backend": "firecracker"}, rec)
    assert result.failed and "firecracker is not available" in result.result["msg"]
    assert "install" in result.result["msg"] or "needs" in result.result["msg"]
    params = {"name": "web", "image": "default", "backend": "firecracker"}
    result = frontends.ansible("vm", params, frontends.Recording(HOSTS["linux-no-kvm-docker"]))
    assert result.failed and "firecracker is not available" in result.result["msg"]
    with pytest.raises(Exception, match="firecracker is not available"):
        frontends.pyinfra("vm", params, frontends.Recording(HOSTS["linux-no-kvm-docker"]))


def test_doctor_marks_checks_the_backend_needs() -> None:
    report = doctor.report(probe.parse_host(LINUX_PVM_QEMU))
    by_name = {c["name"]: c for c in report["checks"]}
    assert report["backend"] == "qemu" and report["all_ok"] is True
    assert by_name["kvm usable"]["ok"] is False and by_name["kvm usable"]["needed"] is False
    assert by_name["qemu"]["needed"] and by_name["qemu"]["ok"]
    assert set(by_name["qemu"]) == {"name", "category", "ok", "info", "needed", "fix"}
    broken = doctor.report(probe.parse_host(LINUX_PVM_QEMU.replace("tool\tpython3\tpath\t/usr/bin/python3\n", "")))
    assert broken["all_ok"] is False


@pytest.mark.parametrize("host,backend,failing,fixes", [
    ("linux-no-kvm-docker", "firecracker", ["backend", "kvm usable", "firecracker"],
     {"firecracker": "ansible localhost -m mvm.microvm.firecracker_install"}),
    ("linux-no-kvm-no-docker", "docker", ["backend", "docker daemon"], {"docker daemon": "systemctl start docker"}),
    ("nothing-fits", "auto", ["backend"], {}),
])
def test_the_doctor_answers_about_the_backend_asked_for_with_the_command_that_fixes_each_check(
        host: str, backend: str, failing: list, fixes: dict) -> None:
    """`--backend X` (the facts module's doctor_backend) is about X, available here or not: the checks X needs,
    each failing one with the command that makes it pass, and a table of them with the verdict last."""
    facts = ops.host_report(probe.parse_host(HOSTS[host]))
    report = doctor.report(facts, backend)
    needed_failing = [c["name"] for c in report["checks"] if c["needed"] and not c["ok"]]
    assert needed_failing[:len(failing)] == failing and report["all_ok"] is False
    by_name = {c["name"]: c for c in report["checks"]}
    for name, command in fixes.items():
        assert by_name[name]["fix"].startswith(command), by_name[name]
    assert all(c["fix"] for c in report["checks"] if not c["ok"] and c["category"] != "platform")
    assert all(c["fix"] == "" for c in report["checks"] if c["ok"])
    table = report["table"]
    assert table[0].split()[:3] == ["check", "ok", "needed"]
    assert table[-1] == "backend %s: not ready (%s)" % (report["backend"] or "none", ", ".join(needed_failing))
    rows = [line.split()[0] for line in table[1:-1] if not line.lstrip().startswith("fix:")]
    needed = [c["name"].split()[0] for c in report["checks"] if c["needed"]]
    assert rows[:len(needed)] == needed  # what the backend needs comes first


def test_one_command_gathers_the_facts_in_both_front_ends() -> None:
    rec = frontends.Recording(LINUX_PVM_QEMU)
    result = frontends.ansible("facts", {}, rec)
    assert not result.failed and len(rec.commands) == 1
    ansible_facts = result.result["ansible_facts"]["mvm"]
    rec = frontends.Recording(LINUX_PVM_QEMU)
    pyinfra_facts = frontends.pyinfra_fact("MvmHost", rec)
    assert len(rec.commands) == 1
    assert pyinfra_facts == ansible_facts


def test_odd_tool_output_gives_unknown_and_a_warning() -> None:
    text = probe_text(tools={"firecracker": "Firecracker ??? garbled", "limactl": "limactl version 1.0.7"},
                      lima_lines=("", "{not json", '{"name": "fc", "status": "Weird"}', '{"name": "ok", "status": "Running"}'))
    facts = probe.parse_host(text + "junk line without tabs\n")
    assert facts["tools"]["firecracker"]["version"] == "unknown"
    assert facts["lima"] == [
        {"name": "fc", "status": "unknown", "arch": None, "cpus": None, "memory": None, "disk": None, "vmType": None,
         "dir": None},
        {"name": "ok", "status": "Running", "arch": None, "cpus": None, "memory": None, "disk": None, "vmType": None,
         "dir": None}]
    joined = " ".join(facts["warnings"])
    assert "unexpected version line" in joined and "not valid JSON" in joined and "'Weird'" in joined
    assert "unexpected probe line" in joined
    assert probe.parse_host(probe_text(tools={"limactl": ""}))["lima"] == []


def test_truncated_probe_never_crashes() -> None:
    for cut in range(0, len(LINUX_PVM_QEMU), 37):
        facts = probe.parse_host(LINUX_PVM_QEMU[:cut])
        ops.host_report(facts)


def test_network_links_are_parsed() -> None:
    links = ('[{"ifname":"br0","address":"02:99:f2:d0:92:00","flags":["BROADCAST","UP"],"linkinfo":{"info_kind":"bridge"},'
             '"addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24}]},'
             '{"ifname":"tap0","flags":["UP"],"master":"br0","linkinfo":{"info_kind":"tun","info_data":{"type":"tap"}}}]')
    facts = probe.parse_host(probe_text(extra="links\t" + links + "\n"))
    assert facts["network"]["bridges"] == [{"name": "br0", "up": True, "addresses": ["10.9.0.1/24"],
                                            "mac": "02:99:f2:d0:92:00", "members": ["tap0"]}]
    assert facts["network"]["taps"] == [{"name": "tap0", "up": True, "master": "br0", "user": None, "group": None,
                                       "uid": None, "gid": None}]
