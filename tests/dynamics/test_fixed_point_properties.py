"""Property tests on random 2-D GRUs of both conventions: every reported fixed point is a root,
and the index sum holds or the result says why."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gru_learn.dynamics import find_fixed_points
from gru_learn.gru import GRUCell


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.5, 8.0),
       reset=st.sampled_from(["before", "after"]))
def test_random_gru_fixed_points(seed, scale, reset):
    g = torch.Generator().manual_seed(seed)
    cell = GRUCell(0, 2, reset=reset).double()
    cell.reset_parameters(generator=g)
    with torch.no_grad():
        cell.weight_hh.mul_(scale)
        cell.bias_ih.mul_(scale / 2)
    result = find_fixed_points(cell.vector_field, [(-1.0, 1.0), (-1.0, 1.0)])
    assert result.fixed_points  # a GRU always has one: f points inward on the box
    for p in result.fixed_points:
        assert p.residual < 1e-10
        assert float(cell.vector_field(p.h).detach().norm()) < 1e-10
        assert ((p.h > -1) & (p.h < 1)).all()
    assert result.index_sum == 1 or any("index" in n for n in result.notes)
