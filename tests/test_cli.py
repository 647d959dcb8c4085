"""The fit CLI as a user runs it: every shipped config, the Lightning subcommands, one-line
errors, reproducibility and exact resumption."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gru_learn.cli.fit import main as fit_main
from gru_learn.data import TrajectoryDataModule
from gru_learn.model import GRUForecaster
from tests.conftest import run_cli

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))
TINY_DATA = {"n_train": 16, "n_val": 4, "n_test": 4, "horizon": 6}
TINY = ["--data.n_train=16", "--data.n_val=4", "--data.n_test=4", "--data.horizon=6",
        "--trainer.check_val_every_n_epoch=1", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--analysis.enabled=false"]


def last_ckpt(root: Path) -> Path:
    (path,) = root.glob("logs/*/version_*/checkpoints/last.ckpt")
    return path


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["state_dict"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_fits(config: Path, in_tmp: Path) -> None:
    assert fit_main(["fit", f"--config={config}", "--trainer.max_epochs=3", *TINY]) == 0
    run = next((in_tmp / "logs").glob("*/version_0"))
    assert run.parent.name == config.stem  # logs/<system>/version_0
    assert (run / "config.yaml").is_file() and (run / "hparams.yaml").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    assert list(run.glob("checkpoints/best-*.ckpt")) and (run / "checkpoints/last.ckpt").is_file()
    hparams = (run / "hparams.yaml").read_text()
    for key in ("hidden_size", "reset", "rollout", "system", "seed"):
        assert f"{key}:" in hparams


def test_validate_test_predict_from_checkpoint(in_tmp: Path) -> None:
    assert fit_main(["fit", "--trainer.max_epochs=2", *TINY]) == 0
    ckpt = last_ckpt(in_tmp)
    for sub in ("validate", "test", "predict"):
        assert fit_main([sub, f"--ckpt_path={ckpt}", *TINY[:4]]) == 0
    (pred,) = in_tmp.glob("logs/fhn/version_*/predictions.npz")
    with np.load(pred) as z:
        assert z["truth"].shape == (4, 7, 2) and z["prediction"].shape == (4, 6, 2)


def test_same_seed_same_numbers_and_resume_is_exact(in_tmp: Path) -> None:
    args = ["fit", "--seed_everything=7", *TINY]
    assert fit_main([*args, "--trainer.max_epochs=6", "--trainer.logger.init_args.name=a"]) == 0
    assert fit_main([*args, "--trainer.max_epochs=6", "--trainer.logger.init_args.name=b"]) == 0
    assert fit_main([*args, "--trainer.max_epochs=3", "--trainer.logger.init_args.name=c"]) == 0
    (c,) = in_tmp.glob("logs/c/version_0/checkpoints/last.ckpt")
    assert fit_main([*args, "--trainer.max_epochs=6", "--trainer.logger.init_args.name=c",
                     f"--ckpt_path={c}"]) == 0
    a, b = (state(next(in_tmp.glob(f"logs/{n}/version_0/checkpoints/last.ckpt"))) for n in "ab")
    resumed = state(next(in_tmp.glob("logs/c/version_1/checkpoints/last.ckpt")))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
        torch.testing.assert_close(a[k], resumed[k], rtol=0, atol=0)
    # a different seed gives a different network
    assert fit_main([*args[:1], "--seed_everything=8", *TINY, "--trainer.max_epochs=1",
                     "--trainer.logger.init_args.name=d"]) == 0
    d = state(next(in_tmp.glob("logs/d/version_0/checkpoints/last.ckpt")))
    assert not torch.equal(d["cell.weight_hh"], a["cell.weight_hh"])


def test_mini_batches_resume_exactly(in_tmp: Path) -> None:
    args = ["fit", *TINY, "--data.batch_size=5"]
    assert fit_main([*args, "--trainer.max_epochs=4", "--trainer.logger.init_args.name=a"]) == 0
    assert fit_main([*args, "--trainer.max_epochs=2", "--trainer.logger.init_args.name=c"]) == 0
    (c,) = in_tmp.glob("logs/c/version_0/checkpoints/last.ckpt")
    assert fit_main([*args, "--trainer.max_epochs=4", "--trainer.logger.init_args.name=c",
                     f"--ckpt_path={c}"]) == 0
    a = state(next(in_tmp.glob("logs/a/version_0/checkpoints/last.ckpt")))
    resumed = state(next(in_tmp.glob("logs/c/version_1/checkpoints/last.ckpt")))
    for k in a:
        torch.testing.assert_close(a[k], resumed[k], rtol=0, atol=0)


@pytest.mark.parametrize("args, message", [
    (["--data.system=nope"], "unknown system 'nope'"),
    (["--model.hidden_size=0"], "hidden_size must be positive"),
    (["--data.dt=0"], "dt must be positive"),
    (["--data=gru_learn.data.FileDataModule", "--data.path=missing.npz"], "does not exist"),
    (["--model.lr=1e30", "--trainer.max_epochs=5"], "loss became"),
    (["--model.hidden_size=two"], "hidden_size"),
])
def test_bad_values_give_one_line_and_nonzero_exit(args: list[str], message: str,
                                                    in_tmp: Path) -> None:
    tiny = [] if any("FileDataModule" in a for a in args) else TINY
    result = run_cli("fit", *args, *tiny, cwd=in_tmp)
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.stderr
    assert message in lines[-1], result.stderr
    assert all("error" not in ln for ln in lines[:-1]), result.stderr


def test_diverged_run_keeps_the_last_finite_parameters(in_tmp: Path) -> None:
    """lr 1e30: epoch 0's loss is finite, its update overflows, epoch 1's loss is inf. The kept
    checkpoint must hold the parameters of epoch 0 (not those after the update that produced
    inf), say so in its epoch, and the message must name that epoch and loss."""
    result = run_cli("fit", "--model.lr=1e30", "--trainer.max_epochs=5", *TINY, cwd=in_tmp)
    assert result.returncode == 2, result.stderr
    found = re.search(r"loss became (\S+) at epoch (\d+);.* finite loss \((\S+), epoch (\d+)\); "
                      r"checkpoint with them: (\S+)$", result.stderr.strip())
    assert found, result.stderr
    bad, bad_epoch, kept_loss, kept_epoch, path = found.groups()
    assert not math.isfinite(float(bad)) and int(kept_epoch) == int(bad_epoch) - 1
    ckpt = torch.load(in_tmp / path, weights_only=False)
    assert ckpt["epoch"] == int(kept_epoch) and "loss became" in ckpt["diverged"]
    model = GRUForecaster.load_from_checkpoint(in_tmp / path)
    data = TrajectoryDataModule(**TINY_DATA)
    data.setup()
    loss = model.loss(data.splits["train"]).item()
    assert math.isfinite(loss) and loss == pytest.approx(float(kept_loss), rel=1e-5)


def test_print_config_and_unknown_command(in_tmp: Path) -> None:
    result = run_cli("fit", "--print_config", "--data.system=ring", cwd=in_tmp)
    assert result.returncode == 0 and "system: ring" in result.stdout
    result = run_cli("frobnicate", cwd=in_tmp)
    assert result.returncode == 2 and "unknown command" in result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_gpu(in_tmp: Path) -> None:
    assert fit_main(["fit", "--trainer.accelerator=gpu", "--trainer.devices=1",
                     "--trainer.max_epochs=3", *TINY]) == 0
