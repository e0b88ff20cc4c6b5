"""Service surface: servers listen on 127.0.0.1 unless told otherwise; no secrets in committed configs; secrets in
the environment do not reach logs or artifacts. (`tests/test_ui.py`, slow, checks the running UI's sockets.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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


def test_the_local_dask_cluster_listens_on_loopback_without_a_dashboard():
    """The one server the project starts besides the UI: GENLCA_EXECUTOR=dask's local cluster (per run)."""
    from orchestration.executors import dask_cluster

    local = dask_cluster({})["local"]
    assert local["host"] == "127.0.0.1" and local["dashboard_address"] is None
    scheduler = "tcp://10.0.0.5:8786"  # a cluster of your own: its host and dashboard are its operator's choice
    assert dask_cluster({"GENLCA_DASK_ADDRESS": scheduler}) == {"existing": {"address": scheduler}}
