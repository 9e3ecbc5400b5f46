# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OCI images both ways: images as a source of a rootfs (skopeo copies, umoci unpacks), and an OCI image
layout archive of a built rootfs, for runtimes that load images (Apple's container).

A source image is addressed by its content, not by how it was reached: the digest mvm keys the artifact on
hashes the config's layer diff_ids (the uncompressed layers) and the run settings (Entrypoint, Cmd, Env,
WorkingDir, User). The same image from a registry, a Docker daemon or an archive gives the same digest (the
manifest digest does not: skopeo rewrites manifests between formats), and a tag that moved gives another.

The archive is written by a small program that travels in a shell command (python3 on the build host): one
gzip layer from rootfs.tar, an image config whose entrypoint is /init, a manifest, and index.json naming the
image with the org.opencontainers.image.ref.name annotation.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
import re
from typing import Any, Dict, Mapping

from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from ansible_collections.mvm.microvm.plugins.module_utils.shell import join, quote

OCI_FILE = "oci.tar"
OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

_PROGRAM = r"""import gzip,hashlib,io,json,sys,tarfile
src,out,ref,arch=sys.argv[1:5]
raw=open(src,'rb').read()
layer=gzip.compress(raw,6,mtime=0)
def blob(data):
    return 'sha256:'+hashlib.sha256(data).hexdigest(),data
config=json.dumps({'architecture':arch,'os':'linux','config':{'Entrypoint':['/init'],'Labels':{'mvm.managed':'true'}},
    'rootfs':{'type':'layers','diff_ids':['sha256:'+hashlib.sha256(raw).hexdigest()]}},sort_keys=True).encode()
ld,lb=blob(layer);cd,cb=blob(config)
manifest=json.dumps({'schemaVersion':2,'mediaType':'application/vnd.oci.image.manifest.v1+json',
    'config':{'mediaType':'application/vnd.oci.image.config.v1+json','digest':cd,'size':len(cb)},
    'layers':[{'mediaType':'application/vnd.oci.image.layer.v1.tar+gzip','digest':ld,'size':len(lb)}]},sort_keys=True).encode()
md,mb=blob(manifest)
index=json.dumps({'schemaVersion':2,'manifests':[{'mediaType':'application/vnd.oci.image.manifest.v1+json',
    'digest':md,'size':len(mb),'annotations':{'org.opencontainers.image.ref.name':ref}}]},sort_keys=True).encode()
with tarfile.open(out,'w') as t:
    for name,data in [('oci-layout',b'{"imageLayoutVersion":"1.0.0"}'),('index.json',index)]+[
            ('blobs/sha256/'+d.split(':')[1],b) for d,b in ((ld,lb),(cd,cb),(md,mb))]:
        info=tarfile.TarInfo(name);info.size=len(data);info.mtime=0;t.addfile(info,io.BytesIO(data))
"""


def build_command(rootfs_tar: str, out: str, ref: str, arch: str) -> str:
    return join(["python3", "-c", _PROGRAM, rootfs_tar, out, ref, OCI_ARCH[arch]])


# skopeo's transports that name an image mvm can take; archives and layouts by absolute path.
TRANSPORTS = ("docker://", "docker-daemon:", "oci:", "oci-archive:", "docker-archive:")
_REF = re.compile(r"(?:docker://[A-Za-z0-9][A-Za-z0-9._:/@+-]*|docker-daemon:[A-Za-z0-9][A-Za-z0-9._:/@+-]*"
                  r"|(?:oci|oci-archive|docker-archive):/[A-Za-z0-9._:/@+-]*)", re.ASCII)
PROBE_PREFIX = "oci-image:"  # an entry of the paths probe that names an image, not a file
LAYOUT_TAG = "mvm"

# Reads an image config on stdin; prints the content digest and the run settings as one JSON line.
_IDENTIFY = r"""import hashlib,json,sys
c=json.load(sys.stdin);k=c.get('config') or {}
run={'entrypoint':k.get('Entrypoint') or [],'cmd':k.get('Cmd') or [],'env':k.get('Env') or [],
     'workdir':k.get('WorkingDir') or '','user':k.get('User') or ''}
key={'diff_ids':(c.get('rootfs') or {}).get('diff_ids') or [],'run':run,'arch':c.get('architecture')}
print(json.dumps({'digest':'sha256:'+hashlib.sha256(json.dumps(key,sort_keys=True).encode()).hexdigest(),
                  'run':run,'arch':c.get('architecture')},sort_keys=True,separators=(',',':')))
"""


def reference(value: Any) -> str:
    """An image reference with its transport, validated whole (it reaches skopeo's command line)."""
    text = "" if value is None else str(value)
    if not _REF.fullmatch(text) or ".." in text.split("/") or len(text) > 512:
        raise SpecError("oci", "expected an image reference with its transport: docker://HOST/REPO:TAG (or "
                               "@sha256:...), docker-daemon:REPO:TAG, or oci:/PATH[:TAG], oci-archive:/PATH or "
                               "docker-archive:/PATH; got %r" % (value,))
    return text


def probe_entry(ref: str, tls_verify: bool) -> str:
    """How the paths probe is asked for an image's digest (see probe.paths_probe)."""
    return "%s%d:%s" % (PROBE_PREFIX, 1 if tls_verify else 0, ref)


def _tls(ref: str, tls_verify: bool, flag: str) -> list:
    return [flag] if ref.startswith("docker://") and not tls_verify else []


def inspect_command(entry_var: str) -> str:
    """Shell text for the paths probe: `$entry_var` holds a probe entry; prints `oci` or `ocierr` lines."""
    return (
        "e=${%(v)s#%(pre)s}; tls=${e%%%%:*}; ref=${e#*:}; flag=; [ \"$tls\" = 0 ] && flag=--tls-verify=false; "
        "if ! command -v skopeo >/dev/null 2>&1; then printf 'ocierr\\t%%s\\t%%s\\n' \"$%(v)s\" "
        "'skopeo is not installed on the host (Debian: apt-get install skopeo)'; "
        "elif out=$(skopeo inspect $flag --config --raw \"$ref\" 2>&1 | python3 -c %(prog)s 2>/dev/null); then "
        "printf 'oci\\t%%s\\t%%s\\n' \"$%(v)s\" \"$out\"; "
        "else printf 'ocierr\\t%%s\\t%%s\\n' \"$%(v)s\" \"$(skopeo inspect $flag --config --raw \"$ref\" 2>&1 "
        "| tr '\\n\\t' '  ' | cut -c1-400)\"; fi"
    ) % {"v": entry_var, "pre": PROBE_PREFIX, "prog": quote(_IDENTIFY)}


def found(shas: Mapping[str, str], ref: str, tls_verify: bool) -> Dict[str, Any]:
    """The probe's answer for an image: its digest and run settings, or the tool's own error as a refusal."""
    text = shas.get(probe_entry(ref, tls_verify))
    if text is None:
        raise SpecError("oci", "image %s was not looked up on the host" % ref)
    if not text.startswith("{"):
        raise SpecError("oci", "cannot read image %s: %s" % (ref, text.replace("error: ", "", 1).strip() or "skopeo failed"))
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def fetch_commands(ref: str, tls_verify: bool, layout: str, rootfs: str, digest: str) -> str:
    """Copy the image into an OCI layout, check it is still the image planned on, unpack it exactly (owners,
    modes, whiteouts) with umoci."""
    image = "%s:%s" % (layout, LAYOUT_TAG)
    copy = ["skopeo", "copy", "-q"] + _tls(ref, tls_verify, "--src-tls-verify=false") + [ref, "oci:" + image]
    return " && ".join([
        join(copy),
        "got=$(skopeo inspect --config --raw %s | python3 -c %s)" % (quote("oci:" + image), quote(_IDENTIFY)),
        "case \"$got\" in *%s*) ;; *) echo %s >&2; exit 1;; esac" % (
            quote('"digest":"%s"' % digest),
            quote("image %s changed while it was fetched (it is no longer %s): run again" % (ref, digest))),
        "rm -rf %s" % quote(rootfs),
        join(["umoci", "raw", "unpack", "--image", image, rootfs]),
    ])
