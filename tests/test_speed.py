"""Speed settings of the analysis: one intra-op thread inside the library's entry points (the
caller's count restored), and the limit-cycle search skipped, honestly, when every start
settles on a stable fixed point."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from gru_learn.analysis import api


def _threads_inside(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[int]:
    seen: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> str:
        seen.append(torch.get_num_threads())
        if fail:
            raise RuntimeError("boom")
        return "analysed"

    monkeypatch.setattr(api, "analyze_network", spy)
    return seen


@pytest.mark.parametrize("env, inside", [(None, 1), ("3", 3)])
def test_analyze_gru_runs_on_one_thread_and_restores_the_callers(
        monkeypatch: pytest.MonkeyPatch, env: str | None, inside: int) -> None:
    if env is None:
        monkeypatch.delenv("GRU_LEARN_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("GRU_LEARN_NUM_THREADS", env)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = _threads_inside(monkeypatch)
        assert api.analyze_gru(torch.nn.GRU(2, 4)) == "analysed"
        assert seen == [inside]
        assert torch.get_num_threads() == 2  # the caller's setting, not ours
    finally:
        torch.set_num_threads(before)


def test_the_callers_threads_are_restored_when_the_analysis_raises(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRU_LEARN_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = _threads_inside(monkeypatch, fail=True)
        with pytest.raises(RuntimeError, match="boom"):
            api.analyze_gru(torch.nn.GRU(2, 4))
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _focus(h: torch.Tensor) -> torch.Tensor:
    """One stable focus at the origin: every start spirals into it."""
    a = torch.tensor([[-0.5, -2.0], [2.0, -0.5]], dtype=h.dtype)
    return h @ a.T


def _point_and_cycle(h: torch.Tensor) -> torch.Tensor:
    """dr/dt = -0.1 r (r^2 - 1)(r^2 - 4), dtheta/dt = 1: a stable point at the origin, an
    unstable cycle at r = 1 and a stable cycle at r = 2 (period 2 pi)."""
    r2 = (h * h).sum(-1, keepdim=True)
    return -0.1 * (r2 - 1) * (r2 - 4) * h + torch.stack([-h[..., 1], h[..., 0]], -1)


def test_cycle_search_skipped_when_every_start_settles_on_a_stable_point() -> None:
    from gru_learn.dynamics import analyze_vector_field

    res = analyze_vector_field(_focus, ((-2.0, 2.0), (-2.0, 2.0)), continuous=False)
    assert [p.kind for p in res.fixed_points] == ["stable_focus"]
    assert list(res.limit_cycles) == []
    info = res.to_json()["limit_cycle_search"]
    assert info["skipped"] is True
    assert info["settled_on_stable_points"] == info["starts"] > 0
    assert "settled on the 1 stable fixed point" in info["reason"]
    assert info["reason"].split("by t = ")[1].split()[0] != "200"  # stopped early


def test_cycle_search_not_skipped_beside_a_stable_cycle() -> None:
    from gru_learn.dynamics import analyze_vector_field

    res = analyze_vector_field(_point_and_cycle, ((-2.5, 2.5), (-2.5, 2.5)), continuous=False)
    assert [p.kind for p in res.fixed_points] == ["stable_focus"]
    info = res.to_json()["limit_cycle_search"]
    assert info["skipped"] is False and "reason" not in info
    assert 0 < info["settled_on_stable_points"] < info["starts"]  # some went to the point
    stable = [c for c in res.limit_cycles if c.stable]
    assert len(stable) == 1
    assert abs(stable[0].period - 2 * torch.pi) < 1e-3
    radius = stable[0].orbit.norm(dim=-1)
    assert float((radius - 2).abs().max()) < 1e-3


def test_the_skip_is_in_summary_json_of_a_contracting_gru() -> None:
    import gru_learn

    torch.manual_seed(0)
    rnn = torch.nn.GRU(2, 6)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(0.3)  # contracting: one stable point
    summary = gru_learn.analyze_gru(rnn).summary
    info = summary["inputs"][0]["limit_cycle_search"]
    assert summary["inputs"][0]["signature"]["stable_points"] == 1
    assert info["skipped"] is True and info["reason"].startswith("all 64 starts settled")
    assert summary["inputs"][0]["limit_cycles"] == []
