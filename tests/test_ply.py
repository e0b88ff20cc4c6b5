"""3DGS .ply files: exact round trip, standard layout, clear errors."""

import numpy as np
import pytest
import torch
from plyfile import PlyData

from genlca.avatar import to_gaussians
from genlca.render.ply import PlyFormatError, load_ply, save_ply


def test_avatar_round_trip_is_exact(anny, layout128, template, tmp_path):
    g = to_gaussians(template, anny, layout128, canonical=True)
    path = save_ply(tmp_path / "a.ply", g, template, layout128.texels)
    g2, av2 = load_ply(path)
    assert av2 is not None
    assert torch.equal(av2.maps, template.maps)
    assert torch.equal(av2.shape, template.shape) and av2.body_model == "anny"
    assert torch.equal(g2.means, g.means)
    assert torch.allclose(g2.colors, g.colors, atol=1e-6) and torch.allclose(g2.opacities, g.opacities, atol=1e-6)
    assert torch.allclose(g2.scales, g.scales, rtol=1e-5) and torch.allclose(g2.quats, g.quats, atol=1e-6)
    # Saving what was loaded gives the same bytes.
    save_ply(tmp_path / "b.ply", to_gaussians(av2, anny, layout128, canonical=True), av2, layout128.texels)
    assert (tmp_path / "a.ply").read_bytes() == (tmp_path / "b.ply").read_bytes()


def test_standard_3dgs_layout(anny, layout128, template, tmp_path):
    g = to_gaussians(template, anny, layout128, canonical=True)
    save_ply(tmp_path / "a.ply", g, template, layout128.texels)
    ply = PlyData.read(str(tmp_path / "a.ply"))
    names = ply["vertex"].data.dtype.names
    std = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
           "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert list(names[:17]) == std
    assert ply["vertex"].count == layout128.num_texels
    assert all(ply["vertex"].data[k].dtype == np.float32 for k in std)


def test_plain_3dgs_file_loads_without_avatar(tmp_path):
    from genlca.render.gaussians import Gaussians

    g = Gaussians(torch.rand(5, 3), torch.tensor([[1.0, 0, 0, 0]]).repeat(5, 1), torch.full((5, 3), 0.01),
                  torch.full((5,), 0.5), torch.rand(5, 3))
    save_ply(tmp_path / "plain.ply", g)
    g2, avatar = load_ply(tmp_path / "plain.ply")
    assert avatar is None and torch.allclose(g2.means, g.means)


def test_bad_files_give_clear_errors(tmp_path):
    bad = tmp_path / "notes.ply"
    bad.write_text("hello")
    with pytest.raises(PlyFormatError, match="notes.ply"):
        load_ply(bad)
    with pytest.raises(FileNotFoundError, match="missing.ply"):
        load_ply(tmp_path / "missing.ply")
    mesh = tmp_path / "mesh.ply"
    PlyData([__import__("plyfile").PlyElement.describe(np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")]),
                                                       "vertex")]).write(str(mesh))
    with pytest.raises(PlyFormatError, match="missing properties"):
        load_ply(mesh)
