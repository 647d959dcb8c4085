"""compare's typed configuration (jsonargparse, typed from TrainSettings and
TrajectoryDataModule) and its training methods: YAML values typed, unknown keys and bad types
one-line errors, command-line overrides after --config, method grids trained by the plain loop
(against Lightning's fit), resumed, and the paper's grid still the vectorised ensemble; the
user's --import modules in Ray tasks."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch

from gru_learn.__main__ import main as gru_main
from gru_learn.cli.compare import main as compare_main
from gru_learn.cli.compare_options import build_evaluation, build_grid, normalize_argv, parse
from gru_learn.cli.fit import main as fit_main
from gru_learn.errors import UserError
from gru_learn.experiments.grid import (
    MODEL_OPTIONS,
    RunGroup,
    TrainSettings,
    data_module,
    train_group,
)
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.ensemble import GRUEnsemble, fit_ensemble
from gru_learn.training.loop import train_forecaster
from gru_learn.training.module import GRUForecaster
from tests.test_user_modules import MODULE

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-train", "16", "--n-val", "4", "--n-test", "4", "--horizon", "6"]
TINY_DATA = {"n_train": 16, "n_val": 4, "n_test": 4, "horizon": 6}
# a method grid: sparse teacher forcing on windows of long trajectories, mini-batches,
# clipping, a curriculum and the exponential lr schedule (everything the fast path lacks)
METHOD = ["--systems", "fhn", "--hidden-sizes", "2", "--seeds", "0", "1", "--epochs", "12",
          "--forcing", "sparse", "--forcing_interval", "2", "--batch_size", "8",
          "--gradient_clip_val", "0.5", "--lr_schedule", "exponential",
          "--curriculum_start", "3", "--curriculum_epochs", "6", "--log_every", "4",
          "--data.n_train", "6", "--data.n_val", "2", "--data.n_test", "2",
          "--data.horizon", "24", "--data.window", "8", "--out", "out"]


def one_line_error(argv: list[str], capsys) -> str:
    assert gru_main(["compare", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_yaml_lr_1e_3_trains_with_the_float(in_tmp: Path) -> None:
    """PyYAML reads ``1e-3`` as a string; the typed parser makes it the float 0.001."""
    (in_tmp / "c.yaml").write_text("systems: [fhn]\nhidden_sizes: [2]\nseeds: [0]\n"
                                   "epochs: 3\nlr: 1e-3\nout: out\n"
                                   "data: {n_train: 16, n_val: 4, n_test: 4, horizon: 6}\n")
    assert compare_main(["--config", "c.yaml"]) == 0
    saved = json.loads((in_tmp / "out" / "compare.json").read_text())
    assert saved["lr"] == 0.001 and isinstance(saved["lr"], float)
    model = GRUForecaster.load_from_checkpoint(in_tmp / "out/fhn/h2/seed0/model.ckpt")
    assert model.hparams.lr == 0.001 and isinstance(model.hparams.lr, float)


@pytest.mark.parametrize("text, key", [
    ("data:\n  batch_size: 4\n", "batch_size"),   # accepted and ignored before
    ("data:\n  horizonn: 4\n", "horizonn"),
    ("systems: [fhn]\nepochz: 3\n", "epochz"),
])
def test_an_unknown_key_is_one_line_naming_it(text: str, key: str, in_tmp: Path,
                                              capsys) -> None:
    (in_tmp / "c.yaml").write_text(text)
    err = one_line_error(["--config", "c.yaml", "--out", "out"], capsys)
    assert key in err
    assert sorted(p.name for p in in_tmp.iterdir()) == ["c.yaml"]  # nothing created


@pytest.mark.parametrize("where, key", [
    ("yaml", "data.horizon"), ("cli", "data.horizon"), ("cli", "lr"), ("cli", "forcing"),
    ("yaml", "systems"),
])
def test_a_bad_type_is_one_line(where: str, key: str, in_tmp: Path, capsys) -> None:
    value = {"data.horizon": '"abc"', "lr": "fast", "forcing": "bogus", "systems": "fhn"}[key]
    if where == "yaml":
        head, _, leaf = key.rpartition(".")
        text = f"{head}:\n  {leaf}: {value}\n" if head else f"{leaf}: {value}\n"
        (in_tmp / "c.yaml").write_text(text)
        argv = ["--config", "c.yaml"]
    else:
        argv = [f"--{key}", value.strip('"')]
    err = one_line_error([*argv, "--out", "out"], capsys)
    assert f'"{key}"' in err and "Expected" in err
    assert not (in_tmp / "out").exists()


def test_the_batch_size_hint_is_only_for_data_batch_size(in_tmp: Path, capsys) -> None:
    hint = "give it at the top level"
    assert hint in one_line_error(["--data.batch_size", "3", "--out", "out"], capsys)
    assert hint not in one_line_error(["--batch_size", "abc", "--out", "out"], capsys)


def test_options_after_config_override_it_and_old_spellings_work(in_tmp: Path) -> None:
    cfg = parse(["--config", str(ROOT / "configs/compare/fig12.yaml"), "--epochs", "500",
                 "--hidden-sizes", "2", "8", "--n-train", "16", "--data-seed", "3",
                 "--lr-schedule", "cosine", "--cache-dir", "elsewhere"])
    grid, out = build_grid(cfg)
    assert grid.settings.epochs == 500 and grid.hidden_sizes == (2, 8)
    assert grid.systems == ("ring", "fhn") and grid.seeds == (0, 1, 2)  # from the config
    assert grid.settings.lr_schedule == "cosine" and out == Path("logs/fig12")
    assert grid.settings.data["n_train"] == 16 and grid.settings.data["seed"] == 3
    assert grid.settings.data["cache_dir"] == "elsewhere" and grid.settings.data["n_val"] == 166
    # the same grid in the parser's own spelling, and a list as one YAML value
    same = parse(["--config", str(ROOT / "configs/compare/fig12.yaml"), "--epochs=500",
                  "--hidden_sizes", "[2, 8]", "--data.n_train", "16", "--data.seed", "3",
                  "--lr_schedule", "cosine", "--data.cache_dir", "elsewhere"])
    assert build_grid(same) == (grid, out)
    # an option before --config is overridden by it (jsonargparse reads left to right)
    before = parse(["--epochs", "500", "--config", str(ROOT / "configs/compare/fig12.yaml")])
    assert build_grid(before)[0].settings.epochs == 4000
    assert normalize_argv(["--seeds", "0", "1", "--force"]) == ["--seeds", "[0, 1]", "--force"]
    # one value after "=", as argparse took it before the typed parser
    one = build_grid(parse(["--seeds=3", "--systems=fhn", "--hidden-sizes=2", "--seeds=[4]"]))
    assert one[0].systems == ("fhn",) and one[0].hidden_sizes == (2,) and one[0].seeds == (4,)
    assert build_grid(parse(["--seeds=3"]))[0].seeds == (3,)


def test_a_data_yaml_sets_the_data_options_and_help_says_so(in_tmp: Path) -> None:
    """``--data FILE`` (and ``data: FILE`` inside --config) loads the data options; the file's
    ``__path__`` that jsonargparse records must not reach TrajectoryDataModule, and --help
    describes the option instead of jsonargparse's generic "Path to a configuration file"."""
    from gru_learn.cli.compare_options import parser

    (in_tmp / "data.yaml").write_text("n_train: 16\nhorizon: 6\n")
    (in_tmp / "top.yaml").write_text("systems: [fhn]\ndata: data.yaml\n")
    for argv in (["--data", "data.yaml", "--data.n_val", "4"],
                 ["--config", "top.yaml", "--data.n_val", "4"]):
        data = build_grid(parse(argv))[0].settings.data
        assert set(data) == set(inspect.signature(TrajectoryDataModule).parameters) - {
            "system", "batch_size"}  # no __path__
        assert (data["n_train"], data["horizon"], data["n_val"]) == (16, 6, 4)
        data_module("fhn", build_grid(parse(argv))[0].settings)  # builds
    text = " ".join(parser().format_help().split())
    assert "--data CONFIG YAML file (or inline mapping) with the data options" in text
    assert "Path to a configuration file" not in text


def test_the_defaults_are_the_papers_setting_and_train_vectorised() -> None:
    """TrainSettings' method options default to GRUForecaster's (the paper's setting), and
    those settings take the fast path; any method option leaves it."""
    model = inspect.signature(GRUForecaster.__init__).parameters
    settings = TrainSettings()
    for name in MODEL_OPTIONS:
        assert getattr(settings, name) == model[name].default, name
    assert settings.vectorised
    data = inspect.signature(TrajectoryDataModule.__init__).parameters
    assert data["batch_size"].default is settings.batch_size is None
    for change in ({"forcing": "sparse"}, {"curriculum_start": 5}, {"readout_init": "data"},
                   {"gradient_clip_val": 1.0}, {"batch_size": 4}):
        assert not dataclasses.replace(settings, **change).vectorised
    for keep in ({"lr_schedule": "exponential"}, {"reset": "after"},
                 {"data": {"window": 3}}):
        assert dataclasses.replace(settings, **keep).vectorised


def test_the_plain_loop_agrees_with_the_ensemble_on_the_papers_method(in_tmp: Path) -> None:
    """The same cell by both paths (a clipping threshold no gradient reaches sends it through
    the plain loop): every logged loss and final loss within float32 summation order, so the
    loop's curves mean what the ensemble's do (loss before each update, validation after)."""
    settings = TrainSettings(epochs=30, log_every=7, lr_schedule="cosine",
                             data={**TINY_DATA, "window": 3})
    fast = train_group(RunGroup("fhn", 3, (0, 1), settings))
    slow = train_group(RunGroup("fhn", 3, (0, 1), dataclasses.replace(settings,
                                                                gradient_clip_val=1e9)))
    # the paper's method is the vectorised ensemble, unchanged: the same bits as fit_ensemble
    dm = TrajectoryDataModule("fhn", **TINY_DATA, window=3)
    dm.setup()
    ens = GRUEnsemble.from_seeds([3, 3], [0, 1], obs_dim=2)
    direct = fit_ensemble(ens, dm.splits["train"], 30, lr_schedule="cosine",
                          val=dm.splits["val"], val_every=7)
    assert torch.equal(fast["train_loss"], direct["train_loss"])
    assert all(torch.equal(fast["states"][1][k], v) for k, v in ens.member_state(1).items())
    assert torch.equal(fast["val_epochs"], slow["val_epochs"])
    for key in ("train_loss", "val_loss"):
        torch.testing.assert_close(slow[key], fast[key], rtol=1e-5, atol=1e-6)
    for split in ("train", "val", "test"):
        torch.testing.assert_close(slow["final"][split], fast["final"][split],
                                   rtol=1e-5, atol=1e-6)
    for a, b in zip(slow["states"], fast["states"], strict=True):
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_the_plain_loop_follows_lightning_fit(in_tmp: Path) -> None:
    """A method run (GTF with a linearly annealed alpha every 2 steps, a horizon curriculum,
    mini-batches, clipping, the cosine schedule, the data readout) trained by Lightning's
    ``fit`` and by train_forecaster: the same parameters to float32 rounding."""
    options = {"forcing": "generalized", "forcing_alpha": 0.5,
               "forcing_alpha_schedule": "linear", "forcing_alpha_final": 0.1,
               "forcing_interval": 2, "lr_schedule": "cosine", "readout_init": "data",
               "curriculum_start": 2, "curriculum_epochs": 5}
    epochs, clip, batch = 9, 0.3, 5
    args = ["fit", "--seed_everything=3", "--model.hidden_size=3",
            f"--trainer.max_epochs={epochs}", f"--trainer.gradient_clip_val={clip}",
            f"--data.batch_size={batch}", *(f"--model.{k}={v}" for k, v in options.items()),
            *(f"--data.{k}={v}" for k, v in TINY_DATA.items()), "--test_after_fit=false",
            "--analysis.enabled=false",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    assert fit_main(args) == 0
    (ckpt,) = in_tmp.glob("logs/fhn/version_0/checkpoints/last.ckpt")
    fitted = torch.load(ckpt, weights_only=False)
    assert fitted["global_step"] == epochs * 4  # 16 sequences in batches of 5: 4 steps
    dm = TrajectoryDataModule("fhn", **TINY_DATA)
    dm.setup()
    L.seed_everything(3, verbose=False)
    model = GRUForecaster(hidden_size=3, obs_dim=2, dt=dm.dt, system="fhn", **options)
    curves = train_forecaster(model, dm.splits["train"], epochs, batch_size=batch,
                              gradient_clip_val=clip, data_seed=dm.seed)
    assert curves["diverged_at"] == -1 and torch.isfinite(curves["train_loss"]).all()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, fitted["state_dict"][k], rtol=1e-5, atol=1e-6)


def test_the_plain_loop_stops_a_diverging_run_at_its_last_finite_parameters() -> None:
    """As ``fit``: the update that led to a non-finite loss is undone and training stops."""
    dm = TrajectoryDataModule("fhn", **TINY_DATA)
    dm.setup()
    L.seed_everything(0, verbose=False)
    model = GRUForecaster(hidden_size=2, lr=1e5, forcing="sparse", forcing_interval=2)
    with torch.no_grad():
        model.readout.weight.mul_(1e18)  # a huge but finite loss; one lr-1e5 step overflows it
    start = [p.detach().clone() for p in model.parameters()]
    curves = train_forecaster(model, dm.splits["train"], 20, val=dm.splits["val"], val_every=5)
    assert curves["diverged_at"] == 1
    assert math.isfinite(curves["train_loss"][0]) and curves["train_loss"][1:].isnan().all()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), start, strict=True))
    with torch.no_grad():
        assert float(model.training_loss(dm.splits["train"], 0)) == float(curves["train_loss"][0])
    assert curves["val_loss"].isnan().all()  # no validation after the divergence


def test_the_plain_loop_leaves_the_model_as_it_found_it_when_training_raises() -> None:
    """The loop gives the alpha schedule its horizon as an argument (no override on the model):
    an exception (Ctrl-C) must leave no override of the max-epochs lookup on the model."""
    dm = TrajectoryDataModule("fhn", **TINY_DATA)
    dm.setup()
    model = GRUForecaster(hidden_size=2, forcing="generalized", forcing_alpha=0.5,
                          forcing_alpha_schedule="linear", forcing_alpha_final=0.0)

    def interrupted(batch, epoch, epochs=None):
        raise KeyboardInterrupt

    model.training_loss = interrupted
    with pytest.raises(KeyboardInterrupt):
        train_forecaster(model, dm.splits["train"], 7)
    assert "_max_epochs" not in vars(model)


def test_a_method_grid_trains_loads_and_resumes(in_tmp: Path, capsys) -> None:
    assert compare_main(METHOD) == 0
    out = in_tmp / "out"
    saved = json.loads((out / "compare.json").read_text())
    assert saved["forcing"] == "sparse" and saved["batch_size"] == 8
    assert saved["data"]["window"] == 8
    run = out / "fhn" / "h2" / "seed1"
    result = json.loads((run / "result.json").read_text())
    assert result["curve"]["epoch"] == [3, 7, 11]
    assert all(math.isfinite(v) for v in result["curve"]["train_loss"])
    model = GRUForecaster.load_from_checkpoint(run / "model.ckpt")
    hp = model.hparams
    assert (hp.forcing, hp.forcing_interval, hp.curriculum_start) == ("sparse", 2, 3)
    assert hp.lr_schedule == "exponential" and hp.system == "fhn"
    data_hp = torch.load(run / "model.ckpt", weights_only=False)["datamodule_hyper_parameters"]
    dm = TrajectoryDataModule(**data_hp)
    dm.setup()
    assert data_hp["window"] == 8 and data_hp["batch_size"] == 8
    assert dm.splits["train"].shape[1] == 9  # windows of 8 steps
    with torch.no_grad():  # the final losses are the free-running MSE of these parameters
        assert float(model.loss(dm.splits["val"])) == pytest.approx(result["final_val_loss"],
                                                                    rel=1e-6)
        assert float(model.loss(dm.splits["test"])) == pytest.approx(
            result["final_test_loss"], rel=1e-6)
    # the two seeds differ (built after their own seed_everything)
    other = json.loads((out / "fhn/h2/seed0/result.json").read_text())
    assert other["final_train_loss"] != result["final_train_loss"]
    # the run is the method's: seed 1's model trained directly by the loop, bit for bit
    L.seed_everything(1, verbose=False)
    direct = GRUForecaster(hidden_size=2, obs_dim=2, dt=dm.dt, system="fhn", forcing="sparse",
                           forcing_interval=2, lr_schedule="exponential", curriculum_start=3,
                           curriculum_epochs=6)
    curves = train_forecaster(direct, dm.splits["train"], 12, val=dm.splits["val"],
                              val_every=4, batch_size=8, gradient_clip_val=0.5,
                              data_seed=dm.seed)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in direct.state_dict().items())
    assert result["curve"]["train_loss"] == [float(curves["train_loss"][e]) for e in (3, 7, 11)]

    capsys.readouterr()
    first = (run / "result.json").read_bytes()
    for p in run.iterdir():
        p.unlink()
    run.rmdir()
    assert compare_main(METHOD) == 0
    assert "1 run(s) to train in 1 group(s)" in capsys.readouterr().out
    again, before = json.loads((run / "result.json").read_text()), json.loads(first)
    again.pop("cell_seconds"), before.pop("cell_seconds")
    assert again == before  # a resumed method run: the same numbers to the last bit
    with pytest.raises(UserError, match="other settings \\(forcing_interval\\)"):
        compare_main([*METHOD, "--forcing_interval", "3"])
    with pytest.raises(UserError, match="data.window"):
        compare_main([*METHOD, "--data.window", "4"])


def test_an_older_compare_json_without_the_method_options_resumes(in_tmp: Path,
                                                                    capsys) -> None:
    """A grid written before the method options existed (its compare.json has only epochs, lr,
    lr_schedule, reset, log_every and the data options given) is the paper's method: the
    same command resumes it instead of refusing."""
    argv = ["--systems", "fhn", "--hidden-sizes", "2", "--seeds", "0", "--epochs", "3",
            "--out", "out", *TINY]
    assert compare_main(argv) == 0
    (in_tmp / "out/compare.json").write_text(json.dumps(
        {"epochs": 3, "lr": 0.01, "lr_schedule": "constant", "reset": "before",
         "log_every": 10, "data": {**TINY_DATA, "seed": 0}}))
    capsys.readouterr()
    assert compare_main(argv) == 0
    assert "0 run(s) to train" in capsys.readouterr().out
    with pytest.raises(UserError, match="other settings \\(forcing\\)"):
        compare_main([*argv, "--forcing", "sparse"])


@pytest.mark.parametrize("path", sorted((ROOT / "configs/compare").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_shipped_grid_config_parses_into_a_valid_grid(path: Path) -> None:
    cfg = parse(["--config", str(path)])
    grid, _ = build_grid(cfg)  # checked: systems known, sizes and options valid
    evaluation = build_evaluation(cfg)
    if path.stem.startswith("reconstruction_"):  # the benchmark's measures with --analyze
        assert evaluation is not None and evaluation.data == {}
    if path.stem == "reconstruction_sparse_tf":
        assert not grid.settings.vectorised and grid.settings.forcing == "sparse"
        assert grid.settings.data["window"] == 100
    if path.stem == "fig12":
        assert grid.settings.vectorised and evaluation is None


RAY_DRIVER = """
import os, sys
import ray
# a Ray instance started before the module is imported, from another folder: its workers
# neither inherit GRU_LEARN_IMPORT nor start where the module is (as on a running cluster)
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
os.chdir(sys.argv[1])
sys.path.insert(0, sys.argv[1])
from gru_learn.__main__ import main
code = main(["--import", "raysystems", "compare", "--systems", "harmonic_user",
             "--hidden-sizes", "2", "3", "--seeds", "0", "--epochs", "3", "--backend", "ray",
             "--workers", "2", "--n-train", "16", "--n-val", "4", "--n-test", "4",
             "--horizon", "6", "--out", "grid"])
ray.shutdown()
sys.exit(code)
"""


@pytest.mark.slow
def test_an_imported_system_trains_in_ray_tasks(tmp_path: Path) -> None:
    """--import MODULE reaches Ray's worker processes through the tasks' runtime_env
    (GRU_LEARN_IMPORT and the module's folder on PYTHONPATH), also when the Ray instance was
    started before the module was known and elsewhere."""
    pytest.importorskip("ray")
    import os
    import subprocess
    import sys

    (tmp_path / "raysystems.py").write_text(MODULE)  # registers harmonic_user
    (tmp_path / "elsewhere").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GRU_LEARN_IMPORT"}
    r = subprocess.run([sys.executable, "-c", RAY_DRIVER, str(tmp_path)], cwd=tmp_path /
                       "elsewhere", env={**env, "PYTHONWARNINGS": "ignore"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    runs = json.loads((tmp_path / "grid" / "summary.json").read_text())["runs"]
    assert sorted(r["hidden_size"] for r in runs) == [2, 3]
