"""Service surface: servers listen on 127.0.0.1 unless told otherwise; no secrets in committed configs; secrets in
the environment do not reach logs or artifacts. (`tests/test_ui.py`, slow, checks the running UI's sockets.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.reliability.harness import run_genlca

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-SENTINEL-7f9a2c"
SECRET_LIKE = re.compile(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|(?i:(password|passwd|secret|token|"
                         r"api[_-]?key)\s*[:=]\s*['\"]?[A-Za-z0-9/+_\-]{8,})")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.splitlines() if (ROOT / f).is_file()]


def test_servers_bind_loopback_by_default():
    ui = [line for line in (ROOT / "Makefile").read_text().splitlines() if "dagster dev" in line]
    assert ui and all("-h 127.0.0.1" in line for line in ui)
    code = [p for p in _tracked() if p.suffix in (".py", ".yaml", ".yml", ".toml", ".cfg") or p.name == "Makefile"]
    binds_all = [str(p.relative_to(ROOT)) for p in code if p.parts[-2:] != ("reliability", Path(__file__).name)
                 and re.search(r"['\"]0\.0\.0\.0|host\s*=\s*['\"]?(0\.0\.0\.0|::)['\"]?\b|--host[ =]0\.0\.0\.0",
                               p.read_text(errors="replace"))]
    assert not [b for b in binds_all if not b.startswith("tests/")], binds_all


def test_no_secrets_in_committed_files():
    found = []
    for p in _tracked():
        if p.suffix in (".png", ".jpg", ".parquet", ".safetensors", ".onnx") or p.stat().st_size > 2_000_000:
            continue
        text = p.read_text(errors="replace")
        found += [f"{p.relative_to(ROOT)}: {m.group(0)[:40]}" for m in SECRET_LIKE.finditer(text)
                  if "SENTINEL" not in m.group(0) and "example" not in m.group(0).lower()]
    assert not found, found


def test_environment_secrets_stay_out_of_logs_and_artifacts(tmp_path):
    from genlca.data.synth import generate_drop

    drop = tmp_path / "drop"
    generate_drop(drop, videos=1, frames=6, size=96, regime="full", seed=3, resolution=16)
    env = {"AWS_SECRET_ACCESS_KEY": SECRET, "HF_TOKEN": SECRET, "GENLCA_DB_PASSWORD": SECRET}
    runs = [run_genlca(["ingest", str(drop), "--out", str(tmp_path / "out" / "m.parquet")], env=env),
            run_genlca(["fit", str(drop), "--out", str(tmp_path / "out" / "fits"), "--max-frames", "2"], env=env)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].output[-2000:]
    assert not [r.args[0] for r in runs if SECRET in r.output]
    leaked = [str(p) for p in (tmp_path / "out").rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaked


@pytest.mark.parametrize("pattern", ["LocalCluster(", "dagster dev", "serve("])
def test_every_server_the_project_starts_names_its_host(pattern):
    """Where code starts a server (Dask's dashboard, the Dagster UI), the host is given, and it is loopback."""
    for p in _tracked():
        if p.suffix != ".py" or "tests" in p.parts:
            continue
        for m in re.finditer(re.escape(pattern), text := p.read_text()):
            call = text[m.start(): m.start() + 400]
            assert "127.0.0.1" in call or "localhost" in call, f"{p.relative_to(ROOT)}: {call[:200]}"
