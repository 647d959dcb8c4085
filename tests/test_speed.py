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
