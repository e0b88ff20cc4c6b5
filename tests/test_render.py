"""The Gaussian renderer: silhouettes, compositing rules, gradients, fitting, gsplat parity."""

import math

import pytest
import torch

from genlca.avatar import CHANNELS, GaussianAvatar, to_gaussians
from genlca.body.poses import walk
from genlca.render.camera import Camera, framing_camera, intrinsics, look_at
from genlca.render.gaussians import Gaussians
from genlca.render.mesh_raster import rasterize_mesh
from genlca.render.renderer import render


def _iou(a, b):
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("pose", ["a-pose", "walk"])
def test_alpha_matches_mesh_silhouette_from_four_views(anny, layout128, template, pose):
    p = {} if pose == "a-pose" else walk(math.pi / 2)
    g = to_gaussians(template, anny, layout128, pose=p)
    verts = anny.pose(template.shape[None], p).vertices[0]
    for az in (0, 90, 180, 270):
        cam = framing_camera(verts, az, 256, 256)
        alpha = render(g, cam).alpha
        mesh = rasterize_mesh(verts, anny.faces, cam).mask
        assert _iou(alpha > 0.5, mesh) >= 0.9, f"view {az}"


def _brute_force(g: Gaussians, cam: Camera, w: int, h: int):
    """Per-pixel loop following gsplat's CUDA rules (slow; tiny scenes only)."""
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

    cov, _ = _quat_scale_to_covar_preci(g.quats, g.scales, True, False)
    radii, m2d, depth, conic, comp = _fully_fused_projection(g.means, cov, cam.viewmat[None], cam.K[None], w, h,
                                                             eps2d=0.3, calc_compensations=True)
    m2d, depth, conic, op = m2d[0], depth[0], conic[0], g.opacities * comp[0]
    order = torch.argsort(depth)
    img = torch.zeros(h, w, 3, dtype=g.means.dtype)
    acc = torch.zeros(h, w, dtype=g.means.dtype)
    for i in range(h):
        for j in range(w):
            t = 1.0
            for k in order.tolist():
                if (radii[0, k] <= 0).any():
                    continue
                dx, dy = j + 0.5 - m2d[k, 0], i + 0.5 - m2d[k, 1]
                s = 0.5 * (conic[k, 0] * dx * dx + conic[k, 2] * dy * dy) + conic[k, 1] * dx * dy
                a = min(0.999, float(op[k] * torch.exp(-s)))
                if s < 0 or a < 1 / 255:
                    continue
                if t * (1 - a) <= 1e-4:
                    break
                img[i, j] += a * t * g.colors[k]
                acc[i, j] += a * t
                t *= 1 - a
    return img, acc


def _random_scene(n=12, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.rand(*s, generator=gen, dtype=dtype)
    return Gaussians(means=(r(n, 3) - 0.5) * 0.6, quats=torch.nn.functional.normalize(r(n, 4) - 0.5, dim=-1),
                     scales=0.03 + 0.1 * r(n, 3), opacities=0.3 + 0.7 * r(n), colors=r(n, 3))


def test_compositing_matches_a_per_pixel_reference():
    g = _random_scene()
    cam = Camera(look_at((0, -2, 0.3), (0, 0, 0)), intrinsics(20, 16, 40), 20, 16)
    out = render(g, cam, background=(0, 0, 0), backend="torch")
    img, acc = _brute_force(g, cam, 20, 16)
    assert torch.allclose(out.rgb, img, atol=1e-5)
    assert torch.allclose(out.alpha, acc, atol=1e-5)
    assert acc.max() > 0.5  # the scene is actually in view


def test_gradients_match_finite_differences():
    g = _random_scene(n=6, seed=1, dtype=torch.float64)
    cam = Camera(look_at((0, -2, 0.2), (0, 0, 0)).double(), intrinsics(12, 12, 40).double(), 12, 12)
    weights = torch.rand(12, 12, 3, dtype=torch.float64)

    def f(means, colors, opacities, scales):
        gg = Gaussians(means, g.quats, scales, opacities, colors)
        return (render(gg, cam, background=(0.2, 0.3, 0.4), backend="torch").rgb * weights).sum()

    inputs = tuple(t.clone().requires_grad_(True) for t in (g.means, g.colors, g.opacities, g.scales))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-4, rtol=1e-3)


def test_background_and_depth():
    g = _random_scene()
    cam = Camera(look_at((0, -2, 0), (0, 0, 0)), intrinsics(32, 32, 40), 32, 32)
    out = render(g, cam, background=(0.0, 1.0, 0.0))
    empty = out.alpha < 1e-6
    assert empty.any() and torch.allclose(out.rgb[empty], torch.tensor([0.0, 1.0, 0.0]))
    covered = out.alpha > 0.5
    assert (out.depth[covered] > 1.4).all() and (out.depth[covered] < 2.6).all()


def test_fitting_colours_and_offsets_lowers_the_loss_10x(anny, layout128, template):
    """Optimise an avatar's colours and offsets to match renders of a changed avatar."""
    target_maps = template.maps.clone()
    part = layout128.part
    torso = (part == 1) | (part == 2)
    target_maps[CHANNELS["rgb"]][:, torso] = torch.tensor([0.1, 0.6, 0.2])[:, None]
    target_maps[CHANNELS["offset"]][2][torso] = 0.02  # 2 cm outwards along the normal
    target = GaussianAvatar(target_maps, template.shape, template.body_model)
    verts = anny.pose(template.shape[None]).vertices[0]
    cams = [framing_camera(verts, az, 96, 96) for az in (0, 120, 240)]
    with torch.no_grad():
        g_t = to_gaussians(target, anny, layout128)
        targets = [render(g_t, c).rgb for c in cams]

    rgb = template.maps[CHANNELS["rgb"]].clone().requires_grad_(True)
    offset = template.maps[CHANNELS["offset"]].clone().requires_grad_(True)
    opt = torch.optim.Adam([rgb, offset], lr=0.02)
    rest = template.maps.clone()

    def loss_fn():
        maps = torch.cat([offset, rest[3:11], rgb])
        g = to_gaussians(GaussianAvatar(maps, template.shape, template.body_model), anny, layout128)
        return sum(torch.nn.functional.mse_loss(render(g, c).rgb, t) for c, t in zip(cams, targets))

    with torch.no_grad():
        first = float(loss_fn())
    for step in range(80):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        with torch.no_grad():
            offset.clamp_(-0.05, 0.05)
    with torch.no_grad():
        last = float(loss_fn())
    assert last < first / 10, f"loss {first:.5f} -> {last:.5f}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat parity needs CUDA (gsplat's rasterizer is CUDA-only)")
def test_gsplat_and_torch_backends_agree(anny, layout128, template):
    g = to_gaussians(template, anny, layout128).to("cuda")
    verts = anny.pose(template.shape[None]).vertices[0]
    for az in (0, 90):
        cam = framing_camera(verts, az, 256, 256)
        a = render(g, cam, backend="gsplat")
        b = render(g, cam, backend="torch")
        assert (a.rgb - b.rgb).abs().mean() < 2e-3 and (a.rgb - b.rgb).abs().max() < 0.05
        assert (a.alpha - b.alpha).abs().mean() < 2e-3
