"""Atomic file writes shared by every writer of the library.

A file is written to a temporary file in the same folder, flushed and
``fsync``-ed, then renamed over the target with :func:`os.replace` (atomic on
POSIX and Windows within one file system). A process killed at any moment
leaves either the previous file intact or the new one complete, never a
truncated file; at worst a stray ``.<name>.<pid>.<random>.tmp`` file remains
next to it.

Append-only logs (a sweep's JSONL results) are not rewritten: each record is
appended as one whole line with a single ``write`` on an ``O_APPEND``
descriptor, then ``fsync`` (:class:`dualgan.sweep.store.ResultsStore`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_with", "check_writable_path",
           "save_figure"]


@contextlib.contextmanager
def atomic_path(path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsync-ed and renamed onto ``path``.

    Parameters
    ----------
    path : str or Path
        The final file.
    suffix : str
        Extension of the temporary file (some writers, e.g. ``savefig`` or
        ``np.savez``, choose a format from it or append one).

    Yields
    ------
    Path
        Where the caller writes the complete new content. If the block raises,
        the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``Path(path)``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns ``Path(path)``."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_with(path, writer: Callable[[object], None], suffix: str = "") -> Path:
    """Call ``writer(tmp_path)`` and rename the result onto ``path`` atomically; returns ``Path(path)``."""
    with atomic_path(path, suffix=suffix) as tmp:
        writer(tmp)
    return Path(path)


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """``fig.savefig`` to a temporary file next to ``path``, then an atomic rename onto ``path``.

    The format comes from ``format=`` or ``path``'s extension (default PNG).
    """
    path = Path(path)
    fmt = savefig_kwargs.pop("format", None) or (path.suffix[1:] if path.suffix else "png")
    return atomic_write_with(path, lambda tmp: fig.savefig(tmp, format=fmt, **savefig_kwargs), suffix=path.suffix)


def check_writable_path(path, name: str = "path") -> Path:
    """Check, before any work is done, that ``path``'s folder exists and is writable.

    Raises
    ------
    ValueError
        Naming the argument and the folder, and saying what to do.
    """
    if path is None:
        raise ValueError(f"{name} is None; pass a file path")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{name}={str(path)!r} is a folder; pass a file path inside it")
    if not folder.is_dir():
        raise ValueError(f"{name}={str(path)!r}: the folder {str(folder)!r} does not exist; create it first "
                         f"(e.g. Path({str(folder)!r}).mkdir(parents=True))")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={str(path)!r}: the folder {str(folder)!r} is not writable; choose another path")
    return path


def _fsync_dir(folder: Path) -> None:
    # make the rename itself durable (POSIX); not possible (nor needed) everywhere
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
