# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host probe: one shell script, one round trip, parsed here into the facts structure.

The script prints tab-separated records (`host KEY VALUE`, `vm NAME KEY VALUE`, ...), so a tool
that prints something odd spoils one field, never the parse.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import firewall, guest, identity, qmp
from ansible_collections.mvm.microvm.plugins.module_utils.shell import quote

PROBE_VERSION = 6
# The probe's cache of tool versions under the state root (a cache, not state: see _HOST_SCRIPT).
VERSION_CACHE = ".probe-versions"
# Tools every host is asked about; each backend driver adds its own (Driver.probe_tools), see tools().
COMMON_TOOLS = (
    "nix", "curl", "ip", "iptables", "nft", "busybox", "mkfs.ext4", "cpio", "gzip",
    "python3", "apt-get", "dpkg-deb", "setsid", "qemu-ga", "gcc",
)
# Tools whose first output line of `TOOL ARG` carries their version.
COMMON_VERSIONS = (("nix", "--version"), ("curl", "--version"), ("ip", "-V"), ("iptables", "--version"),
                   ("nft", "--version"), ("gcc", "--version"))


def versioned_files() -> Tuple[Tuple[str, str, str], ...]:
    """Files whose version a command tells, asked once per file (path, size, mtime, inode) like the tools: the
    record (printf text, kind and key) it is printed as, the file, and the command. mvm's kernel source: the package's
    version, only while its tarball is there."""
    from ansible_collections.mvm.microvm.plugins.module_utils import kernel

    return (("ksrc\\tsource", kernel.SOURCE_TARBALL, "dpkg-query -W -f '${Version}' " + quote(kernel.SOURCE_PACKAGE)),)


def tools() -> Tuple[str, ...]:
    """Every tool the probe reports, present or not: the backends' first, in registry order."""
    from ansible_collections.mvm.microvm.plugins.module_utils import registry

    return tuple(t for d in registry.DRIVERS for t in d.probe_tools) + COMMON_TOOLS


_HOST_SCRIPT = r"""
r=%(root)s
if [ -z "$r" ]; then
  if [ "$(id -u)" = 0 ]; then r=/var/lib/mvm; else r="${XDG_STATE_HOME:-$HOME/.local/state}/mvm"; fi
fi
t() { printf 'host\t%%s\t%%s\n' "$1" "$2"; }
# A converged host's probe is mostly process starts (~1 ms each): what a shell builtin can read, it reads.
t probe_version %(version)s
t state_root "$r"
i=$(id 2>/dev/null); u=${i#uid=}; u=${u%%%%[!0-9]*}; t uid "${u:-$(id -u)}"
case "$i" in "uid=$u("*) i=${i#*\(}; t user "${i%%%%)*}";; *) t user "$(id -un 2>/dev/null)";; esac
u=$(uname -srm); t os "${u%%%% *}"; t arch "${u##* }"; u=${u#* }; t kernel "${u%%%% *}"
u=; i=0  # the first CPU's "cpu MHz" line, within its first lines (no program; a bounded read)
[ -r /proc/cpuinfo ] && while [ $i -lt 40 ] && IFS=: read -r k v; do
  i=$((i+1)); case "$k" in "cpu MHz"*) u=${v#"${v%%%%[! ]*}"}; break;; esac
done < /proc/cpuinfo; t cpu_mhz "$u"
[ -r /proc/version ] && read -r u < /proc/version && case "$u" in *[Mm][Ii][Cc][Rr][Oo][Ss][Oo][Ff][Tt]*) t wsl 1;; esac
u=; [ -r /proc/1/comm ] && read -r u < /proc/1/comm; t pid1 "$u"
[ -r /etc/os-release ] && (. /etc/os-release; t distribution "$ID"; t distribution_version "$VERSION_ID")
command -v sw_vers >/dev/null 2>&1 && t macos_version "$(sw_vers -productVersion)"
[ -e /dev/kvm ] && t kvm_present 1
[ -r /dev/kvm ] && [ -w /dev/kvm ] && t kvm_rw 1
nl='
'
if [ -e /dev/kvm ] || [ -d "$r" ]; then  # both modes from one stat, its lines in argument order
  u=$(stat -c '%%a %%U %%G' /dev/kvm "$r" 2>/dev/null)
  if [ -e /dev/kvm ]; then t kvm_mode "${u%%%%"$nl"*}"; case "$u" in *"$nl"*) u=${u#*"$nl"};; *) u=;; esac; fi
  [ -d "$r" ] && t state_root_mode "${u%%%% *}"
fi
for m in kvm kvm_intel kvm_amd kvm_pvm; do [ -d /sys/module/$m ] && t kvm_module $m; done
vp=
for x in %(tools)s; do
  p=$(command -v $x 2>/dev/null) || continue
  printf 'tool\t%%s\tpath\t%%s\n' $x "$p"
  case " %(version_tools)s " in *" $x "*) case "$p" in /*) vp="$vp $p";; esac;; esac
done
for p in %(versioned_files)s; do [ -f "$p" ] && vp="$vp $p"; done
if command -v timeout >/dev/null 2>&1; then T="timeout 5"; else T=""; fi
# Versions: asked of each tool once per binary (path, size, mtime, inode), remembered in the state root's version
# cache (0600; a cache, not state: it is written only where the state root exists, and losing it costs a run).
tab=$(printf '\t'); V="$r/%(version_cache)s"; vc=; [ -f "$V" ] && vc=$(cat "$V" 2>/dev/null); nv=
if [ -n "$vp" ]; then
  while IFS="$tab" read -r p s m i; do
    [ -n "$p" ] || continue
    x=${p##*/}; k="$p$tab$s$tab$m$tab$i$tab"
    case "$nl$vc$nl" in
      *"$nl$k"*) o=${vc#*"$k"}; o=${o%%%%"$nl"*};;
      *) case "$p" in
           %(versioned_asks)s
           *) a=; case "$x" in %(version_args)s esac; o=$($T "$p" $a 2>&1 | head -n 1 | tr -d '\t\r');;
         esac;;
    esac
    case "$p" in
      %(versioned_prints)s
      *) printf 'tool\t%%s\tversion\t%%s\n' "$x" "$o";;
    esac
    nv="$nv$k$o$nl"
  done <<EOF
$(stat -L -c "%%n$tab%%s$tab%%Y$tab%%i" $vp 2>/dev/null)
EOF
  if [ -d "$r" ] && [ "$nv" != "${vc:+$vc$nl}" ]; then (umask 077; printf '%%s' "$nv" > "$V.$$" && mv -f "$V.$$" "$V") 2>/dev/null; fi
fi
%(kernel)s%(backends)s
if command -v nix >/dev/null 2>&1; then
  t nix_features "$($T nix config show experimental-features 2>/dev/null || $T nix show-config 2>/dev/null | sed -n 's/^experimental-features = //p')"
fi
command -v ip >/dev/null 2>&1 && printf 'links\t%%s\n' "$(ip -j -d addr show 2>/dev/null)"
if [ -r /proc/net/route ]; then  # the default route's device, as `ip route show default` names it
  u=; while read -r d x _ _ _ _ _ m _; do [ "$x$m" = 0000000000000000 ] && u=$d && break; done < /proc/net/route
  t uplink "$u"
elif command -v ip >/dev/null 2>&1; then
  t uplink "$(ip route show default 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="dev"){print $(i+1); exit}}')"
fi
u=; [ -r /proc/sys/net/ipv4/ip_forward ] && read -r u < /proc/sys/net/ipv4/ip_forward; t ip_forward "$u"
for d in /sys/class/net/*/tun_flags; do
  [ -f "$d" ] || continue; d=${d%%/tun_flags}
  printf 'tapown\t%%s\t%%s\t%%s\n' "${d##*/}" "$(cat "$d/owner" 2>/dev/null)" "$(cat "$d/group" 2>/dev/null)"
done
if command -v iptables >/dev/null 2>&1; then
  if command -v iptables-save >/dev/null 2>&1; then  # every table in one program, Docker's nat chain with them
    iptables-save 2>/dev/null | awk '/^\*/{tb=substr($0,2)} tb == "nat" && /^:DOCKER / {print "host\tdocker_chains\t1"}
      /^-A / && /mvm:/ && tb ~ /^(%(ipt_re)s)$/ {print "ipt\t" tb "\t" $0}'
  else
    iptables -w -t nat -S DOCKER >/dev/null 2>&1 && t docker_chains 1
    for tb in %(ipt_tables)s; do
      iptables -w -t $tb -S 2>/dev/null | grep -F 'mvm:' | while IFS= read -r l; do printf 'ipt\t%%s\t%%s\n' $tb "$l"; done
    done
  fi
fi
if command -v nft >/dev/null 2>&1 && u=$(nft -a list table ip mvm 2>/dev/null) && [ -n "$u" ]; then
  t nft_table 1
  printf '%%s\n' "$u" | while IFS= read -r l; do printf 'nft\t%%s\n' "$l"; done
fi
d="$r"; while [ -n "$d" ] && [ ! -d "$d" ]; do case "$d" in */*) d=${d%%/*};; *) d=;; esac; done; [ -n "$d" ] || d=/
t disk_free_kib "$(df -Pk "$d" 2>/dev/null | awk 'NR==2{print $4}')"
[ -r /proc/meminfo ] && while read -r k v _; do [ "$k" = MemAvailable: ] && t mem_available_kib "$v"; done < /proc/meminfo
t cpus "$(nproc 2>/dev/null)"
%(identity)s
set --
for v in "$r"/vms/*/; do
  [ -d "$v" ] || continue
  v=${v%%/}; n=${v##*/}
  printf 'vm\t%%s\tdir\t%%s\n' "$n" "$v"
  pid=; [ -f "$v/pid" ] && { read -r pid < "$v/pid" || :; }; ok=""
  if [ -n "$pid" ]; then
    if vmm_ok "$v" "$pid"; then ok=1; printf 'vm\t%%s\tpid\t%%s\n' "$n" "$pid"; else printf 'vm\t%%s\tstale\t1\n' "$n"; fi
  fi
  if [ -n "$ok" ]; then
    u=; while read -r k u _; do [ "$k" = Uid: ] && break; u=; done < /proc/$pid/status; printf 'vm\t%%s\tvmm_uid\t%%s\n' "$n" "$u"
  fi
  # Every file's mode in one program (one stat a file cost a process each: most of a converged probe's time).
  printf 'vm\t%%s\tmodes\t%%s\n' "$n" "$(cd "$v" 2>/dev/null && set -- $(stat -c '%%n=%%a' -- * 2>/dev/null) && printf '%%s' "$*")"
  s=; [ -f "$v/spec.json" ] && s=$(cat "$v/spec.json") && printf 'vm\t%%s\tspec\t%%s\n' "$n" "$s"
  # The health check's last change of state, from the console (see guest); only for a VM that has one.
  case "$s" in *'"health":'*) [ -n "$ok" ] && printf 'vm\t%%s\thealth\t%%s\n' "$n" "$(tail -c 65536 "$v/console.log" \
    2>/dev/null | tr -d '\r' | grep -a '^%(health)s ' | tail -n 1 | tr -d '\000-\037' | head -c 400)";; esac
  [ -S "$v/qmp.sock" ] && printf 'vm\t%%s\tqmp\t%%s\n' "$n" "$v/qmp.sock"
  [ -n "$ok" ] && [ -S "$v/qmp.sock" ] && set -- "$@" "$n=$v/qmp.sock"
  [ -n "$ok" ] && grep -qF %(marker)s "$v/console.log" 2>/dev/null && printf 'vm\t%%s\tready\t1\n' "$n"
  if [ -S "$v/api.sock" ] && command -v curl >/dev/null 2>&1; then
    st=$(curl -s --max-time 2 --unix-socket "$v/api.sock" http://localhost/ 2>/dev/null | sed -n 's/.*"state": *"\([A-Za-z ]*\)".*/\1/p')
    [ -n "$st" ] && printf 'vm\t%%s\tstatus\t%%s\n' "$n" "$st"
  fi
done
# The run state of QEMU guests from QMP, all in one program; the system's Python where there is one (a shim on PATH
# can cost more to start than the query). A caller that is itself a Python on the host asks in process instead.
if [ $# -gt 0 ]; then
  PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3; command -v $PY >/dev/null 2>&1 && %(status)s
fi
for s in "$r"/snapshots/*/metadata.json; do
  [ -f "$s" ] && n=${s%%/*} && printf 'snapshot\t%%s\t%%s\n' "${n##*/}" "$(cat "$s")"
done
for i in "$r"/images/*; do
  [ -L "$i" ] || continue
  n=${i##*/}
  printf 'image\t%%s\ttarget\t%%s\n' "$n" "$(readlink "$i")"
  [ -f "$i/manifest.json" ] && printf 'image\t%%s\tmanifest\t%%s\n' "$n" "$(cat "$i/manifest.json")"
done
for n in "$r"/networks/*.json; do [ -f "$n" ] && u=${n##*/} && printf 'net\t%%s\t%%s\n' "${u%%.json}" "$(cat "$n")"; done
for l in "$r"/networks/*/leases/*; do
  [ -f "$l" ] && u=${l%%/leases/*} && printf 'lease\t%%s\t%%s\t%%s\n' "${u##*/}" "${l##*/}" "$(cat "$l")"
done
[ -f "$r/networks/.ip_forward" ] && t ip_forward_saved "$(cat "$r/networks/.ip_forward")"
[ -f "$r/firecracker-install.json" ] && t fc_installed "$(cat "$r/firecracker-install.json")"
for a in "$r"/artifacts/*/; do
  [ -f "$a/manifest.json" ] && a=${a%%/} && printf 'artifact\t%%s\tdir\t%%s\n' "${a##*/}" "$a"
done
for v in "$r"/volumes/*.ext4; do
  [ -f "$v" ] && u=${v##*/} && printf 'volume\t%%s\t%%s\n' "${u%%.ext4}" "$(stat -c %%s "$v")"
done
for v in "$r"/volumes/*.d; do
  [ -d "$v" ] && u=${v##*/} && printf 'volume\t%%s\tdir\n' "${u%%.d}"
done
# A fleet pool's revisions (one JSON record a line, see plugin_utils/revisions.py), read without a program per line.
for f in "$r"/fleet/*.revisions; do
  [ -f "$f" ] || continue; n=${f##*/}; n=${n%%.revisions}
  while IFS= read -r l; do printf 'rev\t%%s\t%%s\n' "$n" "$l"; done < "$f"
done
true
"""

_PATHS_SCRIPT = r"""
for p in %(paths)s; do
  case "$p" in
    %(oci_prefix)s*) %(oci)s;;
    *) if [ -f "$p" ]; then printf 'path\t%%s\t%%s\n' "$p" "$(sha256sum "$p" 2>/dev/null | cut -c1-64)"; fi;;
  esac
done
true
"""


def _drivers() -> Tuple[Any, ...]:
    from ansible_collections.mvm.microvm.plugins.module_utils import registry

    return registry.DRIVERS


def versions() -> Tuple[Tuple[str, str], ...]:
    return tuple(pair for d in _drivers() for pair in d.probe_versions) + COMMON_VERSIONS


def host_probe(state_root: Optional[str] = None, vmm_status: bool = True) -> str:
    """The one command that gathers everything the planners need about a host; without `vmm_status` it leaves out
    the QMP status query, which the caller then makes in its own process (vmm_status_lines)."""
    from ansible_collections.mvm.microvm.plugins.module_utils import kernel

    return _HOST_SCRIPT % {
        "root": quote(state_root or ""),
        "version": PROBE_VERSION,
        "tools": " ".join(tools()),
        "version_cache": VERSION_CACHE,
        "version_tools": " ".join(t for t, _arg in versions()),
        "version_args": " ".join("%s) a=%s;;" % (t, quote(arg)) for t, arg in versions()),
        "backends": "".join(d.probe_script for d in _drivers()),
        "kernel": kernel.probe_script(),
        "versioned_files": " ".join(quote(path) for _kind, path, _ask in versioned_files()),
        "versioned_asks": "\n           ".join(
            "%s) o=$($T %s 2>/dev/null | head -n 1 | tr -d '\\t\\r');;" % (quote(path), ask)
            for _kind, path, ask in versioned_files()),
        "versioned_prints": "\n      ".join(
            "%s) printf '%s\\t%%s\\n' \"$o\";;" % (quote(path), kind) for kind, path, _ask in versioned_files()),
        "status": qmp.status_command('"$@"', '$PY') if vmm_status else ":",
        "identity": identity.FUNCTIONS,
        "marker": guest.READY_MARKER, "health": guest.HEALTH_MARKER,
        "ipt_tables": " ".join(firewall.IPTABLES_TABLES), "ipt_re": "|".join(firewall.IPTABLES_TABLES),
    }


def vmm_status_lines(output: str) -> str:
    """The records the probe's QMP program prints (`vm NAME status STATUS`), asked from this process for each VM
    the probe found running with a QMP socket (host_probe without vmm_status)."""
    vms = {}  # type: Dict[str, Dict[str, str]]
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "vm" and parts[2] in ("pid", "qmp"):
            vms.setdefault(parts[1], {})[parts[2]] = parts[3]
    found = []
    for name, raw in sorted(vms.items()):
        status = qmp.query_status(raw["qmp"]) if raw.get("pid") and raw.get("qmp") else None
        if status:
            found.append("vm\t%s\tstatus\t%s\n" % (name, status))
    return "".join(found)


def paths_probe(paths: Sequence[str]) -> str:
    """Existence and sha256 of user-given files (kernels, rootfs), and the digest and run settings of images named
    by reference (entries from oci.probe_entry): only asked for when given."""
    from ansible_collections.mvm.microvm.plugins.module_utils import oci

    return _PATHS_SCRIPT % {"paths": " ".join(quote(p) for p in paths), "oci_prefix": oci.PROBE_PREFIX,
                            "oci": oci.inspect_command("p")}


def parse_paths(output: str) -> Dict[str, str]:
    """path -> sha256 for the files that exist; image entry -> its JSON line, or the tool's error."""
    found = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] in ("path", "oci", "ocierr"):
            found[parts[1]] = parts[2] if parts[0] != "ocierr" else "error: " + parts[2]
    return found


def json_or_none(text: str, warnings: List[str], what: str) -> Optional[Any]:
    try:
        return json.loads(text)
    except ValueError:
        warnings.append("%s is not valid JSON; treated as unknown" % what)
        return None


_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")
LIMA_STATUSES = ("Running", "Stopped", "Broken", "Uninitialized", "Installing")


def version(line: str) -> str:
    match = _VERSION.search(line or "")
    return match.group(1) if match else "unknown"


def _kvm(host: Dict[str, List[str]], arch: str) -> Dict[str, Any]:
    """KVM present is not KVM usable: PVM-only hosts hang a standard guest kernel."""
    modules = host.get("kvm_module", [])
    present = bool(host.get("kvm_present"))
    if "kvm_intel" in modules:
        kind = "kvm_intel"
    elif "kvm_amd" in modules:
        kind = "kvm_amd"
    elif "kvm_pvm" in modules:
        kind = "kvm_pvm"
    elif present and arch in ("aarch64", "arm64"):
        kind = "kvm_arm"
    else:
        kind = "unknown"
    rw = bool(host.get("kvm_rw"))
    if not present:
        why = "/dev/kvm does not exist"
    elif not rw:
        why = "/dev/kvm is not readable and writable by this user (add it to the kvm group)"
    elif kind == "kvm_pvm":
        why = "only kvm_pvm (PVM nested virtualisation) is loaded: a standard guest kernel hangs under it"
    elif kind == "unknown":
        why = "no kvm_intel, kvm_amd or arm KVM module found"
    else:
        why = ""
    return {"present": present, "rw": rw, "modules": modules, "kind": kind,
            "usable": not why, "reason": why or "usable"}


def _float(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _platform(one: Any, host: Dict[str, List[str]]) -> Dict[str, Any]:
    os_name = one("os", "unknown").lower()
    kernel = one("kernel", "unknown")
    wsl = bool(host.get("wsl"))
    if os_name == "darwin":
        kind = "macos"
    elif wsl:
        kind = "wsl2" if "wsl2" in kernel.lower() or "microsoft-standard" in kernel.lower() else "wsl1"
    else:
        kind = os_name
    return {
        "os": os_name,
        "kind": kind,
        "arch": one("arch", "unknown"),
        "kernel": kernel,
        "wsl": wsl,
        "distribution": one("distribution", "unknown"),
        "distribution_version": one("distribution_version", "unknown"),
        "macos_version": one("macos_version") or None,
        "cpu_mhz": _float(one("cpu_mhz")),
        # What runs as PID 1 (systemd, or a container's or sandbox's own init): VMs that come back need systemd.
        "init": one("pid1") or None,
    }


def _tools(raw: Dict[str, Dict[str, str]], warnings: List[str]) -> Dict[str, Dict[str, Any]]:
    """Every tool mvm knows, present or not, with a version where it prints one."""
    found_tools = {}  # type: Dict[str, Dict[str, Any]]
    for name in tools():
        found = raw.get(name, {})
        entry = {"present": "path" in found, "path": found.get("path"), "version": None}  # type: Dict[str, Any]
        if "version" in found:
            entry["version"] = version(found["version"])
            if entry["version"] == "unknown":
                warnings.append("%s printed an unexpected version line %r" % (name, found["version"][:80]))
        if name == "iptables" and "version" in found:
            entry["variant"] = "nft" if "nf_tables" in found["version"] else "legacy"
        found_tools[name] = entry
    return found_tools


def parse_lima(lines: List[str], warnings: List[str]) -> List[Dict[str, Any]]:
    """`limactl list --json` prints one object per line (not an array)."""
    instances = []
    for line in lines:
        if not line.strip():
            continue
        item = json_or_none(line, warnings, "a limactl list line")
        if not isinstance(item, dict) or not item.get("name"):
            continue
        status = item.get("status")
        if status not in LIMA_STATUSES:
            warnings.append("Lima instance %s has an unexpected status %r" % (item.get("name"), status))
            status = "unknown"
        instances.append({"name": item["name"], "status": status, "arch": item.get("arch"),
                          "cpus": item.get("cpus"), "memory": item.get("memory"), "disk": item.get("disk"),
                          "vmType": item.get("vmType"), "dir": item.get("dir")})
    return instances


def _network(text: Optional[str], warnings: List[str]) -> Dict[str, Any]:
    """Bridges and TAP devices from `ip -j -d addr show`."""
    links = json_or_none(text, warnings, "ip -j addr output") if text else None
    bridges, taps, names = [], [], []
    for link in links if isinstance(links, list) else []:
        names.append(str(link.get("ifname")))
        info = link.get("linkinfo", {})
        kind = info.get("info_kind")
        up = "UP" in link.get("flags", [])
        addresses = ["%s/%s" % (a.get("local"), a.get("prefixlen")) for a in link.get("addr_info", [])
                     if a.get("family") == "inet"]
        if kind == "bridge":
            bridges.append({"name": link.get("ifname"), "up": up, "addresses": addresses, "mac": link.get("address"),
                            "members": []})
        elif kind == "tun" and info.get("info_data", {}).get("type") == "tap":
            data = info.get("info_data", {})
            taps.append({"name": link.get("ifname"), "up": up, "master": link.get("master"),
                         "user": data.get("user"), "group": data.get("group")})
    for bridge in bridges:
        bridge["members"] = sorted(t["name"] for t in taps if t["master"] == bridge["name"])
    return {"bridges": bridges, "taps": taps, "interfaces": sorted(names)}


def _security(spec: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """For Firecracker VMs: jailed or not, and which seccomp filter (Firecracker's default unless a file)."""
    options = (spec or {}).get("firecracker")
    if not isinstance(options, dict):
        return None
    return {"jailer": bool(options.get("jailer")), "seccomp": options.get("seccomp_filter") or "default",
            "uid": options.get("uid"), "gid": options.get("gid")}


def _modes(text: str) -> Dict[str, int]:
    """`name=mode ...` (octal, from stat) of the files in a VM's directory."""
    found = {}
    for item in text.split():
        name, mode = item.rpartition("=")[::2]
        try:
            found[name] = int(mode, 8)
        except ValueError:
            continue
    return found


def _networks(nets: Dict[str, str], leases: Dict[str, Dict[str, str]], warnings: List[str]) -> Dict[str, Any]:
    """Networks mvm made (records under the state root) and their address leases."""
    found = {}  # type: Dict[str, Any]
    for name, text in sorted(nets.items()):
        record = json_or_none(text, warnings, "network record %s" % name)
        if not isinstance(record, dict):
            continue
        record = dict(record, leases={})
        for vm_name, lease_text in sorted(leases.get(name, {}).items()):
            lease = json_or_none(lease_text, warnings, "lease %s/%s" % (name, vm_name))
            if isinstance(lease, dict):
                record["leases"][vm_name] = lease
        found[name] = record
    return found


class _Records:
    """What a driver's parse_probe reads: host records by key, its own records by kind."""

    def __init__(self, one: Any, lines: Dict[str, List[List[str]]]) -> None:
        self.one, self._lines = one, lines

    def lines(self, kind: str) -> List[List[str]]:
        return self._lines.get(kind, [])


def health(spec: Optional[Mapping[str, Any]], state: str, line: Optional[str]) -> Optional[Dict[str, Any]]:
    """A VM's health as docker reports a container's: None without a check, else `starting` until the check first
    passes (or fails `retries` times), then `healthy` or `unhealthy` with the check's last output."""
    if not ((spec or {}).get("workload") or {}).get("health"):
        return None
    if state != "running":
        return {"status": None, "exit_code": None, "output": ""}
    words = (line or "").split(" ", 3) + ["", ""]
    if words[0] == guest.HEALTH_MARKER and words[1] in ("healthy", "unhealthy", "starting") \
            and words[2].startswith("rc=") and words[2][3:].isdigit():
        return {"status": words[1], "exit_code": int(words[2][3:]), "output": words[3].strip()}
    return {"status": "starting", "exit_code": None, "output": ""}


def parse_host(output: str) -> Dict[str, Any]:
    """Turn the probe's records into the facts structure (never raises on odd tool output)."""
    warnings = []  # type: List[str]
    host = {}  # type: Dict[str, List[str]]
    tools = {}  # type: Dict[str, Dict[str, str]]
    vms = {}  # type: Dict[str, Dict[str, str]]
    images = {}  # type: Dict[str, Dict[str, str]]
    artifacts = {}  # type: Dict[str, str]
    links = None  # type: Optional[str]
    width = {"host": 3, "tool": 4, "vm": 4, "image": 4, "artifact": 4, "links": 2, "ipt": 3, "nft": 2,
             "net": 3, "lease": 4, "snapshot": 3, "tapown": 4, "volume": 3, "rev": 3, "ksrc": 3}
    owned = {kind: n for d in _drivers() for kind, n in d.probe_records.items()}  # the backends' own records
    width.update(owned)
    backend_lines = {kind: [] for kind in owned}  # type: Dict[str, List[List[str]]]
    snapshots = {}  # type: Dict[str, str]
    revisions = {}  # type: Dict[str, List[str]]
    kernel_records = []  # type: List[List[str]]
    ipt = {}  # type: Dict[str, List[str]]
    nft = []  # type: List[str]
    nets = {}  # type: Dict[str, str]
    leases = {}  # type: Dict[str, Dict[str, str]]
    tap_owners: Dict[str, Tuple[str, str]] = {}
    volumes = {}  # type: Dict[str, Dict[str, Any]]
    for line in output.splitlines():
        parts = line.split("\t")
        kind = parts[0]
        if kind not in width:
            if line.strip():
                warnings.append("unexpected probe line ignored: %r" % line[:120])
            continue
        parts += [""] * (width[kind] - len(parts))  # a transport may strip trailing empty fields
        if kind == "host":
            host.setdefault(parts[1], []).append(parts[2])
        elif kind == "tool":
            tools.setdefault(parts[1], {})[parts[2]] = parts[3]
        elif kind == "vm":
            vms.setdefault(parts[1], {})[parts[2]] = parts[3]
        elif kind == "image":
            images.setdefault(parts[1], {})[parts[2]] = parts[3]
        elif kind == "artifact":
            artifacts[parts[1]] = parts[3]
        elif kind == "ipt":
            ipt.setdefault(parts[1], []).append(parts[2])
        elif kind == "nft":
            nft.append("\t".join(parts[1:]))  # nft indents with tabs
        elif kind == "net":
            nets[parts[1]] = parts[2]
        elif kind == "lease":
            leases.setdefault(parts[1], {})[parts[2]] = parts[3]
        elif kind == "snapshot":
            snapshots[parts[1]] = parts[2]
        elif kind == "rev":
            revisions.setdefault(parts[1], []).append(parts[2])
        elif kind == "ksrc":
            kernel_records.append(parts[1:3])
        elif kind == "tapown":
            tap_owners[parts[1]] = (parts[2], parts[3])
        elif kind == "volume":
            if parts[2].isdigit():
                volumes[parts[1]] = {"name": parts[1], "kind": "disk", "size_mib": int(parts[2]) // (1024 * 1024)}
            elif parts[2] == "dir":  # a container's volume: a directory, bind-mounted (no size of its own)
                volumes[parts[1]] = {"name": parts[1], "kind": "dir", "size_mib": None}
        elif kind in owned:
            backend_lines[kind].append(parts[1:width[kind]])
        else:
            links = parts[1]

    def one(key: str, default: str = "") -> str:
        return host.get(key, [default])[-1]

    platform = _platform(one, host)
    nix_features = one("nix_features")
    free = one("disk_free_kib")
    facts = {
        "probe_version": int(one("probe_version", "0") or 0),
        "state_root": one("state_root"),
        "user": {"uid": int(one("uid", "-1") or -1), "name": one("user")},
        "platform": platform,
        "kvm": _kvm(host, platform["arch"]),
        "tools": _tools(tools, warnings),
        "nix": {"present": "nix" in tools, "flakes": "flakes" in nix_features.split()},
        "network": _network(links, warnings),
        "networks": _networks(nets, leases, warnings),
        "disk_free_mib": int(free) // 1024 if free.isdigit() else None,
        # What a fleet's placement weighs: memory the host can still give (MemAvailable) and its CPUs.
        "capacity": {"memory_available_mib": int(one("mem_available_kib")) // 1024
                     if one("mem_available_kib").isdigit() else None,
                     "cpus": int(one("cpus")) if one("cpus").isdigit() else None},
        "kvm_mode": one("kvm_mode") or None,
        "state_root_mode": one("state_root_mode") or None,
        "vms": {},
        "images": {},
        "artifacts": sorted(artifacts),
        "volumes": dict(sorted(volumes.items())),
        "warnings": warnings,
    }  # type: Dict[str, Any]
    for tap in facts["network"]["taps"]:
        uid, gid = tap_owners.get(tap["name"], ("", ""))
        tap["uid"], tap["gid"] = (uid if uid != "-1" else None) or None, (gid if gid != "-1" else None) or None
    facts["network"]["docker_chains"] = bool(host.get("docker_chains"))
    facts["network"]["uplink"] = one("uplink") or None
    facts["network"]["ip_forward"] = one("ip_forward") or None
    facts["network"]["ip_forward_saved"] = one("ip_forward_saved") or None
    facts["network"]["firewall"] = {
        "nft_table": bool(host.get("nft_table")),
        "rules": [r for tb in firewall.IPTABLES_TABLES for r in firewall.parse_iptables(tb, ipt.get(tb, []))]
        + firewall.parse_nft(nft),
    }
    for name, raw in sorted(vms.items()):
        spec = json_or_none(raw["spec"], warnings, "spec.json of VM %s" % name) if raw.get("spec") else None
        spec = spec if isinstance(spec, dict) else None
        pid = int(raw["pid"]) if raw.get("pid", "").isdigit() else None
        state = "stopped"
        if pid:
            # QMP says paused/postmigrate/suspended; Firecracker's GET / says Paused.
            state = "paused" if raw.get("status") in ("paused", "postmigrate", "suspended", "Paused") else "running"
        facts["vms"][name] = {
            "name": name,
            "dir": raw.get("dir"),
            "pid": pid,
            "state": state,
            "vmm_status": raw.get("status"),
            "backend": (spec or {}).get("backend", "unknown"),
            "applied": spec,
            "qmp_socket": raw.get("qmp"),
            "security": _security(spec),
            "ready": bool(raw.get("ready")),
            "vmm_uid": int(raw["vmm_uid"]) if raw.get("vmm_uid", "").isdigit() else None,
            "modes": _modes(raw.get("modes", "")),
            "stale_pid": bool(raw.get("stale")),
            "health": health(spec, state, raw.get("health")),
        }
    records = _Records(one, backend_lines)
    for driver in _drivers():
        driver.parse_probe(records, facts, warnings)
    # mvm's kernel's inputs here (see kernel.found): the compiler's first line is gcc's version line, raw.
    from ansible_collections.mvm.microvm.plugins.module_utils import kernel

    facts["kernel_inputs"] = kernel.parse_records(kernel_records, tools.get("gcc", {}).get("version", ""))
    installed = one("fc_installed")
    facts["firecracker_install"] = json_or_none(installed, warnings, "firecracker install record") if installed else None
    facts["revisions"] = {}  # pool -> its records, by number (see plugin_utils/revisions.py)
    for pool, lines in sorted(revisions.items()):
        found = [json_or_none(text, warnings, "a revision record of pool %s" % pool) for text in lines]
        facts["revisions"][pool] = sorted((r for r in found if isinstance(r, dict) and isinstance(r.get("revision"), int)),
                                          key=lambda r: r["revision"])
    facts["snapshots"] = {}
    for name, text in sorted(snapshots.items()):
        meta = json_or_none(text, warnings, "metadata of snapshot %s" % name)
        if isinstance(meta, dict):
            facts["snapshots"][name] = meta
    for name, raw in sorted(images.items()):
        manifest = json_or_none(raw["manifest"], warnings, "manifest of image %s" % name) if raw.get("manifest") else None
        manifest = manifest if isinstance(manifest, dict) else None
        facts["images"][name] = {
            "name": name,
            "id": raw.get("target", "").rstrip("/").split("/")[-1],
            "complete": manifest is not None,
            "manifest": manifest,
        }
    return facts
