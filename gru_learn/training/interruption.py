"""Ctrl-C (SIGINT) and SIGTERM during a Lightning command (``fit``, ``validate``, ``test``,
``predict``): stop like every other command (exit 130 or 143, one line), and let ``fit``
resume from the state it was stopped in.

Lightning turns a KeyboardInterrupt into ``sys.exit(1)`` and SIGTERM into a stop at the next
step, neither saving the state reached. Here both signals raise :class:`Interrupted`, which
is no KeyboardInterrupt, so it passes through Lightning's handler (``on_exception`` hooks,
loggers closed as failed) to the command. While training runs, the signal is only recorded:
at the end of the current epoch, after every other epoch-end hook, ``last.ckpt`` is written
(by the run's :class:`~gru_learn.training.callbacks.LastCheckpoint`, under a temporary name, then
renamed) with that epoch's state, the one a checkpoint written there when no signal comes
would hold, so ``--ckpt_path <run>/checkpoints/last.ckpt`` continues exactly; the command
stops as the next epoch would start (the stopped epoch's metrics are logged). A second
signal before that epoch ends stops at once (resuming then starts from the previous
``last.ckpt``). Outside training (setup, validation before training, the end-of-fit test and
analysis) a signal stops at once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number
WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class Interrupted(BaseException):
    """A signal stopped the command (a BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it; not a KeyboardInterrupt, which Lightning exits 1 on)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signal.Signals(signum)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + int(self.signum))

    @property
    def word(self) -> str:
        return WORDS.get(self.signum, "stopped")


class StopOnSignal(Checkpoint):
    """SIGINT and SIGTERM raise :class:`Interrupted`: at once outside training, at the end of
    the current epoch during it, with ``last.ckpt`` saved first (see the module docstring).

    A :class:`~lightning.pytorch.callbacks.Checkpoint` so that Lightning runs its epoch-end
    hook with the checkpoint callbacks, after the model's own ``on_train_epoch_end``: the state
    saved is the one :class:`~gru_learn.training.callbacks.LastCheckpoint` saves at an epoch's end.
    List it after the ModelCheckpoints (``trainer.checkpoint_callback``, which Lightning reads
    for ``ckpt_path="best"``, is the first of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: signal.Signals | None = None
        self.training = False
        self.trainer: L.Trainer | None = None
        self.saved: str | None = None  # the checkpoint written at the interruption
        self.signals: list[signal.Signals] = []  # those handled (inside installed())

    # --- the signal handler -----------------------------------------------------------------
    def handler(self, signum: int, frame: FrameType | None) -> None:
        """Record the signal during training (the first one); raise otherwise."""
        if self.training and self.received is None:
            self.received = signal.Signals(signum)
            return
        self.training = False
        raise Interrupted(signum)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM go to :meth:`handler` (main thread only: elsewhere
        signals are left alone)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        # an ignored signal stays ignored (bash starts `cmd &` in a script ignoring SIGINT)
        self.signals = [s for s in EXIT_CODES if signal.getsignal(s) is not signal.SIG_IGN]
        previous = {s: signal.signal(s, self.handler) for s in self.signals}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            self.signals = []

    # --- Lightning hooks ----------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.trainer = trainer

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's own SIGTERM handler (installed for the run) stops mid-epoch without a
        # checkpoint: ours replaces it until training ends (Lightning restores the original)
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                signal.signal(s, self.handler)
        self.received, self.saved, self.training = None, None, True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.received is not None and self.saved is None:
            self.saved = save_last(trainer) or ""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # stop here rather than in on_train_epoch_end: the stopped epoch's metrics are logged
        # and its epoch counted by then (the checkpoint holds that epoch's end, as usual)
        if self.saved is not None:
            self.training = False
            raise Interrupted(self.received)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a signal during the last epoch: training is complete and last.ckpt written
        self.training = False
        if self.received is not None:
            raise Interrupted(self.received)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        self.training = False

    def last_checkpoint(self) -> str | None:
        """The run's ``last.ckpt`` when it exists (the one to resume from)."""
        path = self.saved or _last_path(self.trainer)  # "" : the run has no LastCheckpoint
        return path if path and os.path.isfile(path) else None


def _last_checkpoint_callback(trainer: L.Trainer | None) -> Any:
    from gru_learn.training.callbacks import LastCheckpoint

    for c in getattr(trainer, "checkpoint_callbacks", None) or []:
        if isinstance(c, LastCheckpoint) and c.dirpath:
            return c
    return None


def _last_path(trainer: L.Trainer | None) -> str | None:
    c = _last_checkpoint_callback(trainer)
    return c.format_checkpoint_name({}) if c is not None else None


def save_last(trainer: L.Trainer) -> str | None:
    """Write the run's ``last.ckpt`` now (unless this step's is written already); its path, or
    None when the run has no :class:`~gru_learn.training.callbacks.LastCheckpoint`."""
    c = _last_checkpoint_callback(trainer)
    return None if c is None else c.save_now(trainer)
