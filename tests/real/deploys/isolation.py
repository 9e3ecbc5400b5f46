"""pyinfra twin of playbooks/isolation.yml (firewall from --data fw, default auto)."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

root = host.data.get("mvm_state_root")
fw = host.data.get("fw") or "auto"
for name, subnet, isolated in (("tena0", "10.91.0.0/24", True), ("tenb0", "10.92.0.0/24", True),
                               ("open0", "10.93.0.0/24", False)):
    mvm.bridge(name="Bridge %s" % name, bridge=name, subnet=subnet, nat=True, isolated=isolated, firewall=fw,
               state_root=root)
for name, network, ports in (("va", "tena0", []), ("vb", "tenb0", ["8092:80"]), ("vo", "open0", [])):
    mvm.vm(name="VM %s" % name, vm=name, image="default", backend="qemu", network=network, ports=ports,
           kernel_args="mvm.httpd=80", state_root=root)
