"""The template avatar and its turntable: the demo of the foundation, and a smoke test of the
body model + UV layout + renderer on whatever machine runs the code location."""


import time

import dagster as dg
import numpy as np
from PIL import Image

from assets.preview import image_markdown
from genlca.render.ply import load_ply
from genlca.showcase import RenderRequest, render_avatar, write_template
from orchestration.resources import ArtifactStore, BodyModelResource


class TemplateConfig(dg.Config):
    resolution: int = 128  # UV grid R: R*R texels, ~60% of them carry a Gaussian


class TurntableConfig(dg.Config):
    size: int = 384
    views: int = 4
    frames: int = 36
    pose: str = "walk"


@dg.asset(group_name="avatars", kinds={"pytorch"})
def template_avatar(config: TemplateConfig, body_model: BodyModelResource, store: ArtifactStore) -> dg.MaterializeResult:
    """The body template as a Gaussian avatar (.ply), coloured by body part."""
    out = store.path("avatars", "template.ply")
    t0 = time.time()
    info = write_template(out, body_model.config(), config.resolution)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)),
        "gaussians": info["gaussians"],
        "resolution": config.resolution,
        "body_model": info["body_model"],
        "seconds": round(time.time() - t0, 2),
    })


@dg.asset(group_name="avatars", deps=[template_avatar], kinds={"pytorch"})
def template_turntable(config: TurntableConfig, store: ArtifactStore) -> dg.MaterializeResult:
    """Views (PNG) and a turntable (MP4) of the template avatar."""
    ply = store.path("avatars", "template.ply")
    png, mp4 = store.path("avatars", "template_views.png"), store.path("avatars", "template_turntable.mp4")
    t0 = time.time()
    info = render_avatar(RenderRequest(avatar=str(ply), out=str(png), views=config.views, size=config.size,
                                       pose=config.pose, turntable=str(mp4), frames=config.frames))
    return dg.MaterializeResult(metadata={
        "views": dg.MetadataValue.path(info["image"]),
        "turntable": dg.MetadataValue.path(info["turntable"]),
        "preview": dg.MetadataValue.md(image_markdown(info["image"])),
        "seconds": round(time.time() - t0, 2),
    })


@dg.asset_check(asset=template_avatar, blocking=True, description="Every Gaussian attribute is finite and in range.")
def template_avatar_is_valid(store: ArtifactStore) -> dg.AssetCheckResult:
    g, avatar = load_ply(store.path("avatars", "template.ply"))
    finite = all(bool(t.isfinite().all()) for t in (g.means, g.scales, g.quats, g.opacities, g.colors))
    in_range = bool(((g.opacities >= 0) & (g.opacities <= 1)).all() and ((g.colors >= 0) & (g.colors <= 1)).all())
    return dg.AssetCheckResult(passed=finite and in_range and avatar is not None,
                               metadata={"finite": finite, "in_range": in_range, "gaussians": len(g)})


@dg.asset_check(asset=template_turntable, description="The person fills a sane share of each view.")
def template_views_show_a_person(store: ArtifactStore) -> dg.AssetCheckResult:
    im = np.asarray(Image.open(store.path("avatars", "template_views.png")).convert("RGB"))
    coverage = float((im.min(axis=-1) < 245).mean())  # non-white pixels
    return dg.AssetCheckResult(passed=0.02 < coverage < 0.6, metadata={"coverage": round(coverage, 4)})
