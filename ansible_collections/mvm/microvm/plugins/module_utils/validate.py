# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Field validators: each returns the clean value or raises SpecError naming the field."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, Mapping, Optional, Sequence

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_SIZE = re.compile(r"\s*([0-9]+)\s*(?:([KMGT])(?:i?B)?)?\s*", re.IGNORECASE | re.ASCII)
_INT = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_DECIMAL = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*", re.ASCII)
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}", re.ASCII)
_SSH_DEST = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}@)?[A-Za-z0-9_\[][A-Za-z0-9_.:%\[\]-]{0,252}", re.ASCII)
_UNIT_MIB = {"K": 1.0 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}
MAX_TEXT = 4096
MAX_MEMORY_MIB = 1024 * 1024  # 1 TiB: above any host this tool will meet, below a typo's reach
TRUE_WORDS = ("yes", "true", "1", "on")
FALSE_WORDS = ("no", "false", "0", "off")


# File contents (a VM's `files` and `secrets`) are the one kind of value that may hold line breaks and tabs; they
# reach the host only as data (a printf argument, standard input), never as command text.
CONTENT_KEY = "content"
MAX_CONTENT = 256 * 1024


def control_free(field: str, value: Any, content: Optional[bool] = False) -> None:
    """Refuse control characters (newline, NUL, escape, C1, line separators) anywhere in a value.

    Called on every option by options(), so no field can carry one into a command or a file. A `content` key
    inside an option listed as holding files may have newlines and tabs (nothing else) and be longer.
    """
    if isinstance(value, str):
        allowed = "\n\t" if content else ""
        bad = [c for c in value if (ord(c) < 32 and c not in allowed) or 127 <= ord(c) < 160 or c in "\u2028\u2029"]
        if bad:
            raise SpecError(field, "control characters are not allowed (found %r); got %r"
                            % (bad[0], value if not content else "%d characters" % len(value)))
        limit = MAX_CONTENT if content else MAX_TEXT
        if len(value) > limit:
            raise SpecError(field, "expected at most %d characters; got %d" % (limit, len(value)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            control_free("%s.%s" % (field, key), key)
            control_free("%s.%s" % (field, key), item, content=content is not False and key == CONTENT_KEY)
    elif isinstance(value, (list, tuple)):
        if len(value) > 1024:
            raise SpecError(field, "expected at most 1024 items; got %d" % len(value))
        for index, item in enumerate(value):
            control_free("%s[%d]" % (field, index), item, content=None if content is None else False)


def options(params: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = "",
            file_options: Sequence[str] = ()) -> Dict[str, Any]:
    """Defaults under the given values (None means 'not given', as in Ansible); an unknown option is refused,
    and so is a control character in any value (but in the `content` of an item of `file_options`)."""
    if not isinstance(params, Mapping):
        raise SpecError(prefix.rstrip(".") or "options", "expected a dictionary of options; got %r" % (params,))
    unknown = sorted(set(map(str, params)) - set(defaults))
    if unknown:
        raise SpecError(prefix + unknown[0], "unknown option; accepted: %s" % ", ".join(sorted(defaults)))
    for key, value in params.items():
        # A file option's own text value is content; inside its items only the `content` keys are.
        control_free(prefix + key, value, content=(isinstance(value, str) or None) if key in file_options else False)
    merged = dict(defaults)
    merged.update({k: v for k, v in params.items() if v is not None})
    return merged


def name(field: str, value: Any, max_len: int = 64) -> str:
    """A resource name that is safe as a file name, a process tag and a hostname."""
    text = "" if value is None or isinstance(value, bool) else str(value)
    if not text or len(text) > max_len or not _NAME.fullmatch(text):
        raise SpecError(field, "expected 1 to %d characters of letters, digits, '.', '_' or '-', "
                               "starting with a letter or digit; got %r" % (max_len, value))
    return text


def boolean(field: str, value: Any) -> bool:
    """A boolean as YAML and Ansible write them; 'false' is false (bool('false') is not)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise SpecError(field, "expected true or false; got %r" % (value,))


def size_mib(field: str, value: Any, minimum: int = 1, maximum: int = MAX_MEMORY_MIB) -> int:
    """Sizes as users write them (512, '512M', '1G', '2GiB') -> MiB; a bare number is MiB, '512B' is refused."""
    if isinstance(value, bool) or isinstance(value, float):
        value = None
    if isinstance(value, int):
        mib = value
    else:
        match = _SIZE.fullmatch("" if value is None else str(value))
        if not match:
            raise SpecError(field, "expected a size such as 512 (MiB), 512M or 1G; got %r" % (value,))
        mib_f = int(match.group(1)) * _UNIT_MIB[(match.group(2) or "").upper()]
        mib = int(mib_f)
        if mib != mib_f:
            raise SpecError(field, "expected a whole number of MiB; got %r" % (value,))
    if not minimum <= mib <= maximum:
        raise SpecError(field, "expected %d to %d MiB; got %r" % (minimum, maximum, value))
    return mib


def integer(field: str, value: Any, lo: int, hi: int) -> int:
    """An integer in [lo, hi]; ASCII digit strings are accepted (Ansible passes them), '1_0' and '١' are not."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT.fullmatch(value):
        number = int(value.strip())
    if number is None or not lo <= number <= hi:
        raise SpecError(field, "expected a whole number from %d to %d; got %r" % (lo, hi, value))
    return number


def number(field: str, value: Any, lo: float, hi: float) -> float:
    """A duration in seconds, written in plain decimal (no '1_0', 'inf' or 'nan')."""
    result = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        result = float(value)
    if result is None or not lo <= result <= hi:
        raise SpecError(field, "expected a number of seconds from %g to %g; got %r" % (lo, hi, value))
    return result


def items(field: str, value: Any) -> Sequence[Any]:
    """A list option: a list (or nothing); a string or a number is not a list of one."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SpecError(field, "expected a list; got %r" % (value,))
    return value


def choice(field: str, value: Any, choices: Sequence[str]) -> str:
    text = str(value)
    if text not in choices:
        raise SpecError(field, "expected one of %s; got %r" % (", ".join(choices), value))
    return text


def abs_path(field: str, value: Any, optional: bool = False) -> Optional[str]:
    """An absolute, normalised path: no '..' or '.' component, no control character, at most 1024 bytes.

    Relative paths depend on where a module happens to run; '..' makes a path mean another than it says.
    """
    if value is None or value == "":
        if optional:
            return None
        raise SpecError(field, "expected an absolute path; got nothing")
    text = str(value) if isinstance(value, str) else ""
    parts = text.split("/")
    if not text.startswith("/") or len(text.encode()) > 1024 or any(p in (".", "..") for p in parts):
        raise SpecError(field, "expected an absolute path without '.' or '..' such as /var/lib/mvm/vmlinuz; got %r"
                        % (value,))
    control_free(field, text)
    return "/" + "/".join(p for p in parts if p) if text.strip("/") else "/"


def text_line(field: str, value: Any, max_len: int = 2048) -> str:
    """Free text that ends up on a kernel command line: one line, printable, bounded."""
    text = "" if value is None else str(value)
    control_free(field, text)
    if len(text) > max_len:
        raise SpecError(field, "expected at most %d characters; got %d" % (max_len, len(text)))
    return text.strip()


def ssh_destination(field: str, value: Any) -> str:
    """An ssh destination, `[user@]host` (a name from the SSH configuration, an address, [IPv6]): never an option
    (a leading '-'), a path or anything a remote shell would read."""
    text = "" if value is None else str(value)
    control_free(field, text)
    if not _SSH_DEST.fullmatch(text):
        raise SpecError(field, "expected an ssh destination such as root@kvm1.example.org or 10.0.0.2; got %r" % (value,))
    return text


def ifname(field: str, value: Any) -> str:
    """A Linux interface name: 1 to 15 of letters, digits, '_', '.', '-'; not '.' or '..'."""
    text = "" if value is None or isinstance(value, bool) else str(value)
    if not _IFNAME.fullmatch(text) or text in (".", "..") or text.startswith("-"):
        raise SpecError(field, "expected an interface name of 1 to 15 letters, digits, '_', '.' or '-' "
                               "(not starting with '-'); got %r" % (value,))
    return text


def ipv4_network(field: str, value: Any) -> Any:
    """A private IPv4 subnet in CIDR form, host bits clear, /16 to /30 (10.77.0.0/24).

    Loopback, link-local, multicast, 0.0.0.0/0 and public ranges are refused: mvm NATs this subnet
    and hands out its addresses, which only makes sense in private space.
    """
    import ipaddress
    text = str(value) if isinstance(value, str) else ""
    try:
        if not re.fullmatch(r"[0-9./]+", text, re.ASCII):
            raise ValueError("not dotted-quad CIDR")
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise SpecError(field, "expected an IPv4 subnet such as 10.77.0.0/24; got %r (%s)" % (value, exc)) from None
    if not 16 <= net.prefixlen <= 30:
        raise SpecError(field, "expected a prefix from /16 to /30 (room for a gateway and VMs, bounded); got %r"
                        % (value,))
    shared = ipaddress.IPv4Network("100.64.0.0/10")
    if net.is_loopback or net.is_link_local or net.is_multicast or net.is_reserved or net.is_unspecified \
            or not (net.is_private or net.subnet_of(shared)):
        raise SpecError(field, "expected a private subnet (10/8, 172.16/12, 192.168/16 or 100.64/10); got %r"
                        % (value,))
    return net


def ipv4_address(field: str, value: Any) -> Any:
    import ipaddress
    text = str(value) if isinstance(value, str) else ""
    try:
        if not re.fullmatch(r"[0-9.]+", text, re.ASCII):
            raise ValueError(text)
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise SpecError(field, "expected an IPv4 address such as 10.77.0.1; got %r" % (value,)) from None


def port(field: str, value: Any) -> int:
    return integer(field, value, 1, 65535)
