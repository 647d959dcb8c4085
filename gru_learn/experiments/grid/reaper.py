"""``python -m gru_learn.experiments.grid.reaper PID``: end the processes ``PID`` starts while this
watches, once
``PID`` is gone (Linux).

Why: a local Ray instance started by ``ray.init`` (``compare --backend ray``) shares fate with
the command for the processes the command starts itself (Ray sets ``PR_SET_PDEATHSIG``), but
not for the two the raylet starts: ``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent`` notice
the raylet's death within a second, then shut their web servers down gracefully for 60 s
(aiohttp's default ``shutdown_timeout``). After a SIGKILL of the command they outlived it by
that minute (measured with Ray 2.60).

How: every ``INTERVAL`` seconds, while stdin is open, this records the descendants of ``PID``
that were not there when it started (with their start times, so a reused process id is never
mistaken for one of them). At end-of-file on stdin (``PID`` closed its end, or died, which
closes it), each recorded process still running gets SIGKILL, and this exits. It ignores
SIGINT: Ctrl-C in a terminal reaches the whole process group and is the command's to handle.
Reads only ``/proc``; imports nothing heavy (it starts in a few tens of milliseconds).
"""

from __future__ import annotations

import os
import select
import signal
import sys
from pathlib import Path

INTERVAL = 0.25  # seconds between two looks at the process tree


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22), or None
    when there is no such process (or it is a zombie, which needs no killing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] == "Z" else int(fields[19])


def descendants(pid: int) -> dict[int, int]:
    """``{pid: start time}`` of every living descendant of ``pid``."""
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                t = start_time(kid)
                if t is not None and kid not in found:
                    found[kid] = t
                    todo.append(kid)
    return found


def watch(pid: int, interval: float = INTERVAL) -> dict[int, int]:
    """Record ``pid``'s new descendants until end-of-file on stdin; return them."""
    before = set(descendants(pid)) | {os.getpid()}
    seen: dict[int, int] = {}
    while True:
        seen.update((p, t) for p, t in descendants(pid).items() if p not in before)
        readable, _, _ = select.select([sys.stdin], [], [], interval)
        if readable and not os.read(sys.stdin.fileno(), 4096):
            return seen


def kill_recorded(seen: dict[int, int]) -> int:
    """SIGKILL every recorded process still running with its recorded start time; how many."""
    killed = 0
    for pid, t in seen.items():
        if start_time(pid) == t:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kill_recorded(watch(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
