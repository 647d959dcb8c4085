"""``compare``'s typed options (jsonargparse): the grid lists,
``gru_learn.experiments.grid.TrainSettings``' fields (training and the training method), under
``data`` TrajectoryDataModule's options, under ``evaluation`` a common evaluation for
``--analyze``, and how to run; a YAML ``--config`` may set any of them, and options after it
override it. Every problem is a one-line UserError."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal

import jsonargparse

from gru_learn.cli.common import check_config_files, description
from gru_learn.errors import UserError
from gru_learn.experiments.grid import BACKENDS, Evaluation, Grid, TrainSettings
from gru_learn.runtime import check_memory

# the paper's grid: what the command trains with no --config
DEFAULTS: dict[str, Any] = {"systems": ["ring", "fhn"], "hidden_sizes": [2, 4, 8, 16],
                            "seeds": [0, 1, 2], "out": "logs/compare"}
GRID_OPTIONS = ("systems", "hidden_sizes", "seeds")  # lists: --seeds 0 1 2 or [0, 1, 2]
# short command-line forms of data options (as before the typed parser; still accepted)
DATA_ALIASES = {"n-train": "n_train", "n-val": "n_val", "n-test": "n_test",
                "horizon": "horizon", "data-seed": "seed", "cache-dir": "cache_dir"}
# TrajectoryDataModule options that are not shared data settings of a grid
DATA_SKIP = {"system", "batch_size"}
HELP = {
    "systems": "registered system names (fhn, ring, line, vdp, lorenz, or your own with "
               "--import)",
    "hidden_sizes": "GRU sizes d (--hidden-sizes works too)",
    "seeds": "model seeds (seed_everything before each network is built)",
    "out": "output folder (TensorBoard: tensorboard --logdir OUT)",
    "methods": "training methods side by side: a mapping name -> the training options it "
               "changes (e.g. {paper: {}, long: {data: {horizon: 290}}}); each method's grid "
               "under OUT/<name>, one table and figure of all (docs/continuous_attractors.md)",
    "workers": "run groups trained (and runs analysed) in parallel",
    "backend": "local processes or Ray tasks",
    "address": "Ray cluster address (with --backend ray); default: start a local Ray "
               "instance with --workers CPUs",
    "force": "retrain every run of the grid",
    "analyze": "analyse every run with gru_learn.analysis",
    "evaluation": "with --analyze: analyse every run on this common data (TrajectoryDataModule "
                  "options under evaluation.data; {}: the system's paper setting) and score it "
                  "and the true system by the reconstruction measures (docs/reconstruction.md)",
}


def parser() -> jsonargparse.ArgumentParser:
    """The typed parser: grid lists, TrainSettings' fields (typed by the dataclass), the data
    options typed by TrajectoryDataModule's signature (group ``data``), and how to run."""
    import gru_learn.cli.compare as command
    from gru_learn.training.data import TrajectoryDataModule

    p = jsonargparse.ArgumentParser(
        prog="gru_learn compare", description=description(command.__doc__), exit_on_error=False,
        default_config_files=[])
    p.add_argument("--config", action=jsonargparse.ActionConfigFile,
                   help="YAML with any of the options below (see configs/compare/fig12.yaml); "
                        "options after it override it")
    for name in GRID_OPTIONS:
        p.add_argument(f"--{name}", type=list[str] if name == "systems" else list[int],
                       default=DEFAULTS[name], help=HELP[name])
    hints, helps = typing.get_type_hints(TrainSettings), TrainSettings.help()
    for f in dataclasses.fields(TrainSettings):
        if f.name != "data":
            p.add_argument(f"--{f.name}", type=hints[f.name], default=f.default,
                           help=helps[f.name])
    p.add_class_arguments(TrajectoryDataModule, "data", skip=DATA_SKIP,
                          help="data options shared by every run of a system")
    # jsonargparse adds --data (a YAML file or inline mapping of the data options) with a
    # fixed generic help; say what it loads
    next(a for a in p._actions if a.option_strings == ["--data"]).help = (
        "YAML file (or inline mapping) with the data options below; --data.* after it "
        "override it")
    p.add_argument("--methods", type=dict[str, dict[str, Any] | None] | None, default=None,
                   help=HELP["methods"])
    p.add_argument("--out", type=str, default=DEFAULTS["out"], help=HELP["out"])
    p.add_argument("--workers", type=int, default=1, help=HELP["workers"])
    p.add_argument("--backend", type=Literal[BACKENDS], default="local", help=HELP["backend"])
    p.add_argument("--address", type=str | None, default=None, help=HELP["address"])
    p.add_argument("--force", action="store_true", help=HELP["force"])
    p.add_argument("--analyze", action="store_true", help=HELP["analyze"])
    p.add_argument("--evaluation", type=Evaluation | None, default=None,
                   help=HELP["evaluation"])
    return p


def normalize_argv(argv: list[str]) -> list[str]:
    """The command line in the parser's spelling: ``--hidden-sizes`` -> ``--hidden_sizes``
    (any top-level option), the short data options (``--n-train`` -> ``--data.n_train``, see
    DATA_ALIASES), and a grid list given as separate words (``--seeds 0 1 2``) as one YAML
    list (``--seeds [0, 1, 2]``), the form the typed list options parse."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg.startswith("--data."):
            out.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        name = f"data.{DATA_ALIASES[name]}" if name in DATA_ALIASES else name.replace("-", "_")
        if name in GRID_OPTIONS and eq and not value.lstrip().startswith("["):
            value = f"[{value}]"  # --seeds=3: one value, as argparse's nargs="+" took it
        out.append(f"--{name}{eq}{value}")
        if name in GRID_OPTIONS and not eq:
            words = []
            while i < len(argv) and not argv[i].startswith("--"):
                words.append(argv[i])
                i += 1
            single_list = len(words) == 1 and words[0].lstrip().startswith("[")
            if words:
                out.append(words[0] if single_list else f"[{', '.join(words)}]")
    return out


def _one_line(error: BaseException) -> str:
    """A parser error as one line, with a hint where a key moved."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if "data.batch_size" in message or ("'data'" in message and "batch_size" in message):
        message += " (batch_size is a training option in compare: give it at the top level, " \
                   "not under data)"
    return message[:400]


def parse(argv: list[str]) -> jsonargparse.Namespace:
    """Parsed and type-checked options; any problem (a missing or malformed config file, an
    unknown key, a value of the wrong type) is a one-line UserError."""
    check_config_files(argv, ("--config", "--data", "--evaluation"))
    try:
        return parser().parse_args(normalize_argv(argv))
    except jsonargparse.ArgumentError as e:
        raise UserError(_one_line(e)) from None
    except UnicodeDecodeError as e:  # a config file that is not text
        raise UserError(f"the config file is not UTF-8 text ({e.reason})") from None


def build_grid(cfg: jsonargparse.Namespace) -> tuple[Grid, Path]:
    """The grid from the parsed options (defaults < config file < later options)."""
    fields = {f.name: cfg[f.name] for f in dataclasses.fields(TrainSettings) if f.name != "data"}
    # strip_meta: a data YAML (--data FILE, or data: FILE in --config) records its __path__
    data = jsonargparse.strip_meta(cfg["data"]).as_dict() if cfg.get("data") is not None else {}
    grid = Grid(tuple(cfg.systems), tuple(cfg.hidden_sizes), tuple(cfg.seeds),
                TrainSettings(**fields, data=data))
    grid.check()
    # the loss history of every network (float32, with its copies), and each size's parameters
    # with their gradients and Adam's moments, before anything is allocated
    networks = len(grid.systems) * len(grid.hidden_sizes) * len(grid.seeds)
    check_memory(16 * grid.settings.epochs * networks, f"--epochs {grid.settings.epochs} for "
                 f"{networks} network(s)")
    for size in grid.hidden_sizes:
        check_memory(16 * 3 * size * (size + 8) * len(grid.seeds), f"hidden size {size}")
    return grid, Path(cfg.out)




def build_evaluation(cfg: jsonargparse.Namespace) -> Evaluation | None:
    """The common evaluation of ``--analyze`` (None: each run on its own data)."""
    if cfg.get("evaluation") is None:
        return None
    evaluation = Evaluation(**jsonargparse.strip_meta(cfg["evaluation"]).as_dict())
    if evaluation.steps <= 0 or evaluation.transient < 0 or evaluation.psd_sigma <= 0:
        raise UserError(f"evaluation: steps and psd_sigma must be positive and transient "
                        f"not negative, got {evaluation}")
    if "system" in evaluation.data:
        raise UserError("evaluation.data: the system is the grid's; leave 'system' out")
    return evaluation
