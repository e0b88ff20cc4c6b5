"""Atomic writes under faults, stale temporaries, one writer per folder, and idempotent re-runs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from genlca.io_utils import (DiskFullError, atomic_path, load_header, published, replace_dir, save_tensors,
                             sweep_stale_temps, temp_dir_beside, temp_prefix)
from genlca.locks import LockTimeout, folder_lock
from tests.reliability.harness import GENLCA, leftovers

# A child that writes a 4 MiB artifact over an existing one under a 1 MiB file-size limit (RLIMIT_FSIZE: the kernel
# refuses the write with EFBIG, as a full disk refuses with ENOSPC).
_CHILD = textwrap.dedent("""
    import resource, signal, sys, torch
    from genlca.io_utils import DiskFullError, save_tensors
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    try:
        save_tensors(sys.argv[1], {"x": torch.zeros(1 << 20)})
    except DiskFullError as e:
        print(e.strerror)
        sys.exit(3)
""")


def test_a_write_refused_by_the_kernel_names_the_file_and_keeps_the_old_version(tmp_path):
    target = tmp_path / "model.safetensors"
    save_tensors(target, {"x": torch.ones(4)}, {"v": 1})
    before = target.read_bytes()
    r = subprocess.run([sys.executable, "-c", _CHILD, str(target)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert str(target) in r.stdout and "no space left" in r.stdout
    assert target.read_bytes() == before and load_header(target) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no half-written temporary


def test_enospc_inside_any_atomic_write_becomes_disk_full_error(tmp_path):
    target = tmp_path / "manifest.parquet"
    with pytest.raises(DiskFullError, match=r"manifest\.parquet: no space left"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "notes.txt").write_text("x" * 10)
    code = (f"import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256)); sys.argv = ['genlca', 'ingest', {str(drop)!r}, "
            f"'--out', {str(tmp_path / 'm.parquet')!r}]; from genlca.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, COLUMNS="200"))
    assert r.returncode == 3, r.stderr[-2000:]
    assert "m.parquet: no space left" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.parquet").exists() and not leftovers(tmp_path / "m.parquet")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temporaries_of_dead_writers_are_swept_and_never_count(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    prefix = temp_prefix(tmp_path / "vid_000.safetensors")
    stale = tmp_path / f"{prefix.replace(f'.{os.getpid()}.', f'.{dead}.')}abc123.tmp.safetensors"
    alive = tmp_path / f"{prefix.replace(f'.{os.getpid()}.', f'.{live}.')}def456.tmp.safetensors"
    other_host = tmp_path / f".vid_000.safetensors.elsewhere.{dead}.ghi789.tmp.safetensors"
    for p in (stale, alive, other_host):
        p.write_bytes(b"half")
    assert published(tmp_path) == []  # hidden temporaries are never taken as finished artifacts
    removed = sweep_stale_temps(tmp_path, force=True)
    assert removed == [stale] and alive.exists() and other_host.exists()


def test_a_folder_swap_killed_between_its_renames_is_put_back(tmp_path):
    out = tmp_path / "token_dataset"
    out.mkdir()
    (out / "index.parquet").write_bytes(b"v1")
    # What a kill between replace_dir's two renames leaves: OUT moved aside into an ".old" temporary of a dead pid.
    old = tmp_path / f".token_dataset.{temp_prefix(out).split('.')[2]}.{_dead_pid()}.x1y2z3.old"
    old.mkdir()
    os.replace(out, old / "token_dataset")
    sweep_stale_temps(tmp_path, force=True)
    assert (out / "index.parquet").read_bytes() == b"v1" and not old.exists()
    new = temp_dir_beside(out)
    (new / "index.parquet").write_bytes(b"v2")
    replace_dir(new, out)
    assert (out / "index.parquet").read_bytes() == b"v2" and sorted(p.name for p in tmp_path.iterdir()) == [
        "token_dataset"]


_WRITER = textwrap.dedent("""
    import json, pathlib, sys, time
    from genlca.locks import folder_lock
    ready = pathlib.Path(sys.argv[2] + ".ready." + sys.argv[3])
    ready.touch()  # both imported before either locks: on a loaded machine one could finish before the other starts
    while len(list(ready.parent.glob("*.ready.*"))) < 2:
        time.sleep(0.01)
    with folder_lock(sys.argv[1]):
        t0 = time.time()
        for i in range(5):
            with open(sys.argv[2], "a") as f:
                f.write(json.dumps({"who": sys.argv[3], "i": i}) + "\\n")
            time.sleep(0.1)
""")


def test_two_writers_of_one_folder_take_turns(tmp_path):
    log = tmp_path / "writes.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "fits"), str(log), who],
                              stderr=subprocess.PIPE, text=True) for who in "ab"]
    errs = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    order = [json.loads(line)["who"] for line in log.read_text().splitlines()]
    assert order in (["a"] * 5 + ["b"] * 5, ["b"] * 5 + ["a"] * 5)  # never interleaved
    assert sum("waiting for pid" in e for e in errs) == 1  # the second one said whom it waits for


def test_a_killed_lock_holder_does_not_block_the_next_writer(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom genlca.locks import folder_lock\n"
                          "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)",
                          str(tmp_path / "fits")], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    with pytest.raises(LockTimeout, match="still locked"):
        with folder_lock(tmp_path / "fits", timeout_s=0.5, log=lambda m: None):
            pass
    p.kill()
    p.wait()
    t0 = time.time()
    with folder_lock(tmp_path / "fits", timeout_s=5):
        assert time.time() - t0 < 2


@pytest.mark.slow
def test_concurrent_tokenize_runs_of_one_drop_do_not_interleave(tmp_path):
    """Two `genlca tokenize` of the same drop into the same folder at once: one waits, both succeed, the tokens are
    those of a single run (the second reuses the first's)."""
    from genlca.data.synth import generate_drop

    drop = tmp_path / "drop"
    generate_drop(drop, videos=2, frames=6, size=160, regime="full", seed=2, resolution=32)
    fits = tmp_path / "fits"
    assert subprocess.run([GENLCA, "fit", str(drop), "--out", str(fits), "--max-frames", "6"],
                          capture_output=True).returncode == 0
    args = [GENLCA, "tokenize", str(drop), "--fits", str(fits), "--out", str(tmp_path / "tokens"), "--resolution", "32"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("waiting for" in o for o in outs) == 1
    ref = tmp_path / "ref"
    assert subprocess.run([*args[:-4], "--out", str(ref), "--resolution", "32"], capture_output=True).returncode == 0
    assert {p.name: p.read_bytes() for p in published(tmp_path / "tokens")} == {
        p.name: p.read_bytes() for p in published(ref)}
    assert not leftovers(tmp_path / "tokens")
