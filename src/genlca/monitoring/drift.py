"""Drift of one drop against the drops the project already holds, with evidently.

    summary = drift_report("data", "drop-7", "data/monitoring/drop-7")

Four tables per drop, read from what the pipeline writes under the data root:

    videos   manifests/<drop>.parquet, valid videos: width, height, fps, frames, duration_s, size_bytes
    fits     fits/<drop>/quality.parquet per video: fitted and interpolated share, median reprojection
             error (px), mean keypoint confidence
    frames   the same file per frame: fitted, interpolated (0/1), reproj_error_px, keypoint_confidence
    tokens   tokens/<drop>/*.safetensors per video: seen share and mean visibility of the UV charts;
             mean and std of R, G, B, mean opacity and offset length over the seen texels; height_m

The reference is every OTHER drop held (or the drops named). OUT_DIR gets <table>.html (evidently's
data-drift report), <table>.parquet (the current drop's rows) and summary.json.

How a verdict is reached, and why:
- The unit is the video. Frames of one video are not independent (one subject, framing, light): in a
  simulation where videos differ by half a frame's spread, K-S on frames flagged drift between two
  undrifted drops 34-38% of the time, and normed Wasserstein >= 0.1 (evidently's choice above 1000
  reference rows) 68-98%. So `frames` gets a report and a distance (normed Wasserstein, flagged at
  DriftConfig.frame_distance reference stds) to look at, and never decides the verdict.
- Per video: K-S for measurements, chi-square for the settings width, height, fps (Z-test for
  proportions when only 2 values occur): evidently's tests for references of <= 1000 rows, chosen by
  meaning rather than by its rule (by distinct values: a share over 20 frames has few, and chi-square
  calls any value the reference lacks drift), and kept above 1000 reference rows, where evidently
  switches to distances whose noise with 5 current videos (~0.35) is far above their 0.1 threshold.
  Token statistics are rounded to 4 decimals (as in the token dataset's index): float32 jitter of a
  constant must not read as a shift.
- A table drifted when any column did at alpha / columns (Bonferroni): about alpha false alarms
  per table, rather than one chance per column (11 token columns at 0.05 each: up to 43%).
- No verdict below DriftConfig.min_videos current or min_reference_videos reference videos: K-S
  with 5 vs 5 cannot reach p < 0.05 / 11 at all; 5 vs 10 can, and finds a 2-std shift of one column
  ~45% of the time (~70% against 40 reference videos; 4 current videos: < 30%). Fewer than
  min_frames / min_reference_frames frames: no frame report (too ragged a distribution to read).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from genlca.avatar import CHANNELS
from genlca.data.manifest import read_manifest
from genlca.fitting.store import QUALITY_FILE, load_quality
from genlca.io_utils import atomic_path, published
from genlca.tokenizer.dataset import valid_texels
from genlca.tokenizer.tokens import load_tokens

SUMMARY_FILE = "summary.json"
TABLES: dict[str, tuple[str, ...]] = {
    "videos": ("width", "height", "fps", "frames", "duration_s", "size_bytes"),
    "fits": ("fitted_share", "interpolated_share", "reproj_error_px", "keypoint_confidence"),
    "frames": ("fitted", "interpolated", "reproj_error_px", "keypoint_confidence"),
    "tokens": ("seen_share", "visibility_mean", "rgb_mean_r", "rgb_mean_g", "rgb_mean_b", "rgb_std_r", "rgb_std_g",
               "rgb_std_b", "opacity_mean", "offset_m", "height_m"),
}
PER_VIDEO = ("videos", "fits", "tokens")  # the tables whose verdicts are the drop's
DISCRETE = ("width", "height", "fps")  # settings, not measurements: compared as categories


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.05  # false-alarm rate per per-video table, split over its columns
    min_videos: int = 5  # current rows below which a per-video table gets no verdict
    min_reference_videos: int = 10
    min_frames: int = 50  # likewise for the frame report
    min_reference_frames: int = 100
    frame_distance: float = 0.5  # normed Wasserstein marked on the frame report (in reference stds)


def video_table(manifest: str | os.PathLike) -> pd.DataFrame:
    """Valid videos of a manifest, one row each (images are left out: no rate or length of their own)."""
    df = read_manifest(manifest)
    df = df[(df["status"] == "valid") & (df["kind"] == "video")]
    cols = TABLES["videos"]
    df = df[["path", *cols]].rename(columns={"path": "video"}).astype(dict.fromkeys(cols, float))
    return df.reset_index(drop=True)


def fit_tables(fits_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per video, per frame) fit quality of a fits folder."""
    q = load_quality(fits_dir)
    frames = q[["video", "frame", *TABLES["frames"]]].astype({"fitted": float, "interpolated": float})
    g = frames.groupby("video", sort=True)
    videos = pd.DataFrame({"fitted_share": g["fitted"].mean(), "interpolated_share": g["interpolated"].mean(),
                           "reproj_error_px": g["reproj_error_px"].median(),
                           "keypoint_confidence": g["keypoint_confidence"].mean()})
    return videos.reset_index(), frames.reset_index(drop=True)


def token_table(tokens_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per token file. The UV chart is read off the file (in-chart texels hold a unit quaternion,
    the template's where unseen; outside, all zero), so no body model is needed."""
    rows = []
    for path in published(tokens_dir):
        t = load_tokens(path)
        chart = (t.maps[CHANNELS["rotation"]].norm(dim=0) > 0.5) | (t.count > 0)
        seen = valid_texels(t, chart)
        rgb = t.maps[CHANNELS["rgb"]][:, seen].double()  # empty where nothing was seen: NaN statistics
        row = {"video": path.stem, "seen_share": int(seen.sum()) / max(int(chart.sum()), 1),
               "visibility_mean": float(t.visibility[chart].mean()) if chart.any() else 0.0}
        row |= {f"rgb_mean_{c}": float(rgb[i].mean()) for i, c in enumerate("rgb")}
        row |= {f"rgb_std_{c}": float(rgb[i].std(correction=0)) for i, c in enumerate("rgb")}
        row |= {"opacity_mean": float(t.maps[CHANNELS["opacity"]][0][seen].mean()),
                "offset_m": float(t.maps[CHANNELS["offset"]][:, seen].norm(dim=0).mean()),
                "height_m": float(t.meta.get("height_m", math.nan))}
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})  # float32 jitter out
    return pd.DataFrame(rows, columns=["video", *TABLES["tokens"]])


def drop_tables(root: str | os.PathLike, drop: str) -> dict[str, pd.DataFrame]:
    """The four tables of one drop under the data ROOT; a stage not materialized gives an empty table."""
    root = Path(root)
    tables = {name: pd.DataFrame(columns=["video", *cols]) for name, cols in TABLES.items()}
    manifest, fits = root / "manifests" / f"{drop}.parquet", root / "fits" / drop
    if manifest.is_file():
        tables["videos"] = video_table(manifest)
    if (fits / QUALITY_FILE).is_file():
        tables["fits"], tables["frames"] = fit_tables(fits)
    tables["tokens"] = token_table(root / "tokens" / drop)
    return tables


def held_drops(root: str | os.PathLike) -> list[str]:
    """Drops with a manifest, fits or tokens under the data ROOT."""
    root = Path(root)
    names = {p.stem for p in (root / "manifests").glob("*.parquet")}
    names |= {p.name for stage in ("fits", "tokens") for p in (root / stage).glob("*") if p.is_dir()}
    return sorted(n for n in names if not n.startswith("."))  # atomic writes' temporary files start with "."


def compare_table(current: pd.DataFrame, reference: pd.DataFrame, columns: Sequence[str], html: str | os.PathLike,
                  min_rows: int, min_reference: int, alpha: float = 0.05, distance: float | None = None) -> dict:
    """Evidently's data-drift report of CURRENT against REFERENCE over COLUMNS, written to HTML, and its
    verdict (see the module docstring). DISTANCE: normed Wasserstein flagged at that value, instead of tests."""
    html = Path(html)
    html.unlink(missing_ok=True)  # never a stale report beside a new verdict
    out = {"status": "", "drift": None, "rows": {"current": len(current), "reference": len(reference)},
           "min_rows": {"current": min_rows, "reference": min_reference}, "drifted_columns": [], "share": None,
           "columns": {}, "empty_columns": [], "report": None}
    cols = [c for c in columns if current[c].notna().any() and reference[c].notna().any()]
    out["empty_columns"] = [c for c in columns if c not in cols]  # evidently refuses all-NaN columns
    if not len(reference):
        out["status"] = "no reference"
    elif not len(current) or not cols:
        out["status"] = "no data"
    elif len(current) < min_rows or len(reference) < min_reference:
        out["status"] = "too few rows"
    if out["status"]:
        return out
    tests = {c: "wasserstein" if distance is not None else _test_for(c, current[c], reference[c]) for c in cols}
    thresholds = dict.fromkeys(cols, distance if distance is not None else alpha / len(cols))
    snap, columns_out = _run_evidently(current[cols].astype(float), reference[cols].astype(float), tests, thresholds)
    with atomic_path(html) as tmp:
        snap.save_html(str(tmp))
    drifted = [c for c in cols if columns_out[c]["drift"]]
    return out | {"status": "drift" if drifted else "no drift", "drift": bool(drifted), "drifted_columns": drifted,
                  "share": round(len(drifted) / len(cols), 4), "columns": columns_out, "report": html.name}


def drift_report(root: str | os.PathLike, drop: str, out_dir: str | os.PathLike,
                 reference: Sequence[str] | None = None, config: DriftConfig = DriftConfig()) -> dict:
    """Compare DROP's tables with those of the REFERENCE drops (None: every other drop under ROOT);
    write OUT_DIR/<table>.html, <table>.parquet and summary.json; return the summary. A reference drop
    whose files cannot be read is skipped with its reason (one broken old drop must not blind the rest)."""
    root, out_dir = Path(root), Path(out_dir)
    names = sorted(set(held_drops(root) if reference is None else reference) - {drop})
    current, refs, skipped = drop_tables(root, drop), {}, {}
    for name in names:
        try:
            refs[name] = drop_tables(root, name)
        except Exception as e:  # a damaged file of an old drop: reported in the summary
            skipped[name] = f"{type(e).__name__}: {e}"
    tables = {}
    for name, columns in TABLES.items():
        ref = _concat([r[name] for r in refs.values()], columns)
        with atomic_path(out_dir / f"{name}.parquet") as tmp:
            current[name].to_parquet(tmp, index=False)
        frames = name == "frames"
        tables[name] = compare_table(
            current[name], ref, columns, out_dir / f"{name}.html",
            min_rows=config.min_frames if frames else config.min_videos,
            min_reference=config.min_reference_frames if frames else config.min_reference_videos,
            alpha=config.alpha, distance=config.frame_distance if frames else None) | {"decides": name in PER_VIDEO}
    verdicts = [tables[n]["drift"] for n in PER_VIDEO if tables[n]["drift"] is not None]
    used = [n for n, r in refs.items() if any(len(t) for t in r.values())]
    verdict = ("drift" if any(verdicts) else "no drift") if verdicts else "no verdict" if used else "no reference"
    summary = {"drop": drop, "verdict": verdict, "drift": any(verdicts) if verdicts else None,
               "reference": {"drops": used, "skipped": skipped},
               "config": asdict(config), "tables": tables}
    with atomic_path(out_dir / SUMMARY_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _concat(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["video", *columns])


def _test_for(column: str, current: pd.Series, reference: pd.Series) -> str:
    """K-S for measurements; chi-square for the DISCRETE settings (Z-test for proportions with <= 2 values).
    evidently picks by distinct values instead, which sends a share over 20 frames to chi-square, where
    any value the reference lacks is drift."""
    if column not in DISCRETE:
        return "ks"
    return "chisquare" if pd.concat([reference, current]).nunique() > 2 else "z"


def _run_evidently(current: pd.DataFrame, reference: pd.DataFrame, tests: dict, thresholds: dict):
    """(snapshot, {column: method, score, threshold, drift}): evidently's own per-column verdicts. TESTS
    name evidently's tests; chi-square and Z-test take categorical columns, so those columns are declared so."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = list(current.columns)
    categorical = [c for c in cols if tests[c] in ("chisquare", "z")]
    definition = DataDefinition(numerical_columns=[c for c in cols if c not in categorical],
                                categorical_columns=categorical)
    # drift_share just under 1/columns: evidently's dataset-level line says "drift" when any column does
    preset = DataDriftPreset(columns=cols, per_column_method=tests, per_column_threshold=thresholds,
                             drift_share=1 / (len(cols) + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # evidently's 0/0 in summary statistics, scipy's K-S mode
        snap = Report([preset], include_tests=True).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition))
    result = snap.dict()
    out = {}
    for m in result["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith(":ValueDrift"):
            when = "score >= threshold" if tests[cfg["column"]] == "wasserstein" else "score < threshold"  # p-values
            out[cfg["column"]] = {"method": cfg["method"], "score": _finite(m["value"]),
                                  "threshold": _finite(cfg["threshold"]), "drift_when": when, "drift": None}
    for t in result["tests"]:
        params = t.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith(":ValueDrift"):
            out[params["column"]]["drift"] = t["status"] == "FAIL"
    return snap, out


def _finite(x) -> float | None:
    """4 significant digits for the summary; NaN (not JSON) as None."""
    x = float(x)
    return float(f"{x:.4g}") if math.isfinite(x) else None


__all__ = ["DriftConfig", "PER_VIDEO", "SUMMARY_FILE", "TABLES", "compare_table", "drift_report", "drop_tables",
           "fit_tables", "held_drops", "token_table", "video_table"]
