"""gru_learn: train GRUs on low-dimensional dynamical systems and read them as ODEs."""

from gru_learn.gru import GRUCell

__all__ = ["GRUCell"]
__version__ = "0.1.0"
