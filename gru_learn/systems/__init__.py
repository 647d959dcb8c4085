"""Target systems: one small class each in a registry, and their simulation."""

from gru_learn.systems.registry import (
    SYSTEMS,
    ContinuousAttractor,
    System,
    get_system,
    register,
)

__all__ = ["SYSTEMS", "ContinuousAttractor", "System", "get_system", "register"]
