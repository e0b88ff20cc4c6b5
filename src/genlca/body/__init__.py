"""Body models behind one protocol: Anny (default, offline) and SMPL-X (user's files)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from genlca.body.protocol import (
    COCO_KEYPOINTS,
    GENERIC_JOINTS,
    INTERIOR_PART,
    PART_NAMES,
    BodyModel,
    Pose,
    PosedBody,
)

BODY_MODELS = ("anny", "smplx")


@dataclass(frozen=True)
class BodyConfig:
    """Which body model to use. `smplx_dir` holds SMPLX_<GENDER>.npz (+ smplx_uv.obj)."""

    name: str = "anny"
    smplx_dir: str | None = None
    gender: str = "neutral"
    device: str = "cpu"


@functools.lru_cache(maxsize=4)
def load_body_model(config: BodyConfig = BodyConfig()) -> BodyModel:
    """Load (once per process) the configured body model."""
    if config.name == "anny":
        from genlca.body.anny_body import AnnyBody

        return AnnyBody(device=config.device)
    if config.name == "smplx":
        if not config.smplx_dir:
            raise ValueError("body model 'smplx' needs smplx_dir: a folder with SMPLX_<GENDER>.npz (see README)")
        from genlca.body.smplx_body import SMPLXBody

        return SMPLXBody(config.smplx_dir, gender=config.gender, device=config.device)
    raise ValueError(f"unknown body model {config.name!r}; choose one of {', '.join(BODY_MODELS)}")


def body_model_named(name: str) -> BodyModel:
    """The body model an avatar, token file or checkpoint names: Anny, or SMPL-X from the folder in
    $GENLCA_SMPLX_DIR (gender $GENLCA_SMPLX_GENDER, default neutral): files record the model's name, not
    where a user keeps the licensed SMPL-X files."""
    import os

    if name == "smplx":
        return load_body_model(BodyConfig(name="smplx", smplx_dir=os.environ.get("GENLCA_SMPLX_DIR"),
                                          gender=os.environ.get("GENLCA_SMPLX_GENDER", "neutral")))
    return load_body_model(BodyConfig(name=name))


__all__ = [
    "BODY_MODELS", "COCO_KEYPOINTS", "GENERIC_JOINTS", "INTERIOR_PART", "PART_NAMES",
    "BodyConfig", "BodyModel", "Pose", "PosedBody", "body_model_named", "load_body_model",
]
