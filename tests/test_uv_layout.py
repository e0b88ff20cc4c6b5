"""UV layout: texels inside charts, exact barycentrics, parts, caching."""

import torch

from genlca.body.uv_layout import build_uv_layout, uv_layout


def test_layout_texels_lie_on_their_faces(anny, layout128):
    lay = layout128
    assert lay.resolution == 128 and lay.mask.shape == (128, 128)
    assert 0.4 < lay.mask.float().mean() < 0.8
    tex = lay.texels
    bary = lay.bary.reshape(-1, 3)[tex]
    assert (bary >= -1e-6).all() and torch.allclose(bary.sum(-1), torch.ones(len(tex)), atol=1e-5)
    # Reconstruct the texel centre's UV from its face and barycentrics.
    fid = lay.face_id.flatten()[tex]
    uv = (anny.uv_coords[anny.uv_faces[fid]] * bary[:, :, None]).sum(1)
    i, j = tex // 128, tex % 128
    centre = torch.stack([(j + 0.5) / 128, 1 - (i + 0.5) / 128], -1)
    assert (uv - centre).abs().max() < 1e-5
    assert (lay.part[lay.mask] >= 0).all() and (lay.part[~lay.mask] == -1).all()
    assert (anny.face_parts[fid] >= 0).all()  # no interior faces


def test_layout_is_cached_and_identical(anny, tmp_path):
    a = uv_layout(anny, 32, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    b = uv_layout(anny, 32, cache_dir=tmp_path)
    fresh = build_uv_layout(anny, 32)
    for x in (b, fresh):
        assert torch.equal(a.face_id, x.face_id) and torch.equal(a.mask, x.mask) and torch.equal(a.bary, x.bary)


def test_resolution_scales_the_texel_count(anny):
    n64 = build_uv_layout(anny, 64).num_texels
    n128 = build_uv_layout(anny, 128).num_texels
    assert 3.5 < n128 / n64 < 4.5
