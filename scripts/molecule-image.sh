#!/usr/bin/env bash
# The image the host role's Molecule scenario starts from: a fresh Debian (minbase and python3, which Ansible
# needs on a target), built here from Debian's packages by mmdebstrap and imported into the local daemon, so no
# registry is needed.
#   bash scripts/molecule-image.sh build    # builds it unless the daemon has it (MVM_MOLECULE_REBUILD=1: again)
#   bash scripts/molecule-image.sh remove   # removes it
# The name is MVM_MOLECULE_IMAGE (default below), which molecule/docker/molecule.yml reads too.
set -euo pipefail
IMAGE=${MVM_MOLECULE_IMAGE:-mvm-molecule/debian:bookworm}
SUITE=${MVM_MOLECULE_SUITE:-bookworm}
MIRROR=${MVM_MOLECULE_MIRROR:-http://deb.debian.org/debian}

case "${1:-build}" in
  build)
    if [ -z "${MVM_MOLECULE_REBUILD:-}" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
      echo "molecule image: $IMAGE is there"
      exit 0
    fi
    command -v mmdebstrap >/dev/null || { echo "molecule image: mmdebstrap is missing (make setup installs it)" >&2; exit 1; }
    echo "molecule image: building $IMAGE from Debian $SUITE ($MIRROR)"
    # The tarball goes straight into the daemon; the label lets a cleanup find what this script made.
    mmdebstrap --quiet --variant=minbase --include=python3 "$SUITE" - "$MIRROR" \
      | docker import --change 'LABEL mvm.test=molecule' --change 'CMD ["sleep", "infinity"]' - "$IMAGE"
    ;;
  remove)
    docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 build|remove" >&2
    exit 2
    ;;
esac
