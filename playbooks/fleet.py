"""pyinfra twin of playbooks/fleet.yml: a pool's image built once on the build host (the first VM host unless
--data mvm_build_host=NAME), signed, carried to every VM host, verified there, then the pool spread.

    pyinfra INVENTORY playbooks/fleet.py -y --data fleet_file=inventory/fleet.yml --data pool_name=web \\
        --data signing_key=~/.ssh/mvm_signing --data allowed_signers=/etc/mvm/allowed_signers

INVENTORY's VM hosts are those of its group `vm_hosts` (every host when it has none).
"""

import hashlib
import os

from pyinfra import config, host, inventory
from pyinfra.operations import files

from mvm_pyinfra import fleet
from mvm_pyinfra import operations as mvm

pool = fleet.load_pool_spec(host.data.fleet_file, host.data.pool_name)
group = inventory.get_group("vm_hosts", default=None) or list(inventory)
build_host = host.data.get("mvm_build_host") or group[0].name
root = host.data.get("mvm_state_root")
bundle_dir = host.data.get("mvm_bundle_dir") or "/var/cache/mvm/bundles"
controller_dir = host.data.get("controller_dir") or os.path.join(os.path.dirname(__file__), ".bundles")
signer = host.data.get("signer") or "mvm"
name = pool.image.name
local = os.path.join(controller_dir, name + ".tar")


def _pinned_here() -> bool:
    """The controller already has the pinned bundle and its signature: nothing to bring."""
    if not (os.path.exists(local) and os.path.exists(local + ".sig")):
        return False
    with open(local, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == pool.image.digest


if host.name == build_host:
    mvm.rootfs(name="The image, exported as a bundle and signed", image=name + ".build", state_root=root,
               oci=host.data.get("image_oci"),
               export={"dir": bundle_dir, "signing_key": host.data.signing_key, "signer": signer})
    if not _pinned_here():
        for suffix in ("", ".sig"):
            files.get(name="Bring %s%s to the controller" % (name, suffix),
                      src="%s/%s.build.tar%s" % (bundle_dir, name, suffix), dest=local + suffix, add_deploy_dir=False,
                      create_local_dir=True, force=True)

files.directory(name="The bundle directory", path=bundle_dir, mode="700")
for suffix in ("", ".sig"):
    files.put(name="The bundle%s" % suffix, src=local + suffix, dest="%s/%s.tar%s" % (bundle_dir, name, suffix),
              mode="600", assume_exists=True)
mvm.rootfs(name="The image from it, its digest and signature verified here", image=name, state_root=root,
           bundle={"path": "%s/%s.tar" % (bundle_dir, name), "digest": pool.image.digest,
                   "signature": "%s/%s.tar.sig" % (bundle_dir, name), "allowed_signers": host.data.allowed_signers,
                   "signer": signer, "require_signature": True})
# Each host's facts with its own state root (its mvm_state_root data): the placement needs every host's. One
# operation per step of a rolling update (steps past the last change nothing); a failed step stops the run.
config.FAIL_PERCENT = 0
for step in range(fleet.update_steps(pool)):
    mvm.pool(name="The pool" + (", step %d of an update" % step if step else ""), fleet=host.data.fleet_file,
             pool=host.data.pool_name, hosts=[h.name for h in group], batch=step)
