"""Kill-anywhere harness: run a `genlca` command in its own process group, SIGKILL it at a fault point or after a
delay, run it again, and compare what is on disk with an uninterrupted run.

Fault points (`genlca.faults`): `before_publish` (an artifact fully written to its temporary, not yet renamed) and
`after_publish` (renamed, the stage not gone on). Timed kills land wherever the process happens to be.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

GENLCA = str(Path(sys.executable).with_name("genlca"))
# Names only temporaries carry (io_utils.atomic_path / temp_dir_beside, Lightning's and pip's leftovers).
TEMP_NAME = re.compile(r"(^\..+\.\d+\.[^.]+\.(tmp|old))|\.tmp$|\.partial$|^tmp[a-z0-9_]{8}$")


@dataclass
class Run:
    args: list[str]
    returncode: int
    seconds: float
    output: str
    killed: bool = False


def run_genlca(args: list[str], fault: str | None = None, kill_after_s: float | None = None,
               timeout_s: float = 600, env: dict | None = None) -> Run:
    """`genlca ARGS` in a new process group; FAULT sets GENLCA_FAULT; KILL_AFTER_S SIGKILLs the whole group."""
    e = dict(os.environ, HF_HUB_OFFLINE="1", **(env or {}))
    e.pop("GENLCA_FAULT", None)
    if fault:
        e["GENLCA_FAULT"] = fault
    t0 = time.time()
    p = subprocess.Popen([GENLCA, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e,
                         start_new_session=True, text=True)
    killed = False
    try:
        out, _ = p.communicate(timeout=kill_after_s if kill_after_s is not None else timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the whole group: DDP workers and helpers die too
        out, _ = p.communicate()
        killed = kill_after_s is not None
        if not killed:
            raise
    killed = killed or p.returncode == -signal.SIGKILL
    return Run(args, p.returncode, time.time() - t0, out, killed)


def leftovers(*roots: Path) -> list[Path]:
    """Temporaries under ROOTS (recursively) and beside them."""
    found = []
    for root in roots:
        for folder in {root.parent, root} if root.exists() else {root.parent}:
            if not folder.is_dir():
                continue
            for p in (folder.rglob("*") if folder == root else folder.iterdir()):
                if TEMP_NAME.search(p.name):
                    found.append(p)
    return sorted(set(found))


def _digest(path: Path, volatile: tuple[str, ...]) -> str:
    if path.suffix == ".json" and volatile:
        data = json.loads(path.read_text())
        return hashlib.sha256(json.dumps(_drop_keys(data, volatile), sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _drop_keys(data, volatile):
    if isinstance(data, dict):
        return {k: _drop_keys(v, volatile) for k, v in data.items() if k not in volatile and not k.endswith("seconds")}
    if isinstance(data, list):
        return [_drop_keys(v, volatile) for v in data]
    return data


def fingerprint(root: Path, skip: tuple[str, ...] = (), volatile: tuple[str, ...] = ()) -> dict[str, str]:
    """relative path -> content hash of every file under ROOT (a file: itself). SKIP: relative path prefixes left
    out (logs, timings); VOLATILE: JSON keys left out of .json files (reused flags, run ids; with any VOLATILE,
    every key ending in "seconds" is a timing and left out too)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out = {}
    for p in files:
        rel = p.name if root.is_file() else str(p.relative_to(root))
        if rel.startswith(".") or any(rel.startswith(s) for s in skip):
            continue
        out[rel] = _digest(p, volatile)
    return out


@dataclass
class Figures:
    """What the suite tried and what it found (printed as the reliability table)."""

    faults_injected: int = 0
    runs_recovered: int = 0
    files_lost: int = 0
    corrupted_outputs: int = 0
    stages: dict = field(default_factory=dict)

    def record(self, stage: str, kills: int, recovered: bool, lost: int, corrupted: int) -> None:
        self.faults_injected += kills
        self.runs_recovered += int(recovered)
        self.files_lost += lost
        self.corrupted_outputs += corrupted
        s = self.stages.setdefault(stage, {"faults": 0, "recovered": 0, "lost": 0, "corrupted": 0})
        s["faults"] += kills
        s["recovered"] += int(recovered)
        s["lost"] += lost
        s["corrupted"] += corrupted


def compare(reference: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(files lost, files corrupted) of AFTER against the uninterrupted REFERENCE, by relative path."""
    lost = [k for k in reference if k not in after]
    corrupted = [k for k in reference if k in after and after[k] != reference[k]]
    corrupted += [k for k in after if k not in reference]  # something no clean run makes
    return lost, corrupted
