"""Reading a trained GRU as a dynamical system.

- ``network``: the network alone at constant inputs (``analyze_gru``, ``analyze_network``);
- ``target``: the system that made the data, read by the same toolkit;
- ``compare``: learned versus target (``analyze``), graded topology verdicts, metrics;
- ``figures/``: the figures of each (network, comparison, the toolkit's dynamics figures);
- ``load``: networks trained elsewhere (modules, state dicts); our own checkpoints are read by
  ``gru_learn.training.checkpoint`` (they hold a LightningModule).
"""

from gru_learn.analysis.api import analyze_gru
from gru_learn.analysis.core import Analysis, AnalysisConfig, signature
from gru_learn.analysis.learned_vs_target import (
    analyze,
    closed_loop_behaviour,
    summary_scalars,
    topology_match,
    topology_verdict,
)
from gru_learn.analysis.network import NetworkAnalysis, analyze_network

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "NetworkAnalysis",
    "analyze",
    "analyze_gru",
    "analyze_network",
    "closed_loop_behaviour",
    "signature",
    "summary_scalars",
    "topology_match",
    "topology_verdict",
]
