"""`make demo`: run the demo job through Dagster, recorded in $DAGSTER_HOME so `make ui` shows it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs


def main() -> int:
    t0 = time.time()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        result = defs.resolve_job_def("demo").execute_in_process(instance=instance, raise_on_error=False)
    root = Path(os.environ.get("GENLCA_OUTPUTS", "outputs")).resolve()
    if not result.success:
        print(f"demo run {result.run_id} FAILED; see `make ui` or the log above", file=sys.stderr)
        return 1
    print(f"\ndemo run {result.run_id} succeeded in {time.time() - t0:.0f} s. Results in {root}:")
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            print(f"  {p.relative_to(root)}  ({p.stat().st_size / 1e6:.2f} MB)")
    print("Browse the run and its assets: make ui  (http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
