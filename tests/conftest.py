"""Shared fixtures. The Anny cache is built by `make setup` (minutes once per machine)."""

from __future__ import annotations

import pytest
import torch

torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """Small tensors: one intra-op thread is faster than several, and far faster on a shared, busy machine
    (OpenMP threads spin while waiting for a core). Modules opt in with `pytestmark`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def anny():
    from genlca.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="session")
def layout128(anny):
    from genlca.body.uv_layout import uv_layout

    return uv_layout(anny, 128)


@pytest.fixture(scope="session")
def template(anny, layout128):
    from genlca.avatar import template_avatar

    return template_avatar(anny, layout128)
