#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rootfs
short_description: Build a microVM kernel + rootfs image, content-addressed
version_added: "0.1.0"
description:
  - Builds a guest C(rootfs.ext4) from the host's static busybox, with an C(/init) that mounts the
    pseudo file systems, sets the hostname, configures C(eth0) from the kernel arguments
    C(mvm.ip=ADDR/PREFIX) and C(mvm.gw=ADDR), prints C(MVM-READY) on the console and powers off on
    the ACPI power button.
  - Builds mvm's own kernel (everything a microVM needs built in, no initrd) where the host can, takes the kernel
    from Debian's C(linux-image-cloud-<arch>) package (with an initramfs that loads its virtio modules), from a
    given path, or builds kernel and rootfs with C(nix build FLAKE).
  - The result lives in C(<state_root>/artifacts/<id>), where the id hashes every input; the image
    name is a link to it. Equal inputs find the finished directory and report no change.
seealso:
  - module: mvm.microvm.vm
    description: Boot a VM on the image.
  - module: mvm.microvm.facts
    description: Which kernel (mvm's or Debian's) the host can have.
author:
  - mvm developers (@mvm-dev)
extends_documentation_fragment:
  - mvm.microvm.state_root
  - mvm.microvm.planned
  - mvm.microvm.attributes
options:
  name:
    description: Image name, used by M(mvm.microvm.vm) as O(mvm.microvm.vm#module:image).
    type: str
    default: default
  state:
    description: Whether the image should exist.
    type: str
    choices: [present, absent]
    default: present
  kernel:
    description:
      - C(mvm) to build mvm's own kernel from Debian's C(linux-source-6.1) (everything a microVM needs built in;
        boots with no initrd straight into mvm's init, in about half the time), C(debian) to extract Debian's cloud
        kernel (its virtio drivers are modules, so the image gets an initramfs that loads them), or an absolute path
        of a kernel to use as it is.
      - C(auto) is C(mvm) where the host can build it (C(linux-source-6.1) and C(gcc) installed, x86_64 or
        aarch64) and C(debian) elsewhere; an image that already exists keeps the kernel it was built with (give
        C(mvm) or C(debian) to change it). The module's result says which was used.
      - C(mvm) is built once per host and inputs (source version, compiler, mvm's config fragment) under
        C(/var/cache/mvm/kernels/) (as root; another user's under C(<state_root>/kernels/)) and shared by every
        image; a cold build takes about 5 minutes on 2 cores and needs C(linux-source-6.1), C(gcc), C(make),
        C(flex), C(bison), C(bc) and C(libelf-dev) on the host.
    type: str
    default: auto
  initrd:
    description: Absolute path of an initrd to go with a kernel given by path.
    type: path
  rootfs_size:
    description:
      - Size of C(rootfs.ext4), in MiB or with a unit (C(64M), C(1G)).
      - Default 64 MiB for mvm's busybox tree; for an O(oci) image, the unpacked image's size plus a quarter and
        32 MiB.
    type: raw
  flake:
    description:
      - C(FLAKEREF#ATTR) built with C(nix build); its output must hold C(kernel) (with virtio built in,
        booted without an initrd) and C(rootfs.ext4).
    type: str
  oci:
    description:
      - An OCI or Docker image to make the root file system of, by reference with its transport -
        C(docker://HOST/REPO:TAG) (or C(@sha256:...)) from a registry, C(docker-daemon:REPO:TAG) from the host's
        Docker daemon, C(oci:/PATH[:TAG]) (a layout directory), C(oci-archive:/PATH) or C(docker-archive:/PATH).
      - Copied with C(skopeo) and unpacked with C(umoci) (owners, modes and whiteouts as the layers say) on the
        VM host; mvm's init and its static busybox are added under C(/mvm) (and as C(/init)).
      - The image is addressed by its content (its layers and run settings), so the same image reached another
        way is a cache hit, and a tag that now points elsewhere is a change. Its C(Entrypoint), C(Cmd), C(Env),
        C(WorkingDir) and C(User) are the defaults of a VM's workload (see M(mvm.microvm.vm)).
    type: str
  tls_verify:
    description: Verify the registry's TLS certificate for a C(docker://) reference (V(false) for a plain-HTTP registry).
    type: bool
    default: true
  format:
    description:
      - V(ext4) (each VM boots its own copy) or V(squashfs) (read-only and shared by every VM of the image; each VM
        gets an overlay whose writable layer is a disk of its own, of the VM's C(disk_size), default 256 MiB).
      - The image file itself is never written by a VM.
    type: str
    choices: [ext4, squashfs]
    default: ext4
  debian:
    description:
      - A Debian root file system made with C(mmdebstrap --variant=minbase) and the packages asked for, so that a
        guest can have python3 and real services; mvm's init is added as to any image. Needs the Debian mirror
        reachable from the VM host.
    type: dict
    suboptions:
      suite:
        description: Suite or codename.
        type: str
        default: bookworm
      packages:
        description: Packages to install besides minbase.
        type: list
        elements: str
      mirror:
        description: An http(s) mirror URL (default mmdebstrap's, from the host's apt sources).
        type: str
  bundle:
    description:
      - The image is a bundle made elsewhere with O(export) (an image built once and carried to every host). The
        host's copy is checked against O(bundle.digest) and, when given, the signature, before it is unpacked;
        a bundle that holds anything but files is refused. Excludes the other sources and O(kernel), O(initrd),
        O(rootfs_size) and O(format) (the bundle has them).
    type: dict
    suboptions:
      path:
        description: The bundle's absolute path on the host.
        type: path
        required: true
      digest:
        description: The bundle's pinned digest, V(sha256:<64 hex digits>); another digest is refused.
        type: str
        required: true
      signature:
        description: The bundle's SSH signature (C(ssh-keygen -Y sign), namespace C(mvm-image)).
        type: path
      allowed_signers:
        description: The C(ssh-keygen) allowed signers file the signature is verified against.
        type: path
      signer:
        description: The identity the signature must be from, in O(bundle.allowed_signers).
        type: str
        default: mvm
      require_signature:
        description: Refuse the bundle, before anything runs, unless a signature is given (and it verifies).
        type: bool
        default: false
  export:
    description:
      - Write the image's bundle as C(<dir>/<image id>.tar) (the same bytes for the same image) and, with
        O(export.signing_key), its signature C(<id>.tar.sig). Nothing is written when they are there.
    type: dict
    suboptions:
      dir:
        description: Directory for the bundle.
        type: path
        required: true
      signing_key:
        description: Private SSH key to sign the bundle with (C(ssh-keygen -Y sign)).
        type: path
      signer:
        description: The identity the signature is made for (what hosts list in their allowed signers file).
        type: str
        default: mvm
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - busybox-static, qemu-guest-agent, e2fsprogs (mkfs.ext4 -d), cpio and gzip on the target
  - apt-get and dpkg-deb for O(kernel=debian)
  - ssh-keygen (OpenSSH 8.1 or later) for signed bundles
  - linux-source-6.1, gcc, make, flex, bison, bc and libelf-dev for O(kernel=mvm)
"""

EXAMPLES = r"""
- name: Build the default image (mvm's kernel where the host can build it)
  mvm.microvm.rootfs:
  register: image

- name: Build an image on Debian's cloud kernel and its initramfs
  mvm.microvm.rootfs:
    name: debian-kernel
    kernel: debian

- name: Use my own kernel
  mvm.microvm.rootfs:
    name: custom
    kernel: /srv/kernels/vmlinux-6.1
    rootfs_size: 128M
"""

RETURN = r"""
image:
  description:
    - The image and the paths of its files.
    - C(kernel_source) says which kernel it has (C(mvm), C(debian), C(path) or C(flake)).
  returned: success
  type: dict
  sample:
    name: default
    id: 6a0bff97e5bd59ff
    dir: /var/lib/mvm/artifacts/6a0bff97e5bd59ff
    kernel: /var/lib/mvm/images/default/vmlinuz
    kernel_source: mvm
    initrd: null
    rootfs: /var/lib/mvm/images/default/rootfs.ext4
commands:
  description: The shell commands of the plan (run, or only planned in check mode).
  returned: always
  type: list
  elements: str
steps:
  description: One description per command.
  returned: always
  type: list
  elements: str
executed:
  description: Descriptions of the steps that ran.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mvm.microvm.plugins.module_utils.ansible_glue import run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="default"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            kernel=dict(type="str", default="auto"),
            initrd=dict(type="path"),
            rootfs_size=dict(type="raw"),
            oci=dict(type="str"),
            tls_verify=dict(type="bool", default=True),
            format=dict(type="str", default="ext4", choices=["ext4", "squashfs"]),
            debian=dict(type="dict", options=dict(suite=dict(type="str", default="bookworm"),
                                                  packages=dict(type="list", elements="str"),
                                                  mirror=dict(type="str"))),
            flake=dict(type="str"),
            bundle=dict(type="dict", options=dict(
                path=dict(type="path", required=True), digest=dict(type="str", required=True),
                signature=dict(type="path"), allowed_signers=dict(type="path"),
                signer=dict(type="str", default="mvm"), require_signature=dict(type="bool", default=False))),
            export=dict(type="dict", options=dict(dir=dict(type="path", required=True), signing_key=dict(type="path"),
                                                  signer=dict(type="str", default="mvm"))),
            state_root=dict(type="path"),
            planned=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    run(module, "rootfs")


if __name__ == "__main__":
    main()
