"""The one figure style: the Agg backend, how a fixed point of each kind is drawn, the colours
shared across figures, one legend per label, and saving a figure as PNG.

Importing ``gru_learn.analysis.figures`` (or this module) selects matplotlib's Agg backend, so
figures render without a display; no other module calls ``matplotlib.use``.

A fixed point is drawn by its kind (``dynamics.stability``): circle = node, square = focus,
X = saddle, diamond = non-hyperbolic; filled = stable, open = unstable::

    from gru_learn.analysis.figures import style
    style.mark_points(ax, result.fixed_points, xy)       # xy (n, 2): where each is drawn
    style.dedup_legend(ax)                               # one entry per label
    style.legend_clear_of(ax, style.unique_entries(ax), xy)  # a corner that hides no mark
    style.save_png(fig, "portrait.png")                  # atomic write, figure closed
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from gru_learn.files.atomic import atomic_path  # noqa: E402

X_NULLCLINE, Y_NULLCLINE, TRAJECTORY = "tab:orange", "hotpink", "purple"
# kind -> (marker, face colour); filled = stable, open = unstable
MARKERS: dict[str, tuple[str, str]] = {
    "stable_node": ("o", "black"),
    "stable_focus": ("s", "black"),
    "unstable_node": ("o", "white"),
    "unstable_focus": ("s", "white"),
    "saddle": ("X", "tab:red"),
    "non_hyperbolic": ("D", "gold"),
}
# kind -> colour, where colour (not the face) tells the kinds apart (eigenvalue spectra)
KIND_COLOURS: dict[str, str] = {
    "stable_node": "black", "stable_focus": "tab:blue", "unstable_node": "tab:orange",
    "unstable_focus": "tab:purple", "saddle": "tab:red", "non_hyperbolic": "goldenrod"}
LEGEND_SPOTS = ("upper left", "upper right", "lower left", "lower right", "center left",
                "center right", "upper center", "lower center")


def kind_label(kind: str) -> str:
    """The legend's name of a kind: ``"stable_node"`` -> ``"stable node"``."""
    return kind.replace("_", " ")


def marker_style(kind: str, colour: str | Any | None = None) -> dict[str, Any]:
    """``ax.plot`` keywords for a fixed point of ``kind``: MARKERS' shape and face with a black
    edge; with ``colour``, the marker in that colour (edge and face), open kinds white inside."""
    marker, face = MARKERS[kind]
    if colour is None:
        return {"marker": marker, "mfc": face, "mec": "black"}
    return {"marker": marker, "color": colour, "mec": colour,
            "mfc": "white" if face == "white" else colour}


def mark_points(ax: Any, points: Iterable[Any], xy: np.ndarray | Sequence[Sequence[float]], *,
                ms: float = 9, labelled: bool = True, **plot_kw: Any) -> None:
    """Each of ``points`` (anything with ``.kind``) at the first two entries of its row of
    ``xy`` (n, >= 2) in ``marker_style``, labelled by kind unless ``labelled`` is False;
    ``plot_kw`` (zorder, a label or face to override) go to every ``ax.plot``."""
    points = list(points)
    if not points:
        return
    rows = np.asarray(xy, dtype=float).reshape(len(points), -1)
    for p, row in zip(points, rows, strict=True):
        label = {"label": kind_label(p.kind)} if labelled else {}
        ax.plot(row[0], row[1], ls="none", ms=ms, **(marker_style(p.kind) | label | plot_kw))


def kind_handles(kinds: Iterable[str], colour: str = "0.4") -> list[Line2D]:
    """Legend handles, one per kind (in the order given), drawn in ``colour``."""
    return [Line2D([], [], ls="none", label=kind_label(k), **marker_style(k, colour))
            for k in kinds]


def unique_entries(*holders: Any) -> dict[str, Any]:
    """label -> handle over the axes or figures ``holders``, the first handle of each label
    (matplotlib lists a label once per artist)."""
    entries: dict[str, Any] = {}
    for holder in holders:
        handles, labels = holder.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            entries.setdefault(label, handle)
    return entries


def dedup_legend(ax: Any, *, below: float | None = None, **legend_kw: Any) -> Legend | None:
    """A legend of ``ax`` (axes or figure) with one entry per label, font size 7; None when
    nothing is labelled. ``below``: beneath the axes, its top ``below`` axes-heights under
    the axis, two columns, no frame. ``legend_kw`` go to ``ax.legend``."""
    entries = unique_entries(ax)
    if not entries:
        return None
    if below is not None:
        legend_kw = {"loc": "upper center", "bbox_to_anchor": (0.5, -below), "ncols": 2,
                     "frameon": False} | legend_kw
    return ax.legend(entries.values(), entries.keys(), **({"fontsize": 7} | legend_kw))


def legend_clear_of(ax: Any, entries: dict[str, Any], marks: np.ndarray) -> Legend:
    """The legend of ``entries`` (label -> handle) in the first of LEGEND_SPOTS whose box (plus
    a marker's size) covers none of ``marks`` (n, 2; data coordinates, e.g. the fixed points),
    else where matplotlib's "best" puts it. Call it last: it lays the figure out first.
    A fixed corner hid marks: fig9a's sink sits at (-0.87, 0.86), under "upper left"; "best"
    weighs a fixed point like one vertex of a trajectory and covered fig3a's focus."""
    fig = ax.figure
    fig.draw_without_rendering()  # the layout, so the axes' box is final
    renderer = fig.canvas.get_renderer()
    xy = ax.transData.transform(marks) if len(marks) else np.zeros((0, 2))
    for loc in LEGEND_SPOTS:
        legend = ax.legend(entries.values(), entries.keys(), fontsize=7, loc=loc,
                           framealpha=0.8)
        box = legend.get_window_extent(renderer).padded(6)
        if not any(box.contains(x, y) for x, y in xy):
            return legend
    return ax.legend(entries.values(), entries.keys(), fontsize=7, loc="best", framealpha=0.8)


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 90, *, close: bool = True) -> Path:
    """Write ``fig`` to ``path`` at ``dpi``: PNG, or the format another suffix names (".pdf",
    ".svg"), atomically (a reader never sees half a file; the folder is made if missing);
    then close it unless ``close`` is False."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=dpi)
    if close:
        plt.close(fig)
    return path
