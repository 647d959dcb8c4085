"""``python -m gru_learn analyze`` as a user runs it on a network trained elsewhere: the network
alone, several inputs, own states, state-dict layouts, bad input, exit codes, --help."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gru_learn.dynamics.analyze as dynamics_analyze
from gru_learn.cli.analyze import main
from gru_learn.errors import UserError
from tests.conftest import run_cli


def save_net(path: Path, p: int = 3, d: int = 5, q: int | None = 2, layout: str = "nested",
             seed: int = 0) -> torch.nn.GRU:
    torch.manual_seed(seed)
    gru = torch.nn.GRU(p, d, batch_first=True)
    head = None if q is None else torch.nn.Linear(d, q)
    if layout == "nested":
        obj = {"gru": gru.state_dict(), **({"readout": head.state_dict()} if head else {})}
    elif layout == "flat":  # as a whole nn.Module's state dict: rnn.*, head.*
        obj = {f"rnn.{k}": v for k, v in gru.state_dict().items()}
        obj.update({f"head.{k}": v for k, v in (head.state_dict() if head else {}).items()})
    else:  # an nn.GRUCell
        cell = torch.nn.GRUCell(p, d)
        obj = {f"cell.{k}": v for k, v in cell.state_dict().items()}
    torch.save(obj, path)
    return gru


def test_network_alone_with_input_and_states(in_tmp: Path) -> None:
    save_net(in_tmp / "net.pt")
    np.save(in_tmp / "h.npy", 0.3 * np.random.default_rng(0).normal(size=(4, 30, 5)))
    r = run_cli("analyze", "--state-dict", "net.pt", "--input", "0.5", "0", "1",
                "--states", "h.npy", cwd=in_tmp)
    assert r.returncode == 0, r.stderr
    out = in_tmp / "net_analysis"
    s = json.loads((out / "summary.json").read_text())
    assert s["network"]["hidden_size"] == 5 and s["network"]["input_size"] == 3
    (entry,) = s["inputs"]
    assert entry["input"] == [0.5, 0.0, 1.0]
    assert entry["fixed_points"] and "map_stable" in entry["fixed_points"][0]
    assert len(entry["fixed_points"][0]["obs"]) == 2
    assert entry["search"]["n_from_states"] == 120  # all 4 x 30 given states seed the search
    assert {p.name for p in out.glob("*.png")} == {"portrait.png", "spectra.png"}


@pytest.mark.parametrize("layout", ["flat", "cell"])
def test_layouts_without_readout(in_tmp: Path, layout: str) -> None:
    save_net(in_tmp / "net.pt", q=None, layout=layout, d=2)
    np.save(in_tmp / "x.npy", np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2.0]]))
    assert main(["--state-dict", "net.pt", "--inputs", "x.npy", "--out", "o", "--no-cycles"]) == 0
    s = json.loads((in_tmp / "o/summary.json").read_text())
    assert [e["input"] for e in s["inputs"]] == [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    assert "obs" not in s["inputs"][0]["fixed_points"][0]
    assert (in_tmp / "o/fixed_points_vs_input.png").is_file()
    assert (in_tmp / "o/portrait_input2.png").is_file()


def bad_files(tmp: Path) -> dict[str, tuple[list[str], str]]:
    torch.save(torch.nn.GRU(3, 4, num_layers=2).state_dict(), tmp / "deep.pt")
    torch.save(torch.nn.GRU(3, 4, bidirectional=True).state_dict(), tmp / "bi.pt")
    torch.save({"weight_ih": torch.zeros(8, 3), "weight_hh": torch.zeros(8, 4)},
               tmp / "gates2.pt")  # 2 gates: no GRU, LSTM or RNN
    nan = torch.nn.GRU(3, 4).state_dict()
    nan["bias_hh_l0"][2] = float("nan")
    torch.save(nan, tmp / "nan.pt")
    misfit = torch.nn.GRU(3, 4).state_dict()
    misfit["weight_hh_l0"] = torch.zeros(12, 5)
    torch.save(misfit, tmp / "misfit.pt")
    torch.save({"gru": torch.nn.GRU(3, 4).state_dict(),
                "readout": torch.nn.Linear(5, 2).state_dict()}, tmp / "head.pt")
    save_net(tmp / "ok.pt", d=4)
    np.save(tmp / "x2.npy", np.zeros((3, 2)))
    np.save(tmp / "hbad.npy", np.zeros((10, 3)))
    (tmp / "junk.pt").write_text("not a torch file")
    return {
        "deep": (["--state-dict", "deep.pt"], "2-layer"),
        "bi": (["--state-dict", "bi.pt"], "bidirectional"),
        "gates2": (["--state-dict", "gates2.pt"], "g = 3 (GRU), 4 (LSTM) or 1 (RNN)"),
        "nan": (["--state-dict", "nan.pt"], "NaN"),
        "misfit": (["--state-dict", "misfit.pt"], "(g d, p)"),
        "head": (["--state-dict", "head.pt"], "does not fit"),
        "input": (["--state-dict", "ok.pt", "--input", "1", "2"], "takes 3 inputs"),
        "inputs": (["--state-dict", "ok.pt", "--inputs", "x2.npy"], "(K, 3)"),
        "states": (["--state-dict", "ok.pt", "--states", "hbad.npy"], "(..., 4)"),
        "junk": (["--state-dict", "junk.pt"], "cannot read"),
        "missing": (["--state-dict", "nope.pt"], "does not exist"),
        "system": (["--state-dict", "ok.pt", "--system", "ring"], "observed dimensions"),
        "input_with_system": (["--state-dict", "ok.pt", "--system", "ring", "--input", "1"],
                              "alone"),
    }


def test_bad_input_one_line_exit_2_nothing_written(in_tmp: Path, capsys) -> None:
    for name, (args, message) in bad_files(in_tmp).items():
        before = set(in_tmp.iterdir())
        with pytest.raises(UserError, match=None) as err:
            main([*args, "--out", "out"])
        assert message in str(err.value), (name, str(err.value))
        assert "\n" not in str(err.value)
        assert set(in_tmp.iterdir()) == before, name  # nothing half-written
    # and through the real entry point: exit 2, one line on stderr
    r = run_cli("analyze", "--state-dict", "gates2.pt", cwd=in_tmp)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "(LSTM)" in r.stderr


def test_exit_3_when_a_part_failed_after_writing_the_rest(in_tmp: Path, monkeypatch,
                                                          capsys) -> None:
    save_net(in_tmp / "net.pt", d=2)

    def broken(*a, **k):
        raise RuntimeError("cycle search broke")

    monkeypatch.setattr(dynamics_analyze, "find_limit_cycles", broken)
    assert main(["--state-dict", "net.pt", "--out", "o"]) == 3
    s = json.loads((in_tmp / "o/summary.json").read_text())
    assert "cycle search broke" in s["errors"]["limit_cycles"]
    assert s["inputs"][0]["fixed_points"] and (in_tmp / "o/portrait.png").is_file()
    assert "exit 3" in capsys.readouterr().err


def test_internal_error_one_line_unless_debug(in_tmp: Path, monkeypatch, capsys) -> None:
    save_net(in_tmp / "net.pt", d=2)

    def broken(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr("gru_learn.analysis.network.analyze_network", broken)
    assert main(["--state-dict", "net.pt", "--out", "o"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a bug" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--state-dict", "net.pt", "--out", "o", "--debug"])


def test_help_is_plain_text_and_explains_every_option() -> None:
    from gru_learn.cli.analyze import _parser

    parser = _parser()
    text = parser.format_help()
    assert "``" not in text and "`" not in text
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.option_strings
    assert "fhn, line, lorenz, ring, vdp" in text.replace("\n", " ").replace("  ", " ")
    assert "Exit codes" in text


def test_a_fit_checkpoint_read_alone_keeps_its_convention(in_tmp: Path) -> None:
    from gru_learn.training.module import GRUForecaster

    torch.manual_seed(0)
    model = GRUForecaster(hidden_size=3, reset="before", obs_dim=2)
    # the layout Lightning writes: state_dict (cell.*, readout.*) and hyper_parameters
    torch.save({"state_dict": model.state_dict(), "epoch": 3,
                "hyper_parameters": dict(model.hparams)}, in_tmp / "last.ckpt")
    assert main(["--state-dict", "last.ckpt", "--out", "o", "--no-cycles"]) == 0
    s = json.loads((in_tmp / "o/summary.json").read_text())
    assert s["network"]["reset"] == "before" and s["network"]["hidden_size"] == 3
    cell = model.cell.double()
    for p in s["inputs"][0]["fixed_points"]:
        assert cell.vector_field(torch.tensor(p["h"], dtype=torch.float64)).norm() < 1e-9
    assert main(["--state-dict", "last.ckpt", "--out", "o2", "--no-cycles",
                 "--reset", "after"]) == 0
    assert json.loads((in_tmp / "o2/summary.json").read_text())["network"]["reset"] == "after"


def test_a_fit_checkpoint_is_read_once_and_rebuilt_exactly(in_tmp: Path, monkeypatch) -> None:
    """``analyze --ckpt`` reads the file once (tensors and plain values only) and rebuilds the
    model and its DataModule from that one read; a damaged one is a one-line UserError."""
    from gru_learn.cli.fit import main as fit_main
    from gru_learn.training.checkpoint import load_checkpoint
    from tests.test_cli import TINY

    assert fit_main(["fit", "--trainer.max_epochs=2", "--model.hidden_size=3",
                     "--model.reset=after", "--data.seed=5", *TINY]) == 0
    ckpt = next(in_tmp.glob("logs/*/version_0/checkpoints/last.ckpt"))
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    reads = []
    real_load = torch.load

    def counting_load(f, *a, **k):  # a path, or the file object Lightning opens
        if Path(f if isinstance(f, (str, Path)) else getattr(f, "name", "")) == ckpt:
            reads.append(k.get("weights_only"))
        return real_load(f, *a, **k)

    monkeypatch.setattr(torch, "load", counting_load)
    model, dm = load_checkpoint(ckpt)
    assert reads == [True]
    assert model.hparams.hidden_size == 3 and model.cell.reset == "after"
    state = model.state_dict()
    assert state.keys() == saved["state_dict"].keys()
    assert all(torch.equal(state[k], v) for k, v in saved["state_dict"].items())
    assert (dm.spec["n"], dm.spec["horizon"], dm.spec["seed"]) == ([16, 4, 4], 6, 5)
    reads.clear()
    assert main(["--ckpt", str(ckpt), "--out", "o", "--no-cycles", "--n-initial", "2",
                 "--long-steps", "40"]) in (0, 3)
    assert reads == [True] and (in_tmp / "o/summary.json").is_file()
    # damaged: parameters that do not fit the hyperparameters, or non-finite ones
    misfit = dict(saved, hyper_parameters={**saved["hyper_parameters"], "hidden_size": 4})
    bad = dict(saved, state_dict={**saved["state_dict"]})
    bad["state_dict"]["cell.weight_hh"] = bad["state_dict"]["cell.weight_hh"] * float("nan")
    for name, obj, message in (("misfit", misfit, "does not fit"), ("nan", bad, "non-finite")):
        torch.save(obj, in_tmp / f"{name}.ckpt")
        with pytest.raises(UserError) as err:
            main(["--ckpt", str(in_tmp / f"{name}.ckpt"), "--out", name])
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
        assert not (in_tmp / name).exists()
