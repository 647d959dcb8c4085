"""Simulated and file-backed data: determinism, caching by every parameter, noise, validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gru_learn.errors import UserError
from gru_learn.training.data import FileDataModule, TrajectoryDataModule

SMALL = {"n_train": 20, "n_val": 5, "n_test": 5, "horizon": 8}


def make(**kw) -> TrajectoryDataModule:
    dm = TrajectoryDataModule(**{**SMALL, **kw})
    dm.setup()
    return dm


def test_shapes_splits_and_determinism(in_tmp: Path) -> None:
    dm = make(system="fhn", seed=3)
    assert {k: tuple(v.shape) for k, v in dm.splits.items()} == {
        "train": (20, 9, 2), "val": (5, 9, 2), "test": (5, 9, 2)}
    other_dir = make(system="fhn", seed=3, cache_dir=str(in_tmp / "elsewhere"))
    torch.testing.assert_close(dm.splits["train"], other_dir.splits["train"], rtol=0, atol=0)
    assert not torch.equal(dm.splits["train"], make(system="fhn", seed=4).splits["train"])


def test_paper_defaults() -> None:
    dm = TrajectoryDataModule()
    assert dm.spec["n"][0] == 667 and dm.spec["horizon"] == 29
    assert dm.spec["param_noise_std"] == {"I_ext": 0.2}  # N(0.7, 0.04) read as a variance
    assert math.isclose(TrajectoryDataModule("line").spec["obs_noise_std"], math.sqrt(0.1))


def test_cache_is_keyed_by_every_parameter(in_tmp: Path) -> None:
    a = make(system="fhn")
    b = make(system="fhn", params={"a": 0.6})
    c = make(system="fhn", obs_noise_std=0.01)
    assert len({a.cache_path, b.cache_path, c.cache_path}) == 3
    assert not torch.equal(a.splits["train"], b.splits["train"])
    assert len(list((in_tmp / "datasets").glob("fhn-*.pt"))) == 3


def test_corrupt_cache_is_regenerated(in_tmp: Path) -> None:
    a = make(system="ring")
    good = a.splits["train"].clone()
    a.cache_path.write_bytes(b"not a torch file")
    b = make(system="ring")
    torch.testing.assert_close(b.splits["train"], good, rtol=0, atol=0)
    assert torch.load(a.cache_path, weights_only=True)["key"] == a.key


def test_noise_kinds_are_independent(in_tmp: Path) -> None:
    quiet = make(system="ring", obs_noise_std=0.0)
    torch.testing.assert_close(quiet.blob["train"], quiet.blob["train_clean"], rtol=0, atol=0)
    noisy = make(system="ring", obs_noise_std=0.5, n_train=400)
    resid = noisy.blob["train"] - noisy.blob["train_clean"]
    assert abs(resid.std().item() - 0.5) < 0.02
    fhn = make(system="fhn", n_train=400)
    i_ext = fhn.blob["train_param_I_ext"]
    assert abs(i_ext.mean().item() - 0.7) < 0.04 and abs(i_ext.std().item() - 0.2) < 0.03
    fixed = make(system="fhn", param_noise_std={"I_ext": 0.0})
    assert torch.all(fixed.blob["train_param_I_ext"] == 0.7)


def test_process_noise_makes_an_sde(in_tmp: Path) -> None:
    # line system, dy = sigma dW: y's increments over the horizon have variance sigma^2 T dt
    dm = make(system="line", obs_noise_std=0.0, process_noise_std=0.3, n_train=2000)
    y = dm.blob["train_clean"][..., 1]
    expected = 0.3**2 * 8 * 0.1
    assert abs((y[:, -1] - y[:, 0]).var().item() / expected - 1) < 0.1


@pytest.mark.parametrize("kw, message", [
    ({"system": "nope"}, "unknown system"),
    ({"dt": 0.0}, "dt must be positive"),
    ({"dt": -1.0}, "dt must be positive"),
    ({"params": {"zzz": 1.0}}, "no parameter"),
    ({"ic_low": [0.0]}, "ic_low and ic_high need 2"),
    ({"obs_noise_std": -1.0}, "obs_noise_std"),
])
def test_bad_values_are_user_errors(kw: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        TrajectoryDataModule(**kw)


def test_file_datamodule_windows_and_splits(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(10, 40, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", trajectories=x)
    dm = FileDataModule(str(tmp_path / "d.npz"), horizon=9, val_fraction=0.2, test_fraction=0.1)
    dm.setup()
    assert dm.obs_dim == 3
    sizes = {k: v.shape for k, v in dm.splits.items()}
    assert sizes == {"val": (8, 10, 3), "test": (4, 10, 3), "train": (28, 10, 3)}
    torch.save({"trajectories": torch.from_numpy(x)}, tmp_path / "d.pt")
    dm_pt = FileDataModule(str(tmp_path / "d.pt"), horizon=9, val_fraction=0.2, test_fraction=0.1)
    dm_pt.setup()
    torch.testing.assert_close(dm_pt.splits["train"], dm.splits["train"])


@pytest.mark.parametrize("array, name, message", [
    (np.zeros((5, 40)), "d.npz", "expected \\(N, T, p\\)"),
    (np.full((5, 40, 2), np.nan), "d.npz", "NaN or inf"),
    (np.zeros((5, 10, 2)), "d.npz", "horizon 29 needs at least 30"),
    (np.zeros((5, 40, 2)), "d.csv", "must end in .npz or .pt"),
])
def test_file_errors(tmp_path: Path, array: np.ndarray, name: str, message: str) -> None:
    path = tmp_path / name
    if name.endswith(".npz"):
        np.savez(path, trajectories=array)
    else:
        path.write_text("1,2,3")
    with pytest.raises(UserError, match=message):
        FileDataModule(str(path))


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        FileDataModule(str(tmp_path / "missing.npz"))


def test_windows_cut_train_and_val_but_keep_test_whole(in_tmp: Path) -> None:
    whole = make(system="fhn", horizon=20)
    cut = make(system="fhn", horizon=20, window=5)
    assert tuple(cut.splits["train"].shape) == (20 * 4, 6, 2)
    assert tuple(cut.splits["val"].shape) == (5 * 4, 6, 2)
    assert torch.equal(cut.splits["test"], whole.splits["test"])
    torch.testing.assert_close(cut.splits["train"][5], whole.splits["train"][1, 5:11],
                               rtol=0, atol=0)  # trajectory 1, second window
    assert cut.cache_path == whole.cache_path  # same simulation
    assert torch.equal(make(system="fhn", horizon=20, window=50).splits["train"],
                       whole.splits["train"])
    with pytest.raises(UserError, match="window"):
        make(window=0)
