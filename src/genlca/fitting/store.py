"""Body fits on disk: one safetensors file per video plus one quality table per folder.

    FITS_DIR/<video_stem>.safetensors   one BodyFit (tensors; body model, size, per-frame reasons
                                        and any extra metadata in the 'genlca' JSON header key)
    FITS_DIR/quality.parquet            one row per frame of every fit in the folder (the
                                        `QualitySchema` below), rebuilt from the fits by
                                        `write_quality` (so fits can be added one at a time)

Tensors in the file: shape (S,) f32, joint_rotations (F, 17, 3, 3) f32, root (F, 4, 4) f32,
K (3, 3) f32, fitted (F,) bool, reproj_error_px (F,) f32 (NaN where not fitted or no keypoint),
keypoint_confidence (F,) f32. A save/load round trip is exact.

Quality columns:
    video                 the fit's file stem
    frame                 frame index, 0-based
    fitted                bool: the frame has a body pose
    interpolated          bool: filled from neighbouring fitted frames (fitted is then True too)
    reason                "" for directly fitted frames; "interpolated from frames a and b (...)"
                          for interpolated ones; why not otherwise ("no person detected", "only N
                          keypoints detected ...")
    reproj_error_px       mean confidence-weighted keypoint reprojection error; NaN where not fitted
                          (or, for interpolated frames, where no keypoint was detected)
    keypoint_confidence   mean confidence of the 17 keypoints (0 where undetected), in [0, 1]
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from torch import Tensor

from genlca.body.protocol import GENERIC_JOINTS
from genlca.fitting.types import BodyFit
from genlca.io_utils import atomic_path, pack_bits, published, save_tensors, unpack_bits
from genlca.safe_files import open_tensors, read_header

FIT_FORMAT_VERSION = 1
QUALITY_FILE = "quality.parquet"
INTERPOLATED_PREFIX = "interpolated"
TENSOR_KEYS = ("shape", "joint_rotations", "root", "K", "fitted", "reproj_error_px", "keypoint_confidence")


class QualitySchema(pa.DataFrameModel):
    """One row per frame of each fit in a folder (see the module docstring)."""

    video: Series[str] = pa.Field(str_length={"min_value": 1})
    frame: Series[int] = pa.Field(ge=0)
    fitted: Series[bool]
    interpolated: Series[bool]
    reason: Series[str]
    reproj_error_px: Series[float] = pa.Field(ge=0, nullable=True)
    keypoint_confidence: Series[float] = pa.Field(ge=0, le=1)

    class Config:
        coerce = True
        strict = False
        ordered = False

    @pa.dataframe_check(error="(video, frame) must be unique and rows sorted by video then frame")
    def sorted_unique(cls, df: pd.DataFrame) -> bool:
        key = list(zip(df["video"], df["frame"]))
        return key == sorted(set(key))

    @pa.dataframe_check(error="directly fitted frames have no reason; all others need one")
    def reason_iff_not_direct(cls, df: pd.DataFrame) -> Series[bool]:
        direct = df["fitted"] & ~df["interpolated"]
        return direct == (df["reason"].str.strip() == "")

    @pa.dataframe_check(error="interpolated frames are fitted and their reason says so")
    def interpolated_rows(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df["interpolated"] | (df["fitted"] & df["reason"].str.startswith(INTERPOLATED_PREFIX))

    @pa.dataframe_check(error="frames not fitted have no reprojection error; directly fitted ones have one")
    def reproj_iff_fitted(cls, df: pd.DataFrame) -> Series[bool]:
        direct = df["fitted"] & ~df["interpolated"]
        has = df["reproj_error_px"].notna()
        return (df["fitted"] | ~has) & (~direct | has)


def fit_names(paths: list[str]) -> dict[str, str]:
    """Fit name of each drop-relative video path: its file stem, or where two videos share a
    stem (a/x.mp4, b/x.mp4, x.png), the whole path with "/" as "__" (no fit overwrites another)."""
    stems = [Path(p).stem for p in paths]
    return {p: s if stems.count(s) == 1 else p.replace("/", "__") for p, s in zip(paths, stems)}


def fit_path(fits_dir: str | os.PathLike, video: str) -> Path:
    """Where the fit of `video` (a file stem) lives in a fits folder."""
    return Path(fits_dir) / f"{video}.safetensors"


def save_fit(fit: BodyFit, path: str | os.PathLike, meta: dict | None = None, masks: Tensor | None = None) -> Path:
    """Write one fit (atomically). `meta` (JSON-able: detector, config, ...) is kept in the header;
    `masks` (F, H, W) bool person masks of the detections go along at 1 bit per pixel (the
    tokenizer keeps background colours out with them; `load_fit_masks`)."""
    path = Path(path)
    n = int(fit.fitted.shape[0])
    if len(fit.reasons) != n:
        raise ValueError(f"the fit has {n} frames but {len(fit.reasons)} reasons")
    tensors = {k: getattr(fit, k).detach().cpu() for k in TENSOR_KEYS}
    tensors = {k: v.bool() if k == "fitted" else v.float() for k, v in tensors.items()}
    if masks is not None:
        if tuple(masks.shape) != (n, fit.height, fit.width):
            raise ValueError(f"masks are {tuple(masks.shape)}, the fit needs ({n}, {fit.height}, {fit.width})")
        tensors["masks_packed"] = pack_bits(masks.bool())
    header = {"format_version": FIT_FORMAT_VERSION, "body_model": fit.body_model, "width": int(fit.width),
              "height": int(fit.height), "reasons": list(fit.reasons), "joint_order": list(GENERIC_JOINTS),
              "meta": meta or {}}
    save_tensors(path, tensors, header)
    return path


def _header(path: Path) -> dict:
    header = read_header(path)  # refuses pickles and other non-safetensors files, naming the file
    if header is None:
        raise ValueError(f"{path}: not a body fit (no 'genlca' header)")
    if header.get("format_version") != FIT_FORMAT_VERSION:
        raise ValueError(f"{path}: body fit format {header.get('format_version')!r}, expected {FIT_FORMAT_VERSION}")
    if header.get("joint_order") != list(GENERIC_JOINTS):
        raise ValueError(f"{path}: joint order {header.get('joint_order')} differs from this code's GENERIC_JOINTS")
    return header


def load_fit(path: str | os.PathLike) -> BodyFit:
    """Read a fit written by `save_fit`."""
    path = Path(path)
    header = _header(path)
    with open_tensors(path) as f:  # only the fit's tensors (not the masks)
        missing = [k for k in TENSOR_KEYS if k not in f.keys()]
        if missing:
            raise ValueError(f"{path}: missing tensor(s) {', '.join(missing)}")
        t = {k: f.get_tensor(k) for k in TENSOR_KEYS}
    return BodyFit(body_model=header["body_model"], shape=t["shape"], joint_rotations=t["joint_rotations"],
                   root=t["root"], K=t["K"], width=int(header["width"]), height=int(header["height"]),
                   fitted=t["fitted"].bool(), reproj_error_px=t["reproj_error_px"],
                   keypoint_confidence=t["keypoint_confidence"], reasons=list(header["reasons"]))


def load_fit_masks(path: str | os.PathLike) -> Tensor | None:
    """(F, H, W) bool person masks saved with a fit, or None."""
    path = Path(path)
    header = _header(path)
    with open_tensors(path) as f:
        if "masks_packed" not in f.keys():
            return None
        return unpack_bits(f.get_tensor("masks_packed"), int(header["width"]))


def load_fit_meta(path: str | os.PathLike) -> dict:
    """The extra metadata saved with a fit (`save_fit(meta=...)`)."""
    return _header(Path(path)).get("meta", {})


def quality_table(fits: dict[str, BodyFit]) -> pd.DataFrame:
    """Per-frame quality rows of several fits (video name -> fit), validated."""
    rows = []
    for video in sorted(fits):
        fit = fits[video]
        for i in range(int(fit.fitted.shape[0])):
            reason = fit.reasons[i] if i < len(fit.reasons) else ""
            err = float(fit.reproj_error_px[i])
            rows.append({"video": video, "frame": i, "fitted": bool(fit.fitted[i]),
                         "interpolated": bool(fit.fitted[i]) and reason.startswith(INTERPOLATED_PREFIX),
                         "reason": reason, "reproj_error_px": err if err == err else None,
                         "keypoint_confidence": float(fit.keypoint_confidence[i])})
    df = pd.DataFrame(rows, columns=["video", "frame", "fitted", "interpolated", "reason", "reproj_error_px",
                                     "keypoint_confidence"])
    df["reproj_error_px"] = df["reproj_error_px"].astype(float)
    return QualitySchema.validate(df)


def write_quality(fits_dir: str | os.PathLike) -> Path:
    """Rebuild FITS_DIR/quality.parquet from every fit in the folder (atomically)."""
    fits_dir = Path(fits_dir)
    fits = {p.stem: load_fit(p) for p in published(fits_dir)}
    df = quality_table(fits)
    out = fits_dir / QUALITY_FILE
    with atomic_path(out) as tmp:
        df.to_parquet(tmp, index=False)
    return out


def save_fits(fits_dir: str | os.PathLike, fits: dict[str, BodyFit], meta: dict | None = None) -> Path:
    """Write FITS_DIR/<name>.safetensors for each fit, then FITS_DIR/quality.parquet."""
    fits_dir = Path(fits_dir)
    fits_dir.mkdir(parents=True, exist_ok=True)
    for name, fit in fits.items():
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad video name {name!r} for a fit file")
        save_fit(fit, fit_path(fits_dir, name), meta)
    return write_quality(fits_dir)


def load_quality(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a quality table (a folder means its quality.parquet)."""
    path = Path(path)
    if path.is_dir():
        path = path / QUALITY_FILE
    return QualitySchema.validate(pd.read_parquet(path))


__all__ = ["FIT_FORMAT_VERSION", "QUALITY_FILE", "QualitySchema", "fit_names", "fit_path", "load_fit", "load_fit_masks",
           "load_fit_meta", "load_quality", "quality_table", "save_fit", "save_fits", "write_quality"]
