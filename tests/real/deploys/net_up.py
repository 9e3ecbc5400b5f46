"""pyinfra twin of playbooks/net_up.yml (state root from --data mvm_state_root)."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

root = host.data.get("mvm_state_root")
mvm.bridge(name="Bridge with NAT", bridge="mvmbr0", subnet="10.77.0.0/24", nat=True, state_root=root)
mvm.vm(name="Web VM", vm="web", image="default", backend="qemu", network="mvmbr0", ports=["8080:80"],
       kernel_args="mvm.httpd=80", state_root=root)
mvm.port_forward(name="Forward 9090", host_port=9090, guest="10.77.0.2", guest_port=80, network="mvmbr0",
                 state_root=root)
