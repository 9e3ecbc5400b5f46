# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian root file systems as an image source: `mmdebstrap --variant=minbase` with the packages asked for, so a
guest can have python3 and real services. mvm's init is added to the tree like to any other (image.inject_commands).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from ansible_collections.mvm.microvm.plugins.module_utils import validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import join, quote

DEFAULTS = {"suite": "bookworm", "packages": None, "mirror": None}
MAX_PACKAGES = 200
_SUITE = re.compile(r"[a-z]+(?:-[a-z]+)?", re.ASCII)
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{1,99}", re.ASCII)  # Debian policy 5.6.1
_MIRROR = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?", re.ASCII)


@dataclass(frozen=True)
class Debian:
    suite: str
    packages: Tuple[str, ...]
    mirror: str

    def inputs(self) -> Dict[str, Any]:
        return {"suite": self.suite, "packages": list(self.packages), "mirror": self.mirror}


def options(value: Any) -> Debian:
    """The rootfs operation's `debian` option, validated (each error names its field)."""
    p = validate.options(value if value is not None else {}, DEFAULTS, "debian.")
    suite = str(p["suite"])
    if not _SUITE.fullmatch(suite):
        raise SpecError("debian.suite", "expected a Debian suite or codename such as bookworm; got %r" % (p["suite"],))
    packages = []
    for index, name in enumerate(validate.items("debian.packages", p["packages"]) if p["packages"] is not None else []):
        if not isinstance(name, str) or not _PACKAGE.fullmatch(name):
            raise SpecError("debian.packages[%d]" % index, "expected a Debian package name; got %r" % (name,))
        packages.append(name)
    if len(packages) > MAX_PACKAGES:
        raise SpecError("debian.packages", "expected at most %d packages" % MAX_PACKAGES)
    mirror = "" if p["mirror"] is None else str(p["mirror"])
    if mirror and not _MIRROR.fullmatch(mirror):
        raise SpecError("debian.mirror", "expected an http(s) URL of a Debian mirror; got %r" % (p["mirror"],))
    return Debian(suite, tuple(sorted(set(packages))), mirror)


def build_command(deb: Debian, rootfs: str) -> str:
    """mmdebstrap into an empty directory (it refuses a non-empty one)."""
    argv = ["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root"]
    if deb.packages:
        argv.append("--include=" + ",".join(deb.packages))
    argv += [deb.suite, rootfs] + ([deb.mirror] if deb.mirror else [])
    return "rm -rf %s && %s" % (quote(rootfs), join(argv))
