"""Lightning checkpoints written through `genlca.io_utils.atomic_path`.

Lightning's own `_atomic_save` stages the file in the system temp folder and then `shutil.move`s it: across file
systems that is a copy into place, which a kill can cut in half (and the staged file is left in /tmp). Here the
temporary sits beside `last.ckpt` and is renamed over it, so a resumed run always finds a whole checkpoint.
"""

from __future__ import annotations

from lightning.pytorch.plugins.io import TorchCheckpointIO

from genlca.io_utils import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        import torch

        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
