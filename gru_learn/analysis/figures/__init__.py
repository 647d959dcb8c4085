"""Figures: of the network alone (``network``), learned against target (``comparison``), and
of any vector field from the toolkit's commands (``dynamics``)."""
