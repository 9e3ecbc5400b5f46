"""pyinfra twin of playbooks/trust_vm.yml."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

mvm.vm(name="The VM", vm=host.data.get("vm_name") or "tvm", image="default", backend="qemu",
       network=host.data.get("vm_network"), ports=[host.data.vm_port] if host.data.get("vm_port") else None,
       state=host.data.get("vm_state") or "running", state_root=host.data.get("mvm_state_root"))
