"""The GRU in plain torch: one cell read as a discrete map and as an ODE (both reset
conventions), the training fast path with hand-written backpropagation through time, the
paper's hand-set parameters. No Lightning, no analysis."""

from gru_learn.gru.cell import Gates, GRUCell, Reset

__all__ = ["GRUCell", "Gates", "Reset"]
