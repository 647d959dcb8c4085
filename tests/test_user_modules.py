"""``--import MODULE`` and ``register``: a system defined in the user's own module works in
``fit``, ``compare`` (its workers too) and in a fresh worker process; names cannot be taken
by accident."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gru_learn.systems.registry import SYSTEMS, System, get_system, register
from tests.conftest import run_cli

MODULE = '''
import torch
from gru_learn.systems.registry import System, register

@register
class Harmonic(System):
    """dx/dt = w y, dy/dt = -w x."""
    name = "harmonic_user"
    params = {"w": 1.0}
    ic_low, ic_high = (-1.0, -1.0), (1.0, 1.0)
    dt = 0.1

    @staticmethod
    def rhs(state, p):
        return torch.stack([p["w"] * state[..., 1], -p["w"] * state[..., 0]], -1)
'''
TINY = ["--data.n_train=16", "--data.n_val=4", "--data.n_test=4", "--data.horizon=6",
        "--trainer.enable_progress_bar=false", "--analysis.enabled=false"]


@pytest.fixture
def user_module(tmp_path: Path) -> Path:
    (tmp_path / "mysystems.py").write_text(MODULE)
    return tmp_path


@pytest.mark.slow
def test_fit_and_compare_with_an_imported_system(user_module: Path) -> None:
    assert "harmonic_user" not in SYSTEMS
    fit = run_cli("--import", "mysystems", "fit", "--data.system=harmonic_user",
                  "--trainer.max_epochs=2", *TINY, cwd=user_module)
    assert fit.returncode == 0, fit.stderr[-500:]
    assert (user_module / "logs/harmonic_user/version_0/checkpoints/last.ckpt").is_file()
    cmp = run_cli("compare", "--import=mysystems", "--systems", "harmonic_user",
                  "--hidden-sizes", "2", "3", "--seeds", "0", "--epochs", "3", "--workers", "2",
                  "--n-train", "16", "--n-val", "4", "--n-test", "4", "--horizon", "6",
                  "--out", "grid", cwd=user_module)
    assert cmp.returncode == 0, cmp.stderr[-500:]
    runs = json.loads((user_module / "grid" / "summary.json").read_text())["runs"]
    assert sorted(r["hidden_size"] for r in runs) == [2, 3]
    # without --import the name is unknown: one line, exit 2
    bad = run_cli("fit", "--data.system=harmonic_user", "--trainer.max_epochs=1", *TINY,
                  cwd=user_module)
    assert bad.returncode == 2 and "harmonic_user" in bad.stderr and "Traceback" not in bad.stderr


def test_a_fresh_worker_process_imports_the_modules_from_the_environment(
        user_module: Path) -> None:
    env = {**os.environ, "GRU_LEARN_IMPORT": "mysystems", "PYTHONPATH": str(user_module)}
    code = "from gru_learn.systems import get_system; print(get_system('harmonic_user').dt)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=user_module)
    assert out.returncode == 0 and out.stdout.strip() == "0.1", out.stderr[-500:]


def test_a_module_that_fails_to_import_is_one_line(user_module: Path) -> None:
    (user_module / "broken.py").write_text("raise RuntimeError('no such thing')\n")
    for module in ("broken", "no_such_module_xyz"):
        r = run_cli("--import", module, "fit", "--print_config", cwd=user_module)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr.count("\n") == 1 and f"--import {module}" in r.stderr


def test_registering_a_taken_name_needs_replace() -> None:
    class Fake(System):
        name = "fhn"
        params: dict = {}
        ic_low, ic_high = (0.0, 0.0), (1.0, 1.0)
        dt = 1.0

        @staticmethod
        def rhs(state, p):
            return torch.zeros_like(state)

    original = get_system("fhn")
    with pytest.raises(ValueError, match="already registered"):
        register(Fake)
    assert get_system("fhn") is original
    assert register(original) is original  # the same class again: harmless
    try:
        assert register(replace=True)(Fake) is Fake and get_system("fhn") is Fake
    finally:
        SYSTEMS["fhn"] = original
