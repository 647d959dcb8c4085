"""Model-agnostic analysis of autonomous vector fields dh/dt = f(h), f: (..., d) -> (..., d).

Takes any batched callable (a GRU's ``vector_field`` in either convention, a target system)
and a box; never imports Lightning, the model or the data.
"""

from gru_learn.dynamics.analyze import DynamicsResult, analyze_vector_field
from gru_learn.dynamics.bifurcation import Bifurcation, BifurcationResult, find_bifurcations
from gru_learn.dynamics.continuous_attractors import SlowManifold, find_continuous_attractors
from gru_learn.dynamics.cycles import CycleResult, LimitCycle, find_limit_cycles
from gru_learn.dynamics.fixed_points import (
    FixedPoint,
    FixedPointResult,
    SlowPoint,
    find_fixed_points,
)
from gru_learn.dynamics.gru_jacobian import gru_jacobian
from gru_learn.dynamics.integrate import integrate, integrate_adaptive
from gru_learn.dynamics.nullclines import nullclines
from gru_learn.dynamics.stability import KINDS, classify, jacobian
from gru_learn.dynamics.topology_1d import Topology1D, classify_1d

__all__ = [
    "KINDS",
    "Bifurcation",
    "BifurcationResult",
    "CycleResult",
    "DynamicsResult",
    "FixedPoint",
    "FixedPointResult",
    "LimitCycle",
    "SlowManifold",
    "SlowPoint",
    "Topology1D",
    "analyze_vector_field",
    "classify",
    "classify_1d",
    "find_bifurcations",
    "find_continuous_attractors",
    "find_fixed_points",
    "find_limit_cycles",
    "gru_jacobian",
    "integrate",
    "integrate_adaptive",
    "jacobian",
    "nullclines",
]
