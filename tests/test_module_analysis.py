"""``gru_learn.DynamicsAnalysis(rnn=...)`` in a LightningModule of the user's own, and
``gru_learn.analyze_module`` for a plain loop: the network is found wherever the module keeps
it, checked before training, read layer by layer, and its summary, figures, text and final
numbers reach the run's folder and every logger."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import nn

import gru_learn
from gru_learn.analysis.module_network import layer_module
from gru_learn.errors import UserError


class Classifier(L.LightningModule):
    """A sequence classifier that keeps its GRU as ``encoder`` (layers ``layers``) and its
    readout as ``head``: nothing like our GRUForecaster."""

    def __init__(self, layers: int = 1, hidden: int = 3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.GRU(2, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 2)
        self.steps = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        self.steps += 1
        x, y = batch
        out, _ = self.encoder(x)
        return nn.functional.cross_entropy(self.head(out[:, -1]), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), 1e-2)


class NoRecurrent(Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(20, 3))  # type: ignore[assignment]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        self.steps += 1
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.encoder(x)), y)


def _data() -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 10, 2, generator=g)
    y = (x[:, :, 0].sum(1) > 0).long()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)


def _fit(module: L.LightningModule, root: Path, callback: L.Callback,
         epochs: int = 2) -> L.Trainer:
    trainer = L.Trainer(max_epochs=epochs, callbacks=[callback], enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        logger=[TensorBoardLogger(root, name="tb"), CSVLogger(root, name="csv")])
    trainer.fit(module, _data())
    return trainer


def _tb_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            tags |= {v.tag for v in event.summary.value}
    return tags


def test_a_module_of_ones_own_is_analysed_at_the_end_of_fit(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = _fit(Classifier(), tmp_path,
                   gru_learn.DynamicsAnalysis(rnn="encoder", readout="head", every_n_epochs=1))
    out = Path(trainer.log_dir) / "analysis"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["network"]["hidden_size"] == 3 and summary["errors"] == {}
    (point,) = summary["inputs"]
    assert point["fixed_points"] and all(len(p["obs"]) == 2 for p in point["fixed_points"])
    assert (out / "portrait.png").is_file() and (out / "spectra.png").is_file()
    assert [s["epoch"] for s in summary["timeline"]["snapshots"]] == [0, 1, 2]
    tags = _tb_tags(Path(trainer.loggers[0].log_dir))
    assert {"analysis/portrait", "analysis/spectra", "analysis/summary/text_summary",
            "results/stable_points", "_hparams_/session_start_info"} <= tags
    with open(Path(trainer.loggers[1].log_dir) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    final = [r for r in rows if r.get("results/stable_points")]
    assert float(final[-1]["results/stable_points"]) == point["signature"]["stable_points"]


def test_a_module_without_the_named_network_fails_at_setup_in_one_line(tmp_path: Path) -> None:
    module = NoRecurrent()
    with pytest.raises(UserError) as err:
        _fit(module, tmp_path, gru_learn.DynamicsAnalysis(rnn="encoder"))
    assert module.steps == 0  # before any training
    msg = str(err.value)
    assert "\n" not in msg and "Sequential" in msg and "no recurrent network" in msg
    with pytest.raises(UserError, match="has no attribute 'gru'.*submodules: encoder, head"):
        _fit(NoRecurrent(), tmp_path, gru_learn.DynamicsAnalysis(rnn="gru"))


def test_a_multi_layer_gru_needs_its_layer_named_before_training(tmp_path: Path) -> None:
    module = Classifier(layers=2)
    with pytest.raises(UserError, match=r"2 layers: pass layer=0\.\.1 .* or layer='each'"):
        _fit(module, tmp_path, gru_learn.DynamicsAnalysis(rnn="encoder"))
    assert module.steps == 0
    trainer = _fit(module, tmp_path, gru_learn.DynamicsAnalysis(
        rnn="encoder", readout="head", layer="each", timeline="off"), epochs=1)
    summary = json.loads((Path(trainer.log_dir) / "analysis" / "summary.json").read_text())
    assert [e["layer"] for e in summary["inputs"]] == [0, 1]
    assert [e["layer"] for e in summary["network"]["layers"]] == [0, 1]
    # the readout reads the top layer's states only
    assert "obs" not in summary["inputs"][0]["fixed_points"][0]
    assert "obs" in summary["inputs"][1]["fixed_points"][0]


def test_a_layer_read_alone_is_the_stacked_networks_layer() -> None:
    """Layer k taken out of a stacked GRU, fed the outputs of the layers below, gives the
    stack's own outputs and last states."""
    torch.manual_seed(1)
    stack = nn.GRU(2, 4, num_layers=3, batch_first=True)
    x = torch.randn(5, 7, 2)
    out, last = stack(x)
    feed = x
    for k in range(3):
        feed, h_k = layer_module(stack, k)(feed)
        assert torch.allclose(h_k[0], last[k], atol=1e-6)
    assert torch.allclose(feed, out, atol=1e-6)


def test_analyze_module_is_the_callback_in_one_call_for_a_plain_loop(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier(layers=2, hidden=2)
    res = gru_learn.analyze_module(model, lambda m: (m.encoder, m.head), layer=1,
                                   input=torch.zeros(2), out_dir=tmp_path / "a")
    written = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert written == json.loads(json.dumps(res.summary))
    assert written["network"]["source"].startswith("layer 1 of 2: nn.GRU (2 units, 2 inputs")
    # the same cell as analyze_gru of that layer's weights
    direct = gru_learn.analyze_gru(layer_module(model.encoder, 1), readout=model.head)
    assert [p["h"] for p in direct.summary["inputs"][0]["fixed_points"]] == \
        [p["h"] for p in written["inputs"][0]["fixed_points"]]
    for kwargs, message in (({"layer": 2}, "layer must be 0..1"),
                            ({"layer": 0, "input": [1.0, 2.0, 3.0]}, "2 entries per row"),
                            ({"layer": 0, "readout": "encoder"}, "readout must name")):
        with pytest.raises(UserError, match=message):
            gru_learn.analyze_module(model, "encoder", **kwargs)


def test_options_of_ones_own_module_need_rnn() -> None:
    with pytest.raises(UserError, match="rnn="):
        gru_learn.DynamicsAnalysis(readout="head")


def _block(text: str, after: str) -> str:
    """The first ```python block after ``after`` in ``text``."""
    return text.split(after, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_and_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    from torch.utils.tensorboard import SummaryWriter

    root = Path(__file__).parents[1]
    monkeypatch.chdir(tmp_path)
    docs = (root / "docs/analysis.md").read_text()
    section = docs.split("## Your own model", 1)[1]
    exec(_block(section, "A complete example (run by the tests)"), {})
    summary = json.loads(Path("lightning_logs/version_0/analysis/summary.json").read_text())
    assert summary["network"]["source"].startswith("nn.GRU (8 units, 2 inputs")
    exec(_block(section, "The options:"), {"gru_learn": gru_learn})
    writer = SummaryWriter(str(tmp_path / "tb"))
    exec(_block(section, "**A plain PyTorch loop**"),
         {"gru_learn": gru_learn, "torch": torch, "model": Classifier(), "writer": writer})
    writer.close()
    assert Path("analysis/summary.json").is_file() and "analysis/portrait" in _tb_tags(
        tmp_path / "tb")


def test_a_named_target_is_read_beside_the_network_and_the_topologies_compared() -> None:
    """A GRU with an unstable focus inside a stable cycle matches Van der Pol's topology; the
    same GRU before its Hopf (a stable focus) does not, and the reason says why."""
    from tests.test_timeline import _rotation_cell

    model = nn.Module()
    model.cell = _rotation_cell(0.25)
    res = gru_learn.analyze_module(model, "cell", target="vdp", figures=False)
    assert res.summary["target"]["system"] == "vdp"
    assert res.summary["target"]["signature"]["stable_cycles"] == 1
    assert res.summary["comparison"]["topology_match"] is True
    model.cell = _rotation_cell(-0.2)
    res = gru_learn.analyze_module(model, "cell", target="vdp", figures=False)
    assert res.summary["comparison"]["topology_match"] is False
    assert "stable cycles: learned 0, target 1" in res.summary["comparison"]["topology_reason"]
    with pytest.raises(UserError, match="unknown system 'nope'"):
        gru_learn.analyze_module(model, "cell", target="nope")


def test_the_callback_pairs_states_from_a_callable_with_target_states(tmp_path: Path) -> None:
    """``states`` a callable of the trained module, ``target`` the true states at the same
    samples: state R^2 and cycle consistency in summary.json and among the final numbers."""
    from gru_learn.dynamics.metrics import cycle_consistency, state_r2

    torch.manual_seed(0)
    x = torch.randn(6, 12, 2)
    truth = torch.cumsum(x, 1)  # a "true state" the classifier's GRU may or may not hold

    def hidden(module: Classifier) -> torch.Tensor:
        with torch.no_grad():
            return module.encoder(x)[0]

    module = Classifier()
    trainer = _fit(module, tmp_path, gru_learn.DynamicsAnalysis(
        rnn="encoder", states=hidden, target=truth, timeline="off"), epochs=1)
    comp = json.loads((Path(trainer.log_dir) / "analysis" / "summary.json").read_text()
                      )["comparison"]
    assert comp["state_r2"] == pytest.approx(state_r2(hidden(module), truth), abs=1e-9)
    assert comp["cycle_consistency"] == pytest.approx(cycle_consistency(hidden(module), truth),
                                                      abs=1e-9)
    with open(Path(trainer.loggers[1].log_dir) / "metrics.csv") as f:
        final = [r for r in csv.DictReader(f) if r.get("results/state_r2")]
    assert float(final[-1]["results/state_r2"]) == pytest.approx(comp["state_r2"], abs=1e-6)
