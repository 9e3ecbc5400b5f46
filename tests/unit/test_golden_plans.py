"""Golden plans (issue #22): for each backend and operation, the exact steps and commands the engine plans
from recorded facts, kept in tests/golden/<case>.txt and reviewed in the diff.

Front-end equality (test_plan_table) proves the wiring; these files pin the commands themselves. When a
change to the commands is intended, regenerate with `MVM_GOLDEN=update make test-fast` and review the diff.
Under CI a missing golden file fails instead of being written.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import golden
from tests.support.probes import HOSTS, LINUX_PVM_QEMU, applied, host, image_lines, vm_lines

IMG = "0123456789abcdef"
UPLINK = "host\tuplink\teth0\nhost\tip_forward\t0\n"
LINKS = ('links\t[{"ifname":"eth0","flags":["UP"],"addr_info":[]},{"ifname":"mvmbr0","flags":["UP"],'
         '"linkinfo":{"info_kind":"bridge"},"addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24}]}]\n')
RECORD = 'net\tmvmbr0\t{"gateway":"10.77.0.1","nat":true,"prefix":24,"subnet":"10.77.0.0/24","uplink":"eth0"}\n'
QEMU = host(extra=[UPLINK, LINKS, RECORD, image_lines("default", IMG)])
FC = HOSTS["linux-x86_64-kvm-firecracker"].replace("host\tuid\t501", "host\tuid\t0") + image_lines("default", IMG)
DOCKER = HOSTS["linux-kvm-no-firecracker-docker"] + image_lines("default", IMG)
APPLE = HOSTS["macos-26-arm64"] + image_lines("default", IMG)
NFT = QEMU.replace("tool\tiptables\t", "tool\tgone\t") + "tool\tnft\tpath\t/usr/sbin/nft\n"
RUNNING = QEMU + vm_lines("web", applied("web", image_id=IMG), 4242)

CASES: list[tuple[str, str, dict[str, Any], str, dict[str, str]]] = [
    ("image-debian", "image", {}, host(), {}),
    ("image-kernel-path", "image", {"kernel": "/boot/vmlinux"}, host(), {"/boot/vmlinux": "ab" * 32}),
    ("vm-qemu-fresh", "vm", {"name": "web", "image": "default", "backend": "qemu"}, QEMU, {}),
    ("vm-qemu-network-ports", "vm", {"name": "web", "image": "default", "backend": "qemu", "network": "mvmbr0",
                                     "ports": ["8080:80"]}, QEMU, {}),
    ("vm-qemu-memory-restart", "vm", {"name": "web", "image": "default", "backend": "qemu", "memory": 384},
     RUNNING, {}),
    ("vm-qemu-stop", "vm", {"name": "web", "image": "default", "backend": "qemu", "state": "stopped"}, RUNNING, {}),
    ("vm-qemu-absent", "vm", {"name": "web", "state": "absent"}, RUNNING, {}),
    ("vm-firecracker-unjailed", "vm", {"name": "web", "image": "default", "backend": "firecracker",
                                       "firecracker": {"jailer": False}}, FC, {}),
    ("vm-firecracker-jailed", "vm", {"name": "web", "image": "default", "backend": "firecracker"}, FC, {}),
    ("vm-docker", "vm", {"name": "web", "image": "default", "backend": "docker", "ports": ["8080:80"]}, DOCKER, {}),
    ("vm-apple-container", "vm", {"name": "web", "image": "default", "backend": "apple-container"}, APPLE, {}),
    ("bridge-nat-iptables", "bridge", {"name": "mvmbr1", "subnet": "10.78.0.0/24", "nat": True}, QEMU, {}),
    ("bridge-nat-nft", "bridge", {"name": "mvmbr1", "subnet": "10.78.0.0/24", "nat": True}, NFT, {}),
    ("tap", "tap", {"name": "tap0", "bridge": "mvmbr0", "user": "1000"}, QEMU, {}),
    ("port-forward", "port_forward", {"host_port": 9090, "guest": "10.77.0.9", "guest_port": 80,
                                      "network": "mvmbr0"}, QEMU, {}),
    ("snapshot-qemu", "snapshot", {"name": "s1", "vm": "web"}, RUNNING, {}),
    ("firecracker-install", "firecracker_install", {"version": "1.14.1", "sha256": "a" * 64}, host(), {}),
]


@pytest.mark.parametrize("name,kind,params,facts,files", CASES, ids=[c[0] for c in CASES])
def test_golden_plan(name: str, kind: str, params: dict[str, Any], facts: str, files: dict[str, str]) -> None:
    got = golden.render(kind, params, facts, files)
    assert got.startswith("# "), "a golden case must plan something"
    golden.check(name + ".txt", got)


def test_every_golden_file_has_a_case() -> None:
    from tests.unit import test_firecracker, test_golden_matrix, test_recorded_outputs

    names = ({c[0] + ".txt" for c in CASES} | test_recorded_outputs.GOLDEN_NAMES | test_firecracker.GOLDEN_NAMES
             | test_golden_matrix.GOLDEN_NAMES | {"errors.txt"})
    assert sorted(p.name for p in golden.GOLDEN.iterdir() if p.name not in names) == []
    assert LINUX_PVM_QEMU  # the recorded host the qemu cases start from
