"""What every step of the paper's reproduction shares: its settings, the claim record, the
verdict words, and the one way a step runs a training command (a subprocess of
``python -m gru_learn``, so the library never imports the command layer)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parents[2] / "configs"  # package data (links to configs/)

# {"figure", "claim", "paper", "ours", "agrees", "note"} with agrees one of VERDICTS' keys:
# "rounding": ours lies within the rounding of the digits the paper printed; "approximate":
# the paper calls its number approximate and ours is near it but outside that rounding
Claim = dict[str, Any]
VERDICTS: dict[Any, str] = {True: "agrees", False: "**differs**", None: "n/a",
                            "rounding": "agrees within the paper's rounding",
                            "approximate": "near the paper's approximate value, outside its "
                            "rounding"}


@dataclass(frozen=True)
class Settings:
    """The sizes of one run. ``quick`` and ``full`` are the two the command offers; ``tiny`` runs
    the full run's every branch (homoclinic search, explicit Fig 12 grid, long analysis) at
    toy sizes, for tests. No step branches on the name: only on these fields."""

    name: str
    epochs: int  # training epochs of the Fig 10/11 networks
    seeds: tuple[int, ...]  # their seeds
    sweep_grid: int  # Fig 6 (alpha, beta) grid per axis
    readings_grid: int  # the Fig 6 readings' grid per axis
    bifurcation_steps: int  # coarse continuation grid (Fig 5, Eq 8; Fig 8 adds 5)
    cycle_dt: float  # RK4 step of portraits with a cycle search (quick: 0.25 halves the CPU)
    homoclinic: bool  # locate Fig 7/8's homoclinic point (minutes of CPU)
    fig9_grid: int  # grid per axis of Fig 9's homoclinic-like regions
    long_steps: int  # fit's end-of-fit analysis: closed-loop steps
    fig12_hidden_sizes: tuple[int, ...]
    fig12_seeds: tuple[int, ...]
    fig12_epochs: int
    memory_seeds: tuple[int, ...] = (0, 1, 2)  # Section 6's claim: the 16-unit ring networks
    memory_epochs: int | None = None  # None: each method's epochs in memory_methods.yaml

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    @classmethod
    def of(cls, name: str) -> Settings:
        """The named settings: ``quick``, ``full`` or ``tiny``."""
        return {"quick": QUICK, "full": FULL, "tiny": TINY}[name]


FULL = Settings("full", epochs=4000, seeds=(0, 1, 2), sweep_grid=100, readings_grid=40,
                bifurcation_steps=21, cycle_dt=0.1, homoclinic=True, fig9_grid=64,
                long_steps=1000, fig12_hidden_sizes=(2, 4, 8, 16), fig12_seeds=(0, 1, 2),
                fig12_epochs=4000)  # Fig 12's as in configs/compare/fig12.yaml
QUICK = Settings("quick", epochs=500, seeds=(0,), sweep_grid=8, readings_grid=8,
                 bifurcation_steps=6, cycle_dt=0.25, homoclinic=False, fig9_grid=32,
                 long_steps=300, fig12_hidden_sizes=(2, 8), fig12_seeds=(0, 1),
                 fig12_epochs=300, memory_seeds=(0,), memory_epochs=100)
TINY = Settings("tiny", epochs=4, seeds=(0,), sweep_grid=3, readings_grid=3,
                bifurcation_steps=4, cycle_dt=0.25, homoclinic=True, fig9_grid=16,
                long_steps=50, fig12_hidden_sizes=(2, 4), fig12_seeds=(0,), fig12_epochs=4,
                memory_seeds=(0,), memory_epochs=3)


@dataclass(frozen=True)
class Step:
    name: str
    minutes: tuple[float, float]  # rough duration on a 2-core CPU: (quick, full)
    run: Callable[[Path, Settings], list[Claim]]


def claim(figure: str, text: str, paper: Any, ours: Any, agrees: bool | str | None,
          note: str = "") -> Claim:
    """One row of the report: the paper's claim, its value and ours, and the verdict."""
    return {"figure": figure, "claim": text, "paper": paper, "ours": ours, "agrees": agrees,
            "note": note}


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def run_command(command: str, *args: Any) -> None:
    """Run ``python -m gru_learn COMMAND ARGS`` (training: fit, compare) in a subprocess."""
    argv = [sys.executable, "-m", "gru_learn", command, *map(str, args)]
    code = subprocess.run(argv, check=False).returncode
    if code:
        raise RuntimeError(f"`{command} {' '.join(map(str, args))}` exited with {code}")
