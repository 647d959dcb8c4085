"""Architecture rules that must not rot: the dynamics toolkit stands alone."""

from __future__ import annotations

import subprocess
import sys


def test_dynamics_imports_no_lightning_model_or_data() -> None:
    code = ("import sys, gru_learn.dynamics, gru_learn.dynamics.metrics, gru_learn.gru.presets; "
            "bad = [m for m in ('lightning', 'gru_learn.training.module', "
            "'gru_learn.training.data') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
