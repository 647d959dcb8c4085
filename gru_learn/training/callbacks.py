"""Training callbacks: a per-epoch progress bar for full-batch training, and the end-of-fit
(and periodic) dynamics analysis with its figures sent to every image-capable logger."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from gru_learn.analysis import Analysis, AnalysisConfig, analyze, timeline
from gru_learn.errors import UserError
from gru_learn.files.atomic import write_json_atomic


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the newest state every ``every_n_epochs`` and at the end of training, so a
    run can be resumed (exactly) from where it stopped. (ModelCheckpoint's own ``save_last``
    only refreshes it when a new best is saved.)

    Every 100 epochs by default: an epoch of the paper's task takes ~10 ms and a checkpoint
    ~10 ms, so saving every 10 epochs cost a tenth of the training time; 100 epochs of work is
    what an interrupted run can lose."""

    def __init__(self, every_n_epochs: int = 100) -> None:
        super().__init__(filename="last", monitor=None, save_top_k=1,
                         every_n_epochs=every_n_epochs, save_on_train_epoch_end=True,
                         enable_version_counter=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # ModelCheckpoint deep-copies every logged metric at every epoch end before it looks at
        # the epoch number; do that only on the epochs that save
        if (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            super().on_train_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if getattr(pl_module, "diverged", None) and not trainer.fast_dev_run:
            # the model restored its last finite parameters: always save those
            self._save_checkpoint(trainer, self.format_checkpoint_name({}))
        elif self._last_global_step_saved != trainer.global_step and not trainer.fast_dev_run:
            self._save_checkpoint(trainer, self.format_checkpoint_name({}))

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        """After a divergence, every checkpoint holds the last parameters whose loss was
        finite (restored by the model): label it with their epoch and step (the number of
        updates they have had) and the reason, not with the epoch training stopped at."""
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        if getattr(pl_module, "diverged", None):
            kept = getattr(pl_module, "last_finite", None) or {"epoch": 0, "step": 0}
            checkpoint["epoch"], checkpoint["global_step"] = kept["epoch"], kept["step"]
            checkpoint["diverged"] = pl_module.diverged


class EpochProgressBar(ProgressBar):
    """One bar over epochs (full-batch training has one step per epoch), with the latest
    losses, refreshed every ``refresh_rate`` epochs so it costs nothing measurable."""

    def __init__(self, refresh_rate: int = 10) -> None:
        super().__init__()
        self.refresh_rate = refresh_rate
        self._enabled = True
        self.bar: tqdm | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled and trainer.is_global_zero:
            self.bar = tqdm(total=trainer.max_epochs, initial=trainer.current_epoch,
                            desc="fit", unit="epoch", dynamic_ncols=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is None:
            return
        done = trainer.current_epoch + 1
        if done % self.refresh_rate == 0 or done == trainer.max_epochs:
            metrics = {k: f"{float(v):.4g}" for k, v in self.get_metrics(trainer, pl_module).items()
                       if k != "v_num"}
            self.bar.set_postfix(metrics, refresh=False)
            self.bar.update(done - self.bar.n)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def log_figure(loggers: list[Any], name: str, fig: Figure, step: int) -> None:
    """Send ``fig`` to every logger that can show images: TensorBoard (``add_figure``),
    Weights & Biases (``log_image``) and MLflow (``log_figure`` on the run); others skip."""
    for logger in loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_figure"):
            experiment.add_figure(name, fig, global_step=step, close=False)
        elif hasattr(logger, "log_image"):  # WandbLogger: an RGB array (a documented format)
            fig.canvas.draw()
            logger.log_image(key=name, images=[np.asarray(fig.canvas.buffer_rgba())[..., :3]],
                             step=step)
        elif hasattr(experiment, "log_figure") and hasattr(logger, "run_id"):  # MLflowLogger
            experiment.log_figure(logger.run_id, fig, f"{name}_{step}.png")


def log_text(loggers: list[Any], name: str, text: str, step: int) -> None:
    """Send ``text`` (markdown) to every logger with a text view (TensorBoard's TEXT tab);
    others skip."""
    for logger in loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_text"):
            experiment.add_text(name, text, global_step=step)


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
            return analyze(module, trainer.datamodule, self.config, figures=figures)
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

    def _snapshot(self, trainer: L.Trainer, module: L.LightningModule, epoch: int) -> None:
        """One timeline snapshot (light or full) at ``epoch``; never stops training."""
        if not (self.enabled and self.timeline != "off") or not trainer.is_global_zero:
            return
        try:
            if self.timeline == "light":
                snap = timeline.snapshot(module, epoch, cycles=self.config.cycles,
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
            self._log_snapshot(trainer, snap, trainer.global_step)
        except Exception as e:  # a periodic analysis must never stop training
            rank_zero_warn(f"dynamics analysis at epoch {epoch} failed: {e}")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A fresh fit starts an empty timeline; a resumed one takes up the checkpoint's
        snapshots (those up to the epoch it resumes at), logs them again to this run's
        loggers at their steps, then snapshots the resumed epoch unless it has it already."""
        restored, self._restored = self._restored or {"snapshots": [], "steps": []}, None
        epoch = trainer.current_epoch
        kept = [(snap, step) for snap, step in zip(
            restored["snapshots"], restored["steps"], strict=False) if snap["epoch"] <= epoch]
        self.snapshots, self.steps = [s for s, _ in kept], [int(t) for _, t in kept]
        if self.enabled and self.timeline != "off" and trainer.is_global_zero:
            for snap, step in kept:
                self._log_snapshot(trainer, snap, step)
        if not self.snapshots or self.snapshots[-1]["epoch"] != epoch:
            self._snapshot(trainer, pl_module, epoch)

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
            write_json_atomic(out / "summary.json", {
                "learned": None, "target": None, "comparison": None,
                "timeline": self._timeline(trainer, None, dt),
                "errors": {"analysis": f"skipped: {pl_module.diverged}"}})
            return
        try:
            analysis = self._run(trainer, pl_module)
            line_ = self._timeline(trainer, analysis.summary, dt)
            if line_ is not None:
                analysis.summary["timeline"] = line_
                if len(line_["snapshots"]) > 1:
                    analysis.figures["timeline"] = timeline.timeline_figure(
                        line_, dt, _target_period(analysis.summary))
            path = analysis.save(out)
            self._log(trainer, analysis)
            log_text(trainer.loggers, "analysis/summary", text_summary(analysis.summary),
                     trainer.global_step)
            analysis.close()
            self.last = analysis
            print(f"dynamics analysis: {one_line(analysis.summary)} -> {path}")
        except Exception as e:
            write_json_atomic(out / "summary.json", {
                "learned": None, "target": None, "comparison": None,
                "timeline": self._timeline(trainer, None, dt),
                "errors": {"analysis": f"{type(e).__name__}: {e}"}})
            rank_zero_warn(f"dynamics analysis failed ({e}); checkpoints are intact; "
                           f"reason recorded in {out / 'summary.json'}")


def _target_period(summary: dict[str, Any]) -> float | None:
    cycles = [c for c in (summary.get("target") or {}).get("limit_cycles") or [] if c.get("stable")]
    return cycles[0].get("period") if cycles else None


def text_summary(summary: dict[str, Any]) -> str:
    """The analysis as markdown for TensorBoard's TEXT tab: the one-line verdict, the topology
    of each side, periods in target time (GRU steps in brackets) and the timeline's events."""
    learned, target = summary.get("learned") or {}, summary.get("target") or {}
    comp = summary.get("comparison") or {}
    lines = [f"**{one_line(summary)}**", ""]
    lines.append(f"- learned: {timeline.describe(learned.get('signature') or {})}")
    if target:
        lines.append(f"- target: {timeline.describe(target.get('signature') or {})}")
    if comp.get("topology_reason"):
        lines.append(f"- topology: {comp.get('topology_verdict')} ({comp['topology_reason']})")
    for c in learned.get("limit_cycles") or []:
        if c.get("stable") and c.get("period") is not None:
            lines.append(f"- learned ODE cycle: period {c['period']:.4g} "
                         f"({c.get('period_steps', float('nan')):.4g} GRU steps)")
    loop = learned.get("closed_loop") or {}
    if loop.get("period") is not None:
        lines.append(f"- closed loop ({loop.get('rollout')}): period {loop['period']:.4g} "
                     f"({loop['period_steps']:.4g} GRU steps)")
    for k in ("d_stsp", "d_h", "test_mse", "cycle_hausdorff"):
        if isinstance(comp.get(k), (int, float)):
            lines.append(f"- {k}: {comp[k]:.4g}")
    events_ = (summary.get("timeline") or {}).get("events") or []
    if events_:
        lines += ["", "**topology over training**", ""]
        lines += [f"- {e}" for e in timeline.line(events_).splitlines()]
    lines += ["", f"({summary.get('time_unit', '')})"]
    return "\n".join(lines)


def one_line(summary: dict[str, Any]) -> str:
    """A short human summary of an analysis: topology, match, periods."""
    comp, learned = summary.get("comparison") or {}, summary.get("learned") or {}
    sig = learned.get("signature") or {}
    parts = [f"{sig.get('stable_points', '?')} stable / {sig.get('unstable_points', '?')} "
             f"unstable points, {sig.get('saddles', '?')} saddles, "
             f"{sig.get('stable_cycles', '?')} stable cycles"]
    for kind in ("ring", "line", "plane"):
        if sig.get(f"{kind}_attractors"):
            parts[0] += f", {sig[f'{kind}_attractors']} {kind} attractor(s)"
    if "topology_match" in comp:
        verdict = comp.get("topology_verdict")
        parts.append(f"topology_match={comp['topology_match']}"
                     + (f" ({verdict})" if verdict else ""))
    loop = learned.get("closed_loop") or {}
    if loop.get("behaviour"):
        parts.append(f"closed loop {loop['behaviour']}")
    if comp.get("period_rel_error") is not None:
        parts.append(f"period error {100 * comp['period_rel_error']:.1f}%")
    return "; ".join(parts)
