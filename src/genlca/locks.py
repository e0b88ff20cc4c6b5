"""One writer per output folder: two materializations of the same partition (two Dagster runs, a run and a CLI
call) take turns instead of interleaving their writes.

An advisory `flock` on a hidden file beside the folder (`.NAME.lock`; beside, not inside, because folders are
swapped into place whole). The kernel drops the lock when its holder dies, SIGKILL included, so a killed run never
blocks the next one. flock works across processes of one machine and on NFSv4 / most cluster file systems.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Iterator


class LockTimeout(TimeoutError):
    """Another writer held the folder for longer than we were willing to wait."""


def lock_file(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, timeout_s: float | None = None, log=None) -> Iterator[Path]:
    """Hold FOLDER's lock for the block; wait (up to TIMEOUT_S, None: forever) while another process holds it.
    LOG (a callable taking a str, default stderr) hears once that we are waiting and for whom."""
    path = lock_file(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        t0, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                    (log or (lambda m: print(m, file=sys.stderr)))(f"{folder}: waiting for {holder} writing it")
                    told = True
                if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                    raise LockTimeout(f"{folder}: still locked by another writer after {timeout_s:.0f} s "
                                      f"(lock file {path})") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)  # who holds it, for the message above
        yield path
    finally:
        os.close(fd)  # releases the lock
