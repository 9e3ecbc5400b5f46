"""pyinfra twin of playbooks/net_down.yml."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

root = host.data.get("mvm_state_root")
mvm.vm(name="VM absent", vm="web", present=False, state_root=root)
mvm.port_forward(name="Forward absent", host_port=9090, present=False, state_root=root)
mvm.bridge(name="Bridge absent", bridge="mvmbr0", present=False, state_root=root)
