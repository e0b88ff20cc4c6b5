"""The manifest of a video drop: one row per file found in the drop, as a pandera schema.

Columns (unknown values are 0 / "" rather than null, so the file stays simple in parquet):

    drop          folder name of the drop
    path          path relative to the drop, POSIX separators; unique; rows sorted by it
    kind          "video" | "image" | "other" (by extension; "other" is always quarantined)
    status        "valid" | "quarantined"
    reason        "" when valid, else one human sentence saying what is wrong
    sha256        hex digest of the bytes ("" when the file was not read: too large, unreadable, a link
                  leaving the drop, ...)
    size_bytes    file size
    codec         FFmpeg's canonical codec name (h264, hevc, mpeg4, png, mjpeg, ...)
    width, height frame size in pixels
    fps           frames per second (average rate); images get a nominal 1.0
    frames        frames actually decoded
    duration_s    frames / fps for videos; 0.0 for images (a still has no duration)
    duplicate_of  path of the first file (in path order) with the same bytes, or ""

Valid rows always have width, height, fps, frames > 0 and a sha256. Extra columns are allowed
(e.g. a DVC hash added by the asset) and kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from genlca.io_utils import atomic_path

STATUSES = ("valid", "quarantined")
KINDS = ("video", "image", "other")
COLUMNS = ("drop", "path", "kind", "status", "reason", "sha256", "size_bytes", "codec", "width", "height",
           "fps", "frames", "duration_s", "duplicate_of")


class ManifestSchema(pa.DataFrameModel):
    """One row per file found in a drop (see the module docstring for the columns)."""

    drop: Series[str] = pa.Field(str_length={"min_value": 1})
    path: Series[str] = pa.Field(unique=True, str_matches=r"^(?!/)(?!.*(^|/)\.\.?(/|$)).+$")
    kind: Series[str] = pa.Field(isin=list(KINDS))
    status: Series[str] = pa.Field(isin=list(STATUSES))
    reason: Series[str]
    sha256: Series[str] = pa.Field(str_matches=r"^([0-9a-f]{64})?$")
    size_bytes: Series[int] = pa.Field(ge=0)
    codec: Series[str]
    width: Series[int] = pa.Field(ge=0)
    height: Series[int] = pa.Field(ge=0)
    fps: Series[float] = pa.Field(ge=0)
    frames: Series[int] = pa.Field(ge=0)
    duration_s: Series[float] = pa.Field(ge=0)
    duplicate_of: Series[str]

    class Config:
        coerce = True
        strict = False  # extra columns (e.g. dvc_hash) are allowed; the ones above are required
        ordered = False

    @pa.dataframe_check(error="reason must be empty exactly when status is 'valid'")
    def reason_empty_iff_valid(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["status"] == "valid") == (df["reason"].str.strip() == "")

    @pa.dataframe_check(error="valid rows need width, height, fps, frames > 0, a sha256 and kind video/image")
    def valid_rows_are_complete(cls, df: pd.DataFrame) -> Series[bool]:
        ok = ((df["width"] > 0) & (df["height"] > 0) & (df["fps"] > 0) & (df["frames"] > 0)
              & (df["sha256"].str.len() == 64) & df["kind"].isin(["video", "image"])
              & (df["duplicate_of"] == ""))
        return (df["status"] != "valid") | ok

    @pa.dataframe_check(error="duplicate_of must name another path of the manifest")
    def duplicate_of_names_a_row(cls, df: pd.DataFrame) -> Series[bool]:
        dup = df["duplicate_of"]
        return (dup == "") | (dup.isin(df["path"]) & (dup != df["path"]))

    @pa.dataframe_check(error="rows must be sorted by path")
    def sorted_by_path(cls, df: pd.DataFrame) -> bool:
        paths = list(df["path"])
        return paths == sorted(paths)


def validate_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """Validate (all errors at once: pandera.errors.SchemaErrors) and return the coerced frame."""
    return ManifestSchema.validate(df, lazy=True)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate `df`, then write it as parquet atomically (readers never see a partial file)."""
    path = Path(path)
    df = validate_manifest(df).reset_index(drop=True)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest parquet and validate it."""
    return validate_manifest(pd.read_parquet(Path(path)))
