"""Experiments built on training and analysis: grids of runs (``grid``), the topology search,
and the paper's reproduction (``paper``)."""
