"""Dagster resources: thin typed wrappers around genlca configuration."""


from pathlib import Path
from typing import Optional

import dagster as dg

from genlca.body import BodyConfig, BodyModel, load_body_model


class BodyModelResource(dg.ConfigurableResource):
    """Which body model every stage uses: `anny` (default, offline) or `smplx` (your files)."""

    name: str = "anny"
    smplx_dir: Optional[str] = None
    gender: str = "neutral"
    device: str = "cpu"

    def config(self) -> BodyConfig:
        return BodyConfig(name=self.name, smplx_dir=self.smplx_dir, gender=self.gender, device=self.device)

    def load(self) -> BodyModel:
        return load_body_model(self.config())


class ArtifactStore(dg.ConfigurableResource):
    """Root folder of the pipeline's file artifacts (local disk; DVC versions it)."""

    root: str = "data"

    def path(self, *parts: str) -> Path:
        p = Path(self.root).joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


class DropsFolder(dg.ConfigurableResource):
    """Where video drops land: one sub-folder per drop. A drop is complete when it holds a
    `_READY` marker, or when its listing has not changed for `settle_seconds`."""

    root: str = "data/drops"
    settle_seconds: float = 60.0

    def path(self, drop: str) -> Path:
        return Path(self.root) / drop
