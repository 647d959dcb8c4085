"""What TensorBoard's HPARAMS tab shows for one run: its hyperparameters and its final metrics.

``fit`` and every member of a ``compare`` grid log the same names, so runs of both kinds sort and
filter side by side. The HPARAMS plugin needs three summaries per run (the experiment with the
metric names, the session start with the values of the hyperparameters, the session end), which
``torch.utils.tensorboard.summary.hparams`` writes; the value of each metric is read from an
ordinary scalar of the same tag, so the final metrics are also logged as scalars, one point each
at the last step, under ``results/*``. That group name is chosen to sort after ``loss`` and
``optim``: TensorBoard's SCALARS and TIME SERIES pages list groups alphabetically and open only
the first two, so a user sees the loss and optimiser curves, and the final numbers (a chart of
one dot each) stay folded away below them, in HPARAMS where they are compared. A number that is
undefined for a run (no cycle, so no period error) is NaN here and not written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gru_learn.analysis.result import AnalysisResult, number

PREFIX = "results/"  # the final metrics' group (see the module docstring)

# model hyperparameters shown as HPARAMS columns (when present in the model's hparams)
MODEL_KEYS = ("system", "hidden_size", "reset", "rollout", "lr", "lr_schedule", "forcing",
              "forcing_alpha", "forcing_alpha_schedule", "forcing_interval", "readout_init",
              "state_noise", "slowness", "mar_weight", "dt")
DATA_KEYS = ("n_train", "horizon", "window", "batch_size", "obs_noise_std")

# hyperparameters the HPARAMS table shows without ticking (see hparams_summaries)
SHOWN_FIRST = ("system", "hidden_size", "seed", "rollout", "lr")

METRICS = tuple(PREFIX + name for name in (  # the first five are shown without ticking
    "loss_test",  # test-split free-running MSE (fit: --test_after_fit)
    "topology_match",  # 1 when learned and target topology agree, else 0
    "period_rel_error",  # |T_rollout - T_target| / T_target
    "d_stsp",  # state-space divergence (closed loop vs target)
    "d_h",  # power-spectrum Hellinger distance
    "loss_val",  # final validation loss (free-running MSE)
    "loss_train",  # final training loss (the training objective)
    "ode_period_rel_error",  # the same for the ODE dh/dt = f(h)'s cycle
    "coverage",  # best learned continuous attractor's coverage of the target's
    "long_horizon_mse",  # mean MSE against clean truth over the long horizon
    "lyapunov_max",  # largest Lyapunov exponent of the model's rollout (1/time)
    "lyapunov_rel_error",  # |lambda_learned - lambda_target| / |lambda_target|
    "lyapunov_abs_error",  # |lambda_learned - lambda_target| (a ring's or line's target is 0)
    "state_r2",  # R^2 of the target's states from an affine map of the hidden states
    "cycle_consistency",  # R^2 of the hidden states brought back through the target's
    "dsa",  # Dynamical Similarity Analysis, hidden states against target states (dsa-metric)
    "memory_error_1h",  # median error of the remembered angle/position after 1 horizon
    "memory_error_10h",  # ... after 10 training horizons
    "memory_error_100h",  # ... after 100 training horizons
    "phi_inf",  # uniform norm of the flow along the learned manifold (per time unit)
    "stable_points",  # learned stable fixed points (isolated)
    "stable_cycles",  # learned stable limit cycles (0: no cycle)
    "continuous_attractors",  # learned attracting continuous attractors
    "analysis_seconds",  # wall-clock time of the end-of-fit analysis
))


def _value(x: Any) -> str | float | int | bool:
    """A value the HPARAMS plugin accepts (str, bool, int, float); None and others as text."""
    if isinstance(x, (bool, int, float, str)):
        return x
    return "none" if x is None else str(x)


def run_hparams(model: Mapping[str, Any], data: Mapping[str, Any] | None = None,
                **extra: Any) -> dict[str, str | float | int | bool]:
    """The run's hyperparameters, flat: the model's ``MODEL_KEYS``, the data's ``DATA_KEYS``
    (prefixed ``data.``), and ``extra`` (seed, epochs, method...)."""
    out = {k: _value(model[k]) for k in MODEL_KEYS if k in model}
    out.update({f"data.{k}": _value(data[k]) for k in DATA_KEYS if data and k in data})
    out.update({k: _value(v) for k, v in extra.items()})
    return out


def final_metrics(losses: Mapping[str, float | None],
                  summary: AnalysisResult | Mapping[str, Any] | None = None
                  ) -> dict[str, float]:
    """Every name of ``METRICS`` -> its value, NaN where undefined: ``losses`` has
    ``train``/``val``/``test``; ``summary`` is an analysis result (or summary.json's dict; its
    numbers are :meth:`AnalysisResult.scalars`), or None."""
    out = dict.fromkeys(METRICS, math.nan)
    for split in ("train", "val", "test"):
        out[f"{PREFIX}loss_{split}"] = number(losses.get(split), math.nan)
    if summary:
        result = AnalysisResult.of(summary)
        out.update({PREFIX + k: v for k, v in result.scalars().items() if PREFIX + k in out})
        seconds = result.analysis_seconds()
        if seconds is not None:
            out[PREFIX + "analysis_seconds"] = seconds
    return out


def hparams_summaries(params: Mapping[str, Any], metrics: Mapping[str, float]) -> tuple:
    """The three HPARAMS summaries (experiment, session start, session end) for a
    ``SummaryWriter``'s file writer; the metrics' values go in as scalars separately.

    TensorBoard's table shows the first five hyperparameters and metrics and hides the rest
    (a tick box each): metrics in the order of ``METRICS``, hyperparameters sorted with those
    marked ``differs`` first, so ``SHOWN_FIRST`` are marked."""
    from tensorboard.plugins.hparams import plugin_data_pb2
    from torch.utils.tensorboard.summary import hparams

    exp, start, end = hparams(dict(params), dict(metrics))
    value = exp.value[0]
    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in SHOWN_FIRST
    value.metadata.plugin_data.content = data.SerializeToString()
    return exp, start, end


def log_final(logger: Any, params: Mapping[str, Any], metrics: Mapping[str, float],
              step: int) -> None:
    """Hyperparameters and final metrics to one Lightning logger: TensorBoard gets the HPARAMS
    summaries in the table's order (``hparams_summaries``) and the metrics as scalars; any other
    logger its own ``log_hyperparams(params)`` and the finite metrics through ``log_metrics``."""
    from lightning.pytorch.loggers import TensorBoardLogger

    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
    if isinstance(logger, TensorBoardLogger):
        logger.hparams.update(params)
        logger.log_metrics(finite, step)
        writer = logger.experiment._get_file_writer()
        for part in hparams_summaries(params, metrics):
            writer.add_summary(part, step)
    else:
        logger.log_hyperparams(dict(params))
        logger.log_metrics(finite, step)


__all__ = ["METRICS", "PREFIX", "SHOWN_FIRST", "final_metrics", "hparams_summaries", "log_final",
           "run_hparams"]
