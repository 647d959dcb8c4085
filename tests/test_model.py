"""GRUForecaster: the rollout modes agree, Eq 10's scaling, divergence handling."""

from __future__ import annotations

import warnings

import lightning as L
import pytest
import torch

from gru_learn.training.module import GRUForecaster

F64 = torch.float64


def data(n: int = 12, T: int = 10, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, T + 1, 2, generator=g, dtype=F64)


@pytest.mark.parametrize("reset", ["before", "after"])
def test_ode_euler_step_one_reproduces_discrete(reset: str) -> None:
    torch.manual_seed(0)
    disc = GRUForecaster(hidden_size=3, reset=reset).double()
    ode = GRUForecaster(hidden_size=3, reset=reset, rollout="ode", ode_method="euler").double()
    ode.load_state_dict(disc.state_dict())
    x = data()
    torch.testing.assert_close(ode(x[:, 0], 10), disc(x[:, 0], 10), rtol=0, atol=1e-13)
    # a finer solver integrates the same vector field but is a different map
    fine = GRUForecaster(hidden_size=3, reset=reset, rollout="ode", ode_method="rk4",
                         ode_step=0.25).double()
    fine.load_state_dict(disc.state_dict())
    assert (fine(x[:, 0], 10) - disc(x[:, 0], 10)).abs().max() > 1e-6


def test_rollout_matches_its_definition() -> None:
    torch.manual_seed(1)
    m = GRUForecaster(hidden_size=2).double()
    x = data()
    h = m.cell(x[:, 0], torch.zeros(len(x), 2, dtype=F64))
    preds = [m.readout(h)]
    for _ in range(9):
        h = m.cell(torch.zeros(len(x), 2, dtype=F64), h)
        preds.append(m.readout(h))
    torch.testing.assert_close(m(x[:, 0], 10), torch.stack(preds, 1), rtol=0, atol=1e-14)
    # our loss is Eq 10 divided by N * p
    eq10 = ((torch.stack(preds, 1) - x[:, 1:]) ** 2).sum() / 10
    torch.testing.assert_close(m.loss(x) * len(x) * 2, eq10)


class NaNAfter(GRUForecaster):
    def loss(self, batch):
        loss = super().loss(batch)
        return loss * float("nan") if self.current_epoch >= 3 else loss


def test_nan_loss_stops_and_keeps_last_good_parameters(tmp_path) -> None:
    torch.manual_seed(0)
    x = data(T=5).float()
    loader = torch.utils.data.DataLoader([x], batch_size=None)
    model = NaNAfter()
    trainer = L.Trainer(max_epochs=50, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[L.pytorch.callbacks.ModelCheckpoint(tmp_path, save_last=True)])
    trainer.fit(model, loader)
    assert trainer.current_epoch <= 4
    assert model.diverged and "nan at epoch 3" in model.diverged
    assert all(torch.isfinite(p).all() for p in model.parameters())
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in saved.values())



def test_one_divergence_policy_for_fit_the_loop_and_the_ensemble(tmp_path) -> None:
    """lr 1e5 and a huge readout: epoch 0's loss is finite, its update makes epoch 1's loss
    non-finite. fit's Lightning step, the plain loop and an ensemble member stop at epoch 1 with
    the same parameters, those whose loss was finite (epoch 0's, before its update), bit for
    bit; the other member trains on."""
    from gru_learn.training.ensemble import GRUEnsemble, fit_ensemble
    from gru_learn.training.loop import train_forecaster

    x = data(n=16, T=6).float()

    def overflowing() -> GRUForecaster:
        torch.manual_seed(0)
        m = GRUForecaster(hidden_size=2, lr=1e5)
        with torch.no_grad():
            m.readout.weight.mul_(1e18)
        return m

    start = overflowing().state_dict()
    plain = overflowing()
    curves = train_forecaster(plain, x, 6)
    assert curves["diverged_at"] == 1 and curves["train_loss"][1:].isnan().all()
    kept = plain.state_dict()  # epoch 0's update (to non-finite parameters) undone
    assert all(torch.equal(v, start[k]) for k, v in kept.items())

    ens = GRUEnsemble([2, 2], obs_dim=2)
    ens.set_member(0, GRUForecaster(hidden_size=2))
    ens.set_member(1, overflowing())
    member = fit_ensemble(ens, x, 6, lr=1e5)
    assert member["diverged_at"].tolist() == [-1, 1]
    assert member["train_loss"][1:, 1].isnan().all() and member["train_loss"][:, 0].isfinite().all()
    assert all(torch.equal(v, kept[k]) for k, v in ens.member_state(1).items())

    lightning = overflowing()
    trainer = L.Trainer(max_epochs=6, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=tmp_path)
    trainer.fit(lightning, torch.utils.data.DataLoader([x], batch_size=None))
    assert "at epoch 1;" in lightning.diverged and "finite loss" in lightning.diverged
    assert "epoch 0)" in lightning.diverged
    assert all(torch.equal(v, kept[k]) for k, v in lightning.state_dict().items())

@pytest.mark.parametrize("kw", [{"hidden_size": 0}, {"lr": -1.0}, {"ode_step": 0.0},
                                {"rollout": "ode", "ode_method": "nope"}])
def test_bad_model_arguments(kw: dict) -> None:
    from gru_learn.errors import UserError

    with pytest.raises(UserError):
        GRUForecaster(**kw)


# (options, whether they cannot act on 6-step training sequences)
INERT = [({"curriculum_start": 6}, True), ({"curriculum_start": 9}, True),
         ({"curriculum_start": 5}, False),
         ({"forcing": "sparse", "forcing_interval": 6}, True),
         ({"forcing": "generalized", "forcing_alpha": 0.5, "forcing_interval": 7}, True),
         ({"forcing": "sparse", "forcing_interval": 5}, False),
         ({"forcing": "generalized", "forcing_alpha": 0.5, "forcing_interval": 1}, False)]


def _inert_warnings(record: list) -> list[str]:
    return [str(w.message) for w in record if "training horizon" in str(w.message)]


@pytest.mark.parametrize("kw, inert", INERT)
def test_an_option_that_cannot_act_on_the_horizon_warns_in_the_plain_loop(
        kw: dict, inert: bool) -> None:
    """The warning fires exactly where the option changes nothing: where the training loss
    (epoch 0, curriculum or forcing) equals the plain free-running loss."""
    from gru_learn.training.loop import train_forecaster

    torch.manual_seed(0)
    m = GRUForecaster(hidden_size=2, **kw).double()
    x = data(T=6)
    acts = not torch.allclose(m.training_loss(x, 0, epochs=1), m.loss(x), rtol=1e-12, atol=0)
    assert acts != inert
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        train_forecaster(m, x, 1)
    found = _inert_warnings(record)
    assert len(found) == inert
    if inert:
        assert "\n" not in found[0] and str(6) in found[0]
        assert ("curriculum_start" if "curriculum_start" in kw else "forcing_interval") \
            in found[0]
    # the interval means nothing without forcing: no warning
    assert GRUForecaster(forcing_interval=50).inert_options(6) == []


class Split(L.LightningDataModule):
    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.splits = {"train": x}

    def train_dataloader(self):
        return torch.utils.data.DataLoader([self.splits["train"]], batch_size=None)


@pytest.mark.parametrize("start, inert", [(6, True), (5, False)])
def test_fit_warns_at_train_start_for_a_curriculum_that_cannot_act(
        start: int, inert: bool, tmp_path) -> None:
    torch.manual_seed(0)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=tmp_path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(GRUForecaster(hidden_size=2, curriculum_start=start),
                    datamodule=Split(data(T=6).float()))
    assert len(_inert_warnings(record)) == inert
