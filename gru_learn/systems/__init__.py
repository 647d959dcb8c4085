"""Target systems: one small class each in a registry (``registry``), their simulation
(``simulate``) and the user's own modules (``user_modules``, imported by ``__main__`` before
torch, so the registry's names load on first use)."""

from typing import Any

__all__ = ["SYSTEMS", "ContinuousAttractor", "System", "get_system", "register"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gru_learn.systems import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'gru_learn.systems' has no attribute {name!r}")
