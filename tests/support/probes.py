"""Recorded host probe outputs, composed per case: what a host looked like, as the probe prints it."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

ROOT = "/srv/mvm"

# Recorded on this machine kind (Debian 12, kvm_pvm only, qemu installed), state root renamed.
LINUX_PVM_QEMU = """\
host\tprobe_version\t1
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
tool\tbusybox\tpath\t/usr/bin/busybox
tool\tmkfs.ext4\tpath\t/usr/sbin/mkfs.ext4
tool\tcpio\tpath\t/usr/bin/cpio
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
        "rootfs": f"{ROOT}/images/{image}/rootfs.ext4",
    }
    spec.update(extra)
    return spec


def vm_lines(name: str, spec: Mapping[str, Any] | None, pid: int | None) -> str:
    d = f"{ROOT}/vms/{name}"
    lines = [f"vm\t{name}\tdir\t{d}"]
    if pid:
        lines.append(f"vm\t{name}\tpid\t{pid}")
        lines.append(f"vm\t{name}\tqmp\t{d}/qmp.sock")
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
