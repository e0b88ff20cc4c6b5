"""Video I/O, drops, manifests and the synthetic in-the-wild video generator."""
