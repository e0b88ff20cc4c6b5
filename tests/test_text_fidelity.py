"""Text fidelity (issue 7): true subject tokens make a trainable token dataset; the scoring of captioner
readings against prompts' subjects; one tiny checkpoint evaluated end to end through the CLI."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from genlca.avatar import CHANNELS
from genlca.data.synth.subject_tokens import TOKENIZER, draw_subjects, subject_record, subject_tokens
from genlca.data.synth.vocab import COLORS, REGIONS
from genlca.generation.text_fidelity import (
    lighting_of,
    min_texels_for,
    read_avatars,
    score_readings,
    shuffled,
)
from genlca.tokenizer.captions import ALBEDO, DELIT, lighting_for, sure_regions

pytestmark = pytest.mark.usefixtures("one_thread")
R = 64  # the measurement's resolution


@pytest.fixture(scope="module")
def layout64(anny):
    from genlca.body.uv_layout import uv_layout

    return uv_layout(anny, R)


@pytest.fixture(scope="module")
def held_out(anny, layout64):
    """Four held-out subjects, their true tokens and subject records."""
    subjects = draw_subjects(anny, 4, seed=1000)
    return ([subject_tokens(anny, layout64, s) for s in subjects], [subject_record(s, anny) for s in subjects])


def _reading(**regions) -> dict:
    """A captioner reading with the given colours per region ('a' or 'a/b' for a pattern; None: unread)."""
    out = {}
    for r in REGIONS:
        words = (regions.get(r) or "").split("/") if regions.get(r) else []
        out[r] = {"color": words[0] if words else None, "color2": words[1] if len(words) > 1 else None}
    return {"regions": out, "caption": ""}


SUBJECT = {"clothing": {"skin": {"color": "fair"}, "hair": {"color": "black"},
                        "top": {"color": "red", "pattern": "stripes", "color2": "white"},
                        "bottom": {"color": "blue"}, "shoes": {"color": "white"}}}


def test_subject_folder_is_a_token_dataset_for_training(tmp_path, anny):
    from genlca.body.uv_layout import uv_layout
    from genlca.data.synth.subject_tokens import write_subject_tokens
    from genlca.diffusion.data import load_token_dataset
    from genlca.tokenizer.dataset import build_token_dataset, read_token_index
    from genlca.tokenizer.tokens import load_tokens

    folder, ds = tmp_path / "subjects", tmp_path / "dataset"
    info = write_subject_tokens(folder, 5, seed=3, resolution=32, body=anny)
    files = sorted(folder.glob("*.safetensors"))
    assert [f.stem for f in files] == info["names"] and json.loads((folder / "subjects.json").read_text())["seed"] == 3
    tokens = load_tokens(files[0])
    assert tokens.meta["tokenizer"] == TOKENIZER and lighting_for(TOKENIZER) is ALBEDO
    assert tokens.meta["caption"] == tokens.meta["subject"]["caption"] == info["captions"][0]
    assert set(tokens.meta["subject"]["clothing"]) >= set(REGIONS)
    build_token_dataset({"subjects": folder}, ds, val_fraction=0.2, chart=lambda _, r: uv_layout(anny, r).mask)
    index = read_token_index(ds)
    assert set(index["tokenizer"]) == {TOKENIZER} and (index["seen_share"] == 1).all()
    assert lighting_of({}, ds)[0] is ALBEDO
    train = load_token_dataset(ds, "train", body=anny)
    assert len(train) == (index["split"] == "train").sum() and set(train.captions) <= set(info["captions"])
    assert bool((train.valid == train.chart).all())  # seen everywhere on the chart, nowhere outside
    again = write_subject_tokens(folder, 5, seed=3, resolution=32, body=anny)  # an earlier folder is replaced
    assert again["captions"] == info["captions"] and load_tokens(files[0]).maps.equal(tokens.maps)
    with pytest.raises(FileExistsError):
        write_subject_tokens(ds, 1, body=anny)  # never overwrites another folder


def test_scoring_counts_cases_and_words():
    right = _reading(skin="fair", hair="black", top="white/red", bottom="blue", shoes="white")
    wrong = _reading(skin="fair", hair="black", top="red/black", bottom="grey", shoes=None)
    patterns = _reading(skin="fair", hair="black", top="red", bottom="blue/black", shoes="white")
    s = score_readings([right, wrong, patterns], [SUBJECT] * 3)
    assert s["overall"]["cases"] == 15 and s["overall"]["matched"] == 10
    o = s["overall"]
    assert (o["patterned_cases"], o["patterned_matched"], o["patterned_read_solid"], o["solid_read_patterned"]) == (
        3, 1, 1, 1)
    assert o["solid_match_rate"] == round(9 / 12, 4) and o["patterned_match_rate"] == round(1 / 3, 4)
    s = score_readings([right, wrong], [SUBJECT, SUBJECT])
    assert s["overall"]["cases"] == 10 and s["overall"]["matched"] == 7
    top, shoes = s["by_region"]["top"], s["by_region"]["shoes"]
    assert (top["matched"], top["words_right"], top["words"]) == (1, 3, 4)  # the pattern in either order
    assert (shoes["matched"], shoes["read"], shoes["words"]) == (1, 1, 1)  # unread: a miss, no words scored
    assert s["overall"]["match_rate"] == 0.7 and s["overall"]["word_accuracy"] == round(9 / 11, 4)
    assert s["rows"][1]["top"] == {"want": ["red", "white"], "got": ["red", "black"], "match": False, "right": 1,
                                   "scored": 2, "rgb": None}
    assert shuffled([1, 2, 3]) == [2, 3, 1]
    with pytest.raises(ValueError):
        score_readings([right], [])


def test_true_avatars_read_right_and_a_wrong_colour_reads_wrong(anny, layout64, held_out):
    tokens, truth = held_out
    assert min_texels_for(R) == 10 and min_texels_for(128) == 40
    readings = read_avatars(tokens, anny, layout64, ALBEDO)
    s = score_readings(readings, truth)
    assert s["overall"]["read_share"] == 1.0 and s["overall"]["match_rate"] >= 0.9, s["by_region"]
    # Repaint the first subject's shoes with a colour its prompt does not name: that case, only, turns wrong.
    repainted = tokens[0].maps.clone()
    want = truth[0]["clothing"]["shoes"]["color"]
    other = next(c for c in ("red", "yellow", "green") if c != want)
    shoes = torch.zeros(layout64.resolution ** 2, dtype=torch.bool)
    shoes[layout64.texels] = sure_regions(anny, layout64, tokens[0].shape)["shoes"]
    repainted[CHANNELS["rgb"]][:, shoes.view(R, R)] = torch.tensor(COLORS[other])[:, None]
    wrong = read_avatars([dataclasses.replace(tokens[0], maps=repainted)], anny, layout64, ALBEDO)
    assert wrong[0]["regions"]["shoes"]["color"] == other
    row = score_readings(wrong, truth[:1])["rows"][0]
    assert not row["shoes"]["match"] and row["top"]["match"] == s["rows"][0]["top"]["match"]
    # Scored against other prompts, the true avatars mostly fail: the score follows the prompt.
    assert score_readings(readings, shuffled(truth))["overall"]["match_rate"] < 0.6


def test_lighting_follows_the_training_tokens():
    assert lighting_of({}, light="delit")[0] is DELIT
    assert lighting_of({"lineage": {"tokenizer": "unprojection"}})[0] is DELIT
    assert lighting_of({"lineage": {"tokenizers": ["refiner", "refiner", "unprojection"]}})[0] is ALBEDO
    with pytest.raises(ValueError):
        lighting_of({}, light="sunny")


def test_tiny_checkpoint_end_to_end(tmp_path, anny):
    """Subjects -> token dataset -> a 2-step text checkpoint -> `genlca evaluate text-fidelity`."""
    from typer.testing import CliRunner

    from genlca.cli import app
    from genlca.data.synth.subject_tokens import write_subject_tokens
    from genlca.diffusion.data import load_token_dataset
    from genlca.diffusion.text import TextEncoder
    from genlca.diffusion.train import TrainConfig, train_diffusion
    from genlca.tokenizer.dataset import build_token_dataset

    folder, ds, ckpt = tmp_path / "subjects", tmp_path / "dataset", tmp_path / "ckpt"
    write_subject_tokens(folder, 4, seed=0, resolution=32, body=anny)
    build_token_dataset({"subjects": folder}, ds, val_fraction=0.25)
    cfg = TrainConfig(steps=2, batch_size=2, threads=1, checkpoint_every=2, model_kwargs={"patch_size": 8})
    train_diffusion(load_token_dataset(ds, "train", body=anny), ckpt, cfg, text_encoder=TextEncoder(), progress=False)
    out, sheet = tmp_path / "report.json", tmp_path / "sheet.png"
    r = CliRunner().invoke(app, ["evaluate", "text-fidelity", "--checkpoint", str(ckpt), "--json", str(out),
                                 "--prompts", "3", "--steps", "2", "--batch-size", "2", "--dataset", str(ds),
                                 "--contact-sheet", str(sheet)])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["prompts"] == 3 and len(report["rows"]) == 3 and report["light"] == "albedo"
    # The checkpoint records what made its training tokens, and the colours are named accordingly.
    assert json.loads((ckpt / "checkpoint.json").read_text())["tokenizers"] == ["ground_truth_albedo"]
    assert report["light_source"].startswith("checkpoint") and report["prompts_in_training"] == 0
    assert set(report["by_region"]) == set(REGIONS) and report["overall"]["cases"] == 15
    assert 0 <= report["overall"]["match_rate"] <= 1 and set(report["ceiling"]) == {"overall", "by_region"}
    assert report["timings"]["per_prompt_s"] > 0 and sheet.stat().st_size > 1000
    assert "colours matched in" in " ".join(r.output.split())
