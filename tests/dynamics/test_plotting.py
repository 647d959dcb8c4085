"""Portraits for 2-D and projected d > 2 fields render and show what the analysis found."""

import matplotlib.pyplot as plt
import torch

from gru_learn.analysis.figures.dynamics import phase_portrait
from gru_learn.dynamics import analyze_vector_field
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.presets import bistable_pair


def test_portrait_marks_every_fixed_point(tmp_path):
    cell = bistable_pair()
    result = analyze_vector_field(cell.vector_field, [(-1, 1), (-1, 1)], cycles=False)
    fig = phase_portrait(cell.vector_field, [(-1, 1), (-1, 1)], result=result, t_end=20)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert set(labels) == {"stable node", "saddle", "unstable node", "x-nullcline",
                           "y-nullcline", "trajectories", "trajectory shown below"}
    # the time series below names the states as the axes do
    assert fig.axes[1].get_legend_handles_labels()[1] == ["x", "y"]
    fig.savefig(tmp_path / "p.png")
    plt.close(fig)


def test_three_dimensional_field_is_projected_on_principal_components(tmp_path):
    torch.manual_seed(1)
    cell = GRUCell(0, 3).double()
    with torch.no_grad():
        cell.weight_hh.mul_(4.0)
    box = [(-1.0, 1.0)] * 3
    result = analyze_vector_field(cell.vector_field, box, cycles=False)
    fig = phase_portrait(cell.vector_field, box, result=result, t_end=20)
    assert fig.axes[0].get_xlabel() == "PC1"
    fig.savefig(tmp_path / "p3.png")
    plt.close(fig)


def test_the_legend_covers_no_fixed_point():
    """fig9a's sink (-0.87, 0.86) sits where a fixed upper-left legend went."""
    from gru_learn.gru.presets import build_preset

    cell = build_preset("fig9a")
    box = [(-1.0, 1.0), (-1.0, 1.0)]
    result = analyze_vector_field(cell.vector_field, box, cycles=False)
    assert any(p.kind == "stable_node" and p.h[0] < -0.5 and p.h[1] > 0.5
               for p in result.fixed_points)
    fig = phase_portrait(cell.vector_field, box, result=result, t_end=20)
    ax = fig.axes[0]
    fig.draw_without_rendering()
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    for p in result.fixed_points:
        x, y = ax.transData.transform(p.h.numpy()[None])[0]
        assert not legend.contains(x, y), (p.kind, p.h)
    plt.close(fig)


def test_one_style_marks_kinds_and_lists_each_label_once(tmp_path):
    """Filled = stable, open = unstable, one legend entry per label, PNG written whole."""
    from types import SimpleNamespace

    import matplotlib

    from gru_learn.analysis.figures import style

    assert matplotlib.get_backend().lower() == "agg"
    fig, ax = plt.subplots()
    kinds = ["stable_node", "unstable_node", "saddle", "stable_node"]
    points = [SimpleNamespace(kind=k) for k in kinds]
    style.mark_points(ax, points, [[0, 0], [1, 1], [2, 0], [3, 1]])
    style.mark_points(ax, [], [])  # nothing to mark is no error
    assert [line.get_markerfacecolor() for line in ax.lines[:2]] == ["black", "white"]
    legend = style.dedup_legend(ax)
    assert [t.get_text() for t in legend.get_texts()] == ["stable node", "unstable node", "saddle"]
    handles = style.kind_handles(["unstable_focus"])
    assert handles[0].get_marker() == "s" and handles[0].get_markerfacecolor() == "white"
    path = style.save_png(fig, tmp_path / "sub" / "marks.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not plt.fignum_exists(fig.number)
