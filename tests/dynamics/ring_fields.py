"""Analytic vector fields with known slow manifolds, for the tests of the manifold finder and
the memory measures: a ring r = 1 attracting at rate 2 with the flow eps sin(k theta) along it
(2k fixed points on it, ||phi||_inf = eps, drift in closed form), the same ring broken by fast
stretches, a line along a known direction, each embeddable in d dimensions by a random
orthogonal map (the other directions contracting at rate 1)."""

import math

import torch

F64 = torch.float64


def frame(d: int, seed: int = 1) -> torch.Tensor:
    """A random orthogonal d x d matrix: the plane of the ring is its first two columns."""
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=F64,
                                       generator=torch.Generator().manual_seed(seed)))
    return q


def planar(along, d: int = 2, seed: int = 1):
    """dr/dt = r (1 - r^2), dtheta/dt = along(theta) in the plane of ``frame(d)``'s first two
    columns; the other d - 2 directions contract at rate 1. Returns (f, q)."""
    q = frame(d, seed) if d > 2 else torch.eye(2, dtype=F64)

    def f(h):
        x = h @ q
        u, v = x[..., 0], x[..., 1]
        r2 = u * u + v * v
        th = torch.atan2(v, u)
        w = along(th)
        du = u * (1 - r2) - v * w
        dv = v * (1 - r2) + u * w
        rest = -x[..., 2:]
        return torch.cat([du[..., None], dv[..., None], rest], -1) @ q.T

    return f, q


def sine_ring(eps: float, k: int, d: int = 2, seed: int = 1):
    """The ring with dtheta/dt = eps sin(k theta): k stable points at theta = (2j + 1) pi / k,
    k unstable at 2 j pi / k (along it), ||phi||_inf = eps."""
    return planar(lambda th: eps * torch.sin(k * th), d, seed)


def sine_ring_angle(theta0, eps: float, k: int, t: float):
    """theta(t) of dtheta/dt = eps sin(k theta): tan(k theta / 2) = tan(k theta0 / 2)
    exp(k eps t), on the branch of theta0."""
    half = torch.atan(torch.tan(k * theta0 / 2) * math.exp(k * eps * t))
    # atan returns (-pi/2, pi/2): put k theta / 2 back in theta0's branch of length pi
    branch = torch.round((k * theta0 / 2 - half) / math.pi)
    return 2 * (half + branch * math.pi) / k


def broken_ring(fast: float = 2.0, slow: float = 1e-3, d: int = 2, seed: int = 1):
    """The ring with dtheta/dt = slow + fast cos(theta)^20: fast stretches around theta = 0 and
    pi cut it into two slow arcs around +-pi/2."""
    return planar(lambda th: slow + fast * torch.cos(th) ** 20, d, seed)


def sloped_line(slope: float, drift: float, d: int = 2, seed: int = 1):
    """A line through 0 along (1, slope) (in the plane of ``frame``): the flow along it is
    drift * s (s the coordinate along it), across it -x (rate 1). Returns (f, direction)."""
    q = frame(d, seed) if d > 2 else torch.eye(2, dtype=F64)
    e = torch.tensor([1.0, slope], dtype=F64)
    e = e / e.norm()
    n = torch.tensor([-e[1], e[0]], dtype=F64)
    basis = torch.zeros(d, d, dtype=F64)
    basis[:2, 0], basis[:2, 1] = e, n
    basis[2:, 2:] = torch.eye(d - 2, dtype=F64)
    b = q @ basis  # columns: the line's direction, its normal, the rest

    def f(h):
        x = h @ b
        return torch.cat([drift * x[..., :1], -x[..., 1:]], -1) @ b.T

    return f, b[:, 0]
