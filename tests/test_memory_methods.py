"""Training methods for continuous attractors (state noise, the slowness penalty, MAR for the
GRU), compare's ``methods`` and ``data_per_seed``: each option changes the loss as its
docstring states (checked against a rollout written out here), off is today's loss bit for
bit, and compare runs methods side by side with each seed on its own data."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from gru_learn.__main__ import main as gru_main
from gru_learn.errors import UserError
from gru_learn.experiments.grid import TrainSettings
from gru_learn.training.module import GRUForecaster

T, B, D = 12, 5, 4


def _model(**kw) -> GRUForecaster:
    torch.manual_seed(3)
    return GRUForecaster(hidden_size=D, **kw)


def _batch() -> torch.Tensor:
    return torch.randn(B, T + 1, 2, generator=torch.Generator().manual_seed(1))


def _states(model: GRUForecaster, batch: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
    """h_1..h_T written out step by step with GRUCell.forward (noise from the global RNG)."""
    cell = model.cell
    h = cell(batch[:, 0], torch.zeros(B, D))
    h = h + noise * torch.randn_like(h) if noise else h
    hs = [h]
    for _ in range(T - 1):
        h = cell(None, h)
        h = h + noise * torch.randn_like(h) if noise else h
        hs.append(h)
    return torch.stack(hs, 1)


def test_off_is_the_papers_loss_bit_for_bit_and_the_plain_rollout_agrees() -> None:
    batch = _batch()
    plain, off = _model(), _model(state_noise=0.0, slowness=0.0, mar_weight=0.0)
    assert not off.regularised
    assert torch.equal(off.training_loss(batch, 0, 10), plain.loss(batch))
    # the regularisers' plain-autograd rollout, with nothing switched on, is the paper's loss
    assert torch.allclose(off._regularised_loss(batch), plain.loss(batch), atol=1e-6)


def test_state_noise_perturbs_every_state_of_the_training_rollout() -> None:
    batch, model = _batch(), _model(state_noise=0.3)
    torch.manual_seed(11)
    got = model.training_loss(batch, 0, 10)
    torch.manual_seed(11)
    want = torch.nn.functional.mse_loss(model.readout(_states(model, batch, 0.3)), batch[:, 1:])
    assert torch.allclose(got, want, atol=1e-6)
    clean = torch.nn.functional.mse_loss(model.readout(_states(model, batch)), batch[:, 1:])
    assert abs(float(got - clean)) > 1e-3  # the noise acted
    assert torch.equal(model.loss(batch), _model().loss(batch))  # validation: no noise


def test_the_slowness_penalty_is_the_mean_squared_field_after_the_transient() -> None:
    batch, after, weight = _batch(), 4, 2.5
    model = _model(slowness=weight, slowness_after=after)
    h = _states(model, batch)
    f = model.cell.vector_field(h[:, after:T - 1])  # f(h_k), k = after+1 .. T-1
    mse = torch.nn.functional.mse_loss(model.readout(h), batch[:, 1:])
    want = mse + weight * f.pow(2).mean()
    assert torch.allclose(model.training_loss(batch, 0, 10), want, atol=1e-6)


@pytest.mark.parametrize("fraction, units", [(0.5, 2), (0.3, 2), (1.0, 4)])
def test_mar_pushes_the_first_units_update_gates_towards_one(fraction: float,
                                                             units: int) -> None:
    batch, weight = _batch(), 0.7
    model = _model(mar_weight=weight, mar_fraction=fraction)
    h = _states(model, batch)
    z = model.cell.gates(h[:, :T - 1]).z[..., :units]  # autonomous steps only
    mse = torch.nn.functional.mse_loss(model.readout(h), batch[:, 1:])
    want = mse + weight * (1 - z).pow(2).mean()
    assert torch.allclose(model.training_loss(batch, 0, 10), want, atol=1e-6)


@pytest.mark.parametrize("kw, words", [
    ({"state_noise": -0.1}, "state_noise"), ({"slowness": math.inf}, "slowness"),
    ({"mar_fraction": 0.0}, "mar_fraction"), ({"slowness_after": -1}, "slowness_after"),
    ({"state_noise": 0.1, "forcing": "sparse"}, "forcing: none"),
    ({"slowness": 1.0, "rollout": "ode"}, "rollout: discrete")])
def test_bad_regulariser_options_are_one_line_errors(kw: dict, words: str) -> None:
    with pytest.raises(UserError, match=words):
        GRUForecaster(hidden_size=2, **kw)


def test_regularised_settings_leave_the_vectorised_path() -> None:
    s = TrainSettings()
    for change in ({"state_noise": 0.1}, {"slowness": 1.0}, {"mar_weight": 0.1}):
        assert not dataclasses.replace(s, **change).vectorised
    assert s.for_seed(3) is s  # one draw per system unless asked
    per = dataclasses.replace(s, data_per_seed=True, data={"seed": 5})
    assert per.for_seed(3).data["seed"] == 8


TINY = ["--systems", "ring", "--hidden-sizes", "2", "--seeds", "0", "1", "--epochs", "6",
        "--log_every", "3", "--data.n_train", "8", "--data.n_val", "2", "--data.n_test", "2",
        "--data.horizon", "8"]


def _data_seed(run: Path) -> int:
    return torch.load(run / "model.ckpt", weights_only=False)["datamodule_hyper_parameters"][
        "seed"]


def test_compare_methods_side_by_side_each_seed_on_its_own_data(tmp_path: Path,
                                                                capsys) -> None:
    out = tmp_path / "m"
    argv = [*TINY, "--data_per_seed", "true", "--data.seed", "10", "--out", str(out),
            "--methods", "{paper: {}, noisy: {state_noise: 0.05}, long: {data: {horizon: 12}}}"]
    assert gru_main(["compare", *argv]) == 0
    printed = capsys.readouterr().out
    for name in ("paper", "noisy", "long"):
        assert f"| ring | 2 | {name} | 2 |" in printed
        runs = [out / name / "ring" / "h2" / f"seed{k}" for k in (0, 1)]
        assert [_data_seed(r) for r in runs] == [10, 11]  # each seed its own draw
    saved = json.loads((out / "noisy" / "compare.json").read_text())
    assert saved["state_noise"] == 0.05 and saved["data_per_seed"] is True
    assert json.loads((out / "long" / "compare.json").read_text())["data"]["horizon"] == 12
    rows = json.loads((out / "methods.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["paper", "noisy", "long"]
    # shared data (the paper's grid): both seeds on one draw
    assert gru_main(["compare", *TINY, "--out", str(tmp_path / "s")]) == 0
    assert {_data_seed(tmp_path / "s" / "ring" / "h2" / f"seed{k}") for k in (0, 1)} == {0}


@pytest.mark.parametrize("methods, words", [
    ("{a: {hidden_size: 3}}", "not a training option"),
    ("{'a/b': {}}", "method name"), ("{}", "at least one method"),
    ("{a: {state_noise: -1}}", "state_noise")])
def test_bad_methods_are_one_line_errors_before_training(methods: str, words: str,
                                                         tmp_path: Path, capsys) -> None:
    assert gru_main(["compare", *TINY, "--out", str(tmp_path / "o"), "--methods",
                     methods]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
