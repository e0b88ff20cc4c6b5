"""The triangle rasterizer: coverage, barycentrics, z-buffer."""

import torch

from genlca.render.mesh_raster import rasterize_triangles


def test_square_of_two_triangles_covers_exactly_its_pixels():
    tri = torch.tensor([[[2.0, 2.0], [8.0, 2.0], [8.0, 8.0]], [[2.0, 2.0], [8.0, 8.0], [2.0, 8.0]]])
    f = rasterize_triangles(tri, 10, 10)
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[2:8, 2:8] = True
    assert torch.equal(f.mask, expected)
    b = f.bary[f.mask]
    assert torch.allclose(b.sum(-1), torch.ones(len(b))) and (b >= 0).all()


def test_nearest_triangle_wins_and_depth_is_interpolated():
    tri = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]] * 2)
    depth = torch.tensor([[5.0, 5.0, 5.0], [2.0, 2.0, 2.0]])
    f = rasterize_triangles(tri, 10, 10, tri_depth=depth)
    assert (f.face_id[f.mask] == 1).all()
    assert torch.allclose(f.depth[f.mask], torch.full_like(f.depth[f.mask], 2.0))
    assert torch.isinf(f.depth[~f.mask]).all()
