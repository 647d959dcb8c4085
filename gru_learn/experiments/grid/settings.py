"""What a grid is: the systems x hidden sizes x seeds (:class:`Grid`), how every run trains
(:class:`TrainSettings`, kept in ``compare.json``), and the unit of work every backend runs
(:class:`RunGroup`: the seeds of one system and hidden size)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Literal

from gru_learn.errors import UserError
from gru_learn.gru.cell import Reset
from gru_learn.training.module import AlphaSchedule, Forcing, ForcingState

SETTINGS_FILE = "compare.json"


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything besides the grid that decides what a run computes (kept in compare.json, so
    a resumed grid never mixes runs trained differently). The parser of ``compare`` is typed
    from these fields; every default is the paper's setting.

    ``epochs``, ``lr``, ``lr_schedule``, ``reset`` and the training-method options
    (``forcing`` ... ``mar_weight``) are
    :class:`~gru_learn.training.module.GRUForecaster`'s options of
    the same names (see its docstring and docs/reconstruction.md); ``log_every``: train and
    validation loss every N epochs; ``gradient_clip_val``: clip the gradient's global norm to
    this (``fit``'s ``--trainer.gradient_clip_val``); ``batch_size``: mini-batches of this many
    sequences (None: full batch, the paper); ``data_per_seed``: every seed k also draws its own
    trajectories (data seed ``data.seed + k``; False: one draw per system for every size and
    seed, the paper's Fig 12); ``data``: TrajectoryDataModule options shared by
    every run of a system (all but ``system`` and ``batch_size``).
    """

    epochs: int = 4000
    lr: float = 0.01
    lr_schedule: Literal["constant", "cosine", "exponential"] = "constant"
    reset: Reset = "before"
    log_every: int = 10
    forcing: Forcing = "none"
    forcing_interval: int = 1
    forcing_alpha: float = 1.0
    forcing_alpha_schedule: AlphaSchedule = "constant"
    forcing_alpha_final: float = 0.0
    forcing_alpha_decay: float = 0.999
    forcing_state: ForcingState = "projection"
    curriculum_start: int | None = None
    curriculum_epochs: int = 1000
    readout_init: Literal["default", "data"] = "default"
    state_noise: float = 0.0
    slowness: float = 0.0
    slowness_after: int = 10
    mar_fraction: float = 0.5
    mar_weight: float = 0.0
    gradient_clip_val: float | None = None
    batch_size: int | None = None
    data_per_seed: bool = False
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # TrajectoryDataModule kwargs

    @staticmethod
    def help() -> dict[str, str]:
        """One line per field for ``compare --help``: the loop's own, and GRUForecaster's
        documented options (its docstring's Args) for the model's."""
        from gru_learn.training.module import GRUForecaster

        out = dict(HELP)
        try:
            import docstring_parser

            params = docstring_parser.parse(GRUForecaster.__doc__ or "").params
        except ImportError:  # help text only
            params = []
        for param in params:
            for name in param.arg_name.split(","):
                out.setdefault(name.strip(), " ".join((param.description or "").split()))
        return {f.name: out.get(f.name, "GRUForecaster option (see its docstring)")
                for f in dataclasses.fields(TrainSettings)}

    def for_seed(self, seed: int) -> TrainSettings:
        """The settings run ``seed`` trains with: its own data draw (data seed
        ``data.seed + seed``) when ``data_per_seed``, else these."""
        if not self.data_per_seed:
            return self
        from gru_learn.training.data import TrajectoryDataModule

        base = self.data.get("seed", inspect.signature(
            TrajectoryDataModule.__init__).parameters["seed"].default)
        return dataclasses.replace(self, data={**self.data, "seed": base + seed})

    def model_options(self) -> dict[str, Any]:
        """The GRUForecaster keyword arguments these settings fix (all but the size and the
        data's obs_dim, dt and system)."""
        return {k: getattr(self, k) for k in MODEL_OPTIONS}

    @property
    def vectorised(self) -> bool:
        """Whether the runs train as one
        :class:`~gru_learn.training.ensemble.GRUEnsemble` (the paper's
        method: free running over the whole horizon, full batch, no clipping, default readout;
        any lr, lr schedule, reset convention and data window), else one plain loop per seed
        (:func:`gru_learn.training.loop.train_forecaster`)."""
        return (self.forcing == "none" and self.curriculum_start is None
                and self.readout_init == "default" and self.gradient_clip_val is None
                and self.batch_size is None and self.state_noise == 0 and self.slowness == 0
                and self.mar_weight == 0)


# help of the fields GRUForecaster's docstring does not document (the rest: TrainSettings.help)
HELP = {
    "epochs": "training epochs of every run",
    "log_every": "log train and validation loss every N epochs",
    "gradient_clip_val": "clip the gradient's global norm to this (null: no clipping)",
    "batch_size": "mini-batches of this many sequences (null: full batch, the paper)",
    "data_per_seed": "every seed k also draws its own trajectories (data seed data.seed + k); "
                     "false: one draw per system, the paper's",
    "forcing_alpha_final": "GTF's alpha at the end of the linear schedule",
    "forcing_alpha_decay": "aGTF: alpha's decay towards the estimate, per step",
    "curriculum_epochs": "epochs over which the curriculum's horizon grows to the data's",
}
# TrainSettings fields that are GRUForecaster options (the rest concern the loop or the data)
MODEL_OPTIONS = ("lr", "lr_schedule", "reset", "forcing", "forcing_interval", "forcing_alpha",
                 "forcing_alpha_schedule", "forcing_alpha_final", "forcing_alpha_decay",
                 "forcing_state", "curriculum_start", "curriculum_epochs", "readout_init",
                 "state_noise", "slowness", "slowness_after", "mar_fraction", "mar_weight")


def comparable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as compare.json holds them, made comparable across versions: options missing
    from an older file take their default (the only behaviour that version had), and data
    options equal to TrajectoryDataModule's defaults are dropped (given or not, the same data).
    """
    from gru_learn.training.data import TrajectoryDataModule

    defaults = {f.name: f.default for f in dataclasses.fields(TrainSettings)
                if f.default is not dataclasses.MISSING}
    data_defaults = {k: p.default for k, p in
                     inspect.signature(TrajectoryDataModule.__init__).parameters.items()
                     if p.default is not inspect.Parameter.empty}
    out = {**defaults, "data_per_seed": False, **settings}  # older files: one draw
    data = out.get("data") if isinstance(out.get("data"), dict) else {}
    out["data"] = {k: v for k, v in data.items()
                   if k not in data_defaults or v != data_defaults[k]}
    return out


@dataclasses.dataclass(frozen=True)
class Grid:
    """Every (system, hidden size, seed) of these lists, each run trained with ``settings``."""

    systems: tuple[str, ...]
    hidden_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    settings: TrainSettings

    def check(self) -> None:
        """UserErrors for values no run could use."""
        from gru_learn.systems.registry import get_system
        from gru_learn.training.module import GRUForecaster

        if not self.systems or not self.hidden_sizes or not self.seeds:
            raise UserError("the grid needs at least one system, hidden size and seed")
        for name in self.systems:
            get_system(name)
        if min(self.hidden_sizes) <= 0:
            raise UserError(f"hidden sizes must be positive, got {list(self.hidden_sizes)}")
        s = self.settings
        if s.epochs <= 0 or s.log_every <= 0:
            raise UserError(f"epochs and log_every must be positive, got {s.epochs}, "
                            f"{s.log_every}")
        if s.batch_size is not None and s.batch_size <= 0:
            raise UserError(f"batch_size must be positive or null (full batch), got "
                            f"{s.batch_size}")
        if s.gradient_clip_val is not None and s.gradient_clip_val <= 0:
            raise UserError(f"gradient_clip_val must be positive or null, got "
                            f"{s.gradient_clip_val}")
        GRUForecaster(hidden_size=1, **s.model_options())  # its own checks: one-line errors


@dataclasses.dataclass(frozen=True)
class RunGroup:
    """The seeds of one (system, hidden size), trained together by
    :func:`gru_learn.experiments.grid.train.train_group` (one ensemble for the paper's method)."""

    system: str
    hidden_size: int
    seeds: tuple[int, ...]
    settings: TrainSettings




def data_module(system: str, settings: TrainSettings):
    """The grid's shared data of one system (same data for every size and seed, as in the
    paper); simulated once and cached."""
    from gru_learn.training.data import TrajectoryDataModule

    return TrajectoryDataModule(system=system, batch_size=settings.batch_size, **settings.data)
