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
    assert float(up.confidence.max()) <= 1.0
    many, few = up.count >= 6, (up.count >= 1) & (up.count <= 2)
    assert float(up.confidence[many].mean()) > float(up.confidence[few].mean())


def test_one_frame_and_unfitted_frames(drop, anny, layout128):
    """A photo is a one-frame video; frames the fit does not cover add nothing."""
    gt, frames = _video(drop, "vid_000")
    fit = fit_from_ground_truth(gt)
    fit.fitted[1:] = False
    up = unproject_video(frames, fit, anny, layout128)  # no masks: the body's own visibility only
    assert up.frames == 1 and int(up.count.max()) == 1
    single = fit_from_ground_truth(gt)
    for k in ("joint_rotations", "root", "fitted", "reproj_error_px", "keypoint_confidence"):
        setattr(single, k, getattr(single, k)[:1])
    single.reasons = single.reasons[:1]
    photo = unproject_video(frames[:1], single, anny, layout128)
    assert torch.equal(photo.count, up.count) and torch.allclose(photo.rgb, up.rgb)
    with pytest.raises(ValueError, match="more frames"):
        unproject_video(frames, single, anny, layout128)
