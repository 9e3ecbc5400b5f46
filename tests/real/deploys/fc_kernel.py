"""Two Firecracker VMs (jailed and not) on an image of mvm's own kernel, against the PROCESS DOUBLES (no guest boots):
the plans hand Firecracker the built vmlinux with no initrd."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

root = host.data.get("mvm_state_root")
state = "absent" if host.data.get("phase") == "down" else "running"
mvm.vm(name="Jailed VM on mvm's kernel", vm="fkj", image=host.data.image, backend="firecracker",
       firecracker={"chroot_base": host.data.chroot_base}, state=state, state_root=root)
mvm.vm(name="VM on mvm's kernel", vm="fku", image=host.data.image, backend="firecracker",
       firecracker={"jailer": False}, state=state, state_root=root)
