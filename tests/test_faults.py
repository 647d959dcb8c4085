"""Fault injection: kill `fit` and `compare` at random moments with real signals, damage every
kind of file we read, and check each time that a rerun finishes with results identical to an
uninterrupted run and leaves no stray files.

Kill times are drawn from seeded generators (several seeds per command), half of them from the
whole run (imports, data, training, writing) and half from the training phase only.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gru_learn.__main__ import main as gru_main
from gru_learn.cli.compare import main as compare_main
from gru_learn.files.atomic import TMP_MARK, write_json_atomic
from gru_learn.training.data import TrajectoryDataModule
from tests.conftest import run_cli
from tests.test_compare import dead_pid

SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
# kill-time seeds per command; GRU_LEARN_FAULT_SEEDS=N for a longer campaign than CI's 3
KILL_SEEDS = tuple(range(int(os.environ.get("GRU_LEARN_FAULT_SEEDS", "3"))))
LINUX = sys.platform.startswith("linux")
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
       "GRU_LEARN_NUM_THREADS": "1"}

FIT = ["fit", "--seed_everything=3", "--trainer.max_epochs=600", "--data.n_train=16",
       "--data.n_val=4", "--data.n_test=4", "--data.horizon=6", "--analysis.enabled=false",
       "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
COMPARE = ["compare", "--systems", "fhn", "--hidden-sizes", "2", "3", "--seeds", "0", "1",
           "--epochs", "300", "--n-train", "16", "--n-val", "4", "--n-test", "4",
           "--horizon", "6"]


# --- helpers -------------------------------------------------------------------------------
def _sigint_as_in_a_terminal() -> None:
    """The child's SIGINT at its default, as a command typed in a terminal has it: a test run
    started in the background (``cmd &`` in a script, nohup) inherits SIGINT ignored, and an
    ignored SIGINT stays ignored by design."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gru_learn", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_as_in_a_terminal if LINUX else None)


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_at(proc: subprocess.Popen, delay: float, sig: int) -> None:
    """Send ``sig`` after ``delay`` seconds (if still running) and wait for the exit; print
    what happened (``pytest -s`` shows each case)."""
    deadline = time.monotonic() + delay
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    sent = proc.poll() is None
    if sent:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    last = (err.strip().splitlines() or [""])[-1][:100]
    print(f"\n{signal.Signals(sig).name} after {delay:.2f} s: "
          f"{'sent' if sent else 'already finished'}, exit {proc.returncode}, last line {last!r}")


def wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until a file matching the glob exists (or the process ended)."""
    folder, pattern = path_glob
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if folder.is_dir() and any(folder.glob(pattern)):
            return
        time.sleep(0.01)


def stray(root: Path) -> list[str]:
    """Temporaries and hidden files anywhere under ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.startswith(".") or TMP_MARK in p.name)


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["state_dict"]


def assert_same_state(a: Path, b: Path) -> None:
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def timed_run(args: list[str], cwd: Path) -> float:
    t0 = time.monotonic()
    proc = start(args, cwd)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return time.monotonic() - t0


# --- fit: kill, resume from the newest last.ckpt, same parameters ----------------------------
@pytest.fixture(scope="module")
def fit_baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    root = tmp_path_factory.mktemp("fit_base")
    seconds = timed_run(FIT, root)
    return next(root.glob("logs/fhn/version_0/checkpoints/last.ckpt")), seconds


@pytest.mark.slow
@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_fit_killed_at_a_random_moment_resumes_to_the_same_network(
        seed: int, fit_baseline: tuple[Path, float], tmp_path: Path) -> None:
    base, seconds = fit_baseline
    rng, sig = random.Random(seed), SIGNALS[seed % len(SIGNALS)]
    proc = start(FIT, tmp_path)
    if seed % 2:  # during training: from the moment the run's config is written
        wait_for((tmp_path / "logs" / "fhn", "version_*/config.yaml"), proc)
        kill_at(proc, rng.uniform(0, 1.0), sig)  # training takes ~1-2 s
    else:
        kill_at(proc, rng.uniform(0, seconds), sig)
    saved = sorted(tmp_path.glob("logs/fhn/version_*/checkpoints/last.ckpt"))
    resume = [f"--ckpt_path={saved[-1]}"] if saved else []
    if saved:
        print(f"resuming from epoch {torch.load(saved[-1], weights_only=False)['epoch']}")
    result = run_cli(*FIT, *resume, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    final = sorted(tmp_path.glob("logs/fhn/version_*/checkpoints/last.ckpt"),
                   key=lambda p: int(p.parts[-3].split("_")[1]))[-1]
    assert torch.load(final, weights_only=False)["global_step"] == 600
    assert_same_state(final, base)
    assert stray(tmp_path) == []


def logged_steps(run: Path, tag: str = "loss/train") -> list[int]:
    """The steps at which a run folder's TensorBoard events hold ``tag``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return [e.step for e in EventAccumulator(str(run)).Reload().Scalars(tag)]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
def test_fit_stopped_by_a_signal_exits_like_every_command_and_resumes_from_that_epoch(
        sig: int, code: int, word: str, fit_baseline: tuple[Path, float],
        tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM mid-training: exit 130 / 143 with one line naming the checkpoint,
    which holds every epoch trained (not only the last periodic save), and resuming from it
    finishes with the uninterrupted run's parameters. (Lightning alone exits 1 on Ctrl-C.)"""
    base, _ = fit_baseline
    proc = start(FIT, tmp_path)
    wait_for((tmp_path / "logs" / "fhn", "version_0/checkpoints/last.ckpt"), proc)
    time.sleep(0.5)  # training goes on past the periodic save (every 100 epochs)
    assert proc.poll() is None, "training ended before the signal"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    ours = [line for line in err.splitlines() if line.startswith("gru_learn")]
    ckpt = tmp_path / "logs/fhn/version_0/checkpoints/last.ckpt"
    assert proc.returncode == code, err[-2000:]
    run_dir = ckpt.parents[1].relative_to(tmp_path)
    command = (f"python -m gru_learn fit --config {run_dir}/config.yaml "
               f"--ckpt_path {ckpt.relative_to(tmp_path)}")
    assert ours == [f"gru_learn fit: {word}; continue with: {command}"]
    assert "Traceback" not in err
    step = torch.load(ckpt, weights_only=False)["global_step"]
    trained = logged_steps(ckpt.parents[1])  # one loss/train per epoch, at steps 0, 1, ...
    print(f"\n{signal.Signals(sig).name}: stopped after {len(trained)} epochs, checkpoint at "
          f"step {step}")
    # (a signal during the periodic save's epoch end stops right there: step 100 is right then)
    assert 100 <= step < 600 and trained == list(range(step))
    assert not (ckpt.parents[1] / "analysis").exists()
    # the printed command, as printed: the run's own options, continued in its own folder
    result = run_cli(*command.split()[3:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "logs/fhn").iterdir()) == ["version_0"]
    assert torch.load(ckpt, weights_only=False)["global_step"] == 600
    assert logged_steps(ckpt.parents[1]) == list(range(600))  # the curve goes on, unbroken
    assert_same_state(ckpt, base)
    assert stray(tmp_path) == []


# --- compare: kill (parent only, any signal), rerun, bit-identical runs ---------------------
def run_files(out: Path) -> dict[str, object]:
    """What a grid's results are: every run's result (without its timing) and parameters,
    results.csv, and summary.json (without timings)."""
    files: dict[str, object] = {}
    for result in sorted(out.glob("*/h*/seed*/result.json")):
        record = json.loads(result.read_text())
        record.pop("cell_seconds")
        files[str(result.parent.relative_to(out))] = record
        files[str(result.parent.relative_to(out)) + "/state"] = {
            k: v.tolist() for k, v in state(result.parent / "model.ckpt").items()}
    files["results.csv"] = (out / "results.csv").read_text()
    summary = json.loads((out / "summary.json").read_text())
    for run in summary["runs"]:
        run.pop("cell_seconds")
    files["summary.json"] = summary
    return files


@pytest.fixture(scope="module")
def compare_baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, float]:
    root = tmp_path_factory.mktemp("compare_base")
    seconds = timed_run([*COMPARE, "--out", "out"], root)
    return run_files(root / "out"), seconds


@pytest.mark.slow
@pytest.mark.parametrize("seed, workers", [(s, 1) for s in KILL_SEEDS]
                         + [(s, 2) for s in (3, 4)])  # parent SIGKILLed, SIGTERMed
def test_compare_killed_at_a_random_moment_reruns_to_the_same_grid(
        seed: int, workers: int, compare_baseline: tuple[dict, float], tmp_path: Path) -> None:
    """With --workers 2 only the parent is signalled (as a scheduler or a closed terminal
    does): the workers must end with it."""
    expected, seconds = compare_baseline
    rng, sig = random.Random(seed), SIGNALS[seed % len(SIGNALS)]
    args = [*COMPARE, "--out", "out", "--workers", str(workers)]
    proc = start(args, tmp_path)
    workers_seen: list[int] = []
    if workers > 1 and LINUX:  # kill while the workers train
        deadline = time.monotonic() + 120
        while len(workers_seen) < workers and time.monotonic() < deadline:
            workers_seen = children(proc.pid)
            time.sleep(0.02)
        assert len(workers_seen) == workers
        kill_at(proc, rng.uniform(0, 1.0), sig)
    elif seed % 2:
        wait_for((tmp_path / "out", "compare.json"), proc)
        kill_at(proc, rng.uniform(0, 2.0), sig)
    else:
        kill_at(proc, rng.uniform(0, seconds), sig)
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers_seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers_seen if alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers outlived their parent ({signal.Signals(sig).name})"
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    print(result.stdout.splitlines()[0])
    assert run_files(tmp_path / "out") == expected
    assert stray(tmp_path) == []


# --- damaged files --------------------------------------------------------------------------
DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)]),
    "garbage": lambda p: p.write_bytes(b"\x00garbage{[\xff" * 7),
    "deleted": lambda p: p.unlink(),
}
TINY_DATA = {"n_train": 16, "n_val": 4, "n_test": 4, "horizon": 6}


def damage(path: Path, kind: str) -> None:
    if path.is_dir():
        shutil.rmtree(path) if kind == "deleted" else [
            DAMAGE[kind](p) for p in path.iterdir() if p.is_file()]
    else:
        DAMAGE[kind](path)


@pytest.mark.parametrize("kind", [*DAMAGE, "wrong spec", "nan"])
def test_a_damaged_dataset_cache_is_regenerated_identically(kind: str, in_tmp: Path) -> None:
    dm = TrajectoryDataModule(**TINY_DATA)
    dm.setup()
    original = {k: v.clone() for k, v in dm.splits.items()}
    path = dm.cache_path
    if kind == "wrong spec":
        blob = torch.load(path, weights_only=True)
        blob["spec"] = json.dumps({**dm.spec, "seed": 99}, sort_keys=True)
        torch.save(blob, path)
    elif kind == "nan":
        blob = torch.load(path, weights_only=True)
        blob["train"][0, 0, 0] = float("nan")
        torch.save(blob, path)
    else:
        damage(path, kind)
    again = TrajectoryDataModule(**TINY_DATA)
    again.setup()
    for k, v in original.items():
        assert torch.equal(again.splits[k], v), k
    assert torch.load(path, weights_only=True)["key"] == dm.key  # rewritten whole
    assert stray(in_tmp) == []


# the in-process grid every compare damage test starts from: 1 system x 2 sizes x 2 seeds
GRID = ["--systems", "fhn", "--hidden-sizes", "2", "3", "--seeds", "0", "1", "--epochs", "20",
        "--n-train", "16", "--n-val", "4", "--n-test", "4", "--horizon", "6"]


@pytest.fixture(scope="module")
def grid_baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("grid")
    args = [*GRID, "--out", str(root / "out"), "--cache-dir", str(root / "datasets")]
    assert compare_main(args) == 0
    return root, run_files(root / "out")


COMPARE_FILES = ["results.csv", "summary.json", "fig12_fhn.png", "figures",
                 "fhn/h3/seed1/result.json", "fhn/h3/seed1/model.ckpt", "fhn/h2/seed0",
                 "fhn/h2/seed0/analysis.json"]


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("name", COMPARE_FILES)
def test_a_damaged_compare_output_is_rebuilt_identically(
        name: str, kind: str, grid_baseline: tuple[Path, dict], tmp_path: Path) -> None:
    root, expected = grid_baseline
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    if name.endswith("analysis.json"):  # as compare --analyze leaves it
        write_json_atomic(out / name, {"learned": {}, "comparison": {}})
    damage(out / name, kind)
    args = [*GRID, "--out", str(out), "--cache-dir", str(root / "datasets")]
    assert compare_main(args) == 0
    assert run_files(out) == expected
    assert stray(out) == []
    assert (out / "figures").is_dir() and (out / "fig12_fhn.png").stat().st_size > 1000


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_compare_json_is_one_line_then_force_rebuilds(
        kind: str, grid_baseline: tuple[Path, dict], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    root, expected = grid_baseline
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    damage(out / "compare.json", kind)
    args = ["compare", *GRID, "--out", str(out), "--cache-dir", str(root / "datasets")]
    if kind != "deleted":  # without it the runs are taken as they are
        assert gru_main(args) == 2
        err = capsys.readouterr().err.strip()
        assert "compare.json is unreadable" in err and "\n" not in err
        args.append("--force")
    assert gru_main(args) == 0
    assert run_files(out) == expected


CONFIGS = {
    "truncated YAML": "systems: [fhn, ring\nhidden_sizes: [2",
    "garbage": "\x00\xff{{{: :",
    "not a mapping": "- fhn\n- ring\n",
    "unknown key": "systems: [fhn]\nepochz: 3\n",
}


@pytest.mark.parametrize("text", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("command", ["compare", "fit"])
def test_a_damaged_config_is_one_line_and_creates_nothing(
        command: str, text: str, in_tmp: Path, capsys: pytest.CaptureFixture) -> None:
    (in_tmp / "config.yaml").write_text(text, errors="surrogateescape")
    args = [command, "--config", "config.yaml"]
    if command == "compare":
        args += ["--out", "out"]
    assert gru_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "error" in err and "\n" not in err and "Traceback" not in err, err
    assert sorted(p.name for p in in_tmp.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_checkpoint_is_one_line_for_every_command(
        kind: str, grid_baseline: tuple[Path, dict], in_tmp: Path,
        capsys: pytest.CaptureFixture) -> None:
    root, _ = grid_baseline
    ckpt = in_tmp / "model.ckpt"
    shutil.copy(root / "out/fhn/h2/seed0/model.ckpt", ckpt)
    damage(ckpt, kind)
    for args in (["fit", f"--ckpt_path={ckpt}", "--trainer.max_epochs=1"],
                 ["test", f"--ckpt_path={ckpt}"], ["analyze", "--ckpt", str(ckpt)]):
        assert gru_main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert "checkpoint" in err and "\n" not in err, err
    assert sorted(p.name for p in in_tmp.iterdir()) == ([] if kind == "deleted"
                                                        else ["model.ckpt"])


# --- how files are written ----------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_umask_permissions(umask: int, in_tmp: Path) -> None:
    """Like open(path, "w"): 0666 less the umask (mkstemp's 0600 broke shared caches)."""
    old = os.umask(umask)
    try:
        write_json_atomic(in_tmp / "a.json", {"x": 1})
        dm = TrajectoryDataModule(**TINY_DATA)
        dm.prepare_data()
        for path in (in_tmp / "a.json", dm.cache_path):
            assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
    finally:
        os.umask(old)


def test_atomic_writes_reach_the_disk_before_and_after_the_rename(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's data is flushed before the rename (else a power cut can leave an empty
    "finished" file) and the folder after it (else the rename itself can be lost)."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}") if LINUX else "?"
        events.append(f"fsync {Path(target).name}")
        real_fsync(fd)

    def replace(a: str, b: str) -> None:
        events.append(f"replace {Path(b).name}")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_json_atomic(in_tmp / "a.json", {"x": 1})
    assert events[-1] == f"fsync {in_tmp.name}" and events[-2] == "replace a.json"
    assert events[-3].startswith("fsync .a.json" + TMP_MARK)


def test_fit_writes_its_checkpoints_atomically_beside_the_target(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """last.ckpt is written to a temporary in its own folder, flushed, renamed onto the
    target, and the folder flushed (Lightning's own moves a file from the system temp folder:
    a copy into the target across file systems). The temporary of a run killed while saving
    (in its own run folder) is removed by the next run."""
    from gru_learn.files.atomic import _host

    killed = in_tmp / "logs/fhn/version_0/checkpoints"
    killed.mkdir(parents=True)
    (killed / f".last.ckpt{TMP_MARK}{dead_pid()}.{_host()}-x.ckpt").write_bytes(b"half")
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(f"fsync {Path(os.readlink(f'/proc/self/fd/{fd}')).name}" if LINUX else "")
        real_fsync(fd)

    def replace(a: str, b: str) -> None:
        same = Path(a).resolve().parent == Path(b).resolve().parent
        events.append(f"replace {same} {Path(b).name}")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    assert gru_main([*FIT, "--trainer.max_epochs=3", "--test_after_fit=false"]) == 0
    i = events.index("replace True last.ckpt")
    if LINUX:
        assert events[i - 1].startswith("fsync .last.ckpt" + TMP_MARK), events[i - 2:i + 2]
        assert events[i + 1] == "fsync checkpoints"
    assert stray(in_tmp) == []


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_a_signal_stops_the_ray_tasks_with_the_command(sig: int, code: int,
                                                       tmp_path: Path) -> None:
    """Two Ray tasks running on the local instance the command started: SIGTERM or SIGKILL to
    the command alone ends it (143, killed) and within 20 s no Ray process (task, raylet, GCS,
    dashboard, the raylet's agents, gru_learn.experiments.reaper) is left running. (Without the
    reaper the
    two agents outlived a SIGKILL by a minute.)"""
    pytest.importorskip("ray")
    args = [*COMPARE, "--systems", "fhn", "ring", "--hidden-sizes", "2", "--seeds", "0",
            "--epochs", "1000000", "--out", "out", "--backend", "ray", "--workers", "2"]
    proc = start(args, tmp_path)
    deadline, tasks = time.monotonic() + 240, []
    while len(tasks) < 2 and proc.poll() is None and time.monotonic() < deadline:
        family = descendants(proc.pid)
        tasks = [p for p in family if "ray::train_group" in cmdline(p)]
        time.sleep(0.2)
    assert len(tasks) == 2, proc.communicate()[1][-2000:]
    family = descendants(proc.pid)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    deadline = time.monotonic() + 20
    while any(alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {p: cmdline(p)[:60] for p in family if alive(p)}
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, left


def test_only_dead_writers_temporaries_of_this_machine_are_removed(in_tmp: Path) -> None:
    from gru_learn.files.atomic import _host, remove_stale_temporaries, temporary_prefix

    dead, here = dead_pid(), _host()
    names = {f".a.json{TMP_MARK}{dead}.{here}-x.tmp": False,  # dead writer here: removed
             f".a.json{TMP_MARK}{dead}-x.tmp": False,  # no machine tag: taken as here
             f"{temporary_prefix('a.json')}y.tmp": True,  # this live process: kept
             f".a.json{TMP_MARK}{dead}.00000000-z.tmp": True,  # another machine's: kept
             "a.json": True}
    for name in names:
        (in_tmp / name).write_text("{")
    (in_tmp / "sub").mkdir()
    (in_tmp / "sub" / f".fig{TMP_MARK}{dead}.{here}-w").mkdir()
    assert remove_stale_temporaries(in_tmp, recursive=True) == 3
    assert {p.name for p in in_tmp.iterdir()} == {n for n, kept in names.items() if kept} | {
        "sub"}
    assert not list((in_tmp / "sub").iterdir())


# --- a hostile machine: unwritable places, full disks, impossible sizes ----------------------
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SETPRIV = shutil.which("setpriv")
# as root, permission bits are overridden (CAP_DAC_OVERRIDE): the command runs without it
DROP = ([SETPRIV, "--bounding-set", "-dac_override,-dac_read_search"] if ROOT and SETPRIV
        else [])
needs_permissions = pytest.mark.skipif(
    ROOT and not SETPRIV, reason="running as root without setpriv: a read-only folder cannot "
    "be made read-only for this process")
TINY_FIT = ["fit", "--trainer.max_epochs=5", "--data.n_train=8", "--data.n_val=2",
            "--data.n_test=2", "--data.horizon=5", "--analysis.enabled=false",
            "--trainer.enable_progress_bar=false"]
TINY_COMPARE = ["compare", "--systems", "fhn", "--hidden-sizes", "2", "--seeds", "0",
                "--epochs", "5", "--n-train", "8", "--n-val", "2", "--n-test", "2",
                "--horizon", "5"]


def run_as_user(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m gru_learn ARGS`` as a user without root's override of permissions."""
    return subprocess.run([*DROP, sys.executable, "-m", "gru_learn", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def one_line(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The command's stderr is one line (after Lightning's and tqdm's chatter on stdout),
    the command's name first, with exit ``code``, no traceback, and ``words`` in it."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines and "gru_learn" in lines[-1].split(":")[0], result.stderr[-3000:]
    assert not any("error" in ln.lower() or "warn" in ln.lower() for ln in lines[:-1]), \
        result.stderr[-3000:]
    for w in words:
        assert w in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture(scope="module")
def small_gru(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gru") / "gru.pt"
    torch.manual_seed(0)
    torch.save(torch.nn.GRU(1, 2).state_dict(), path)
    return path


OUTPUT_CASES = {  # command -> (args, the option named in the error); OUT is the bad place
    "fit root": ([*TINY_FIT, "--trainer.default_root_dir", "OUT"], "--trainer.default_root_dir"),
    "fit cache": ([*TINY_FIT, "--data.cache_dir", "OUT"], "--data.cache_dir"),
    "compare": ([*TINY_COMPARE, "--out", "OUT"], "--out"),
    "portrait": (["portrait", "--preset", "fig1a", "--no-cycles", "--out", "OUT/p.png"], "--out"),
    "portrait json": (["portrait", "--preset", "fig1a", "--no-cycles", "--out", "p.png",
                       "--json", "OUT/p.json"], "--json"),
    "bifurcation": (["bifurcation", "--preset", "fig1a", "--param", "alpha", "--range", "0", "1",
                     "--out", "OUT/b.png"], "--out"),
    "frequency-sweep": (["frequency-sweep", "--grid", "4", "--out", "OUT/f.png"], "--out"),
    "search-topology": (["search-topology", "--sinks", "1", "--out", "OUT/s.png"], "--out"),
    "reproduce": (["reproduce", "--quick", "--out", "OUT/r"], "--out"),
    "analyze": (["analyze", "--state-dict", "GRU", "--out", "OUT/an"], "--out"),
    "analyze json": (["analyze", "--state-dict", "GRU", "--out", "an", "--json", "OUT/s.json"],
                     "--json"),
}


def _case(name: str, bad: str, gru: Path) -> tuple[list[str], str]:
    args, option = OUTPUT_CASES[name]
    return [a.replace("OUT", bad).replace("GRU", str(gru)) for a in args], option


@needs_permissions
@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_a_read_only_output_folder_is_one_line_before_any_work(
        name: str, small_gru: Path, tmp_path: Path) -> None:
    """Every command checks where it writes first: exit 2, one line naming the option, and
    nothing created (before, a traceback, some after minutes of work)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        args, option = _case(name, "ro/x" if name.startswith(("fit", "compare")) else "ro",
                             small_gru)
        result = run_as_user(args, tmp_path)
        one_line(result, 2, option, "permission denied")
        assert list(ro.iterdir()) == []
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ro"]
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_a_file_where_a_folder_is_meant_is_one_line_before_any_work(
        name: str, small_gru: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine\n")
    args, option = _case(name, "afile", small_gru)
    one_line(run_cli(*args, cwd=tmp_path), 2, option, "afile")
    assert (tmp_path / "afile").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("command", [
    ["portrait", "--preset", "fig1a", "--no-cycles", "--json", "adir"],
    ["portrait", "--preset", "fig1a", "--no-cycles", "--out", "adir"],
    ["bifurcation", "--preset", "fig1a", "--param", "alpha", "--range", "0", "1", "--json",
     "adir"],
    ["frequency-sweep", "--grid", "4", "--out", "adir"],
])
def test_a_folder_where_a_file_is_meant_is_one_line(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    one_line(run_cli(*command, cwd=tmp_path), 2, "adir", "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def _last_ckpt_named(line: str, cwd: Path) -> Path:
    ckpt = cwd / line.split("kept the last good checkpoint ")[1].split(";")[0]
    assert set(torch.load(ckpt, weights_only=False)) >= {"state_dict", "optimizer_states"}
    return ckpt


@pytest.mark.skipif(not (ROOT and LINUX), reason="mounting a tmpfs needs root on Linux")
def test_a_full_disk_is_one_line_keeping_the_last_good_checkpoint(tmp_path: Path) -> None:
    """fit's run folder on a 64 KiB tmpfs: the disk fills while training. One line (exit 1)
    naming the file it could not write, the complete last.ckpt kept, no temporaries, and the
    command to continue (before: torch's 'unexpected pos 128 vs 0' traceback)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        result = run_cli(*TINY_FIT, "--trainer.max_epochs=3000",
                         "--trainer.default_root_dir=disk", cwd=tmp_path)
        line = one_line(result, 1, "no space left on the device", "continue with: python -m "
                        "gru_learn fit --config disk/fhn/version_0/config.yaml --ckpt_path")
        _last_ckpt_named(line, tmp_path)
        assert stray(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@needs_permissions
@pytest.mark.skipif(not LINUX, reason="waits on files and signals as on Linux")
def test_a_checkpoint_folder_made_read_only_mid_run_is_one_line_with_the_way_on(
        tmp_path: Path) -> None:
    proc = subprocess.Popen([*DROP, sys.executable, "-m", "gru_learn", *TINY_FIT,
                             "--trainer.max_epochs=6000"], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "logs/fhn/version_0/checkpoints"
    wait_for((tmp_path / "logs/fhn", "version_0/checkpoints/last.ckpt"), proc)
    folder.chmod(0o555)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        folder.chmod(0o755)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = one_line(result, 1, "permission denied", "continue with: python -m gru_learn fit "
                    "--config logs/fhn/version_0/config.yaml --ckpt_path")
    ckpt = _last_ckpt_named(line, tmp_path)
    # the way on is the printed command, as printed
    resumed = run_cli(*line.split("continue with: python -m gru_learn ")[1].split(), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert torch.load(ckpt, weights_only=False)["global_step"] == 6000


@pytest.mark.parametrize("args, words", [
    ([*TINY_FIT, "--model.hidden_size=100000"], ("100000-unit network", "GiB")),
    ([*TINY_COMPARE[:-8], "--epochs", "1000000000000", *TINY_COMPARE[-6:]], ("--epochs", "GiB")),
    (["frequency-sweep", "--grid", "1000000"], ("--grid", "GiB")),
    # found by a fresh probe beyond the list (before: hangs, or an exit 1 after 5 s)
    ([*TINY_FIT, "--data.n_train=1000000000"], ("1000000004 trajectories", "GiB")),
    ([*TINY_FIT, "--data.horizon=1000000000"], ("1000000001 samples", "GiB")),
    (["portrait", "--preset", "hopf", "--t-end", "1e12"], ("--t-end", "GiB")),
    (["search-topology", "--sinks", "1", "--population", "1000000000"], ("--population",)),
], ids=["fit hidden size", "compare epochs", "frequency-sweep grid", "fit n_train",
        "fit horizon", "portrait t-end", "search-topology population"])
def test_an_allocation_that_cannot_succeed_is_estimated_first(
        args: list[str], words: tuple[str, ...], tmp_path: Path) -> None:
    one_line(run_cli(*args, cwd=tmp_path), 2, *words, "memory")
    assert list(tmp_path.iterdir()) == []  # no compare.json, no run folder


NUMBERS = {
    "fit lr nan": [*TINY_FIT, "--model.lr=nan"],
    "fit mar inf": [*TINY_FIT, "--model.mar_weight=inf"],
    "fit max_epochs -5": [*TINY_FIT, "--trainer.max_epochs=-5"],
    "compare lr nan": [*TINY_COMPARE, "--lr", "nan"],
    "portrait set nan": ["portrait", "--preset", "hopf", "--set", "alpha=nan"],
    "portrait box inf": ["portrait", "--preset", "hopf", "--box", "0", "inf"],
    "portrait dt 0": ["portrait", "--preset", "hopf", "--dt", "0"],
    "bifurcation set inf": ["bifurcation", "--preset", "hopf", "--param", "alpha", "--range",
                            "0", "1", "--set", "beta=inf"],
    "bifurcation range nan": ["bifurcation", "--preset", "hopf", "--param", "alpha", "--range",
                              "0", "nan"],
    "frequency-sweep s inf": ["frequency-sweep", "--s", "inf"],
    "frequency-sweep dt -1": ["frequency-sweep", "--dt", "-1"],
    "analyze input nan": ["analyze", "--state-dict", "GRU", "--input", "nan"],
    "search-topology scale inf": ["search-topology", "--sinks", "1", "--scale", "inf"],
    "bifurcation steps 1e9": ["bifurcation", "--preset", "hopf", "--param", "alpha", "--range",
                              "0", "1", "--steps", "1000000000"],
    "fit obs noise inf": [*TINY_FIT, "--data.obs_noise_std=inf"],
}


@pytest.mark.parametrize("name", NUMBERS)
def test_nan_inf_and_out_of_range_numbers_are_one_line(name: str, small_gru: Path,
                                                       tmp_path: Path) -> None:
    args = [a.replace("GRU", str(small_gru)) for a in NUMBERS[name]]
    one_line(run_cli(*args, cwd=tmp_path), 2)
    assert list(tmp_path.iterdir()) == []


WEAK = {  # a file the user gives -> (args, words the line must hold)
    "empty config": ("", ["fit", "--config", "F.yaml"], ("F.yaml", "is empty")),
    "list config": ("- a\n- b\n", ["fit", "--config", "F.yaml"], ("F.yaml", "a mapping")),
    "compare list config": ("- a\n", ["compare", "--config", "F.yaml"], ("F.yaml", "mapping")),
    "text as npz": ("hello\n", ["fit", "--data=gru_learn.training.data.FileDataModule",
                                "--data.dt=0.1", "--data.path=F.npz"], ("not an .npz archive",)),
    "plain pickle": (None, ["analyze", "--state-dict", "F.pkl"], ("plain pickle",)),
}


@pytest.mark.parametrize("name", WEAK)
def test_what_is_wrong_with_a_given_file_is_said_in_its_one_line(name: str,
                                                                 tmp_path: Path) -> None:
    text, args, words = WEAK[name]
    given = next(a for a in args if "F." in a).split("=")[-1]
    if text is None:
        import pickle

        (tmp_path / given).write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    else:
        (tmp_path / given).write_text(text)
    one_line(run_cli(*args, cwd=tmp_path), 2, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == [given]


def test_a_folder_given_as_the_data_file_is_named_a_folder(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    one_line(run_cli("fit", "--data=gru_learn.training.data.FileDataModule", "--data.dt=0.1",
                     "--data.path=adir", cwd=tmp_path), 2, "'adir' is a folder")


def test_a_saturated_network_is_analysed_and_its_saturation_said(tmp_path: Path) -> None:
    """A random 2-unit GRU's weights x1e4 (before: over 200 s with no output; the bound of
    the search is tested in tests/dynamics): analyze ends, with every gate reported saturated
    in summary.json and in its one-line summary, and shows its progress on the way."""
    torch.manual_seed(1)
    gru = torch.nn.GRU(2, 2)
    torch.save({k: v * 1e4 for k, v in gru.state_dict().items()}, tmp_path / "sat.pt")
    result = run_cli("analyze", "--state-dict", "sat.pt", "--out", "an", cwd=tmp_path,
                     timeout=240)  # a hang guard, not a speed check
    assert result.returncode == 0, result.stderr[-2000:]
    assert "saturated gates: update 100%" in result.stdout
    assert "analyze: figures..." in result.stderr  # progress, once past a few seconds
    summary = json.loads((tmp_path / "an/summary.json").read_text())
    saturation = summary["inputs"][0]["saturation"]
    assert min(saturation[k] for k in ("update", "reset", "candidate")) > 0.9
