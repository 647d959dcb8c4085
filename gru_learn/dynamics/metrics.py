"""Distances between a true and a generated dynamical system, computed from trajectories.

- ``state_space_divergence`` (d_stsp): KL(p_true || p_gen) of state-occupancy histograms;
- ``power_spectrum_distance`` (d_h): Hellinger distance of smoothed power spectra;
- ``hausdorff``: the symmetric Hausdorff distance between two point sets;
- ``coverage``: the fraction of one set within a radius of another.
All take numpy arrays or tensors and return floats.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor


def _np(x: np.ndarray | Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def state_space_divergence(true: np.ndarray | Tensor, gen: np.ndarray | Tensor,
                           bins: int = 30, alpha: float = 1e-5) -> float:
    """KL(p_true || p_gen) over ``bins`` per dimension on [min - 0.1 sd, max + 0.1 sd] of the
    true data, both histograms Laplace-smoothed by ``alpha``. Inputs (..., p), flattened.

    p(k) = (n_k + alpha) / (n + alpha * bins^p); KL = sum_k p_true(k) log(p_true(k) / p_gen(k)).
    Generated states outside the range fall in no bin (they lower p_gen everywhere inside).
    """
    t = _np(true).reshape(-1, _np(true).shape[-1]).astype(np.float64)
    g = _np(gen).reshape(-1, t.shape[-1]).astype(np.float64)
    sd = t.std(0)
    edges = [np.linspace(lo - 0.1 * s, hi + 0.1 * s, bins + 1)
             for lo, hi, s in zip(t.min(0), t.max(0), sd, strict=False)]
    n_cells = bins ** t.shape[1]

    def density(x: np.ndarray) -> np.ndarray:
        counts, _ = np.histogramdd(x, bins=edges)
        return (counts.ravel() + alpha) / (len(x) + alpha * n_cells)

    p, q = density(t), density(g)
    return float(np.sum(p * np.log(p / q)))


def power_spectrum_distance(true: np.ndarray | Tensor, gen: np.ndarray | Tensor,
                            sigma: float = 20.0) -> float | None:
    """Mean over dimensions of the Hellinger distance between smoothed power spectra.

    Each series (n, T, p) is z-scored per dimension, |rfft|^2 averaged over trajectories,
    smoothed by a Gaussian of ``sigma`` frequency bins, normalised to sum 1; then
    H = sqrt(1 - sum sqrt(P_true * P_gen)). Dimensions with a constant series (no spectrum,
    e.g. a system at rest) are skipped; None if every dimension is.
    """
    t, g = _np(true).astype(np.float64), _np(gen).astype(np.float64)
    distances = []
    for k in range(t.shape[-1]):
        spectra = []
        for x in (t[..., k], g[..., k]):
            sd = x.std(axis=-1, keepdims=True)
            if np.all(sd < 1e-8):
                break
            z = (x - x.mean(axis=-1, keepdims=True)) / np.where(sd < 1e-8, 1.0, sd)
            power = (np.abs(np.fft.rfft(z, axis=-1)) ** 2).mean(0)
            spectra.append(_gaussian_smooth(power, sigma))
        if len(spectra) < 2:
            continue
        p, q = (s / s.sum() for s in spectra)
        distances.append(float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q))))))
    return float(np.mean(distances)) if distances else None


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter truncated at 4 sigma, edges mirrored (scipy.ndimage's conventions)."""
    radius = int(4 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    idx = np.arange(-radius, len(x) + radius)
    period = 2 * len(x)
    idx = np.mod(idx, period)
    idx = np.where(idx >= len(x), period - 1 - idx, idx)  # mirror: ... b a | a b ... z | z y
    return np.convolve(x[idx], kernel / kernel.sum(), mode="valid")


def hausdorff(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    """max(sup_a inf_b |a - b|, sup_b inf_a |a - b|) for point sets (n, p) and (m, p)."""
    d = np.linalg.norm(_np(a)[:, None, :] - _np(b)[None, :, :], axis=-1)
    return float(max(d.min(1).max(), d.min(0).max()))


def coverage(target: np.ndarray | Tensor, found: np.ndarray | Tensor, radius: float) -> float:
    """Fraction of ``target`` points (n, p) with a ``found`` point (m, p) within ``radius``."""
    t, f = _np(target), _np(found)
    if len(f) == 0:
        return 0.0
    d = np.linalg.norm(t[:, None, :] - f[None, :, :], axis=-1)
    return float((d.min(1) <= radius).mean())
