"""pyinfra deploy printing the doctor's report: pyinfra inventory/inventory.py playbooks/doctor.py

Fails (non-zero exit) when a check needed by the chosen backend fails. --data mvm_backend=qemu
checks for a given backend.
"""

import json

from pyinfra import host, logger

from ansible_collections.mvm.microvm.plugins.module_utils import doctor
from mvm_pyinfra.facts import MvmHost

facts = host.get_fact(MvmHost, state_root=host.data.get("mvm_state_root"))
report = doctor.report(facts, host.data.get("mvm_backend") or "auto")
logger.info("mvm doctor for %s:\n%s", host.name, json.dumps(report, indent=2, sort_keys=True))
if not report["all_ok"]:
    failed = [c["name"] for c in report["checks"] if c["needed"] and not c["ok"]]
    raise RuntimeError("mvm doctor: %s failed on %s" % (", ".join(failed), host.name))
