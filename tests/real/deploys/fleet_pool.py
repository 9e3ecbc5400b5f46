"""pyinfra twin of playbooks/fleet_pool.yml: this host's share of a pool (every host's facts decide the placement)."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

mvm.pool(name="Pool %s" % host.data.pool_name, fleet=host.data.fleet_file, pool=host.data.pool_name,
         revision=host.data.get("pool_revision"))
