"""Security posture (issue #13, the seed's mvm-security): checks of the host and each VM from recorded facts
of a production Firecracker host (jailed, distinct uids) and a careless one; `production: true` refuses
what the careless one does; Firecracker is jailed by default where the jailer exists, each VM its own uid."""

from __future__ import annotations

import json

import pytest
from pyinfra.api import OperationValueError

from tests.support import frontends
from tests.support.probes import HOSTS, ROOT, image_lines

IMG = "0123456789abcdef"
FC_HOST = HOSTS["linux-x86_64-kvm-firecracker"].replace("host\tuid\t501", "host\tuid\t0")


def _vm(name: str, fc: dict, vmm_uid: int, modes: str = "disk.ext4=600 console.log=600 spec.json=600") -> str:
    applied = {"name": name, "backend": "firecracker", "arch": "x86_64", "memory_mib": 256, "cpus": 1,
               "firecracker": dict({"cgroup_version": 2, "seccomp_filter": None}, **fc)}
    d = f"{ROOT}/vms/{name}"
    return (f"vm\t{name}\tdir\t{d}\nvm\t{name}\tpid\t{4000 + len(name)}\nvm\t{name}\tvmm_uid\t{vmm_uid}\n"
            f"vm\t{name}\tmodes\t{modes}\nvm\t{name}\tspec\t{json.dumps(applied)}\n")


# Recorded shapes: /dev/kvm 660 root:kvm and a 0711 state root, two VMs jailed under their own uids.
PRODUCTION = FC_HOST + "host\tkvm_mode\t660 root kvm\nhost\tstate_root_mode\t711\n" + \
    _vm("web", {"jailer": True, "uid": 10000, "gid": 10000}, 10000) + _vm("db", {"jailer": True, "uid": 10001}, 10001)
# /dev/kvm world-writable, a 0755 root, one VM unjailed as root, two sharing a uid, a world-readable disk.
CARELESS = FC_HOST + "host\tkvm_mode\t666 root root\nhost\tstate_root_mode\t755\n" + \
    _vm("web", {"jailer": False, "uid": 0}, 0, modes="disk.ext4=644 console.log=600") + \
    _vm("a", {"jailer": True, "uid": 2000}, 2000) + _vm("b", {"jailer": True, "uid": 2000}, 2000)


def _failing(report: dict) -> dict:
    found = {"host": sorted(c["name"] for c in report["host"] if not c["ok"])}
    found.update({n: sorted(c["name"] for c in cs if not c["ok"]) for n, cs in report["vms"].items()})
    return found


def test_a_production_host_passes_every_check() -> None:
    facts = frontends.pyinfra_fact("MvmHost", frontends.Recording(PRODUCTION))
    assert _failing(facts["security"]) == {"host": [], "web": [], "db": []}
    assert facts["security"]["all_ok"] is True


def test_a_careless_host_fails_with_why_and_fix() -> None:
    facts = frontends.pyinfra_fact("MvmHost", frontends.Recording(CARELESS))
    report = facts["security"]
    assert _failing(report) == {
        "host": ["kvm device permissions", "state root mode"],
        "web": ["cgroup limits", "distinct uid", "file modes", "jailer", "vmm not root"],
        "a": ["distinct uid"], "b": ["distinct uid"]}
    kvm = next(c for c in report["host"] if c["name"] == "kvm device permissions")
    assert kvm["why"] == "/dev/kvm is 666 root root" and "chmod 0660 /dev/kvm" in kvm["fix"]
    modes = next(c for c in report["vms"]["web"] if c["name"] == "file modes")
    assert modes["why"] == "readable by others: disk.ext4"
    # The doctor lists the host's posture as advice, not as a failure of the backend's needs.
    doctor = {c["name"]: c for c in facts["doctor"]["checks"]}
    assert doctor["security: kvm device permissions"]["ok"] is False and not doctor["security: kvm device permissions"]["needed"]


def test_firecracker_is_jailed_by_default_each_vm_under_its_own_uid() -> None:
    facts = FC_HOST + image_lines("default", IMG) + _vm("web", {"jailer": True, "uid": 10000, "gid": 10000}, 10000)
    spec = frontends.engine("vm", {"name": "db", "image": "default", "backend": "firecracker"},
                            frontends.Recording(facts)).after["spec"]
    assert spec["firecracker"]["jailer"] is True and spec["firecracker"]["uid"] == 10001 == spec["firecracker"]["gid"]
    # The uid a VM was started with is kept across a restart.
    again = frontends.engine("vm", {"name": "web", "image": "default", "backend": "firecracker", "memory": 512},
                             frontends.Recording(facts)).after["spec"]
    assert again["firecracker"]["uid"] == 10000
    # Kept even when a lower uid is free: the disk and chroot files belong to the uid it had.
    facts = FC_HOST + image_lines("default", IMG) + _vm("web", {"jailer": True, "uid": 10005, "gid": 10005}, 10005)
    kept = frontends.engine("vm", {"name": "web", "image": "default", "backend": "firecracker", "memory": 512},
                            frontends.Recording(facts)).after["spec"]
    assert (kept["firecracker"]["uid"], kept["firecracker"]["gid"]) == (10005, 10005)


def test_without_the_jailer_binary_firecracker_runs_unjailed() -> None:
    facts = FC_HOST.replace("tool\tjailer\t", "tool\tgone\t") + image_lines("default", IMG)
    spec = frontends.engine("vm", {"name": "db", "image": "default", "backend": "firecracker"},
                            frontends.Recording(facts)).after["spec"]
    assert spec["firecracker"]["jailer"] is False and spec["firecracker"]["uid"] == 0


@pytest.mark.parametrize("params,check", [
    ({"backend": "firecracker", "firecracker": {"jailer": False}}, "jailer"),
    ({"backend": "firecracker", "firecracker": {"jailer": True, "uid": 0}}, "vmm not root"),
    ({"backend": "firecracker", "firecracker": {"jailer": True, "uid": 10000}}, "distinct uid"),
])
def test_production_refuses_a_careless_vm_naming_the_check(params: dict, check: str) -> None:
    facts = FC_HOST + image_lines("default", IMG) + _vm("web", {"jailer": True, "uid": 10000}, 10000)
    rec = frontends.Recording(facts)
    with pytest.raises(OperationValueError, match="^production: check '%s' fails for db" % check):
        frontends.pyinfra("vm", dict({"name": "db", "image": "default", "production": True}, **params), rec)
    result = frontends.ansible("vm", dict({"name": "db", "image": "default", "production": True}, **params),
                               frontends.Recording(facts), check_mode=False)
    assert result.failed and result.result["field"] == "production" and check in result.result["msg"]


def test_production_accepts_a_jailed_vm_under_its_own_uid() -> None:
    facts = FC_HOST + image_lines("default", IMG) + _vm("web", {"jailer": True, "uid": 10000}, 10000)
    commands = frontends.three_ways("vm", {"name": "db", "image": "default", "backend": "firecracker",
                                           "production": True}, facts)
    assert any("--uid 10001 --gid 10001" in c for c in commands)
