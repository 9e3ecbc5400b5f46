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
    "squashfs", "overlay",
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
# A squashfs root (read-only, shared by every VM of the image) gets an overlay on the VM's own writable disk.
o=
for w in $($B cat /proc/cmdline); do case "$w" in mvm.overlay=*) o=${w#*=};; esac; done
if [ -n "$o" ]; then
  i=0
  while [ ! -b /dev/$o ]; do
    i=$((i+1)); [ $i -gt 1000 ] && break; $B usleep 10000
  done
  $B mkdir -p /lower /upper
  $B mount -t squashfs -o ro /dev/vda /lower && $B mount -t ext4 -o rw /dev/$o /upper \\
    && $B mkdir -p /upper/data /upper/work \\
    && $B mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work /newroot
  if [ $? -ne 0 ]; then
    echo "mvm-initramfs: cannot mount the squashfs root with its overlay on /dev/$o"; $B poweroff -f
  fi
elif ! $B mount -t ext4 -o rw /dev/vda /newroot; then
  echo "mvm-initramfs: cannot mount /dev/vda"; $B poweroff -f
fi
$B umount /proc
$B umount /dev
exec $B switch_root /newroot /init
""" % {"modules": " ".join(INITRAMFS_MODULES)}

# Where mvm's own files live in every image it builds, whatever the image is (busybox, OCI, Debian): its static
# busybox and applet links, the power-off hook, and the mount points of the config and secrets disks.
MVM_DIR = "/mvm"
CONFIG_DIR = "/mvm/config"    # the read-only config disk: the user's `files`
SECRETS_DIR = "/mvm/secrets"  # a tmpfs, 0700, owned by the workload's user: the user's `secrets`, 0600 each
WORKLOAD_DIR = ".mvm"         # inside the config disk: how to run the workload (see workload.py)
EXIT_MARKER = "MVM-EXIT"
HEALTH_MARKER = "MVM-HEALTH"
AGENT_PORT_NAME = "org.qemu.guest_agent.0"  # the virtio-serial port name qemu-ga and libvirt use
AGENT_VSOCK_PORT = 1024                      # where qemu-ga listens on vsock (Firecracker)
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/mvm/bin"

GUEST_INIT = """#!/mvm/bin/sh
# mvm guest init (PID 1): mount, name, network from the kernel arguments, config and secrets disks,
# ready marker, then the workload (as its user, with its env and working directory) under its restart policy.
export PATH=/mvm/bin
# Every program started before the ready marker is a fork and an exec, milliseconds each under emulation: what
# the shell can do itself (reading the arguments, the ports' names, the hostname) it does without one.
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /tmp 2>/dev/null
mount -t tmpfs tmpfs /run 2>/dev/null
# Arguments come from the kernel command line, or from $MVM_ARGS where there is no kernel of ours (docker).
# `arg NAME` leaves NAME's value in $A (no command substitution, so no subshell; no globbing of the words).
read -r cmdline < /proc/cmdline
arg() { A=; set -f; for w in $MVM_ARGS $cmdline; do case "$w" in "$1="*) A=${w#*=}; break;; esac; done; set +f; }
# A squashfs root booted without an initramfs (mvm's kernel) is mounted read-only: the overlay on the VM's own disk
# is made here, the root moved onto it, and this init starts again there (an initramfs did all this already).
arg mvm.overlay
if [ -n "$A" ] && [ $$ = 1 ]; then
  rw=; while read -r _ m _ o _; do [ "$m" = / ] && rw=${o%%%%,*}; done < /proc/mounts
  if [ "$rw" = ro ]; then
    ov=/mvm/overlay
    mount -t tmpfs -o mode=0700 tmpfs $ov && mkdir $ov/upper $ov/root && mount -t ext4 "/dev/$A" $ov/upper \
      && mkdir -p $ov/upper/data $ov/upper/work \
      && mount -t overlay overlay -o lowerdir=/,upperdir=$ov/upper/data,workdir=$ov/upper/work $ov/root \
      && cd $ov/root && pivot_root . mvm/overlay && cd / && umount -l /mvm/overlay && exec /init
    echo "MVM-ERROR cannot mount the squashfs root with its overlay on /dev/$A"; poweroff -f
  fi
fi
arg mvm.hostname; h=$A
[ -n "$h" ] && hostname "$h"
ip link set lo up 2>/dev/null
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  arg mvm.ip; a=$A; [ -n "$a" ] && ip addr add "$a" dev eth0
  arg mvm.gw; g=$A; [ -n "$g" ] && ip route add default via "$g"
  if [ -n "$g" ]; then
    if ping -c 1 -W 3 "$g" >/dev/null 2>&1; then echo "MVM-NET gateway $g reachable"; else echo "MVM-NET gateway $g unreachable"; fi
  fi
fi
# The config disk (read-only) and the secrets disk, copied into a tmpfs and unmounted again.
arg mvm.config; d=$A
if [ -n "$d" ]; then
  mkdir -p %(config)s; mount -t ext4 -o ro "/dev/$d" %(config)s || echo "MVM-ERROR cannot mount the config disk $d"
fi
arg mvm.secrets; d=$A
if [ -n "$d" ]; then
  mkdir -p /run/mvm-sd %(secrets)s; chmod 0700 /run/mvm-sd
  if mount -t ext4 -o ro "/dev/$d" /run/mvm-sd; then
    mount -t tmpfs -o mode=0700,size=16m tmpfs %(secrets)s && cp -a /run/mvm-sd/. %(secrets)s/
    rm -rf %(secrets)s/lost+found; chmod 0700 %(secrets)s; umount /run/mvm-sd
  else
    echo "MVM-ERROR cannot mount the secrets disk $d"
  fi
fi
# Volumes: persistent data disks, mounted read-write where the VM asked (mvm.volumes=DEV:MOUNT,...).
vols=
arg mvm.volumes; IFS=,; set -f; set -- $A; set +f; unset IFS
for m in "$@"; do
  d=${m%%%%:*}; t=${m#*:}
  if [ -z "$d" ]; then vols="$vols $t"  # a container's bind mount, there already
  elif mkdir -p "$t" && mount -t ext4 "/dev/$d" "$t"; then vols="$vols $t"; else echo "MVM-ERROR cannot mount volume $d at $t"; fi
done
arg mvm.httpd; p=$A
if [ -n "$p" ]; then
  mkdir -p /run/www && echo "mvm guest $(hostname)" > /run/www/index.html && httpd -p "$p" -h /run/www
fi
acpid -f -c /mvm/etc/acpi -a /mvm/etc/acpid.conf -l /run/acpid.log -p /run/acpid.pid </dev/null >/dev/null 2>&1 &
[ -x /etc/mvm/rc.local ] && /etc/mvm/rc.local
# The QEMU guest agent (exec and file transfer for mvm's connection plugin and connector, health checks): on the
# virtio-serial port QEMU names %(port)s (made here, there is no udev), or on vsock where the host asks for it
# (Firecracker: mvm.agent=vsock:CID:PORT). It runs through its own loader and libraries under /mvm/lib; what it
# starts gets an ordinary PATH.
if [ -x /mvm/lib/qemu-ga ]; then
  for p in /sys/class/virtio-ports/*; do
    [ -f "$p/name" ] || continue
    read -r n < "$p/name"; mkdir -p /dev/virtio-ports; ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$n"
  done
  arg mvm.agent; a=$A; m=
  case "$a" in
    vsock:*) m="-m vsock-listen -p ${a#vsock:}";;
    *) [ -e /dev/virtio-ports/%(port)s ] && m="-m virtio-serial -p /dev/virtio-ports/%(port)s";;
  esac
  if [ -n "$m" ]; then
    mkdir -p /run/mvm-agent; chmod 0700 /run/mvm-agent
    agent() {
      while :; do
        HOME=/root PATH=%(path)s /mvm/lib/ld.so --library-path /mvm/lib /mvm/lib/qemu-ga $m -t /run/mvm-agent
        sleep 1
      done
    }
    agent </dev/null >/dev/null 2>&1 &
    echo $! > /run/mvm-agent/supervisor
  fi
fi
trap '/mvm/etc/acpi/poweroff' TERM USR2
# The console channel: the host writes lines to the virtio console after a snapshot restore, to give this
# instance its own name, MAC and address (it works before the guest agent has reconnected).
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
# The workload's user: a name from the image's /etc/passwd, or a uid[:gid] (given an entry if it has none).
W=%(config)s/%(wdir)s
who() {
  u=$(cat $W/user 2>/dev/null); u=${u:-root}
  case "$u" in
    *[!0-9:]*) echo "$u";;
    *) n=$(awk -F: -v id="${u%%%%:*}" '$3==id {print $1; exit}' /etc/passwd 2>/dev/null)
       if [ -z "$n" ]; then g=${u#*:}; n=mvm-${u%%%%:*}; echo "$n:x:${u%%%%:*}:${g:-${u%%%%:*}}::/:/mvm/bin/sh" >> /etc/passwd; fi
       echo "$n";;
  esac
}
read -r h < /proc/sys/kernel/hostname 2>/dev/null || h=$(hostname)
echo "%(marker)s $h"
# The health check (as dockerd runs a container's HEALTHCHECK, with no daemon on the host): every interval, as the
# workload's user; a change of state goes to the console as "%(health)s STATE rc=RC OUTPUT" (one line).
if [ -f $W/health ]; then
  hu=$(who)
  health() {
    set -- $(cat $W/health.conf); st=starting; fails=0; t0=$(cut -d. -f1 /proc/uptime)
    while :; do
      if [ "$hu" = root ]; then out=$(timeout "$2" /mvm/bin/sh $W/health 2>&1); rc=$?
      else out=$(timeout "$2" su -s /mvm/bin/sh "$hu" -c "/mvm/bin/sh $W/health" 2>&1); rc=$?; fi
      out=$(printf '%%s' "$out" | tr '\\000-\\037' ' ' | tail -c 300)
      if [ $rc -eq 0 ]; then fails=0; new=healthy
      elif [ $st = starting ] && [ $(($(cut -d. -f1 /proc/uptime) - t0)) -lt "$4" ]; then new=starting
      else fails=$((fails+1)); new=$st; [ $fails -ge "$3" ] && new=unhealthy
      fi
      [ "$new" != "$st" ] && echo "%(health)s $new rc=$rc $out"
      st=$new; echo "$st rc=$rc $out" > /run/mvm-health
      sleep "$1"
    done
  }
  health </dev/null &
fi
arg mvm.tick
if [ "$A" = 1 ]; then
  n=0; while :; do n=$((n+1)); echo "mvm-tick $n"; sleep 1; done &
fi
if [ -f $W/run ]; then
  user=$(who); policy=$(cat $W/restart 2>/dev/null)
  [ -d %(secrets)s ] && [ "$user" != root ] && chown -R "$user" %(secrets)s
  for t in $vols; do [ "$user" != root ] && chown "$user" "$t"; done
  while :; do
    if [ "$user" = root ]; then /mvm/bin/sh $W/run </dev/null & else su -s /mvm/bin/sh "$user" -c "/mvm/bin/sh $W/run" </dev/null & fi
    wait $!; rc=$?
    echo "%(exit)s $rc"
    case "$policy" in always) ;; on-failure) [ $rc -eq 0 ] && break;; *) break;; esac
    sleep 1
  done
  [ -n "$MVM_ARGS" ] && exit $rc
  /mvm/etc/acpi/poweroff
fi
while :; do sleep 3600 & wait $!; done
""" % {"marker": READY_MARKER, "config": CONFIG_DIR, "secrets": SECRETS_DIR, "wdir": WORKLOAD_DIR,
       "exit": EXIT_MARKER, "health": HEALTH_MARKER, "port": AGENT_PORT_NAME, "path": GUEST_PATH}

POWEROFF = """#!/mvm/bin/sh
# mvm: the ACPI power button (QMP system_powerdown) or SIGTERM ends the guest cleanly.
export PATH=/mvm/bin
echo "mvm: powering off"
sync
mount -o remount,ro / 2>/dev/null
poweroff -f
"""

ACPID_CONF = "PWRF poweroff\n"
