#!/usr/bin/env bash
# Installs what mvm and its tests need on a Debian host: packages, then a virtual environment
# with the project installed (editable). Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(qemu-system-x86 qemu-utils busybox-static e2fsprogs cpio gzip xz-utils zstd iproute2 iptables nftables curl iputils-ping docker.io lz4
          procps util-linux python3 git skopeo umoci docker-registry mmdebstrap squashfs-tools qemu-guest-agent
          openssh-server openssh-client linux-source-6.1 gcc make flex bison bc libelf-dev)
VENV=${MVM_VENV:-.venv}
PYTHON=${MVM_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# apt lists are needed in any case: the rootfs operation downloads Debian's cloud kernel.
if [ ${#missing[@]} -gt 0 ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] \
   || [ -n "${MVM_APT_UPDATE:-}" ]; then
  echo "setup: apt-get update"
  as_root apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp="$VENV/.mvm-installed"
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
# community.docker, which Molecule's Docker driver drives (molecule/docker): Galaxy is not reachable
# from every machine, so it comes from the Ansible community package on PyPI (pinned below), of which only these
# collections are unpacked, where `pip install ansible` would put them (ansible-core finds them on sys.path):
# community.docker, its one dependency, and ansible.posix, whose synchronize the driver's create playbook names.
COMMUNITY_PACKAGE=ansible==12.3.0
COMMUNITY=(community/docker community/library_inventory_filtering_v1 ansible/posix)
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
marker="$site/ansible_collections/.mvm-community"
if [ "$(cat "$marker" 2>/dev/null)" != "$COMMUNITY_PACKAGE ${COMMUNITY[*]}" ]; then
  echo "setup: ${COMMUNITY[*]} from $COMMUNITY_PACKAGE"
  tmp=$(mktemp -d)
  "$VENV/bin/python" -m pip download -q --no-deps -d "$tmp" "$COMMUNITY_PACKAGE"
  "$VENV/bin/python" - "$tmp" "$site" "${COMMUNITY[@]}" <<'PY'
import glob, sys, zipfile
wheel, = glob.glob(sys.argv[1] + "/ansible-*.whl")
keep = tuple("ansible_collections/%s/" % c for c in sys.argv[3:])
with zipfile.ZipFile(wheel) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(keep)])
PY
  rm -rf "$tmp"
  echo "$COMMUNITY_PACKAGE ${COMMUNITY[*]}" > "$marker"
fi
echo "setup: ready ($("$VENV/bin/python" --version), $("$VENV/bin/ansible" --version 2>/dev/null | sed -n 1p), pyinfra $("$VENV/bin/python" -c 'import pyinfra.version as v; print(v.__version__)' 2>/dev/null || echo '?'))"
