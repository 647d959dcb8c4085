"""How long a system remembers a point of a continuous attractor: the error of the remembered
variable along a reference curve after a time, and the bound the flow along a slow manifold
puts on it (Ságodi et al. 2024: the drift along the manifold is at most t ||phi||_inf).

The **variable** is the position along the reference curve ``CurveFit`` (the target's ring or
line, found by the manifold finder in observation space): for a closed curve the angle
2 pi s (rad, s the normalised arc length; the polar angle for a circle about its centre), for
an open one the arc length from its first end (observation units). A state's variable is that
of the nearest of 4000 samples of the curve.

``memory_errors`` starts ``n_starts`` runs on the curve (evenly spaced in the variable; an open
curve's ends, the outer 5 %, are left out), reads the variable of each run's state at the
given steps and returns, per step, the median and the largest error (wrapped to [0, pi] on a
closed curve) against the start, the same against the run's own first state (the drift,
without the error of writing the start into the system) and, optionally, against its state at
a later step (the hold: what is lost once the run has settled). ``variable_rate`` turns a velocity
in observation space into the rate of the variable (its component along the curve's tangent,
in variable units per time unit). ``encoding_floor`` is the error no forecaster trained by
mean squared error on noisy first observations can avoid: the posterior mean of the remembered
variable given a start observed with the data's noise, against the start's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gru_learn.dynamics.manifold_curve import CurveFit

F64 = torch.float64
SAMPLES = 4000


def variable_of(curve: CurveFit, y: Tensor) -> Tensor:
    """The variable (angle in rad, or arc length) of each observation in ``y`` (..., p)."""
    s = curve.locate(y.reshape(-1, y.shape[-1]), SAMPLES).reshape(y.shape[:-1])
    return 2 * math.pi * s if curve.closed else s * curve.length


def variable_error(curve: CurveFit, a: Tensor, b: Tensor) -> Tensor:
    """|a - b| between values of the variable, wrapped to [0, pi] on a closed curve."""
    d = (a - b).abs()
    return torch.minimum(d, 2 * math.pi - d) if curve.closed else d


def starts_on(curve: CurveFit, n: int) -> tuple[Tensor, Tensor]:
    """(points (n, p), their variable (n,)): n states spread evenly along the curve."""
    s = (torch.arange(n, dtype=F64) / n if curve.closed
         else torch.linspace(0.05, 0.95, n, dtype=F64))
    pts = torch.as_tensor(curve.spline(s.numpy()), dtype=F64)
    return pts, variable_of(curve, pts)


def memory_errors(run: Callable[[Tensor, int], Tensor], curve: CurveFit, steps: Sequence[int],
                  n_starts: int = 72, settled: int | None = None) -> dict[str, list[float]]:
    """Median and largest error of the variable at each of ``steps`` (sorted, >= 1) of the runs
    ``run(w0 (n, p), k) -> states at steps 1..k (n, k, p)`` started on the curve; with
    ``settled`` (one of ``steps``), ``median_hold``: the median drift from each run's own
    value at that step, 0 before it (what a system that has settled on its manifold loses)."""
    w0, v0 = starts_on(curve, n_starts)
    steps = sorted(set(int(k) for k in steps))
    with torch.no_grad():
        path = run(w0, steps[-1])
    at = path[:, [k - 1 for k in steps]]  # (n, len(steps), p)
    v = variable_of(curve, at)  # (n, len(steps)): read once, compared three ways
    err = variable_error(curve, v, v0[:, None])
    finite = torch.isfinite(at).all(-1)
    worst = math.pi if curve.closed else curve.length
    err = torch.where(finite, err, torch.full_like(err, worst))
    first = variable_of(curve, path[:, 0])
    drift = variable_error(curve, v, first[:, None])
    drift = torch.where(finite, drift, torch.full_like(drift, worst))
    out = {"steps": steps, "median_error": err.median(0).values.tolist(),
           "max_error": err.amax(0).tolist(), "median_drift": drift.median(0).values.tolist(),
           "max_drift": drift.amax(0).tolist()}
    if settled is not None:
        i = steps.index(settled)
        hold = variable_error(curve, v, v[:, i:i + 1])
        hold = torch.where(finite & finite[:, i:i + 1], hold, torch.full_like(hold, worst))
        hold[:, :i] = 0.0
        out["median_hold"] = hold.median(0).values.tolist()
    return out


def variable_rate(curve: CurveFit, y: Tensor, y_dot: Tensor) -> Tensor:
    """The rate of the variable at observations ``y`` (n, p) moving with velocity ``y_dot``:
    the component of y_dot along the curve's unit tangent at the nearest sample, in variable
    units (rad for a closed curve) per time unit of y_dot."""
    t = curve.tangent(curve.locate(y, SAMPLES))
    along = (y_dot.to(F64) * t).sum(-1)
    return along * (2 * math.pi / curve.length) if curve.closed else along


def encoding_floor(curve: CurveFit, starts: Tensor, prior_start: Tensor,
                   prior_variable: Tensor, noise_std: float) -> Tensor:
    """Per start (n, p): the error of the Bayes-optimal estimate of the remembered variable
    from that start seen through observation noise N(0, noise_std^2 I), against the start's own
    variable. The prior is the data's: clean initial states ``prior_start`` (m, p) and the
    variable each one's trajectory keeps, ``prior_variable`` (m,); the estimate is the
    weighted mean of those values (on a closed curve the circular mean) with weights
    N(start; prior_start_i, noise_std^2 I) -- what the conditional mean of a forecaster
    trained by MSE on (noisy first observation, trajectory) pairs converges to."""
    x, pr, v = starts.to(F64), prior_start.to(F64), prior_variable.to(F64)
    if noise_std <= 0:
        return torch.zeros(len(x), dtype=F64)
    logw = -torch.cdist(x, pr).pow(2) / (2 * noise_std**2)
    w = torch.softmax(logw, dim=1)  # (n, m)
    if curve.closed:
        estimate = torch.atan2(w @ v.sin(), w @ v.cos()).remainder(2 * math.pi)
    else:
        estimate = w @ v
    return variable_error(curve, estimate, variable_of(curve, x))


def memory_time(steps: Sequence[int], median: Sequence[float], threshold: float
                ) -> int | None:
    """The first of ``steps`` at which the ``median`` error (or drift) reaches ``threshold``
    (None if it never does within them)."""
    for k, e in zip(steps, median, strict=True):
        if e >= threshold:
            return int(k)
    return None
