"""De-lighting one photo: albedo recovered from how colour changes over each garment, seen once."""

from __future__ import annotations

import math

import pytest
import torch

from genlca.tokenizer.single_view_light import shading, single_view_albedo


def _photo(direction, ambient: float, seed: int = 0):
    """Texels facing the camera (camera looks along +z) on 4 body parts: two solid garments, one striped
    (two albedos), one black-and-white checked; lit by the clamped-cosine light with an ambient share."""
    g = torch.Generator().manual_seed(seed)
    n = 2400
    normals = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    normals[:, 2] = -normals[:, 2].abs()
    part = torch.arange(n) % 4
    stripe = torch.rand(n, generator=g) < 0.5
    palette = torch.tensor([[0.8, 0.2, 0.2], [0.2, 0.3, 0.7], [0.9, 0.9, 0.2], [0.1, 0.5, 0.2],
                            [0.92, 0.92, 0.9], [0.08, 0.08, 0.08]])
    which = torch.where(part == 0, 0, torch.where(part == 1, 1, torch.where(part == 2, torch.where(stripe, 2, 3),
                                                                            torch.where(stripe, 4, 5))))
    albedo = palette[which]
    d = torch.nn.functional.normalize(torch.tensor(direction, dtype=torch.float64), dim=0)
    s = shading(normals.double(), d[None], torch.tensor([ambient], dtype=torch.float64))[:, 0, 0].float()
    return albedo, albedo * s[:, None], normals, part


@pytest.mark.parametrize("direction, ambient", [((0.3, -0.6, -0.75), 0.45),  # light beside the camera, above
                                                ((-0.8, -0.2, 0.1), 0.35),  # from the side, a little behind
                                                ((0.0, -1.0, 0.0), 0.55)])  # overhead, overcast
def test_albedo_is_recovered_from_one_view(direction, ambient):
    albedo, seen, normals, part = _photo(direction, ambient)
    est, s, light = single_view_albedo(seen, normals, torch.ones(len(seen)), part)
    err_seen = float((seen - albedo).abs().mean())
    err = float((est - albedo).abs().mean())
    assert err < 0.03 and err < err_seen / 4, (err, err_seen)
    assert float(light[0]) == pytest.approx(ambient, abs=0.051)
    got_dir = light[1:]
    want = torch.nn.functional.normalize(torch.tensor(direction), dim=0)
    assert math.degrees(math.acos(min(float((got_dir * want).sum()), 1.0))) < 15
    assert float(s.max()) <= 1.0 + 1e-5 and float(s.min()) > 0


def test_nothing_seen_gives_empty_albedo():
    est, s, light = single_view_albedo(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0), torch.zeros(0).long())
    assert est.shape == (0, 3) and s.shape == (0,) and torch.equal(light, torch.tensor([1.0, 0.0, 0.0, 0.0]))


def test_photo_tokens_are_closer_to_the_true_albedo_than_the_colours_as_seen(tmp_path):
    """A synthetic photo (one frame of a synthetic video, scene light unknown to the tokenizer): the de-lit
    colours of the texels it sees are nearer the true albedo than the colours as seen."""
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.data.synth import generate_drop
    from genlca.generation.image_eval import synthetic_photos
    from genlca.tokenizer.unproject import unproject_video

    generate_drop(tmp_path / "d", videos=3, frames=3, size=128, regime="full", seed=78, resolution=32)
    body = body_model_named("anny")
    layout = uv_layout(body, 32)
    gains = []
    for photo in synthetic_photos(tmp_path / "d"):
        up = unproject_video([photo.image], photo.fit, body, layout, photo.mask)
        seen = up.seen & layout.mask
        truth = photo.truth.maps[11:14][:, seen]
        err_seen = float((up.rgb[:, seen] - truth).square().mean())
        err_delit = float((up.albedo[:, seen] - truth).square().mean())
        gains.append(10 * math.log10(err_seen / err_delit))
    assert min(gains) > 0 and sum(gains) / len(gains) > 2.0, gains  # dB
