"""Reading a checkpoint file a user names, with one-line errors: it must be readable, be ours
(a GRUForecaster's parameters and hyperparameters, as ``fit`` and ``compare`` write them) and
fit the model and data it is given to."""

from __future__ import annotations

import errno
import os
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gru_learn.errors import UserError
from gru_learn.files.atomic import atomic_path


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0].split(". ")[0][:160] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def save_torch_file(obj: Any, path: str | os.PathLike, suffix: str = ".tmp") -> None:
    """``torch.save`` through a temporary beside ``path`` and a rename (a reader never sees
    half a file). torch's writer reports a failed write (a full disk) as a RuntimeError
    ("unexpected pos ..."): it is raised as the OSError it is, naming ``path`` (ENOSPC when
    the disk has less room left than the object's tensors need, else EIO)."""
    try:
        with atomic_path(path, suffix=suffix) as tmp:
            torch.save(obj, tmp)
    except RuntimeError as e:
        text = str(e)
        if "PytorchStreamWriter" not in text and "unexpected pos" not in text:
            raise
        folder = Path(path).parent
        try:
            full = shutil.disk_usage(folder if str(folder) else ".").free < 1 << 20
        except OSError:
            full = False
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from None


def load_torch_file(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """What a ``torch.save`` file at ``path`` holds, plain tensors and values only (a file is
    never allowed to run code), or a UserError naming ``what`` it should have been: missing,
    not a file, unreadable (truncated, not a torch file)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise UserError(f"{what} {str(path)!r} is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise UserError(f"cannot read {what} {str(path)!r}: {e.strerror}") from None
    if head[:1] == b"\x80" and not zipfile.is_zipfile(path):  # pickled, not a torch.save zip
        raise UserError(f"cannot read {what} {str(path)!r}: a plain pickle (or a torch file "
                        "older than torch 1.6), not a torch.save file; save it with torch.save")
    try:
        with warnings.catch_warnings():  # torch's own notes about the pickle: one line only
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated, foreign or not a torch file at all
        raise UserError(f"cannot read {what} {str(path)!r}: not a complete torch {what} "
                        f"file ({_first_line(e)})") from None


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at ``path`` as a dict, read once, or a UserError saying why it cannot be
    used: missing, unreadable (truncated, not a torch file), or not a GRUForecaster
    checkpoint."""
    ckpt = load_torch_file(path, "checkpoint")
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    if not (isinstance(hp, dict) and "hidden_size" in hp and isinstance(state, dict)
            and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise UserError(f"{str(path)!r} is not a gru_learn checkpoint (no GRUForecaster "
                        "parameters and hyperparameters); give a .ckpt written by fit or compare")
    return ckpt


def check_fits(ckpt: dict[str, Any], model: nn.Module, path: str | os.PathLike,
               obs_dim: int | None = None) -> None:
    """A UserError unless ``ckpt``'s parameters have exactly the names and shapes of
    ``model``'s (which was built for the data: ``obs_dim`` observed dimensions) and are
    finite."""
    state, want = ckpt["state_dict"], model.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise UserError(f"checkpoint {str(path)!r} does not hold this model's parameters "
                        f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for name, value in want.items():
        have = tuple(state[name].shape)
        if have != tuple(value.shape):
            hp = ckpt["hyper_parameters"]
            data = f" and the data's {obs_dim} observed dimension(s)" if obs_dim else ""
            raise UserError(
                f"checkpoint {str(path)!r} does not fit: {name} is {have} there but "
                f"{tuple(value.shape)} here (checkpoint: hidden_size {hp.get('hidden_size')}, "
                f"obs_dim {hp.get('obs_dim')}; here: hidden_size "
                f"{getattr(model, 'hparams', {}).get('hidden_size')}{data})")
        if state[name].is_floating_point() and not torch.isfinite(state[name]).all():
            raise UserError(f"checkpoint {str(path)!r} holds non-finite values in {name}")
