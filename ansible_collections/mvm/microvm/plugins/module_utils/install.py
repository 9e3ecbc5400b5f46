# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installing Firecracker and its jailer: a pinned release, checksum verified, idempotent by version.

The release is fetched (or copied from a local file) into a work directory under the state root,
verified, unpacked, and only then installed; a wrong checksum removes the work directory and leaves
the bin dir as it was. A record under the state root says which version and binary mvm installed.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
import re
import string
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import Plan, quote

DEFAULT_URL = ("https://github.com/firecracker-microvm/firecracker/releases/download/"
               "v{version}/firecracker-v{version}-{arch}.tgz")
DEFAULTS = {"version": None, "arch": None, "url": DEFAULT_URL, "sha256": None, "src": None,
            "bin_dir": "/usr/local/bin", "state": "present", "state_root": None}
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+", re.ASCII)
_SHA = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True)
class InstallSpec:
    version: str
    arch: Optional[str]
    url: str
    sha256: Optional[str]
    src: Optional[str]
    bin_dir: str
    state: str
    state_root: Optional[str]


def install_spec(params: Mapping[str, Any]) -> InstallSpec:
    p = validate.options(params, DEFAULTS)
    state = validate.choice("state", p["state"], ("present", "absent"))
    version = str(p["version"] or "")
    if state == "present" and not _VERSION.fullmatch(version):
        raise SpecError("version", "expected a release version such as 1.14.1; got %r" % (p["version"],))
    sha = p["sha256"]
    if sha is not None and not _SHA.fullmatch(str(sha).lower()):
        raise SpecError("sha256", "expected 64 hexadecimal digits; got %r" % (sha,))
    if state == "present" and not p["src"] and not sha:
        raise SpecError("sha256", "a download is installed only with its checksum: give sha256")
    url = _url_template(p["url"], version)
    return InstallSpec(version, validate.choice("arch", p["arch"], ("x86_64", "aarch64")) if p["arch"] else None,
                       url, sha.lower() if sha else None, validate.abs_path("src", p["src"], optional=True),
                       str(validate.abs_path("bin_dir", p["bin_dir"])), state,
                       validate.abs_path("state_root", p["state_root"], optional=True))


_URL = re.compile(r"(https?|file)://[^\s]+", re.ASCII)


def _url_template(value: Any, version: str) -> str:
    """A download URL whose only placeholders are {version} and {arch}; it reaches curl as one quoted argument."""
    url = value if isinstance(value, str) else ""
    try:
        fields = {f for _text, f, _spec, _conv in string.Formatter().parse(url) if f is not None}
        rendered = url.format(version=version or "0.0.0", arch="x86_64") if fields <= {"version", "arch"} else ""
    except (ValueError, IndexError, KeyError):
        rendered = ""
    if not _URL.fullmatch(rendered):
        raise SpecError("url", "expected an http(s):// or file:// URL template whose only placeholders are {version} "
                               "and {arch}; got %r" % (value,))
    return url


def binaries(spec: InstallSpec) -> List[str]:
    return [spec.bin_dir + "/firecracker", spec.bin_dir + "/jailer"]


def plan_install(spec: InstallSpec, facts: Mapping[str, Any], shas: Mapping[str, str]) -> Plan:
    """Present: nothing to do when the record names this version and the binary is the one installed."""
    root = facts["state_root"]
    record_path = root + "/firecracker-install.json"
    record = facts.get("firecracker_install")
    fc, jailer = binaries(spec)
    plan = Plan(before={"installed": record})
    if spec.state == "absent":
        if record or fc in shas:
            plan.add("remove firecracker and jailer from %s" % spec.bin_dir, "rm -f %s %s %s" % (
                quote(fc), quote(jailer), quote(record_path)))
        plan.after = {"installed": None}
        return plan
    arch = spec.arch or ("aarch64" if facts["platform"]["arch"] in ("aarch64", "arm64") else "x86_64")
    if record and record.get("version") == spec.version and record.get("arch") == arch \
            and record.get("binary_sha256") == shas.get(fc):
        plan.after = plan.before
        plan.result = dict(record, changed=False)
        return plan
    work = "%s/.firecracker-%s-%s" % (root, spec.version, arch)
    source = spec.src or spec.url.format(version=spec.version, arch=arch)
    fetch = ("cp %s %s" % (quote(spec.src), quote(work + "/release"))) if spec.src else (
        "curl -fsSL -o %s %s" % (quote(work + "/release"), quote(source)))
    plan.add("fetch firecracker %s (%s)" % (spec.version, arch), "rm -rf %s && mkdir -p %s && %s" % (
        quote(work), quote(work), fetch))
    if spec.sha256:
        plan.add("verify the sha256 checksum", (
            "got=$(sha256sum < %(file)s | cut -c1-64); if [ \"$got\" != %(sha)s ]; then "
            "printf 'sha256 mismatch for %%s: expected %%s, got %%s\\n' %(src)s %(sha)s \"$got\" >&2; "
            "rm -rf %(work)s; exit 1; fi") % {"sha": quote(spec.sha256), "file": quote(work + "/release"),
                                              "src": quote(source), "work": quote(work)})
    names = {"fc": "firecracker-v%s-%s" % (spec.version, arch), "jailer": "jailer-v%s-%s" % (spec.version, arch)}
    plan.add("unpack the release", (
        "cd %(work)s && if tar -tzf release >/dev/null 2>&1; then tar -xzf release; "
        "fc=$(find . -type f -name %(fc)s | head -n 1); jl=$(find . -type f -name %(jailer)s | head -n 1); "
        "else fc=release; jl=; fi; "
        "[ -n \"$fc\" ] || { echo 'not in the release:' %(fc)s >&2; exit 1; }; "
        "mv \"$fc\" bin-firecracker; [ -n \"$jl\" ] && mv \"$jl\" bin-jailer; true") % {
            "work": quote(work), "fc": quote(names["fc"]), "jailer": quote(names["jailer"])})
    record_new = {"version": spec.version, "arch": arch, "source": source, "sha256": spec.sha256}
    plan.add("install into %s" % spec.bin_dir, (
        "cd %(work)s && mkdir -p %(bin)s && install -m 0755 bin-firecracker %(fc)s && "
        "{ [ ! -f bin-jailer ] || install -m 0755 bin-jailer %(jailer)s; } && "
        "python3 -c %(rec)s %(fc)s %(record)s %(json)s && rm -rf %(work)s") % {
            "work": quote(work), "bin": quote(spec.bin_dir), "fc": quote(fc), "jailer": quote(jailer),
            "record": quote(record_path), "json": quote(json.dumps(record_new, sort_keys=True)),
            "rec": quote("import hashlib,json,sys;r=json.loads(sys.argv[3]);"
                         "r['binary_sha256']=hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest();"
                         "open(sys.argv[2],'w').write(json.dumps(r,sort_keys=True))")})
    plan.after = {"installed": record_new}
    plan.result = dict(record_new, bin_dir=spec.bin_dir)
    return plan
