"""pyinfra deploy printing the doctor's report: pyinfra inventory/inventory.py playbooks/doctor.py

The report is a table (check, ok, needed, why, and the command that fixes a failing check); the deploy fails
(non-zero exit) when a check the backend needs fails. --data mvm_backend=firecracker answers about that backend,
whether or not it can run here; --data mvm_doctor_json=1 logs the report as JSON instead.
"""

import json

from pyinfra import host, logger

from ansible_collections.mvm.microvm.plugins.module_utils import doctor
from mvm_pyinfra.facts import MvmHost

facts = host.get_fact(MvmHost, state_root=host.data.get("mvm_state_root"))
report = doctor.report(facts, host.data.get("mvm_backend") or "auto")
shown = json.dumps(report, indent=2, sort_keys=True) if host.data.get("mvm_doctor_json") else "\n".join(report["table"])
logger.info("mvm doctor for %s:\n%s", host.name, shown)
if not report["all_ok"]:
    failed = [c["name"] for c in report["checks"] if c["needed"] and not c["ok"]]
    raise RuntimeError("mvm doctor: %s failed on %s" % (", ".join(failed), host.name))
