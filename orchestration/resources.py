"""Dagster resources: thin typed wrappers around genlca configuration."""


from pathlib import Path
from typing import Optional

import dagster as dg

from genlca.body import BodyConfig, BodyModel, load_body_model
from genlca.paths import DROP_NAME_RULE, check_drop_name, name_problem


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
        """root/parts..., with its parent folder created. Partition keys (drop names) land in `parts`, and
        Dagster accepts keys such as "../x" or "/etc": each part must be one plain name, so none leaves the root."""
        for part in parts:
            if why := name_problem(part):
                raise ValueError(f"artifact store {self.root}: path part {part!r} refused: {why} (partition keys "
                                 f"are drop names: {DROP_NAME_RULE})")
        p = Path(self.root).joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


class DropsFolder(dg.ConfigurableResource):
    """Where video drops land: one sub-folder per drop. A drop is complete when it holds a
    `_READY` marker, or when its listing has not changed for `settle_seconds`."""

    root: str = "data/drops"
    settle_seconds: float = 60.0

    def path(self, drop: str) -> Path:
        """The drop's folder. The name is checked as the drop sensor checks it (a partition added by hand may hold
        anything), and a drop that is a symbolic link is refused, as the sensor does not follow those either."""
        p = Path(self.root) / check_drop_name(drop)
        if p.is_symlink():
            raise ValueError(f"drop {drop!r} refused: {p} is a symbolic link (drop folders are not followed)")
        return p
