"""The encoding floor of the memory measure against a quadrature written out here: the
posterior mean of a line's position (uniform prior, Gaussian observation noise) and of a ring's
angle, from a dense sample of the prior."""

from __future__ import annotations

import math

import numpy as np
import torch

from gru_learn.dynamics.manifold_curve import fit_curve
from gru_learn.dynamics.memory import encoding_floor, starts_on, variable_of

SIGMA = math.sqrt(0.1)


def _line():
    y = torch.linspace(-1.0, 1.0, 200, dtype=torch.float64)
    return fit_curve(torch.stack([torch.zeros_like(y), y], -1), closed=False)


def test_the_line_floor_is_the_posterior_mean_of_a_uniform_prior() -> None:
    curve = _line()
    g = torch.Generator().manual_seed(0)
    prior = torch.rand(40_000, 2, generator=g, dtype=torch.float64) * 2 - 1  # the line's data
    final = torch.stack([torch.zeros(len(prior), dtype=torch.float64), prior[:, 1]], -1)
    starts, _ = starts_on(curve, 36)
    got = encoding_floor(curve, starts, prior, variable_of(curve, final), SIGMA)
    # quadrature: E[y | y_obs] for y ~ U(-1, 1) (x integrates out), arc length from y = -1
    grid = np.linspace(-1, 1, 20001)
    want = []
    for y0 in starts[:, 1].numpy():
        w = np.exp(-(grid - y0) ** 2 / (2 * SIGMA**2))
        want.append(abs((w * grid).sum() / w.sum() - y0))
    assert np.allclose(got.numpy(), want, atol=0.01)
    assert float(got.max()) > 0.1  # the ends shrink towards the middle: a real floor


def test_a_ring_with_an_isotropic_prior_has_no_floor_and_noise_zero_none() -> None:
    th = torch.linspace(0, 2 * math.pi, 201, dtype=torch.float64)[:-1]
    ring = fit_curve(torch.stack([th.cos(), th.sin()], -1), closed=True)
    g = torch.Generator().manual_seed(1)
    r = torch.rand(30_000, generator=g, dtype=torch.float64) * 1.5
    a = torch.rand(30_000, generator=g, dtype=torch.float64) * 2 * math.pi
    prior = torch.stack([r * a.cos(), r * a.sin()], -1)  # rotation invariant: no bias
    final = prior / prior.norm(dim=-1, keepdim=True)
    starts, _ = starts_on(ring, 24)
    floor = encoding_floor(ring, starts, prior, variable_of(ring, final), SIGMA)
    assert float(floor.max()) < 0.01
    # a prior crowded on one side pulls the estimate towards it
    lopsided = prior[prior[:, 1] > 0.3 * prior[:, 0]]
    pulled = encoding_floor(ring, starts, lopsided,
                            variable_of(ring, lopsided / lopsided.norm(dim=-1, keepdim=True)),
                            SIGMA)
    assert float(pulled.max()) > 0.05
    assert float(encoding_floor(ring, starts, prior, variable_of(ring, final), 0.0).max()) == 0
