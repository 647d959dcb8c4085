"""The paper's hand-set GRUs (paper convention, ``reset="before"``, float64), by name.

Each preset is a function of named float parameters returning a :class:`GRUCell`; ``PRESETS``
maps a name to that function and its default parameters. ``build_preset`` validates names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gru_learn.errors import UserError
from gru_learn.gru import GRUCell


def rotation(angle: float) -> torch.Tensor:
    """R(a) = [[cos a, -sin a], [sin a, cos a]]."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def bistable_pair(gain: float = 4.0) -> GRUCell:
    """Fig 2A: two independent bistable units, U_h = gain * I, so r = 1/2 and each unit solves
    h = tanh(gain h / 2): nine fixed points (four stable nodes) for gain > 2."""
    return GRUCell.from_weights(U_h=gain * torch.eye(2, dtype=torch.float64))


def hopf(alpha: float = math.pi / 3, beta: float = 3.0, s: float = 0.0) -> GRUCell:
    """Eq 8: U_h = beta R(alpha), b_r = s, all else zero. The origin is a fixed point with
    Jacobian (sigma(s) beta R(alpha) - I) / 2: Hopf at sigma(s) beta cos(alpha) = 1."""
    b_r = torch.tensor(s, dtype=torch.float64)
    return GRUCell.from_weights(U_h=beta * rotation(alpha), b_r=b_r)


def homoclinic(gamma: float = 0.054085) -> GRUCell:
    """Eq 9: U_h = 3 R(-pi/20), b_h = (0.32, gamma), all else zero."""
    return GRUCell.from_weights(
        U_h=3.0 * rotation(-math.pi / 20), b_h=torch.tensor([0.32, gamma], dtype=torch.float64)
    )


def one_d(u_h: float = 0.5, b_h: float = 0.0) -> GRUCell:
    """A 1-D GRU dh/dt = (tanh(u_h h / 2 + b_h) - h) / 2 (r = z = 1/2)."""
    return GRUCell.from_weights(
        U_h=torch.tensor([[u_h]], dtype=torch.float64), b_h=torch.tensor([b_h], dtype=torch.float64)
    )


def half_stable_bias(u_h: float) -> float:
    """The b_h at which the 1-D GRU has a half-stable node: with a = u_h / 2 > 1, tanh(a h + b)
    touches h at h* = sqrt(1 - 1/a) (slope a sech^2 = 1), so b = atanh(h*) - a h*."""
    a = u_h / 2
    h_star = math.sqrt(1.0 - 1.0 / a)
    return math.atanh(h_star) - a * h_star


@dataclass(frozen=True)
class Preset:
    build: Callable[..., GRUCell]
    defaults: dict[str, float]
    box: tuple[float, float] = (-1.0, 1.0)  # every axis; a GRU's fixed points lie in (-1, 1)^d
    description: str = ""


PRESETS: dict[str, Preset] = {
    "bistable_pair": Preset(bistable_pair, {"gain": 4.0}, description="Fig 2A"),
    "hopf": Preset(hopf, {"alpha": math.pi / 3, "beta": 3.0, "s": 0.0}, description="Eq 8"),
    "homoclinic": Preset(homoclinic, {"gamma": 0.054085}, description="Eq 9"),
    "fig1a": Preset(one_d, {"u_h": 0.5, "b_h": 0.0}, description="Fig 1A: one stable node"),
    "fig1b": Preset(
        one_d, {"u_h": 4.0, "b_h": half_stable_bias(4.0)}, description="Fig 1B: half-stable"
    ),
    "fig1c": Preset(one_d, {"u_h": 4.0, "b_h": 0.0}, description="Fig 1C: bistable"),
}


def preset_parameters(name: str, overrides: dict[str, float] | None = None) -> dict[str, float]:
    """A preset's defaults updated by ``overrides``; unknown names are a UserError."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    params = dict(PRESETS[name].defaults)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise UserError(
                f"preset {name!r} has no parameter {key!r}; it has {', '.join(params)}"
            )
        params[key] = float(value)
    return params


def build_preset(name: str, overrides: dict[str, float] | None = None) -> GRUCell:
    """The preset ``name`` built with its defaults updated by ``overrides``."""
    params = preset_parameters(name, overrides)
    return PRESETS[name].build(**params)
