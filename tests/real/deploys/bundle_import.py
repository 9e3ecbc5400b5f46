"""pyinfra twin of playbooks/bundle_import.yml (image name from --data image, default web)."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

mvm.rootfs(name="Image from a signed bundle", image=host.data.get("image") or "web",
           state_root=host.data.get("mvm_state_root"),
           bundle={"path": host.data.bundle_path, "digest": host.data.bundle_digest,
                   "signature": host.data.bundle_path + ".sig", "allowed_signers": host.data.allowed_signers,
                   "signer": "builder@mvm.test", "require_signature": True})
