"""Recorded host probe outputs, composed per case: what a host looked like, as the probe prints it."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

ROOT = "/srv/mvm"

# Recorded on this machine kind (Debian 12, kvm_pvm only, qemu installed), state root renamed.
LINUX_PVM_QEMU = """\
host\tprobe_version\t2
host\tstate_root\t/srv/mvm
host\tuid\t0
host\tuser\troot
host\tos\tLinux
host\tarch\tx86_64
host\tkernel\t6.18.44-fc-v657
host\tdistribution\tdebian
host\tdistribution_version\t12
host\tkvm_present\t1
host\tkvm_rw\t1
host\tkvm_module\tkvm
host\tkvm_module\tkvm_pvm
tool\tqemu-system-x86_64\tpath\t/usr/bin/qemu-system-x86_64
tool\tdocker\tpath\t/usr/local/bin/docker
tool\tip\tpath\t/usr/sbin/ip
tool\tiptables\tpath\t/usr/sbin/iptables
tool\tiptables\tversion\tiptables v1.8.9 (nf_tables)
tool\tbusybox\tpath\t/usr/bin/busybox
tool\tqemu-ga\tpath\t/usr/sbin/qemu-ga
tool\tmkfs.ext4\tpath\t/usr/sbin/mkfs.ext4
tool\tcpio\tpath\t/usr/bin/cpio
tool\tgzip\tpath\t/usr/bin/gzip
tool\tsetsid\tpath\t/usr/bin/setsid
tool\tpython3\tpath\t/usr/bin/python3
tool\tapt-get\tpath\t/usr/bin/apt-get
tool\tdpkg-deb\tpath\t/usr/bin/dpkg-deb
tool\tqemu-system-x86_64\tversion\tQEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)
tool\tdocker\tversion\tDocker version 28.2.2, build e6534b4
host\tdocker_server\t
host\tdisk_free_kib\t83000000
"""


def with_kvm(text: str, module: str) -> str:
    """The same host with a hardware KVM module loaded."""
    return text.replace("host\tkvm_module\tkvm_pvm", "host\tkvm_module\t" + module)


def aarch64(text: str, kvm: bool = False) -> str:
    """An arm64 Linux host; arm KVM is built in (no vendor module), usable when /dev/kvm is."""
    text = (text.replace("host\tarch\tx86_64", "host\tarch\taarch64")
            .replace("qemu-system-x86_64", "qemu-system-aarch64")
            .replace("host\tkvm_module\tkvm_pvm\n", ""))
    if not kvm:
        text = text.replace("host\tkvm_present\t1\n", "").replace("host\tkvm_rw\t1\n", "")
    return text


def applied(name: str, memory: int = 256, cpus: int = 1, image: str = "default", image_id: str = "0123456789abcdef",
            accel: str = "tcg", arch: str = "x86_64", **extra: Any) -> dict[str, Any]:
    """An applied spec as the vm planner writes it to spec.json (written out by hand on purpose)."""
    spec = {
        "format": 1, "name": name, "backend": "qemu", "arch": arch, "accel": accel, "memory_mib": memory,
        "cpus": cpus, "image": image, "image_id": image_id, "kernel_args": "", "hostname": name,
        "kernel": f"{ROOT}/images/{image}/vmlinuz", "initrd": f"{ROOT}/images/{image}/initrd.img",
        "rootfs": f"{ROOT}/images/{image}/rootfs.ext4", "network": None, "ports": [], "snapshot": None,
        "tsc_khz": None,
    }
    spec.update(extra)
    return spec


def vm_lines(name: str, spec: Mapping[str, Any] | None, pid: int | None, ready: bool = True) -> str:
    d = f"{ROOT}/vms/{name}"
    lines = [f"vm\t{name}\tdir\t{d}"]
    if pid:
        lines.append(f"vm\t{name}\tpid\t{pid}")
        lines.append(f"vm\t{name}\tqmp\t{d}/qmp.sock")
        if ready:
            lines.append(f"vm\t{name}\tready\t1")
    if spec is not None:
        lines.append(f"vm\t{name}\tspec\t" + json.dumps(spec, sort_keys=True, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def image_lines(name: str, ident: str, initrd: bool = True) -> str:
    manifest = {"format": 1, "id": ident, "kernel": "vmlinuz", "rootfs": "rootfs.ext4",
                "initrd": "initrd.img" if initrd else None, "inputs": {}}
    return (f"image\t{name}\ttarget\t../artifacts/{ident}\n"
            f"image\t{name}\tmanifest\t{json.dumps(manifest)}\n"
            f"artifact\t{ident}\tdir\t{ROOT}/artifacts/{ident}\n")


def host(base: str = LINUX_PVM_QEMU, extra: Iterable[str] = ()) -> str:
    return base + "".join(extra)


def probe_text(os: str = "Linux", arch: str = "x86_64", kernel: str = "6.1.0-28-amd64", kvm: tuple = (),
               kvm_rw: bool = True, tools: dict[str, str] | None = None, docker_server: str = "",
               macos: str | None = None, wsl: bool = False, container_service: bool = False,
               lima_lines: tuple = (), extra: str = "") -> str:
    """A probe output in the probe's format, for hosts this machine is not (macOS, WSL2, KVM servers)."""
    lines = ["host\tprobe_version\t2", f"host\tstate_root\t{ROOT}", "host\tuid\t501", "host\tuser\tdev",
             f"host\tos\t{os}", f"host\tarch\t{arch}", f"host\tkernel\t{kernel}"]
    if wsl:
        lines.append("host\twsl\t1")
    if macos:
        lines.append(f"host\tmacos_version\t{macos}")
    else:
        lines += ["host\tdistribution\tubuntu", "host\tdistribution_version\t24.04"]
    if kvm:
        lines.append("host\tkvm_present\t1")
        if kvm_rw:
            lines.append("host\tkvm_rw\t1")
        lines += [f"host\tkvm_module\t{m}" for m in kvm]
    for name, version in (tools or {}).items():
        lines.append(f"tool\t{name}\tpath\t/usr/bin/{name}")
        if version:
            lines.append(f"tool\t{name}\tversion\t{version}")
    if "docker" in (tools or {}):
        lines.append(f"host\tdocker_server\t{docker_server}")
    if container_service:
        lines.append("host\tcontainer_service\t1")
    lines += [f"lima\t{line}" for line in lima_lines]
    lines.append("host\tdisk_free_kib\t52428800")
    return "\n".join(lines) + "\n" + extra


BASE_TOOLS = {"busybox": "", "qemu-ga": "", "mkfs.ext4": "", "cpio": "", "gzip": "", "python3": "", "setsid": "",
              "ip": "ip utility, iproute2-6.1.0"}
FC = {"firecracker": "Firecracker v1.14.1", "jailer": "Jailer v1.14.1"}
DOCKER = {"docker": "Docker version 27.3.1, build ce12230"}
LIMA = {"limactl": "limactl version 1.0.7"}
QEMU_X86 = {"qemu-system-x86_64": "QEMU emulator version 8.2.2"}

HOSTS = {
    "macos-26-arm64": probe_text("Darwin", "arm64", "25.0.0", macos="26.0.1",
                                 tools={"container": "container CLI version 0.5.0", **LIMA, **DOCKER},
                                 container_service=True, docker_server="27.3.1"),
    "macos-15-arm64": probe_text("Darwin", "arm64", "24.1.0", macos="15.1", tools={**LIMA}),
    "macos-14-x86_64": probe_text("Darwin", "x86_64", "23.6.0", macos="14.7", tools={**LIMA}),
    "linux-x86_64-kvm-firecracker": probe_text(kvm=("kvm", "kvm_intel"), tools={**BASE_TOOLS, **FC, **DOCKER},
                                               docker_server="27.3.1"),
    "linux-aarch64-kvm-firecracker": probe_text(arch="aarch64", kvm=("kvm",), tools={**BASE_TOOLS, **FC}),
    "linux-kvm-no-firecracker-docker": probe_text(kvm=("kvm", "kvm_amd"), tools={**BASE_TOOLS, **DOCKER},
                                                  docker_server="27.3.1"),
    "linux-no-kvm-docker": probe_text(tools={**BASE_TOOLS, **DOCKER, **LIMA}, docker_server="27.3.1"),
    "linux-no-kvm-no-docker": probe_text(tools={**BASE_TOOLS, **LIMA, **DOCKER}, docker_server=""),
    "wsl2-kvm": probe_text(kernel="5.15.153.1-microsoft-standard-WSL2", wsl=True, kvm=("kvm", "kvm_intel"),
                           tools={**BASE_TOOLS, **FC}),
    "wsl2-no-kvm": probe_text(kernel="5.15.153.1-microsoft-standard-WSL2", wsl=True,
                              tools={**BASE_TOOLS, **DOCKER}, docker_server="27.3.1"),
    "linux-pvm-only": probe_text(kvm=("kvm", "kvm_pvm"), tools={**BASE_TOOLS, **FC, **QEMU_X86}),
    "nothing-fits": probe_text(tools={"busybox": ""}),
}
