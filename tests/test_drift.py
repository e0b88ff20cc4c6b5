"""Drift reports: synthetic drops written with the library's own writers (no video decoding)."""

import hashlib
import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import torch

from genlca.avatar import CHANNELS
from genlca.data.manifest import write_manifest
from genlca.fitting.store import QualitySchema
from genlca.monitoring.drift import drift_report, drop_tables
from genlca.tokenizer.tokens import AvatarTokens, save_tokens

torch.set_num_threads(1)
R, VIDEOS, FRAMES = 16, 6, 15
REFERENCE = ["r0", "r1", "r2"]


def write_drop(root, drop, seed, scale=1.0, reproj=1.0, rgb_shift=0.0):
    """A drop's manifest, fit quality and tokens; SCALE multiplies the resolution, REPROJ the reprojection
    error, RGB_SHIFT is added to the colours."""
    rng = np.random.default_rng(seed)
    rows, quality = [], []
    for i in range(VIDEOS):
        frames, fps = int(rng.integers(40, 90)), float(rng.choice([24.0, 25.0, 30.0]))
        w, h = (int(x * scale) for x in [(640, 360), (960, 540), (1280, 720)][int(rng.integers(3))])
        rows.append({"drop": drop, "path": f"v{i}.mp4", "kind": "video", "status": "valid", "reason": "",
                     "sha256": hashlib.sha256(f"{drop}/{i}".encode()).hexdigest(),
                     "size_bytes": int(w * h * frames * rng.uniform(0.02, 0.04)), "codec": "h264", "width": w,
                     "height": h, "fps": fps, "frames": frames, "duration_s": frames / fps, "duplicate_of": ""})
        err = reproj * rng.uniform(3.0, 6.0)
        for f in range(FRAMES):
            fitted = bool(rng.random() < 0.9)
            quality.append({"video": f"v{i}", "frame": f, "fitted": fitted, "interpolated": False,
                            "reason": "" if fitted else "no person detected",
                            "reproj_error_px": err * rng.uniform(0.8, 1.2) if fitted else np.nan,
                            "keypoint_confidence": rng.uniform(0.6, 0.9) if fitted else 0.0})
        save_tokens(tokens(rng, rgb_shift), root / "tokens" / drop / f"v{i}.safetensors")
    write_manifest(pd.DataFrame(rows), root / "manifests" / f"{drop}.parquet")
    (root / "fits" / drop).mkdir(parents=True, exist_ok=True)
    QualitySchema.validate(pd.DataFrame(quality)).to_parquet(root / "fits" / drop / "quality.parquet", index=False)


def tokens(rng, rgb_shift):
    yy, xx = torch.meshgrid(torch.arange(R), torch.arange(R), indexing="ij")
    chart = (yy - R / 2) ** 2 + (xx - R / 2) ** 2 < (R / 2.2) ** 2
    seen = chart & (torch.rand(R, R, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30)))) < 0.6)
    maps = torch.zeros(14, R, R)
    maps[CHANNELS["rotation"].start] = chart.float()
    maps[CHANNELS["opacity"]] = 0.95 * chart.float()
    colour = torch.tensor(rng.uniform(0.3, 0.5, 3) + rgb_shift, dtype=torch.float32)[:, None, None]
    maps[CHANNELS["rgb"]] = torch.where(seen, colour + 0.05 * torch.rand(3, R, R), 0.5 * chart.float())
    return AvatarTokens(maps=maps, visibility=seen * 0.8, count=seen.int() * 3, shape=torch.zeros(6), body_model="anny",
                        meta={"caption": "a person", "height_m": float(rng.normal(1.7, 0.05))})


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for k, drop in enumerate(REFERENCE):
        write_drop(root, drop, seed=k)
    write_drop(root, "same", seed=10)
    write_drop(root, "shifted", seed=11, scale=0.5, reproj=3.0, rgb_shift=0.3)
    return root


def test_tables_read_the_drop(root):
    t = drop_tables(root, "r0")
    assert {n: len(x) for n, x in t.items()} == {"videos": VIDEOS, "fits": VIDEOS, "frames": VIDEOS * FRAMES,
                                                 "tokens": VIDEOS}
    assert t["tokens"]["seen_share"].between(0.4, 0.8).all() and np.allclose(t["tokens"]["opacity_mean"], 0.95)
    assert t["fits"]["fitted_share"].between(0.5, 1).all() and t["frames"]["fitted"].isin([0.0, 1.0]).all()


def test_no_reference_too_few_rows_or_no_data_give_no_verdict(root, tmp_path):
    alone = drift_report(root, "same", tmp_path / "alone", reference=[])
    assert alone["verdict"] == "no reference" and alone["drift"] is None
    assert {t["status"] for t in alone["tables"].values()} == {"no reference"}
    assert not list((tmp_path / "alone").glob("*.html"))
    few = drift_report(root, "shifted", tmp_path / "few", reference=["r0"])  # 6 videos < 10, 90 frames < 100
    assert few["verdict"] == "no verdict"
    assert {t["status"] for t in few["tables"].values()} == {"too few rows"}
    missing = drift_report(root, "not-yet-ingested", tmp_path / "missing", reference=REFERENCE)
    assert {t["status"] for t in missing["tables"].values()} == {"no data"}


def test_asset_passes_on_a_matching_drop_and_warns_where_one_shifted(root):
    """Two materializations (evidently's HTML takes seconds per table): the check passes on a drop like
    the others and warns on one whose resolution, reprojection error and colours shifted."""
    from assets.drift_assets import drop_drift
    from assets.partitions import drops_partitions
    from orchestration.resources import ArtifactStore

    def materialize(instance, drop):
        result = dg.materialize([drop_drift], instance=instance, partition_key=drop,
                                resources={"store": ArtifactStore(root=str(root))})
        assert result.success  # drift warns, it never fails the run
        [check] = result.get_asset_check_evaluations()
        assert check.check_name == "no_drift"
        summary = json.loads((root / "monitoring" / drop / "summary.json").read_text())
        return check, result.asset_materializations_for_node("drop_drift")[0].metadata, summary

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, [*REFERENCE, "same"])
        check, md, same = materialize(instance, "same")  # reference: every other partition
        assert check.passed and md["verdict"].value == "no drift" and same["reference"]["drops"] == REFERENCE
        assert all(same["tables"][n]["status"] == "no drift" for n in ("videos", "fits", "tokens"))
        assert "| videos" in md["tables"].value and md["report_tokens"].value.endswith("monitoring/same/tokens.html")

        instance.add_dynamic_partitions(drops_partitions.name, ["shifted"])  # its reference now holds "same" too
        check, md, shifted = materialize(instance, "shifted")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN and md["verdict"].value == "drift"
    tables = shifted["tables"]
    assert shifted["reference"]["drops"] == [*REFERENCE, "same"] and tables["tokens"]["rows"]["reference"] == 4 * VIDEOS
    assert {"width", "height"} <= set(tables["videos"]["drifted_columns"])
    assert "fps" not in tables["videos"]["drifted_columns"]
    assert tables["fits"]["drifted_columns"] == ["reproj_error_px"]
    assert {"rgb_mean_r", "rgb_mean_g", "rgb_mean_b"} <= set(tables["tokens"]["drifted_columns"])
    assert not {"seen_share", "visibility_mean", "height_m"} & set(tables["tokens"]["drifted_columns"])
    assert set(check.metadata["drifted_columns"].value) == {"videos", "fits", "tokens"}
    # Per-video tables: p-value tests at alpha / columns; frames: a distance, shown but not deciding.
    width = tables["videos"]["columns"]["width"]
    assert width["method"] == "chisquare" and width["drift_when"] == "score < threshold" and width["score"] < 1e-3
    assert tables["tokens"]["columns"]["rgb_mean_r"]["threshold"] == pytest.approx(0.05 / 11, rel=1e-3)
    assert tables["frames"]["decides"] is False and "reproj_error_px" in tables["frames"]["drifted_columns"]
    out = root / "monitoring" / "shifted"
    for name in ("videos", "fits", "frames", "tokens"):
        assert (out / f"{name}.html").stat().st_size > 10_000 and (out / f"{name}.parquet").is_file()
    assert not list(out.glob(".*"))  # no temporary file left behind
