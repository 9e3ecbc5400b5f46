"""pyinfra twin of playbooks/fleet_pool.yml: this host's share of a pool (every host's facts decide the placement),
one operation per step of a rolling update; a failed step stops the run."""

from pyinfra import config, host

from mvm_pyinfra import fleet
from mvm_pyinfra import operations as mvm

config.FAIL_PERCENT = 0
for step in range(fleet.update_steps(fleet.load_pool_spec(host.data.fleet_file, host.data.pool_name))):
    mvm.pool(name="Pool %s" % host.data.pool_name + (", step %d" % step if step else ""), fleet=host.data.fleet_file,
             pool=host.data.pool_name, revision=host.data.get("pool_revision"), batch=step)
