"""PyAV H.264 video write/read."""

import numpy as np
import pytest

from genlca.data.video import read_video, write_video


def test_write_and_read_back(tmp_path):
    frames = np.zeros((6, 32, 48, 3), np.uint8)
    for t in range(6):
        frames[t, :, : 8 * (t + 1)] = (200, 40, 40)
    path = write_video(tmp_path / "v.mp4", frames, fps=12)
    back = read_video(path)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 6
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_odd_sizes_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", [np.zeros((31, 48, 3), np.uint8)])
    assert list(tmp_path.iterdir()) == []
