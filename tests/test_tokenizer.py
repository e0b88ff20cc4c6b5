"""The tokenizer: unprojection of video frames onto the UV grid through body fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlca.avatar import CHANNELS
from genlca.data.synth import generate_drop, load_ground_truth
from genlca.data.video import read_video
from genlca.fitting.evaluate import fit_from_ground_truth
from genlca.tokenizer.unproject import NEUTRAL_RGB, sample_colors, unproject_video


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok") / "drop"
    generate_drop(out, videos=2, frames=8, size=256, regime="full", seed=5)
    return out


def _video(drop, name):
    return load_ground_truth(drop / "ground_truth" / name), read_video(drop / "videos" / f"{name}.mp4")


def test_sample_colors_reads_pixel_centres():
    img = torch.zeros(4, 6, 3)
    img[2, 3] = torch.tensor([1.0, 0.5, 0.25])
    got = sample_colors(img, torch.tensor([[3.5, 2.5], [3.0, 2.5], [0.5, 0.5]]))
    assert torch.allclose(got[0], img[2, 3]) and torch.allclose(got[1], img[2, 3] / 2) and got[2].abs().sum() == 0


@pytest.mark.parametrize("name", ["vid_000", "vid_001"])
def test_unprojection_with_true_fits_matches_ground_truth(drop, anny, layout128, name):
    """With the true body fit and person masks, the texels seen are the ground truth's, and the
    colours are the subject's clothing (shading and the camera change them: compared by
    correlation with the albedo, a wrong mapping would give ~0)."""
    gt, frames = _video(drop, name)
    up = unproject_video(frames, fit_from_ground_truth(gt), anny, layout128, gt["frames"]["person_mask"])
    true_seen = gt["maps"]["visible_count"] > 0
    iou = (up.seen & true_seen).sum() / (up.seen | true_seen).sum()
    assert float(iou) > 0.97, float(iou)
    assert up.frames == 8 and int(up.count.max()) <= 8
    albedo = gt["maps"]["maps"][CHANNELS["rgb"]][:, up.seen].T
    rgb = up.rgb[:, up.seen].T
    corr = [np.corrcoef(albedo[:, c], rgb[:, c])[0, 1] for c in range(3)]
    assert min(corr) > 0.75, corr
    # Unseen texels are neutral with confidence 0; confidence grows with the frames that saw a texel.
    assert torch.all(up.rgb[:, ~up.seen] == NEUTRAL_RGB) and torch.all(up.confidence[~up.seen] == 0)
    assert torch.all(up.albedo[:, ~up.seen] == NEUTRAL_RGB) and torch.all(up.shading[~up.seen] == 1)
    # The light divided out: an ambient share in the searched range, a unit direction, from above (y points down).
    assert 0.3 - 1e-6 <= float(up.light[0]) <= 0.6 + 1e-6 and abs(float(up.light[1:].norm()) - 1) < 1e-4, up.light
    assert float(up.light[2]) < 0, up.light
    assert float(up.confidence.max()) <= 1.0
    many, few = up.count >= 6, (up.count >= 1) & (up.count <= 2)
    assert float(up.confidence[many].mean()) > float(up.confidence[few].mean())


def test_background_spill_is_taken_out_with_the_avatars_alpha():
    """A pixel that shows 90% of the person and 10% of the wall is un-mixed back to the person's
    colour, the wall being read from the nearest pixel outside the mask."""
    from genlca.tokenizer.unproject import remove_background_spill

    wall, person = torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0.1, 0.2, 0.3])
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    alpha = torch.where(mask, 0.9, 0.0)
    image = torch.where(mask[..., None], 0.9 * person + 0.1 * wall, wall.expand(8, 8, 3))
    out = remove_background_spill(image, alpha, mask)
    assert torch.allclose(out[mask], person.expand(16, 3), atol=1e-6)
    assert torch.equal(out[~mask], image[~mask])
    assert torch.equal(remove_background_spill(image, alpha, torch.ones_like(mask)), image)  # no wall in view


def test_unmixing_the_background_brings_colours_closer_to_the_truth(drop, anny, layout128):
    """The synthetic avatar, like every avatar of ours, is ~9% translucent inside its silhouette:
    the frames mix in the wall behind. Un-mixed, the de-lit colours are nearer the true albedo."""
    gt, frames = _video(drop, "vid_000")
    fit, masks = fit_from_ground_truth(gt), gt["frames"]["person_mask"]
    truth = gt["maps"]["maps"][CHANNELS["rgb"]]

    def psnr(up):
        return float(-10 * torch.log10(((up.albedo - truth) ** 2)[:, up.seen].mean()))

    mixed = unproject_video(frames, fit, anny, layout128, masks, unmix=False)
    unmixed = unproject_video(frames, fit, anny, layout128, masks)
    assert torch.equal(mixed.seen, unmixed.seen)
    assert psnr(unmixed) > psnr(mixed) + 0.5, (psnr(unmixed), psnr(mixed))


def test_one_frame_and_unfitted_frames(drop, anny, layout128):
    """A photo is a one-frame video; frames the fit does not cover add nothing."""
    gt, frames = _video(drop, "vid_000")
    fit = fit_from_ground_truth(gt)
    fit.fitted[1:] = False
    up = unproject_video(frames, fit, anny, layout128)  # no masks: the body's own visibility only
    assert up.frames == 1 and int(up.count.max()) == 1
    single = _first(fit_from_ground_truth(gt), 1)
    photo = unproject_video(frames[:1], single, anny, layout128)
    assert torch.equal(photo.count, up.count) and torch.allclose(photo.rgb, up.rgb)
    with pytest.raises(ValueError, match="more frames"):
        unproject_video(frames, single, anny, layout128)


# ----------------------------------------------------------------------------- refinement and tokens
def test_refiner_starts_at_template_geometry_and_unprojected_colours(anny, layout128):
    from genlca.tokenizer.refine import FEATURES, GEOMETRY, RGB, Refiner_models

    model = Refiner_models["tiny"]()
    feats = torch.rand(1, len(FEATURES), 128, 128)
    template = torch.rand(1, 14, 128, 128)
    out = model(feats, template)
    assert torch.equal(out[:, GEOMETRY], template[:, GEOMETRY])
    assert torch.allclose(out[:, RGB], feats[:, :3].clamp(1e-3, 1 - 1e-3), atol=1e-5)


@pytest.fixture(scope="module")
def trained(drop, anny, layout128, tmp_path_factory):
    from genlca.tokenizer.train import examples_from_drop, train_refiner

    examples = examples_from_drop(drop, anny, layout128)
    out = tmp_path_factory.mktemp("tokmodel")
    metrics = train_refiner(examples[:1], examples[1:], out, size="tiny", steps=150, batch_size=1, lr=3e-3,
                            progress=False)
    return out, metrics, examples


def test_training_examples_include_photos_taken_from_the_videos(drop, anny, layout128):
    """`photos_per_video`: one-frame examples next to each video's, seeing part of what the video saw,
    each through one frame, with the same ground truth to learn."""
    from genlca.tokenizer.train import examples_from_drop

    examples = examples_from_drop(drop, anny, layout128, photos_per_video=2)
    assert [e["name"] for e in examples] == ["drop/vid_000", "drop/vid_000#2", "drop/vid_000#6",
                                             "drop/vid_001", "drop/vid_001#2", "drop/vid_001#6"]
    video, photo = examples[0], examples[1]
    assert torch.equal(photo["target"], video["target"])
    assert 0 < int(photo["seen"].sum()) < int(video["seen"].sum())
    assert not bool((photo["seen"] & ~video["seen"]).any())


def test_training_learns_colours_of_held_out_videos(trained):
    """A few steps on one video already make the colours of another video closer to the truth
    than the colours as seen (shading, camera and the Gaussian blur are what it learns; beating
    the de-lit albedo takes many videos: benchmarks/tokenizer.py)."""
    out, metrics, _ = trained
    assert metrics["train_l1_last"] < metrics["train_l1_first"]
    assert metrics["val_rgb_psnr_unprojected"] > metrics["val_rgb_psnr_as_seen"] + 0.5, metrics
    assert metrics["val_rgb_psnr_refined"] > metrics["val_rgb_psnr_as_seen"] + 0.75, metrics
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json", "metrics.json"}


def test_tokens_keep_unseen_texels_neutral_and_round_trip(trained, drop, anny, layout128, tmp_path):
    from genlca.tokenizer.tokens import load_tokens, neutral_maps, save_tokens, tokenize
    from genlca.tokenizer.train import load_refiner

    out, _, _ = trained
    gt, frames = _video(drop, "vid_001")
    up = unproject_video(frames[:2], _first(fit_from_ground_truth(gt), 2), anny, layout128,
                         gt["frames"]["person_mask"][:2])
    shape = gt["maps"]["shape"]
    tokens = tokenize(up, load_refiner(out), anny, layout128, shape, meta={"caption": "x"})
    neutral = neutral_maps(anny, layout128, shape)
    assert torch.equal(tokens.maps[:, ~up.seen], neutral[:, ~up.seen])
    assert torch.all(tokens.visibility[~up.seen] == 0) and torch.all(tokens.visibility[up.seen] > 0)
    assert not torch.isnan(tokens.maps).any()
    back = load_tokens(save_tokens(tokens, tmp_path / "t.safetensors"))
    assert torch.equal(back.maps, tokens.maps) and torch.equal(back.count, tokens.count)
    assert back.meta == {"caption": "x"} and back.body_model == "anny"
    with pytest.raises(ValueError, match="not an avatar token file"):
        from safetensors.torch import save_file

        save_file({"maps": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
        load_tokens(tmp_path / "plain.safetensors")


def _first(fit, n):
    for k in ("joint_rotations", "root", "fitted", "reproj_error_px", "keypoint_confidence"):
        setattr(fit, k, getattr(fit, k)[:n])
    fit.reasons = fit.reasons[:n]
    return fit


def test_tokenize_a_drop_and_evaluate_against_truth(trained, drop, anny, layout128, tmp_path):
    """The drop-level path (`genlca tokenize` / `evaluate tokenizer`): true fits with their
    masks -> tokens that see what the true cameras saw, unseen texels neutral; a fit without
    its video is reported, not a crash."""
    from genlca.fitting.store import fit_path, save_fit
    from genlca.tokenizer.pipeline import evaluate_tokens, tokenize_drop
    from genlca.tokenizer.train import load_refiner

    fits = tmp_path / "fits"
    for name in ("vid_000", "vid_001"):
        gt = load_ground_truth(drop / "ground_truth" / name)
        save_fit(fit_from_ground_truth(gt), fit_path(fits, name), meta={"source": f"videos/{name}.mp4"},
                 masks=gt["frames"]["person_mask"])
    save_fit(fit_from_ground_truth(gt), fit_path(fits, "gone"), meta={"source": "videos/gone.mp4"})
    rows = tokenize_drop(drop, fits, tmp_path / "tokens", anny, layout128, load_refiner(trained[0]))
    by = {r["video"]: r for r in rows}
    assert by["gone"]["error"] and not (tmp_path / "tokens" / "gone.safetensors").exists()
    assert by["vid_000"]["error"] == "" and by["vid_000"]["frames"] == 8 and 0.2 < by["vid_000"]["seen_share"] < 0.9
    report = evaluate_tokens(drop, tmp_path / "tokens", anny, layout128, views=2, size=128)
    o = report["overall"]
    assert o["videos"] == 2 and o["seen_iou"] > 0.95 and o["unseen_neutral"] == 1.0
    assert o["rgb_psnr_db"] > 10.0 and o["render_psnr_db"] > 10.0


def test_render_a_token_file_with_unseen_parts_marked(drop, anny, layout128, tmp_path):
    """`genlca render TOKENS --mark-unseen`: what no frame saw is drawn magenta, the rest is not."""
    from PIL import Image

    from genlca.showcase import RenderRequest, render_avatar
    from genlca.tokenizer.tokens import save_tokens, tokenize

    gt, frames = _video(drop, "vid_000")
    up = unproject_video(frames[:1], _first(fit_from_ground_truth(gt), 1), anny, layout128,
                         gt["frames"]["person_mask"][:1])
    path = save_tokens(tokenize(up, None, anny, layout128, gt["maps"]["shape"]), tmp_path / "t.safetensors")

    def magenta_share(mark: bool) -> float:
        out = tmp_path / f"{mark}.png"
        render_avatar(RenderRequest(avatar=str(path), out=str(out), views=2, size=128, mark_unseen=mark))
        img = np.asarray(Image.open(out).convert("RGB")).astype(int)
        return float(((img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] > 200)).mean())

    assert magenta_share(True) > 0.02  # one frame sees one side: the other side is marked
    assert magenta_share(False) < 0.002


def test_recolor_scales_seen_colours_of_inputs_and_targets_alike():
    from genlca.tokenizer.refine import FEATURES
    from genlca.tokenizer.train import recolor

    seen = torch.zeros(1, 4, 4, dtype=torch.bool)
    seen[0, :2] = True
    batch = {"features": torch.full((1, len(FEATURES), 4, 4), 0.5), "target": torch.full((1, 14, 4, 4), 0.5),
             "seen": seen, "neutral": torch.zeros(1, 14, 4, 4)}
    out = recolor(batch, torch.tensor([[1.2, 0.5, 3.0]]))
    rgb = CHANNELS["rgb"]
    assert torch.allclose(out["features"][0, 0:3, 0, 0], torch.tensor([0.6, 0.25, 1.0]))  # clipped like a camera
    assert torch.equal(out["features"][0, 0:3, 0, 0], out["features"][0, 3:6, 0, 0])
    assert torch.equal(out["target"][0, rgb, 0, 0], out["features"][0, 0:3, 0, 0])
    assert torch.all(out["features"][0, :6, 3] == 0.5) and torch.all(out["target"][0, rgb, 3] == 0.5)  # unseen
    assert torch.equal(out["features"][:, 6:], batch["features"][:, 6:]) and torch.all(batch["features"] == 0.5)


# ----------------------------------------------------------------------------- the rendering loss
def test_rendering_loss_knows_the_true_avatar_from_a_wrong_one(drop, anny, layout128):
    """Rendered in a frame's pose, camera and light, composited over the guessed background, the true
    avatar matches the frame to about the video's noise; the template's grey does not."""
    from genlca.tokenizer.render_loss import frame_targets, render_l1, scene_lights
    from genlca.tokenizer.tokens import neutral_maps

    gt, frames = _video(drop, "vid_000")
    targets = frame_targets(frames, fit_from_ground_truth(gt), anny, layout128, gt["frames"]["person_mask"],
                            scene_lights(gt), [2, 5])
    batch = {k: v[None] for k, v in targets.items()}
    truth = gt["maps"]["maps"].float()[None]
    grey = neutral_maps(anny, layout128, gt["maps"]["shape"].float())[None]
    for k in (0, 1):
        right = float(render_l1(truth, batch, layout128.texels, torch.tensor([k])))
        wrong = float(render_l1(grey, batch, layout128.texels, torch.tensor([k])))
        assert right < 0.03 and wrong > 3 * right, (right, wrong)


def test_training_with_the_rendering_loss(drop, anny, layout128, tmp_path):
    """render_weight > 0: the refiner also learns from renders against the frames; the loss falls,
    and it is refused without frames in the examples or with colour augmentation (which would
    recolour the maps but not the frames)."""
    import json

    from genlca.tokenizer.train import examples_from_drop, train_refiner

    examples = examples_from_drop(drop, anny, layout128, render_frames=2)
    assert examples[0]["r_image"].shape == (2, 256, 256, 3)
    metrics = train_refiner(examples, [], tmp_path / "m", size="tiny", steps=30, batch_size=2, lr=3e-3,
                            progress=False, render_weight=1.0)
    first, last = metrics["train_render_l1"][:5], metrics["train_render_l1"][-5:]
    assert sum(last) < sum(first), metrics["train_render_l1"]
    assert json.loads((tmp_path / "m" / "config.json").read_text())["render_weight"] == 1.0
    plain = examples_from_drop(drop, anny, layout128)
    with pytest.raises(ValueError, match="render_frames"):
        train_refiner(plain, [], tmp_path / "x", size="tiny", steps=1, progress=False, render_weight=1.0)
    with pytest.raises(ValueError, match="augment"):
        train_refiner(examples, [], tmp_path / "x", size="tiny", steps=1, progress=False, render_weight=1.0,
                      augment=0.2)
    with pytest.raises(ValueError, match="loss weight 'pixel'"):
        train_refiner(examples, [], tmp_path / "x", size="tiny", steps=1, progress=False, loss_weight="pixel")


def test_area_weights_favour_what_renders_show_large():
    """`area_weights`: mean 1 over the seen texels; a texel with twice the tangent scales weighs 4x."""
    from genlca.tokenizer.train import area_weights

    neutral = torch.zeros(1, 14, 4, 4)
    neutral[0, 3:5] = torch.log(torch.tensor(0.01))
    neutral[0, 3:5, 0, 0] = torch.log(torch.tensor(0.02))
    seen = torch.ones(1, 4, 4, dtype=torch.bool)
    w = area_weights(neutral, seen)
    assert abs(float(w[seen].mean()) - 1) < 1e-5 and abs(float(w[0, 0, 0] / w[0, 1, 1]) - 4) < 1e-4
