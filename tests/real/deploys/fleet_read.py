"""pyinfra twin of playbooks/fleet_read.yml: a deploy reads its fleet file on the controller."""

from pyinfra import host
from pyinfra.operations import server

from mvm_pyinfra.fleet import load_pool_spec, load_tenant_config

web = load_pool_spec(host.data.fleet_file, "web")
acme = load_tenant_config(host.data.fleet_file, web.tenant)
server.shell(name="Pool %s of %s: %d instances from %s" % (web.name, acme.name, web.instances, acme.subnet_pool),
             commands=["true"])
