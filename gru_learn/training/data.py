"""Trajectories: simulate a registered system (torchdiffeq) or load the user's own, split, cache.

Every dataset is a float32 tensor of shape (N, T + 1, p): N trajectories sampled at
t_k = k * dt, k = 0..T, with p observed dimensions.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, TensorDataset

from gru_learn.errors import UserError
from gru_learn.files.torch_files import save_torch_file
from gru_learn.runtime import check_memory
from gru_learn.systems.registry import folder_name, get_system
from gru_learn.systems.simulate import simulate_system

DATA_FORMAT_VERSION = 1  # bump when the simulation code changes what a key produces
SPLITS = ("train", "val", "test")


def cut_windows(batch: Tensor, horizon: int) -> Tensor:
    """Cut (N, W + 1, p) sequences into (N * floor(W / horizon), horizon + 1, p) windows that
    share their end samples ([0..T], [T..2T], ...); a tail shorter than a window is dropped."""
    if horizon < 1:
        raise UserError(f"a window needs at least 1 step, got {horizon}")
    n_win = (batch.shape[1] - 1) // horizon
    if n_win < 1:
        raise UserError(f"sequences of {batch.shape[1] - 1} steps hold no window of {horizon}")
    cut = batch[:, : n_win * horizon + 1].unfold(1, horizon + 1, horizon)  # (N, n, p, T + 1)
    return cut.permute(0, 1, 3, 2).reshape(-1, horizon + 1, batch.shape[-1])


class EpochSeededSampler(Sampler[int]):
    """A random permutation drawn from ``seed + epoch``; Lightning calls ``set_epoch``, so a
    resumed run shuffles exactly as an uninterrupted one would."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class _SplitDataModule(L.LightningDataModule):
    """Serves train/val/test tensors of shape (N, T+1, p); full batch unless ``batch_size``."""

    system_name: str | None = None

    def __init__(self, batch_size: int | None, seed: int) -> None:
        super().__init__()
        if batch_size is not None and batch_size <= 0:
            raise UserError(f"batch_size must be positive or null (full batch), got {batch_size}")
        self.batch_size = batch_size
        self.seed = seed
        self.splits: dict[str, Tensor] = {}

    @property
    def obs_dim(self) -> int:
        raise NotImplementedError

    @property
    def dt(self) -> float:
        raise NotImplementedError

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not self.splits:
            self.setup()
        data = self.splits[split]
        if len(data) == 0:
            raise UserError(f"the {split} split is empty; give it some trajectories")
        if self.batch_size is None or self.batch_size >= len(data):
            # the whole split as one batch, without per-item collation
            return DataLoader([data], batch_size=None)
        sampler = EpochSeededSampler(len(data), self.seed) if shuffle else None
        return DataLoader(TensorDataset(data), batch_size=self.batch_size, sampler=sampler,
                          collate_fn=lambda items: torch.stack([x for (x,) in items]))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class TrajectoryDataModule(_SplitDataModule):
    """Noisy trajectories of a registered system, simulated once and cached in ``cache_dir``.

    Args:
        system: a name from ``gru_learn.systems.registry.SYSTEMS`` (fhn, line, ring, vdp, ...).
        n_train, n_val, n_test: trajectories per split (the paper trains on 667).
        horizon: prediction steps T; each trajectory has T + 1 samples.
        dt: sampling interval; null takes the system's default.
        params, param_noise_std: override the system's parameters and their per-trajectory std.
        obs_noise_std, process_noise_std: override the system's noise (standard deviations).
        ic_low, ic_high: the box initial conditions are drawn uniformly from.
        seed: the data seed (separate from the model's ``seed_everything``).
        batch_size: null for full batch (the paper), else mini-batches.
        window: null (the paper: each trajectory is one training sequence), or cut the train
            and val trajectories into windows of this many steps (few long trajectories,
            windows of length T, as reconstruction papers train); the test split stays whole,
            and a window as long as the trajectories leaves them whole.
        cache_dir: where simulated datasets are kept, keyed by every generating parameter.
    """

    def __init__(
        self,
        system: str = "fhn",
        n_train: int = 667,
        n_val: int = 166,
        n_test: int = 167,
        horizon: int = 29,
        dt: float | None = None,
        params: dict[str, float] | None = None,
        param_noise_std: dict[str, float] | None = None,
        obs_noise_std: float | None = None,
        process_noise_std: float | None = None,
        ic_low: list[float] | None = None,
        ic_high: list[float] | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        cache_dir: str = "datasets",
        rtol: float = 1e-7,
        atol: float = 1e-9,
        window: int | None = None,
    ) -> None:
        super().__init__(batch_size, seed)
        if window is not None and window < 1:
            raise UserError(f"window must be at least 1 step, got {window}")
        self.window = window
        sys_cls = get_system(system)
        self.system_cls = sys_cls
        self.system_name = system
        unknown = set(params or {}) | set(param_noise_std or {})
        unknown -= set(sys_cls.params)
        if unknown:
            raise UserError(f"system {system!r} has no parameter(s) {sorted(unknown)}; "
                            f"it has {sorted(sys_cls.params)}")
        self.spec: dict[str, Any] = {
            "format": DATA_FORMAT_VERSION,
            "system": system,
            "n": [n_train, n_val, n_test],
            "horizon": horizon,
            "dt": sys_cls.dt if dt is None else dt,
            "params": {**sys_cls.params, **(params or {})},
            "param_noise_std": {**sys_cls.param_noise_std, **(param_noise_std or {})},
            "obs_noise_std": sys_cls.obs_noise_std if obs_noise_std is None else obs_noise_std,
            "process_noise_std": (sys_cls.process_noise_std if process_noise_std is None
                                  else process_noise_std),
            "ic_low": list(sys_cls.ic_low if ic_low is None else ic_low),
            "ic_high": list(sys_cls.ic_high if ic_high is None else ic_high),
            "seed": seed,
            "rtol": rtol,
            "atol": atol,
        }
        self._check_spec()
        self.cache_dir = Path(cache_dir)
        # dt is logged (resolved) by the model; analysis.load_checkpoint passes it back
        self.save_hyperparameters(ignore=["dt"])

    def _check_spec(self) -> None:
        s = self.spec
        if s["dt"] <= 0:
            raise UserError(f"dt must be positive, got {s['dt']}")
        if s["horizon"] < 1:
            raise UserError(f"horizon must be at least 1, got {s['horizon']}")
        if min(s["n"]) < 0 or s["n"][0] < 1:
            raise UserError(f"need n_train >= 1 and n_val, n_test >= 0, got {s['n']}")
        for k in ("obs_noise_std", "process_noise_std"):
            if s[k] < 0:
                raise UserError(f"{k} must be >= 0, got {s[k]}")
        if any(v < 0 for v in s["param_noise_std"].values()):
            raise UserError("param_noise_std values must be >= 0")
        d = self.system_cls.dim
        if len(s["ic_low"]) != d or len(s["ic_high"]) != d:
            raise UserError(f"ic_low and ic_high need {d} values each for system {s['system']!r}")
        if any(lo > hi for lo, hi in zip(s["ic_low"], s["ic_high"], strict=False)):
            raise UserError("ic_low must be <= ic_high in every dimension")
        numbers = {"dt": s["dt"], "obs_noise_std": s["obs_noise_std"],
                   "process_noise_std": s["process_noise_std"], **{
                       f"params.{k}": v for k, v in s["params"].items()
                       if isinstance(v, (int, float))}, **{
                       f"param_noise_std.{k}": v for k, v in s["param_noise_std"].items()},
                   **{f"ic_low[{i}]": v for i, v in enumerate(s["ic_low"])},
                   **{f"ic_high[{i}]": v for i, v in enumerate(s["ic_high"])}}
        for name, value in numbers.items():
            if not math.isfinite(value):
                raise UserError(f"{name} must be a finite number, got {value}")
        # the simulation (float64, observed and clean) and the float32 splits, before it runs
        values = sum(s["n"]) * (s["horizon"] + 1) * d
        check_memory(values * (8 * 3 + 4 * 2), f"{sum(s['n'])} trajectories of "
                     f"{s['horizon'] + 1} samples")

    @property
    def obs_dim(self) -> int:
        return self.system_cls.dim

    @property
    def dt(self) -> float:
        return float(self.spec["dt"])

    @property
    def key(self) -> str:
        """A hash of every generating parameter: a changed parameter never reuses a stale file."""
        blob = json.dumps(self.spec, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def cache_path(self) -> Path:
        return self.cache_dir / f"{folder_name(str(self.system_name))}-{self.key}.pt"

    def _load_cached(self) -> dict[str, Tensor] | None:
        """The cached dataset if it is whole and was made from this spec, else None."""
        try:
            blob = torch.load(self.cache_path, weights_only=True)
            if blob["key"] != self.key or json.loads(blob["spec"]) != self.spec:
                return None
            shape = (self.spec["horizon"] + 1, self.obs_dim)
            for split, n in zip(SPLITS, self.spec["n"], strict=False):
                x = blob[split]
                if x.shape != (n, *shape) or not torch.isfinite(x).all():
                    return None
            return blob
        except Exception:  # missing, truncated or foreign file: regenerate, never trust it
            return None

    def generate(self) -> dict[str, Any]:
        s = self.spec
        g = torch.Generator().manual_seed(s["seed"])
        sim = simulate_system(
            self.system_cls, sum(s["n"]), s["horizon"], s["dt"], params=s["params"],
            param_noise_std=s["param_noise_std"], obs_noise_std=s["obs_noise_std"],
            process_noise_std=s["process_noise_std"], ic_low=tuple(s["ic_low"]),
            ic_high=tuple(s["ic_high"]), generator=g, rtol=s["rtol"], atol=s["atol"],
        )
        blob: dict[str, Any] = {"key": self.key, "spec": json.dumps(self.spec, sort_keys=True)}
        bounds = np.cumsum([0, *s["n"]])
        for split, a, b in zip(SPLITS, bounds[:-1], bounds[1:], strict=False):
            blob[split] = sim["observed"][a:b].float()
            blob[f"{split}_clean"] = sim["clean"][a:b].float()
            for k, v in sim.items():
                if k.startswith("param_"):
                    blob[f"{split}_{k}"] = v[a:b].float()
        return blob

    def prepare_data(self) -> None:
        if self._load_cached() is None:
            save_torch_file(self.generate(), self.cache_path)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        blob = self._load_cached()
        if blob is None:
            self.prepare_data()
            blob = self._load_cached()
            if blob is None:  # e.g. an unwritable cache_dir: keep the data in memory
                blob = self.generate()
        self.blob = blob
        self.splits = {split: blob[split] for split in SPLITS}
        if self.window is not None and self.window < self.spec["horizon"]:
            # windows change only what is served, not the cached simulation
            for split in ("train", "val"):
                if len(self.splits[split]):
                    self.splits[split] = cut_windows(self.splits[split], self.window)


class FileDataModule(_SplitDataModule):
    """The user's own trajectories from ``.npz`` (array ``trajectories`` or the only array) or
    ``.pt`` (a tensor, or a dict with ``trajectories``), shape (N, T, p).

    Sequences longer than ``horizon + 1`` are cut into non-overlapping windows of that length;
    trajectories (not windows) are split into train/val/test at random with ``seed``.
    """

    def __init__(
        self,
        path: str,
        horizon: int = 29,
        dt: float = 1.0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(batch_size, seed)
        if dt <= 0:
            raise UserError(f"dt must be positive, got {dt}")
        if horizon < 1:
            raise UserError(f"horizon must be at least 1, got {horizon}")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1
                and val_fraction + test_fraction < 1):
            raise UserError("val_fraction and test_fraction must be in [0, 1) and sum below 1")
        self.path, self.horizon, self._dt = Path(path), horizon, dt
        self.fractions = (val_fraction, test_fraction)
        self.data = load_trajectories(self.path, horizon)
        self.save_hyperparameters()

    @property
    def obs_dim(self) -> int:
        return int(self.data.shape[-1])

    @property
    def dt(self) -> float:
        return self._dt

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        n = len(self.data)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        n_val, n_test = (round(f * n) for f in self.fractions)
        parts = {"val": perm[:n_val], "test": perm[n_val:n_val + n_test],
                 "train": perm[n_val + n_test:]}
        w = self.horizon + 1
        for split, idx in parts.items():
            x = self.data[idx]
            n_win = x.shape[1] // w
            self.splits[split] = x[:, : n_win * w].reshape(len(x) * n_win, w, x.shape[-1])


def load_trajectories(path: Path, horizon: int) -> Tensor:
    """Read and validate an (N, T, p) array of trajectories; every problem is one UserError."""
    if path.is_dir():
        raise UserError(f"data file {str(path)!r} is a folder; give an .npz or .pt file")
    if not path.is_file():
        raise UserError(f"data file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npz":
            if not zipfile.is_zipfile(path):
                raise UserError(f"{path} is not an .npz archive (numpy.savez / savez_compressed "
                                "writes one)")
            with np.load(path, allow_pickle=False) as z:
                names = list(z.keys())
                if "trajectories" in names:
                    array = z["trajectories"]
                elif len(names) == 1:
                    array = z[names[0]]
                else:
                    raise UserError(f"{path} holds arrays {names}; name the data 'trajectories'")
            x = torch.from_numpy(np.asarray(array, dtype=np.float32))
        elif path.suffix == ".pt":
            obj = torch.load(path, weights_only=True)
            if isinstance(obj, dict):
                if "trajectories" not in obj:
                    raise UserError(f"{path} is a dict without a 'trajectories' entry")
                obj = obj["trajectories"]
            x = torch.as_tensor(obj, dtype=torch.float32)
        else:
            raise UserError(f"data file {str(path)!r} must end in .npz or .pt")
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot read {path}: {type(e).__name__}: {e}".splitlines()[0]) from None
    if x.ndim != 3:
        raise UserError(f"{path} has shape {tuple(x.shape)}; expected (N, T, p)")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).any(-1).any(-1).nonzero().flatten()
        raise UserError(f"{path} contains NaN or inf (in trajectory {int(bad[0])} and "
                        f"{len(bad) - 1} others)")
    if x.shape[1] < horizon + 1:
        raise UserError(f"{path} has sequences of {x.shape[1]} samples; horizon {horizon} needs "
                        f"at least {horizon + 1} (lower --data.horizon)")
    if x.shape[0] == 0 or x.shape[2] == 0:
        raise UserError(f"{path} has shape {tuple(x.shape)}; it holds no data")
    return x
