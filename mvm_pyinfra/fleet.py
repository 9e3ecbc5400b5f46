"""Fleet files for pyinfra deploys: tenants and pools, validated on the controller.

    from mvm_pyinfra.fleet import load_pool_spec, load_tenant_config

    web = load_pool_spec("inventory/fleet.yml", "web")      # a Pool: web.instances, web.vm_params(0), ...
    acme = load_tenant_config("inventory/fleet.yml", "acme")
    for step in range(update_steps(web)):                    # a rolling update: one `pool` operation a step
        mvm.pool(name="web, step %d" % step, fleet="inventory/fleet.yml", pool="web", batch=step)

`python -m mvm_pyinfra.fleet schema` prints the fleet file's JSON Schema; `python -m mvm_pyinfra.fleet check FILE`
validates a file (exit 1 and the file, line and field of the first problem otherwise). The models and the rules
are the collection's (plugin_utils/fleet.py), which Ansible's lookup `mvm.microvm.fleet` uses too.
"""

from __future__ import annotations

import json
import sys

from ansible_collections.mvm.microvm.plugins.plugin_utils.fleet import (
    Fleet,
    FleetError,
    Pool,
    Tenant,
    json_schema,
    load,
    load_pool_spec,
    load_tenant_config,
    parse,
)
from ansible_collections.mvm.microvm.plugins.plugin_utils.rollout import step_bound as update_steps

__all__ = ["Fleet", "FleetError", "Pool", "Tenant", "json_schema", "load", "load_pool_spec", "load_tenant_config",
           "parse", "update_steps"]


def main(argv: list[str]) -> int:
    """`schema` prints the JSON Schema; `check FILE...` validates fleet files."""
    if argv[:1] == ["schema"] and len(argv) == 1:
        print(json.dumps(json_schema(), indent=2, sort_keys=True))
        return 0
    if argv[:1] == ["check"] and len(argv) > 1:
        try:
            for path in argv[1:]:
                load(path)
        except FleetError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    print("usage: python -m mvm_pyinfra.fleet schema | check FILE...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
