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


def available_memory() -> int:
    """Bytes of memory this machine can still give (Linux: MemAvailable; elsewhere the
    physical memory)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63


def check_memory(nbytes: float, what: str) -> None:
    """A UserError, before anything is allocated, when ``what`` needs more than the memory
    available (an estimate: what must fit, not all that will be used)."""
    from gru_learn.errors import UserError

    free = available_memory()
    if nbytes > free:
        raise UserError(f"{what} needs at least {nbytes / 2**30:.3g} GiB of memory; this "
                        f"machine has {free / 2**30:.3g} GiB available")
