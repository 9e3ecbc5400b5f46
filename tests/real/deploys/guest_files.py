"""Inside a guest through mvm's pyinfra connector: pyinfra's own operations."""

from pyinfra import host
from pyinfra.operations import files, server

files.put(name="Put the payload", src=host.data.payload, dest="/etc/mvm-payload", mode="640")
server.shell(name="See it there", commands=["test -s /etc/mvm-payload"])
