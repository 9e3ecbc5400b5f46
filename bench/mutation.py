"""make mutation: mutate the engine (setup.cfg [mutmut] source_paths: every module of module_utils) one change
at a time, run the unit tests that reach the mutated function against each mutant, and write the score and
the surviving mutants to bench/results/mutation.json and mutation.md.

The engine has about 15,000 mutants; a surviving one runs every test that reaches it, so a full run takes
hours on 2 cores. By default the score is measured on a seeded random sample stratified by module
(MVM_MUTATION_SAMPLE mutants, 800 unless set), reported with its 95 % Wilson interval; MVM_MUTATION_FULL=1
runs them all. Too slow for CI: run it before resolving an issue that touches the engine. Mutants listed in
bench/mutation_equivalent.json (with the reason each changes nothing observable) are left out of the
adjusted score.
"""

from __future__ import annotations

import glob
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "results"
EQUIVALENT = REPO / "bench" / "mutation_equivalent.json"
SEED = 22
# mutmut's exit codes per mutant: 1 (a test failed) and the timeouts and signals count as killed; 0 survived;
# 33 means no unit test reaches the function at all (a survivor too).
SURVIVED = (0, 33)


def _module(mutant: str) -> str:
    """The engine module a mutant belongs to: mutmut names functions `<module>.x_<name>__mutmut_N` and methods
    `<module>.xǁ<Class>ǁ<name>__mutmut_N`."""
    return mutant.split("module_utils.", 1)[-1].split(".", 1)[0]


def _mutmut(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "mutmut"), "run", "--max-children", str(os.cpu_count() or 2)] + args, cwd=REPO,
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _exit_codes() -> Dict[str, object]:
    codes = {}  # type: Dict[str, object]
    for meta in glob.glob(str(REPO / "mutants" / "**" / "*.meta"), recursive=True):
        codes.update(json.loads(Path(meta).read_text()).get("exit_code_by_key", {}))
    return codes


def _sample(names: List[str], size: int) -> List[str]:
    """A seeded sample stratified by module: each module gives its share (at least one mutant)."""
    by_module = defaultdict(list)  # type: Dict[str, List[str]]
    for name in sorted(names):
        by_module[_module(name)].append(name)
    rng = random.Random(SEED)
    picked = []  # type: List[str]
    for module in sorted(by_module):
        group = by_module[module]
        share = max(1, round(size * len(group) / len(names)))
        picked += rng.sample(group, min(share, len(group)))
    return sorted(picked)


def _wilson(killed: int, total: int) -> List[float]:
    if not total:
        return [0.0, 0.0]
    z, p = 1.96, killed / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return [round(centre - half, 4), round(centre + half, 4)]


def main() -> int:
    env = dict(os.environ)
    contracts = REPO.parent / "shared" / "contracts" / "firecracker"
    if contracts.is_dir():  # the tests run from mutants/, where ../shared is not the project's
        env.setdefault("MVM_FIRECRACKER_SWAGGER_DIR", str(contracts))
    full = os.environ.get("MVM_MUTATION_FULL", "") not in ("", "0")
    size = int(os.environ.get("MVM_MUTATION_SAMPLE", "800"))
    if os.environ.get("MVM_MUTATION_FRESH"):
        shutil.rmtree(REPO / "mutants", ignore_errors=True)  # else mutmut keeps the results of unchanged code
    started = time.monotonic()
    if full:
        run = _mutmut([], env)
        population = _exit_codes()
        chosen = sorted(population)
    else:
        # Generate every mutant and the test-to-function map, running only errors.py's few mutants.
        run = _mutmut(["ansible_collections.mvm.microvm.plugins.module_utils.errors.*"], env)
        population = _exit_codes()
        chosen = _sample(list(population), size)
        run = _mutmut(chosen, env)
    codes = _exit_codes()
    if not population or any(codes.get(n) is None for n in chosen):
        print(run.stderr[-20000:], file=sys.stderr)
        return 1
    seconds = round(time.monotonic() - started)
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    survivors = sorted(n for n in chosen if codes[n] in SURVIVED)
    killed = len(chosen) - len(survivors)
    considered = len(chosen) - len([n for n in survivors if n in equivalent])
    per_module = defaultdict(Counter)  # type: Dict[str, Counter]
    for name in chosen:
        per_module[_module(name)]["survived" if codes[name] in SURVIVED else "killed"] += 1
    result = {
        "source_paths": re.findall(r"^\s+(\S+(?:\.py|/))$", (REPO / "setup.cfg").read_text(), re.M),
        "population": len(population), "measured": len(chosen), "sample_seed": None if full else SEED,
        "killed": killed, "survived": len(survivors), "no_test_reaches": len([n for n in chosen if codes[n] == 33]),
        "score": round(killed / len(chosen), 4), "score_95": _wilson(killed, len(chosen)),
        "score_without_equivalent": round(killed / considered, 4) if considered else None,
        "per_module": {m: dict(c) for m, c in sorted(per_module.items())},
        "survivors": [{"mutant": n, "equivalent": equivalent.get(n)} for n in survivors],
        "seconds": seconds,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mutation.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    what = "all %d mutants" % len(chosen) if full else "a seeded sample of %d of %d mutants" % (len(chosen),
                                                                                             len(population))
    rows = ["Engine (every module of module_utils), %s:" % what, "",
            "| mutants | killed | survived | score (95 % interval) | without equivalent |",
            "| --- | --- | --- | --- | --- |",
            "| %d | %d | %d | %.1f %% (%.1f-%.1f %%) | %.1f %% |" % (
                len(chosen), killed, len(survivors), 100 * result["score"], 100 * result["score_95"][0],
                100 * result["score_95"][1], 100 * (result["score_without_equivalent"] or 0))]
    (RESULTS / "mutation.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
