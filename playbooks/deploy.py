"""pyinfra deploy doing what up.yml does: pyinfra inventory/inventory.py playbooks/deploy.py -y

A state root other than the default comes from --data mvm_state_root=/path, a memory size from
--data mvm_vm_memory=512, a backend other than the example's (auto) from --data mvm_backend=qemu.
"""

from pyinfra import host

from mvm_pyinfra import operations as mvm
from mvm_pyinfra.example import load

example = load()
state_root = host.data.get("mvm_state_root")
image, vm = example["mvm_image"], example["mvm_vm"]

mvm.rootfs(
    name="Build the kernel + rootfs image",
    image=image["name"],
    kernel=image["kernel"],
    rootfs_size=image["rootfs_size"],
    state_root=state_root,
)

mvm.vm(
    name="Run the example microVM",
    vm=vm["name"],
    image=vm["image"],
    backend=host.data.get("mvm_backend") or vm["backend"],
    memory=host.data.get("mvm_vm_memory") or vm["memory"],
    cpus=vm["cpus"],
    state_root=state_root,
)
