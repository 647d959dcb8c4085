"""The topology's history over training: bifurcation naming on synthetic signature sequences,
light snapshots against hand-built GRUs, and the shared period-from-crossings function."""

from __future__ import annotations

import math

import pytest
import torch

from gru_learn.analysis import timeline
from gru_learn.dynamics.periods import crossing_period, upward_crossings


def sig(**counts: int) -> dict[str, int]:
    base = {k: 0 for k in timeline.COUNT_KEYS}
    base.update(counts)
    return base


@pytest.mark.parametrize(("before", "after", "name"), [
    (sig(stable_points=1), sig(unstable_points=1, stable_cycles=1), "Hopf (supercritical"),
    (sig(unstable_points=1, stable_cycles=1), sig(stable_points=1), "Hopf (supercritical, rev"),
    (sig(stable_points=1, unstable_cycles=1), sig(unstable_points=1), "Hopf (subcritical"),
    (sig(stable_points=1), sig(stable_points=2, saddles=1), "saddle-node (a saddle and a stable"),
    (sig(stable_points=2, saddles=1), sig(stable_points=1), "saddle-node (a saddle and a stable "
                                                            "node annihilate"),
    (sig(unstable_points=1), sig(unstable_points=2, saddles=1),
     "saddle-node (a saddle and a unstable"),
    (sig(stable_points=1, saddles=1, unstable_points=1), sig(unstable_points=1, stable_cycles=1),
     "saddle-node on invariant circle (SNIC:"),
    (sig(stable_points=1), sig(stable_points=1, stable_cycles=1, unstable_cycles=1),
     "fold of cycles (a stable and an unstable cycle born"),
    (sig(stable_points=1), sig(stable_points=1, continuous_attractors=1, ring_attractors=1),
     "continuous ring attractor formed"),
    (sig(stable_points=1), sig(stable_points=3, saddles=2, stable_cycles=1), "change in topology"),
    (sig(stable_points=1), sig(stable_points=1), None),
])
def test_events_are_named_from_the_change_of_signature(before, after, name) -> None:
    got = timeline.name_event(before, after)
    assert (got is None) if name is None else got.startswith(name), got


def test_pitchfork_told_from_saddle_node_by_where_the_saddle_appears() -> None:
    one = {"signature": sig(stable_points=1), "points": [{"kind": "stable_node", "h": [0.0, 0.0]}]}
    split = {"signature": sig(stable_points=2, saddles=1),
             "points": [{"kind": "saddle", "h": [0.0, 0.0]},
                        {"kind": "stable_node", "h": [0.3, 0.0]},
                        {"kind": "stable_node", "h": [-0.3, 0.0]}]}
    apart = {"signature": sig(stable_points=2, saddles=1),
             "points": [{"kind": "stable_node", "h": [0.0, 0.0]},
                        {"kind": "saddle", "h": [0.5, 0.5]},
                        {"kind": "stable_node", "h": [0.7, 0.5]}]}
    assert timeline.name_event(one, split).startswith("pitchfork (a node")
    assert timeline.name_event(split, one).startswith("pitchfork (reversed")
    assert timeline.name_event(one, apart).startswith("saddle-node")


def test_events_carry_epochs_and_a_readable_line() -> None:
    snaps = [{"epoch": e, "signature": s} for e, s in [
        (0, sig(stable_points=1)), (20, sig(stable_points=1)),
        (40, sig(unstable_points=1, stable_cycles=1)),
        (60, sig(unstable_points=1, stable_cycles=1))]]
    (ev,) = timeline.events(snaps)
    assert (ev["from_epoch"], ev["to_epoch"]) == (20, 40)
    assert timeline.line([ev]).startswith("epoch 20-40: Hopf")
    assert ev["before"] == "1 stable point" and ev["after"] == "1 unstable point, 1 stable cycle"


def _rotation_cell(a: float, omega: float = 0.3):
    """A 2-unit GRU (reset before) whose vector field near 0 is (1 - z)(tanh(W h) - h) with
    z = sigmoid(b_z) constant, W = [[1 + a, -omega], [omega, 1 + a]] (no input): a stable focus
    at 0 for a < 0; for a > 0 an unstable focus inside a stable cycle (tanh saturates)."""
    from gru_learn.gru.cell import GRUCell

    cell = GRUCell(0, 2, reset="before")
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        w = torch.tensor([[1 + a, -omega], [omega, 1 + a]])
        cell.weight_hh.view(3, 2, 2)[2] = w  # candidate block (r, z, n order)
        cell.bias_ih.view(3, 2)[1] = -3.0   # z = sigmoid(-3): slow but nonzero update
        cell.bias_ih.view(3, 2)[0] = 10.0   # r = 1
    return cell


def test_light_snapshots_name_the_hopf_of_a_hand_built_gru() -> None:
    snaps = [timeline.snapshot(_rotation_cell(a), e)
             for e, a in [(0, -0.2), (10, -0.1), (20, 0.15), (30, 0.25)]]
    kinds = [[p["kind"] for p in s["points"]] for s in snaps]
    assert kinds[0] == ["stable_focus"] and kinds[-1] == ["unstable_focus"], kinds
    assert snaps[-1]["signature"]["stable_cycles"] == 1 and snaps[-1]["cycle_periods"]
    (ev,) = timeline.events(snaps)
    assert (ev["from_epoch"], ev["to_epoch"]) == (10, 20) and ev["name"].startswith("Hopf")


def test_upward_crossings_interpolate_and_give_the_period() -> None:
    dt, period = 0.05, 2 * math.pi / 1.3
    t = torch.arange(0, 60, dt, dtype=torch.float64)
    s = torch.sin(1.3 * t + 0.4) + 0.2
    got, cv, n = crossing_period(s, dt)
    assert got == pytest.approx(period, rel=1e-3) and cv < 1e-2 and n >= 10
    # a straight line crossing zero between samples 2 and 3 at exactly 2.25
    up, times = upward_crossings(torch.tensor([-2.25, -1.25, -0.25, 0.75, 1.75]))
    assert up.tolist() == [False, False, True, False] and float(times[2]) == pytest.approx(2.25)
    assert crossing_period(torch.ones(50), 1.0)[0] is None


@pytest.mark.slow
def test_a_real_fhn_fit_names_its_hopf(in_tmp) -> None:
    """The shipped FHN config (2 units, discrete map) starts at a stable point and learns the
    cycle in its first few hundred epochs: the light timeline names the event a Hopf, and its
    last snapshot is the end analysis."""
    import json
    from pathlib import Path

    from gru_learn.cli.fit import main as fit_main

    config = Path(__file__).resolve().parents[1] / "configs/fhn.yaml"
    assert fit_main(["fit", "--config", str(config), "--trainer.max_epochs=400",
                     "--analysis.every_n_epochs=50", "--analysis.long_steps=300",
                     "--trainer.enable_progress_bar=false"]) == 0
    s = json.loads((in_tmp / "logs/fhn/version_0/analysis/summary.json").read_text())
    line = s["timeline"]
    assert [x["epoch"] for x in line["snapshots"]] == list(range(0, 401, 50))
    assert line["snapshots"][0]["signature"]["stable_points"] == 1
    assert line["snapshots"][-1]["signature"] == s["learned"]["signature"]
    assert any(e["name"].startswith("Hopf") for e in line["events"]), line["events"]
    assert (in_tmp / "logs/fhn/version_0/analysis/timeline.png").stat().st_size > 10_000


def test_figures_and_text_reach_every_logger_that_takes_them() -> None:
    """TensorBoard gets the figure itself, W&B an RGB image, MLflow the figure under the run;
    a logger without images (CSV) is skipped; text goes where add_text exists."""
    from types import SimpleNamespace

    import matplotlib.pyplot as plt
    import numpy as np

    from gru_learn.training.callbacks import log_figure, log_text

    got: list[tuple] = []
    tb = SimpleNamespace(experiment=SimpleNamespace(
        add_figure=lambda n, f, global_step, close: got.append(("tb", n, f, global_step)),
        add_text=lambda n, t, global_step: got.append(("text", n, t, global_step))))
    wandb = SimpleNamespace(experiment=object(), log_image=lambda key, images, step: got.append(
        ("wandb", key, images[0], step)))
    mlflow = SimpleNamespace(run_id="r1", experiment=SimpleNamespace(
        log_figure=lambda run, f, path: got.append(("mlflow", run, f, path))))
    csv = SimpleNamespace(experiment=SimpleNamespace(log_metrics=lambda *a: None))
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    log_figure([tb, wandb, mlflow, csv], "analysis/x", fig, 7)
    log_text([tb, wandb, mlflow, csv], "analysis/summary", "hello", 7)
    plt.close(fig)
    assert [g[0] for g in got] == ["tb", "wandb", "mlflow", "text"]
    assert got[0][2] is fig and got[2][1:] == ("r1", fig, "analysis/x_7.png")
    img = got[1][2]
    assert isinstance(img, np.ndarray) and img.shape == (50, 100, 3) and img.dtype == np.uint8


def test_a_full_snapshot_reads_the_analysis_summary() -> None:
    summary = {"learned": {"signature": sig(unstable_points=1, stable_cycles=1),
                           "fixed_points": [{"kind": "unstable_focus", "h": [0.1, 0.2]}],
                           "limit_cycles": [{"stable": True, "period": 36.9,
                                             "period_steps": 24.6},
                                            {"stable": False, "period": 9.0,
                                             "period_steps": 6.0}]},
               "comparison": {"continuous_attractor": {"coverage": 0.8}}}
    snap = timeline.from_summary(summary, 40, 1.25)
    assert snap["cycle_periods"] == [24.6] and snap["coverage"] == 0.8
    assert snap["points"] == [{"kind": "unstable_focus", "h": [0.1, 0.2]}]
    scalars = timeline.timeline_scalars(snap)
    assert scalars["timeline/coverage"] == 0.8 and scalars["timeline/stable_cycles"] == 1.0
    assert scalars["timeline/cycle_period_steps"] == 24.6


FIT = ["--data.n_train=16", "--data.n_val=4", "--data.n_test=4", "--data.horizon=6",
       "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
       "--analysis.every_n_epochs=10", "--analysis.long_steps=200", "--analysis.cycles=false"]


def _scalars(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}


def test_a_resumed_fit_keeps_the_timeline_from_before_the_interruption(in_tmp) -> None:
    """Train 30 epochs (snapshots 0, 10, 20; last.ckpt at the end), resume from that
    checkpoint to 60 epochs: the resumed run's summary.json, timeline/* scalars (in the run's
    folder, once each) and figure cover epochs 0-60, the restored snapshots unchanged."""
    import json

    from gru_learn.cli.fit import main as fit_main

    assert fit_main(["fit", "--trainer.max_epochs=30", *FIT]) == 0
    first = in_tmp / "logs/fhn/version_0"
    before = json.loads((first / "analysis/summary.json").read_text())["timeline"]
    ckpt = first / "checkpoints/last.ckpt"
    saved = torch.load(ckpt, weights_only=False)["callbacks"]["DynamicsAnalysis"]
    assert [s["epoch"] for s in saved["snapshots"]] == [0, 10, 20] and saved["steps"] == [0, 10, 20]

    assert fit_main(["fit", "--trainer.max_epochs=60", f"--ckpt_path={ckpt}", *FIT]) == 0
    resumed = first  # a fit resumed from its own last.ckpt goes on in its own folder
    assert [p.name for p in first.parent.iterdir()] == ["version_0"]
    line = json.loads((resumed / "analysis/summary.json").read_text())["timeline"]
    assert [s["epoch"] for s in line["snapshots"]] == [0, 10, 20, 30, 40, 50, 60]
    assert line["snapshots"][:3] == before["snapshots"][:3]  # restored as they were taken
    got = _scalars(resumed)
    assert [step for step, _ in got["timeline/stable_points"]] == [0, 10, 20, 30, 40, 50, 60]
    assert [v for _, v in got["timeline/stable_points"][:3]] == [
        float(s["signature"]["stable_points"]) for s in before["snapshots"][:3]]
    assert (resumed / "analysis/timeline.png").stat().st_size > 10_000


def test_a_fit_logs_curves_and_keeps_final_numbers_for_hparams(in_tmp) -> None:
    """A fresh fit with the default (light) timeline: no one-point chart outside the
    ``results/`` group (HPARAMS' metric values) and the test split (evaluated once, at the
    end); the timeline's curves reach the end analysis; the flags are HPARAMS metrics with
    the values of summary.json and are in the TEXT summary."""
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gru_learn.cli.fit import main as fit_main
    from gru_learn.training.hparams import PREFIX

    assert fit_main(["fit", "--trainer.max_epochs=30", "--trainer.check_val_every_n_epoch=5",
                     *FIT]) == 0
    run = in_tmp / "logs/fhn/version_0"
    s = json.loads((run / "analysis/summary.json").read_text())
    got = _scalars(run)
    # (a cycle period seen only by the end analysis would be one point too: a true event)
    lone = {t for t, pts in got.items() if len(pts) == 1} - {"timeline/cycle_period_steps"}
    assert lone and all(t.startswith((PREFIX, "test/")) or t == "loss/test" for t in lone), lone
    assert {t.split("/")[0] for t in got} == {"loss", "optim", "timeline", "test",
                                              PREFIX.rstrip("/")}
    assert [step for step, _ in got["timeline/stable_cycles"]] == [0, 10, 20, 30]
    assert got["timeline/stable_points"][-1][1] == s["learned"]["signature"]["stable_points"]
    match = float(s["comparison"]["topology_match"])
    assert got[PREFIX + "topology_match"] == [(30, match)]
    assert got[PREFIX + "stable_cycles"] == [(30, float(s["learned"]["signature"][
        "stable_cycles"]))]
    text = EventAccumulator(str(run), size_guidance={"tensors": 0}).Reload()
    (event,) = text.Tensors("analysis/summary/text_summary")
    assert f"topology_match={s['comparison']['topology_match']}" in \
        event.tensor_proto.string_val[0].decode()


def test_a_resume_at_a_snapshot_epoch_keeps_it_once() -> None:
    """A checkpoint written at the end of epoch 100 holds the snapshot taken there (the
    analysis runs before the checkpoint callbacks): resuming at epoch 100 keeps it, takes no
    second one, logs the restored ones at their steps, and drops any later than the resume."""
    from types import SimpleNamespace

    from gru_learn.training.dynamics_callback import DynamicsAnalysis

    logged: list[tuple[int, float]] = []
    logger = SimpleNamespace(log_metrics=lambda m, step: logged.append(
        (step, m["timeline/stable_points"])))
    trainer = SimpleNamespace(current_epoch=100, global_step=200, is_global_zero=True,
                              loggers=[logger], max_epochs=400)
    snaps = [{"epoch": e, "signature": sig(stable_points=k)} for e, k in
             [(0, 1), (50, 2), (100, 3), (150, 4)]]
    cb = DynamicsAnalysis(every_n_epochs=50)
    cb.load_state_dict({"snapshots": snaps, "steps": [0, 100, 200, 300]})
    cb.on_train_start(trainer, SimpleNamespace(cell=_rotation_cell(-0.2), readout=None))
    assert [s["epoch"] for s in cb.snapshots] == [0, 50, 100] and cb.steps == [0, 100, 200]
    assert logged == [(0, 1.0), (100, 2.0), (200, 3.0)]
    assert cb.state_dict() == {"snapshots": snaps[:3], "steps": [0, 100, 200]}
