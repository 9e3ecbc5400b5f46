# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image bundles: an image built once, carried to other hosts by digest, signed, verified before use.

A bundle is a tar of an image's artifact directory, written the same way every time (names sorted, owner root,
times zero), so equal images give equal bundles. `export` writes `<dir>/<image id>.tar` after the image is built
(and `<id>.tar.sig`, an SSH signature made with `ssh-keygen -Y sign` in the namespace `mvm-image`, when a signing
key is given). `bundle` makes an image from one: the file is first copied into the build directory, and that copy
is what is checked - its sha256 against the pinned `digest`, its signature against `allowed_signers` (ssh-keygen's
ALLOWED SIGNERS format) for the signer's identity - and then unpacked. With `require_signature` an image without a
signature is refused before anything runs.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass
from typing import Any, Optional

from ansible_collections.mvm.microvm.plugins.module_utils import validate
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import join, quote

NAMESPACE = "mvm-image"  # ssh-keygen -Y's namespace: a signature made for anything else does not verify here
SIG_SUFFIX = ".sig"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_SIGNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]{0,127}", re.ASCII)
SOURCE_DEFAULTS = {"path": None, "digest": None, "signature": None, "allowed_signers": None, "signer": "mvm",
                   "require_signature": False}
EXPORT_DEFAULTS = {"dir": None, "signing_key": None, "signer": "mvm"}


@dataclass(frozen=True)
class Source:
    """Where an image comes from when it is a bundle, and what it must prove."""

    path: str
    digest: str
    signature: Optional[str]
    allowed_signers: Optional[str]
    signer: str
    require_signature: bool

    def inputs(self) -> dict:
        """What addresses the artifact: the bundle's content (its digest), nothing about where it lay."""
        return {"digest": self.digest}


@dataclass(frozen=True)
class Export:
    directory: str
    signing_key: Optional[str]
    signer: str


def _signer(field: str, value: Any) -> str:
    text = validate.text_line(field, value, max_len=128)
    if not _SIGNER.fullmatch(text):
        raise SpecError(field, "expected a signer identity such as builder@example.org; got %r" % (value,))
    return text


def source(value: Any) -> Source:
    """The rootfs operation's `bundle` option, validated (each error names its field)."""
    p = validate.options(value if value is not None else {}, SOURCE_DEFAULTS, "bundle.")
    if p["path"] is None:
        raise SpecError("bundle.path", "expected the absolute path of the bundle on the host")
    digest = p["digest"]
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise SpecError("bundle.digest", "expected sha256:<64 hex digits>, the bundle pinned; got %r" % (digest,))
    signature = validate.abs_path("bundle.signature", p["signature"], optional=True)
    signers = validate.abs_path("bundle.allowed_signers", p["allowed_signers"], optional=True)
    if signature and not signers:
        raise SpecError("bundle.allowed_signers", "a signature is verified against an allowed signers file; give one")
    required = validate.boolean("bundle.require_signature", p["require_signature"])
    if required and not signature:
        raise SpecError("bundle.signature", "the bundle has no signature and require_signature is set: refused")
    return Source(str(validate.abs_path("bundle.path", p["path"])), digest, signature, signers,
                  _signer("bundle.signer", p["signer"]), required)


def export(value: Any) -> Export:
    """The rootfs operation's `export` option, validated."""
    p = validate.options(value if value is not None else {}, EXPORT_DEFAULTS, "export.")
    if p["dir"] is None:
        raise SpecError("export.dir", "expected the absolute path of a directory for the bundle")
    return Export(str(validate.abs_path("export.dir", p["dir"])),
                  validate.abs_path("export.signing_key", p["signing_key"], optional=True),
                  _signer("export.signer", p["signer"]))


def file_of(exp: Export, ident: str) -> str:
    return "%s/%s.tar" % (exp.directory, ident)


def named_file(exp: Export, name: str) -> str:
    """`<dir>/<image name>.tar`: a link to the image's current bundle, a name other hosts can fetch by (the digest
    pins what they get)."""
    return "%s/%s.tar" % (exp.directory, name)


def link_command(exp: Export, name: str, ident: str) -> str:
    base = "%s.tar" % ident
    return " && ".join("ln -sfn %s %s" % (quote(base + suffix), quote(named_file(exp, name) + suffix))
                       for suffix in ("", SIG_SUFFIX if exp.signing_key else None) if suffix is not None)


def pack_command(artifact: str, target: str) -> str:
    """A bundle of an artifact directory, the same bytes for the same files, written through a temporary file."""
    return ("umask 077 && mkdir -p %(d)s && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner "
            "--format=gnu -cf %(t)s.tmp -C %(a)s . && mv -f %(t)s.tmp %(t)s") % {
        "d": quote(target.rsplit("/", 1)[0]), "t": quote(target), "a": quote(artifact)}


def sign_command(exp: Export, target: str) -> str:
    """`<target>.sig`: ssh-keygen -Y sign with the user's key, in mvm's namespace."""
    return "rm -f %s && %s" % (quote(target + SIG_SUFFIX), join(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(exp.signing_key), "-n", NAMESPACE, target]))


def check_command(src: Source, copy: str) -> str:
    """Verify the build directory's copy of the bundle: digest, then signature (when there is one)."""
    hexdigest = src.digest.split(":", 1)[1]
    steps = ["echo %s | sha256sum -c --status || { echo %s >&2; exit 1; }" % (
        quote("%s  %s" % (hexdigest, copy)), quote("bundle %s does not have the digest %s" % (src.path, src.digest)))]
    if src.signature:
        steps.append("%s < %s >/dev/null || { echo %s >&2; exit 1; }" % (
            join(["ssh-keygen", "-Y", "verify", "-f", str(src.allowed_signers), "-I", src.signer, "-n", NAMESPACE,
                  "-s", src.signature]), quote(copy),
            quote("bundle %s: the signature %s does not verify for %s" % (src.path, src.signature, src.signer))))
    return " && ".join(steps)
