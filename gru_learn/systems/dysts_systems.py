"""The dysts collection (williamgilpin/dysts: continuous chaotic systems, each a small class with
its own integrator and metadata) as target systems: ``dysts:Lorenz`` names its ``Lorenz``.

Optional (``pip install -e ".[dysts]"``). A dysts system becomes a registered ``System`` on
first use (``get_system("dysts:Name")``), so ``fit --data.system dysts:Name``, ``compare
--systems dysts:Name`` and the analysis's target side all work unchanged:

- data: trajectories from the system's own integrator (dysts' ``make_trajectory``, its default
  method, with the data's tolerances), sampled every ``dt``; by default dt = period / 100, the
  sampling dysts' metadata recommends (100 points per period); initial states are states of
  the system's attractor (a reference trajectory from its default initial condition, after
  one period of transient) drawn with the data's seed from within [ic_low, ic_high] (default:
  the attractor's bounding box). Observation noise as for any system; parameter and process
  noise are not offered;
- analysis: the right-hand side as a torch vector field (dysts' own ``rhs`` evaluated in float64
  NumPy, its Jacobian by central differences for autograd), so fixed points, cycles and the
  Lyapunov exponent are *found* by the same toolkit as for every target; the metadata's
  ``maximum_lyapunov_estimated`` is the reference the found exponent is compared with
  (``target.lyapunov_reference``).
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gru_learn.errors import UserError
from gru_learn.systems.registry import SYSTEMS, System, register

PREFIX = "dysts:"
POINTS_PER_PERIOD = 100  # dysts' default sampling: dt = period / 100
REFERENCE_PERIODS = 20  # length of the attractor's reference trajectory (initial states)
FD_STEP = 1e-6  # central-difference step, relative to max(1, |x|)


def _module() -> Any:
    try:
        import dysts.flows as flows
        from dysts.systems import get_attractor_list
    except ImportError:
        raise UserError("dysts systems need the optional package dysts: "
                        "pip install -e \".[dysts]\"") from None
    return flows, get_attractor_list("continuous_no_delay")


def names() -> list[str]:
    """Every continuous, delay-free dysts system's name."""
    return list(_module()[1])


def _rhs_numpy(obj: Any, x: np.ndarray) -> np.ndarray:
    """dysts' right-hand side at the states x (n, d): (n, d) (constant components broadcast)."""
    out = obj.rhs(x, 0.0)
    return np.stack(np.broadcast_arrays(*out), axis=-1).reshape(x.shape)


class _NumpyField(torch.autograd.Function):
    """f(x) by dysts in float64 NumPy; J^T v by central differences (rows independent)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, obj: Any) -> Tensor:  # type: ignore[override]
        ctx.obj = obj
        ctx.save_for_backward(x)
        return torch.from_numpy(_rhs_numpy(obj, x.detach().cpu().double().numpy())).to(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return torch.einsum("nij,ni->nj", jacobian(ctx.obj, x), grad), None


def jacobian(obj: Any, x: Tensor) -> Tensor:
    """df/dx at the states x (n, d) by central differences: (n, d, d)."""
    xs = x.detach().cpu().double().numpy().reshape(-1, x.shape[-1])
    n, d = xs.shape
    h = FD_STEP * np.maximum(1.0, np.abs(xs))  # (n, d)
    cols = []
    for j in range(d):
        e = np.zeros_like(xs)
        e[:, j] = h[:, j]
        cols.append((_rhs_numpy(obj, xs + e) - _rhs_numpy(obj, xs - e)) / (2 * h[:, j:j + 1]))
    return torch.from_numpy(np.stack(cols, axis=-1)).to(x)


class DystsSystem(System):
    """Base of the generated classes (one per dysts system used); ``obj`` is dysts' instance."""

    obj: Any
    reference: np.ndarray  # (m, d) states of the attractor
    lyapunov_reference: float | None = None
    lyapunov_reference_source = "dysts metadata (maximum_lyapunov_estimated)"

    @classmethod
    def rhs(cls, state: Tensor, p: Any) -> Tensor:  # type: ignore[override]
        """dysts' right-hand side at its metadata's parameters (``p`` is not used)."""
        shape = state.shape
        return _NumpyField.apply(state.reshape(-1, shape[-1]), cls.obj).reshape(shape)

    @classmethod
    def vector_field(cls, p: Any = None) -> Any:
        return lambda state: cls.rhs(state, None)

    @classmethod
    def simulator(cls, n: int, horizon: int, dt: float, *, params: Any,
                  param_noise_std: dict[str, float], obs_noise_std: float,
                  process_noise_std: float, ic_low: tuple[float, ...],
                  ic_high: tuple[float, ...], generator: torch.Generator, rtol: float = 1e-7,
                  atol: float = 1e-9, **_: Any) -> dict[str, Tensor]:
        """``systems.simulate``'s contract through dysts' own integrator (module docstring)."""
        if any(v > 0 for v in param_noise_std.values()) or process_noise_std > 0:
            raise UserError(f"{cls.name}: dysts systems take observation noise only")
        if dict(params) != cls.params:
            raise UserError(f"{cls.name}: dysts systems run at their metadata's parameters "
                            f"{cls.params}")
        lo, hi = np.asarray(ic_low), np.asarray(ic_high)
        pool = cls.reference[((cls.reference >= lo) & (cls.reference <= hi)).all(-1)]
        if not len(pool):
            raise UserError(f"{cls.name}: no state of its attractor lies within ic_low {ic_low}"
                            f" and ic_high {ic_high}")
        pick = torch.randint(len(pool), (n,), generator=generator).numpy()
        points = (horizon + 1) * cls.obj.period / (horizon * dt)  # per period: exactly dt apart
        t, clean = cls.obj.make_trajectory(horizon + 1, init_cond=pool[pick], resample=True,
                                           pts_per_period=points, return_times=True,
                                           rtol=rtol, atol=atol)
        clean = None if clean is None else np.asarray(clean).reshape(-1, horizon + 1, cls.dim)
        if clean is None or len(clean) != n:
            raise UserError(f"{cls.name}: dysts' integrator did not complete every trajectory")
        clean_t = torch.from_numpy(clean).double()
        noise = obs_noise_std * torch.randn(clean_t.shape, generator=generator,
                                            dtype=torch.float64)
        return {"t": torch.from_numpy(np.asarray(t)).double(), "clean": clean_t,
                "observed": clean_t + noise}


def _close(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5) or \
        [k for k in known if k.lower().startswith(name.lower()[:3])][:5]
    return (f"close matches: {', '.join(close)}" if close
            else "see dysts.systems.get_attractor_list()")


def dysts_system(name: str) -> type[System]:
    """The registered ``System`` for dysts' ``name`` (``dysts:<name>``), built on first use: a
    one-line UserError naming close matches for an unknown name."""
    if PREFIX + name in SYSTEMS:
        return SYSTEMS[PREFIX + name]
    flows, known = _module()
    if name not in known:
        raise UserError(f"unknown dysts system {name!r}; {_close(name, known)}")
    obj = getattr(flows, name)()
    dim = len(obj.ic)
    period = float(obj.period)
    dt = period / POINTS_PER_PERIOD
    ref = obj.make_trajectory(REFERENCE_PERIODS * POINTS_PER_PERIOD + POINTS_PER_PERIOD,
                              pts_per_period=POINTS_PER_PERIOD, method="DOP853", rtol=1e-9,
                              atol=1e-9)  # initial states only: an explicit method is enough
    ref = np.asarray(ref)[POINTS_PER_PERIOD:]  # one period of transient dropped
    lo, hi = ref.min(0), ref.max(0)
    lyap = getattr(obj, "maximum_lyapunov_estimated", None)
    scalar = {k: float(v) for k, v in obj.parameters.items() if np.ndim(v) == 0}
    cls = type(f"Dysts{name}", (DystsSystem,), {
        "name": PREFIX + name, "dim": dim, "params": scalar, "dt": dt,
        "ic_low": tuple(float(v) for v in lo), "ic_high": tuple(float(v) for v in hi),
        "description": f"dysts {name} (period {period:.4g}, largest Lyapunov exponent "
                       f"{lyap if lyap is None else f'{lyap:.4g}'} by dysts' metadata)",
        "obj": obj, "reference": ref,
        "lyapunov_reference": None if lyap is None or not math.isfinite(lyap) else float(lyap),
        "__doc__": f"dysts.flows.{name}: {(type(obj).__doc__ or '').strip().splitlines()[0:1]}"})
    return register(cls)
