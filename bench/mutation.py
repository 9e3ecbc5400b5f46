"""make mutation: mutate the engine's modules (setup.cfg [mutmut] source_paths) one change at a time, run the
unit tests against each mutant, and write the score and the surviving mutants to bench/results/mutation.json
and mutation.md. Too slow for CI (about 3 mutants a second here); run it before resolving an issue that
touches the engine. Mutants listed in bench/mutation_equivalent.json (with the reason each changes nothing
observable) are left out of the adjusted score."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "results"
EQUIVALENT = REPO / "bench" / "mutation_equivalent.json"


def _module(mutant: str) -> str:
    """The engine module a mutant belongs to: mutmut names functions `<module>.x_<name>__mutmut_N` and methods
    `<module>.xǁ<Class>ǁ<name>__mutmut_N`."""
    return mutant.split("module_utils.", 1)[-1].split(".", 1)[0]


def main() -> int:
    env = dict(os.environ)
    contracts = REPO.parent / "shared" / "contracts" / "firecracker"
    if contracts.is_dir():  # the tests run from mutants/, where ../shared is not the project's
        env.setdefault("MVM_FIRECRACKER_SWAGGER_DIR", str(contracts))
    shutil.rmtree(REPO / "mutants", ignore_errors=True)
    started = time.monotonic()
    run = subprocess.run([str(BIN / "mutmut"), "run", "--max-children", str(os.cpu_count() or 2)], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = round(time.monotonic() - started)
    listing = subprocess.run([str(BIN / "mutmut"), "results", "--all", "true"], cwd=REPO, env=env,
                             capture_output=True, text=True).stdout
    status = dict(re.findall(r"^\s*(\S+): (\w[\w ]*)$", listing, re.M))
    if not status:
        print(run.stderr[-3000:], file=sys.stderr)
        return 1
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    counts = Counter(status.values())
    killed = counts.get("killed", 0)
    survivors = sorted(n for n, s in status.items() if s == "survived")
    considered = len(status) - len([n for n in survivors if n in equivalent])
    modules = Counter(_module(n) for n in status)
    result = {
        "source_paths": re.findall(r"^\s+(\S+(?:\.py|/))$", (REPO / "setup.cfg").read_text(), re.M),
        "mutants": len(status), "by_status": dict(counts), "per_module": dict(modules),
        "score": round(killed / len(status), 4),
        "score_without_equivalent": round(killed / considered, 4) if considered else None,
        "survivors": [{"mutant": n, "equivalent": equivalent.get(n)} for n in survivors],
        "seconds": seconds,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mutation.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    rows = ["| modules | mutants | killed | survived | score | without equivalent |", "| --- | --- | --- | --- | --- | --- |",
            "| %s | %d | %d | %d | %.1f %% | %.1f %% |" % (
                ", ".join(Path(p).name for p in result["source_paths"]), len(status), killed, len(survivors),
                100 * result["score"], 100 * (result["score_without_equivalent"] or 0))]
    (RESULTS / "mutation.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
