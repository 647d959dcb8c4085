"""Target dynamical systems: a batched torch vector field, its parameters and its noise model.

A system is one small class registered by name (``@register``); nothing else needs editing to
add one. ``rhs(state, p)`` takes states of shape ``(..., dim)`` and a dict of parameters whose
values are floats or tensors broadcastable against ``state[..., 0]`` (one value per trajectory
when parameter noise is on).

Noise kinds, each independent (all as standard deviations):
- ``obs_noise_std``: added to every observed sample, N(0, obs_noise_std^2 I);
- ``param_noise_std``: per-trajectory parameter noise, p_i ~ N(p, std^2), e.g. FHN's I_ext;
- ``process_noise_std``: SDE dx = f dt + std dW, simulated with Euler-Maruyama.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from gru_learn.errors import UserError

Params = dict[str, "float | Tensor"]


@dataclass(frozen=True)
class ContinuousAttractor:
    """A continuum of fixed points declared analytically (no finite search can find one).

    ``kind`` is ``"line"`` or ``"ring"``; ``points(n)`` samples it as an (n, dim) tensor.
    """

    kind: str
    points: Callable[[int], Tensor]


class System:
    """Base class of a target system; subclasses set the class attributes and ``rhs``."""

    name: ClassVar[str]
    dim: ClassVar[int] = 2
    params: ClassVar[dict[str, float]] = {}
    param_noise_std: ClassVar[dict[str, float]] = {}
    obs_noise_std: ClassVar[float] = 0.0
    process_noise_std: ClassVar[float] = 0.0
    ic_low: ClassVar[tuple[float, ...]]
    ic_high: ClassVar[tuple[float, ...]]
    dt: ClassVar[float]
    description: ClassVar[str] = ""

    @staticmethod
    def rhs(state: Tensor, p: Params) -> Tensor:
        raise NotImplementedError

    @classmethod
    def vector_field(cls, p: Params | None = None) -> Callable[[Tensor], Tensor]:
        """f(state) at fixed parameters (the defaults, updated by ``p``), for analysis."""
        merged = {**cls.params, **(p or {})}
        return lambda state: cls.rhs(state, merged)

    @classmethod
    def continuous_attractor(cls, p: Params | None = None) -> ContinuousAttractor | None:
        """The analytic continuum of fixed points, if the system has one."""
        return None


SYSTEMS: dict[str, type[System]] = {}


def register(cls: type[System] | None = None, *, replace: bool = False) -> Any:
    """Class decorator, ``@register`` or ``@register(replace=True)``: make a system available by
    ``cls.name`` to data, CLI and analysis. A name taken by another class is a ValueError
    unless ``replace`` (registering the same class again is harmless)."""
    def add(cls: type[System]) -> type[System]:
        old = SYSTEMS.get(cls.name)
        if old is not None and old is not cls and not replace:
            raise ValueError(f"system {cls.name!r} is already registered "
                             f"({old.__module__}.{old.__qualname__}); use "
                             "@register(replace=True) to replace it")
        SYSTEMS[cls.name] = cls
        return cls

    return add if cls is None else add(cls)


def folder_name(system: str) -> str:
    """A system's name as a file or folder name: ``dysts:Lorenz`` -> ``dysts_Lorenz``."""
    return system.replace(":", "_")


def get_system(name: str) -> type[System]:
    if name.startswith("dysts:") and name not in SYSTEMS:  # the optional dysts collection
        from gru_learn.systems.dysts_systems import dysts_system

        return dysts_system(name[len("dysts:"):])
    if name not in SYSTEMS:  # a worker process: the modules the command was given --import
        from gru_learn.systems.user_modules import import_from_env

        import_from_env()
    try:
        return SYSTEMS[name]
    except KeyError:
        raise UserError(f"unknown system {name!r}; choose one of {sorted(SYSTEMS)} or a dysts "
                        "system as dysts:<Name>") from None


@register
class FitzHughNagumo(System):
    """dx/dt = x - x^3/3 - y + I_ext,  tau dy/dt = x + a - b y  (paper Section 5.1)."""

    name = "fhn"
    params = {"tau": 12.5, "a": 0.7, "b": 0.8, "I_ext": 0.7}
    # The paper's I_ext ~ N(0.7, 0.04), read as variance 0.04: std 0.2.
    param_noise_std = {"I_ext": 0.2}
    ic_low, ic_high = (-2.5, -1.0), (2.5, 2.0)
    dt = 1.5
    description = "unstable focus inside a stable limit cycle"

    @staticmethod
    def rhs(state: Tensor, p: Params) -> Tensor:
        x, y = state[..., 0], state[..., 1]
        dx = x - x**3 / 3 - y + p["I_ext"]
        dy = (x + p["a"] - p["b"] * y) / p["tau"]
        return torch.stack([dx, dy], dim=-1)


@register
class LineAttractor(System):
    """dx/dt = -x, dy/dt = 0: a line of fixed points at x = 0 (paper Section 5.2)."""

    name = "line"
    obs_noise_std = math.sqrt(0.1)  # the paper's N(0, 0.1 I), read as covariance 0.1 I
    ic_low, ic_high = (-1.0, -1.0), (1.0, 1.0)
    dt = 0.1
    description = "line attractor at x = 0"

    @staticmethod
    def rhs(state: Tensor, p: Params) -> Tensor:
        return torch.stack([-state[..., 0], torch.zeros_like(state[..., 1])], dim=-1)

    @classmethod
    def continuous_attractor(cls, p: Params | None = None) -> ContinuousAttractor:
        def points(n: int) -> Tensor:  # the line is unbounded: sample well past the data
            y = torch.linspace(-10.0, 10.0, n, dtype=torch.float64)
            return torch.stack([torch.zeros_like(y), y], dim=-1)

        return ContinuousAttractor("line", points)


@register
class RingAttractor(System):
    """dx/dt = -(x^2+y^2-1) x, dy/dt = -(x^2+y^2-1) y: a ring of fixed points at radius 1."""

    name = "ring"
    obs_noise_std = math.sqrt(0.1)
    ic_low, ic_high = (-1.5, -1.5), (1.5, 1.5)
    dt = 0.1
    description = "ring attractor of radius 1 around an unstable point"

    @staticmethod
    def rhs(state: Tensor, p: Params) -> Tensor:
        r2 = (state**2).sum(-1, keepdim=True)
        return -(r2 - 1.0) * state

    @classmethod
    def continuous_attractor(cls, p: Params | None = None) -> ContinuousAttractor:
        def points(n: int) -> Tensor:
            theta = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)[:-1]
            return torch.stack([theta.cos(), theta.sin()], dim=-1)

        return ContinuousAttractor("ring", points)


@register
class VanDerPol(System):
    """dx/dt = y, dy/dt = mu (1 - x^2) y - x: a relaxation oscillator (not in the paper)."""

    name = "vdp"
    params = {"mu": 1.0}
    ic_low, ic_high = (-3.0, -3.0), (3.0, 3.0)
    dt = 0.25
    description = "unstable focus inside a stable limit cycle"

    @staticmethod
    def rhs(state: Tensor, p: Params) -> Tensor:
        x, y = state[..., 0], state[..., 1]
        return torch.stack([y, p["mu"] * (1 - x**2) * y - x], dim=-1)


@register
class Lorenz63(System):
    """dx/dt = sigma (y - x), dy/dt = x (rho - z) - y, dz/dt = x y - beta z (Lorenz 1963):
    the chaotic attractor at sigma = 10, rho = 28, beta = 8/3 (not in the paper).

    Fixed points: the origin (a saddle, one unstable direction) and
    C+- = (+-sqrt(beta (rho - 1)), +-sqrt(beta (rho - 1)), rho - 1), saddle-foci with a complex
    unstable pair for rho > 24.74. Largest Lyapunov exponent ~0.906 (Sprott 2003)."""

    name = "lorenz"
    dim = 3
    params = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
    ic_low, ic_high = (-15.0, -20.0, 5.0), (15.0, 20.0, 40.0)  # around the attractor
    dt = 0.05  # lambda_max dt = 0.045 per GRU step; ~15 steps per loop around a wing
    description = "chaotic attractor around two saddle-foci and a saddle at the origin"
    lyapunov_max = 0.9056  # Sprott (2003), Chaos and Time-Series Analysis, Table A.1

    @staticmethod
    def rhs(state: Tensor, p: Params) -> Tensor:
        x, y, z = state[..., 0], state[..., 1], state[..., 2]
        return torch.stack([p["sigma"] * (y - x), x * (p["rho"] - z) - y,
                            x * y - p["beta"] * z], dim=-1)

    @classmethod
    def fixed_points(cls, p: Params | None = None) -> Tensor:
        """The three analytic fixed points (3, 3): origin, C+, C-."""
        q = {**cls.params, **(p or {})}
        r = math.sqrt(q["beta"] * (q["rho"] - 1.0))
        return torch.tensor([[0.0, 0.0, 0.0], [r, r, q["rho"] - 1.0], [-r, -r, q["rho"] - 1.0]],
                            dtype=torch.float64)
