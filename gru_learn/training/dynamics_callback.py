"""The end-of-fit (and periodic) dynamics analysis as a Lightning callback, its figures sent to
every image-capable logger: of our ``GRUForecaster`` against its data, or of the recurrent
network inside any LightningModule (``rnn=``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from gru_learn.analysis import Analysis, AnalysisConfig, timeline
from gru_learn.analysis.module_network import ModuleSpec
from gru_learn.analysis.result import AnalysisResult
from gru_learn.analysis.text import one_line, target_period, text_summary
from gru_learn.errors import UserError
from gru_learn.training.callbacks import log_figure, log_text
from gru_learn.training.checkpoint import analyze_trained
from gru_learn.training.hparams import final_metrics, log_final


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

    Any LightningModule (``rnn=``): the recurrent network it names is read alone at constant
    inputs (``gru_learn.analysis.module_network.analyze_module``: fixed points, cycles,
    continuous attractors, at ``input``), beside the ``target`` if one is given; checked at
    setup (a module without that network, a missing layer, an input of the wrong size: a
    one-line UserError before training starts). At the end of fit the same files and logged
    figures and text, and the final numbers (``results/*``: counts of stable points and cycles,
    and with a target the topology match, state R^2, cycle consistency) with the module's
    hyperparameters for every logger (TensorBoard's HPARAMS tab). Nothing of our model or data
    is used: no DataModule is needed, and times are in the network's steps.

    Args:
        enabled: run at all (``--analysis.enabled false`` turns it off).
        every_n_epochs: snapshot the topology every N epochs (None: max_epochs // 10).
        timeline: "light", "full" or "off".
        n_initial, long_steps, cycles: see ``gru_learn.analysis.AnalysisConfig``.
        rnn: in a module of your own, where its ``nn.GRU`` / ``nn.GRUCell`` / ``nn.RNN`` /
            ``nn.LSTM`` is: a dotted attribute path ("encoder.gru") or a callable of the module
            returning it (or the pair (network, readout)). None: our ``GRUForecaster``.
        readout: the ``nn.Linear`` reading its states (path or callable), optional.
        layer: for a multi-layer network, the layer to analyse (0, 1, ...) or "each".
        input: constant input(s) of the layer read, (p,) or (K, p); default zeros.
        states: hidden states from your runs (..., d), or a callable of the module returning
            them: seeds of the search, boxes of the figures, and the pairs for a target's states.
        target: a registered system name, or the target's true states (N, T, k) paired with
            ``states`` (N, T, d) (state R^2 and cycle consistency).
    """

    MODULE_OPTIONS = ("rnn", "readout", "layer", "input", "states", "target")

    def __init__(self, enabled: bool = True, every_n_epochs: int | None = None,
                 timeline: str = "light", n_initial: int = 32, long_steps: int = 1000,
                 cycles: bool = True, rnn: str | Callable[..., Any] | None = None,
                 readout: str | Callable[..., Any] | None = None, layer: int | str | None = None,
                 input: Any = None, states: Any = None, target: Any = None) -> None:
        super().__init__()
        self.spec = None if rnn is None else ModuleSpec(rnn, readout, layer, input)
        self.states, self.target = states, target
        if self.spec is None and any(v is not None for v in (readout, layer, input, states,
                                                             target)):
            raise UserError("readout, layer, input, states and target describe a module of "
                            "your own: name its recurrent network with rnn= too")
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

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """A module of your own: its network, layer, input and target checked before training
        (one-line UserErrors)."""
        if self.spec is None or not self.enabled:
            return
        self.spec.check(pl_module)
        if isinstance(self.target, str):
            from gru_learn.systems.registry import get_system

            get_system(self.target)

    def _run(self, trainer: L.Trainer, module: L.LightningModule, figures: bool = True
             ) -> Analysis:
        was_training = module.training
        module.eval()
        try:
            if self.spec is not None:
                from gru_learn.analysis.module_analysis import analyze_layers

                states = self.states(module) if callable(self.states) else self.states
                return analyze_layers(self.spec.networks(module), input=self.spec.input,
                                      states=states, target=self.target, config=self.config,
                                      figures=figures)
            return analyze_trained(module, trainer.datamodule, self.config, figures=figures)
        finally:
            module.train(was_training)

    def _light_cell(self, module: L.LightningModule) -> Any:
        """The cell a light snapshot reads: our model's, or the first layer read of a module of
        your own at its first constant input (None where that is not a GRU)."""
        if self.spec is None:
            return module.cell
        from gru_learn.analysis.api import as_inputs
        from gru_learn.analysis.network import autonomous_at
        from gru_learn.gru.cell import GRUCell

        cell = self.spec.networks(module)[0][1].cell
        if not isinstance(cell, GRUCell):
            return None
        x = None if self.spec.input is None else as_inputs(self.spec.input, cell.input_size)[0]
        return autonomous_at(cell, x)

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
                cell = self._light_cell(module)
                if cell is None:
                    return
                snap = timeline.snapshot(cell, epoch, cycles=self.config.cycles,
                                         seed=self.config.seed)
            else:
                if trainer.datamodule is None and self.spec is None:
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
        if final is not None and (final.get("learned") or final.get("inputs")):
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
        if not self.enabled or not trainer.is_global_zero or (
                trainer.datamodule is None and self.spec is None):
            return
        out = Path(trainer.log_dir or trainer.default_root_dir) / "analysis"
        dt = None if self.spec is not None else getattr(trainer.datamodule, "dt", None)
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
            if self.spec is not None:  # our own fit logs these with its losses
                self._log_final(trainer, pl_module, analysis)
            analysis.close()
            self.last = analysis
            print(f"dynamics analysis: {one_line(analysis.summary)} -> {path}")
        except Exception as e:
            AnalysisResult.failed(f"{type(e).__name__}: {e}",
                                  self._timeline(trainer, None, dt)).write(out / "summary.json")
            rank_zero_warn(f"dynamics analysis failed ({e}); checkpoints are intact; "
                           f"reason recorded in {out / 'summary.json'}")

    def _log_final(self, trainer: L.Trainer, module: L.LightningModule,
                   analysis: Analysis) -> None:
        """The module's hyperparameters and the analysis's final numbers (``results/*``) to
        every logger (TensorBoard: its HPARAMS tab)."""
        params = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
                  for k, v in dict(getattr(module, "hparams", {}) or {}).items()}
        params["analysis.rnn"] = self.spec.rnn if isinstance(self.spec.rnn, str) else "callable"
        metrics = {k: v for k, v in final_metrics({}, analysis.summary).items()
                   if not k.startswith("results/loss_")}
        for logger in trainer.loggers:
            log_final(logger, params, metrics, trainer.global_step)


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
