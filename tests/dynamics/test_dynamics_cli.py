"""The portrait, bifurcation and frequency-sweep commands: files, JSON schema, exit codes."""

import json
import subprocess
import sys

import pytest

from gru_learn.__main__ import main
from gru_learn.dynamics import KINDS


def run(*argv: str) -> int:
    return main(list(argv))


def test_portrait_writes_png_and_schema(tmp_path):
    png, js = tmp_path / "p.png", tmp_path / "p.json"
    assert run("portrait", "--preset", "hopf", "--set", "alpha=0.7", "--set", "beta=3",
               "--out", str(png), "--json", str(js)) == 0
    assert png.stat().st_size > 10_000
    data = json.loads(js.read_text())
    (fp,) = data["fixed_points"]
    assert fp["kind"] == "unstable_focus" and fp["kind"] in KINDS
    assert len(fp["eigenvalues"]) == 2 and fp["residual"] < 1e-10
    (cycle,) = data["limit_cycles"]
    assert cycle["stable"] and cycle["period"] > 0 and cycle["amplitude"] > 0.3
    assert len(cycle["floquet_multipliers"]) == 2


def test_bifurcation_cli_reports_hopf(tmp_path):
    js = tmp_path / "b.json"
    assert run("bifurcation", "--preset", "hopf", "--param", "alpha", "--range", "0.7", "1.0",
               "--steps", "3", "--no-homoclinic", "--out", str(tmp_path / "b.png"),
               "--json", str(js)) == 0
    (b,) = json.loads(js.read_text())["bifurcations"]
    assert b["kind"] == "hopf" and b["parameter"] == "alpha" and b["error"] < 1e-6


def test_frequency_sweep_cli(tmp_path):
    js = tmp_path / "f.json"
    assert run("frequency-sweep", "--s", "0", "--grid", "4", "--alpha-range", "0.3", "0.7",
               "--beta-range", "2.5", "3.0", "--t-transient", "60", "--t-window", "80",
               "--out", str(tmp_path / "f.png"), "--json", str(js)) == 0
    data = json.loads(js.read_text())
    assert data["summary"][0]["oscillating_fraction"] > 0


@pytest.mark.parametrize("argv", [
    ["portrait", "--preset", "nope"],
    ["portrait", "--preset", "hopf", "--set", "alpha"],
    ["portrait", "--preset", "hopf", "--box", "1", "-1"],
    ["bifurcation", "--preset", "hopf", "--param", "gamma", "--range", "0", "1"],
    ["frequency-sweep", "--grid", "1"],
])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    try:
        code = run(*argv)
    except SystemExit as e:  # argparse errors exit from inside the parser
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_argument_from_the_shell_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "gru_learn", "portrait", "--preset", "hopf",
                           "--set", "gamma=1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
