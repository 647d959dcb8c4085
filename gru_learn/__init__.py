"""gru_learn: train GRUs on low-dimensional dynamical systems and read them as ODEs.

``gru_learn.analyze_gru(rnn, input=x, states=H)`` reads any trained GRU as a dynamical system
(imported on first use, so ``import gru_learn`` stays light; ``GRUCell`` too).
"""

from typing import Any

__all__ = ["GRUCell", "analyze_gru"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "GRUCell":  # lazily too: `python -m gru_learn` handles Ctrl-C before torch loads
        from gru_learn.gru.cell import GRUCell

        return GRUCell
    if name == "analyze_gru":
        from gru_learn.analysis.api import analyze_gru

        return analyze_gru
    raise AttributeError(f"module 'gru_learn' has no attribute {name!r}")
