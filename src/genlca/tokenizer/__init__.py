"""The 3D tokenizer: video frames + body fits -> UV Gaussian tokens with per-texel visibility."""
