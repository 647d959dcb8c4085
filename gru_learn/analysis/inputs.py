"""What the learned-versus-target analysis reads, as plain values: the trained network
(``LearnedModel``) and the data it was trained on (``DataSource``, with the ``SimulatedSystem``
behind it when a registered system made the data). The training layer builds them from its
LightningModule and DataModule (``gru_learn.training.checkpoint.analysis_inputs``); the
analysis never sees either."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from gru_learn.gru.cell import GRUCell
from gru_learn.systems.registry import System

Rollout = Literal["discrete", "ode"]


@dataclass(frozen=True)
class LearnedModel:
    """A trained GRU read as the model predicts: ``w(k) = readout(h_k)`` with ``h_k`` from the
    discrete map h <- h + f(h) (``rollout="discrete"``) or from the ODE dh/dt = f(h)
    integrated with ``ode_method`` and step ``ode_step`` GRU steps (``rollout="ode"``). Any
    dtype and device: the analysis reads float64 CPU copies."""

    cell: GRUCell
    readout: nn.Linear
    rollout: Rollout = "discrete"
    ode_method: str = "euler"
    ode_step: float = 1.0

    def describe_rollout(self) -> dict[str, Any]:
        """The rollout as summary.json states it (``learned.rollout``)."""
        if self.rollout == "discrete":
            return {"mode": "discrete", "read_as": "the GRU map h <- h + f(h) (as trained)"}
        return {"mode": "ode", "method": self.ode_method, "step": self.ode_step,
                "read_as": "the ODE dh/dt = f(h) integrated with the model's method and step "
                           "(as trained)"}


@dataclass(frozen=True)
class SimulatedSystem:
    """The registered system that made the data: its class (``rhs``, ``vector_field``,
    ``continuous_attractor``, ``description``), its mean parameters, the clean (noise-free)
    trajectories of each split, (N, T + 1, p), and the test trajectories' own parameters where
    parameter noise drew them (name -> (N,))."""

    name: str
    system: type[System]
    params: dict[str, Any]
    clean: dict[str, Tensor]
    test_params: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSource:
    """The data a network was trained on: the sampling interval ``dt`` (one GRU step), the
    (noisy) test observations (N, T + 1, p), and the system that made them (None for data
    from a file)."""

    dt: float
    test: Tensor
    system: SimulatedSystem | None = None
