"""Periods from upward crossings: the one place where a sampled signal's crossings of a level
are located and turned into a period (used by the frequency sweep, the cycle search's Poincare
returns and the closed-loop classification of the analysis).

A sample pair s_i < 0 <= s_{i+1} is an upward crossing; linear interpolation puts it at
t = i + s_i / (s_i - s_{i+1}) (in samples). The period is the mean gap between successive
crossing times, and its regularity the coefficient of variation std(gaps) / mean(gaps).
"""

from __future__ import annotations

import torch
from torch import Tensor


def upward_crossings(s: Tensor) -> tuple[Tensor, Tensor]:
    """Upward zero crossings of ``s`` (T, ...) along its first axis: ``up`` (T-1, ...), True
    where s_i < 0 <= s_{i+1}, and ``times`` (T-1, ...), the interpolated crossing time
    i + s_i / (s_i - s_{i+1}) in samples (i where there is no crossing)."""
    up = (s[:-1] < 0) & (s[1:] >= 0)
    denom = torch.where(up, s[:-1] - s[1:], torch.ones_like(s[1:]))
    w = torch.where(up, s[:-1] / denom, torch.zeros_like(denom))
    idx = torch.arange(s.shape[0] - 1, dtype=s.dtype if s.is_floating_point() else torch.float64)
    return up, idx.reshape(-1, *([1] * (s.ndim - 1))) + w


def crossing_period(s: Tensor, dt: float = 1.0) -> tuple[float | None, float | None, int]:
    """Period of a 1-D signal ``s`` (T,) sampled every ``dt`` from its upward crossings of its
    mean: (mean gap x dt, coefficient of variation of the gaps, number of crossings); the first
    two are None with fewer than 3 crossings (two gaps)."""
    up, times = upward_crossings(s - s.mean())
    t = times[up]
    if len(t) < 3:
        return None, None, len(t)
    gaps = t.diff()
    return float(gaps.mean()) * dt, float(gaps.std() / gaps.mean()), len(t)
