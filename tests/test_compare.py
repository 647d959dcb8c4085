"""Vectorised ensembles against independent fits, and the compare CLI: outputs, resumption,
--force, process workers and Ray."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from gru_learn.__main__ import main as gru_main
from gru_learn.cli.compare import main as compare_main
from gru_learn.cli.fit import main as fit_main
from gru_learn.errors import UserError
from gru_learn.experiments.grid import analyze as grid_analyze
from gru_learn.files.atomic import TMP_MARK
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.ensemble import GRUEnsemble, fit_ensemble
from gru_learn.training.module import GRUForecaster

ROOT = Path(__file__).resolve().parents[1]
FIG12 = ROOT / "configs" / "compare" / "fig12.yaml"
TINY_DATA = {"n_train": 16, "n_val": 4, "n_test": 4, "horizon": 6}
TINY = ["--n-train", "16", "--n-val", "4", "--n-test", "4", "--horizon", "6"]
# the paper's config with a small grid: 2 systems x 2 sizes x 2 seeds, 20 epochs
SMALL = ["--config", str(FIG12), "--hidden-sizes", "2", "3", "--seeds", "0", "1",
         "--epochs", "20", "--out", "out", *TINY]


def tiny_data(system: str = "fhn") -> TrajectoryDataModule:
    dm = TrajectoryDataModule(system, **TINY_DATA)
    dm.setup()
    return dm


def adam_fit(d: int, seed: int, reset: str, data: torch.Tensor, epochs: int):
    """An independent fit: seed_everything, GRUForecaster, full-batch Adam, as `fit` does."""
    L.seed_everything(seed, verbose=False)
    model = GRUForecaster(hidden_size=d, reset=reset)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = model.loss(data)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return torch.tensor(losses), model.state_dict()


@pytest.mark.parametrize("reset", ["before", "after"])
def test_ensemble_members_follow_their_independent_fits(reset: str, in_tmp: Path) -> None:
    """Mixed sizes in one zero-padded batch; 150 epochs: every logged loss within 1e-5 and every
    parameter within 1e-4 of the independent fit (float32 summation order is all that differs),
    and the padding is still exactly zero."""
    data = tiny_data().splits["train"]
    sizes, seeds, epochs = [2, 5, 3], [0, 1, 7], 150
    ens = GRUEnsemble.from_seeds(sizes, seeds, obs_dim=2, reset=reset)
    curves = fit_ensemble(ens, data, epochs)
    for m, (d, seed) in enumerate(zip(sizes, seeds, strict=True)):
        losses, state = adam_fit(d, seed, reset, data, epochs)
        torch.testing.assert_close(curves["train_loss"][:, m], losses, rtol=1e-5, atol=1e-5)
        member = ens.member_state(m)
        for k, v in state.items():
            torch.testing.assert_close(member[k], v, rtol=1e-4, atol=1e-4)
    for m, d in enumerate(sizes):  # everything outside member m's own entries is zero
        live, cols = ens._gate_rows(m), torch.arange(d)
        padding = [ens.weight_hh[m].clone(), ens.weight_ih[m].clone(), ens.bias_ih[m].clone(),
                   ens.bias_hh[m].clone(), ens.readout_weight[m, :, d:]]
        padding[0][live[:, None], cols] = 0
        for p in padding[1:4]:
            p[live] = 0
        assert all(p.abs().sum() == 0 for p in padding)


def test_ensemble_member_matches_the_lightning_fit_path(in_tmp: Path) -> None:
    args = ["fit", "--seed_everything=3", "--model.hidden_size=3", "--trainer.max_epochs=20",
            "--model.lr=0.002",
            *(f"--data.{k}={v}" for k, v in TINY_DATA.items()),
            "--trainer.check_val_every_n_epoch=1", "--analysis.enabled=false",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    assert fit_main(args) == 0
    (ckpt,) = in_tmp.glob("logs/fhn/version_0/checkpoints/last.ckpt")
    fitted = torch.load(ckpt, weights_only=False)
    # last.ckpt is written with the best one (Lightning's save_last), so compare at its step
    steps = fitted["global_step"]
    assert steps >= 10
    ens = GRUEnsemble.from_seeds([3, 3], [3, 4], obs_dim=2)
    fit_ensemble(ens, tiny_data().splits["train"], steps, lr=0.002)
    for k, v in ens.member_state(0).items():
        torch.testing.assert_close(v, fitted["state_dict"][k], rtol=1e-5, atol=1e-5)


def test_a_diverging_member_keeps_its_last_finite_parameters(in_tmp: Path) -> None:
    data = tiny_data().splits["train"]
    ens = GRUEnsemble.from_seeds([2, 2], [0, 1], obs_dim=2)
    with torch.no_grad():
        ens.readout_weight[1] = 1e30  # member 1's loss overflows at once
    before = ens.member_state(1)
    curves = fit_ensemble(ens, data, 5)
    assert curves["diverged_at"].tolist() == [-1, 0]
    assert torch.isnan(curves["train_loss"][:, 1]).all()
    assert all(torch.equal(v, before[k]) for k, v in ens.member_state(1).items())
    losses, _ = adam_fit(2, 0, "before", data, 5)
    torch.testing.assert_close(curves["train_loss"][:, 0], losses, rtol=1e-5, atol=1e-5)


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def files_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/h*/seed*/*"))}


def test_compare_end_to_end_resume_and_force(in_tmp: Path, capsys) -> None:
    assert compare_main(SMALL) == 0
    out = in_tmp / "out"
    for name in ("results.csv", "summary.json", "fig12_ring.png", "fig12_fhn.png",
                 "compare.json"):
        assert (out / name).is_file()
    assert list((out / "figures").glob("events.out.tfevents.*"))
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 * 2  # 8 runs x epochs 9 and 19
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs_finished"] == summary["runs_expected"] == 8
    assert {(r["system"], r["hidden_size"]) for r in summary["table"]} == {
        (s, d) for s in ("ring", "fhn") for d in (2, 3)}
    printed = capsys.readouterr().out
    assert "8 run(s) to train in 4 group(s)" in printed and "ring" in printed and "±" in printed

    run = out / "ring" / "h3" / "seed1"
    assert list(run.glob("events.out.tfevents.*"))
    model = GRUForecaster.load_from_checkpoint(run / "model.ckpt")
    result = json.loads((run / "result.json").read_text())
    assert model.hparams.hidden_size == 3 and model.hparams.system == "ring"
    dm = tiny_data("ring")
    assert model.loss(dm.splits["val"]).item() == pytest.approx(result["final_val_loss"], 1e-5)
    data_hp = torch.load(run / "model.ckpt", weights_only=False)["datamodule_hyper_parameters"]
    assert TrajectoryDataModule(**data_hp).key == dm.key  # the analysis can rebuild the data

    # an interrupted run: its folder never got renamed into place, a temp folder is left over,
    # as are figure folders and files of a killed writer, anywhere under out
    before = files_of(out)
    for p in run.iterdir():
        p.unlink()
    dead = dead_pid()
    run.rename(run.parent / f".seed1{TMP_MARK}{dead}-x")
    (out / "ring" / f".figures{TMP_MARK}{dead}-y").mkdir()
    (out / f".figures{TMP_MARK}{dead}-z").mkdir()
    (out / f".summary.json{TMP_MARK}{dead}-w.tmp").write_text("{")
    live = out / f".summary.json{TMP_MARK}{os.getpid()}-v.tmp"  # a live writer's: kept
    live.write_text("{")
    assert compare_main(SMALL) == 0
    assert "1 run(s) to train in 1 group(s)" in capsys.readouterr().out
    after = files_of(out)
    assert [p.name for p in out.rglob(f"*{TMP_MARK}*")] == [live.name]
    live.unlink()
    changed = {k for k in before if after.get(k) != before[k]}
    assert changed and all(k.startswith("ring/h3/seed1/") for k in changed)
    rerun = json.loads((run / "result.json").read_text())
    rerun.pop("cell_seconds"), result.pop("cell_seconds")
    assert rerun == result  # the same numbers to the last bit, not just close

    assert compare_main(SMALL) == 0
    assert "0 run(s) to train" in capsys.readouterr().out and files_of(out) == after
    with pytest.raises(UserError, match="other settings"):
        compare_main([*SMALL, "--epochs", "21"])
    assert compare_main([*SMALL, "--force"]) == 0
    assert "8 run(s) to train" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--systems", "nope"], "unknown system 'nope'"),
    (["--hidden-sizes", "4", "0"], "hidden sizes must be positive"),
    (["--config", "missing.yaml"], "File does not exist"),
    (["--workers", "0"], "--workers must be positive"),
])
def test_bad_input_is_one_line(args: list[str], message: str, in_tmp: Path, capsys) -> None:
    assert gru_main(["compare", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_analysis_hook_is_folded_into_the_summary(in_tmp: Path, monkeypatch) -> None:
    seen = []

    def analyze(path: str, out_dir: str) -> dict:
        seen.append(path)
        return {"learned": {"closed_loop": {"period": 6.5}},
                "comparison": {"topology_match": True, "period_rel_error": 0.1}}

    monkeypatch.setattr(grid_analyze, "analysis_hook", lambda: analyze)
    args = ["--systems", "fhn", "--hidden-sizes", "2", "--seeds", "0", "--epochs", "3",
            "--out", "out", *TINY]
    assert compare_main(args) == 0 and not seen  # only with --analyze
    assert compare_main([*args, "--analyze"]) == 0 and len(seen) == 1
    summary = json.loads((in_tmp / "out" / "summary.json").read_text())
    assert summary["table"][0]["topology_match_rate"] == 1.0
    run = summary["runs"][0]
    assert run["topology_match"] is True and run["period"] == 6.5
    assert run["period_rel_error"] == 0.1
    assert compare_main([*args, "--analyze"]) == 0 and len(seen) == 1  # analysed: kept
    # an analysis made on a common evaluation's data is redone on the run's own without one
    folder = in_tmp / "out" / "fhn" / "h2" / "seed0"
    (folder / "evaluation.json").write_text('{"settings": {}}')
    assert compare_main([*args, "--analyze"]) == 0 and len(seen) == 2
    assert not (folder / "evaluation.json").exists()
    assert "evaluation" not in json.loads((in_tmp / "out" / "summary.json").read_text())[
        "runs"][0]


def final_losses(out: Path) -> dict[tuple, float]:
    summary = json.loads((out / "summary.json").read_text())
    return {(r["system"], r["hidden_size"], r["seed"]): r["final_train_loss"]
            for r in summary["runs"]}


GRID = ["--systems", "fhn", "ring", "--hidden-sizes", "2", "--seeds", "0", "1", "--epochs", "10",
        *TINY]


def test_workers_run_the_same_groups(in_tmp: Path) -> None:
    """The same grid inline and in 2 processes: same runs, same numbers (the same function on
    the same inputs)."""
    assert compare_main([*GRID, "--out", "inline"]) == 0
    assert compare_main([*GRID, "--out", "workers", "--workers", "2"]) == 0
    assert final_losses(in_tmp / "workers") == final_losses(in_tmp / "inline")


@pytest.mark.slow
def test_ray_backend_runs_the_same_groups(in_tmp: Path) -> None:
    """As Ray tasks on a local Ray instance started by the command: same numbers as inline."""
    pytest.importorskip("ray")
    assert compare_main([*GRID, "--out", "inline"]) == 0
    assert compare_main([*GRID, "--out", "ray", "--backend", "ray", "--workers", "2"]) == 0
    assert final_losses(in_tmp / "ray") == final_losses(in_tmp / "inline")
