"""Firecracker: every request body and config document held to the official swagger (v1.14.1 and v1.16.1,
strictly: no key the contract does not define), request order, the curl client against a double that
answers as the swagger says, and planner tests three ways on x86_64 and aarch64.

No Firecracker VM boots on this machine: KVM here is PVM only and the firecracker binary is absent."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import firecracker
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.conftest import need_contracts
from tests.support import frontends, golden
from tests.support.probes import HOSTS, applied, image_lines

IMG = "0123456789abcdef"
NET = {"name": "br0", "ip": "10.77.0.2", "prefix": 24, "gateway": "10.77.0.1", "mac": "02:00:00:00:00:02",
       "tap": "mvmtap", "slot": 2}


@pytest.fixture(params=("1.14.1", "1.16.1"))
def contract(request):
    need_contracts()
    from tests.support.firecracker_contract import Contract

    return Contract(request.param)


def machine(arch: str = "x86_64", **extra) -> dict:
    return dict(applied("web", image_id=IMG, arch=arch, backend="firecracker", accel="kvm",
                        kernel="/srv/mvm/images/default/vmlinux"), **extra)


GOLDEN_NAMES = {"firecracker-boot-calls.json", "firecracker-snapshot-x86_64.txt", "firecracker-snapshot-aarch64.txt"}
OPTION_SETS = [
    {},
    {"vsock_cid": 3, "drives": [{"id": "data", "path": "/srv/data.ext4", "read_only": True}], "enable_pci": True},
    {"jailer": True, "jailer_id": "web-1", "uid": 1000, "gid": 1000, "seccomp_filter": "/etc/fc-seccomp.bpf"},
]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("opts", OPTION_SETS, ids=["plain", "vsock-drives-pci", "jailer"])
def test_boot_calls_follow_the_contract(contract, arch: str, opts: dict) -> None:
    o = firecracker.options(opts)
    spec = machine(arch, network=NET)
    paths = firecracker.layout("/srv/mvm/vms/web", spec, o)
    calls = firecracker.boot_calls(spec, o, paths, "/srv/mvm/vms/web")
    for call in calls:
        assert contract.check_call(call.method, call.path, call.body) == [], call


def test_boot_calls_order_bodies_and_layout() -> None:
    """Without the contract: the exact calls (logger first, InstanceStart last, pre-boot configuration between),
    their bodies and the jailer layout, per architecture and option set, pinned in a golden file."""
    out = {}
    for arch in ("x86_64", "aarch64"):
        for name, opts in zip(("plain", "vsock-drives-pci", "jailer"), OPTION_SETS):
            o = firecracker.options(opts)
            spec = machine(arch, network=NET)
            paths = firecracker.layout("/srv/mvm/vms/web", spec, o)
            out["%s-%s" % (arch, name)] = {"layout": paths, "calls": [[c.method, c.path, c.body] for c in
                                                                      firecracker.boot_calls(spec, o, paths, "/srv/mvm/vms/web")]}
    golden.check("firecracker-boot-calls.json", json.dumps(out, indent=1, sort_keys=True) + "\n")
    assert [c[1] for c in out["x86_64-plain"]["calls"]] == ["/logger", "/boot-source", "/machine-config",
                                                           "/drives/rootfs", "/network-interfaces/eth0", "/actions"]
    assert out["x86_64-jailer"]["layout"]["jail"] == "/srv/jailer/firecracker/web-1/root"


def test_config_file_document_follows_the_contract(contract) -> None:
    o = firecracker.options({"api": False, "vsock_cid": 7})
    spec = machine(network=NET)
    doc = firecracker.config_document(spec, o, firecracker.layout("/srv/mvm/vms/web", spec, o), "/srv/mvm/vms/web")
    assert contract.errors("#/definitions/FullVmConfiguration", doc) == []
    assert set(doc) == {"logger", "boot-source", "machine-config", "drives", "network-interfaces", "vsock"}


def test_pause_snapshot_and_load_follow_the_contract(contract) -> None:
    spec = machine(network=NET)
    calls = [firecracker.pause_call(), firecracker.snapshot_create_call("/s/vm.snap", "/s/mem", "Diff"),
             firecracker.resume_call(),
             firecracker.snapshot_load_call("/s/vm.snap", "/s/mem", spec, contract.version, "/v.sock")]
    for call in calls:
        assert contract.check_call(call.method, call.path, call.body) == [], call
    load = calls[-1].body
    assert load["network_overrides"] == [{"iface_id": "eth0", "host_dev_name": "mvmtap"}]
    assert ("vsock_override" in load) is (contract.version >= "1.16")


def test_strict_contract_catches_unknown_keys(contract) -> None:
    assert contract.check_call("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "gpus": 1})
    assert contract.check_call("PUT", "/machine-config", {"vcpu_count": "two", "mem_size_mib": 128})
    if contract.version == "1.14.1":
        assert contract.check_call("PUT", "/snapshot/load", {"snapshot_path": "/s", "vsock_override": {"uds_path": "/v"}})


def test_curl_client_against_the_double(contract) -> None:
    """The rendered curl commands, run for real against a unix-socket server that answers as the swagger says."""
    from tests.support.firecracker_contract import Double

    with tempfile.TemporaryDirectory() as tmp:
        sock = str(Path(tmp) / "api.sock")
        double = Double(sock, contract)
        try:
            spec = machine(network=NET)
            o = firecracker.options({"vsock_cid": 5})
            for call in firecracker.boot_calls(spec, o, firecracker.layout(tmp, spec, o), tmp) + [
                    firecracker.pause_call(), firecracker.snapshot_create_call(tmp + "/snap", tmp + "/mem"),
                    firecracker.resume_call()]:
                proc = subprocess.run(["sh", "-c", firecracker.curl(sock, call)], capture_output=True, text=True)
                assert proc.returncode == 0, proc.stdout + proc.stderr
            assert double.state == "Running"
            assert [p for _m, p, _b in double.requests][:2] == ["/logger", "/boot-source"]
            bad = firecracker.Call("PUT", "/machine-config", {"vcpu_count": "two", "mem_size_mib": 128})
            proc = subprocess.run(["sh", "-c", firecracker.curl(sock, bad)], capture_output=True, text=True)
            assert proc.returncode != 0 and "fault_message" in proc.stdout
        finally:
            double.close()


# ---- planner, three ways -------------------------------------------------------------------------------

FC_HOST = HOSTS["linux-x86_64-kvm-firecracker"].replace("host\tuid\t501", "host\tuid\t0")
FC_ARM = HOSTS["linux-aarch64-kvm-firecracker"]
VM = {"name": "web", "image": "default", "backend": "firecracker"}
# The recorded host has the jailer, so a VM is jailed unless told not to (#13): these are the unjailed paths.
UNJAILED = dict(VM, firecracker={"jailer": False})


def fc_image() -> str:
    return image_lines("default", IMG)


def fc_applied(name: str = "web", arch: str = "x86_64", network: dict | None = None, **fc: Any) -> dict:
    """A jailed Firecracker VM's spec.json as the planner writes it (written out by hand, not computed)."""
    options = {"api": True, "cgroup_version": 2, "chroot_base": "/srv/jailer", "drives": [], "enable_pci": False,
               "gid": 10000, "jailer": True, "jailer_id": None, "netns": None, "seccomp_filter": None, "uid": 10000,
               "uid_base": 10000, "vsock_cid": None}
    options.update(fc)
    return {"accel": "kvm", "arch": arch, "backend": "firecracker", "cpus": 1, "firecracker": options, "format": 1,
            "hostname": name, "image": "default", "image_id": IMG, "initrd": "/srv/mvm/images/default/initrd.img",
            "kernel": "/srv/mvm/images/default/" + ("vmlinux" if arch == "x86_64" else "vmlinuz"), "kernel_args": "",
            "memory_mib": 256, "name": name, "network": network, "ports": [],
            "rootfs": "/srv/mvm/images/default/rootfs.ext4", "snapshot": None, "tsc_khz": None}


def running_line(name: str, spec: dict, pid: int = 4242, status: str = "") -> str:
    text = f"vm\t{name}\tdir\t/srv/mvm/vms/{name}\nvm\t{name}\tpid\t{pid}\n"
    text += f"vm\t{name}\tspec\t" + json.dumps(spec, sort_keys=True, separators=(",", ":")) + "\n"
    return text + (f"vm\t{name}\tstatus\t{status}\n" if status else "")


def planned(params: dict, facts: str) -> list[str]:
    return frontends.three_ways("vm", params, facts)


def test_start_writes_own_pid_and_configures_through_the_api() -> None:
    commands = planned(UNJAILED, FC_HOST + fc_image())
    start = [c for c in commands if "setsid" in c][0]
    assert "echo $$ >" in start and 'exec "$@"' in start and "echo $!" not in start and "sudo" not in start
    assert "--enable-pci" not in start
    calls = [c for c in commands if c.startswith("curl --unix-socket")]
    assert "http://localhost/logger" in calls[0] and "InstanceStart" in calls[-1]
    assert "/srv/mvm/images/default/vmlinux" in " ".join(calls)  # the ELF kernel on x86_64


def test_converged_vm_is_left_alone_then_stopped_per_arch() -> None:
    facts = FC_HOST + fc_image() + running_line("web", fc_applied())
    assert planned(VM, facts) == []
    stop = planned(dict(VM, state="stopped"), facts)
    assert len(stop) == 1 and "SendCtrlAltDel" in stop[0] and "p=4242;" in stop[0] and 'kill -9 "$p"' in stop[0]
    arm_stop = planned(dict(VM, state="stopped"), FC_ARM + fc_image() + running_line("web", fc_applied(arch="aarch64")))
    assert "SendCtrlAltDel" not in arm_stop[0] and "kill -TERM 4242" in arm_stop[0]


def test_facts_report_the_security_choice() -> None:
    spec = fc_applied(jailer_id="web-1", uid=1000, gid=1000, seccomp_filter="/etc/mvm/fc.bpf")
    vms = frontends.pyinfra_fact("MvmHost", frontends.Recording(FC_HOST + fc_image() + running_line("web", spec)))["vms"]
    assert vms["web"]["security"] == {"jailer": True, "seccomp": "/etc/mvm/fc.bpf", "uid": 1000, "gid": 1000}
    plain = fc_applied(jailer=False, uid=0, gid=0)
    vms = frontends.pyinfra_fact("MvmHost", frontends.Recording(FC_HOST + fc_image() + running_line("web", plain)))["vms"]
    assert vms["web"]["security"]["seccomp"] == "default" and vms["web"]["security"]["jailer"] is False


def test_paused_firecracker_vm_is_seen_from_get_root() -> None:
    facts = FC_HOST + fc_image() + running_line("web", fc_applied(), status="Paused")
    assert frontends.pyinfra_fact("MvmHost", frontends.Recording(facts))["vms"]["web"]["state"] == "paused"
    resume = planned(VM, facts)
    assert len(resume) == 1 and '"state": "Resumed"' in resume[0]


def test_probe_asks_firecracker_for_its_state(contract) -> None:
    """The probe's own GET / against the contract double, as it runs on a host."""
    from ansible_collections.mvm.microvm.plugins.module_utils import probe
    from tests.support.firecracker_contract import Double

    with tempfile.TemporaryDirectory() as tmp:
        vm_dir = Path(tmp) / "vms/web"
        vm_dir.mkdir(parents=True)
        double = Double(str(vm_dir / "api.sock"), contract)
        try:
            double.state = "Paused"
            out = subprocess.run(["sh", "-c", probe.host_probe(tmp)], capture_output=True, text=True).stdout
            assert "vm\tweb\tstatus\tPaused" in out
        finally:
            double.close()


def test_pause_drift_and_absent() -> None:
    facts = FC_HOST + fc_image() + running_line("web", fc_applied())
    pause = planned(dict(VM, state="paused"), facts)
    assert len(pause) == 1 and '"state": "Paused"' in pause[0] and "-X PATCH" in pause[0]
    drift = planned(dict(VM, memory=512), facts)
    assert "p=4242;" in drift[0] and 'kill -9 "$p"' in drift[0] and any('"mem_size_mib": 512' in c for c in drift)
    gone = planned({"name": "web", "state": "absent"}, facts)
    assert "p=4242;" in gone[0] and 'kill -9 "$p"' in gone[0] and gone[-1].startswith("rm -rf /srv/mvm/vms/web")


def test_jailer_layout_and_removal() -> None:
    params = dict(VM, firecracker={"jailer": True, "jailer_id": "web-1", "uid": 1000, "gid": 1000})
    commands = planned(params, FC_HOST + fc_image())
    text = "\n".join(commands)
    assert "--chroot-base-dir /srv/jailer" in text and "--exec-file /usr/bin/firecracker" in text
    assert "--cgroup-version 2 --new-pid-ns" in text  # else the jailer writes no pid file (#13, defect 4)
    jail = "/srv/jailer/firecracker/web-1/root"
    # Shared inputs are copied and stay root's; only the VM's own disk is linked and given to its uid.
    assert f"cp --sparse=always /srv/mvm/images/default/vmlinux {jail}/vmlinux && chown -h 0:1000 {jail}/vmlinux" in text
    assert f"ln /srv/mvm/vms/web/disk.ext4 {jail}/rootfs.ext4" in text
    assert f"chown -h 1000:1000 {jail}/rootfs.ext4 && chmod 0600 {jail}/rootfs.ext4" in text
    assert "ln -f" not in text and "chown 1000" not in text
    assert "--unix-socket /srv/jailer/firecracker/web-1/root/run/firecracker.socket" in text
    assert '"kernel_image_path": "/vmlinux"' in text


def test_config_file_mode_runs_without_api() -> None:
    commands = planned(dict(VM, firecracker={"api": False, "jailer": False}), FC_HOST + fc_image())
    text = "\n".join(commands)
    assert "--no-api --config-file /srv/mvm/vms/web/vm-config.json" in text and "curl" not in text


BAD = [
    ({"cpus": 0}, "cpus"), ({"cpus": 33}, "cpus"), ({"cpus": 3}, "cpus"), ({"memory": 64}, "memory"),
    ({"firecracker": {"vsock_cid": 2}}, "firecracker.vsock_cid"),
    ({"image": None, "kernel": "vmlinux", "rootfs": "/r.ext4"}, "kernel"),
    ({"firecracker": {"jailer": True, "jailer_id": "bad_id!"}}, "firecracker.jailer_id"),
    ({"firecracker": {"bogus": 1}}, "firecracker.bogus"),
]


@pytest.mark.parametrize("change,field", BAD, ids=[f for _c, f in BAD])
def test_bad_firecracker_input(change: dict, field: str) -> None:
    params = {k: v for k, v in dict(VM, **change).items() if v is not None}
    rec = frontends.Recording(FC_HOST + fc_image())
    result = frontends.ansible("vm", params, rec, check_mode=False)
    assert result.failed and result.result["msg"].startswith(field + ":"), result.result["msg"]
    assert all("probe_version" in c for c in rec.commands)
    with pytest.raises(Exception, match="^%s: " % field.replace(".", r"\.")):
        frontends.pyinfra("vm", params, frontends.Recording(FC_HOST + fc_image()))


def fc_snapshot_line(name: str, spec: dict) -> str:
    meta = {"format": 1, "name": name, "vm": "web", "backend": "firecracker", "memory_mib": spec["memory_mib"],
            "cpus": spec["cpus"], "applied": spec}
    return f"snapshot\t{name}\t{json.dumps(meta)}\n"


@pytest.mark.parametrize("host", ["x86_64", "aarch64"])
def test_snapshot_of_a_firecracker_vm_pauses_creates_and_resumes(contract, host: str) -> None:
    commands = frontends.three_ways("snapshot", {"name": "s1", "vm": "web"}, fc_snapshot_host(host))
    body = json.loads(commands[2].rsplit(" -d ", 1)[1].strip("'"))
    assert contract.check_call("PUT", "/snapshot/create", body) == []


def fc_snapshot_host(arch: str) -> str:
    return (FC_HOST if arch == "x86_64" else FC_ARM) + fc_image() + running_line("web", fc_applied(arch=arch))


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_snapshot_plan_of_a_firecracker_vm(arch: str) -> None:
    """Without the contract: pause, create, copy the disk, resume, exactly (golden), and no QMP."""
    plan = frontends.engine("snapshot", {"name": "s1", "vm": "web"}, frontends.Recording(fc_snapshot_host(arch)))
    assert [s.description for s in plan.steps] == [
        "prepare /srv/mvm/snapshots/s1.tmp", "pause the VM", "create the snapshot (Full)",
        "move the snapshot out of the jail", "copy the disk of web", "write snapshot metadata", "publish snapshot s1",
        "resume web"]
    golden.check("firecracker-snapshot-%s.txt" % arch, golden.plan_text(plan))


def test_restore_from_a_firecracker_snapshot_loads_with_overrides(contract) -> None:
    net_record = 'net\tbr0\t{"gateway":"10.77.0.1","nat":false,"prefix":24,"subnet":"10.77.0.0/24","uplink":null}\n'
    # The recorded host runs the Firecracker version of the contract under test.
    facts = FC_HOST.replace("Firecracker v1.14.1", "Firecracker v" + contract.version) + fc_image() + net_record
    params = dict(VM, network="br0", firecracker={"vsock_cid": 3})
    source = fc_applied("tpl", vsock_cid=3, network={"gateway": "10.77.0.1", "ip": "10.77.0.2", "mac": "02:63:0c:29:8a:02",
                                                     "name": "br0", "prefix": 24, "slot": 2, "tap": "mvmbd3dc91699"})
    commands = frontends.three_ways("vm", dict(params, snapshot="s1"), facts + fc_snapshot_line("s1", source))
    text = "\n".join(commands)
    assert "InstanceStart" not in text and "/snapshot/load" in text
    load = [c for c in commands if "/snapshot/load" in c][0]
    body = json.loads(load.split(" -d ")[1].strip("'"))
    assert body["network_overrides"][0]["host_dev_name"].startswith("mvm")
    assert body["resume_vm"] is True
    assert contract.check_call("PUT", "/snapshot/load", body) == []
    assert ("vsock_override" in body) is (contract.version >= "1.16")


def fc_snapshot_meta(name: str, source: dict, vm: str = "tpl") -> str:
    meta = {"format": 1, "name": name, "vm": vm, "backend": "firecracker", "memory_mib": source["memory_mib"],
            "cpus": source["cpus"], "applied": source, "snapshot_type": "Diff"}
    return f"snapshot\t{name}\t{json.dumps(meta)}\n"


def test_a_restore_keeps_the_snapshotted_vms_options_but_not_its_identity() -> None:
    """#14: `snapshot: restored` used to drop the Firecracker options (Diff became Full, the chroot base went back
    to the default). The restored VM keeps them, gets its own jailer id and uid, and no copy of the source's ports."""
    source = fc_applied("tpl", chroot_base="/srv/j2", snapshot_type="Diff", jailer_id="tpl-1", uid=10000)
    source["ports"] = ["8080:80"]
    facts = FC_HOST + fc_image() + fc_snapshot_meta("s1", source) + running_line("tpl", source)
    plan = frontends.engine("snapshot", {"name": "s1", "vm": "copy", "state": "restored"}, frontends.Recording(facts))
    applied = plan.after["spec"]
    assert applied["firecracker"]["snapshot_type"] == "Diff" and applied["firecracker"]["chroot_base"] == "/srv/j2"
    assert applied["firecracker"]["jailer_id"] is None and applied["firecracker"]["uid"] == 10001
    assert applied["ports"] == []
    text = "\n".join(plan.commands)
    assert '"track_dirty_pages": true' not in text  # restored, not booted: the machine config is the snapshot's
    assert "/srv/j2/firecracker/copy/root" in text


@pytest.mark.parametrize("source_fc,restore_fc,field", [
    ({"jailer": False}, {"jailer": False}, "firecracker.jailer"),   # unjailed, under another name: the source's disk
    ({"jailer": True}, {"jailer": False}, "firecracker.jailer"),    # in-chroot paths on an unjailed VMM
    ({"jailer": True}, {"api": False}, "firecracker.api"),          # a load needs the API
], ids=["unjailed-renamed", "jailed-into-unjailed", "no-api"])
def test_restores_firecracker_cannot_do_are_refused(source_fc: dict, restore_fc: dict, field: str) -> None:
    source = fc_applied("tpl", **source_fc)
    facts = FC_HOST + fc_image() + fc_snapshot_meta("s1", source)
    with pytest.raises(SpecError) as err:
        frontends.engine("vm", dict(VM, name="copy", snapshot="s1", firecracker=restore_fc), frontends.Recording(facts))
    assert err.value.field == field


def test_diff_snapshots_track_dirty_pages_from_boot(contract) -> None:
    commands = planned(dict(UNJAILED, firecracker={"jailer": False, "snapshot_type": "Diff"}), FC_HOST + fc_image())
    config = [c for c in commands if "/machine-config" in c][0]
    body = json.loads(config.rsplit(" -d ", 1)[1].strip("'"))
    assert body["track_dirty_pages"] is True and contract.check_call("PUT", "/machine-config", body) == []


@pytest.mark.parametrize("field,value", [
    ("chroot_base", "srv/$(reboot)"), ("chroot_base", "/srv/j\nrm -rf /"), ("uid_base", "10000; reboot"),
    ("seccomp_filter", "../../etc/shadow"), ("cgroup_version", "2 && reboot"), ("api", "yes; reboot"),
], ids=["chroot-relative", "chroot-newline", "uid-base-shell", "seccomp-relative", "cgroup-shell", "api-shell"])
def test_a_restore_validates_the_options_it_takes_from_a_snapshot(field: str, value: str) -> None:
    """The restore path takes the Firecracker options from the snapshot's metadata.json: they pass the same
    validation as a VM's own options (a tampered file is refused naming the field, before any command)."""
    source = fc_applied("tpl", **{field: value})
    facts = FC_HOST + fc_image() + fc_snapshot_meta("s1", source)
    rec = frontends.Recording(facts)
    with pytest.raises(SpecError) as err:
        frontends.engine("snapshot", {"name": "s1", "vm": "copy", "state": "restored"}, rec)
    assert err.value.field == "firecracker." + field
    assert all("probe_version" in c or "sha256sum" in c for c in rec.commands)


def test_a_workload_and_a_volume_are_drives_after_the_root_and_in_the_jail(contract) -> None:
    """The config and secrets disks (read-only) and a volume (read-write) follow the root drive in the order the
    guest's init is told; jailed, the read-only ones are copies of root's and the volume a hard link."""
    spec = machine(workload={"argv": ["true"], "env": {}, "workdir": "/", "user": "root", "restart": "no", "files": {},
                             "secrets": {"k": {"mode": "0600", "hash": "x"}}},
                   volumes=[{"name": "pg", "size_mib": 64, "mount": "/var/lib/pg"}])
    for opts in ({}, {"jailer": True, "jailer_id": "web", "uid": 10001, "gid": 10001}):
        o = firecracker.options(opts)
        paths = firecracker.layout("/srv/mvm/vms/web", spec, o)
        calls = firecracker.boot_calls(spec, o, paths, "/srv/mvm/vms/web")
        for call in calls:
            assert contract.check_call(call.method, call.path, call.body) == [], call
        drives = [(c.body["drive_id"], c.body["path_on_host"], c.body["is_read_only"]) for c in calls
                  if c.path.startswith("/drives/")]
        if not opts:
            assert drives == [("rootfs", "/srv/mvm/vms/web/disk.ext4", False),
                              ("config", "/srv/mvm/vms/web/config.ext4", True),
                              ("secrets", "/srv/mvm/vms/web/secrets.ext4", True),
                              ("vol0", "/srv/mvm/volumes/pg.ext4", False)]
        else:
            assert drives == [("rootfs", "/rootfs.ext4", False), ("config", "/config.ext4", True),
                              ("secrets", "/secrets.ext4", True), ("vol0", "/vol0.ext4", False)]
            jail = firecracker.jail_steps(spec, o, "/srv/mvm/vms/web", paths)[0][1]
            assert "cp --sparse=always /srv/mvm/vms/web/secrets.ext4 /srv/jailer/firecracker/web/root/secrets.ext4" in jail
            assert "ln /srv/mvm/volumes/pg.ext4 /srv/jailer/firecracker/web/root/vol0.ext4" in jail
        boot = next(c.body for c in calls if c.path == "/boot-source")["boot_args"]
        assert boot.endswith("mvm.config=vdb mvm.secrets=vdc mvm.volumes=vdd:/var/lib/pg")


def test_mvms_kernel_boots_without_an_initrd_straight_into_init(contract) -> None:
    """An image built with kernel: mvm: /boot-source has no initrd_path, the arguments start mvm's init."""
    spec = machine(initrd=None, kernel_source="mvm")
    o = firecracker.options({"vsock_cid": 3})
    calls = firecracker.boot_calls(spec, o, firecracker.layout("/srv/mvm/vms/web", spec, o), "/srv/mvm/vms/web")
    for call in calls:
        assert contract.check_call(call.method, call.path, call.body) == [], call
    boot = next(c.body for c in calls if c.path == "/boot-source")
    assert "initrd_path" not in boot and boot["kernel_image_path"] == "/srv/mvm/images/default/vmlinux"
    assert " init=/init " in boot["boot_args"] and "mvm.agent=vsock:3:1024" in boot["boot_args"]
