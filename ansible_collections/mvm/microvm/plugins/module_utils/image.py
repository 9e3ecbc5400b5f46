# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel + rootfs images: content-addressed artifacts and the planner that builds them.

An image NAME is a symlink `<root>/images/NAME -> ../artifacts/<id>`; the id hashes every input,
so equal inputs find the finished directory and nothing is rebuilt.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import json
from dataclasses import replace
from typing import Any, Dict, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import bundle, debian, guest, kernel, oci
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError, SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, join, quote, write_file
from ansible_collections.mvm.microvm.plugins.module_utils.spec import ImageSpec

IMAGE_FORMAT = 5
VMLINUX_FILE = "vmlinux"  # uncompressed ELF, what Firecracker boots on x86_64

# Finds the compressed kernel inside a bzImage and unpacks it (as the kernel's extract-vmlinux does).
_EXTRACT = r"""import subprocess,sys
data=open(sys.argv[1],'rb').read()
for magic,cmd in ((b'\x1f\x8b\x08',['gzip','-dc']),(b'\xfd7zXZ\x00',['xz','-dc']),(b'\x02\x21\x4c\x18',['lz4','-dc']),
                  (b'\x28\xb5\x2f\xfd',['zstd','-dc']),(b'BZh',['bzip2','-dc'])):
    at=data.find(magic)
    while at>=0:
        try: out=subprocess.run(cmd,input=data[at:],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL).stdout
        except OSError: out=b''
        if out[:4]==b'\x7fELF':
            open(sys.argv[2],'wb').write(out);sys.exit(0)
        at=data.find(magic,at+1)
if data[:4]==b'\x7fELF':
    open(sys.argv[2],'wb').write(data);sys.exit(0)
print('no ELF kernel found inside %s; Firecracker on x86_64 will not boot it' % sys.argv[1])
"""
KERNEL_FILE = "vmlinuz"
INITRD_FILE = "initrd.img"
ROOTFS_FILE = "rootfs.ext4"
SQUASHFS_FILE = "rootfs.squashfs"  # format: squashfs - read-only, shared by the image's VMs (each has an overlay)
ROOTFS_TAR = "rootfs.tar"  # the same tree, for backends that import a file system (docker)
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# What every image build takes from the host, with each one's Debian package: busybox becomes the guest's only
# binary, qemu-ga its agent, mkfs.ext4 makes its disk, cpio and gzip its initramfs. The doctor's check and fix are
# made from this table, and a test holds the host role's package list to it.
HOST_TOOLS = {"busybox": "busybox-static", "qemu-ga": "qemu-guest-agent", "mkfs.ext4": "e2fsprogs",
              "cpio": "cpio", "gzip": "gzip"}


def oci_ref(ident: str) -> str:
    """The name an image's OCI archive carries: by content, whatever name the image has."""
    return "mvm/rootfs:%s" % ident


def user_paths(spec: ImageSpec, state_root: str) -> list:
    """Host files whose content is an input (hashed on the host by the paths probe) and the source image (its
    digest looked up there). mvm's kernel's inputs (its source's and compiler's versions, the kernels built) come
    with the host probe."""
    if spec.bundle:
        return [p for p in (spec.bundle.path, spec.bundle.signature, spec.bundle.allowed_signers) if p]
    found = [p for p in (_kernel_path(spec), spec.initrd) if p]
    return found + ([oci.probe_entry(spec.oci, spec.tls_verify)] if spec.oci else [])


def _kernel_path(spec: ImageSpec) -> Optional[str]:
    return spec.kernel if spec.kernel not in ("debian", "mvm", "auto") else None


def _recorded_inputs(spec: ImageSpec, facts: Mapping[str, Any]) -> Dict[str, Any]:
    """The inputs the image of this name was built from, as its manifest on the host records them ({}: none)."""
    current = (facts.get("images") or {}).get(spec.name) or {}
    return dict((current.get("manifest") or {}).get("inputs") or {})


def resolve(spec: ImageSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> ImageSpec:
    """The spec with `kernel: auto` made concrete (kernel.choose): everything after plans on `mvm` or `debian`.
    A flake brings its own kernel; `debian` there only keeps its image's address what it always was."""
    if spec.kernel != "auto" or spec.bundle:  # a bundle brings its kernel
        return spec
    existing = _recorded_inputs(spec, facts).get("kernel")
    if spec.flake:
        return replace(spec, kernel=existing if existing in ("mvm", "debian") else "debian")
    return replace(spec, kernel=kernel.choose("auto", facts["platform"]["arch"],
                                              kernel.found(facts), existing))


def source(spec: ImageSpec, shas: Mapping[str, str]) -> Optional[Dict[str, Any]]:
    """The OCI image a rootfs is made from (digest and run settings), None for mvm's busybox tree."""
    return oci.found(shas, spec.oci, spec.tls_verify) if spec.oci else None


def inputs(spec: ImageSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Dict[str, Any]:
    """Everything that decides the artifact's bytes."""
    spec = resolve(spec, facts, shas)
    if spec.bundle:
        return _bundle_inputs(spec.bundle, facts, shas)
    for field, path in (("kernel", _kernel_path(spec)), ("initrd", spec.initrd)):
        if path and path not in shas:
            raise SpecError(field, "file not found on the host: %s" % path)
    if spec.kernel == "debian" and not spec.flake and facts["platform"]["arch"] not in DEBIAN_ARCH:
        raise SpecError("kernel", "no Debian cloud kernel for arch %s; give a kernel path" % facts["platform"]["arch"])
    image = source(spec, shas)
    if spec.kernel == "mvm" and not spec.flake:
        if spec.initrd:
            raise SpecError("initrd", "mvm's kernel boots without an initrd; leave initrd out")
    found = {
        "format": IMAGE_FORMAT,
        "arch": facts["platform"]["arch"],
        "kernel": spec.kernel,
        "kernel_sha256": shas.get(spec.kernel),
        "initrd_sha256": shas.get(spec.initrd) if spec.initrd else None,
        "rootfs_size_mib": spec.rootfs_size_mib,
        "flake": spec.flake,
        "guest": hashlib.sha256((guest.GUEST_INIT + guest.INITRAMFS_INIT + guest.POWEROFF
                                 + guest.ACPID_CONF + "\n".join(inject_commands())).encode()).hexdigest(),
    }
    if image:
        # By content only: the same image reached another way is the same artifact.
        found["oci_digest"] = image["digest"]
    if spec.debian:
        found["debian"] = spec.debian.inputs()
    if spec.format != "ext4":
        found["rootfs_format"] = spec.format
    if spec.kernel == "mvm" and not spec.flake:
        found["kernel_build"] = _kernel_build(spec, facts, shas)
    return found


def _bundle_inputs(src: bundle.Source, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Dict[str, Any]:
    """A bundle's artifact is addressed by the pinned digest. A bundle on the host with another digest is refused
    before anything runs; one not there yet is planned all the same (an earlier operation of the same pyinfra
    deploy may put it there: pyinfra plans every operation first) and its copy step fails if it never came. The
    host's copy is checked against the digest and the signature in any case before use."""
    found = "sha256:" + shas[src.path] if src.path in shas else src.digest
    if found != src.digest:
        raise SpecError("bundle.digest", "bundle %s has the digest %s, not the pinned %s: refused"
                        % (src.path, found, src.digest))
    return {"format": IMAGE_FORMAT, "arch": facts["platform"]["arch"], "bundle": src.inputs()}


def _kernel_build(spec: ImageSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Dict[str, Any]:
    """What addresses mvm's kernel: from the host's source and compiler, or - where they are gone (the image was
    built, then the source package removed) - what the existing image recorded, so that it stays converged."""
    host = kernel.found(facts)
    arch = facts["platform"]["arch"]
    recorded = _recorded_inputs(spec, facts).get("kernel_build")
    if isinstance(recorded, dict) and not kernel.buildable(arch, host):
        return dict(recorded)
    return kernel.identity(arch, host)


def image_id(spec_inputs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec_inputs, sort_keys=True).encode()).hexdigest()[:16]


def kernel_source(spec: ImageSpec) -> str:
    """Where a (resolved) image's kernel comes from, as results and facts say it."""
    if spec.flake:
        return "flake"
    if spec.bundle:
        return "bundle"
    return spec.kernel if spec.kernel in ("mvm", "debian") else "path"


def has_initrd(spec: ImageSpec) -> bool:
    """Whether the image has an initrd (a bundle's says so in its manifest, read once it is unpacked)."""
    return (spec.kernel == "debian" and not spec.flake and not spec.bundle) or bool(spec.initrd)


def paths(state_root: str, name: str, with_initrd: bool, fmt: str = "ext4") -> Dict[str, Optional[str]]:
    """Where a VM finds an image's files (through the name link, so a rebuild is seen)."""
    base = "%s/images/%s" % (state_root, name)
    return {
        "kernel": "%s/%s" % (base, KERNEL_FILE),
        "initrd": "%s/%s" % (base, INITRD_FILE) if with_initrd else None,
        "rootfs": "%s/%s" % (base, SQUASHFS_FILE if fmt == "squashfs" else ROOTFS_FILE),
        "rootfs_tar": "%s/%s" % (base, ROOTFS_TAR),
        "oci": "%s/%s" % (base, oci.OCI_FILE),
        "vmlinux": "%s/%s" % (base, VMLINUX_FILE),
    }


def _kernel_steps(plan: Plan, spec: ImageSpec, arch: str, work: str, facts: Mapping[str, Any],
                  found: Mapping[str, Any], shas: Mapping[str, str]) -> None:
    out = work + "/out"
    if spec.flake:
        # A flake's kernel boots without an initrd (virtio built in, as microvm.nix builds them).
        plan.add("nix build %s" % spec.flake, "set -e; nix build %s --out-link %s; cp -L %s %s; cp -L %s %s" % (
            quote(spec.flake), quote(work + "/result"),
            quote(work + "/result/kernel"), quote(out + "/" + KERNEL_FILE),
            quote(work + "/result/" + ROOTFS_FILE), quote(out + "/" + ROOTFS_FILE)))
        return
    if spec.kernel == "mvm":
        host = kernel.found(facts)
        if kernel.kernel_id(found["kernel_build"]) not in kernel.built(host, facts):
            kernel.identity(arch, host)  # refuses, naming what is missing, when it cannot be built here
        built = kernel.build_steps(plan, kernel.store(facts), found["kernel_build"], kernel.built(host, facts))
        plan.add("copy mvm's kernel", "cp %s %s" % (quote(built), quote(out + "/" + KERNEL_FILE)))
        return
    if spec.kernel != "debian":
        cmd = "cp %s %s" % (quote(spec.kernel), quote(out + "/" + KERNEL_FILE))
        if spec.initrd:
            cmd += " && cp %s %s" % (quote(spec.initrd), quote(out + "/" + INITRD_FILE))
        plan.add("copy kernel %s" % spec.kernel, cmd)
        return
    meta = "linux-image-cloud-" + DEBIAN_ARCH[arch]
    plan.add("fetch kernel from Debian's %s" % meta, (
        "set -e; cd %(k)s; "
        "pkg=$(apt-cache depends %(meta)s 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); "
        "if [ -z \"$pkg\" ]; then echo 'apt knows no' %(meta)s '(run apt-get update)' >&2; exit 1; fi; "
        "apt-get download \"$pkg\" 2>&1; dpkg-deb -x ./*.deb x; cp x/boot/vmlinuz-* %(out)s"
    ) % {"k": quote(work + "/kernel"), "meta": quote(meta), "out": quote(out + "/" + KERNEL_FILE)})
    ird = work + "/initramfs"
    plan.add("build initramfs with the virtio modules", (
        "set -e; umask 022; cd %(ird)s; mkdir -p bin dev proc sys newroot lib/modules; cp %(bb)s bin/busybox; "
        "for m in %(mods)s; do f=$(find %(kmods)s -name \"$m.ko*\" | head -n 1); [ -n \"$f\" ] || continue; "
        "case \"$f\" in *.xz) xz -dc \"$f\";; *.zst) zstd -qdc \"$f\";; *.gz) gzip -dc \"$f\";; *) cat \"$f\";; esac "
        "> lib/modules/$m.ko; done; %(init)s; "
        "umask 077; find . | cpio -o -H newc --quiet | gzip -1 > %(out)s"
    ) % {"ird": quote(ird), "bb": "\"$BUSYBOX\"", "kmods": quote(work + "/kernel/x/lib/modules"),
         "mods": " ".join(guest.INITRAMFS_MODULES), "init": write_file("init", guest.INITRAMFS_INIT, "0755"),
         "out": quote(out + "/" + INITRD_FILE)})


def inject_commands() -> list:
    """mvm's own files, added to any root file system (run in its top directory): a static busybox with its applets
    under /mvm/bin, /init, the power-off hook and the mount points. An image's own /init is replaced."""
    return [
        "umask 022",  # the guest's users run these
        "mkdir -p dev proc sys tmp run mvm/bin mvm/etc/acpi mvm/config mvm/secrets mvm/overlay",
        "chmod 0755 mvm mvm/bin mvm/etc mvm/etc/acpi && chmod 1777 tmp",
        "cp \"$BUSYBOX\" mvm/bin/busybox && chmod 0755 mvm/bin/busybox",
        "for a in $(\"$BUSYBOX\" --list); do [ \"$a\" = busybox ] || ln -sf busybox mvm/bin/$a; done",
        "rm -f init",
        write_file("init", guest.GUEST_INIT, "0755"),
        write_file("mvm/etc/acpi/poweroff", guest.POWEROFF, "0755"),
        write_file("mvm/etc/acpid.conf", guest.ACPID_CONF, "0644"),
        # The QEMU guest agent with the libraries it links and their loader, run through that loader so that it
        # works whatever C library the image has (or none): the image's own programs never see these.
        "mkdir -p mvm/lib && chmod 0755 mvm/lib && cp \"$QEMU_GA\" mvm/lib/qemu-ga",
        "ldd \"$QEMU_GA\" | awk '$2 == \"=>\" && $3 ~ /^\\// {print $3} $1 ~ /^\\// {print $1}' | while read -r l; do "
        "case \"$l\" in */ld-linux*) cp -L \"$l\" mvm/lib/ld.so;; *) cp -L \"$l\" mvm/lib/;; esac; done",
        "chmod 0755 mvm/lib/*",
    ]


def _pack_commands(size: str, work: str, fmt: str) -> list:
    """The tree as the VM's disk (ext4 of `size`, or squashfs) and as a tar (for backends that import a file
    system). Run in the tree's top directory."""
    disk = ("mksquashfs . %s -noappend -quiet -no-progress" % quote(work + "/out/" + SQUASHFS_FILE) if fmt == "squashfs"
            else "mkfs.ext4 -q -F -L mvmroot -d . %s %s" % (quote(work + "/out/" + ROOTFS_FILE), size))
    return [
        "umask 077",  # the outputs, like everything mvm writes, are the owner's alone
        disk,
        "tar --numeric-owner -cf %s ." % quote(work + "/out/" + ROOTFS_TAR),
    ]


def _rootfs_step(plan: Plan, spec: ImageSpec, work: str) -> None:
    r = work + "/rootfs"
    size = spec.rootfs_size_mib or 64  # always set for this source (spec.image_spec)
    tree = [
        "set -e; umask 022; cd %s" % quote(r),  # the guest's own tree keeps ordinary modes
        "mkdir -p bin root etc usr var/www",
        "cp \"$BUSYBOX\" bin/busybox",
        "for a in $(\"$BUSYBOX\" --list); do [ \"$a\" = busybox ] || ln -sf busybox bin/$a; done",
        "ln -sfn bin sbin && ln -sfn ../bin usr/bin && ln -sfn ../bin usr/sbin && mkdir -p var/log && ln -sfn ../run var/run",
        write_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", "0644"),
        write_file("etc/group", "root:x:0:\n", "0644"),
    ]
    plan.add("build %s (%s, busybox)" % (_disk_file(spec), "%d MiB" % size if spec.format == "ext4" else "squashfs"),
             " && ".join(tree + inject_commands() + _pack_commands("%dM" % size, work, spec.format)))


def _tree_rootfs_step(plan: Plan, spec: ImageSpec, image: Optional[Mapping[str, Any]], work: str) -> None:
    """A tree made by the field's own tools (umoci unpacks an OCI image's layers as they are, mmdebstrap makes a
    Debian system), mvm's files added, packed like the busybox tree. Without a rootfs_size the disk is the tree's
    size plus a quarter and 32 MiB for the guest to write in."""
    r = work + "/rootfs"
    size = "%dM" % spec.rootfs_size_mib if spec.rootfs_size_mib else "$(( $(du -sm . | cut -f1) * 5 / 4 + 32 ))M"
    if image:
        plan.add("fetch image %s (%s)" % (spec.oci, image["digest"][:19]),
                 oci.fetch_commands(str(spec.oci), spec.tls_verify, work + "/layout", r, image["digest"]))
    elif spec.debian:
        plan.add("make a Debian %s root file system (minbase%s)" % (
            spec.debian.suite, " + " + ", ".join(spec.debian.packages) if spec.debian.packages else ""),
            debian.build_command(spec.debian, r))
    plan.add("add mvm's init and build %s (%s)" % (
        _disk_file(spec), "squashfs" if spec.format == "squashfs" else size if spec.rootfs_size_mib else "sized to the image"),
        " && ".join(["set -e; cd %s" % quote(r)] + inject_commands() + _pack_commands(size, work, spec.format)))


def _disk_file(spec: ImageSpec) -> str:
    return SQUASHFS_FILE if spec.format == "squashfs" else ROOTFS_FILE


def _busybox_env(facts: Mapping[str, Any]) -> str:
    """The host's busybox must be static: it becomes the guest's only binary. The host's qemu-ga becomes the guest
    agent of every image."""
    path = facts["tools"].get("busybox", {}).get("path")
    if not path:
        raise MvmError("busybox is not installed on the host (Debian: apt-get install %s)" % HOST_TOOLS["busybox"])
    agent = facts["tools"].get("qemu-ga", {}).get("path")
    if not agent:
        raise MvmError("qemu-ga is not installed on the host; every image carries it as its guest agent "
                       "(Debian: apt-get install %s)" % HOST_TOOLS["qemu-ga"])
    return ("BUSYBOX=%s; QEMU_GA=%s; if ldd \"$BUSYBOX\" >/dev/null 2>&1; then echo \"$BUSYBOX is dynamically linked: "
            "install busybox-static\" >&2; exit 1; fi; " % (quote(path), quote(agent)))


def plan_image(spec: ImageSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Plan:
    """Desired image + host facts -> steps. Raises before any step exists on bad input."""
    spec = resolve(spec, facts, shas)
    root = facts["state_root"]
    link = "%s/images/%s" % (root, spec.name)
    current = facts["images"].get(spec.name)
    plan = Plan()
    if spec.state == "absent":
        plan.before = {"image": spec.name, "id": current["id"]} if current else {}
        if current:
            # The artifact goes too unless another image name still points at it.
            plan.add("remove image %s" % spec.name, (
                "set -e; t=$(readlink %(link)s); rm -f %(link)s; "
                "for o in %(root)s/images/*; do [ \"$(readlink \"$o\")\" = \"$t\" ] && exit 0; done; "
                "case \"$t\" in ../artifacts/?*) rm -rf %(root)s/images/\"$t\";; esac"
            ) % {"link": quote(link), "root": quote(root)})
        plan.result = {"name": spec.name, "state": "absent"}
        return plan
    found = inputs(spec, facts, shas)
    ident = image_id(found)
    adir = "%s/artifacts/%s" % (root, ident)
    plan.before = {"image": spec.name, "id": current["id"]} if current else {}
    plan.after = {"image": spec.name, "id": ident, "inputs": found}
    plan.result = dict(paths(root, spec.name, has_initrd(spec), spec.format), name=spec.name, id=ident, dir=adir,
                       format=spec.format, kernel_source=kernel_source(spec))
    if found.get("oci_digest"):
        plan.result["digest"] = found["oci_digest"]
    if current and current["id"] == ident and current["complete"]:
        _export_steps(plan, spec, ident, adir, shas)
        return plan
    if ident not in facts["artifacts"] and spec.bundle:
        _bundle_steps(plan, spec.bundle, found, ident, root)
    elif ident not in facts["artifacts"]:
        _check_space(spec, facts)
        work = "%s/artifacts/.build-%s" % (root, ident)
        plan.add("prepare build directory", "rm -rf %s && mkdir -p %s" % (
            quote(work), " ".join(quote(work + d) for d in ("/out", "/kernel", "/initramfs", "/rootfs"))))
        env = _busybox_env(facts) if not spec.flake else ""
        kernel_plan = Plan()
        _kernel_steps(kernel_plan, spec, facts["platform"]["arch"], work, facts, found, shas)
        kernel_plan.add("extract vmlinux (Firecracker boots an ELF kernel)", join(
            ["python3", "-c", _EXTRACT, work + "/out/" + KERNEL_FILE, work + "/out/" + VMLINUX_FILE]))
        image = source(spec, shas)
        if image or spec.debian:
            _tree_rootfs_step(kernel_plan, spec, image, work)
        elif not spec.flake:
            _rootfs_step(kernel_plan, spec, work)
            kernel_plan.add("write the OCI image archive", oci.build_command(
                work + "/out/" + ROOTFS_TAR, work + "/out/" + oci.OCI_FILE, oci_ref(ident),
                facts["platform"]["arch"]))
        plan.warnings.extend(kernel_plan.warnings)
        for step in kernel_plan.steps:
            plan.add(step.description, _cleaning(env + step.command if "$BUSYBOX" in step.command else step.command,
                                                 work))
        manifest = {"format": IMAGE_FORMAT, "id": ident, "inputs": found, "kernel": KERNEL_FILE,
                    "kernel_source": "mvm" if "kernel_build" in found else None,
                    "initrd": INITRD_FILE if has_initrd(spec) else None, "rootfs": _disk_file(spec),
                    "rootfs_format": spec.format,
                    "rootfs_tar": ROOTFS_TAR if not spec.flake else None,
                    "oci": oci.OCI_FILE if not spec.flake else None, "vmlinux": VMLINUX_FILE,
                    "workload": image["run"] if image else None,
                    "source": spec.oci or ("debian:" + spec.debian.suite if spec.debian else None)}
        plan.add("publish artifact %s" % ident, " && ".join([
            write_file(work + "/out/manifest.json", json.dumps(manifest, sort_keys=True)),
            "rm -rf %s" % quote(adir),
            "mv %s %s" % (quote(work + "/out"), quote(adir)),
            "rm -rf %s" % quote(work),
        ]))
    plan.add("point image %s at %s" % (spec.name, ident), "mkdir -p %s && ln -sfn %s %s" % (
        quote(root + "/images"), quote("../artifacts/" + ident), quote(link)))
    _export_steps(plan, spec, ident, adir, shas)
    return plan


# Checks an unpacked bundle's manifest and makes it this host's: its id, its inputs, where it came from.
_ADOPT = r"""import json,os,sys
p,ident,inputs,digest,signer,fmt=sys.argv[1:7]
m=json.load(open(p))
here=os.path.dirname(p)
names=[m.get(k) for k in ("kernel","initrd","rootfs","rootfs_tar","oci","vmlinux")] if isinstance(m,dict) else []
bad=[n for n in names if n is not None and (not isinstance(n,str) or "/" in n or n.startswith(".")
     or not os.path.isfile(os.path.join(here,n)))]
if not isinstance(m,dict) or m.get("format")!=int(fmt) or bad or not m.get("kernel") or not m.get("rootfs"):
    sys.exit("the bundle's manifest does not describe an image of this mvm (format %s, files %s)"
             % (m.get("format") if isinstance(m,dict) else None, bad))
m.update(id=ident,inputs=json.loads(inputs),bundle={"digest":digest,"signed_by":signer or None})
json.dump(m,open(p,"w"),sort_keys=True)
"""


# A bundle is unpacked only if it holds nothing but regular files and directories inside its top directory.
_UNPACK = (r"""bad=$(tar -tvf %(c)s | awk '$1 !~ /^[-d]/ || $NF ~ /(^|\/)\.\.(\/|$)/ || $NF ~ /^\// {print $NF}' """
           r"""| head -n 3); if [ -n "$bad" ]; then echo "the bundle holds more than files: $bad" >&2; exit 1; fi; """
           r"""tar --no-same-owner -xf %(c)s -C %(o)s""")


def _bundle_steps(plan: Plan, src: bundle.Source, found: Mapping[str, Any], ident: str, root: str) -> None:
    """Copy, check (digest, signature), list (regular files only, no path leaving the directory), unpack, adopt."""
    work = "%s/artifacts/.build-%s" % (root, ident)
    copy = work + "/bundle.tar"
    adir = "%s/artifacts/%s" % (root, ident)
    plan.add("prepare build directory", "rm -rf %s && mkdir -p %s" % (quote(work), quote(work + "/out")))
    for description, command in (
            ("copy bundle %s" % src.path, "umask 077 && { [ -f %s ] || { echo %s >&2; exit 1; }; } && cp %s %s" % (
                quote(src.path), quote("bundle %s is not on the host" % src.path), quote(src.path), quote(copy))),
            ("verify the bundle's digest%s" % (" and signature (%s)" % src.signer if src.signature else ""),
             bundle.check_command(src, copy)),
            ("unpack the bundle", _UNPACK % {"c": quote(copy), "o": quote(work + "/out")} + " && " + join([
                "python3", "-c", _ADOPT, work + "/out/manifest.json", ident, json.dumps(found, sort_keys=True),
                src.digest, src.signer if src.signature else "", str(IMAGE_FORMAT)]))):
        plan.add(description, _cleaning(command, work))
    plan.add("publish artifact %s" % ident, "rm -rf %s && mv %s %s && rm -rf %s" % (
        quote(adir), quote(work + "/out"), quote(adir), quote(work)))


def export_paths(spec: ImageSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> list:
    """The export's files, asked about once the image's id is known (a second paths probe, only with export)."""
    if not spec.export or spec.state == "absent":
        return []
    target = bundle.file_of(spec.export, image_id(inputs(spec, facts, shas)))
    named = bundle.named_file(spec.export, spec.name)
    sig = bundle.SIG_SUFFIX if spec.export.signing_key else None
    return [p for p in (target, named, sig and target + sig, sig and named + sig) if p]


def _export_steps(plan: Plan, spec: ImageSpec, ident: str, adir: str, shas: Mapping[str, str]) -> None:
    """The image's bundle (and signature) under the export directory, unless they are there."""
    if not spec.export:
        return
    target = bundle.file_of(spec.export, ident)
    plan.result["bundle"] = target
    if target in shas:
        plan.result["bundle_digest"] = "sha256:" + shas[target]
    else:
        plan.add("write bundle %s" % target, bundle.pack_command(adir, target))
    if spec.export.signing_key and (target + bundle.SIG_SUFFIX not in shas or target not in shas):
        plan.add("sign bundle %s as %s" % (target, spec.export.signer), bundle.sign_command(spec.export, target))
    named = bundle.named_file(spec.export, spec.name)
    linked = target in shas and shas.get(named) == shas[target] and (
        not spec.export.signing_key or shas.get(named + bundle.SIG_SUFFIX) == shas.get(target + bundle.SIG_SUFFIX))
    if not linked:
        plan.add("link %s to bundle %s" % (named, ident), bundle.link_command(spec.export, spec.name, ident))


# What a build needs besides the rootfs (as ext4 and as tar): Debian's cloud kernel package, unpacked,
# is about 130 MiB; a kernel path only its copy.
_BUILD_OVERHEAD_MIB = {"debian": 160, "mvm": 2048, "other": 32}


def _check_space(spec: ImageSpec, facts: Mapping[str, Any]) -> None:
    """Refuse a build the state root's file system cannot hold, before anything is written."""
    free = facts.get("disk_free_mib")
    overhead = _BUILD_OVERHEAD_MIB[spec.kernel if spec.kernel in ("debian", "mvm") and not spec.flake else "other"]
    need = 2 * (spec.rootfs_size_mib or 0) + overhead
    if free is not None and free < need:
        raise MvmError("not enough free space under %s to build image %s: about %d MiB needed, %d MiB free"
                       % (facts["state_root"], spec.name, need, free))


def _cleaning(command: str, work: str) -> str:
    """A build step that, failing (a full disk, a missing tool), removes the half-built directory: nothing
    is left that fills the disk, and no later run mistakes it for an artifact (those carry a manifest)."""
    return ("( %s\n) || { rc=$?; rm -rf %s; echo \"image build failed (rc=$rc); its build directory was removed\" >&2; "
            "exit $rc; }") % (command, quote(work))


def planned_fact(spec: ImageSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Dict[str, Any]:
    """The image as the facts will list it once built: what a later VM operation of the same run plans on."""
    spec = resolve(spec, facts, shas)
    image = source(spec, shas)
    return {"name": spec.name, "id": image_id(inputs(spec, facts, shas)), "complete": True,
            "manifest": {"initrd": INITRD_FILE if has_initrd(spec) else None, "planned": True,
                         "workload": image["run"] if image else None, "rootfs_format": spec.format,
                         "kernel_source": "mvm" if spec.kernel == "mvm" and not spec.flake else None}}
