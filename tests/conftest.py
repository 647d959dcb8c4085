"""Shared fixtures: keep every test's datasets and logs in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread_torch():
    # the models are tiny; intra-op threads only add noise and contention on a 2-core CI box
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty folder, so datasets/ and logs/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m gru_learn ARGS`` in a subprocess, as a user would run it; ``timeout`` only
    guards against a hang (it is no speed check)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "gru_learn", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
