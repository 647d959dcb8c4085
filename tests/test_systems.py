"""Target systems: right-hand sides checked by hand, and adding one needs no other edits."""

from __future__ import annotations

import math

import pytest
import torch

from gru_learn.errors import UserError
from gru_learn.systems.registry import SYSTEMS, System, get_system, register
from gru_learn.training.data import TrajectoryDataModule


def test_registry_has_the_papers_systems_and_one_more() -> None:
    assert {"fhn", "line", "ring", "vdp"} <= set(SYSTEMS)
    with pytest.raises(UserError, match="unknown system 'nope'"):
        get_system("nope")


def test_fhn_rhs_by_hand() -> None:
    f = get_system("fhn").vector_field()
    x, y = 0.5, -0.2
    dx = x - x**3 / 3 - y + 0.7
    dy = (x + 0.7 - 0.8 * y) / 12.5
    got = f(torch.tensor([[x, y]], dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor([[dx, dy]], dtype=torch.float64))


def test_fhn_accepts_one_parameter_per_trajectory() -> None:
    fhn = get_system("fhn")
    state = torch.zeros(3, 2, dtype=torch.float64)
    p = {**fhn.params, "I_ext": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)}
    torch.testing.assert_close(fhn.rhs(state, p)[:, 0], p["I_ext"])


def test_line_and_ring_fixed_sets() -> None:
    line, ring = get_system("line"), get_system("ring")
    pts = line.continuous_attractor().points(11)
    assert line.rhs(pts, {}).abs().max() == 0
    circle = ring.continuous_attractor().points(16)
    assert ring.rhs(circle, {}).abs().max() < 1e-14
    torch.testing.assert_close(circle.norm(dim=-1), torch.ones(16, dtype=torch.float64))
    # inside the ring the flow points outward, outside inward
    inside = ring.rhs(torch.tensor([[0.5, 0.0]]), {})
    outside = ring.rhs(torch.tensor([[1.5, 0.0]]), {})
    assert inside[0, 0] > 0 > outside[0, 0]


def test_a_new_system_is_one_registered_class(in_tmp) -> None:
    @register
    class Harmonic(System):
        """dx/dt = w y, dy/dt = -w x."""

        name = "harmonic_test"
        params = {"w": 1.0}
        ic_low, ic_high = (-1.0, -1.0), (1.0, 1.0)
        dt = 0.1

        @staticmethod
        def rhs(state, p):
            return torch.stack([p["w"] * state[..., 1], -p["w"] * state[..., 0]], -1)

    try:
        dm = TrajectoryDataModule("harmonic_test", n_train=4, n_val=2, n_test=2, horizon=10)
        dm.setup()
        x = dm.blob["train_clean"].double()
        # exact solution: rotation by angle w t
        t = 10 * 0.1
        rot = torch.tensor([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]],
                           dtype=torch.float64)
        torch.testing.assert_close(x[:, -1], x[:, 0] @ rot.T, atol=1e-5, rtol=0)
    finally:
        SYSTEMS.pop("harmonic_test")


def test_lorenz_fixed_points_and_kinds_found_by_the_toolkit() -> None:
    """The toolkit finds the analytic fixed points (origin, C+-) with the analytic spectra:
    origin -beta and (-(sigma+1) +- sqrt((sigma+1)^2 + 4 sigma (rho-1))) / 2; at C+- the
    roots of l^3 + (sigma+beta+1) l^2 + beta (sigma+rho) l + 2 sigma beta (rho-1)."""
    import numpy as np

    from gru_learn.dynamics import find_fixed_points

    lorenz = get_system("lorenz")
    s, r, b = 10.0, 28.0, 8.0 / 3.0
    f = lorenz.vector_field()
    exact = lorenz.fixed_points()
    assert f(exact).abs().max() < 1e-12
    res = find_fixed_points(f, [(-25, 25), (-30, 30), (-5, 50)],
                            generator=torch.Generator().manual_seed(0))
    assert len(res.fixed_points) == 3
    origin = np.sort(np.array([-b, (-(s + 1) + math.sqrt((s + 1) ** 2 + 4 * s * (r - 1))) / 2,
                               (-(s + 1) - math.sqrt((s + 1) ** 2 + 4 * s * (r - 1))) / 2]))
    cubic = np.roots([1.0, s + b + 1, b * (s + r), 2 * s * b * (r - 1)])
    for point in res.fixed_points:
        d = torch.cdist(point.h[None].to(torch.float64), exact)[0]
        assert d.min() < 1e-8
        assert point.kind == "saddle"
        eig = np.sort_complex(point.eigenvalues.numpy())
        expected = origin if int(d.argmin()) == 0 else np.sort_complex(cubic)
        np.testing.assert_allclose(eig, expected, atol=1e-8)
    assert {int(torch.cdist(p.h[None].double(), exact)[0].argmin())
            for p in res.fixed_points} == {0, 1, 2}


def test_lorenz_rhs_by_hand() -> None:
    f = get_system("lorenz").vector_field()
    x, y, z = 1.0, -2.0, 3.0
    expected = [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]
    got = f(torch.tensor([[x, y, z]], dtype=torch.float64))[0]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
