"""The fit CLI as a user runs it: every shipped config, the Lightning subcommands, one-line
errors, reproducibility and exact resumption."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gru_learn.__main__ import main as gru_main
from gru_learn.cli.fit import main as fit_main
from gru_learn.errors import UserError
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.module import GRUForecaster
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
    # resumed from its own last.ckpt, the run goes on in its own folder
    assert [p.name for p in (in_tmp / "logs/c").iterdir()] == ["version_0"]
    resumed = state(c)
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
    # resumed from its own last.ckpt, the run goes on in its own folder
    assert [p.name for p in (in_tmp / "logs/c").iterdir()] == ["version_0"]
    resumed = state(c)
    for k in a:
        torch.testing.assert_close(a[k], resumed[k], rtol=0, atol=0)


@pytest.mark.parametrize("args, message", [
    (["--data.system=nope"], "unknown system 'nope'"),
    (["--model.hidden_size=0"], "hidden_size must be positive"),
    (["--data.dt=0"], "dt must be positive"),
    (["--data=gru_learn.training.data.FileDataModule", "--data.path=missing.npz"],
     "does not exist"),
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


# `python -m gru_learn`, except that each process waits at the start of fit (before the run
# folder is chosen) until every process named in the barrier folder has arrived there
SYNCED_MAIN = """
import os, sys, time
from pathlib import Path
from gru_learn.cli import fit
from gru_learn.__main__ import main
barrier, n = Path(os.environ["BARRIER"]), int(os.environ["BARRIER_N"])
original = fit.GRULearnCLI.before_fit
def before_fit(self):
    (barrier / str(os.getpid())).touch()
    while len(list(barrier.iterdir())) < n:
        time.sleep(0.002)
    original(self)
fit.GRULearnCLI.before_fit = before_fit
sys.exit(main(sys.argv[1:]))
"""


def test_two_fits_started_together_take_their_own_versions(in_tmp: Path,
                                                           tmp_path_factory) -> None:
    """Two real processes choosing their run folder at the same instant: version_0 and
    version_1, each with its own events file and config (before, both took version_0, the
    second crashed and left its events file in the first one's folder)."""
    barrier = tmp_path_factory.mktemp("barrier")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "BARRIER": str(barrier), "BARRIER_N": "2"}
    cmd = [sys.executable, "-c", SYNCED_MAIN, "fit", "--trainer.max_epochs=2", *TINY]
    procs = [subprocess.Popen(cmd, cwd=in_tmp, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    runs = sorted(p.name for p in (in_tmp / "logs" / "fhn").iterdir())
    assert runs == ["version_0", "version_1"]
    writers = []  # events.out.tfevents.<time>.<host>.<pid>.<n>: one process per folder
    for run in runs:
        folder = in_tmp / "logs" / "fhn" / run
        pids = {p.name.split(".")[-2] for p in folder.glob("events.out.tfevents.*")}
        assert len(pids) == 1  # fit, test after fit and HPARAMS may each open a file
        writers += pids
        assert (folder / "config.yaml").is_file() and (folder / "checkpoints/last.ckpt").is_file()
    assert len(set(writers)) == 2


@pytest.fixture(scope="module")
def trained_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a hidden-size-2 network (lr 0.01) trained for 2 epochs."""
    root = tmp_path_factory.mktemp("trained")
    assert run_cli("fit", "--trainer.max_epochs=2", *TINY, cwd=root).returncode == 0
    return last_ckpt(root)


def bad_files(folder: Path, good: Path) -> dict[str, Path]:
    (folder / "truncated.ckpt").write_bytes(good.read_bytes()[:300])
    (folder / "text.ckpt").write_text("not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, folder / "foreign.ckpt")
    full = torch.load(good, weights_only=False)  # the network only, as compare writes it
    torch.save({k: full[k] for k in ("state_dict", "hyper_parameters",
                                     "datamodule_hyper_parameters")}, folder / "network.ckpt")
    return {k: folder / f"{k}.ckpt" for k in ("truncated", "text", "foreign", "network")}


@pytest.mark.parametrize("command, args, message", [
    ("fit", ["--ckpt_path=missing.ckpt"], "does not exist"),
    ("test", ["--ckpt_path=missing.ckpt"], "does not exist"),
    ("fit", ["--ckpt_path=truncated.ckpt"], "not a complete torch checkpoint"),
    ("test", ["--ckpt_path=text.ckpt"], "not a complete torch checkpoint"),
    ("validate", ["--ckpt_path=foreign.ckpt"], "is not a gru_learn checkpoint"),
    ("fit", ["--ckpt_path=network.ckpt"], "holds the network only"),
    ("fit", ["--ckpt_path=GOOD", "--data.system=lorenz"], "does not fit: cell.weight_ih"),
    ("test", ["--ckpt_path=GOOD", "--data.system=lorenz"], "does not fit"),
    ("fit", ["--ckpt_path=GOOD", "--model.hidden_size=8", "--model.lr=0.001"],
     "--model.hidden_size 8 (checkpoint: 2), --model.lr 0.001 (checkpoint: 0.01) conflict"),
    ("fit", ["--ckpt_path=GOOD", "--model.hidden_size=8", "--ckpt_override=true"],
     "(6, 2) there but (24, 2) here"),
    ("fit", ["--data.n_val=0"], "the val split is empty"),
    ("test", ["--data.n_test=0"], "the test split is empty"),
    ("fit", ["--data=gru_learn.training.data.FileDataModule", "--data.path=two.npz",
             "--data.horizon=6"], "split is empty"),
])
def test_bad_inputs_fail_before_anything_is_created(command: str, args: list[str], message: str,
                                                    trained_ckpt: Path, in_tmp: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    bad_files(in_tmp, trained_ckpt)
    np.savez(in_tmp / "two.npz", trajectories=np.random.default_rng(0).random((2, 20, 2)))
    args = [a.replace("GOOD", str(trained_ckpt)) for a in args]
    overridden = {a.split("=")[0] for a in args}
    tiny = [t for t in TINY if t.split("=")[0] not in overridden]
    if any("FileDataModule" in a for a in args):
        tiny = [t for t in tiny if not t.startswith("--data.")]
    assert gru_main([command, *args, "--trainer.max_epochs=3", *tiny]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not (in_tmp / "logs").exists()  # no empty version_N left behind


def test_ckpt_override_uses_the_explicit_values(trained_ckpt: Path, in_tmp: Path) -> None:
    assert fit_main(["fit", f"--ckpt_path={trained_ckpt}", "--model.lr=0.001",
                     "--ckpt_override=true", "--trainer.max_epochs=3", *TINY]) == 0
    saved = torch.load(last_ckpt(in_tmp), weights_only=False)
    hparams = saved["hyper_parameters"]
    assert hparams["lr"] == 0.001 and hparams["hidden_size"] == 2
    # the optimizer trained with it too (restoring its state had brought back 0.01)
    assert saved["optimizer_states"][0]["param_groups"][0]["lr"] == 0.001
    # the checkpoint's own values need no override (and defaults never conflict)
    assert fit_main(["fit", f"--ckpt_path={trained_ckpt}", "--model.hidden_size=2",
                     "--trainer.max_epochs=3", "--trainer.logger.init_args.name=b", *TINY]) == 0


def test_an_internal_error_is_not_relabelled_as_an_earlier_user_error(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A UserError raised and handled along the way must not stand in for a later, unrelated
    ValueError: that one is a bug and keeps its type and traceback."""
    def broken(self: GRUForecaster) -> None:
        try:
            raise UserError("a handled, unrelated user error")
        except UserError:
            pass
        raise ValueError("an internal bug")

    monkeypatch.setattr(GRUForecaster, "configure_optimizers", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        fit_main(["fit", "--trainer.max_epochs=1", *TINY])


def test_default_root_dir_moves_the_logs(in_tmp: Path) -> None:
    assert fit_main(["fit", "--trainer.max_epochs=1", "--trainer.default_root_dir=elsewhere",
                     *TINY]) == 0
    assert not (in_tmp / "logs").exists()
    run = in_tmp / "elsewhere" / "fhn" / "version_0"
    assert (run / "checkpoints" / "last.ckpt").is_file() and list(run.glob("events.out.*"))
    assert "save_dir: elsewhere" in (run / "config.yaml").read_text()


def test_fit_without_checkpointing(in_tmp: Path) -> None:
    """--trainer.enable_checkpointing=false: Lightning refuses checkpoint callbacks, so the
    defaults must drop theirs (it was a traceback); the run trains and writes no checkpoint."""
    assert fit_main(["fit", "--trainer.max_epochs=2", "--trainer.enable_checkpointing=false",
                     *TINY]) == 0
    run = in_tmp / "logs" / "fhn" / "version_0"
    assert list(run.glob("events.out.*")) and not (run / "checkpoints").exists()


@pytest.mark.slow
def test_shipped_configs_work_from_a_built_wheel(tmp_path: Path) -> None:
    """Not editable: the wheel's own copy of configs/ is what fit and reproduce read."""
    import shutil
    import zipfile

    root = tmp_path / "src"  # a clean copy: no build/ left from an earlier in-tree build
    shutil.copytree(Path(__file__).resolve().parents[1], root, symlinks=True,
                    ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "logs",
                                                  "datasets", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel")],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("gru_learn-*.whl")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")  # what pip install puts in place
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "PYTHONWARNINGS": "ignore"}
    code = ("import pathlib, gru_learn.experiments.paper.common as r; "
            "d = r.CONFIGS.parent; print(d); "
            "print(*sorted(p.name for p in (d / 'configs').rglob('*.yaml')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert out[0] == str(tmp_path / "site" / "gru_learn")
    compare_configs = CONFIGS[0].parent.joinpath("compare").glob("*.yaml")
    assert out[1].split() == sorted([*(p.name for p in CONFIGS),
                                     *(p.name for p in compare_configs)])
    shown = subprocess.run([sys.executable, "-m", "gru_learn", "fit", "--print_config",
                            f"--config={out[0]}/configs/ring.yaml"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "system: ring" in shown.stdout
