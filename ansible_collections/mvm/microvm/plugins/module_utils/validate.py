# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Field validators: each returns the clean value or raises SpecError naming the field."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, Mapping, Optional, Sequence

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNIT_MIB = {"K": 1.0 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


def options(params: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Defaults under the given values (None means 'not given', as in Ansible); an unknown option is refused."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise SpecError(prefix + unknown[0], "unknown option; accepted: %s" % ", ".join(sorted(defaults)))
    merged = dict(defaults)
    merged.update({k: v for k, v in params.items() if v is not None})
    return merged


def name(field: str, value: Any, max_len: int = 64) -> str:
    """A resource name that is safe as a file name, a process tag and a hostname."""
    text = "" if value is None else str(value)
    if not text or len(text) > max_len or not _NAME.match(text):
        raise SpecError(field, "expected 1 to %d characters of letters, digits, '.', '_' or '-', "
                               "starting with a letter or digit; got %r" % (max_len, text))
    return text


def size_mib(field: str, value: Any, minimum: int = 1) -> int:
    """Sizes as users write them (512, '512M', '1G', '2GiB') -> MiB; a bare number is MiB."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        mib = value
    else:
        match = _SIZE.match("" if value is None else str(value))
        if not match:
            raise SpecError(field, "expected a size such as 512 (MiB), 512M or 1G; got %r" % (value,))
        mib_f = int(match.group(1)) * _UNIT_MIB[match.group(2).upper()]
        mib = int(mib_f)
        if mib != mib_f:
            raise SpecError(field, "expected a whole number of MiB; got %r" % (value,))
    if mib < minimum:
        raise SpecError(field, "expected at least %d MiB; got %r" % (minimum, value))
    return mib


def integer(field: str, value: Any, lo: int, hi: int) -> int:
    """An integer in [lo, hi]; strings of digits are accepted (Ansible passes them)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise SpecError(field, "expected a whole number from %d to %d; got %r" % (lo, hi, value)) from None
    if not lo <= number <= hi:
        raise SpecError(field, "expected a whole number from %d to %d; got %r" % (lo, hi, value))
    return number


def number(field: str, value: Any, lo: float, hi: float) -> float:
    """A positive duration in seconds."""
    try:
        if isinstance(value, bool):
            raise ValueError
        result = float(value)
    except (TypeError, ValueError):
        raise SpecError(field, "expected a number of seconds from %g to %g; got %r" % (lo, hi, value)) from None
    if not lo <= result <= hi:
        raise SpecError(field, "expected a number of seconds from %g to %g; got %r" % (lo, hi, value))
    return result


def choice(field: str, value: Any, choices: Sequence[str]) -> str:
    text = str(value)
    if text not in choices:
        raise SpecError(field, "expected one of %s; got %r" % (", ".join(choices), value))
    return text


def abs_path(field: str, value: Any, optional: bool = False) -> Optional[str]:
    """An absolute path without newlines: relative paths depend on where a module happens to run."""
    if value is None or value == "":
        if optional:
            return None
        raise SpecError(field, "expected an absolute path; got nothing")
    text = str(value)
    if not text.startswith("/") or "\n" in text or "\0" in text:
        raise SpecError(field, "expected an absolute path such as /var/lib/mvm/vmlinuz; got %r" % (text,))
    return text.rstrip("/") or "/"


def text_line(field: str, value: Any) -> str:
    """Free text that ends up on a kernel command line: one line, printable."""
    text = "" if value is None else str(value)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise SpecError(field, "expected one line of printable text; got %r" % (text,))
    return text.strip()


_IFNAME_BAD = set("/ :%\t\n\0")


def ifname(field: str, value: Any) -> str:
    """A Linux interface name: 1 to 15 bytes, no '/', ':', '%' or whitespace."""
    text = "" if value is None else str(value)
    if not text or len(text.encode()) > 15 or _IFNAME_BAD & set(text) or text in (".", ".."):
        raise SpecError(field, "expected an interface name of 1 to 15 bytes without '/', ':', '%%' or spaces; "
                               "got %r" % (text,))
    return text


def ipv4_network(field: str, value: Any) -> Any:
    """An IPv4 subnet in CIDR form, host bits clear (10.77.0.0/24)."""
    import ipaddress
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError as exc:
        raise SpecError(field, "expected an IPv4 subnet such as 10.77.0.0/24; got %r (%s)" % (value, exc)) from None
    if net.prefixlen > 30:
        raise SpecError(field, "expected a prefix of /30 or shorter, to leave room for a gateway and VMs; got %r" % (value,))
    return net


def ipv4_address(field: str, value: Any) -> Any:
    import ipaddress
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise SpecError(field, "expected an IPv4 address such as 10.77.0.1; got %r" % (value,)) from None


def port(field: str, value: Any) -> int:
    return integer(field, value, 1, 65535)
