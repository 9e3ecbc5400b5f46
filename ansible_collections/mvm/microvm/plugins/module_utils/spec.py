# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired-state specs. Both front-ends hand the same parameter dicts to these constructors."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError

VM_STATES = ("running", "paused", "stopped", "absent")
IMAGE_STATES = ("present", "absent")
_FLAKE = re.compile(r"[^\s#'\"]+#[A-Za-z0-9_.+-]+")

VM_DEFAULTS = {
    "name": None,
    "state": "running",
    "backend": "auto",
    "image": None,
    "kernel": None,
    "initrd": None,
    "rootfs": None,
    "memory": 256,
    "cpus": 1,
    "kernel_args": "",
    "hostname": None,
    "boot_timeout": 60,
    "stop_timeout": 10,
    "state_root": None,
    "network": None,
    "ports": None,
    "tap": None,
    "snapshot": None,
    "firecracker": None,
    "lima_instance": "mvm",
    "recreate": False,
    "production": False,
    # The workload (see workload.py): None is the image's own.
    "command": None,
    "entrypoint": None,
    "workdir": None,
    "user": None,
    "env": None,
    "files": None,
    "secrets": None,
    "restart": "no",
    # Storage: named persistent data disks, and the size of the VM's own root disk (None: the image's).
    "volumes": None,
    "disk_size": None,
    "autostart": False,
    # Health (a workload option) and whether `running` waits for it; labels for inventories and selection.
    "health": None,
    "wait_healthy": True,
    "labels": None,
}

IMAGE_DEFAULTS = {
    "name": "default",
    "state": "present",
    "kernel": "auto",
    "initrd": None,
    "rootfs_size": None,  # 64 MiB for busybox; for an OCI image, its unpacked size and a margin
    "flake": None,
    "oci": None,
    "tls_verify": True,
    "debian": None,
    "format": "ext4",
    "bundle": None,
    "export": None,
    "state_root": None,
}
ROOTFS_FORMATS = ("ext4", "squashfs")
# Kernels mvm makes itself: Debian's cloud kernel (+ an initramfs with the virtio modules), or its own build from
# linux-source-6.1 with everything built in (kernel.py); `auto` chooses between them per host (kernel.choose).
# Anything else is a path.
KERNEL_SOURCES = ("auto", "debian", "mvm")
DEFAULT_ROOTFS_MIB = 64


@dataclass(frozen=True)
class VmSpec:
    """A microVM as the user wants it."""

    name: str
    state: str
    backend: str
    image: Optional[str]
    kernel: Optional[str]
    initrd: Optional[str]
    rootfs: Optional[str]
    memory_mib: int
    cpus: int
    kernel_args: str
    hostname: str
    boot_timeout: float
    stop_timeout: float
    state_root: Optional[str]
    network: Optional[str] = None
    ports: Tuple[Any, ...] = ()
    tap: Optional[str] = None
    snapshot: Optional[str] = None
    firecracker: Any = None
    lima_instance: str = "mvm"
    recreate: bool = False
    production: bool = False
    workload: Any = None  # workload.Workload
    volumes: Tuple[Any, ...] = ()  # volume.Attachment
    disk_size_mib: Optional[int] = None
    autostart: bool = False
    wait_healthy: bool = True
    labels: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImageSpec:
    """A kernel + rootfs to build: the inputs that address its artifact directory."""

    name: str
    state: str
    kernel: str
    initrd: Optional[str]
    rootfs_size_mib: Optional[int]  # None: sized to the image's tree (OCI sources)
    flake: Optional[str]
    state_root: Optional[str]
    oci: Optional[str] = None
    tls_verify: bool = True
    debian: Optional[Any] = None  # debian.Debian
    format: str = "ext4"
    bundle: Optional[Any] = None  # bundle.Source: the image is a bundle made elsewhere
    export: Optional[Any] = None  # bundle.Export: write the image's bundle (and signature) there


def vm_spec(params: Mapping[str, Any]) -> VmSpec:
    """Validate VM parameters; raise SpecError naming the first bad field."""
    from ansible_collections.mvm.microvm.plugins.module_utils import workload

    p = validate.options(params, VM_DEFAULTS, file_options=workload.FILE_OPTIONS)
    name = validate.name("name", p.get("name"))
    image = p["image"]
    # Each field on its own first, so a bad value is named before any rule between fields applies.
    kernel = validate.abs_path("kernel", p["kernel"], optional=True)
    initrd = validate.abs_path("initrd", p["initrd"], optional=True)
    rootfs = validate.abs_path("rootfs", p["rootfs"], optional=True)
    if image is not None:
        image = validate.name("image", image)
        if kernel or rootfs or initrd:
            raise SpecError("image", "give either image or kernel/initrd/rootfs paths, not both")
    elif p["state"] != "absent":
        if kernel is None:
            raise SpecError("kernel", "expected an absolute kernel path, or give image: NAME "
                                      "of an image built with the rootfs operation")
        if rootfs is None:
            raise SpecError("rootfs", "expected an absolute path of an ext4 rootfs image")
    return VmSpec(
        name=name,
        state=validate.choice("state", p["state"], VM_STATES),
        backend=validate.choice("backend", p["backend"], _backend_choices()),
        image=image,
        kernel=kernel,
        initrd=initrd,
        rootfs=rootfs,
        memory_mib=validate.size_mib("memory", p["memory"], minimum=32),
        cpus=validate.integer("cpus", p["cpus"], 1, 64),
        kernel_args=validate.text_line("kernel_args", p["kernel_args"]),
        hostname=validate.name("hostname", p["hostname"] or name, max_len=63),
        boot_timeout=validate.number("boot_timeout", p["boot_timeout"], 1, 3600),
        stop_timeout=validate.number("stop_timeout", p["stop_timeout"], 0, 3600),
        state_root=validate.abs_path("state_root", p["state_root"], optional=True),
        network=validate.ifname("network", p["network"]) if p["network"] else None,
        ports=_ports(p),
        tap=validate.ifname("tap", p["tap"]) if p["tap"] else None,
        snapshot=validate.name("snapshot", p["snapshot"]) if p["snapshot"] else None,
        firecracker=_firecracker(p),
        lima_instance=validate.name("lima_instance", p["lima_instance"]),
        recreate=validate.boolean("recreate", p["recreate"]),
        production=validate.boolean("production", p["production"]),
        workload=workload.options(p),
        volumes=_volumes(p),
        disk_size_mib=validate.size_mib("disk_size", p["disk_size"], minimum=16) if p["disk_size"] is not None else None,
        autostart=validate.boolean("autostart", p["autostart"]),
        wait_healthy=validate.boolean("wait_healthy", p["wait_healthy"]),
        labels=labels(p["labels"]),
    )


MAX_LABELS = 64


def labels(value: Any) -> Tuple[Tuple[str, str], ...]:
    """Labels: names as VM names are, values one line each (they become inventory groups and variables)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError("labels", "expected a dictionary of name: value; got %r" % (value,))
    if len(value) > MAX_LABELS:
        raise SpecError("labels", "expected at most %d labels" % MAX_LABELS)
    found = []
    for key, item in value.items():
        name = validate.name("labels", key)
        if item is None or isinstance(item, (dict, list)):
            raise SpecError("labels.%s" % name, "expected a string, number or boolean; got %r" % (item,))
        found.append((name, validate.text_line("labels.%s" % name, str(item).lower() if isinstance(item, bool)
                                               else str(item), 256)))
    return tuple(sorted(found))


def _volumes(p: Mapping[str, Any]) -> Tuple[Any, ...]:
    from ansible_collections.mvm.microvm.plugins.module_utils import volume

    return volume.attachments(p["volumes"])


def _backend_choices() -> Tuple[str, ...]:
    from ansible_collections.mvm.microvm.plugins.module_utils import registry

    return registry.CHOICES


def _firecracker(p: Mapping[str, Any]) -> Any:
    from ansible_collections.mvm.microvm.plugins.module_utils import firecracker

    return firecracker.options(p["firecracker"])


def _ports(p: Mapping[str, Any]) -> Tuple[Any, ...]:
    from ansible_collections.mvm.microvm.plugins.module_utils import network

    return network.ports("ports", p["ports"])


def image_spec(params: Mapping[str, Any]) -> ImageSpec:
    """Validate image (kernel + rootfs build) parameters."""
    p = validate.options(params, IMAGE_DEFAULTS)
    kernel = p["kernel"]
    if kernel not in KERNEL_SOURCES:
        if not str(kernel).startswith("/"):
            raise SpecError("kernel", "expected %s or an absolute path of a kernel file; got %r"
                            % (" or ".join(KERNEL_SOURCES), kernel))
        kernel = validate.abs_path("kernel", kernel)
    flake = p["flake"]
    if flake is not None and not _FLAKE.fullmatch(str(flake)):
        raise SpecError("flake", "expected FLAKEREF#ATTRIBUTE such as github:me/vms#web; got %r" % (flake,))
    from ansible_collections.mvm.microvm.plugins.module_utils import bundle, debian, oci

    ref = oci.reference(p["oci"]) if p["oci"] is not None else None
    deb = debian.options(p["debian"]) if p["debian"] is not None else None
    src = bundle.source(p["bundle"]) if p["bundle"] is not None else None
    given = [n for n, v in (("oci", ref), ("debian", deb), ("flake", flake), ("bundle", src)) if v]
    if len(given) > 1:
        raise SpecError(given[1], "give one image source (oci, debian, flake or bundle), not %s" % " and ".join(given))
    if src and (p["initrd"] or kernel not in ("auto",) or p["rootfs_size"] is not None or p["format"] != "ext4"):
        raise SpecError("bundle", "a bundle brings its own kernel, rootfs and format; leave kernel, initrd, "
                                  "rootfs_size and format out")
    size = p["rootfs_size"]
    return ImageSpec(
        name=validate.name("name", p["name"]),
        state=validate.choice("state", p["state"], IMAGE_STATES),
        kernel=kernel,
        initrd=validate.abs_path("initrd", p["initrd"], optional=True),
        rootfs_size_mib=validate.size_mib("rootfs_size", size, minimum=8) if size is not None
        else (None if ref or deb or src else DEFAULT_ROOTFS_MIB),
        flake=flake,
        state_root=validate.abs_path("state_root", p["state_root"], optional=True),
        oci=ref,
        tls_verify=validate.boolean("tls_verify", p["tls_verify"]),
        debian=deb,
        format=_format(p, flake),
        bundle=src,
        export=bundle.export(p["export"]) if p["export"] is not None else None,
    )


def _format(p: Mapping[str, Any], flake: Any) -> str:
    found = validate.choice("format", p["format"], ROOTFS_FORMATS)
    if found != "ext4" and flake:
        raise SpecError("format", "a flake's output is its own rootfs.ext4; squashfs is for the images mvm builds")
    return found
