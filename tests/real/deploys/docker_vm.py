"""pyinfra twin of playbooks/docker_vm.yml."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

mvm.vm(name="Container VM", vm="dweb", image="default", backend="docker", ports=[f"{host.data.host_port}:80"],
       kernel_args="mvm.httpd=80", present=host.data.get("vm_state") != "absent",
       state=host.data.get("vm_state") if host.data.get("vm_state") not in (None, "absent") else "running",
       state_root=host.data.get("mvm_state_root"))
