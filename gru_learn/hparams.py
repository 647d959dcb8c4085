"""What TensorBoard's HPARAMS tab shows for one run: its hyperparameters and its final metrics.

``fit`` and every member of a ``compare`` grid log the same names, so runs of both kinds sort and
filter side by side. The HPARAMS plugin needs three summaries per run (the experiment with the
metric names, the session start with the values of the hyperparameters, the session end), which
``torch.utils.tensorboard.summary.hparams`` writes; the value of each metric is read from an
ordinary scalar of the same tag, so the final metrics are also logged as scalars under
``hparams/*``. A number that is undefined for a run (no cycle, so no period error) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# model hyperparameters shown as HPARAMS columns (when present in the model's hparams)
MODEL_KEYS = ("system", "hidden_size", "reset", "rollout", "lr", "lr_schedule", "forcing",
              "forcing_alpha", "forcing_alpha_schedule", "forcing_interval", "readout_init",
              "dt")
DATA_KEYS = ("n_train", "horizon", "window", "batch_size", "obs_noise_std")

# hyperparameters the HPARAMS table shows without ticking (see hparams_summaries)
SHOWN_FIRST = ("system", "hidden_size", "seed", "rollout", "lr")

METRICS = (  # the first five are shown without ticking
    "hparams/loss_test",  # test-split free-running MSE (fit: --test_after_fit)
    "hparams/topology_match",  # 1 when learned and target topology agree, else 0
    "hparams/period_rel_error",  # |T_rollout - T_target| / T_target
    "hparams/d_stsp",  # state-space divergence (closed loop vs target)
    "hparams/d_h",  # power-spectrum Hellinger distance
    "hparams/loss_val",  # final validation loss (free-running MSE)
    "hparams/loss_train",  # final training loss (the training objective)
    "hparams/ode_period_rel_error",  # the same for the ODE dh/dt = f(h)'s cycle
    "hparams/coverage",  # best learned continuous attractor's coverage of the target's
    "hparams/long_horizon_mse",  # mean MSE against clean truth over the long horizon
    "hparams/lyapunov_max",  # largest Lyapunov exponent of the model's rollout (1/time)
    "hparams/lyapunov_rel_error",  # |lambda_learned - lambda_target| / |lambda_target|
    "hparams/analysis_seconds",  # wall-clock time of the end-of-fit analysis
)


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


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (bool, int, float)) and x is not None else math.nan


def final_metrics(losses: Mapping[str, float | None],
                  summary: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Every name of ``METRICS`` -> its value: ``losses`` has ``train``/``val``/``test``;
    ``summary`` is an analysis summary (``gru_learn.analysis``' summary.json), or None."""
    out = dict.fromkeys(METRICS, math.nan)
    for split in ("train", "val", "test"):
        out[f"hparams/loss_{split}"] = _num(losses.get(split))
    comp = (summary or {}).get("comparison")
    if isinstance(comp, Mapping):
        out["hparams/topology_match"] = _num(comp.get("topology_match"))
        for key in ("period_rel_error", "ode_period_rel_error", "d_stsp", "d_h"):
            out[f"hparams/{key}"] = _num(comp.get(key))
        covered = [_num(r.get("coverage_of_target")) for r in comp.get("continuous_attractors")
                   or [] if isinstance(r, dict)]
        covered = [c for c in covered if math.isfinite(c)]
        out["hparams/coverage"] = max(covered) if covered else math.nan
        long = (comp.get("test_mse") or {}).get("long_horizon") or {}
        out["hparams/long_horizon_mse"] = _num(long.get("mean"))
        out["hparams/lyapunov_rel_error"] = _num(comp.get("lyapunov_rel_error"))
    learned = (summary or {}).get("learned")
    if isinstance(learned, Mapping):
        out["hparams/lyapunov_max"] = _num(learned.get("lyapunov_max"))
    if summary and isinstance(summary.get("seconds"), Mapping):
        out["hparams/analysis_seconds"] = float(sum(
            v for v in summary["seconds"].values() if isinstance(v, (int, float))))
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


__all__ = ["METRICS", "SHOWN_FIRST", "final_metrics", "hparams_summaries", "run_hparams"]
