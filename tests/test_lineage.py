"""Checkpoint lineage report: collection from folders and history/, order, deltas, change flags, HTML, CLI."""

import json
import os

import pytest
from typer.testing import CliRunner

from genlca.cli import app
from genlca.eval.lineage import collect_lineage, lineage_markdown, write_lineage_html

MODEL = {"hidden_size": 64, "depth": 2}


def _meta(weights: str, step: int, data: str, commit: str, cfg: str, loss_last: float, parent: str | None = None,
          sps: float = 10.0) -> dict:
    """The checkpoint.json fields lineage reads, as `export` writes them."""
    return {
        "kind": "genlca_checkpoint", "model": MODEL, "config_hash": cfg, "weights_sha256": weights * 64,
        "dataset": {"version": data, "samples": 8}, "step": step, "run_id": f"run{step}",
        "lineage": {"token_dataset": {"version": data, "dvc_version": data, "content_version": data,
                                      "train_samples": 8, "path": "tokens"},
                    "git_commit": commit, "config_hash": cfg, "dagster_run_id": "d",
                    "parent": {"id": parent * 16, "step": step // 2} if parent else None},
        "metrics": {"steps": step, "resumed_from": None, "run_id": f"run{step}", "loss_first": 1.0,
                    "loss_last": loss_last, "seconds": 5.0, "samples_per_s": sps, "losses": [1.0, loss_last],
                    "psnr_db": 20.0 + step, "note": "text is not a metric"},
    }


def _write(path, meta, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta))
    os.utime(path, (mtime, mtime))


@pytest.fixture
def folders(tmp_path):
    """genlca/: current C (data v2, parent B), history/ A (root) and B (parent A, code changed); production/: a copy
    of B, so B appears twice and is deduplicated."""
    a = _meta("a", 100, "v1", "c0mmit1", "cfg1", 0.50)
    b = _meta("b", 200, "v1", "c0mmit2", "cfg1", 0.40, parent="a", sps=12.0)
    c = _meta("c", 300, "v2", "c0mmit2", "cfg1", 0.45, parent="b", sps=9.0)
    genlca, prod = tmp_path / "models" / "genlca", tmp_path / "models" / "production"
    _write(genlca / "history" / f"{'a' * 16}.json", a, 1000)
    _write(genlca / "history" / f"{'b' * 16}.json", b, 2000)
    _write(genlca / "checkpoint.json", c, 3000)
    _write(prod / "checkpoint.json", b, 2500)
    return genlca, prod


def test_collect_dedup_order_deltas_flags(folders):
    entries = collect_lineage(list(folders))
    a, b, c = ("a" * 16, "b" * 16, "c" * 16)
    assert [e["id"] for e in entries] == [a, b, c]  # B once, though in history/ and in production
    by = {e["id"]: e for e in entries}
    assert [by[i]["depth"] for i in (a, b, c)] == [0, 1, 2]
    assert by[a]["parent_id"] is None and by[b]["parent_id"] == a and by[c]["parent_id"] == b
    assert by[b]["production"] and by[b]["current"] and len(by[b]["locations"]) == 2
    assert by[c]["current"] and not by[c]["production"] and not by[a]["current"]
    assert by[b]["folder"].endswith("production")  # the current export's record wins over the archived copy
    assert by[c]["deltas"]["loss_last"] == pytest.approx(0.05)
    assert by[b]["deltas"]["loss_last"] == pytest.approx(-0.10)
    assert by[c]["deltas"]["samples_per_s"] == pytest.approx(-3.0)
    assert by[c]["deltas"]["psnr_db"] == pytest.approx(100.0)  # any numeric metric
    assert "note" not in by[c]["metrics"] and "steps" not in by[c]["metrics"]
    assert by[a]["deltas"] == {} and by[a]["changed"] == {}
    assert by[b]["changed"] == {"data": False, "code": True, "config": False}
    assert by[c]["changed"] == {"data": True, "code": False, "config": False}
    assert by[c]["data_version"] == "v2" and by[c]["model_size"] == "64x2" and by[c]["step"] == 300


def test_several_roots_delta_against_previous(tmp_path):
    """A checkpoint whose parent is unknown is a root; its deltas are against the row above it."""
    x, y = tmp_path / "x", tmp_path / "y"
    _write(x / "checkpoint.json", _meta("d", 10, "v1", "g", "cfg1", 0.8), 1000)
    _write(y / "checkpoint.json", _meta("e", 20, "v1", "g", "cfg2", 0.6, parent="z"), 2000)
    d, e = collect_lineage([y, x])
    assert (d["id"], e["id"]) == ("d" * 16, "e" * 16) and d["depth"] == e["depth"] == 0
    assert e["base_kind"] == "previous" and e["deltas"]["loss_last"] == pytest.approx(-0.2) and e["changed"] == {}
    assert "not found" in lineage_markdown([d, e], plot=False)


def test_html_self_contained(folders, tmp_path):
    entries = collect_lineage(list(folders))
    out = write_lineage_html(entries, tmp_path / "report" / "lineage.html")
    text = out.read_text()
    assert all(e["id"] in text for e in entries)
    assert "http" not in text and "<script" not in text
    assert "data:image/png;base64," in text  # the metric history plot, embedded
    assert "class='d worse'" in text and "class='d better'" in text  # C's loss went up, B's down
    assert not [p for p in out.parent.iterdir() if p.name != "lineage.html"]  # no temporary left behind
    md = lineage_markdown(entries, plot=False)
    assert md.count("\n") == len(entries) + 1 and "(production)" in md and "+0.05" in md


def test_cli_writes_html_and_json(folders, tmp_path):
    html, js = tmp_path / "lineage.html", tmp_path / "lineage.json"
    r = CliRunner().invoke(app, ["lineage", *map(str, folders), "--out", str(html), "--json", str(js)])
    assert r.exit_code == 0, r.output
    data = json.loads(js.read_text())["checkpoints"]
    assert [e["id"][0] for e in data] == ["a", "b", "c"] and html.is_file()


def test_cli_default_folders(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLCA_DATA", str(tmp_path))
    js = tmp_path / "out.json"
    r = CliRunner().invoke(app, ["lineage", "--out", str(tmp_path / "l.html"), "--json", str(js)])
    assert r.exit_code == 0, r.output
    assert len(json.loads(js.read_text())["checkpoints"]) == 3


def test_folder_without_checkpoint_is_named(folders, tmp_path):
    empty = tmp_path / "not_a_checkpoint"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="not_a_checkpoint"):
        collect_lineage([folders[0], empty])
    assert len(collect_lineage([folders[0], empty], skip_missing=True)) == 3
    r = CliRunner().invoke(app, ["lineage", str(empty), "--out", str(tmp_path / "l.html")])
    assert r.exit_code == 2 and "not_a_checkpoint" in r.output
