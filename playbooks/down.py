"""pyinfra deploy doing what down.yml does: pyinfra inventory/inventory.py playbooks/down.py -y"""

from pyinfra import host

from mvm_pyinfra import operations as mvm
from mvm_pyinfra.example import load

mvm.vm(
    name="Remove the example microVM",
    vm=load()["mvm_vm"]["name"],
    present=False,
    state_root=host.data.get("mvm_state_root"),
)
