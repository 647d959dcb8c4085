"""TensorBoard's HPARAMS tab and the metric names, read back from the event files the way
TensorBoard reads them: ``fit`` and ``compare`` runs register the same hyperparameters and
metrics, and the metric values are the ones computed independently here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from gru_learn.cli.compare import main as compare_main
from gru_learn.cli.fit import main as fit_main
from gru_learn.experiments import grid as sweep
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.hparams import METRICS, final_metrics
from gru_learn.training.module import GRUForecaster

TINY = ["--data.n_train=16", "--data.n_val=4", "--data.n_test=4", "--data.horizon=6",
        "--trainer.check_val_every_n_epoch=1", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--analysis.enabled=false"]


def read_run(run: Path) -> tuple[EventAccumulator, dict, list[str]]:
    """(scalars, session-start hyperparameters, experiment metric names) of one run folder."""
    ea = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    content = ea.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    hp = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
          for k, v in start.session_start_info.hparams.items()}
    names = [m.name.tag for m in exp.experiment.metric_infos]
    return ea, hp, names


def last(ea: EventAccumulator, tag: str) -> float:
    return ea.Scalars(tag)[-1].value


def test_final_metrics_from_an_analysis_summary() -> None:
    summary = {"comparison": {"topology_match": True, "period_rel_error": 0.25, "d_stsp": 1.5,
                              "d_h": None, "ode_period_rel_error": 0.5,
                              "continuous_attractors": [{"coverage_of_target": 0.4},
                                                        {"coverage_of_target": 0.9}],
                              "test_mse": {"long_horizon": {"mean": 3.0}}},
               "seconds": {"a": 1.0, "b": 2.5}}
    m = final_metrics({"train": 0.1, "val": 0.2}, summary)
    assert list(m) == list(METRICS)
    assert m["results/topology_match"] == 1.0 and m["results/period_rel_error"] == 0.25
    assert m["results/coverage"] == 0.9 and m["results/long_horizon_mse"] == 3.0
    assert m["results/analysis_seconds"] == 3.5 and m["results/loss_val"] == 0.2
    assert math.isnan(m["results/stable_cycles"])  # no learned signature in this summary
    s2 = {"learned": {"signature": {"stable_points": 0, "stable_cycles": 2}}, "comparison": {}}
    m2 = final_metrics({}, s2)
    assert (m2["results/stable_points"], m2["results/stable_cycles"]) == (0.0, 2.0)
    assert math.isnan(m["results/d_h"]) and math.isnan(m["results/loss_test"])
    # a failed analysis (comparison None) leaves every dynamics metric undefined
    failed = final_metrics({}, {"comparison": None, "errors": {"analysis": "x"}})
    assert all(math.isnan(v) for v in failed.values())


def test_fit_logs_hparams_test_loss_lr_and_grad_norm(in_tmp: Path) -> None:
    assert fit_main(["fit", "--trainer.max_epochs=3", "--model.hidden_size=3",
                     "--model.lr=0.003", "--seed_everything=5", *TINY]) == 0
    (run,) = (in_tmp / "logs").glob("fhn/version_0")
    ea, hp, names = read_run(run)
    assert names == list(METRICS)
    assert hp["hidden_size"] == 3 and hp["seed"] == 5 and hp["system"] == "fhn"
    assert hp["lr"] == pytest.approx(0.003) and hp["epochs"] == 3
    assert hp["reset"] == "before" and hp["rollout"] == "discrete"
    tags = set(ea.Tags()["scalars"])
    assert {"loss/train", "loss/val", "loss/test", "optim/lr", "optim/grad_norm"} <= tags
    assert not tags & {"epoch", "train_loss", "val_loss", "test_loss", "hp_metric"}
    assert len(ea.Scalars("loss/train")) == 3 and len(ea.Scalars("optim/grad_norm")) == 3
    steps = [[e.step for e in ea.Scalars(tag)] for tag in ("loss/train", "optim/grad_norm")]
    assert steps[0] == steps[1]  # the curves at the steps of Lightning's epoch metrics
    assert last(ea, "optim/lr") == pytest.approx(0.003)
    # the test loss: the final parameters' free-running MSE on the test split, recomputed
    model = GRUForecaster.load_from_checkpoint(run / "checkpoints" / "last.ckpt")
    dm = TrajectoryDataModule("fhn", n_train=16, n_val=4, n_test=4, horizon=6)
    dm.setup()
    test = dm.splits["test"]
    with torch.no_grad():
        mse = float(((model(test[:, 0], test.shape[1] - 1) - test[:, 1:]) ** 2).mean())
    assert last(ea, "loss/test") == pytest.approx(mse, rel=1e-5)
    assert last(ea, "results/loss_test") == pytest.approx(mse, rel=1e-5)
    assert last(ea, "results/loss_train") == pytest.approx(last(ea, "loss/train"))


def test_test_after_fit_can_be_switched_off(in_tmp: Path) -> None:
    assert fit_main(["fit", "--trainer.max_epochs=2", "--test_after_fit=false", *TINY]) == 0
    ea, hp, _ = read_run(next((in_tmp / "logs").glob("fhn/version_0")))
    tags = ea.Tags()["scalars"]
    assert "loss/test" not in tags and "results/loss_val" in tags
    assert "results/loss_test" not in tags  # undefined: a blank cell in HPARAMS, not NaN


def test_compare_runs_register_the_same_hparams(in_tmp: Path, monkeypatch) -> None:
    def analyze(path: str, out_dir: str) -> dict:
        return {"comparison": {"topology_match": True, "period_rel_error": 0.1, "d_stsp": 2.0}}

    monkeypatch.setattr(sweep.analyze, "analysis_hook", lambda: analyze)
    assert compare_main(["--systems", "fhn", "--hidden-sizes", "2", "--seeds", "0",
                         "--epochs", "3", "--out", "out", "--n-train", "16", "--n-val", "4",
                         "--n-test", "4", "--horizon", "6", "--analyze"]) == 0
    (run,) = {p.parent for p in (in_tmp / "out").rglob("result.json")}
    ea, hp, names = read_run(run)
    assert names == list(METRICS)
    assert hp["hidden_size"] == 2 and hp["seed"] == 0 and hp["epochs"] == 3
    result = json.loads((run / "result.json").read_text())
    assert last(ea, "results/loss_test") == pytest.approx(result["final_test_loss"])
    assert last(ea, "results/topology_match") == 1.0
    assert last(ea, "results/period_rel_error") == pytest.approx(0.1)
    assert last(ea, "results/d_stsp") == pytest.approx(2.0)
    assert "results/d_h" not in ea.Tags()["scalars"]  # undefined: not written
    assert {"loss/train", "loss/val"} <= set(ea.Tags()["scalars"])
