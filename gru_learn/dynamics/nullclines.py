"""Nullclines of a planar vector field: the curves where one component of f vanishes."""

from __future__ import annotations

from collections.abc import Callable

import contourpy
import torch
from torch import Tensor

VectorField = Callable[[Tensor], Tensor]


@torch.no_grad()
def field_on_grid(
    f: VectorField, box: tuple[tuple[float, float], ...], resolution: int = 200
) -> tuple[Tensor, Tensor, Tensor]:
    """f on a (resolution x resolution) grid of a 2-D box: returns (x, y, F) with F (R, R, 2),
    indexed F[j, i] = f(x_i, y_j) (row = y, as matplotlib expects)."""
    (x0, x1), (y0, y1) = box
    x = torch.linspace(x0, x1, resolution, dtype=torch.float64)
    y = torch.linspace(y0, y1, resolution, dtype=torch.float64)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return x, y, f(torch.stack([xx, yy], dim=-1))


def nullclines(
    f: VectorField, box: tuple[tuple[float, float], ...], resolution: int = 300
) -> dict[str, list[Tensor]]:
    """{"x": [...], "y": [...]}: polylines (n, 2) where f_x = 0 and where f_y = 0."""
    x, y, field = field_on_grid(f, box, resolution)
    out = {}
    for k, name in enumerate(("x", "y")):
        gen = contourpy.contour_generator(x.numpy(), y.numpy(), field[..., k].numpy())
        out[name] = [torch.from_numpy(line) for line in gen.lines(0.0)]
    return out
