"""The end-of-fit (and periodic) dynamics analysis as a Lightning callback, its figures sent to
every image-capable logger."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from gru_learn.analysis import Analysis, AnalysisConfig, timeline
from gru_learn.analysis.result import AnalysisResult
from gru_learn.analysis.text import one_line, target_period, text_summary
from gru_learn.errors import UserError
from gru_learn.training.callbacks import log_figure, log_text
from gru_learn.training.checkpoint import analyze_trained


class DynamicsAnalysis(Callback):
    """Read the trained GRU as a dynamical system and compare it with the target system
    (``gru_learn.analysis.analyze``: fixed points, cycles and continuous attractors found on
    both sides, a graded topology verdict, and the model's own rollout for its predictions).

    At the end of fit: ``<log_dir>/analysis/summary.json`` plus ``phase_portrait.png``,
    ``comparison.png``, ``timeseries.png`` and ``timeline.png``, the same figures and a text
    summary (TEXT tab) in every logger that takes them. The final numbers (topology match,
    period errors, d_stsp...) are not logged here as one-point charts: ``fit`` logs them with
    the hyperparameters for TensorBoard's HPARAMS tab
    (``gru_learn.training.hparams``, ``results/*``).

    During training, the topology's history (``gru_learn.analysis.timeline``): a snapshot at
    the start and every ``every_n_epochs`` epochs (default: every 10 % of training), the end
    analysis as the last one, scalars ``timeline/*`` at each, and in summary.json a
    ``timeline`` key with the snapshots and the bifurcations between them named ("epoch
    240-260: Hopf"). ``timeline="light"`` (default): fixed points and kinds (exhaustive in
    d <= 3), cycles only in d <= 2, no figures until the end; ``"full"``: the whole analysis
    at each snapshot (continuous-attractor coverage and the comparison's numbers as
    ``timeline/*`` curves, its figures logged); ``"off"``: none. The snapshots are part of
    the callback's state in every checkpoint, so a run resumed with ``--ckpt_path`` keeps (and
    logs again, in its own run folder) the history from before the interruption. A failing
    analysis never touches the checkpoints: the reason goes into summary.json and a warning.

    Args:
        enabled: run at all (``--analysis.enabled false`` turns it off).
        every_n_epochs: snapshot the topology every N epochs (None: max_epochs // 10).
        timeline: "light", "full" or "off".
        n_initial, long_steps, cycles: see ``gru_learn.analysis.AnalysisConfig``.
    """

    def __init__(self, enabled: bool = True, every_n_epochs: int | None = None,
                 timeline: str = "light", n_initial: int = 32, long_steps: int = 1000,
                 cycles: bool = True) -> None:
        super().__init__()
        if every_n_epochs is not None and every_n_epochs <= 0:
            raise UserError(f"every_n_epochs must be positive, got {every_n_epochs}")
        if timeline not in ("light", "full", "off"):
            raise UserError(f"timeline must be light, full or off, got {timeline!r}")
        self.enabled, self.every_n_epochs, self.timeline = enabled, every_n_epochs, timeline
        self.config = AnalysisConfig(n_initial=n_initial, long_steps=long_steps, cycles=cycles)
        self.last: Analysis | None = None
        self.snapshots: list[dict[str, Any]] = []
        self.steps: list[int] = []  # the global step each snapshot was logged at
        self._restored: dict[str, list[Any]] | None = None

    def state_dict(self) -> dict[str, Any]:
        """The timeline so far, saved in every checkpoint (Lightning's callback state)."""
        return {"snapshots": list(self.snapshots), "steps": list(self.steps)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """The timeline of the checkpoint a run resumes from (taken up in on_train_start)."""
        self._restored = {"snapshots": list(state_dict.get("snapshots") or []),
                          "steps": list(state_dict.get("steps") or [])}

    def _run(self, trainer: L.Trainer, module: L.LightningModule, figures: bool = True
             ) -> Analysis:
        was_training = module.training
        module.eval()
        try:
            return analyze_trained(module, trainer.datamodule, self.config, figures=figures)
        finally:
            module.train(was_training)

    def _log(self, trainer: L.Trainer, analysis: Analysis) -> None:
        for name, fig in analysis.figures.items():
            log_figure(trainer.loggers, f"analysis/{name}", fig, trainer.global_step)

    @staticmethod
    def _log_snapshot(trainer: L.Trainer, snap: dict[str, Any], step: int) -> None:
        scalars = timeline.timeline_scalars(snap)
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)

    def _interval(self, trainer: L.Trainer) -> int:
        return self.every_n_epochs or max(1, (trainer.max_epochs or 10) // 10)

    def _snapshot(self, trainer: L.Trainer, module: L.LightningModule, epoch: int,
                  log: bool = True) -> None:
        """One timeline snapshot (light or full) at ``epoch`` (its scalars logged unless not
        ``log``); never stops training."""
        if not (self.enabled and self.timeline != "off") or not trainer.is_global_zero:
            return
        try:
            if self.timeline == "light":
                snap = timeline.snapshot(module.cell, epoch, cycles=self.config.cycles,
                                         seed=self.config.seed)
            else:
                if trainer.datamodule is None:
                    return
                start = time.perf_counter()
                analysis = self._run(trainer, module)
                snap = timeline.from_summary(analysis.summary, epoch,
                                             time.perf_counter() - start)
                self._log(trainer, analysis)
                analysis.close()
            self.snapshots.append(snap)
            self.steps.append(trainer.global_step)
            if log:
                self._log_snapshot(trainer, snap, trainer.global_step)
        except Exception as e:  # a periodic analysis must never stop training
            rank_zero_warn(f"dynamics analysis at epoch {epoch} failed: {e}")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A fresh fit starts an empty timeline; a resumed one takes up the checkpoint's
        snapshots (those up to the epoch it resumes at), logs them again at their steps when
        it runs in another folder than the checkpoint's run (in that run's own folder they
        are logged already), then snapshots the resumed epoch unless it has it already (its
        scalars not logged again where that run's end-of-fit analysis logged them)."""
        restored, self._restored = self._restored or {"snapshots": [], "steps": []}, None
        epoch = trainer.current_epoch
        kept = [(snap, step) for snap, step in zip(
            restored["snapshots"], restored["steps"], strict=False) if snap["epoch"] <= epoch]
        self.snapshots, self.steps = [s for s, _ in kept], [int(t) for _, t in kept]
        in_place = _continues_in_place(trainer)
        if self.enabled and self.timeline != "off" and trainer.is_global_zero and not in_place:
            for snap, step in kept:
                self._log_snapshot(trainer, snap, step)
        if not self.snapshots or self.snapshots[-1]["epoch"] != epoch:
            self._snapshot(trainer, pl_module, epoch,
                           log=not (in_place and _ended_at(trainer.log_dir, epoch)))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self._interval(trainer) == 0 and epoch < (trainer.max_epochs or 0):
            self._snapshot(trainer, pl_module, epoch)

    def _timeline(self, trainer: L.Trainer, final: dict[str, Any] | None,
                  dt: float | None) -> dict[str, Any] | None:
        """The timeline with the end-of-fit analysis as its last snapshot (its scalars
        logged, so the ``timeline/*`` curves reach the end of training)."""
        if self.timeline == "off":
            return None
        snaps = list(self.snapshots)
        if final is not None and final.get("learned"):
            last = timeline.from_summary(final, trainer.current_epoch,
                                         numbers=self.timeline == "full")
            if snaps and snaps[-1]["epoch"] == last["epoch"]:
                snaps.pop()
            snaps.append(last)
            self._log_snapshot(trainer, last, trainer.global_step)
        out = timeline.timeline_summary(snaps, dt)
        if out["events"]:
            rank_zero_info("topology over training:\n" + timeline.line(out["events"]))
        return out

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or trainer.datamodule is None or not trainer.is_global_zero:
            return
        out = Path(trainer.log_dir or trainer.default_root_dir) / "analysis"
        dt = getattr(trainer.datamodule, "dt", None)
        if getattr(pl_module, "diverged", None):  # nothing worth reading: say why, quickly
            AnalysisResult.failed(f"skipped: {pl_module.diverged}",
                                  self._timeline(trainer, None, dt)).write(out / "summary.json")
            return
        try:
            analysis = self._run(trainer, pl_module)
            line_ = self._timeline(trainer, analysis.summary, dt)
            if line_ is not None:
                analysis.summary["timeline"] = line_
                if len(line_["snapshots"]) > 1:
                    from gru_learn.analysis.figures.timeline import timeline_figure

                    analysis.figures["timeline"] = timeline_figure(
                        line_, dt, target_period(analysis.summary))
            path = analysis.save(out)
            self._log(trainer, analysis)
            log_text(trainer.loggers, "analysis/summary", text_summary(analysis.summary),
                     trainer.global_step)
            analysis.close()
            self.last = analysis
            print(f"dynamics analysis: {one_line(analysis.summary)} -> {path}")
        except Exception as e:
            AnalysisResult.failed(f"{type(e).__name__}: {e}",
                                  self._timeline(trainer, None, dt)).write(out / "summary.json")
            rank_zero_warn(f"dynamics analysis failed ({e}); checkpoints are intact; "
                           f"reason recorded in {out / 'summary.json'}")


def _continues_in_place(trainer: L.Trainer) -> bool:
    """Whether this fit resumes from a checkpoint of the run whose folder it logs to."""
    ckpt, log_dir = getattr(trainer, "ckpt_path", None), getattr(trainer, "log_dir", None)
    if not ckpt or not log_dir or not os.path.isfile(ckpt):
        return False
    return os.path.abspath(os.path.dirname(os.path.dirname(ckpt))) == os.path.abspath(log_dir)


def _ended_at(log_dir: str | None, epoch: int) -> bool:
    """Whether the run in ``log_dir`` ended at ``epoch`` with an end-of-fit analysis (whose
    timeline scalars were logged at that step)."""
    path = Path(log_dir or "") / "analysis" / "summary.json"
    try:
        line = AnalysisResult.read(path).timeline if path.is_file() else None
        snaps = (line or {}).get("snapshots") or []
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    return bool(snaps) and snaps[-1].get("epoch") == epoch
