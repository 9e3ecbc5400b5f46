"""Golden plans across backends and transitions (issue #22): for each case, the exact steps, commands,
warnings and result the engine plans, or the exact error it refuses with, kept in tests/golden/matrix-*.txt
and reviewed in the diff. Hosts are the recorded probe outputs of tests/support/probes.py and
tests/fixtures/recorded; VM specs on the host are written out by hand (tests/unit/test_firecracker.fc_applied).

Regenerate on purpose with `MVM_GOLDEN=update make test-fast`, then read the diff.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import ops, probe
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from tests.support import frontends, golden
from tests.support.golden import recorded
from tests.support.probes import HOSTS, LINUX_PVM_QEMU, applied, image_lines, vm_lines
from tests.unit.test_container_backends import APPLE, MAC, container_ls, mac_applied, mac_image
from tests.unit.test_firecracker import FC_ARM, FC_HOST, fc_applied, fc_image, fc_snapshot_line, running_line
from tests.unit.test_lima import TwoHosts
from tests.unit.test_lima import instance as lima_instance

IMG = "0123456789abcdef"
NET = {"name": "br0", "ip": "10.77.0.2", "prefix": 24, "gateway": "10.77.0.1", "mac": "02:00:00:00:00:02",
       "tap": "mvmtap2", "slot": 2}
BR0 = ('net\tbr0\t{"gateway":"10.77.0.1","nat":false,"prefix":24,"subnet":"10.77.0.0/24","uplink":null}\n'
       'links\t[{"ifname":"br0","flags":["UP"],"linkinfo":{"info_kind":"bridge"},"addr_info":[{"family":"inet",'
       '"local":"10.77.0.1","prefixlen":24}]}]\n')
FC = FC_HOST + fc_image()
FC_VM = {"name": "web", "image": "default", "backend": "firecracker"}
FC_RUNNING = FC + running_line("web", fc_applied(), status="Running")
FC_PAUSED = FC + running_line("web", fc_applied(), status="Paused")
FC_UNJAILED = dict(FC_VM, firecracker={"jailer": False})
FC_UNJAILED_RUNNING = FC + running_line("web", fc_applied(jailer=False, uid=0, gid=0), status="Running")
FC_NET_RUNNING = (FC + BR0.split("links")[0] + 'lease\tbr0\tweb\t{"ip":"10.77.0.2","mac":"02:00:00:00:00:02","slot":2,'
                  '"tap":"mvmtap2","made_tap":true}\n' + 'links\t[{"ifname":"br0","flags":["UP"],"linkinfo":{"info_kind":'
                  '"bridge"},"addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24}]},{"ifname":"mvmtap2",'
                  '"flags":["UP"],"master":"br0","linkinfo":{"info_kind":"tun","info_data":{"type":"tap"}},'
                  '"addr_info":[]}]\n' + running_line("web", dict(fc_applied(network=NET), ports=["8080:80/tcp"]),
                                                       status="Running"))
IPTABLES = "tool\tiptables\tpath\t/usr/sbin/iptables\ntool\tiptables\tversion\tiptables v1.8.9 (nf_tables)\n"
DOCKER = HOSTS["linux-kvm-no-firecracker-docker"] + image_lines("default", IMG)
DOCKER_VM = {"name": "box", "image": "default", "backend": "docker"}
QEMU = LINUX_PVM_QEMU + image_lines("default", IMG)
QEMU_VM = {"name": "web", "image": "default", "backend": "qemu"}
APPLE_HOST = MAC + mac_image()
SNAP_S1 = ('snapshot\ts1\t{"format":1,"name":"s1","vm":"tpl","backend":"qemu","memory_mib":384,"cpus":2,"applied":%s}\n'
           % json.dumps(applied("tpl", memory=384, cpus=2, image_id=IMG, kernel_args="mvm.httpd=80")))

SNAP_PATHS = ('snapshot\ts2\t{"format":1,"name":"s2","vm":"tpl","backend":"qemu","memory_mib":256,"cpus":1,"applied":%s}\n'
              % json.dumps(dict(applied("tpl", image_id=IMG), image=None, image_id=None, kernel="/boot/vmlinuz", initrd=None,
                                rootfs="/srv/r.ext4")))
INSTALLED = ('host\tfc_installed\t{"version":"1.14.1","arch":"x86_64","source":"x","sha256":"%s","binary_sha256":"%s"}\n'
             % ("a" * 64, "b" * 64))

# The recorded host after everything was removed, with bridge mvmbr0 (its link, record and the uplink) as the
# recorded running host had it: a bridge without VMs or rules.
CLEAN_WITH_BRIDGE = recorded("probe-after-absent.txt") + "".join(
    line + "\n" for line in recorded("probe-qemu-running.txt").splitlines()
    if line.startswith(("links\t", "net\tmvmbr0", "host\tuplink")))
# A port rule of another state root on the same host (another scope): not this root's to count or remove.
FOREIGN_RULE = ('ipt\tnat\t-A PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 7070 -m comment --comment '
                '"mvm:aaaaaa:vm:web:tcp7070:eb3e035e" -j DNAT --to-destination 10.77.0.2:80\n')
TAP_LINKS = ('links\t[{"ifname":"mvmbr0","flags":["UP"],"linkinfo":{"info_kind":"bridge"},"addr_info":[]},'
             '{"ifname":"mvmtap2","flags":["UP"],"master":"mvmbr0","linkinfo":{"info_kind":"tun","info_data":'
             '{"type":"tap"}},"addr_info":[]}]\n')

CASES: list[tuple] = [
    # Firecracker
    ("fc-fresh-config-file", "vm", dict(FC_UNJAILED, firecracker={"jailer": False, "api": False}), FC),
    ("fc-fresh-options", "vm", dict(FC_VM, cpus=2, memory=512, kernel_args="quiet", hostname="w1",
                                    firecracker={"vsock_cid": 7, "enable_pci": True, "seccomp_filter": "/etc/fc.bpf",
                                                 "drives": [{"id": "data", "path": "/srv/data.ext4",
                                                             "read_only": False}]}), FC),
    ("fc-fresh-network", "vm", dict(FC_VM, network="br0", ports=["8080:80"]), FC + BR0 + IPTABLES),
    ("fc-fresh-aarch64", "vm", FC_UNJAILED, FC_ARM + fc_image()),
    ("fc-converged", "vm", FC_VM, FC_RUNNING),
    ("fc-stop", "vm", dict(FC_VM, state="stopped"), FC_RUNNING),
    ("fc-stop-aarch64", "vm", dict(FC_UNJAILED, state="stopped"),
     FC_ARM + fc_image() + running_line("web", fc_applied(arch="aarch64", jailer=False, uid=0, gid=0))),
    ("fc-pause", "vm", dict(FC_VM, state="paused"), FC_RUNNING),
    ("fc-resume", "vm", FC_VM, FC_PAUSED),
    ("fc-absent", "vm", {"name": "web", "state": "absent"}, FC_RUNNING),
    ("fc-absent-unjailed", "vm", {"name": "web", "state": "absent"}, FC_UNJAILED_RUNNING),
    ("fc-absent-networked", "vm", {"name": "web", "state": "absent"}, FC_NET_RUNNING),
    ("fc-memory-pending", "vm", dict(FC_VM, memory=512), FC_RUNNING),
    ("fc-memory-recreate", "vm", dict(FC_VM, memory=512, recreate=True), FC_RUNNING),
    ("fc-cpus-restart", "vm", dict(FC_VM, cpus=2), FC_RUNNING),
    ("fc-stopped-started", "vm", FC_VM, FC + "vm\tweb\tdir\t/srv/mvm/vms/web\nvm\tweb\tspec\t%s\n"
     % json.dumps(fc_applied(), sort_keys=True, separators=(",", ":"))),
    ("fc-stale-pid", "vm", FC_VM, FC + "vm\tweb\tdir\t/srv/mvm/vms/web\nvm\tweb\tstale\t1\nvm\tweb\tspec\t%s\n"
     % json.dumps(fc_applied(), sort_keys=True, separators=(",", ":"))),
    ("fc-template", "template", {"name": "tpl", "image": "default", "backend": "firecracker"}, FC),
    # Docker
    ("docker-fresh-options", "vm", dict(DOCKER_VM, cpus=2, memory=512, kernel_args="mvm.httpd=80", hostname="b1",
                                        ports=["8080:80", "5353:53/udp"]), DOCKER),
    ("docker-no-daemon", "vm", DOCKER_VM, HOSTS["linux-no-kvm-no-docker"] + image_lines("default", IMG)),
    ("docker-snapshot", "snapshot", {"name": "s1", "vm": "box"}, recorded("probe-docker-running.txt")),
    ("docker-ports-changed", "vm", dict(DOCKER_VM, ports=["8080:80"]), recorded("probe-docker-running.txt")),
    ("docker-ports-recreate", "vm", dict(DOCKER_VM, ports=["8080:80"], recreate=True),
     recorded("probe-docker-running.txt")),
    ("docker-template", "template", {"name": "tpl", "image": "default", "backend": "docker"}, DOCKER),
    # Apple Container
    ("apple-fresh-options", "vm", dict(APPLE, cpus=2, memory=512, kernel_args="quiet", hostname="a1"), APPLE_HOST),
    ("apple-stop", "vm", dict(APPLE, state="stopped"), APPLE_HOST + container_ls("running", mac_applied())),
    ("apple-start", "vm", APPLE, APPLE_HOST + container_ls("stopped", mac_applied())),
    ("apple-absent", "vm", {"name": "web", "state": "absent", "backend": "apple-container"},
     APPLE_HOST + container_ls("running", mac_applied())),
    ("apple-memory", "vm", dict(APPLE, memory=512, recreate=True), APPLE_HOST + container_ls("running", mac_applied())),
    ("apple-pause", "vm", dict(APPLE, state="paused"), APPLE_HOST + container_ls("running", mac_applied())),
    ("apple-no-service", "vm", APPLE, APPLE_HOST.replace("host\tcontainer_service\t1\n", "")),
    # QEMU
    ("qemu-fresh-options", "vm", dict(QEMU_VM, cpus=2, memory=512, kernel_args="quiet", hostname="w1"), QEMU),
    ("qemu-tap", "vm", dict(QEMU_VM, tap="tap0"), QEMU),
    ("qemu-ports-without-network", "vm", dict(QEMU_VM, ports=["8080:80"]), QEMU),
    ("qemu-stale-pid", "vm", QEMU_VM, QEMU + "vm\tweb\tdir\t/srv/mvm/vms/web\nvm\tweb\tstale\t1\nvm\tweb\tspec\t%s\n"
     % json.dumps(applied("web", image_id=IMG), sort_keys=True, separators=(",", ":"))),
    ("qemu-image-missing", "vm", dict(QEMU_VM, image="other"), QEMU),
    ("qemu-image-changed", "vm", dict(QEMU_VM, recreate=True), QEMU + vm_lines("web", applied("web", image_id="f" * 16),
                                                                             4242)),
    ("qemu-template", "template", {"name": "tpl", "image": "default", "backend": "qemu"}, QEMU),
    ("qemu-restore", "vm", dict(QEMU_VM, snapshot="s1"), QEMU + 'snapshot\ts1\t{"format":1,"name":"s1","vm":"tpl",'
     '"backend":"qemu","memory_mib":256,"cpus":1,"applied":%s}\n' % json.dumps(applied("tpl", image_id=IMG))),
    # Many VMs at once
    ("vms-qemu", "vms", {"vms": [{"name": "a"}, {"name": "b", "memory": 384}], "image": "default", "backend": "qemu"},
     QEMU),
    ("vms-fc-network", "vms", {"vms": [{"name": "a"}, {"name": "b"}], "image": "default", "backend": "firecracker",
                               "network": "br0"}, FC + BR0),
    ("vms-absent", "vms", {"vms": [{"name": "web", "state": "absent"}]}, FC_RUNNING),
    # Snapshots restored into a new VM (the snapshotted machine: memory, cpus, kernel arguments)
    ("qemu-snapshot-restored", "snapshot", {"name": "s1", "state": "restored", "vm": "copy"}, QEMU + SNAP_S1),
    ("qemu-snapshot-restored-memory", "vm", dict(QEMU_VM, name="copy", snapshot="s1"), QEMU + SNAP_S1),
    ("qemu-snapshot-absent", "snapshot", {"name": "s1", "state": "absent"}, QEMU + SNAP_S1),
    ("qemu-restore-kernel-paths", "snapshot", {"name": "s2", "state": "restored", "vm": "copy"}, QEMU + SNAP_PATHS,
     {"/boot/vmlinuz": "ab" * 32, "/srv/r.ext4": "cd" * 32}),
    # Firecracker restores, per contract version (the bodies are contract-checked in test_firecracker)
    ("fc-restore-1.14.1", "vm", dict(FC_VM, network="br0", snapshot="s1", firecracker={"vsock_cid": 3}),
     FC + BR0 + fc_snapshot_line("s1", fc_applied("tpl", vsock_cid=3, network=NET))),
    ("fc-restore-1.16.1", "vm", dict(FC_VM, network="br0", snapshot="s1", firecracker={"vsock_cid": 3}),
     FC.replace("Firecracker v1.14.1", "Firecracker v1.16.1") + BR0
     + fc_snapshot_line("s1", fc_applied("tpl", vsock_cid=3, network=NET))),
    # More container transitions
    ("docker-create-stopped", "vm", dict(DOCKER_VM, state="stopped", ports=["8080:80"]), DOCKER),
    ("docker-stop-paused", "vm", dict(DOCKER_VM, state="stopped"), recorded("probe-docker-paused.txt")),
    ("docker-image-changed", "vm", dict(DOCKER_VM, recreate=True), recorded("probe-docker-running.txt").replace(
        "image\tdefault\t", "image\tgone\t") + image_lines("default", IMG)),
    ("docker-kernel-paths", "vm", {"name": "box", "backend": "docker", "kernel": "/k", "rootfs": "/r.ext4"}, DOCKER,
     {"/k": "ab" * 32, "/r.ext4": "cd" * 32}),
    ("apple-create-stopped", "vm", dict(APPLE, state="stopped", ports=["8080:80"]), APPLE_HOST),
    # Images: another architecture, no Debian kernel for it, too little disk, a kernel path with an initrd
    ("image-aarch64", "image", {}, FC_ARM.replace("tool\tbusybox\tpath", "tool\tapt-get\tpath\t/usr/bin/apt-get\n"
                                                   "tool\tdpkg-deb\tpath\t/usr/bin/dpkg-deb\ntool\tbusybox\tpath")),
    ("image-riscv64", "image", {}, LINUX_PVM_QEMU.replace("host\tarch\tx86_64", "host\tarch\triscv64")),
    ("image-no-space", "image", {"rootfs_size": "2G"}, LINUX_PVM_QEMU.replace("disk_free_kib\t83000000",
                                                                            "disk_free_kib\t4000000")),
    ("image-kernel-initrd", "image", {"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img"}, LINUX_PVM_QEMU,
     {"/boot/vmlinuz": "ab" * 32, "/boot/initrd.img": "ef" * 32}),
    ("image-flake", "image", {"flake": "/srv/guest#vm"}, LINUX_PVM_QEMU + "tool\tnix\tpath\t/usr/bin/nix\n"
     "tool\tnix\tversion\tnix (Nix) 2.24.9\nhost\tnix_features\tnix-command flakes\n"),
    ("image-rebuilt", "image", {"rootfs_size": 128}, QEMU),
    ("vms-kernel-paths", "vms", {"vms": [{"name": "a"}], "backend": "qemu", "kernel": "/k", "rootfs": "/r.ext4"}, QEMU,
     {"/k": "ab" * 32, "/r.ext4": "cd" * 32}),
    # Firecracker install: from a local file, converged, recorded for another architecture, absent
    ("install-src", "firecracker_install", {"version": "1.14.1", "sha256": "a" * 64, "src": "/srv/fc.tgz"},
     LINUX_PVM_QEMU, {"/srv/fc.tgz": "a" * 64}),
    ("install-converged", "firecracker_install", {"version": "1.14.1", "sha256": "a" * 64}, LINUX_PVM_QEMU + INSTALLED,
     {"/usr/local/bin/firecracker": "b" * 64}),
    ("install-other-arch", "firecracker_install", {"version": "1.14.1", "sha256": "a" * 64},
     LINUX_PVM_QEMU + INSTALLED.replace("x86_64", "aarch64"), {"/usr/local/bin/firecracker": "b" * 64}),
    ("install-absent", "firecracker_install", {"version": "1.14.1", "state": "absent"}, LINUX_PVM_QEMU + INSTALLED,
     {"/usr/local/bin/firecracker": "b" * 64}),
    # Networks: NAT without an uplink, an explicit uplink, a forward removed without its guest port
    ("bridge-nat-no-uplink", "bridge", {"name": "br1", "subnet": "10.78.0.0/24", "nat": True}, LINUX_PVM_QEMU),
    ("bridge-nat-uplink", "bridge", {"name": "br1", "subnet": "10.78.0.0/24", "nat": True, "uplink": "wan0"},
     LINUX_PVM_QEMU),
    ("forward-absent-no-guest-port", "port_forward", {"host_port": 9090, "state": "absent"},
     recorded("probe-iptables-legacy.txt")),
    # vms: nothing asked, a name twice, two state roots
    ("vms-empty", "vms", {"vms": []}, QEMU),
    ("vms-duplicate", "vms", {"vms": [{"name": "a"}, {"name": "a"}], "image": "default", "backend": "qemu"}, QEMU),
    ("vms-two-roots", "vms", {"vms": [{"name": "a", "state_root": "/srv/one"}, {"name": "b", "state_root": "/srv/two"}],
                              "image": "default", "backend": "qemu"}, QEMU),
    # Firecracker details: explicit uid/gid, a paused VM stopped, the jailer asked for but missing
    ("fc-restored-converged", "vm", dict(FC_VM, snapshot="s1"), FC + running_line(
        "web", dict(fc_applied(), snapshot="s1"), status="Running") + fc_snapshot_line("s1", fc_applied("tpl"))),
    ("fc-absent-network-gone", "vm", {"name": "web", "state": "absent"}, FC + running_line(
        "web", dict(fc_applied(network=NET)), status="Running")),
    ("qemu-restore-network", "vm", dict(QEMU_VM, snapshot="s1", network="mvmbr0"),
     CLEAN_WITH_BRIDGE
     + 'snapshot\ts1\t{"format":1,"name":"s1","vm":"tpl","backend":"qemu","memory_mib":256,"cpus":1,"applied":%s}\n'
     % json.dumps(applied("tpl", image_id="7654fb4640a5c90d", network=dict(NET, name="mvmbr0", tap="mvmtap9")))),
    ("fc-uid-gid", "vm", dict(FC_VM, firecracker={"uid": 12000, "gid": 12001}), FC),
    ("fc-stop-paused", "vm", dict(FC_VM, state="stopped"), FC_PAUSED),
    ("fc-paused-api-false", "vm", dict(FC_UNJAILED, state="paused", firecracker={"jailer": False, "api": False}), FC),
    ("fc-ports-without-network", "vm", dict(FC_VM, ports=["8080:80"]), FC),
    ("fc-jailer-missing", "vm", dict(FC_VM, firecracker={"jailer": True}),
     FC.replace("tool\tjailer\t", "tool\tgone\t")),
    # A networked VM leaving its network; a VM on a network promised earlier in the run
    ("qemu-leaves-network", "vm", dict(QEMU_VM, recreate=True), recorded("probe-qemu-running.txt")),
    # Taps, templates with paths and networks, bridges without NAT, an uplink error listing the interfaces
    ("tap-absent", "tap", {"name": "mvmtap2", "state": "absent"}, LINUX_PVM_QEMU + TAP_LINKS),
    ("tap-owner-changed", "tap", {"name": "mvmtap2", "bridge": "mvmbr0", "user": "1000", "group": "1001"},
     LINUX_PVM_QEMU + TAP_LINKS + "tapown\tmvmtap2\t1000\t1000\n"),
    ("template-kernel-paths", "template", {"name": "tpl", "backend": "qemu", "kernel": "/k", "initrd": "/i",
                                           "rootfs": "/r.ext4"}, QEMU, {"/k": "ab" * 32, "/i": "ef" * 32, "/r.ext4": "cd" * 32}),
    ("template-network", "template", {"name": "tpl", "image": "default", "backend": "qemu", "network": "mvmbr0"},
     CLEAN_WITH_BRIDGE),
    ("bridge-no-nat", "bridge", {"name": "br1", "subnet": "10.78.0.0/24"}, LINUX_PVM_QEMU),
    ("bridge-uplink-missing", "bridge", {"name": "br1", "subnet": "10.78.0.0/24", "nat": True, "uplink": "wan0"},
     recorded("probe-after-absent.txt")),
    ("lima-present", "lima", {"name": "mvm", "state": "present", "provision": ["kvm_group", "firecracker"]},
     HOSTS["macos-15-arm64"]),
    ("lima-absent-missing", "lima", {"name": "mvm", "state": "absent"}, HOSTS["macos-15-arm64"]),
    # Lima
    ("lima-vm-no-inner-facts", "vm", dict(FC_VM, backend="lima"), HOSTS["macos-15-arm64"] + lima_instance("Running")),
    ("lima-vm-firecracker", "vm", dict(FC_VM, backend="lima"), HOSTS["macos-15-arm64"]),
    ("lima-create", "lima", {"name": "mvm", "vm_type": "vz", "arch": "aarch64", "cpus": 2, "memory": 2048, "disk": 20},
     HOSTS["macos-15-arm64"]),
    ("lima-resize", "lima", {"name": "mvm", "vm_type": "vz", "arch": "aarch64", "allow_restart": True},
     HOSTS["macos-15-arm64"] + lima_instance("Running", cpus=2)),
    ("lima-resize-pending", "lima", {"name": "mvm", "vm_type": "vz", "arch": "aarch64"},
     HOSTS["macos-15-arm64"] + lima_instance("Running", cpus=2)),
    ("lima-disk-and-type-pending", "lima", {"name": "mvm", "vm_type": "qemu", "arch": "aarch64", "disk": 200},
     HOSTS["macos-15-arm64"] + lima_instance("Running")),
    ("lima-absent", "lima", {"name": "mvm", "state": "absent"}, HOSTS["macos-15-arm64"] + lima_instance("Running")),
]

GOLDEN_NAMES = {"matrix-lima-wrapped-%s.txt" % s for s in ("fresh", "absent")} | {"matrix-%s.txt" % c[0] for c in CASES}
GOLDEN_NAMES |= {"matrix-report-%s.json" % h for h in (
    "fc-running", "fc-unjailed", "fc-networked", "apple", "docker", "fc-custom-seccomp", "unhealthy-bridge",
    "nat-rules-missing", "nft-only", "linux-aarch64-qemu", "macos-arm64-qemu")}
GOLDEN_NAMES |= {"matrix-report-host-%s.json" % h for h in HOSTS} | {"matrix-restore-pending.txt",
                                                                     "matrix-network-pending.txt"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_golden_matrix(case: tuple) -> None:
    name, kind, params, facts = case[:4]
    golden.check("matrix-%s.txt" % name, golden.render(kind, params, facts, case[4] if len(case) > 4 else None))


REPORTS = [
    ("fc-running", FC_RUNNING), ("fc-unjailed", FC_UNJAILED_RUNNING), ("fc-networked", FC_NET_RUNNING),
    ("apple", APPLE_HOST + container_ls("running", mac_applied())), ("docker", recorded("probe-docker-running.txt")),
    ("fc-custom-seccomp", FC + running_line("web", fc_applied(seccomp_filter="/etc/fc.bpf"), status="Running")),
    ("unhealthy-bridge", LINUX_PVM_QEMU + BR0.split("links")[0]),
    ("nat-rules-missing", "\n".join(line for line in recorded("probe-iptables-legacy.txt").splitlines()
                                     if ":br:mvmbr0:nat:" not in line) + "\n" + FOREIGN_RULE),
    ("nft-only", LINUX_PVM_QEMU.replace("tool\tiptables\t", "tool\tgone\t") + "tool\tnft\tpath\t/usr/sbin/nft\n"),
    ("linux-aarch64-qemu", HOSTS["linux-aarch64-kvm-firecracker"] + "tool\tqemu-system-aarch64\tpath\t/usr/bin/q\n"),
    ("macos-arm64-qemu", HOSTS["macos-15-arm64"] + "tool\tqemu-system-aarch64\tpath\t/opt/homebrew/bin/q\n"),
] + [("host-" + name, text) for name, text in sorted(HOSTS.items())]


@pytest.mark.parametrize("name,facts", REPORTS, ids=[r[0] for r in REPORTS])
def test_golden_host_report(name: str, facts: str) -> None:
    """The facts module's report (platform, backends, security posture per VM) for hosts with VMs on them."""
    report = ops.host_report(probe.parse_host(facts))
    golden.check("matrix-report-%s.json" % name, json.dumps(report, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("state", ["fresh", "absent"])
def test_golden_lima_wrapped_vm(state: str) -> None:
    """A Lima-backed VM: the native Firecracker plan from the facts inside the instance, sent through limactl."""
    inner = HOSTS["linux-aarch64-kvm-firecracker"].replace("host\tstate_root\t/srv/mvm", "host\tstate_root\t/var/lib/mvm")
    inner += image_lines("default", IMG).replace("/srv/mvm", "/var/lib/mvm")
    if state == "absent":
        inner += running_line("web", fc_applied(arch="aarch64", jailer=False, uid=0, gid=0)).replace("/srv/mvm", "/var/lib/mvm")
    params = dict(FC_VM, backend="lima") if state == "fresh" else {"name": "web", "backend": "lima", "state": "absent"}
    rec = TwoHosts(HOSTS["macos-15-arm64"] + lima_instance("Running"), inner)
    gather_host, gather_paths = ops.run_probe(rec.run)
    plan = ops.vm_plan(params, gather_host, gather_paths, gather_in=ops.run_probe_in(rec.run))[1]
    golden.check("matrix-lima-wrapped-%s.txt" % state, golden.plan_text(plan))


def test_restore_from_a_snapshot_planned_earlier_in_the_run() -> None:
    """pyinfra plans a whole deploy before running it: a snapshot made earlier in the run is restored from the
    metadata that operation promised (pending), not from the host, where it does not exist yet."""
    meta = json.loads(SNAP_S1.split("\t", 2)[2])
    plan = frontends.engine("snapshot", {"name": "s1", "state": "restored", "vm": "copy"}, frontends.Recording(QEMU),
                            pending={"snapshots": {"s1": meta}})
    golden.check("matrix-restore-pending.txt", golden.plan_text(plan))
    with pytest.raises(MvmError, match="^name: no snapshot named 's1'"):
        frontends.engine("snapshot", {"name": "s1", "state": "restored", "vm": "copy"}, frontends.Recording(QEMU))


def test_an_empty_vms_list_asks_the_host_nothing() -> None:
    rec = frontends.Recording(QEMU)
    assert frontends.engine("vms", {"vms": []}, rec).steps == [] and rec.commands == []


def test_vm_on_a_network_promised_earlier_in_the_run() -> None:
    record = {"gateway": "10.79.0.1", "nat": False, "prefix": 24, "subnet": "10.79.0.0/24", "uplink": None, "leases": {}}
    plan = frontends.engine("vm", dict(QEMU_VM, network="br9"), frontends.Recording(QEMU),
                            pending={"networks": {"br9": record}})
    golden.check("matrix-network-pending.txt", golden.plan_text(plan))


@pytest.mark.parametrize("kind,params", [
    ("vm", QEMU_VM), ("vms", {"vms": [{"name": "a"}], "image": "default", "backend": "qemu"}), ("image", {}),
    ("bridge", {"name": "b", "subnet": "10.78.0.0/24"}),
    ("tap", {"name": "t0"}), ("port_forward", {"host_port": 9090, "guest": "10.77.0.9", "guest_port": 80}),
    ("snapshot", {"name": "s1", "state": "absent"}), ("template", {"name": "t", "state": "absent"}),
    ("firecracker_install", {"version": "1.14.1", "state": "absent"}), ("lima", {"name": "mvm", "state": "absent"}),
])
def test_every_operation_probes_the_state_root_it_was_given(kind: str, params: dict[str, Any]) -> None:
    rec = frontends.Recording(QEMU)
    try:
        frontends.engine(kind, dict(params, state_root="/srv/other-root"), rec)
    except MvmError:
        pass  # what matters is which host state was asked for
    assert rec.commands and all("r=/srv/other-root\n" in c for c in rec.commands if "probe_version" in c), kind


def test_a_template_promises_its_snapshot_to_later_operations() -> None:
    """pyinfra plans the whole deploy first: a restore later in the run reads the snapshot the template promised."""
    gather_host, gather_paths = ops.run_probe(frontends.Recording(QEMU).run)
    _params, plan, meta = ops.template_plan({"name": "tpl", "image": "default", "backend": "qemu"}, gather_host,
                                            gather_paths)
    assert meta and meta == plan.after["snapshot"]
    assert (meta["name"], meta["backend"], meta["memory_mib"], meta["vm"]) == ("tpl", "qemu", 256, "tpl-tpl")
