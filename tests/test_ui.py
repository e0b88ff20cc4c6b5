"""`make ui`: `dagster dev` on 127.0.0.1 loads the code location with our assets, and stops without leftovers."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
            assetNodes { assetKey { path } } schedules { name } sensors { name } } } }
          workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
            __typename ... on PythonError { message } } } } } }"""
LOOPBACK = {"127.0.0.1", "[::1]", "::1", "localhost"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": QUERY}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["data"]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc: no psutil here)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _listening(pids: set[int]) -> list[str]:
    """Local addresses the given processes listen on (TCP)."""
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split()[3] for line in lines if set(map(int, re.findall(r"pid=(\d+)", line))) & pids]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM to the whole group, then SIGKILL (`dagster api grpc` ignores SIGTERM)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(2)  # children shut down after the parent
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever outlived the parent in our group
            except ProcessLookupError:
                pass
        return


@pytest.mark.slow
def test_make_ui_serves_the_code_location_on_loopback(tmp_path):
    # `make ui` without its `setup` prerequisite (which may pip install) and with a free port instead of 3000.
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "GENLCA_DATA": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
           "GENLCA_DROPS": str(tmp_path / "drops"), "OMP_NUM_THREADS": "1"}
    port = _free_port()
    log = (tmp_path / "dagster_dev.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                             "-w", "workspace.yaml"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group: stopped as one below
    seen: set[int] = set()
    try:
        data, deadline = None, time.time() + 180
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            seen |= _descendants(proc.pid)
            try:
                data = _graphql(port)
                repos = data["repositoriesOrError"].get("nodes") or []
                if repos and repos[0]["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(2)
        assert data is not None, "dagster dev did not answer in 180 s"
        [entry] = data["workspaceOrError"]["locationEntries"]
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        [repo] = data["repositoriesOrError"]["nodes"]
        assets = {"/".join(a["assetKey"]["path"]) for a in repo["assetNodes"]}
        assert {"genlca_checkpoint", "user_avatars", "exported_sampler", "drop_drift", "token_dataset"} <= assets
        assert {s["name"] for s in repo["schedules"]} >= {"retrain_schedule"}
        assert {s["name"] for s in repo["sensors"]} >= {"drop_sensor"}

        seen |= _descendants(proc.pid)
        addresses = _listening(seen | {proc.pid})
        assert f"127.0.0.1:{port}" in addresses
        assert all(a.rsplit(":", 1)[0] in LOOPBACK for a in addresses), addresses  # never 0.0.0.0, [::] or *
    finally:
        seen |= _descendants(proc.pid)
        _stop_group(proc)
        log.close()
    time.sleep(1)
    survivors = [p for p in seen | {proc.pid} if _alive(p)]
    assert not survivors, f"left running: {survivors}"
