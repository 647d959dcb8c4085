"""How ``fit``'s checkpoints reach the disk: written as every other file of ours."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from gru_learn.files.torch_files import save_torch_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written by :func:`gru_learn.files.atomic.atomic_path`: into a temporary beside
    the target, flushed to disk, renamed onto it, the folder flushed. (Lightning's own writes a
    temporary in the system's temp folder and ``shutil.move``s it, which copies into the target
    when the two are on different file systems, a tmpfs /tmp: a kill during that copy leaves a
    truncated ``last.ckpt``.) Remote paths (``s3://``...) are left to Lightning."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_torch_file(checkpoint, path, suffix=".ckpt")
        return None
