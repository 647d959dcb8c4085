"""summary.json as typed objects: the only writer and reader of an analysis summary.

An :class:`AnalysisResult` holds what summary.json holds: for learned versus target
(``analyze``) the sides ``learned`` and ``target`` (:class:`Side`), the ``comparison``
(:class:`Comparison`), the ``timeline`` (the callback's), ``time_unit``, ``read_as``, ``errors``
(piece -> reason) and ``seconds`` (piece -> wall time); for a network alone (``analyze_gru``)
``network`` and ``inputs`` (one :class:`Side` per constant input). The numbers readers use are
typed fields; a part whose structure is open (search evidence, Lyapunov method, a timeline)
stays a plain dict. Every key a class does not type is kept in ``other`` and the key order as
read in ``order``, so ``from_json(d).to_json() == d``, key order included: a summary written
by any earlier version reads back and writes the same JSON.

Numbers are stored as the file has them (null, NaN allowed); :func:`number` is the one
converter from such a value to a metric (NaN where undefined) or to a JSON value (null where
undefined), and :meth:`AnalysisResult.scalars` gives the final numbers of a run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, overload

from gru_learn.files.atomic import write_json_atomic

R = TypeVar("R", bound="Record")
SUMMARY = "summary.json"


@overload
def number(x: Any) -> float | None: ...
@overload
def number(x: Any, undefined: float) -> float: ...
def number(x: Any, undefined: float | None = None) -> float | None:
    """``x`` as a float when it is a finite real number or a bool (True -> 1.0, False -> 0.0),
    else ``undefined``: None, NaN, +-inf, text, a container. ``undefined=None`` (the default)
    gives a JSON value (null where undefined), ``undefined=math.nan`` a metric (NaN)."""
    if isinstance(x, (bool, int, float)) and math.isfinite(x):
        return float(x)
    return undefined


def _dump(v: Any) -> Any:
    """A field's JSON value: records through ``to_json``, lists element by element."""
    if isinstance(v, Record):
        return v.to_json()
    if isinstance(v, list):
        return [_dump(x) for x in v]
    return v


def _one(cls: type[Record]) -> Callable[[Any], Any]:
    """Reader of a field holding one ``cls`` object (any other value, e.g. null, is kept)."""
    return lambda v: cls.from_json(v) if isinstance(v, Mapping) else v


def _each(cls: type[Record]) -> Callable[[Any], Any]:
    """Reader of a field holding a list of ``cls`` objects."""
    return lambda v: [_one(cls)(x) for x in v] if isinstance(v, list) else v


def _typed(read: Callable[[Any], Any] | None = None, default: Any = None) -> Any:
    """A typed field; ``read`` turns its JSON value into the field's value (default: as is)."""
    meta = {"read": read} if read else {}
    if isinstance(default, (list, dict)):
        return field(default_factory=type(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(kw_only=True)
class Record:
    """A JSON object with typed fields; ``other`` holds the keys a class does not type, and
    ``order`` the keys as read (a typed field absent from the file and still empty is not
    written, so an object read from a file writes the same keys in the same order)."""

    other: dict[str, Any] = field(default_factory=dict, repr=False)
    order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def _typed_names(cls) -> dict[str, Any]:
        return {f.name: f for f in fields(cls) if f.name not in ("other", "order")}

    @classmethod
    def from_json(cls: type[R], d: Mapping[str, Any]) -> R:
        """The object of a JSON object (a dict as ``json.load`` gives it)."""
        typed = cls._typed_names()
        kwargs = {k: typed[k].metadata.get("read", lambda v: v)(v)
                  for k, v in d.items() if k in typed}
        return cls(**kwargs, other={k: v for k, v in d.items() if k not in typed},
                   order=tuple(d))

    def to_json(self) -> dict[str, Any]:
        """The JSON object: keys in the order read, then new ones (typed, then other)."""
        typed = self._typed_names()
        out: dict[str, Any] = {}
        for k in self.order:
            if k in typed:
                out[k] = _dump(getattr(self, k))
            elif k in self.other:
                out[k] = self.other[k]
        for k in typed:
            v = getattr(self, k)
            if k not in out and v is not None and v != [] and v != {}:
                out[k] = _dump(v)
        out.update({k: v for k, v in self.other.items() if k not in out})
        return out


@dataclass(kw_only=True)
class Signature(Record):
    """Topology signature (``analysis.core.signature``): counts of isolated points by kind,
    of cycles, of continuous attractors by kind; ``points_unstable_dims_<k>`` in ``other``."""

    stable_points: int | None = None
    unstable_points: int | None = None
    saddles: int | None = None
    non_hyperbolic: int | None = None
    stable_cycles: int | None = None
    unstable_cycles: int | None = None
    continuous_attractors: int | None = None
    ring_attractors: int | None = None
    line_attractors: int | None = None
    plane_attractors: int | None = None

    def attractor_kinds(self) -> dict[str, int]:
        """Continuous attractors by kind (``ring`` -> n), the kinds present only."""
        return {k.removesuffix("_attractors"): int(n) for k, n in self.to_json().items()
                if k.endswith("_attractors") and k != "continuous_attractors"
                and isinstance(n, int) and n}


@dataclass(kw_only=True)
class FixedPoint(Record):
    """A fixed point: state ``h``, ``kind`` (stable_node, saddle, ...), unstable directions."""

    h: list[float] | None = None
    kind: str | None = None
    n_unstable: int | None = None


@dataclass(kw_only=True)
class Cycle(Record):
    """A limit cycle: ``period`` (target time for a learned side), ``period_steps`` (GRU
    steps), ``stable``."""

    period: float | None = None
    stable: bool | None = None
    period_steps: float | None = None


@dataclass(kw_only=True)
class ClosedLoop(Record):
    """Long closed-loop behaviour (settles / oscillates / drifts) and its period."""

    behaviour: str | None = None
    fractions: dict[str, float] | None = None
    period_steps: float | None = None
    period: float | None = None
    rollout: str | None = None


@dataclass(kw_only=True)
class Side(Record):
    """One analysed system: the learned network, the target, or the network at one input."""

    hidden_size: int | None = None
    reset: str | None = None
    system: str | None = None
    rollout: dict[str, Any] | None = None
    input: list[float] | None = None  # the constant input (a network alone at inputs)
    fixed_points: list[FixedPoint] = _typed(_each(FixedPoint), [])
    limit_cycles: list[Cycle] = _typed(_each(Cycle), [])
    continuous_attractors: list[dict[str, Any]] = _typed(default=[])
    signature: Signature | None = _typed(_one(Signature))
    search: dict[str, Any] | None = None  # the fixed-point search's evidence (recall...)
    closed_loop: ClosedLoop | None = _typed(_one(ClosedLoop))
    closed_loop_map: ClosedLoop | None = _typed(_one(ClosedLoop))
    lyapunov_max: float | None = None
    signature_map: Signature | None = _typed(_one(Signature))
    saturation: dict[str, Any] | None = None  # gates saturated at the states read

    def stable_cycles(self) -> list[Cycle]:
        """The stable limit cycles, in the order found."""
        return [c for c in self.limit_cycles if isinstance(c, Cycle) and c.stable]


@dataclass(kw_only=True)
class AttractorMatch(Record):
    """The best learned continuous attractor of a target attractor's kind (``topology``)."""

    kind: str | None = None
    coverage_of_target: float | None = None
    drift_time: float | None = None  # target time units; None: it does not drift
    max_speed: float | None = None


@dataclass(kw_only=True)
class Coverage(Record):
    """How much of the target's continuous attractor the learned slow set covers."""

    kind: str | None = None
    coverage: float | None = None
    coverage_task: float | None = None
    n_discrete_attractors_on_it: int | None = None


@dataclass(kw_only=True)
class TestMSE(Record):
    """Free-running MSE against the test data, and against clean truth over a long horizon."""

    __test__ = False  # not a pytest class
    per_step: list[float] | None = None
    mean: float | None = None
    long_horizon: dict[str, Any] | None = None


@dataclass(kw_only=True)
class Memory(Record):
    """How long the model keeps a point of the target's ring or line (``analysis.memory``):
    the error of the remembered variable after ``horizons`` GRU steps (1, 10, 100 training
    horizons), the bound t ||phi||_inf beside it, and the target's own numbers."""

    variable: str | None = None  # "angle" or "position"
    unit: str | None = None
    horizons: list[int] = _typed(default=[])
    horizon_multiples: list[int] = _typed(default=[])
    median_error: list[float] = _typed(default=[])
    max_error: list[float] = _typed(default=[])
    bound: list[float | None] = _typed(default=[])
    phi_inf: float | None = None  # variable units per target time unit
    memory_time: int | None = None  # GRU steps until the median hold reaches threshold
    error_time: int | None = None  # GRU steps until the median error reaches threshold
    threshold: float | None = None
    capacity_bits: float | None = None
    target: dict[str, Any] | None = None

    def at(self, multiple: int, key: str = "median_error") -> float | None:
        """The ``key`` list's value after ``multiple`` training horizons (None if absent)."""
        values = getattr(self, key)
        if multiple not in self.horizon_multiples:
            return None
        i = self.horizon_multiples.index(multiple)
        return number(values[i]) if i < len(values) else None


@dataclass(kw_only=True)
class Comparison(Record):
    """Learned versus target: topology verdict, periods, statistics of long free runs."""

    rollout: str | None = None
    topology_match: bool | None = None
    topology_verdict: str | None = None  # exact / approximate / mismatch
    topology_reason: str | None = None
    continuous_attractors: list[AttractorMatch] = _typed(_each(AttractorMatch), [])
    period_rel_error: float | None = None
    ode_period_rel_error: float | None = None
    lyapunov_rel_error: float | None = None
    lyapunov_abs_error: float | None = None
    memory: Memory | None = _typed(_one(Memory))
    cycle_hausdorff: float | None = None
    continuous_attractor: Coverage | None = _typed(_one(Coverage))
    d_stsp: float | None = None
    d_h: float | None = None
    test_mse: TestMSE | None = _typed(_one(TestMSE))
    state_r2: float | None = None
    cycle_consistency: float | None = None
    dsa: float | None = None

    def best_match(self) -> AttractorMatch | None:
        """The learned attractor covering most of the target's (None where there is none)."""
        rows = [r for r in self.continuous_attractors if isinstance(r, AttractorMatch)]
        return max(rows, key=lambda r: number(r.coverage_of_target) or 0.0, default=None)


@dataclass(kw_only=True)
class AnalysisResult(Record):
    """What summary.json holds (see the module docstring)."""

    learned: Side | None = _typed(_one(Side))
    target: Side | None = _typed(_one(Side))
    comparison: Comparison | None = _typed(_one(Comparison))
    network: dict[str, Any] | None = None
    inputs: list[Side] = _typed(_each(Side), [])
    time_unit: str | None = None
    read_as: str | None = None
    timeline: dict[str, Any] | None = None
    errors: dict[str, str] = _typed(default={})
    seconds: dict[str, float] = _typed(default={})

    @classmethod
    def of(cls, summary: AnalysisResult | Mapping[str, Any] | None) -> AnalysisResult:
        """``summary`` as a result: a result as is, a dict read, None an empty result."""
        if isinstance(summary, AnalysisResult):
            return summary
        return cls.from_json(summary or {})

    @classmethod
    def read(cls, path: str | Path) -> AnalysisResult:
        """Read a summary.json (or a folder holding one); ValueError if it is not JSON or not
        a JSON object."""
        path = Path(path)
        path = path / SUMMARY if path.is_dir() else path
        data = json.loads(path.read_text())
        if not isinstance(data, Mapping):
            raise ValueError(f"{path} holds no JSON object (an analysis summary is one)")
        return cls.from_json(data)

    def write(self, path: str | Path) -> Path:
        """Write (atomically) to ``path`` (a folder: its summary.json); returns the file."""
        path = Path(path)
        path = path / SUMMARY if path.is_dir() else path
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def failed(cls, reason: str, timeline: dict[str, Any] | None = None) -> AnalysisResult:
        """The summary of an analysis that did not run (``errors['analysis'] = reason``)."""
        return cls.from_json({"learned": None, "target": None, "comparison": None,
                              "timeline": timeline, "errors": {"analysis": reason}})

    @property
    def has_failures(self) -> bool:
        """Whether any piece of the analysis failed (its reason is in ``errors``)."""
        return bool(self.errors)

    def main_side(self) -> Side:
        """The network's side: ``learned`` (learned versus target) or, for a network read alone
        (``analyze_gru``, ``analyze_module``), the first input of its top layer read."""
        if isinstance(self.learned, Side):
            return self.learned
        sides = [s for s in self.inputs if isinstance(s, Side)]
        top = max((number(s.other.get("layer"), 0.0) for s in sides), default=0.0)
        return next((s for s in sides if number(s.other.get("layer"), 0.0) == top), Side())

    def target_period(self) -> float | None:
        """The period of the target's first stable limit cycle (None without one)."""
        cycles = self.target.stable_cycles() if isinstance(self.target, Side) else []
        return cycles[0].period if cycles else None

    def analysis_seconds(self) -> float | None:
        """Wall time of all the timed pieces (None where the summary has no ``seconds``)."""
        if not isinstance(self.seconds, Mapping) or ("seconds" not in self.order
                                                     and not self.seconds):
            return None
        return float(sum(v for v in self.seconds.values() if isinstance(v, (int, float))))

    def scalars(self) -> dict[str, float]:
        """The final numbers of the analysis, NaN where undefined (no cycle, no continuous
        attractor, a failed piece): ``topology_match`` (1/0), ``period_rel_error``,
        ``ode_period_rel_error``, ``d_stsp``, ``d_h``, ``coverage`` (the largest
        ``coverage_of_target`` of the learned continuous attractors), ``long_horizon_mse``,
        ``lyapunov_max``, ``lyapunov_rel_error``, ``lyapunov_abs_error``, ``state_r2``,
        ``cycle_consistency``, ``dsa``, the memory (``memory_error_1h``, ``_10h``, ``_100h``:
        median error after 1, 10, 100 training horizons; ``phi_inf``) and the learned
        signature's (the network's side, :meth:`main_side`) ``stable_points``,
        ``stable_cycles``, ``continuous_attractors``.
        ``gru_learn.training.hparams`` logs them for TensorBoard's HPARAMS tab."""
        nan = math.nan
        comp = self.comparison if isinstance(self.comparison, Comparison) else Comparison()
        learned = self.main_side()
        sig = learned.signature if isinstance(learned.signature, Signature) else Signature()
        covered = [number(r.coverage_of_target, nan) for r in comp.continuous_attractors
                   if isinstance(r, AttractorMatch)]
        covered = [c for c in covered if math.isfinite(c)]
        mse = comp.test_mse if isinstance(comp.test_mse, TestMSE) else TestMSE()
        long = mse.long_horizon if isinstance(mse.long_horizon, Mapping) else {}
        memory = comp.memory if isinstance(comp.memory, Memory) else Memory()
        return {
            "topology_match": number(comp.topology_match, nan),
            "period_rel_error": number(comp.period_rel_error, nan),
            "ode_period_rel_error": number(comp.ode_period_rel_error, nan),
            "d_stsp": number(comp.d_stsp, nan),
            "d_h": number(comp.d_h, nan),
            "coverage": max(covered) if covered else nan,
            "long_horizon_mse": number(long.get("mean"), nan),
            "lyapunov_max": number(learned.lyapunov_max, nan),
            "lyapunov_rel_error": number(comp.lyapunov_rel_error, nan),
            "lyapunov_abs_error": number(comp.lyapunov_abs_error, nan),
            "state_r2": number(comp.state_r2, nan),
            "cycle_consistency": number(comp.cycle_consistency, nan),
            "dsa": number(comp.dsa, nan),
            **{f"memory_error_{k}h": number(memory.at(k), nan) for k in (1, 10, 100)},
            "phi_inf": number(memory.phi_inf, nan),
            "stable_points": number(sig.stable_points, nan),
            "stable_cycles": number(sig.stable_cycles, nan),
            "continuous_attractors": number(sig.continuous_attractors, nan),
        }


def summary_scalars(summary: AnalysisResult | Mapping[str, Any]) -> dict[str, float]:
    """:meth:`AnalysisResult.scalars` of a result or of summary.json's dict."""
    return AnalysisResult.of(summary).scalars()


__all__ = ["AnalysisResult", "AttractorMatch", "ClosedLoop", "Comparison", "Coverage", "Cycle",
           "FixedPoint", "Memory", "Record", "Side", "Signature", "TestMSE", "number",
           "summary_scalars"]
