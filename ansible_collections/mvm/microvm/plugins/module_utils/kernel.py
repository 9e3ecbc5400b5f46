# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mvm's own guest kernel (`kernel: mvm`): Linux from Debian's linux-source-6.1, configured from a small fragment
over `tinyconfig`, everything a microVM needs built in (no modules, no initrd).

The kernel is content-addressed under `<store>/<id>/` (`vmlinux`, the config used, a manifest) by the source
package's version, the compiler's version, the fragment and the architecture; images that use it copy its vmlinux.
The store is the host's (`/var/cache/mvm/kernels`, shared by every state root: a cold build takes minutes) when
mvm runs as root, the state root's `kernels/` otherwise. The build fails if `olddefconfig` dropped any option the
fragment asks for.

`kernel: auto` (the default) is mvm's kernel where the host can build it and Debian's cloud kernel elsewhere;
an existing image keeps the kernel it was built with (see `choose`).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import json
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote, write_file

KERNEL_FORMAT = 1
SOURCE_PACKAGE = "linux-source-6.1"
SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz"
COLD_BUILD = "about 5 minutes on 2 cores"
HOST_STORE = "/var/cache/mvm/kernels"  # root's store: one per host, shared by all state roots

# What every microVM backend needs (Firecracker's guest-kernel requirements included: virtio-mmio devices from the
# command line, the 8250 console, i8042 for SendCtrlAltDel), what mvm's guest uses (ext4, squashfs, overlayfs,
# devtmpfs, vsock, the virtio console's ports for the guest agent, ACPI for QEMU's power button and its virtio-mmio
# devices - without PCI, x86's ACPI cannot load QEMU microvm's tables and finds no disk) and what the
# programs in a guest need from the kernel (futexes, epoll, eventfd, timerfd, signalfd, SysV-free shm).
_COMMON = """
CONFIG_SMP=y
CONFIG_NR_CPUS=64
CONFIG_HZ_100=y
CONFIG_NO_HZ_IDLE=y
CONFIG_PRINTK=y
CONFIG_BUG=y
CONFIG_MULTIUSER=y
CONFIG_FUTEX=y
CONFIG_EPOLL=y
CONFIG_SIGNALFD=y
CONFIG_TIMERFD=y
CONFIG_EVENTFD=y
CONFIG_SHMEM=y
CONFIG_AIO=y
CONFIG_FILE_LOCKING=y
CONFIG_POSIX_TIMERS=y
CONFIG_ADVISE_SYSCALLS=y
CONFIG_MEMBARRIER=y
CONFIG_RSEQ=y
CONFIG_INPUT=y
CONFIG_INPUT_EVDEV=y
CONFIG_TTY=y
CONFIG_UNIX98_PTYS=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_PROC_FS=y
CONFIG_PROC_SYSCTL=y
CONFIG_SYSFS=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_TMPFS=y
CONFIG_INOTIFY_USER=y
CONFIG_BLOCK=y
CONFIG_NET=y
CONFIG_UNIX=y
CONFIG_INET=y
CONFIG_PACKET=y
CONFIG_NETDEVICES=y
CONFIG_NET_CORE=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO=y
CONFIG_VIRTIO_MMIO=y
CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_CONSOLE=y
CONFIG_HW_RANDOM=y
CONFIG_HW_RANDOM_VIRTIO=y
CONFIG_VSOCKETS=y
CONFIG_VIRTIO_VSOCKETS=y
CONFIG_EXT4_FS=y
CONFIG_MISC_FILESYSTEMS=y
CONFIG_SQUASHFS=y
CONFIG_SQUASHFS_ZLIB=y
CONFIG_SQUASHFS_XZ=y
CONFIG_OVERLAY_FS=y
# CONFIG_MODULES is not set
# CONFIG_BLK_DEV_INITRD is not set
"""

FRAGMENTS = {
    "x86_64": """
CONFIG_64BIT=y
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_PVH=y
CONFIG_KVM_GUEST=y
CONFIG_X86_X2APIC=y
CONFIG_PCI=y
CONFIG_ACPI=y
CONFIG_ACPI_BUTTON=y
CONFIG_SERIO=y
CONFIG_SERIO_I8042=y
CONFIG_INPUT_KEYBOARD=y
CONFIG_KEYBOARD_ATKBD=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
""" + _COMMON,
    # Planned and config-checked here; built natively on an ARM host (no cross compiler is assumed). QEMU's virt
    # machine presses its power button through a PL061 GPIO line and gpio-keys.
    "aarch64": """
CONFIG_ARM64=y
CONFIG_SERIAL_AMBA_PL011=y
CONFIG_SERIAL_AMBA_PL011_CONSOLE=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_SERIAL_OF_PLATFORM=y
CONFIG_RTC_CLASS=y
CONFIG_RTC_DRV_PL031=y
CONFIG_GPIOLIB=y
CONFIG_GPIO_PL061=y
CONFIG_INPUT_KEYBOARD=y
CONFIG_KEYBOARD_GPIO=y
""" + _COMMON,
}
# What `make` builds and where the result is: an ELF vmlinux on x86_64 (QEMU's PVH entry, Firecracker); the
# uncompressed Image on aarch64 (what both boot there).
TARGETS = {"x86_64": ("vmlinux", "vmlinux"), "aarch64": ("Image", "arch/arm64/boot/Image")}
ARCHES = {"x86_64": "x86_64", "aarch64": "arm64"}


def wanted(arch: str) -> List[str]:
    """The fragment's lines (CONFIG_X=y, or `# CONFIG_X is not set`), in order."""
    return [line.strip() for line in FRAGMENTS[arch].splitlines() if line.strip().startswith(("CONFIG_", "# CONFIG_"))]


def missing(arch: str, config_text: str) -> List[str]:
    """The fragment's options a resulting .config does not have as asked (olddefconfig drops an option whose
    dependencies are off, silently): an empty list means the kernel is the one the fragment describes."""
    have = set(line.strip() for line in config_text.splitlines())
    found = []
    for line in wanted(arch):
        if line.startswith("# "):
            name = line.split()[1]
            if any(h.startswith(name + "=") for h in have):
                found.append(line)
        elif line not in have:
            found.append(line)
    return found


def probe_script() -> str:
    """Shell text for the host probe (after its tool versions, with `$r` the state root): the kernels built under
    the state root and in the host's store, as `ksrc built ID` / `ksrc host_built ID` records, read by builtins.
    The source package's version and the compiler's first line come with the tool versions, asked once per file
    (see probe.VERSIONED_FILES and the gcc tool)."""
    return (
        "for k in \"$r\"/kernels/*/manifest.json %(host)s/*/manifest.json; do\n"
        "  [ -f \"$k\" ] || continue; k=${k%%/manifest.json}\n"
        "  case \"$k\" in \"$r\"/kernels/*) w=built;; *) w=host_built;; esac; printf 'ksrc\\t%%s\\t%%s\\n' $w \"${k##*/}\"\n"
        "done\n"
    ) % {"host": quote(HOST_STORE)}


def parse_records(records: List[List[str]], compiler: str) -> Dict[str, Any]:
    """The host's kernel inputs, from the probe's `ksrc` records and the compiler's version line: the source
    package's version ("" without its tarball), gcc's first line, the kernels built in each store."""
    found = {"source": "", "gcc": compiler, "built": [], "host_built": []}  # type: Dict[str, Any]
    for key, value in records:
        if key == "source":
            found["source"] = value
        elif key in ("built", "host_built") and value:
            found[key].append(value)
    return found


def found(facts: Mapping[str, Any]) -> Dict[str, Any]:
    """The host's kernel inputs as the probe found them ({}: facts from a probe that did not look)."""
    value = facts.get("kernel_inputs")
    return dict(value) if isinstance(value, dict) else {}


def store(facts: Mapping[str, Any]) -> str:
    """Where this run builds and finds kernels: root shares one store per host (a cold build takes minutes, and
    every state root on the host would repeat it); another user keeps them under its state root."""
    return HOST_STORE if (facts.get("user") or {}).get("uid") == 0 else "%s/kernels" % facts["state_root"]


def built(host: Mapping[str, Any], facts: Mapping[str, Any]) -> List[str]:
    """The kernel ids the probe found in this run's store."""
    return list(host.get("host_built" if store(facts) == HOST_STORE else "built") or [])


def buildable(arch: str, host: Mapping[str, Any]) -> bool:
    """Whether mvm can build its kernel on this host (or has it built): what `kernel: auto` decides on."""
    return arch in FRAGMENTS and bool(host.get("source")) and bool(host.get("gcc"))


def choose(wanted: str, arch: str, host: Mapping[str, Any], existing: Optional[str]) -> str:
    """`auto` made concrete: the kernel an existing image was built with (a changed default never rebuilds an
    image, nor restarts its VMs' next boot on another kernel), else mvm's where it can be built here, else
    Debian's. Any other value is the user's own choice."""
    if wanted != "auto":
        return wanted
    if existing in ("mvm", "debian"):
        return existing
    return "mvm" if buildable(arch, host) else "debian"


def identity(arch: str, host: Mapping[str, Any]) -> Dict[str, Any]:
    """Everything that decides the kernel's bytes; refuses (naming `kernel`) when it cannot be built here."""
    if arch not in FRAGMENTS:
        raise SpecError("kernel", "mvm builds its kernel for %s only; give a kernel path for %s"
                        % (", ".join(sorted(FRAGMENTS)), arch))
    if not host.get("source"):
        raise SpecError("kernel", "mvm's kernel is built from %s (package %s), which is not installed on the host "
                                  "(Debian: apt-get install %s flex bison bc libelf-dev gcc make)"
                        % (SOURCE_TARBALL, SOURCE_PACKAGE, SOURCE_PACKAGE))
    if not host.get("gcc"):
        raise SpecError("kernel", "mvm's kernel needs gcc and make on the host (Debian: apt-get install gcc make "
                                  "flex bison bc libelf-dev)")
    return {"format": KERNEL_FORMAT, "arch": arch, "source": "%s %s" % (SOURCE_PACKAGE, host["source"]),
            "gcc": host["gcc"], "fragment": hashlib.sha256(FRAGMENTS[arch].encode()).hexdigest()}


def kernel_id(inputs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def directory(kernels: str, ident: str) -> str:
    return "%s/%s" % (kernels, ident)


def _env(arch: str) -> str:
    return "KBUILD_BUILD_TIMESTAMP=mvm KBUILD_BUILD_USER=mvm KBUILD_BUILD_HOST=mvm ARCH=%s" % ARCHES[arch]


def config_command(arch: str, work_word: str) -> str:
    """Unpack the source into the directory `work_word` (a shell word: quoted path or variable) and configure it:
    tinyconfig, the fragment merged, olddefconfig; then fail, naming them, if options of the fragment did not
    survive. Needs only the host's compiler (no cross compiler): the aarch64 configuration is checked here this
    way."""
    check = " ".join(quote(line) for line in wanted(arch))
    env = _env(arch)
    return " && ".join([
        "set -e; umask 022; rm -rf %s; mkdir -p %s; cd %s" % (work_word, work_word, work_word),
        "tar -xf %s --strip-components=1" % quote(SOURCE_TARBALL),
        write_file("mvm.config", FRAGMENTS[arch].lstrip(), "0644"),
        "%s make -s tinyconfig >/dev/null" % env,
        "%s scripts/kconfig/merge_config.sh -m .config mvm.config >/dev/null" % env,
        "%s make -s olddefconfig >/dev/null" % env,
        # Every option asked for must have survived: olddefconfig drops those whose dependencies are off.
        "bad=; for l in %s; do case \"$l\" in '# '*) n=${l#\"# \"}; n=${n%%%% *}; "
        "grep -q \"^$n=\" .config && bad=\"$bad $n=(unset wanted)\";; *) grep -qx \"$l\" .config || bad=\"$bad $l\";; "
        "esac; done; if [ -n \"$bad\" ]; then echo \"the kernel config lost options of mvm's fragment:$bad\" >&2; "
        "exit 1; fi" % check,
    ])


def stale_builds_command(prefix: str) -> str:
    """Remove the build directories `<prefix><pid>` whose run is gone (killed mid-build): each holds a gigabyte of
    source, and nothing else would remove it. A live run's directory, or a name that is not this shape, stays."""
    return ("for d in %s*; do [ -d \"$d\" ] || continue; p=${d##*.}; case \"$p\" in ''|*[!0-9]*) continue;; esac; "
            "kill -0 \"$p\" 2>/dev/null || rm -rf \"$d\"; done" % quote(prefix))


def build_steps(plan: Plan, kernels: str, inputs: Mapping[str, Any], built: Optional[List[str]]) -> str:
    """Steps that leave `<kernels>/<id>/vmlinux` (none when it is there): returns that path.

    The store may be shared by runs on other state roots (their locks are not this run's): each build works in a
    directory of its own (named with its shell's pid), publishes by one rename that fails if another run got
    there first (then that run's kernel, built from the same inputs, is used), and removes build directories
    of runs that were killed."""
    ident = kernel_id(inputs)
    target = directory(kernels, ident)
    if ident in (built or []):
        return target + "/vmlinux"
    arch = str(inputs["arch"])
    make_target, result = TARGETS[arch]
    plan.warnings.append("building mvm's kernel from %s (%s); later builds with the same inputs are cached in %s"
                         % (SOURCE_PACKAGE, COLD_BUILD, kernels))
    prefix = "%s/.build-%s." % (kernels, ident)
    steps = " && ".join([
        "mkdir -p -m 0700 %s" % quote(kernels),
        stale_builds_command(prefix),
        config_command(arch, '"$w"'),
        "%s make -s -j\"$(nproc)\" %s >build.log 2>&1 || { tail -n 30 build.log >&2; exit 1; }" % (_env(arch),
                                                                                                   make_target),
        "mkdir -m 0700 out && cp %s out/vmlinux && cp .config out/config" % quote(result),
        write_file("out/manifest.json", json.dumps(dict(inputs, id=ident), sort_keys=True), "0600"),
        "chmod 0600 out/vmlinux out/config",
        # One rename publishes it; if another run published the same kernel meanwhile, that one stays.
        "umask 077; mv -T out %s 2>/dev/null || [ -f %s/manifest.json ]; cd /; rm -rf \"$w\"" % (
            quote(target), quote(target)),
    ])
    # A failed build (a full disk, a dropped option) leaves no gigabyte-sized source tree behind.
    plan.add("build mvm's kernel %s (%s, %s)" % (ident, SOURCE_PACKAGE, COLD_BUILD),
             "w=%s$$; ( %s\n) || { rc=$?; cd /; rm -rf \"$w\"; exit $rc; }" % (quote(prefix), steps))
    return target + "/vmlinux"
