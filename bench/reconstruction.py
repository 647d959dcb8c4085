"""Reconstruction benchmark: GRUs trained with each training method on FitzHugh-Nagumo, Van der
Pol and Lorenz-63 over several seeds, scored by the dynamics they learned.

    python bench/reconstruction.py --config bench/reconstruction.yaml [--out DIR] [--only fhn]

Resumable: every run is ``<out>/<system>/<method>/seed<k>/`` with ``model.pt`` (state dict and
hyperparameters) and ``result.json`` (training losses, seconds, evaluation), written once the
run is complete; a rerun trains only what is missing. Evaluation (``evaluate``) is the same for
every method of a system: the paper-setting DataModule of that system (its test split) and
:func:`gru_learn.analysis.analyze` (topology match, period error, our d_stsp and d_h), plus the
reference definitions of D_stsp and D_H (gru_learn.dynamics.metrics) on one long free run from
a test state against one long true trajectory, and the largest Lyapunov exponent of the
trained map (gru_learn.dynamics.lyapunov) against the target's. The table (mean +- sample sd
over seeds; the paper setting is the baseline every ratio refers to) goes to ``table.md`` and
``table.json``; figures to ``<out>/<system>_<metric>.png``.
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

from gru_learn.atomic import atomic_path, write_json_atomic, write_text_atomic
from gru_learn.data import TrajectoryDataModule
from gru_learn.dynamics.lyapunov import flow_lyapunov_max, map_lyapunov_max
from gru_learn.dynamics.metrics import (
    power_spectrum_error_reference,
    state_space_divergence_gmm,
    state_space_divergence_reference,
)
from gru_learn.model import GRUForecaster, make_adam, make_scheduler

F64 = torch.float64


def train(system: str, method: dict[str, Any], sys_cfg: dict[str, Any], seed: int,
          cache_dir: str) -> tuple[GRUForecaster, dict[str, Any]]:
    """One run: data (the system's paper setting updated by the method's ``data``), the model
    (``hidden_size`` and the method's ``model`` options) and a plain Adam loop calling
    GRUForecaster.training_loss, as ``fit`` does (full batch unless ``batch_size``)."""
    import lightning as L

    data_kw = {**sys_cfg.get("data", {}), **method.get("data", {}), "cache_dir": cache_dir}
    dm = TrajectoryDataModule(system=system, **data_kw)
    dm.setup()
    L.seed_everything(seed, verbose=False)
    model_kw = {"hidden_size": sys_cfg["hidden_size"], "lr": sys_cfg.get("lr", 0.01),
                **method.get("model", {})}
    model = GRUForecaster(**model_kw, obs_dim=dm.obs_dim, dt=dm.dt, system=system)
    epochs = int(method.get("epochs", sys_cfg["epochs"]))
    clip = method.get("gradient_clip_val", sys_cfg.get("gradient_clip_val"))
    opt = make_adam(model.parameters(), model.hparams.lr)
    sched = make_scheduler(opt, model.hparams.lr_schedule, epochs)
    model._max_epochs = lambda: epochs  # noqa: SLF001  (the linear alpha schedule's length)
    x = dm.splits["train"]
    if model.hparams.readout_init == "data":
        model.init_readout_from(x)
    batch = method.get("batch_size", sys_cfg.get("batch_size"))
    g = torch.Generator().manual_seed(seed)
    losses, start = [], time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=g) if batch else None
        parts = [x] if not batch else [x[order[i:i + batch]] for i in range(0, len(x), batch)]
        for part in parts:
            opt.zero_grad(set_to_none=True)
            loss = model.training_loss(part, epoch)
            if not torch.isfinite(loss):
                break
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
    with torch.no_grad():
        val = float(model.loss(dm.splits["val"])) if len(dm.splits["val"]) else math.nan
    info = {"epochs": epochs, "train_loss": losses[-1], "val_loss_free_running": val,
            "loss_curve": losses[:: max(1, epochs // 200)],
            "train_seconds": time.perf_counter() - start}
    return model, info


class Target:
    """Everything the evaluation of one system shares across methods and seeds: the paper-setting
    DataModule, one long clean trajectory and the target's largest Lyapunov exponent (cached
    in ``<out>/<system>/target.npz``)."""

    def __init__(self, system: str, sys_cfg: dict[str, Any], cache_dir: str, out: Path) -> None:
        ev = sys_cfg.get("eval", {})
        self.steps, self.drop = int(ev.get("steps", 20000)), int(ev.get("transient", 1000))
        self.sigma = float(ev.get("psd_sigma", 20.0))
        self.lyapunov = bool(ev.get("lyapunov", False))
        self.lam_steps = int(ev.get("lyapunov_steps", 5000))
        self.dm = TrajectoryDataModule(system=system, **sys_cfg.get("data", {}),
                                       cache_dir=cache_dir)
        self.dm.setup()
        cls, dt = self.dm.system_cls, self.dm.dt
        path = out / system / "target.npz"
        if path.is_file():
            z = np.load(path)
            self.truth, self.lam = z["truth"], float(z["lam"])
            return
        x0 = self.dm.blob["test_clean"][0, 0].to(F64)
        self.truth = true_trajectory(cls, self.dm.spec["params"], x0, dt,
                                     self.steps + self.drop)[self.drop:]
        self.lam = math.nan
        if self.lyapunov:
            starts = torch.as_tensor(self.truth[:: len(self.truth) // 8][:8])
            self.lam = flow_lyapunov_max(cls.vector_field(self.dm.spec["params"]), starts,
                                         dt / 10, 20000, transient=1000,
                                         generator=torch.Generator().manual_seed(0))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, truth=self.truth, lam=self.lam)


def evaluate(model: GRUForecaster, target: Target) -> dict[str, Any]:
    """The same evaluation for every method: the toolkit's comparison on the system's paper
    data, the reference D_stsp / D_H on one long free run from a test state, and the largest
    Lyapunov exponent of the trained map (per target time unit)."""
    from gru_learn.analysis import analyze

    dm, dt = target.dm, target.dm.dt
    model = model.to(F64).eval()
    summary = analyze(model, dm, figures=False).summary
    comp = summary["comparison"]
    out: dict[str, Any] = {k: comp.get(k) for k in ("topology_match", "topology_reason",
                                                      "period_rel_error", "d_stsp", "d_h")}
    w0 = dm.splits["test"][:1, 0].to(F64)
    with torch.no_grad():
        cell, readout = model.cell, model.readout
        h = cell(w0, w0.new_zeros(1, cell.hidden_size))
        step = cell.autonomous_map()
        hs = []
        for _ in range(target.steps + target.drop):
            hs.append(h)
            h = step(h)
        hs = torch.cat(hs)[target.drop:]
        gen = readout(hs).numpy()
    out["d_stsp_ref"] = state_space_divergence_reference(target.truth, gen, bins=30)
    out["d_stsp_gmm"] = state_space_divergence_gmm(target.truth, gen, scaling=1.0,
                                                   generator=np.random.default_rng(0))
    out["d_h_ref"] = power_spectrum_error_reference(target.truth, gen, sigma=target.sigma)
    out["amplitude"] = (gen.max(0) - gen.min(0)).tolist()
    out["amplitude_target"] = (target.truth.max(0) - target.truth.min(0)).tolist()
    if target.lyapunov:
        out["lyapunov_max"] = map_lyapunov_max(step, hs[:: len(hs) // 8][:8], target.lam_steps,
                                               transient=200,
                                               generator=torch.Generator().manual_seed(0)) / dt
        out["lyapunov_max_target"] = target.lam
    return out


def true_trajectory(cls, params: dict, x0: torch.Tensor, dt: float, steps: int,
                    substeps: int = 4) -> np.ndarray:
    """(steps, p) samples of the clean target at spacing dt from x0 (fixed-step RK4)."""
    from gru_learn.dynamics import integrate

    _, path = integrate(cls.vector_field(params), x0[None], steps * dt, dt / substeps,
                        save_every=substeps)
    return path[:steps, 0].numpy()


def load_model(folder: Path) -> GRUForecaster:
    blob = torch.load(folder / "model.pt", weights_only=False)
    model = GRUForecaster(**blob["hparams"])
    model.load_state_dict(blob["state_dict"])
    return model


def run_all(cfg: dict[str, Any], out: Path, only: list[str] | None,
            reeval: bool = False) -> None:
    cache = cfg.get("cache_dir", "datasets")
    for system, sys_cfg in cfg["systems"].items():
        if only and system not in only:
            continue
        target = Target(system, sys_cfg, cache, out)
        for name, method in cfg["methods"].items():
            if system in method.get("skip", []):
                continue
            method = {**method, **method.get("per_system", {}).get(system, {})}
            for seed in cfg["seeds"]:
                folder = out / system / name / f"seed{seed}"
                if (folder / "result.json").is_file():
                    if reeval:  # the same trained network, evaluated again
                        info = json.loads((folder / "result.json").read_text())
                        info["eval"] = evaluate(load_model(folder), target)
                        write_json_atomic(folder / "result.json", info)
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


METRICS = ("topology_match", "d_stsp", "d_stsp_ref", "d_stsp_gmm", "d_h", "d_h_ref",
           "period_rel_error", "lyapunov_max")


def table(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    """mean +- sd (median) per (system, method) over the finished seeds."""
    rows = []
    for system in cfg["systems"]:
        for name in cfg["methods"]:
            runs = [json.loads(p.read_text())
                    for p in sorted((out / system / name).glob("seed*/result.json"))]
            if not runs:
                continue
            row: dict[str, Any] = {"system": system, "method": name, "runs": len(runs)}
            for k in METRICS:
                vals = [float(r["eval"][k]) for r in runs
                        if isinstance(r["eval"].get(k), (int, float, bool))]
                vals = [v for v in vals if math.isfinite(v)]
                if vals:
                    row[k] = {"mean": statistics.fmean(vals), "median": statistics.median(vals),
                              "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                              "n": len(vals)}
            if runs[0]["eval"].get("lyapunov_max_target") is not None:
                row["lyapunov_max_target"] = statistics.fmean(
                    r["eval"]["lyapunov_max_target"] for r in runs)
            row["train_seconds"] = statistics.fmean(r["train_seconds"] for r in runs)
            rows.append(row)
    return {"rows": rows}


def format_table(t: dict[str, Any]) -> str:
    head = ("| system | method | runs | topology match | d_stsp (ours) | D_stsp (ref, 30 bins) "
            "| D_stsp (GMM) | D_H (ref) | period error | λ_max (target) | train s |")
    lines = [head, "|" + "---|" * head.count("|")[:-1] if False else "|---" * 11 + "|"]

    def cell(row: dict, k: str, digits: int = 3) -> str:
        v = row.get(k)
        if v is None:
            return "–"
        return f"{v['mean']:.{digits}g} ± {v['sd']:.2g} (med {v['median']:.{digits}g})"

    for r in t["rows"]:
        tm = r.get("topology_match")
        match = f"{round(tm['mean'] * tm['n'])}/{tm['n']}" if tm else "–"
        lam = cell(r, "lyapunov_max")
        if r.get("lyapunov_max_target") is not None:
            lam += f" ({r['lyapunov_max_target']:.3g})"
        lines.append(f"| {r['system']} | {r['method']} | {r['runs']} | {match} | "
                     f"{cell(r, 'd_stsp')} | {cell(r, 'd_stsp_ref')} | {cell(r, 'd_stsp_gmm')} | "
                     f"{cell(r, 'd_h_ref')} | {cell(r, 'period_rel_error', 2)} | {lam} | "
                     f"{r['train_seconds']:.0f} |")
    return "\n".join(lines)


def figures(t: dict[str, Any], out: Path) -> None:
    """Per system: d_stsp (ours and reference) by method, seeds as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for system in sorted({r["system"] for r in t["rows"]}):
        rows = [r for r in t["rows"] if r["system"] == system]
        keys = ("d_stsp_ref", "d_h_ref") + (("lyapunov_max",) if any(
            "lyapunov_max" in r for r in rows) else ())
        fig, axes = plt.subplots(1, len(keys), figsize=(3.7 * len(keys), 3.4))
        for ax, k in zip(axes, keys, strict=True):
            for i, r in enumerate(rows):
                vals = [json.loads(p.read_text())["eval"].get(k) for p in
                        sorted((out / system / r["method"]).glob("seed*/result.json"))]
                vals = [v for v in vals if isinstance(v, (int, float))]
                ax.plot([i] * len(vals), vals, "o", alpha=0.6)
            ax.set_xticks(range(len(rows)), [r["method"] for r in rows], rotation=30,
                          ha="right")
            ax.set_title(k)
            if k == "lyapunov_max" and rows[0].get("lyapunov_max_target") is not None:
                ax.axhline(rows[0]["lyapunov_max_target"], color="k", lw=0.8, ls="--")
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
    p.add_argument("--reeval", action="store_true",
                   help="evaluate the finished runs again (after a change to the analysis)")
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
