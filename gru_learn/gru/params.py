"""The 12 parameters theta = (U_h, U_r, b_h, b_r) of an autonomous 2-D GRU with U_z = b_z = 0
(z = 1/2), the form the topology search and the paper's catalogue presets use."""

from __future__ import annotations

import torch
from torch import Tensor

from gru_learn.gru.cell import GRUCell, Reset

PARAM_NAMES: tuple[str, ...] = ("uh11", "uh12", "uh21", "uh22", "ur11", "ur12", "ur21", "ur22",
                                "bh1", "bh2", "br1", "br2")


def unpack(theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(U_h, U_r, b_h, b_r) of shape (..., 2, 2), (..., 2, 2), (..., 2), (..., 2)."""
    return (theta[..., 0:4].reshape(*theta.shape[:-1], 2, 2),
            theta[..., 4:8].reshape(*theta.shape[:-1], 2, 2), theta[..., 8:10], theta[..., 10:12])


def cell_from_theta(theta: Tensor | list[float], reset: Reset = "before") -> GRUCell:
    """The float64 GRUCell (U_z = b_z = 0, input size 0) with these 12 parameters."""
    theta = torch.as_tensor(theta, dtype=torch.float64)
    u_h, u_r, b_h, b_r = unpack(theta)
    return GRUCell.from_weights(U_h=u_h, U_r=u_r, b_h=b_h, b_r=b_r, reset=reset)


def theta_from_cell(cell: GRUCell) -> Tensor:
    """The 12 parameters of an autonomous 2-D cell with U_z = b_z = 0 (inverse of
    :func:`cell_from_theta`; b_h and b_r are the sums of the input and hidden biases)."""
    w, b = cell.weight_hh.detach().double(), (cell.bias_ih + cell.bias_hh).detach().double()
    if cell.hidden_size != 2 or bool(w[2:4].any()) or bool(b[2:4].any()):
        raise ValueError("theta_from_cell needs a 2-D cell with U_z = b_z = 0")
    if cell.reset == "after" and bool(cell.bias_hh[4:6].any()):
        raise ValueError("a reset='after' cell's b_hn has no place in theta")
    return torch.cat([w[4:6].flatten(), w[0:2].flatten(), b[4:6], b[0:2]])


def theta_dict(theta: Tensor) -> dict[str, float]:
    return {k: float(v) for k, v in zip(PARAM_NAMES, theta.tolist(), strict=True)}

