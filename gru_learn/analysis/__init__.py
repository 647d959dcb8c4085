"""Reading a trained GRU as a dynamical system, without Lightning or the training code.

- ``inputs``: what is read, as plain values (``LearnedModel``, ``DataSource``);
- ``network``: the network alone at constant inputs (``analyze_gru``, ``analyze_network``);
- ``target``: the system that made the data, read by the same toolkit;
- ``result``: summary.json as typed dataclasses (``AnalysisResult``), its one reader and writer;
- ``learned_vs_target``: learned versus target (``analyze``), metrics; ``topology``: the graded
  topology verdicts; ``timeline``: the topology's history over training;
- ``figures/``: the figures of each, in one style;
- ``load``: networks trained elsewhere (modules, state dicts); our own checkpoints are read by
  ``gru_learn.training.checkpoint`` (they hold a LightningModule), which also builds the
  inputs of ``analyze`` from a model and its DataModule (``analyze_trained``).
"""

from gru_learn.analysis.api import analyze_gru
from gru_learn.analysis.core import Analysis, AnalysisConfig, signature
from gru_learn.analysis.inputs import DataSource, LearnedModel, SimulatedSystem
from gru_learn.analysis.learned_vs_target import analyze, closed_loop_behaviour
from gru_learn.analysis.network import NetworkAnalysis, analyze_network
from gru_learn.analysis.result import AnalysisResult, number, summary_scalars
from gru_learn.analysis.topology import topology_match, topology_verdict

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "AnalysisResult",
    "DataSource",
    "LearnedModel",
    "NetworkAnalysis",
    "SimulatedSystem",
    "analyze",
    "analyze_gru",
    "analyze_network",
    "closed_loop_behaviour",
    "number",
    "signature",
    "summary_scalars",
    "topology_match",
    "topology_verdict",
]
