# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An OCI image layout archive of the image's rootfs, for runtimes that load images (Apple's container).

Written by a small program that travels in a shell command (python3 on the build host): one gzip
layer from rootfs.tar, an image config whose entrypoint is /init, a manifest, and index.json naming
the image with the org.opencontainers.image.ref.name annotation.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.mvm.microvm.plugins.module_utils.shell import join

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
