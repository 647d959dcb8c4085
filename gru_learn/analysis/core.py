"""What every part of the analysis shares: its knobs (``AnalysisConfig``), its result
(``Analysis``: a JSON summary and figures), the recorder that turns a failing piece into a
recorded reason, and the topology signature."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from matplotlib.figure import Figure
from torch import nn

from gru_learn.analysis.result import AnalysisResult

F64 = torch.float64
STABLE_KINDS = ("stable_node", "stable_focus")
UNSTABLE_KINDS = ("unstable_node", "unstable_focus")
MANIFOLD_KINDS = ("ring", "line", "plane")
M = TypeVar("M", bound=nn.Module)


def as_float64(module: M) -> M:
    """A detached float64 CPU copy of ``module`` (the analysis never touches the original)."""
    import copy

    out = copy.deepcopy(module).to(device="cpu", dtype=F64)
    for p in out.parameters():
        p.requires_grad_(False)
    return out


@dataclass
class AnalysisConfig:
    """Knobs of the analysis (defaults are what the callback and ``analyze`` use).

    Args:
        n_initial: test trajectories whose initial states seed rollouts and searches.
        long_steps: free-running length L (GRU steps) for d_stsp and d_h; 1.25 L are generated
            and the first 0.25 L dropped as transient.
        slow_speed: speed through the readout, |C f(h)| (observation units per GRU step),
            under which a state is "slow"; None: coverage radius / long_steps, i.e. the state
            would take over L steps to move one coverage radius.
        coverage_radius: as a fraction of the data's largest extent.
        cycles: search limit cycles (the slowest part).
        cycle_transient, cycle_window: integration time (GRU steps) discarded, then searched
            for Poincare returns, in the learned cycle search.
        n_starts: random starts of the fixed-point search in d > 3 (split in two halves for
            the recall estimate); None: 512 up to 32 units, 256 above.
        seed: seed of every random start.
    """

    n_initial: int = 32
    long_steps: int = 1000
    slow_speed: float | None = None
    coverage_radius: float = 0.05
    cycles: bool = True
    cycle_transient: float = 200.0
    cycle_window: float = 200.0
    n_starts: int | None = None
    seed: int = 0


@dataclass
class Analysis:
    """A finished analysis: ``summary`` (what summary.json holds) and named figures."""

    summary: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)

    def save(self, out_dir: str | Path) -> Path:
        """Write every figure as PNG and summary.json (last, atomically) into ``out_dir``;
        returns the JSON path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in self.figures.items():
            fig.savefig(out / f"{name}.png", dpi=110)
        return self.result.write(out / "summary.json")

    @property
    def result(self) -> AnalysisResult:
        """``summary`` as the typed :class:`AnalysisResult` (the one reader and writer of
        summary.json)."""
        return AnalysisResult.of(self.summary)

    def close(self) -> None:
        import matplotlib.pyplot as plt

        for fig in self.figures.values():
            plt.close(fig)

    @property
    def failed(self) -> bool:
        """Whether any piece of the analysis failed (its reason is in ``summary['errors']``)."""
        return bool(self.summary.get("errors"))


class Recorder:
    """Runs sub-analyses; a failure is stored as ``errors[name] = reason`` instead of raising,
    and the time each took as ``seconds[name]``.

    ``Recorder.progress`` (None: silent, as in a library call) is told each piece's name as it
    starts once the analysis has run ``QUIET_SECONDS``: a short analysis prints nothing, a long
    one shows where it is (``python -m gru_learn analyze`` sets it)."""

    progress: Callable[[str], None] | None = None
    QUIET_SECONDS = 2.0

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self._began = time.perf_counter()

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        if Recorder.progress is not None and start - self._began > self.QUIET_SECONDS:
            Recorder.progress(name)
        try:
            return fn()
        except Exception as e:  # one failing piece must not lose the others
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.errors[name] = (f"{type(e).__name__}: {e} "
                                 f"({Path(where.filename).name}:{where.lineno})")
            return None
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0)
                                       + time.perf_counter() - start, 3)


INDEX_PREFIX = "points_unstable_dims_"


def signature(result: Any, manifolds: list[Any] | None = None) -> dict[str, int]:
    """Topology signature of a ``DynamicsResult``: counts of point kinds, of cycles and of
    continuous attractors (attracting slow manifolds) by kind, and of hyperbolic points by
    their number of unstable directions (``points_unstable_dims_<k>``, only the k present).

    Isolated fixed points that lie on a found continuous attractor are counted with it, not
    as separate points (a GRU's approximate ring is a chain of points and saddles).
    """
    on_manifold = {id(p) for m in manifolds or [] for p in points_on(m, result)}
    isolated = [p for p in (result.fixed_points if result else []) if id(p) not in on_manifold]
    kinds = [p.kind for p in isolated]
    cycles = result.limit_cycles if result else []
    attracting = [m for m in manifolds or [] if _attracting(m)]
    sig = {
        "stable_points": sum(k in STABLE_KINDS for k in kinds),
        "unstable_points": sum(k in UNSTABLE_KINDS for k in kinds),
        "saddles": kinds.count("saddle"),
        "non_hyperbolic": kinds.count("non_hyperbolic"),
        "stable_cycles": sum(c.stable for c in cycles),
        "unstable_cycles": sum(not c.stable for c in cycles),
        "continuous_attractors": len(attracting),
    }
    for kind in MANIFOLD_KINDS:
        sig[f"{kind}_attractors"] = sum(_kind(m) == kind for m in attracting)
    # hyperbolic points by their number of unstable directions (Morse index): what a node,
    # focus or saddle of a 2-D target is in a higher-dimensional network, whose extra
    # directions contract (an unstable focus of FitzHugh-Nagumo is, in a 16-unit GRU, a
    # point with 2 unstable directions and 14 stable ones: a "saddle" by kind)
    for k in sorted({p.n_unstable for p in isolated if p.kind != "non_hyperbolic"}):
        sig[f"{INDEX_PREFIX}{k}"] = sum(p.n_unstable == k and p.kind != "non_hyperbolic"
                                        for p in isolated)
    return sig


def _kind(manifold: Any) -> str:
    return str(getattr(manifold, "kind", "line"))


def _attracting(manifold: Any) -> bool:
    return bool(getattr(manifold, "attracting", True))


def points_on(manifold: Any, result: Any) -> list[Any]:
    """The result's fixed points that lie on the manifold: those it lists (``fixed_points``,
    indices into the result's list) and those within two link radii of its states (the nodes
    and saddles at the ends and along an approximate continuum made of a chain of points)."""
    found = result.fixed_points if result else []
    on = {i for i in getattr(manifold, "fixed_points", None) or [] if 0 <= i < len(found)}
    pts, link = getattr(manifold, "points", None), getattr(manifold, "link_radius", None)
    if isinstance(pts, torch.Tensor) and len(pts) and link is not None:
        for i, p in enumerate(found):
            if p.h.shape[-1] == pts.shape[-1] and \
                    float(torch.cdist(p.h[None].to(pts), pts).min()) < 2 * link:
                on.add(i)
    return [found[i] for i in sorted(on)]
