"""gru_learn: train GRUs on low-dimensional dynamical systems and read them as ODEs.

``gru_learn.analyze_gru(rnn, input=x, states=H)`` reads any trained GRU as a dynamical system;
``gru_learn.analyze_module(model, rnn="encoder")`` the one inside any model (a plain PyTorch
loop), and ``gru_learn.DynamicsAnalysis(rnn="encoder")`` the same at the end of a Lightning fit
(all imported on first use, so ``import gru_learn`` stays light; ``GRUCell`` too).
"""

from typing import Any

__all__ = ["DynamicsAnalysis", "GRUCell", "analyze_gru", "analyze_module"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "GRUCell":  # lazily too: `python -m gru_learn` handles Ctrl-C before torch loads
        from gru_learn.gru.cell import GRUCell

        return GRUCell
    if name == "analyze_gru":
        from gru_learn.analysis.api import analyze_gru

        return analyze_gru
    if name == "analyze_module":
        from gru_learn.analysis.module_network import analyze_module

        return analyze_module
    if name == "DynamicsAnalysis":  # the one public name that loads Lightning
        from gru_learn.training.dynamics_callback import DynamicsAnalysis

        return DynamicsAnalysis
    raise AttributeError(f"module 'gru_learn' has no attribute {name!r}")
