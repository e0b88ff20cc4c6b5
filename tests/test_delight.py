"""De-lighting: albedo recovered from how colour changes over each garment, from one photo or a turning body."""

from __future__ import annotations

import math

import pytest
import torch

from genlca.tokenizer.delight import Observations, albedo_and_shading, fit_light, shading


def _light(direction, ambient: float) -> torch.Tensor:
    return torch.cat([torch.tensor([ambient]), torch.nn.functional.normalize(torch.tensor(direction), dim=0)])


def _sightings(albedo, normals, light, frames: int = 1) -> Observations:
    """The texels seen in `frames` frames while the body turns about the camera's vertical axis."""
    obs = Observations(len(albedo))
    for t in range(frames):
        a = torch.tensor(0.4 * t)
        rot = torch.tensor([[torch.cos(a), 0, torch.sin(a)], [0, 1, 0], [-torch.sin(a), 0, torch.cos(a)]])
        nt = normals @ rot.T
        s = shading(nt.double(), light[None, 1:].double(), light[:1].double())[:, 0, 0].float()
        obs.add((-nt[:, 2]).clamp(min=0), albedo * s[:, None], nt)  # seen where facing the camera
    return obs


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


@pytest.mark.parametrize("frames", [1, 6])
@pytest.mark.parametrize("direction, ambient", [((0.3, -0.6, -0.75), 0.45),  # light beside the camera, above
                                                ((-0.8, -0.2, 0.1), 0.35),  # from the side, a little behind
                                                ((0.0, -1.0, 0.0), 0.55)])  # overhead, overcast
def test_light_and_albedo_are_recovered(direction, ambient, frames):
    albedo, seen_colors, normals, part = _photo(direction, ambient)
    truth = _light(direction, ambient)
    obs = _sightings(albedo, normals, truth, frames)
    light = fit_light(obs, part)
    est, s = albedo_and_shading(obs, light)
    assert float(light[0]) == pytest.approx(ambient, abs=0.051)
    angle = math.degrees(math.acos(min(float((light[1:] * truth[1:]).sum()), 1.0)))
    assert angle < 15, (light, truth)
    err_seen = float((seen_colors - albedo).abs().mean())
    err = float((est - albedo).abs().mean())
    assert err < 0.03 and err < err_seen / 4, (err, err_seen)
    assert float(s.max()) <= 1.0 + 1e-5 and float(s.min()) > 0


def test_nothing_seen_gives_the_uniform_light():
    obs = Observations(10)
    obs.add(torch.zeros(10), torch.rand(10, 3), torch.rand(10, 3))
    light = fit_light(obs, torch.zeros(10, dtype=torch.long))
    est, s = albedo_and_shading(obs, light)
    assert torch.equal(light, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.all(est == 0) and torch.all(s == 1)


def test_de_lit_colours_are_closer_to_the_true_albedo_than_the_colours_as_seen(tmp_path):
    """Synthetic videos and photos (one frame of them; scene light unknown to the tokenizer): the de-lit
    colours of the texels they see are nearer the true albedo than the colours as seen."""
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.data.synth import generate_drop, load_ground_truth
    from genlca.data.video import read_video
    from genlca.fitting.evaluate import fit_from_ground_truth
    from genlca.generation.image_eval import synthetic_photos
    from genlca.tokenizer.unproject import unproject_video

    drop = tmp_path / "d"
    generate_drop(drop, videos=3, frames=6, size=128, regime="full", seed=78, resolution=32)
    body = body_model_named("anny")
    layout = uv_layout(body, 32)

    def gain_db(up, truth) -> float:
        seen = up.seen & layout.mask
        truth = truth.maps[11:14][:, seen]
        err_seen = float((up.rgb[:, seen] - truth).square().mean())
        return 10 * math.log10(err_seen / float((up.albedo[:, seen] - truth).square().mean()))

    photos = [gain_db(unproject_video([p.image], p.fit, body, layout, p.mask), p.truth)
              for p in synthetic_photos(drop)]
    videos = []
    for p in synthetic_photos(drop):
        gt = load_ground_truth(drop / "ground_truth" / p.name)
        up = unproject_video(read_video(drop / "videos" / f"{p.name}.mp4"), fit_from_ground_truth(gt, "anny"), body,
                             layout, gt["frames"]["person_mask"])
        videos.append(gain_db(up, p.truth))
    for gains in (photos, videos):
        assert min(gains) > 0 and sum(gains) / len(gains) > 2.0, (photos, videos)  # dB
