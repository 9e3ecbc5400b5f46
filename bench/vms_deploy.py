"""pyinfra twin of bench/vms.yml: --data mvm_state_root=... --data n=N --data backend=docker"""

from pyinfra import host

from mvm_pyinfra import operations as mvm

n = int(host.data.n)
mvm.vms(name="N VMs", vms=[{"name": "bench%02d" % i} for i in range(1, n + 1)], image="default",
        backend=host.data.backend, state_root=host.data.mvm_state_root)
