"""UV layout: texels inside charts, exact barycentrics, parts, caching."""

import torch

from genlca.body.uv_layout import build_uv_layout, uv_layout
from tests.body_checks import check_texels_on_faces


def test_layout_texels_lie_on_their_faces(anny, layout128):
    lay = layout128
    assert lay.resolution == 128 and lay.mask.shape == (128, 128)
    assert 0.4 < lay.mask.float().mean() < 0.8
    fid = check_texels_on_faces(lay, anny)
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
