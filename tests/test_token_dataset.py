"""The token dataset: index schema, a split that stays put, statistics over valid texels only."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pandera.errors
import pytest
import torch
from safetensors.torch import load_file

from genlca.avatar import NUM_CHANNELS
from genlca.tokenizer.dataset import (INDEX_FILE, INFO_FILE, STATS_FILE, TokenIndexSchema, build_token_dataset,
                                      constant_channels, read_token_index)
from genlca.tokenizer.tokens import AvatarTokens, save_tokens

R = 8
CHART = torch.zeros(R, R, dtype=torch.bool)
CHART[1:7, 1:7] = True  # a 6x6 chart inside an 8x8 grid


def _chart(body_model: str, resolution: int) -> torch.Tensor:
    assert (body_model, resolution) == ("anny", R)
    return CHART


def _tokens(path, value: float, spread: float = 0.5, caption: str = "") -> None:
    """Seen chart texels: channel c holds value + c, +-spread in a checkerboard; everything else
    (unseen chart texels, seen texels outside the chart) holds wild values the stats must ignore."""
    count = torch.zeros(R, R, dtype=torch.int32)
    count[1:4, 1:7] = 3  # top half of the chart seen
    count[0, :] = 5  # seen, but outside the chart
    checker = (torch.arange(R)[:, None] + torch.arange(R)[None]) % 2 * 2 - 1  # +-1
    maps = torch.full((NUM_CHANNELS, R, R), 1000.0)
    maps[:, 0, :] = -1000.0
    seen = (count > 0) & CHART
    maps[:, seen] = (value + torch.arange(NUM_CHANNELS, dtype=torch.float32)[:, None]
                     + spread * checker[seen].float()[None])
    tokens = AvatarTokens(maps=maps, visibility=seen.float() * 0.5, count=count, shape=torch.zeros(4),
                          body_model="anny", meta={"caption": caption, "tokenizer": "test"})
    save_tokens(tokens, path)


def _drop(folder, names, value=0.0):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        _tokens(folder / f"{n}.safetensors", value, caption=f"person {n}")
    return folder


def test_index_stats_and_info(tmp_path):
    a = _drop(tmp_path / "tokens" / "a", [f"v{i}" for i in range(6)], value=0.0)
    b = _drop(tmp_path / "tokens" / "b", ["w0", "w1"], value=0.0)
    out = tmp_path / "token_dataset"
    info = build_token_dataset({"a": a, "b": b}, out, val_fraction=0.3, seed=0, chart=_chart)
    index = read_token_index(out)
    assert len(index) == 8 and set(index["split"]) == {"train", "val"}
    assert info["counts"] == {s: int((index["split"] == s).sum()) for s in ("train", "val")}
    row = index.set_index("video").loc["v0"]
    assert row["caption"] == "person v0" and row["body_model"] == "anny" and row["resolution"] == R
    assert row["seen_share"] == pytest.approx(18 / 36) and row["visibility_mean"] == pytest.approx(0.25)
    assert (out / row["path"]).resolve() == (a / "v0.safetensors").resolve()  # relative to the dataset folder
    stats = load_file(str(out / STATS_FILE))
    # Only the 18 seen chart texels of each file count: mean value + c, std exactly `spread`.
    assert torch.allclose(stats["mean"], torch.arange(NUM_CHANNELS, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(stats["std"], torch.full((NUM_CHANNELS,), 0.5), atol=1e-5)
    assert int(stats["texels"]) == 18 * info["counts"]["train"] and not constant_channels(stats)
    saved = json.loads((out / INFO_FILE).read_text())
    assert saved["dvc"]["a"]["hash"] == "" and len(saved["version"]) == 64  # tmp_path is no DVC repo
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_stats_come_from_the_train_split_only(tmp_path):
    drop = tmp_path / "d"
    drop.mkdir()
    names = [f"v{i}" for i in range(8)]
    out = tmp_path / "ds"
    build_token_dataset({"d": _drop(drop, names)}, out, val_fraction=0.4, chart=_chart)
    index = read_token_index(out)
    val = index.loc[index["split"] == "val", "video"].tolist()
    assert val and len(val) < len(names)
    for n in val:  # validation videos far from the train ones: they must not move the statistics
        _tokens(drop / f"{n}.safetensors", value=50.0)
    build_token_dataset({"d": drop}, out, val_fraction=0.4, chart=_chart)
    assert torch.allclose(load_file(str(out / STATS_FILE))["mean"], torch.arange(NUM_CHANNELS, dtype=torch.float32),
                          atol=1e-5)


def test_split_is_stable_when_videos_arrive(tmp_path):
    a = _drop(tmp_path / "a", [f"v{i:02d}" for i in range(20)])
    build_token_dataset({"a": a}, tmp_path / "ds1", val_fraction=0.25, chart=_chart)
    before = read_token_index(tmp_path / "ds1").set_index(["drop", "video"])["split"]
    assert 0 < (before == "val").sum() < len(before)
    _drop(a, ["v20", "v21"])
    b = _drop(tmp_path / "b", ["w0", "w1", "w2"])
    build_token_dataset({"a": a, "b": b}, tmp_path / "ds2", val_fraction=0.25, chart=_chart)
    after = read_token_index(tmp_path / "ds2").set_index(["drop", "video"])["split"]
    assert len(after) == 25
    assert after.loc[before.index].equals(before)
    # A different seed is a different split.
    build_token_dataset({"a": a}, tmp_path / "ds3", val_fraction=0.25, seed=1, chart=_chart)
    assert not read_token_index(tmp_path / "ds3").set_index(["drop", "video"])["split"].loc[before.index].equals(before)


def test_two_videos_fill_both_splits(tmp_path):
    d = _drop(tmp_path / "d", ["x", "y"])
    info = build_token_dataset({"d": d}, tmp_path / "ds", val_fraction=0.01, chart=_chart)
    assert info["counts"] == {"train": 1, "val": 1}


def test_schema_rejects_bad_rows(tmp_path):
    d = _drop(tmp_path / "d", ["x", "y"])
    build_token_dataset({"d": d}, tmp_path / "ds", chart=_chart)
    good = pd.read_parquet(tmp_path / "ds" / INDEX_FILE)
    TokenIndexSchema.validate(good)
    for column, value in [("split", "test"), ("sha256", "xyz"), ("seen_share", 1.5), ("video", "x")]:
        bad = good.copy()
        bad.loc[1, column] = value
        with pytest.raises((pandera.errors.SchemaError, pandera.errors.SchemaErrors)):
            TokenIndexSchema.validate(bad, lazy=True)


def test_no_token_files_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        build_token_dataset({"e": tmp_path / "empty"}, tmp_path / "ds")


def test_constant_channels_are_named():
    std = torch.ones(NUM_CHANNELS)
    std[[0, 10]] = 0  # offset x, opacity: what unprojection-only tokens leave at the template's value
    assert constant_channels({"std": std}) == ["offset[0]", "opacity[0]"]


@pytest.mark.skipif(shutil.which("git") is None, reason="DVC needs git")
def test_dvc_version_follows_the_token_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))  # not /var/tmp/dvc
    for cmd in (["git", "init", "-q"], [str(Path(sys.executable).parent / "dvc"), "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    d = _drop(tmp_path / "tokens" / "d", ["x", "y"])
    first = build_token_dataset({"d": d}, tmp_path / "ds", chart=_chart, dvc_track=True)
    assert first["dvc"]["d"]["hash"] and first["dvc_version"] and (tmp_path / "tokens" / "d.dvc").is_file()
    _tokens(d / "x.safetensors", value=2.0)  # re-materialized tokens: the recorded version must move
    second = build_token_dataset({"d": d}, tmp_path / "ds", chart=_chart, dvc_track=True)
    assert second["dvc"]["d"]["hash"] != first["dvc"]["d"]["hash"] and second["version"] != first["version"]
