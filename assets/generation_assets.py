"""`user_avatars`: what a user does first with the trained checkpoint: an avatar from text, one region
edited, an animation (genlca.generation.demo)."""

import dagster as dg

from assets.checkpoint_assets import checkpoint_folder
from assets.preview import image_markdown
from genlca.generation.demo import DemoRequest, demo_avatars
from genlca.generation.expressions import EXPRESSIONS
from genlca.generation.regions import EDIT_REGIONS
from genlca.threads import torch_threads
from orchestration.resources import ArtifactStore

_DEFAULT = DemoRequest()


class UserAvatarsConfig(dg.Config):
    prompt: str = _DEFAULT.prompt
    edit_region: str = _DEFAULT.edit_region  # upper_body | lower_body | head | hair | arms | legs | feet
    edit_prompt: str = _DEFAULT.edit_prompt
    motion: str = _DEFAULT.motion  # walk | wave | turn | a fits file | a video
    expression: str = _DEFAULT.expression  # neutral | smile | surprise | frown | talk | blink (Anny)
    seconds: float = _DEFAULT.seconds
    steps: int = _DEFAULT.steps
    seed: int = _DEFAULT.seed
    size: int = _DEFAULT.size
    torch_threads: int = 1  # 1: fastest on a shared CPU; 0: torch's default


@dg.asset(
    group_name="avatars",
    deps=["genlca_checkpoint"],
    kinds={"pytorch"},
    check_specs=[
        dg.AssetCheckSpec("edit_keeps_the_rest", asset="user_avatars",
                          description="The edit leaves every texel outside the edited region as it was."),
        dg.AssetCheckSpec("animation_intact", asset="user_avatars",
                          description="No Gaussian leaves the posed body's box (with margin) in any frame."),
    ],
)
def user_avatars(config: UserAvatarsConfig, store: ArtifactStore) -> dg.MaterializeResult:
    """An avatar generated from text by the GenLCA checkpoint, the same avatar with one region regenerated
    under another prompt, and the edited avatar animated."""
    if config.edit_region not in EDIT_REGIONS:
        raise dg.Failure(description=f"edit_region must be one of {EDIT_REGIONS}, got {config.edit_region!r}")
    if config.expression not in EXPRESSIONS:
        raise dg.Failure(description=f"expression must be one of {tuple(EXPRESSIONS)}, got {config.expression!r}")
    ckpt = checkpoint_folder(store)
    if not (ckpt / "checkpoint.json").is_file():
        raise dg.Failure(description=f"no GenLCA checkpoint at {ckpt}: materialize genlca_checkpoint first")
    req = DemoRequest(prompt=config.prompt, edit_region=config.edit_region, edit_prompt=config.edit_prompt,
                      motion=config.motion, expression=config.expression, seconds=config.seconds, steps=config.steps,
                      seed=config.seed, size=config.size)
    with torch_threads(config.torch_threads or None):
        r = demo_avatars(ckpt, store.path("avatars", "generated", "report.json").parent, req)
    change, anim = r["edit"]["color_change"], r["animation"]
    return dg.MaterializeResult(
        metadata={
            "avatar": dg.MetadataValue.path(r["files"]["avatar"]),
            "edited": dg.MetadataValue.path(r["files"]["edited"]),
            "animation": dg.MetadataValue.path(r["files"]["animation"]),
            "prompt": r["prompt"] or "(unconditional)",
            "avatar_views": dg.MetadataValue.md(image_markdown(r["files"]["avatar_views"], alt="generated avatar")),
            "edit_views": dg.MetadataValue.md(image_markdown(r["files"]["edit_views"], alt="before / after")),
            "edit_color_change_inside": change["inside"],
            "seconds": r["seconds"]["total"],
        },
        check_results=[
            dg.AssetCheckResult(check_name="edit_keeps_the_rest", passed=change["outside_max"] == 0.0,
                                metadata={"outside_max_rgb_change": change["outside_max"]}),
            dg.AssetCheckResult(check_name="animation_intact", passed=bool(anim["intact"]),
                                metadata={"max_excursion_m": anim["max_excursion_m"], "frames": anim["frames"]}),
        ],
    )
