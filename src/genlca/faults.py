"""Fault injection for the reliability suite: a process kills itself (SIGKILL) at a named point.

The points sit where a crash hurts most: `before_publish` (an artifact is fully written to its temporary but not
yet renamed into place) and `after_publish` (renamed, but the stage has not gone on). Off unless the environment
says `GENLCA_FAULT=POINT:N[:GLOB]`: the N-th time the process passes POINT (with a target whose name matches GLOB,
when given) it is killed, as the kernel's OOM killer or a pre-empted node would. Nothing else changes behaviour.
"""

from __future__ import annotations

import fnmatch
import os
import signal
from pathlib import Path

_ENV = "GENLCA_FAULT"
_hits: dict[str, int] = {}


def _spec() -> tuple[str, int, str] | None:
    raw = os.environ.get(_ENV, "")
    if not raw:
        return None
    point, _, rest = raw.partition(":")
    count, _, glob = rest.partition(":")
    try:
        return point, int(count or 1), glob or "*"
    except ValueError:
        raise ValueError(f"{_ENV}={raw!r}: expected POINT:N[:GLOB], e.g. before_publish:3") from None


def point(name: str, target: str | os.PathLike = "") -> None:
    """Pass the fault point NAME (writing TARGET); kills the process when GENLCA_FAULT says so."""
    spec = _spec()
    if spec is None or spec[0] != name or not fnmatch.fnmatch(Path(target).name, spec[2]):
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == spec[1]:
        os.kill(os.getpid(), signal.SIGKILL)
