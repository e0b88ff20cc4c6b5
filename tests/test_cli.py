"""The `genlca` command as a user runs it."""

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from genlca.cli import app

runner = CliRunner()


def test_template_then_render_four_views_shows_a_person(tmp_path):
    ply, png, mp4 = tmp_path / "t.ply", tmp_path / "t.png", tmp_path / "t.mp4"
    r = runner.invoke(app, ["avatar", "template", "--out", str(ply)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["render", str(ply), "--out", str(png), "--views", "4", "--size", "128",
                            "--turntable", str(mp4), "--frames", "4", "--pose", "walk"])
    assert r.exit_code == 0, r.output
    im = np.asarray(Image.open(png).convert("RGB"))
    assert im.shape == (128, 512, 3)
    for k in range(4):  # a person in each of the four views, centred
        view = im[:, 128 * k:128 * (k + 1)]
        person = view.min(axis=-1) < 240
        assert 0.05 < person.mean() < 0.5
        cols = np.nonzero(person.any(axis=0))[0]
        assert 20 < cols.mean() < 108
    assert mp4.stat().st_size > 1000


def test_body_info_prints_the_model():
    r = runner.invoke(app, ["body", "info"])
    assert r.exit_code == 0, r.output
    assert "13718" in r.output and "Gaussians at R=128" in r.output


def test_errors_are_clear(tmp_path):
    r = runner.invoke(app, ["render", str(tmp_path / "nope.ply"), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "nope.ply" in r.output
    r = runner.invoke(app, ["avatar", "template", "--out", str(tmp_path / "x.ply"), "--model", "smplx"])
    assert r.exit_code == 2 and "smplx_dir" in r.output
    (tmp_path / "t.ply").write_text("not a ply")
    r = runner.invoke(app, ["render", str(tmp_path / "t.ply"), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "t.ply" in r.output


def test_synth_then_ingest_reports_the_quarantine(tmp_path):
    drop, manifest = tmp_path / "d", tmp_path / "m.parquet"
    r = runner.invoke(app, ["synth", "--out", str(drop), "--videos", "2", "--frames", "8", "--size", "64", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert len(list((drop / "videos").glob("*.mp4"))) == 2 and (drop / "_READY").exists()
    (drop / "videos" / "empty.mp4").write_bytes(b"")
    r = runner.invoke(app, ["ingest", str(drop), "--out", str(manifest)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # rich wraps long lines
    assert "3 files, 2 valid" in text and "empty.mp4" in text and "empty file" in text
    assert manifest.exists()
    r = runner.invoke(app, ["synth", "--out", str(drop), "--videos", "1"])
    assert r.exit_code == 2 and "not empty" in r.output  # never overwrites a folder
    r = runner.invoke(app, ["ingest", str(tmp_path / "missing"), "--out", str(manifest)])
    assert r.exit_code == 2 and "missing" in r.output


def test_fit_then_evaluate_fitting(tmp_path):
    import json

    drop, fits, out = tmp_path / "d", tmp_path / "f", tmp_path / "fit.json"
    assert runner.invoke(app, ["synth", "--out", str(drop), "--videos", "1", "--frames", "8", "--size", "192",
                               "--regime", "full", "--seed", "5"]).exit_code == 0
    r = runner.invoke(app, ["fit", str(drop), "--out", str(fits)])
    assert r.exit_code == 0, r.output
    assert (fits / "vid_000.safetensors").exists() and (fits / "quality.parquet").exists()
    r = runner.invoke(app, ["evaluate", "fitting", "--drop", str(drop), "--fits", str(fits), "--json", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())["overall"]
    assert report["fitted_share"] >= 0.9
    assert report["pa_mpjpe_mm"] < 100  # real mediapipe detections on a short clip (target: <= 60 on full drops)
    # ... then tokens from those fits (with the detections' masks), a tiny trained tokenizer, and
    # the evaluation of both against the ground truth.
    tok, model, tj = tmp_path / "tok", tmp_path / "model", tmp_path / "tok.json"
    r = runner.invoke(app, ["tokenize", str(drop), "--fits", str(fits), "--out", str(tok)])
    assert r.exit_code == 0, r.output
    assert (tok / "vid_000.safetensors").exists()
    r = runner.invoke(app, ["train-tokenizer", str(drop), "--val", str(drop), "--out", str(model), "--size", "tiny",
                            "--steps", "5", "--batch-size", "1"])
    assert r.exit_code == 0, r.output
    assert {p.name for p in model.iterdir()} == {"model.safetensors", "config.json", "metrics.json"}
    assert json.loads((model / "config.json").read_text())["render_weight"] == 1.0  # the rendering loss is on
    r = runner.invoke(app, ["tokenize", str(drop), "--fits", str(fits), "--out", str(tok), "--tokenizer", str(model)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", "tokenizer", "--drop", str(drop), "--tokens", str(tok), "--json", str(tj)])
    assert r.exit_code == 0, r.output
    tokens = json.loads(tj.read_text())["overall"]
    assert tokens["videos"] == 1 and tokens["seen_iou"] > 0.6 and tokens["unseen_neutral"] == 1.0
    r = runner.invoke(app, ["tokenize", str(drop), "--fits", str(tmp_path / "nofits"), "--out", str(tok)])
    assert r.exit_code == 2 and "no body fits" in " ".join(r.output.split())
