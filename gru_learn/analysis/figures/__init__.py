"""Figures: of the network alone (``network``), learned against target (``comparison``), and
of any vector field from the toolkit's commands (``dynamics``), all in one ``style`` (imported
first: it selects matplotlib's Agg backend before any figure module loads pyplot)."""

from gru_learn.analysis.figures import style

__all__ = ["style"]
