"""Atomic file and folder writes: write under a temporary name beside the target, flush it to
disk, then rename, so a reader (or a rerun after Ctrl-C, a kill or a power cut) never sees half
a file.

Temporaries are named ``.<target>.tmp-<pid>.<host>-<random>``: the writer's process id (and a
tag of its machine) lets any later writer on the same machine remove the leftovers of writers
that died (:func:`remove_stale_temporaries`) without touching those of a writer still running,
here or on another machine sharing the folder. Finished files get the permissions an ordinary
``open(path, "w")`` would give them (``0666`` less the umask), not ``mkstemp``'s ``0600``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_MARK = ".tmp-"  # every temporary's name starts with "." and holds this, then "<pid>-"


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _host() -> str:
    """A short tag of this machine: a folder shared between machines (a dataset cache on NFS)
    holds other machines' temporaries, whose process ids mean nothing here."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def temporary_prefix(name: str) -> str:
    """The name prefix of this process's temporaries for a target called ``name``."""
    return f".{name}{TMP_MARK}{os.getpid()}.{_host()}-"


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to disk; a no-op where not supported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. folders on Windows
        pass
    finally:
        os.close(fd)


def _finish(tmp: Path, mode: int) -> None:
    """Normal permissions and everything under ``tmp`` on disk before it is renamed."""
    if tmp.is_dir():
        for root, _, files in os.walk(tmp):
            for f in files:
                os.chmod(Path(root) / f, 0o666 & ~_umask())
                _fsync(Path(root) / f)
            _fsync(Path(root))
    os.chmod(tmp, mode & ~_umask())
    _fsync(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; if the block succeeds, flush it to disk and
    rename it onto ``path`` (then flush the folder, so the rename itself survives a power
    cut); delete it if the block raises. ``suffix`` keeps writers that infer a format from it
    happy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, name=path.name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name),
                               suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        _finish(Path(tmp), 0o666)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; if the block succeeds, flush its files
    and rename it to ``path`` (replacing an existing folder of that name); remove it if the
    block raises. A reader sees either no ``path``, the old one, or the complete new one
    (except for the instant between removing an old ``path`` and the rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, name=path.name)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=temporary_prefix(path.name)))
    try:
        yield tmp
        _finish(tmp, 0o777)
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: leave its files alone
    return True


def stale_temporaries(folder: str | os.PathLike, name: str | None = None,
                      recursive: bool = False) -> list[Path]:
    """Temporaries (of target ``name``, or of any target) under ``folder`` whose writing
    process is gone."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f".{glob.escape(name) if name else '*'}{TMP_MARK}*"
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    stale, host = [], _host()
    for p in found:
        pid, _, where = p.name.rpartition(TMP_MARK)[2].partition("-")[0].partition(".")
        if where and where != host:
            continue  # another machine's: it may be alive
        if not pid.isdigit() or not _alive(int(pid)):
            stale.append(p)
    return stale


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None,
                             recursive: bool = False) -> int:
    """Delete what :func:`stale_temporaries` finds; returns how many entries were removed."""
    stale = stale_temporaries(folder, name, recursive)
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """JSON (indented, NaN allowed) written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=True) + "\n")
