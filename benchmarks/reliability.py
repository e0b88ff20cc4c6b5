"""The reliability suite with its figures: faults injected, runs recovered, bad inputs tried, files lost (must be
0), corrupted outputs (must be 0).

    python benchmarks/reliability.py            # everything, slow kill tests included (~15 min on 2 cores)
    python benchmarks/reliability.py --fast     # the default-suite part only (~3 min)

Runs `pytest tests/reliability`; the suite's conftest counts what it injected and found. Writes
benchmarks/results/reliability.json and prints the table. Exit status: pytest's, or 1 when anything was lost or
corrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, REPO, base_machine_info, write_result  # noqa: E402


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    f = result["figures"]
    t = Table("figure", "value", title=f"reliability ({result['selection']}, {result['seconds']:.0f} s, pytest "
                                       f"exit {result['pytest_exit']})")
    for key in ("faults_injected", "runs_recovered", "bad_inputs_tried", "bad_inputs_handled", "files_lost",
                "corrupted_outputs"):
        bad = key in ("files_lost", "corrupted_outputs") and f[key]
        t.add_row(key.replace("_", " "), f"[red]{f[key]}[/red]" if bad else str(f[key]))
    Console().print(t)
    if f["stages"]:
        s = Table("stage", "faults", "recovered", "files lost", "corrupted", title="kill-anywhere, per stage")
        for stage, v in f["stages"].items():
            s.add_row(stage, str(v["faults"]), str(v["recovered"]), str(v["lost"]), str(v["corrupted"]))
        Console().print(s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="only the tests of the default suite (no slow kill tests)")
    ap.add_argument("--out", type=Path, default=RESULTS / "reliability.json")
    args = ap.parse_args()
    selection = "not slow" if args.fast else "slow or not slow"
    with tempfile.TemporaryDirectory() as tmp:
        figures_json = Path(tmp) / "figures.json"
        t0 = time.time()
        env = dict(os.environ, GENLCA_RELIABILITY_JSON=str(figures_json))
        rc = subprocess.call([sys.executable, "-m", "pytest", "tests/reliability", "-m", selection, "-q", "-p",
                              "no:cacheprovider"], cwd=REPO, env=env)
        figures = json.loads(figures_json.read_text()) if figures_json.exists() else {
            "faults_injected": 0, "runs_recovered": 0, "bad_inputs_tried": 0, "bad_inputs_handled": 0,
            "files_lost": 0, "corrupted_outputs": 0, "stages": {}}
    result = {"machine": base_machine_info(), "selection": selection, "pytest_exit": rc,
              "seconds": round(time.time() - t0, 1), "figures": figures}
    write_result(args.out, result, print_table)
    return rc or int(bool(figures["files_lost"] or figures["corrupted_outputs"]))


if __name__ == "__main__":
    sys.exit(main())
