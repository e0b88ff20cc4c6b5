"""Gaussian and mesh rendering: gsplat on CUDA, a PyTorch rasterizer on CPU, .ply I/O."""
