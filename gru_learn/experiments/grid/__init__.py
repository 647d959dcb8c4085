"""Grids of trained GRUs (systems x hidden sizes x seeds), resumable, on local processes or Ray:
``python -m gru_learn compare``'s library.

A *run* is one (system, hidden size, seed): the GRUForecaster an independent ``fit`` with that
seed would train. A *run group* is every seed of one (system, hidden size), trained together by
:func:`~gru_learn.experiments.grid.train.train_group`, the one function every backend executes.

    settings   Grid, TrainSettings (compare.json), RunGroup
    train      train_group: a group's runs as plain tensors (no files)
    backends   inline, worker processes or Ray tasks; the reaper of a local Ray instance
    runs       run folders: prepare (what is missing), write_runs, load_runs
    analyze    --analyze: each run's analysis, on a common evaluation's data if one is given
    evaluation the reconstruction measures of a common evaluation and the true system's scores
    report     results.csv, summary.json, the Fig 12 figures and the printed tables

Only the calling process writes files; a run folder is complete or absent, so rerunning an
interrupted command trains exactly the missing runs, with the numbers an uninterrupted run
gives.
"""

from gru_learn.experiments.grid.analyze import analyze_runs
from gru_learn.experiments.grid.backends import BACKENDS, execute
from gru_learn.experiments.grid.evaluation import Evaluation
from gru_learn.experiments.grid.report import summarize, write_report
from gru_learn.experiments.grid.runs import load_runs, missing_runs, prepare, write_runs
from gru_learn.experiments.grid.settings import (
    MODEL_OPTIONS,
    Grid,
    RunGroup,
    TrainSettings,
    data_module,
)
from gru_learn.experiments.grid.tables import format_table
from gru_learn.experiments.grid.train import train_group

__all__ = ["BACKENDS", "MODEL_OPTIONS", "Evaluation", "Grid", "RunGroup", "TrainSettings",
           "analyze_runs", "data_module", "execute", "format_table", "load_runs",
           "missing_runs", "prepare", "summarize", "train_group", "write_report", "write_runs"]
