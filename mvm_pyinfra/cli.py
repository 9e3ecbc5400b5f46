"""Command-line tools: `mvm-doctor` tells what this machine needs for mvm, as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from ansible_collections.mvm.microvm.plugins.module_utils import doctor as doctor_engine
from ansible_collections.mvm.microvm.plugins.module_utils import ops, runner
from ansible_collections.mvm.microvm.plugins.module_utils.registry import CHOICES


def doctor(argv: list[str] | None = None) -> int:
    """Check this machine for mvm: each check, whether it passed, whether the backend needs it, why, and the
    command that fixes it. Exit 0 when every check the backend needs passes, else 1. --backend answers about
    that backend, whether or not it can run here."""
    parser = argparse.ArgumentParser(prog="mvm-doctor", description=doctor.__doc__)
    parser.add_argument("--state-root", help="mvm state directory (default: /var/lib/mvm as root)")
    parser.add_argument("--backend", default="auto", choices=CHOICES,
                        help="the backend to answer about (default: the one mvm would choose)")
    parser.add_argument("--json", action="store_true", help="the report as JSON (for machines)")
    parser.add_argument("--facts", action="store_true", help="all facts as JSON, not only the doctor's report")
    args = parser.parse_args(argv)
    gather_host, _ = ops.run_probe(runner.local, local=True)
    report = ops.host_report(gather_host(args.state_root))
    report["doctor"] = doctor_engine.report(report, args.backend)
    if args.facts or args.json:
        json.dump(report if args.facts else report["doctor"], sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(report["doctor"]["table"]) + "\n")
    return 0 if report["doctor"]["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(doctor())
