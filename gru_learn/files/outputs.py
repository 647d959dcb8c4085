"""Where a command writes, checked before it works, and the resource errors met while it works
told in one line.

:func:`check_output_dir` and :func:`check_output_file` run before any computation: a folder
option that names an existing file, a file option that names a folder, or a place this process
cannot write in is a :class:`~gru_learn.errors.UserError` (exit 2, nothing created). Writability
is tried, not inferred from permission bits (root ignores them, a read-only mount does not):
a temporary file is created and removed in the nearest existing folder.

:func:`resource_message` reads the errors no check can foresee (a folder made read-only while a
run works, a full disk, memory exhausted) as one line; every command prints it through
``python -m gru_learn``'s one handler (exit 1), ``fit`` adding what was kept and the command
that continues.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from gru_learn.errors import UserError
from gru_learn.files.atomic import TMP_MARK

# what a failed write means to a user, by errno
_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "a folder is in the way of a file",
    errno.ENOTDIR: "a file is in the way of a folder",
    errno.EEXIST: "it already exists",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "input/output error",
}
# torch's allocator and serializer report memory exhaustion and failed writes as RuntimeError
_OUT_OF_MEMORY = ("can't allocate memory", "DefaultCPUAllocator", "out of memory")
_FAILED_WRITE = ("PytorchStreamWriter failed", "unexpected pos", "file write failed")


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _try_write(folder: Path, option: str, target: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".gru_learn-write-check-", dir=folder)
    except OSError as e:
        reason = _WRITE_ERRORS.get(e.errno or 0, e.strerror or type(e).__name__)
        raise UserError(f"{option} {str(target)!r}: cannot write in {str(folder)!r} "
                        f"({reason})") from None
    os.close(fd)
    os.unlink(name)


def check_output_dir(path: str | os.PathLike, option: str) -> None:
    """``path`` can be (or become) a folder this process writes in; nothing is created."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UserError(f"{option} {str(target)!r} is a file; give a folder (a new or an "
                        "existing one)")
    _check_folder(target, option, target)


def _check_folder(folder: Path, option: str, target: Path) -> None:
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UserError(f"{option} {str(target)!r}: {str(base)!r} is a file, not a folder")
    _try_write(base, option, target)


def check_output_file(path: str | os.PathLike, option: str) -> None:
    """``path`` can be written as a file: not a folder, its folder writable (or creatable)."""
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{option} {str(target)!r} is a folder; give a file name")
    _check_folder(target.parent, option, target)


def _target(filename: object) -> str:
    """The file a write was for: an atomic write's temporary (``.<name>.tmp-...``) named by its
    target."""
    path = Path(str(filename))
    if path.name.startswith(".") and TMP_MARK in path.name:
        return str(path.with_name(path.name[1:].split(TMP_MARK)[0]))
    return str(filename)


def resource_message(error: BaseException) -> str | None:
    """One line for a resource error (a write refused, a full disk, memory exhausted); None
    for anything else, which stays an internal error with its traceback."""
    if isinstance(error, MemoryError):
        return "out of memory" + (f" ({error})" if str(error) else "")
    if isinstance(error, OSError) and error.errno in _WRITE_ERRORS:
        where = _target(error.filename) if error.filename is not None else ""
        return f"cannot write {str(where)!r}: {_WRITE_ERRORS[error.errno]}" if where else \
            f"a write failed: {_WRITE_ERRORS[error.errno]}"
    if isinstance(error, RuntimeError):
        text = str(error)
        if any(s in text for s in _OUT_OF_MEMORY):
            first = text.splitlines()[0] if text else ""
            size = first.split("you tried to allocate ")[-1].split(" bytes")[0] \
                if "you tried to allocate" in first else ""
            return "out of memory" + (f" (an allocation of {int(size) / 2**30:.1f} GiB failed)"
                                      if size.isdigit() else "")
        if any(s in text for s in _FAILED_WRITE):
            return "a file could not be written (is the disk full?)"
    return None
