"""Distances between a true and a generated dynamical system, computed from trajectories.

- ``state_space_divergence`` (d_stsp, ours): KL(p_true || p_gen) of state-occupancy
  histograms, many trajectories pooled;
- ``power_spectrum_distance`` (d_h, ours): Hellinger distance of smoothed power spectra averaged
  over trajectories;
- ``state_space_divergence_reference``, ``state_space_divergence_gmm``,
  ``power_spectrum_error_reference``: D_stsp (binned and Gaussian-mixture) and D_H exactly as the
  Durstewitz lab's reference code computes them (GTF-shPLRNN, ``src/measures``), on one long
  trajectory each, so numbers compare with published tables (see docs/reconstruction.md for
  how they differ from ours);
- ``hausdorff``: the symmetric Hausdorff distance between two point sets;
- ``coverage``: the fraction of one set within a radius of another;
- ``state_r2``, ``cycle_consistency`` (the Computation-through-Dynamics Benchmark's measures):
  how well an affine map of a network's hidden states gives the target's true states, and how
  well the hidden states come back through the true states (1 when the network holds nothing
  the target does not);
- ``dsa_distance``: Dynamical Similarity Analysis (Ostrow et al. 2023) through the optional
  ``dsa-metric`` package, every parameter passed explicitly.
All take numpy arrays or tensors and return floats.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
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


def state_space_divergence_reference(true: np.ndarray | Tensor, gen: np.ndarray | Tensor,
                                     bins: int = 30, binning: str = "default",
                                     alpha: float = 1e-5) -> float:
    """D_stsp as GTF-shPLRNN's ``state_space_divergence(X, X_gen, n_bins)`` computes it, for
    (T, N) and (T', N) series.

    Edges: ``bins`` equal bins per dimension on [min - 0.1 s, max + 0.1 s] of the true data
    ("default") or on [-2 s, 2 s] ("legacy", for standardised data; Brenner et al. 2022), s the
    sample standard deviation (n - 1) of the true data; bins closed on the left, points outside
    dropped. Laplace smoothing over the *counted* points: p(k) = (n_k + alpha) /
    (sum_j n_j + alpha bins^N). Returns KL(p_true || p_gen) = sum_k p log(p / q), NaN when no
    generated point falls in the range. (Ours, :func:`state_space_divergence`, divides by all
    generated points instead, uses the n-normalised sd and closes the last bin on the right.)
    """
    t = _np(true).reshape(-1, _np(true).shape[-1]).astype(np.float64)
    g = _np(gen).reshape(-1, t.shape[-1]).astype(np.float64)
    s = t.std(0, ddof=1)
    if binning == "default":
        lo, hi = t.min(0) - 0.1 * s, t.max(0) + 0.1 * s
    elif binning == "legacy":
        lo, hi = -2.0 * s, 2.0 * s
    else:
        raise ValueError(f"binning must be default or legacy, got {binning!r}")

    def counts(x: np.ndarray) -> np.ndarray:
        idx = np.floor((x - lo) / (hi - lo) * bins).astype(np.int64)  # [a, b): left-closed
        idx = idx[((x >= lo) & (x < hi) & (idx >= 0) & (idx < bins)).all(1)]
        flat = np.ravel_multi_index(idx.T, (bins,) * t.shape[1])
        return np.bincount(flat, minlength=bins ** t.shape[1]).astype(np.float64)

    ct, cg = counts(t), counts(g)
    if cg.sum() == 0:
        return float("nan")
    p = (ct + alpha) / (ct.sum() + alpha * ct.size)
    q = (cg + alpha) / (cg.sum() + alpha * cg.size)
    return float(np.sum(p * np.log(p / q)))


def state_space_divergence_gmm(true: np.ndarray | Tensor, gen: np.ndarray | Tensor,
                               scaling: float = 1.0, max_T: int = 10000, mc_samples: int = 1000,
                               generator: np.random.Generator | None = None) -> float:
    """D_stsp by Gaussian mixtures, as GTF-shPLRNN's ``state_space_divergence(X, X_gen,
    sigma2)`` (used there when N >= 6): each series is a mixture of N(x_t, scaling I) over its
    first min(T, max_T) states; KL(p_true || p_gen) by Monte Carlo (Hershey & Olsen 2007):
    ``mc_samples`` draws x_t + sqrt(scaling) eps from p_true, the mean of log p - log q over
    the draws where both densities are nonzero in floating point."""
    t = _np(true).reshape(-1, _np(true).shape[-1]).astype(np.float64)
    g = _np(gen).reshape(-1, t.shape[-1]).astype(np.float64)
    rng = generator if generator is not None else np.random.default_rng()
    T = min(len(t), max_T)
    t, g = t[:T], g[:T]
    sd = np.sqrt(scaling)
    samples = t[rng.integers(0, T, mc_samples)] + sd * rng.standard_normal((mc_samples,
                                                                            t.shape[1]))

    def likelihood(mu: np.ndarray) -> np.ndarray:  # mean_t exp(-|x - mu_t|^2 / 2 s^2) / s^N
        sq = cdist(samples, mu, "sqeuclidean") / scaling
        return np.exp(-0.5 * sq).sum(1) / len(mu) / sd ** t.shape[1]

    p, q = likelihood(t), likelihood(g)
    keep = (p > 0) & (q > 0)
    return float(np.mean(np.log(p[keep]) - np.log(q[keep])))


def power_spectrum_error_reference(true: np.ndarray | Tensor, gen: np.ndarray | Tensor,
                                   sigma: float = 20.0) -> float:
    """D_H as GTF-shPLRNN's ``power_spectrum_error(X, X_gen, sigma)``, for two (T, N) series of
    equal length: per dimension z-score, |rfft|^2, Gaussian smoothing (sd ``sigma`` bins,
    kernel radius 4 sigma, edges mirrored without repeating the edge sample: ImageFiltering's
    "reflect"), negatives clipped to 0, normalised to sum 1; the Hellinger distance
    (1/sqrt 2) ||sqrt P - sqrt Q||_2 per dimension, averaged. (Ours,
    :func:`power_spectrum_distance`, averages spectra over many trajectories and mirrors with
    the edge repeated; on one trajectory it is the same distance.)"""
    t, g = _np(true).astype(np.float64), _np(gen).astype(np.float64)
    if t.shape != g.shape:
        raise ValueError(f"power_spectrum_error_reference needs equal shapes, got {t.shape} "
                         f"and {g.shape}")

    def spectrum(x: np.ndarray) -> np.ndarray:
        z = (x - x.mean(0)) / x.std(0, ddof=1)
        ps = np.abs(np.fft.rfft(z, axis=0)) ** 2
        if sigma > 0:
            ps = np.stack([_gaussian_smooth(ps[:, k], sigma, repeat_edge=False)
                           for k in range(ps.shape[1])], axis=1)
            ps[ps < 0] = 0.0
        return ps / ps.sum(0)

    p, q = spectrum(t), spectrum(g)
    hd = np.sqrt(((np.sqrt(p) - np.sqrt(q)) ** 2).sum(0)) / np.sqrt(2.0)
    return float(hd.mean())


def _gaussian_smooth(x: np.ndarray, sigma: float, repeat_edge: bool = True) -> np.ndarray:
    """Gaussian filter truncated at 4 sigma, edges mirrored: with the edge sample repeated
    (scipy.ndimage's "reflect", ``... b a | a b ... z | z y``) or not (scipy's "mirror",
    ImageFiltering.jl's "reflect", ``... c b | a b ... z | y x``)."""
    radius = int(4 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    idx = np.arange(-radius, len(x) + radius)
    if repeat_edge:
        period = 2 * len(x)
        idx = np.mod(idx, period)
        idx = np.where(idx >= len(x), period - 1 - idx, idx)
    else:
        period = max(1, 2 * len(x) - 2)
        idx = np.mod(idx, period)
        idx = np.where(idx >= len(x), period - idx, idx)
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


def _affine_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The least-squares affine prediction of ``y`` (n, k) from ``x`` (n, d): [x 1] B with
    B = argmin ||[x 1] B - y||_F (minimum-norm where x is rank-deficient)."""
    a = np.hstack([x, np.ones((len(x), 1))])
    return a @ np.linalg.lstsq(a, y, rcond=None)[0]


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Variance-weighted R^2: 1 - sum ||y - pred||^2 / sum ||y - mean(y)||^2 (all dimensions
    pooled, so a dimension counts by its variance)."""
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def _pairs(hidden: np.ndarray | Tensor, states: np.ndarray | Tensor
           ) -> tuple[np.ndarray, np.ndarray]:
    h, z = _np(hidden).astype(np.float64), _np(states).astype(np.float64)
    if h.shape[:-1] != z.shape[:-1] or h.ndim < 2:
        raise ValueError(f"hidden states {h.shape} and target states {z.shape} must pair up "
                         "sample by sample: (..., d) and (..., k) with the same leading shape")
    return h.reshape(-1, h.shape[-1]), z.reshape(-1, z.shape[-1])


def state_r2(hidden: np.ndarray | Tensor, states: np.ndarray | Tensor) -> float:
    """R^2 of the target's true states z (..., k) predicted by the affine least-squares map
    of the paired hidden states h (..., d): z_hat = A h + a (variance-weighted, in sample)."""
    h, z = _pairs(hidden, states)
    return _r2(z, _affine_fit(h, z))


def cycle_consistency(hidden: np.ndarray | Tensor, states: np.ndarray | Tensor) -> float:
    """R^2 of the hidden states h brought back through the target's states: h -> z_hat = A h + a
    (fit h to z), then z_hat -> h_hat = B z_hat + b (B, b fit from the true z to h). 1 when
    every direction h varies in is one the target's states explain; a network with dynamics of
    its own beside the target's scores lower (variance-weighted, in sample)."""
    h, z = _pairs(hidden, states)
    a = np.hstack([h, np.ones((len(h), 1))])
    to_z = np.linalg.lstsq(a, z, rcond=None)[0]
    b = np.hstack([z, np.ones((len(z), 1))])
    to_h = np.linalg.lstsq(b, h, rcond=None)[0]
    z_hat = a @ to_z
    return _r2(h, np.hstack([z_hat, np.ones((len(z_hat), 1))]) @ to_h)


# Dynamical Similarity Analysis: the settings used, all passed to dsa-metric explicitly (its
# defaults differ between its entry points and versions: DMD's ridge lamb is 1e-8, its config
# dataclass's 0; the score method defaults to "angular" in one class, "wasserstein" in another)
DSA_SETTINGS: dict[str, object] = {
    "n_delays": 10, "delay_interval": 1, "rank": 6, "rank_thresh": None,
    "rank_explained_variance": None, "reduced_rank_reg": False, "lamb": 0.0,
    "steps_ahead": 1, "send_to_cpu": False, "score_method": "wasserstein", "iters": 1000,
    "lr": 0.01, "device": "cpu", "n_jobs": 1, "verbose": False}


def dsa_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("DSA") is not None


def dsa_distance(x: np.ndarray | Tensor, y: np.ndarray | Tensor,
                 **settings: object) -> float:
    """DSA between two sets of trajectories (trials, T, n) and (trials, T, m) (dims may differ):
    HAVOK DMD of each (delay embedding of ``n_delays``, SVD, the rank-``rank`` regression of
    the next delay coordinates on the current ones), then the distance of the two DMD matrices
    by ``score_method``; with "wasserstein", the optimal-transport cost between their
    eigenvalues (squared distances in the complex plane, uniform weights). ``settings``
    override ``DSA_SETTINGS``. Needs ``pip install dsa-metric``."""
    from DSA import DMD, DSA

    cfg = {**DSA_SETTINGS, **settings}
    keys = ("device", "verbose", "n_jobs", "score_method", "iters", "lr")
    top = {k: cfg.pop(k) for k in keys}
    return float(DSA(_np(x).astype(np.float64), _np(y).astype(np.float64), dmd_class=DMD,
                     **top, **cfg).fit_score())
