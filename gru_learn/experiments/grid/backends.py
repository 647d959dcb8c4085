"""Where a grid's work runs: inline, in local worker processes, or as Ray tasks; the same
function on the same inputs everywhere, and only the calling process writes files.

Worker processes never outlive the command: each one exits when the parent process ends, however
it ends (Ctrl-C, SIGTERM, SIGKILL): on Linux the kernel sends it SIGKILL
(``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread exits it when the pipe the
parent holds open reaches end-of-file, which the parent's death or interrupt handler causes.
Ray tasks are cancelled when the command is interrupted, and a local Ray instance (one
``ray.init`` starts, not ``--ray-address``) ends with the command, also after a SIGKILL
(:mod:`gru_learn.experiments.grid.reaper` ends the raylet's agents, which would otherwise stay a
minute).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gru_learn.errors import UserError
from gru_learn.experiments.grid.settings import RunGroup
from gru_learn.experiments.grid.train import train_group

BACKENDS = ("local", "ray")

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int, reader: Connection, writer: Connection) -> None:
    """Worker initializer: make this process end when ``parent`` does.

    On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill it at the parent's death
    (even by SIGKILL). Everywhere, a daemon thread waits on ``reader``: the parent holds the
    pipe's only other writable end, so end-of-file means the parent died or closed it on an
    interrupt. Ctrl-C in a terminal reaches the whole process group: the workers ignore it and
    leave it to the parent, which closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    writer.close()  # a forked worker's copy; only the parent's may keep the pipe open
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        try:
            reader.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


@contextmanager
def submitter(backend: str, workers: int, address: str | None,
               fn: Callable[[Any], Any] = train_group) -> Iterator[Callable[[Any], Future]]:
    """``submit(x) -> Future`` of ``fn(x)`` (``train_group`` unless told) in a process pool or as
    a Ray task.
    Leaving the block by an exception (Ctrl-C included) ends every worker or Ray task at once."""
    if backend == "local":
        # fork where there is one: workers inherit the imports (seconds each), not redo them
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        reader, writer = context.Pipe(duplex=False)
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent,
                                   initargs=(os.getpid(), reader, writer))
        try:
            yield lambda x: pool.submit(fn, x)
        except BaseException:
            writer.close()  # every worker's watchdog sees end-of-file and exits now
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            writer.close()
            reader.close()
        return
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    started = not ray.is_initialized()
    reaper = None
    if started:
        kwargs = {"address": address} if address else {"num_cpus": workers}
        ours = signal.getsignal(signal.SIGTERM)
        if not address:  # the local instance this starts ends with the command
            reaper = _start_reaper()
        try:
            ray.init(**kwargs, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except BaseException:
            _stop_reaper(reaper)
            raise
        # Ray replaces the SIGTERM handler (its core's aborts): put back ours, so SIGTERM
        # cancels the tasks below and exits like an interrupt
        if callable(ours) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, ours)
    env = ray_runtime_env()  # the user's --import modules, in every task
    task = ray.remote(num_cpus=1, **({"runtime_env": env} if env else {}))(fn)
    refs: list[Any] = []

    def submit(x: Any) -> Future:
        refs.append(task.remote(x))
        return refs[-1].future()

    try:
        yield submit
    except BaseException:
        for ref in refs:  # finished ones ignore this; running ones are killed
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        raise
    finally:
        if started:
            ray.shutdown()
        _stop_reaper(reaper)  # ends what shutdown left running


def _start_reaper() -> subprocess.Popen | None:
    """:mod:`gru_learn.experiments.grid.reaper` watching this process (Linux): the local Ray
    instance's processes end with this command however it ends (its raylet's agents otherwise
    outlive a SIGKILL by a minute). Run by file path in isolated mode: no package import
    (torch), no module of the working directory."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen([sys.executable, "-I", str(Path(__file__).with_name("reaper.py")),
                             str(os.getpid())], stdin=subprocess.PIPE, close_fds=True)


def _stop_reaper(reaper: subprocess.Popen | None) -> None:
    """Close the reaper's pipe: it kills what it recorded and still runs, then exits."""
    if reaper is not None:
        reaper.stdin.close()
        reaper.wait()


def ray_runtime_env() -> dict[str, Any]:
    """The Ray ``runtime_env`` that gives each task the modules of ``--import`` (empty when
    there are none): ``GRU_LEARN_IMPORT`` (``get_system`` imports them in the task the first
    time it meets a name it does not know) and ``PYTHONPATH`` extended by the folders they
    were imported from here (a Ray worker does not start in this process's working directory).
    On a multi-node cluster those folders must exist on every node (or install the module)."""
    from gru_learn.systems.user_modules import ENV

    names = [n for n in os.environ.get(ENV, "").split(",") if n]
    if not names:
        return {}
    roots = []
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            root = Path(file).resolve().parent  # the folder above the top-level package
            for _ in range(name.count(".") + (Path(file).name == "__init__.py")):
                root = root.parent
            roots.append(str(root))
    paths = [*roots, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {"env_vars": {ENV: ",".join(names), "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}}


def execute(groups: list[RunGroup], backend: str = "local", workers: int = 1,
            address: str | None = None) -> Iterator[tuple[RunGroup, dict[str, Any]]]:
    """Yield ``(group, train_group(group))`` as groups finish. Inline for one local worker
    (with an epoch progress bar), else the same function in ``workers`` processes or on Ray."""
    if backend == "local" and workers == 1:
        for group in groups:
            yield group, train_group(group, progress=True)
        return
    with submitter(backend, workers, address) as submit:
        futures = {submit(group): group for group in groups}
        for future in as_completed(futures):
            yield futures[future], result_of(future)


def result_of(future: Future) -> Any:
    """A worker's result; a UserError raised in a Ray task (which Ray re-raises as its own
    subclass of it, the task's traceback in the message) comes back as the one-line original."""
    try:
        return future.result()
    except UserError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, UserError) and cause is not e:
            raise UserError(str(cause)) from None
        raise


