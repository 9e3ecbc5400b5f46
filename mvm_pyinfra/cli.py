"""Command-line tools: `mvm-doctor` prints the doctor's JSON report for this machine."""

from __future__ import annotations

import argparse
import json
import sys

from ansible_collections.mvm.microvm.plugins.module_utils import ops, runner
from ansible_collections.mvm.microvm.plugins.module_utils.errors import MvmError
from ansible_collections.mvm.microvm.plugins.module_utils.registry import CHOICES


def doctor(argv: list[str] | None = None) -> int:
    """Exit 0 when every check the chosen (or requested) backend needs passes, else 1."""
    parser = argparse.ArgumentParser(prog="mvm-doctor", description=doctor.__doc__)
    parser.add_argument("--state-root", help="mvm state directory (default: /var/lib/mvm as root)")
    parser.add_argument("--backend", default="auto", choices=CHOICES)
    parser.add_argument("--facts", action="store_true", help="print all facts, not only the doctor's report")
    args = parser.parse_args(argv)
    gather_host, _ = ops.run_probe(runner.local, local=True)
    facts = gather_host(args.state_root)
    try:
        report = ops.host_report(facts, args.backend)
    except MvmError as exc:
        report = ops.host_report(facts)
        report["doctor"]["all_ok"] = False
        report["doctor"]["error"] = str(exc)
    json.dump(report if args.facts else report["doctor"], sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if report["doctor"]["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(doctor())
