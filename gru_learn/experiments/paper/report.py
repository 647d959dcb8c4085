"""The reproduction's report: every claim beside our value with its verdict, then the choices
the paper leaves open (data: :data:`CHOICES`, rendered as a table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gru_learn.experiments.paper.common import VERDICTS, Claim, Settings
from gru_learn.files.atomic import write_text_atomic

CHOICES: tuple[tuple[str, str, str], ...] = (  # (choice, ours, why)
    ("sampling interval dt",
     "FHN 1.5, line 0.1, ring 0.1",
     "the 29-step horizon spans 1.2 FHN periods; line and ring trajectories come within "
     "5% of the attractor"),
    ("initial-condition boxes",
     "FHN [-2.5, 2.5] x [-1, 2]; line [-1, 1]^2; ring [-1.5, 1.5]^2",
     "around the whole cycle / attractor, starting inside and outside it"),
    ("I_ext ~ N(0.7, 0.04)",
     "standard deviation 0.2",
     "the second argument read as a variance"),
    ("noise N(0, 0.1 I)",
     "standard deviation 0.316 per coordinate",
     "read as a covariance"),
    ("FHN observation noise",
     "none",
     "the paper names only the I_ext noise"),
    ("splits",
     "667 train (the paper's), 166 validation, 167 test",
     "1000 in all"),
    ("loss",
     "mean squared error over trajectories, steps and dimensions",
     "Eq 10 up to the constant N p, to which Adam is invariant"),
    ("optimiser",
     "Adam, lr 0.01, constant, full batch, 4000 epochs (paper: Adam, full batch, 4000)",
     "lr not given; 0.01 learns the FHN cycle (README)"),
    ("initialisation",
     "torch.nn.GRU's uniform(-1/sqrt(d), 1/sqrt(d))",
     "not given"),
    ("reset convention",
     "\"before\" (the paper's Eq 4)",
     ""),
    ("Fig 5B/C angles",
     "alpha = 0.7 and 0.5",
     "not given; both below the Hopf point"),
    ("Fig 6 reset biases",
     "s = 0, 1, 2",
     "not given"),
    ("Fig 3A",
     "our own 11-point GRU (preset fig3a)",
     "the paper's parameters are in the unavailable supplement; ours was found by "
     "`search-topology`"),
    ("Figs 3B, 4, saddle-nodes",
     "two independent 1-D GRUs at (or 1e-4 past) the half-stable bias",
     "closed-form tangency; topologically the paper's description"),
    ("Fig 9",
     "our own presets fig9a / fig9b: a four-point cluster at the origin (eps = 1e-9)",
     "the paper's parameters are unavailable; found by scanning the `origin_cluster` "
     "family (docs/catalogue.md)"),
    ("Fig 6 readings",
     "grid 8 (quick) / 40 (full), s = 0, 1, 2",
     "seven readings x three s per run"),
)


def _cell(x: Any) -> str:
    return str(x).replace("|", "/").replace("\n", " ")


def choices_table() -> str:
    """:data:`CHOICES` as a markdown section."""
    lines = ["## Choices the paper leaves open", "", "| choice | ours | why |", "|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in CHOICES]
    return "\n".join(lines) + "\n"


def write_report(out: Path, claims: list[Claim], s: Settings, seconds: float) -> Path:
    """``out/report.md``: the settings, one table row per claim, the choices; its path."""
    lines = ["# Reproducing Jordan, Sokół & Park (2021) with gru_learn", "",
             f"Settings: {s.name} ({s.epochs} epochs, seeds {list(s.seeds)}, Fig 6 grid "
             f"{s.sweep_grid}^2); total time {seconds / 60:.1f} min.",
             "Figures are in this folder (fig1_*.png, fig2a.png, fig3a.png, "
             "fig3_saddle_nodes.png, fig3b.png, fig4.png, fig4_zoom.png, fig9*.png, fig5*.png, "
             "eq8_sn_below.png, eq8_sn_above.png, fig6.png, fig8*.png, fig10*.png, fig11.png, "
             "fig12/fig12_*.png).", "",
             "| figure | claim | paper | ours | verdict | note |", "|---|---|---|---|---|---|"]
    for c in claims:
        lines.append("| " + " | ".join(_cell(c[k]) for k in ("figure", "claim", "paper", "ours"))
                     + f" | {VERDICTS[c['agrees']]} | {_cell(c['note'])} |")
    lines += ["", choices_table()]
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path
