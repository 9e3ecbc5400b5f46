# -*- coding: utf-8 -*-
# Copyright (c) mvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What runs inside the guest: the rootfs /init, the initramfs /init and the power-off hook.

These texts are inputs of the image's content address: editing them makes a new image.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

READY_MARKER = "MVM-READY"

# Load order matters: virtio core, then transports, then devices; failover before virtio_net.
INITRAMFS_MODULES = (
    "virtio_ring", "virtio", "virtio_mmio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
    "virtio_pci", "virtio_blk", "failover", "net_failover", "virtio_net", "virtio_console",
    "button", "evdev", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
)

INITRAMFS_INIT = """#!/bin/busybox sh
# mvm initramfs: load the virtio modules the distribution kernel keeps outside, then switch_root.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t devtmpfs dev /dev
for m in %(modules)s; do
  [ -f /lib/modules/$m.ko ] && $B insmod /lib/modules/$m.ko 2>/dev/null
done
i=0
while [ ! -b /dev/vda ]; do
  i=$((i+1)); [ $i -gt 1000 ] && break; $B usleep 10000
done
if ! $B mount -t ext4 -o rw /dev/vda /newroot; then
  echo "mvm-initramfs: cannot mount /dev/vda"; $B poweroff -f
fi
$B umount /proc
$B umount /dev
exec $B switch_root /newroot /init
""" % {"modules": " ".join(INITRAMFS_MODULES)}

GUEST_INIT = """#!/bin/sh
# mvm guest init (PID 1): mount, name, network from the kernel arguments, ready marker, wait.
export PATH=/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /tmp 2>/dev/null
mount -t tmpfs tmpfs /run 2>/dev/null
# Arguments come from the kernel command line, or from $MVM_ARGS where there is no kernel of ours (docker).
arg() { for w in $MVM_ARGS $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}"; return;; esac; done; }
h=$(arg mvm.hostname)
[ -n "$h" ] && hostname "$h"
ip link set lo up 2>/dev/null
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  a=$(arg mvm.ip); [ -n "$a" ] && ip addr add "$a" dev eth0
  g=$(arg mvm.gw); [ -n "$g" ] && ip route add default via "$g"
  if [ -n "$g" ]; then
    if ping -c 1 -W 3 "$g" >/dev/null 2>&1; then echo "MVM-NET gateway $g reachable"; else echo "MVM-NET gateway $g unreachable"; fi
  fi
fi
p=$(arg mvm.httpd)
if [ -n "$p" ]; then
  mkdir -p /run/www && echo "mvm guest $(hostname)" > /run/www/index.html && httpd -p "$p" -h /run/www
fi
acpid -f -c /etc/acpi -a /etc/acpid.conf -l /run/acpid.log -p /run/acpid.pid </dev/null >/dev/null 2>&1 &
[ -x /etc/mvm/rc.local ] && /etc/mvm/rc.local
trap '/etc/acpi/poweroff' TERM USR2
# The guest agent: the host writes lines to the virtio console (after a snapshot restore, to give this
# instance its own name, MAC and address).
if [ -e /dev/hvc0 ]; then
  (
    while :; do
      while read -r cmd a b c; do
        case "$cmd" in
          net)
            ip link set eth0 down; ip link set eth0 address "$a"; ip addr flush dev eth0
            ip addr add "$b" dev eth0; ip link set eth0 up
            [ -n "$c" ] && ip route replace default via "$c"
            echo "MVM-NET configured $b";;
          hostname)
            hostname "$a"; echo "%(marker)s $a";;
        esac
      done < /dev/hvc0
      sleep 0.2
    done
  ) &
fi
echo "%(marker)s $(hostname)"
if [ "$(arg mvm.tick)" = 1 ]; then
  n=0; while :; do n=$((n+1)); echo "mvm-tick $n"; sleep 1; done &
fi
while :; do sleep 3600 & wait $!; done
""" % {"marker": READY_MARKER}

POWEROFF = """#!/bin/sh
# mvm: the ACPI power button (QMP system_powerdown) or SIGTERM ends the guest cleanly.
echo "mvm: powering off"
sync
mount -o remount,ro / 2>/dev/null
poweroff -f
"""

ACPID_CONF = "PWRF poweroff\n"
