"""Process-wide runtime settings shared by the commands and the library (sweeps, workers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def set_cpu_threads() -> None:
    """One intra-op CPU thread unless GRU_LEARN_NUM_THREADS says otherwise.

    These networks are bound by per-operation overhead, not arithmetic: a second thread never
    pays for its synchronisation, and when any other process competes for the cores, OpenMP's
    spinning threads slow training by an order of magnitude (measured: bench/bench_fit.py);
    the analysis's fixed-point and cycle searches likewise. ``python -m gru_learn`` sets it for
    every command.
    """
    torch.set_num_threads(int(os.environ.get("GRU_LEARN_NUM_THREADS", "1")))


@contextmanager
def cpu_threads() -> Iterator[None]:
    """:func:`set_cpu_threads` for the duration of a ``with`` block, then the caller's torch
    thread count again: the library's entry points (``analyze_gru``) run on one thread without
    changing a notebook's own setting."""
    before = torch.get_num_threads()
    set_cpu_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)
