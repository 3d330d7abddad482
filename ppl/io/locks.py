"""One writer per output: a fit claims each file it will write, so a second fit writing the same
`--out` or `--checkpoint` at the same time says so instead of silently winning.

A claim is an exclusive `flock` on a hidden lock file beside the output (`.NAME.lock`), held for
the fit's whole run and released by the system when the process ends, however it ends; the lock
file is removed when the claim is given up. Outputs that are not regular files (`/dev/null`, a
pipe) are not claimed.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "r.json"
>>> with claimed({"--out": out}):
...     try:
...         with claimed({"--out": out}):
...             pass
...     except Exception as err:
...         print("is being written by another fit now" in str(err))
True
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..front.errors import PPLError, Source


@contextlib.contextmanager
def claimed(outputs: dict) -> Iterator[None]:
    """Hold a claim on every output ({option: path or None}) while the block runs."""
    held = []
    try:
        for option, path in outputs.items():
            if path and identity(path) is not None:
                held.append(_claim(option, Path(path)))
        yield
    finally:
        for lock, fd in reversed(held):
            with contextlib.suppress(OSError):
                os.unlink(lock)
            os.close(fd)


def _claim(option, path):
    lock = path.parent / f".{path.name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise PPLError(f"cannot write {path}: {err.strerror}", hint="check that the folder is writable",
                       source=Source("", str(path))) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise PPLError(f"{option} {path} is being written by another fit now{f' (process {owner})' if owner else ''}",
                       hint=f"wait for it to finish, or give {option} another file",
                       source=Source("", str(path))) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return lock, fd


def identity(path: str | Path) -> tuple | str | None:
    """What makes two paths one file: (device, inode) of an existing regular file, the resolved
    path of one to be made; None for a device or a pipe, which several outputs may share and
    no fit claims."""
    try:
        info = os.stat(path)
    except OSError:
        return str(Path(path).resolve())
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None
