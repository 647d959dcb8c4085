"""Reconstruction benchmark: GRUs trained with each training method on FitzHugh-Nagumo, Van der
Pol and Lorenz-63 over several seeds, scored by the dynamics they learned.

    python bench/reconstruction.py --config bench/reconstruction.yaml [--out DIR] [--only fhn]

Resumable: every run is ``<out>/<system>/<method>/seed<k>/`` with ``model.pt`` (state dict and
hyperparameters) and ``result.json`` (training losses, seconds, evaluation), written once the
run is complete; a rerun trains only what is missing (``--reeval [all|free]`` evaluates the
finished runs again). Evaluation (``evaluate``) is the same for every method of a system: the
paper-setting DataModule of that system (its test split) and
:func:`gru_learn.analysis.analyze` (topology match, period error, our d_stsp and d_h, the
largest Lyapunov exponents of the trained map and of the target), plus d_stsp against the
nominal-parameter truth (``d_stsp_nominal``) and the reference definitions of D_stsp and D_H
(gru_learn.dynamics.metrics) on one long free run from a test state against one long true
trajectory. The true system itself, at its nominal parameters, is scored the same way
(``<out>/<system>/truth.json``, the first row of each system: every measure's floor on this
data). The table (mean +- sample sd (median) over seeds) goes to ``table.md`` and
``table.json``; one figure per system to ``<out>/<system>.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from gru_learn.dynamics.metrics import (
    power_spectrum_error_reference,
    state_space_divergence_gmm,
    state_space_divergence_reference,
)
from gru_learn.files.atomic import atomic_path, write_json_atomic, write_text_atomic
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.loop import train_forecaster
from gru_learn.training.module import GRUForecaster

F64 = torch.float64


def train(system: str, method: dict[str, Any], sys_cfg: dict[str, Any], seed: int,
          cache_dir: str) -> tuple[GRUForecaster, dict[str, Any]]:
    """One run: data (the system's paper setting updated by the method's ``data``), the model
    (``hidden_size`` and the method's ``model`` options), trained by
    :func:`gru_learn.training.loop.train_forecaster` (the loop ``compare`` uses: full batch
    unless ``batch_size``, mini-batches drawn from the data seed + epoch as ``fit`` draws them).
    """
    import lightning as L

    data_kw = {**sys_cfg.get("data", {}), **method.get("data", {}), "cache_dir": cache_dir}
    dm = TrajectoryDataModule(system=system, **data_kw)
    dm.setup()
    L.seed_everything(seed, verbose=False)
    model_kw = {"hidden_size": sys_cfg["hidden_size"], "lr": sys_cfg.get("lr", 0.01),
                **method.get("model", {})}
    model = GRUForecaster(**model_kw, obs_dim=dm.obs_dim, dt=dm.dt, system=system)
    epochs = int(method.get("epochs", sys_cfg["epochs"]))
    start = time.perf_counter()
    curves = train_forecaster(
        model, dm.splits["train"], epochs,
        batch_size=method.get("batch_size", sys_cfg.get("batch_size")),
        gradient_clip_val=method.get("gradient_clip_val", sys_cfg.get("gradient_clip_val")),
        data_seed=dm.seed)
    losses = curves["train_loss"].tolist()  # NaN from a diverged epoch on
    with torch.no_grad():
        val = float(model.loss(dm.splits["val"])) if len(dm.splits["val"]) else math.nan
    info = {"epochs": epochs, "train_loss": losses[-1], "val_loss_free_running": val,
            "loss_curve": losses[:: max(1, epochs // 200)],
            "train_seconds": time.perf_counter() - start}
    return model, info


class Target:
    """Everything the evaluation of one system shares across methods and seeds, cached in
    ``<out>/<system>/target.npz``: the paper-setting DataModule; ``truth``, one long clean
    trajectory at the nominal parameters from the first test state (the reference D_stsp / D_H
    compare with it) and ``truth_other``, the same from the second test state (the true
    system's own score); ``truth_band``, the clean trajectories the analysis compares d_stsp
    with (the first ``n`` test states, *each with its own parameters*: FHN draws I_ext per
    trajectory, sd 0.2) and ``truth_nominal``, the same states at the nominal parameters
    (d_stsp_nominal), both after the analysis' transient."""

    def __init__(self, system: str, sys_cfg: dict[str, Any], cache_dir: str, out: Path) -> None:
        from gru_learn.analysis import AnalysisConfig
        from gru_learn.analysis.target import simulate_long
        from gru_learn.training.checkpoint import data_source

        ev = sys_cfg.get("eval", {})
        self.steps, self.drop = int(ev.get("steps", 20000)), int(ev.get("transient", 1000))
        self.sigma = float(ev.get("psd_sigma", 20.0))
        self.dm = TrajectoryDataModule(system=system, **sys_cfg.get("data", {}),
                                       cache_dir=cache_dir)
        self.dm.setup()
        cfg = AnalysisConfig()
        self.n = min(cfg.n_initial, len(self.dm.splits["test"]))
        self.total = int(1.25 * cfg.long_steps)  # as analyze: 1.25 L generated, 0.25 L dropped
        self.long_drop = self.total - cfg.long_steps
        cls, dt, nominal = self.dm.system_cls, self.dm.dt, self.dm.spec["params"]
        path = out / system / "target.npz"
        keys = ("truth", "truth_other", "truth_band", "truth_nominal")
        cached = dict(np.load(path)) if path.is_file() else {}
        if all(k in cached for k in keys) and len(cached["truth"]) == self.steps:
            for k in keys:
                setattr(self, k, cached[k])
            return
        clean = self.dm.blob["test_clean"].to(F64)
        long = true_trajectory(cls, nominal, clean[:2, 0], dt, self.steps + self.drop)
        self.truth, self.truth_other = long[self.drop:, 0], long[self.drop:, 1]
        band = simulate_long(data_source(self.dm), self.n, self.total)  # as analyze does
        self.truth_band = band[:, self.long_drop + 1:].numpy()
        nom = true_trajectory(cls, nominal, clean[: self.n, 0], dt, self.total + 1, substeps=8)
        self.truth_nominal = nom.transpose(1, 0, 2)[:, self.long_drop + 1:]
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **{k: getattr(self, k) for k in keys})


def evaluate(model: GRUForecaster, target: Target, previous: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """The same evaluation for every method: the toolkit's comparison on the system's paper
    data (topology, period, d_stsp, d_h, the largest Lyapunov exponents of the model's map and
    of the target, per target time unit) unless ``previous`` holds it already, then
    :func:`free_run_eval`."""
    if previous is not None and "topology_match" in previous:
        out = {k: previous.get(k) for k in ANALYSIS_KEYS}
    else:
        from gru_learn.training.checkpoint import analyze_trained

        summary = analyze_trained(model.to(F64).eval(), target.dm, figures=False).summary
        comp = summary["comparison"]
        out = {k: comp.get(k) for k in ("topology_match", "topology_reason",
                                        "period_rel_error", "d_stsp", "d_h")}
        out["lyapunov_max"] = summary["learned"].get("lyapunov_max")
        out["lyapunov_max_target"] = (summary.get("target") or {}).get("lyapunov_max")
    return {**out, **free_run_eval(model, target)}


ANALYSIS_KEYS = ("topology_match", "topology_reason", "period_rel_error", "d_stsp", "d_h",
                 "lyapunov_max", "lyapunov_max_target")


def free_run_eval(model: GRUForecaster, target: Target) -> dict[str, Any]:
    """Measures of the model's free runs: d_stsp (ours) against the nominal-parameter truth
    from the analysis' initial states (``d_stsp_nominal``; the analysis' ``d_stsp`` compares
    with trajectories of per-trajectory parameters), and the reference D_stsp (binned, GMM)
    and D_H on one long free run from the first test state against ``target.truth``."""
    from gru_learn.dynamics.metrics import state_space_divergence
    from gru_learn.gru.rollout import rollout_hidden

    dm = target.dm
    model = model.to(F64).eval()
    cell, readout = model.cell, model.readout
    test = dm.splits["test"].to(F64)
    with torch.no_grad():
        short = readout(rollout_hidden(cell, test[: target.n, 0], target.total))
        hs = rollout_hidden(cell, test[:1, 0], target.steps + target.drop)[0, target.drop:]
        gen = readout(hs).numpy()
    out: dict[str, Any] = {"d_stsp_nominal": state_space_divergence(
        target.truth_nominal, short[:, target.long_drop:])}
    out.update(reference_measures(target, gen))
    return out


def reference_measures(target: Target, gen: np.ndarray) -> dict[str, Any]:
    """Reference D_stsp (30 bins; GMM, sigma^2 = 1) and D_H of one long generated series
    against ``target.truth``, and both series' peak-to-peak extents."""
    return {
        "d_stsp_ref": state_space_divergence_reference(target.truth, gen, bins=30),
        "d_stsp_gmm": state_space_divergence_gmm(target.truth, gen, scaling=1.0,
                                                 generator=np.random.default_rng(0)),
        "d_h_ref": power_spectrum_error_reference(target.truth, gen, sigma=target.sigma),
        "amplitude": (gen.max(0) - gen.min(0)).tolist(),
        "amplitude_target": (target.truth.max(0) - target.truth.min(0)).tolist()}


def truth_eval(target: Target) -> dict[str, Any]:
    """The true system at its nominal parameters scored as if it were a trained model: every
    measure's floor on this data. d_stsp: the nominal trajectories from the analysis' initial
    states against the analysis' truth (per-trajectory parameters); reference measures: the
    long nominal trajectory from the second test state against the one from the first."""
    from gru_learn.dynamics.metrics import power_spectrum_distance, state_space_divergence

    out: dict[str, Any] = {
        "d_stsp": state_space_divergence(target.truth_band, target.truth_nominal),
        "d_h": power_spectrum_distance(target.truth_band, target.truth_nominal),
        "d_stsp_nominal": state_space_divergence(target.truth_nominal, target.truth_nominal)}
    out.update(reference_measures(target, target.truth_other))
    return out


def true_trajectory(cls, params: dict, x0: torch.Tensor, dt: float, steps: int,
                    substeps: int = 4) -> np.ndarray:
    """(steps, B, p) samples of the clean target at spacing dt from x0 (B, p), fixed-step RK4
    with ``substeps`` steps per sample."""
    from gru_learn.dynamics import integrate

    _, path = integrate(cls.vector_field(params), x0, steps * dt, dt / substeps,
                        save_every=substeps)
    return path[:steps].numpy()


def load_model(folder: Path) -> GRUForecaster:
    blob = torch.load(folder / "model.pt", weights_only=False)
    model = GRUForecaster(**blob["hparams"])
    model.load_state_dict(blob["state_dict"])
    return model


def run_all(cfg: dict[str, Any], out: Path, only: list[str] | None,
            reeval: str | None = None) -> None:
    """Train and evaluate what is missing; or, with ``reeval``, train nothing and evaluate the
    finished runs again ("all") or only their free-run measures ("free", keeping the
    analysis' numbers). Writes the true
    system's own scores to ``<out>/<system>/truth.json``."""
    cache = cfg.get("cache_dir", "datasets")
    for system, sys_cfg in cfg["systems"].items():
        if only and system not in only:
            continue
        target = Target(system, sys_cfg, cache, out)
        write_json_atomic(out / system / "truth.json", truth_eval(target))
        for name, method in cfg["methods"].items():
            if system in method.get("skip", []):
                continue
            method = {**method, **method.get("per_system", {}).get(system, {})}
            for seed in cfg["seeds"]:
                folder = out / system / name / f"seed{seed}"
                if (folder / "result.json").is_file():
                    if reeval:  # the same trained network, evaluated again
                        info = json.loads((folder / "result.json").read_text())
                        info["eval"] = evaluate(load_model(folder), target,
                                                info["eval"] if reeval == "free" else None)
                        write_json_atomic(folder / "result.json", info)
                    continue
                if reeval:  # re-evaluation only: nothing is trained
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                model, info = train(system, method, sys_cfg, seed, cache)
                with atomic_path(folder / "model.pt") as tmp:
                    torch.save({"state_dict": model.state_dict(),
                                "hparams": dict(model.hparams)}, tmp)
                t = time.perf_counter()
                info["eval"] = evaluate(model, target)
                info["eval_seconds"] = time.perf_counter() - t
                write_json_atomic(folder / "result.json", info)
                e = info["eval"]
                print(f"{system:7s} {name:12s} seed {seed}: loss {info['train_loss']:.4g} "
                      f"topology {e['topology_match']} d_stsp {e['d_stsp']:.3g} ref "
                      f"{e['d_stsp_ref']:.3g} d_h_ref {e['d_h_ref']:.3g} lambda "
                      f"{e.get('lyapunov_max', math.nan):.3g} amplitude "
                      f"{np.round(e['amplitude'], 2).tolist()} ({info['train_seconds']:.0f} s)",
                      flush=True)


METRICS = ("topology_match", "d_stsp", "d_stsp_nominal", "d_stsp_ref", "d_stsp_gmm", "d_h",
           "d_h_ref", "period_rel_error", "lyapunov_max")
TRUTH = "true system"  # the method name of the truth rows


def summarise(evals: list[dict[str, Any]]) -> dict[str, Any]:
    """mean, median, sample sd and count of each finite metric over runs."""
    row: dict[str, Any] = {}
    for k in METRICS:
        vals = [float(e[k]) for e in evals if isinstance(e.get(k), (int, float, bool))]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            row[k] = {"mean": statistics.fmean(vals), "median": statistics.median(vals),
                      "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
    return row


def table(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    """mean +- sd (median) per (system, method) over the finished seeds; first, per system,
    the true system's own scores (``truth.json``, the floor of every measure)."""
    rows = []
    for system in cfg["systems"]:
        if (out / system / "truth.json").is_file():
            truth = json.loads((out / system / "truth.json").read_text())
            rows.append({"system": system, "method": TRUTH, "runs": 1, **summarise([truth])})
        for name in cfg["methods"]:
            runs = [json.loads(p.read_text())
                    for p in sorted((out / system / name).glob("seed*/result.json"))]
            if not runs:
                continue
            row: dict[str, Any] = {"system": system, "method": name, "runs": len(runs),
                                   **summarise([r["eval"] for r in runs])}
            targets = [r["eval"].get("lyapunov_max_target") for r in runs]
            if all(isinstance(v, float) for v in targets):
                row["lyapunov_max_target"] = statistics.fmean(targets)
            row["train_seconds"] = statistics.fmean(r["train_seconds"] for r in runs)
            rows.append(row)
    return {"rows": rows}


COLUMNS = (("d_stsp", "d_stsp (ours)"), ("d_stsp_nominal", "d_stsp vs nominal"),
           ("d_stsp_ref", "D_stsp (ref, 30 bins)"), ("d_stsp_gmm", "D_stsp (GMM)"),
           ("d_h_ref", "D_H (ref)"))


def format_table(t: dict[str, Any]) -> str:
    head = ("| system | method | runs | topology match | "
            + " | ".join(h for _, h in COLUMNS) + " | period error | λ_max (target) | train s |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]

    def cell(row: dict, k: str, digits: int = 3) -> str:
        v = row.get(k)
        if v is None:
            return "–"
        if v["n"] == 1:
            return f"{v['mean']:.{digits}g}"
        return f"{v['mean']:.{digits}g} ± {v['sd']:.2g} (med {v['median']:.{digits}g})"

    for r in t["rows"]:
        tm = r.get("topology_match")
        match = f"{round(tm['mean'] * tm['n'])}/{tm['n']}" if tm else "–"
        lam = cell(r, "lyapunov_max")
        if r.get("lyapunov_max_target") is not None:
            lam += f" ({r['lyapunov_max_target']:.3g})"
        secs = f"{r['train_seconds']:.0f}" if "train_seconds" in r else "–"
        lines.append(f"| {r['system']} | {r['method']} | {r['runs']} | {match} | "
                     + " | ".join(cell(r, k) for k, _ in COLUMNS)
                     + f" | {cell(r, 'period_rel_error', 2)} | {lam} | {secs} |")
    return "\n".join(lines)


def figures(t: dict[str, Any], out: Path) -> None:
    """Per system: d_stsp (ours, against the analysis' truth and the nominal one), the
    reference D_stsp and D_H (and lambda_max) by method, one dot per seed; the true system's
    own score as a black star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for system in sorted({r["system"] for r in t["rows"]}):
        rows = [r for r in t["rows"] if r["system"] == system]
        keys = ("d_stsp", "d_stsp_nominal", "d_stsp_ref", "d_h_ref") + (
            ("lyapunov_max",) if any("lyapunov_max_target" in r for r in rows) else ())
        fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 3.4))
        for ax, k in zip(axes, keys, strict=True):
            for i, r in enumerate(rows):
                if r["method"] == TRUTH:
                    if k in r:
                        ax.plot([i], [r[k]["mean"]], "k*", ms=10)
                    continue
                vals = [json.loads(p.read_text())["eval"].get(k) for p in
                        sorted((out / system / r["method"]).glob("seed*/result.json"))]
                vals = [v for v in vals if isinstance(v, (int, float))]
                ax.plot([i] * len(vals), vals, "o", alpha=0.6)
            ax.set_xticks(range(len(rows)), [r["method"] for r in rows], rotation=30,
                          ha="right")
            ax.set_title(k)
            lam = [r["lyapunov_max_target"] for r in rows if "lyapunov_max_target" in r]
            if k == "lyapunov_max" and lam:
                ax.axhline(lam[0], color="k", lw=0.8, ls="--")
        fig.suptitle(f"{system}: one dot per seed")
        fig.tight_layout()
        with atomic_path(out / f"{system}.png", suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="bench/reconstruction.yaml")
    p.add_argument("--out")
    p.add_argument("--only", nargs="+", help="systems to run (default: all)")
    p.add_argument("--seeds", nargs="+", type=int)
    p.add_argument("--methods", nargs="+")
    p.add_argument("--epochs", type=int, help="override every system's epochs (smoke runs)")
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--reeval", nargs="?", const="all", choices=("all", "free"),
                   help="evaluate the finished runs again (after a change to the analysis); "
                        "free: only the free-run measures, keeping the analysis' numbers")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("GRU_LEARN_NUM_THREADS", "1")))
    cfg = yaml.safe_load(Path(args.config).read_text())
    if args.seeds:
        cfg["seeds"] = args.seeds
    if args.epochs:
        for sys_cfg in cfg["systems"].values():
            sys_cfg["epochs"] = args.epochs
    if args.methods:
        cfg["methods"] = {k: v for k, v in cfg["methods"].items() if k in args.methods}
    out = Path(args.out or cfg.get("out", "logs/reconstruction"))
    out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        run_all(cfg, out, args.only, args.reeval)
    t = table(cfg, out)
    write_json_atomic(out / "table.json", t)
    text = format_table(t)
    write_text_atomic(out / "table.md", text + "\n")
    figures(t, out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
