"""GenLCA-Ops: 3D diffusion for full-body Gaussian avatars from in-the-wild videos.

The library never imports Dagster: orchestration lives in the repo's `assets/` and
`orchestration/` packages and only calls into here.
"""

__version__ = "0.1.0"
