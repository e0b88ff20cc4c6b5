"""Fit every valid video of a drop: detect -> fit -> save. Shared by `genlca fit` and `body_fits`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from genlca.body.protocol import BodyModel
from genlca.fitting.detect import MediaPipeDetector, detect_image, detect_video
from genlca.fitting.fit import FitConfig, fit_video
from genlca.fitting.types import BodyFit, VideoDetections
from genlca.fitting.store import fit_names, fit_path, load_fit, load_fit_meta, load_quality, save_fit, write_quality


@dataclass
class ImageFitResult:
    fit: BodyFit
    detections: VideoDetections
    fit_file: Path
    overlay_file: Path
    keypoint_error: float  # median error of the confident keypoints, as a fraction of the person's height


def fit_image(image: str | Path, out_dir: str | Path, body: BodyModel, config: FitConfig = FitConfig(),
              detector=None) -> ImageFitResult:
    """Fit one photo (a one-frame video): `OUT/<stem>.safetensors` and `OUT/<stem>_overlay.png`
    (detections in red, fitted keypoints in white, the fitted mesh outline in cyan)."""
    from genlca.fitting.detect import _read_image
    from genlca.fitting.evaluate import keypoint_error_fraction
    from genlca.fitting.overlay import overlay
    from genlca.io_utils import atomic_path

    image, out_dir = Path(image), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = _read_image(image)
    det = detect_image(frame, detector)
    if not bool(det.detected[0]):
        raise ValueError(f"{image}: no person found")
    fit = fit_video(det, body, config)
    path = save_fit(fit, fit_path(out_dir, image.stem), meta={"source": str(image), "detector": det.detector},
                    masks=det.masks)
    ov = out_dir / f"{image.stem}_overlay.png"
    with atomic_path(ov) as tmp:
        overlay(frame, fit, body, 0, det).save(tmp, format="PNG")
    return ImageFitResult(fit, det, path, ov, float(keypoint_error_fraction(fit, det, body)[0]))


@dataclass
class DropFitResult:
    quality: pd.DataFrame  # one row per frame of every fitted video (validated)
    videos: list[dict] = field(default_factory=list)  # per video: name, frames, fitted share, seconds, error
    seconds: float = 0.0


def fit_settings_key(config: FitConfig, body: BodyModel, max_frames: int | None, detector: str) -> str:
    """What a fit depends on besides its video: a fit saved under the same key is reused, not redone."""
    import hashlib
    import json
    from dataclasses import asdict

    blob = json.dumps({"config": asdict(config), "body": body.name, "max_frames": max_frames, "detector": detector},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _reusable(path: Path, source_sha256: str, key: str) -> bool:
    """An earlier run's fit of the same video bytes under the same settings (a killed run's finished work)."""
    if not source_sha256 or not path.is_file():
        return False
    try:
        meta = load_fit_meta(path)
    except Exception:  # unreadable: fit again (save_fit replaces it atomically)
        return False
    return meta.get("source_sha256") == source_sha256 and meta.get("settings") == key


def _video_row(name: str, rel: str, fit: BodyFit, seconds: float) -> dict:
    return {"video": name, "path": rel, "frames": int(fit.fitted.numel()),
            "fitted_share": float(fit.fitted.float().mean()) if fit.fitted.numel() else 0.0,
            "seconds": round(seconds, 2), "error": "", "reused": False}


def fit_drop(drop_dir: str | Path, manifest: pd.DataFrame, out_dir: str | Path, body: BodyModel,
             config: FitConfig = FitConfig(), max_frames: int | None = None, progress: bool = False) -> DropFitResult:
    """Fit the valid rows of `manifest` (from ingest). A video where nobody is found is reported
    (all frames unfitted, with the reason), never a crash of the whole drop.

    Restartable: a fit already in OUT for the same video bytes (manifest sha256) and settings is kept, not redone,
    so a run killed part-way goes on where it stopped. One writer at a time per OUT (`genlca.locks`)."""
    from genlca.io_utils import write_text_atomic
    from genlca.locks import folder_lock

    t0 = time.time()
    drop_dir, out_dir = Path(drop_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = manifest[manifest["status"] == "valid"]
    sha = dict(zip(manifest["path"], manifest["sha256"])) if "sha256" in manifest else {}
    videos = []
    with folder_lock(out_dir):
        detector = MediaPipeDetector()
        key = fit_settings_key(config, body, max_frames, detector.name)
        try:
            names = fit_names(list(rows["path"]))
            for rel, kind in tqdm(list(zip(rows["path"], rows["kind"])), desc="fit", disable=not progress):
                name, t1 = names[rel], time.time()
                if _reusable(fit_path(out_dir, name), sha.get(rel, ""), key):
                    videos.append(_video_row(name, rel, load_fit(fit_path(out_dir, name)), 0.0) | {"reused": True})
                    continue
                try:
                    path = drop_dir / rel
                    det = (detect_image(path, detector) if kind == "image"
                           else detect_video(path, detector, max_frames=max_frames))
                    fit = fit_video(det, body, config)
                except Exception as e:  # one bad video never stops the drop; the reason is reported
                    fit_path(out_dir, name).unlink(missing_ok=True)  # an earlier run's fit of it is stale now
                    videos.append({"video": name, "path": rel, "frames": 0, "fitted_share": 0.0,
                                   "seconds": round(time.time() - t1, 2), "error": f"{type(e).__name__}: {e}",
                                   "reused": False})
                    continue
                save_fit(fit, fit_path(out_dir, name), masks=det.masks,
                         meta={"source": rel, "detector": det.detector, "source_sha256": sha.get(rel, ""),
                               "settings": key})
                videos.append(_video_row(name, rel, fit, time.time() - t1))
        finally:
            detector.close()
        quality = load_quality(write_quality(out_dir))
        write_text_atomic(out_dir / "videos.json", pd.DataFrame(videos).to_json(orient="records", indent=1))
    return DropFitResult(quality=quality, videos=videos, seconds=time.time() - t0)
