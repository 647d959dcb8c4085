"""``python -m gru_learn compare``: train a grid of GRUs (systems x hidden sizes x seeds), with
the paper's setting as vectorised ensembles or with a training method of ``fit``, and compare
their losses, as the paper's Fig 12.

Options are typed (jsonargparse; ``gru_learn.cli.compare_options``): the grid lists,
``gru_learn.experiments.grid.TrainSettings``' fields
(training and the training method) and, under ``data``, TrajectoryDataModule's options; a YAML
``--config`` may set any of them, and options after it override it.

Outputs under ``--out``: one TensorBoard run and checkpoint per network
(``<system>/h<size>/seed<k>``), ``results.csv`` (a row per run per logged epoch),
``summary.json``, ``fig12_<system>.png`` (also in TensorBoard under ``figures``) and a printed
table of final losses (mean ± sample std over seeds). ``--analyze`` adds each network's
analysis (``--evaluation``: on common data, with the reconstruction measures). Rerunning the
same command resumes.
"""

from __future__ import annotations

import time

from gru_learn.cli.compare_options import build_evaluation, build_grid, parse
from gru_learn.errors import UserError
from gru_learn.experiments.grid import (
    analyze_runs,
    data_module,
    execute,
    format_table,
    load_runs,
    missing_runs,
    prepare,
    write_report,
    write_runs,
)
from gru_learn.experiments.grid.methods import (
    method_grids,
    method_rows,
    methods_table,
    write_methods_report,
)
from gru_learn.experiments.grid.report import method_label
from gru_learn.files.outputs import check_output_dir
from gru_learn.systems.registry import folder_name


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.workers <= 0:
        raise UserError(f"--workers must be positive, got {args.workers}")
    if args.address and args.backend != "ray":
        raise UserError("--address needs --backend ray")
    grid, out = build_grid(args)
    check_output_dir(out, "--out")
    evaluation = build_evaluation(args)
    if args.methods is None:
        run_grid(grid, out, args, evaluation)
        return 0
    if not args.methods:
        raise UserError("methods: give at least one method (name: {changes}, {} for the "
                        "grid's own settings)")
    grids = method_grids(grid, args.methods)  # every method checked before any training
    rows = []
    for name, g in grids:
        print(f"compare: method {name}: {method_label(g.settings) or 'the paper'}")
        rows += method_rows(name, g, run_grid(g, out / name, args, evaluation))
    figures = write_methods_report(out, rows, args.methods)
    print("\n".join(methods_table(rows)))
    print(f"wrote {out / 'methods.json'}"
          + "".join(f", {f}" for f in figures) + f"; tensorboard --logdir {out}")
    return 0


def run_grid(grid, out, args, evaluation) -> dict:
    """Train (what is missing), analyse with ``--analyze`` and report one grid under ``out``;
    returns its summary."""
    for system in grid.systems:  # simulate (or load) each system's data once, here
        draws = [grid.settings.for_seed(seed) for seed in grid.seeds]
        for settings in [s for i, s in enumerate(draws) if s not in draws[:i]]:
            data_module(system, settings).prepare_data()
    out.mkdir(parents=True, exist_ok=True)
    groups = prepare(out, grid, args.force)
    n_runs = missing_runs(out, groups)
    again = sum(len(g.seeds) for g in groups) - n_runs
    alongside = (f"; {again} finished run(s) retrained alongside, so that every run is "
                 "computed as in one uninterrupted grid" if again else "")
    print(f"compare: {n_runs} run(s) to train in {len(groups)} group(s) "
          f"({args.backend}, {args.workers} worker(s)){alongside}; output in {out}")
    from tqdm.auto import tqdm

    with tqdm(total=len(groups), desc="groups", unit="group", dynamic_ncols=True) as bar:
        for group, result in execute(groups, args.backend, args.workers, args.address):
            write_runs(out, group, result)
            bar.set_postfix_str(f"{group.system} h{group.hidden_size}: "
                                f"{result['seconds']:.0f} s")
            bar.update()
    if args.analyze:
        start = time.perf_counter()
        n = analyze_runs(out, grid, args.backend, args.workers, args.address, evaluation)
        if n:
            print(f"compare: analysed {n} run(s) in {time.perf_counter() - start:.0f} s "
                  f"({args.workers} worker(s))")
    summary = write_report(out, grid, load_runs(out, grid))
    print(format_table(summary))
    print(f"wrote {out / 'results.csv'}, {out / 'summary.json'}, "
          f"{', '.join(str(out / f'fig12_{folder_name(s)}.png') for s in grid.systems)}; "
          f"tensorboard --logdir {out}")
    return summary
