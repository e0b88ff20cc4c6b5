"""Light estimation: albedo and shading separated from how texel colours change as the body turns."""

from __future__ import annotations

import torch

from genlca.tokenizer.delight import LightStats, albedo_and_shading, fit_light


def _observe(albedo: torch.Tensor, light: torch.Tensor, frames: int, turn: bool, seed: int = 0) -> LightStats:
    """Texels of a turning (or still) body under `light` (L0 + |L_dir| = 1), seen with weight 1."""
    g = torch.Generator().manual_seed(seed)
    n = albedo.shape[0]
    normals = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    normals[:, 2] = -normals[:, 2].abs()  # facing the camera (camera looks along +z)
    stats = LightStats.zeros(n)
    for t in range(frames):
        a = torch.tensor(0.5 * t if turn else 0.0)  # the body turns about the camera's vertical axis
        rot = torch.tensor([[torch.cos(a), 0, torch.sin(a)], [0, 1, 0], [-torch.sin(a), 0, torch.cos(a)]])
        nt = normals @ rot.T
        shade = (light[0] + nt @ light[1:]).clamp(min=0)
        stats.add(torch.ones(n), albedo * shade[:, None], nt)
    return stats


def test_light_and_albedo_are_recovered_when_the_body_turns():
    albedo = torch.rand(3000, 3, generator=torch.Generator().manual_seed(1)) * 0.8 + 0.1
    light = torch.tensor([0.6, 0.1, -0.3, 0.05])
    light = light / (light[0] + light[1:].norm())
    stats = _observe(albedo, light, frames=8, turn=True)
    got = fit_light(stats, ridge=0.0)
    assert torch.allclose(got, light, atol=0.02), (got, light)
    est, shading = albedo_and_shading(stats, got, stats.M[:, 0, 0])
    assert (est - albedo).abs().mean() < 0.02
    assert float(shading.min()) > 0 and float(shading.max()) <= 1.0 + 1e-4


def test_a_still_body_or_one_frame_leaves_the_light_uniform():
    """Nothing constrains the light when no texel's normal changes: colours are left as seen."""
    albedo = torch.rand(500, 3, generator=torch.Generator().manual_seed(2))
    for frames in (1, 5):
        stats = _observe(albedo * 0.5, torch.tensor([1.0, 0.0, 0.0, 0.0]), frames=frames, turn=False)
        got = fit_light(stats)
        assert torch.allclose(got, torch.tensor([1.0, 0.0, 0.0, 0.0]), atol=1e-3), got
        est, _ = albedo_and_shading(stats, got, stats.M[:, 0, 0])
        assert torch.allclose(est, albedo * 0.5, atol=1e-4)


def test_nothing_seen():
    stats = LightStats.zeros(10)
    light = fit_light(stats)
    est, shading = albedo_and_shading(stats, light, torch.zeros(10))
    assert torch.equal(light, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.all(est == 0) and torch.all(shading == 1)
