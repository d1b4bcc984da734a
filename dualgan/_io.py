"""Atomic file writes shared by every writer of the library.

A file is written to a temporary file in the same folder, flushed and
``fsync``-ed, then renamed over the target with :func:`os.replace` (atomic on
POSIX and Windows within one file system). A process killed at any moment
leaves either the previous file intact or the new one complete, never a
truncated file; at worst a stray ``.<name>.<pid>.<random>.tmp`` file remains
next to it, and the next write or read of that file through this module
removes it (:func:`clean_stale_temporaries`: a temporary whose writing process
is gone, or older than a day). A write that fails (a full disk, a folder made
read-only) raises an ``OSError`` naming the target file, and leaves the
previous file intact and no temporary behind.

Append-only logs (a sweep's JSONL results) are not rewritten: each record is
appended as one whole line with a single ``write`` on an ``O_APPEND``
descriptor, then ``fsync`` (:class:`dualgan.sweep.store.ResultsStore`).
"""
from __future__ import annotations

import contextlib
import errno as _errno
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_with", "check_writable_path",
           "check_writable_folder", "clean_stale_temporaries", "progress_bar", "save_figure"]

#: a temporary of a writer whose process is still alive is left alone for this long (seconds)
STALE_AFTER = 24 * 3600.0
#: temporaries written before the writer's pid was part of the name are stale after this long (seconds)
_UNNAMED_STALE_AFTER = 3600.0


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
    clean_stale_temporaries(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=f".tmp{suffix}", dir=folder)
    except OSError as exc:
        raise _naming_target(exc, path) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _naming_target(exc, path) from exc
        raise
    _fsync_dir(folder)


def progress_bar(iterable=None, **tqdm_kwargs):
    """The library's one progress bar: ``tqdm.auto.tqdm`` on ``sys.stderr``, switched off where there is no stderr.

    Where ``sys.stderr`` is None (``pythonw``, a service, a daemon that closed
    it) tqdm would fail on its first write; the bar is then created with
    ``disable=True``: the same object and methods (``update``,
    ``set_postfix``, iteration, ``close``), drawing nothing.

    Parameters
    ----------
    iterable : iterable, optional
        What the bar iterates over. Default None: a bar advanced with ``update``.
    **tqdm_kwargs
        Passed to ``tqdm`` (``total``, ``desc``, ``leave``, ``unit``, ...).

    Returns
    -------
    tqdm.tqdm
    """
    from tqdm.auto import tqdm

    if sys.stderr is None:
        tqdm_kwargs["disable"] = True
    return tqdm(iterable, **tqdm_kwargs)


def clean_stale_temporaries(path) -> list[Path]:
    """Remove the temporaries of ``path`` left by writers that were killed while writing it.

    A temporary of this module is ``.<name>.<pid>.<random>.tmp[<suffix>]`` in
    the folder of ``path``. It is stale when the process ``<pid>`` no longer
    exists, or when it is older than :data:`STALE_AFTER` (a day: the pid may
    have been reused); a temporary without a pid (written by an older version)
    when it is older than an hour. Temporaries of other files, and files not
    named like this, are never touched. Errors (a read-only folder, a file
    removed meanwhile) are ignored: cleaning is a courtesy, not a condition
    of the write.

    Parameters
    ----------
    path : str or os.PathLike
        The final file whose temporaries are looked for.

    Returns
    -------
    list of pathlib.Path
        The temporaries removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    name = re.escape(path.name)
    with_pid = re.compile(rf"\.{name}\.(\d+)\.[A-Za-z0-9_]{{8}}\.tmp(\.[A-Za-z0-9]+)?")
    without_pid = re.compile(rf"\.{name}\.[A-Za-z0-9_]{{8}}\.tmp(\.[A-Za-z0-9]+)?")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = with_pid.fullmatch(entry.name)
        if match is None and without_pid.fullmatch(entry.name) is None:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if not entry.is_file(follow_symlinks=False):
                continue
            if match is not None:
                stale = age > STALE_AFTER or not _process_exists(int(match.group(1)))
            else:
                stale = age > _UNNAMED_STALE_AFTER
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


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


def json_float(value) -> float | str | None:
    """A float for standard JSON: itself when finite, None for NaN, ``"inf"`` / ``"-inf"`` (read back by ``float``)."""
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=None, constrained_layout: bool = False, **subplots_kwargs):
    """``(fig, axes)``: a matplotlib Figure and its ``fig.subplots(nrows, ncols, **subplots_kwargs)``, for a file.

    Made without pyplot: the user's backend is not switched and no figure is left in pyplot's registry, so
    nothing needs closing; write it with :func:`save_figure`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, constrained_layout=constrained_layout)
    return fig, fig.subplots(nrows, ncols, **subplots_kwargs)


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
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name}={str(path)!r}: {str(folder)!r} is a file, not a folder; choose a path in a folder")
    if not folder.is_dir():
        raise ValueError(f"{name}={str(path)!r}: the folder {str(folder)!r} does not exist; create it first "
                         f"(e.g. Path({str(folder)!r}).mkdir(parents=True))")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={str(path)!r}: the folder {str(folder)!r} is not writable; choose another path")
    return path


def check_writable_folder(path, name: str = "out_dir", create: bool = True) -> Path:
    """Check, before any work is done, that ``path`` is a writable folder, creating it (and its parents) if ``create``.

    Raises
    ------
    ValueError
        If ``path`` is a file, cannot be created, or is not writable; the
        message names the argument and the path, and says what to do.
    """
    if path is None:
        raise ValueError(f"{name} is None; pass a folder")
    text = str(path)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {text!r} is a file, not a folder; pass a folder (created if missing)")
    if not path.exists():
        if not create:
            return path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{name} {text!r}: the folder cannot be created ({exc.strerror or exc}); pass a "
                             f"folder in a writable place") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {text!r}: the folder is not writable; pass a folder you can write to")
    return path


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid <= 2 ** 22  # alive under another user (or a number no process can have)
    except OSError:  # pragma: no cover - e.g. a platform without signals
        return True
    return True


def _naming_target(exc: OSError, path: Path) -> OSError:
    """The same kind of ``OSError`` (errno kept), its message naming the file being written."""
    if exc.filename == str(path):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = exc.errno if exc.errno is not None else _errno.EIO
    return OSError(code, f"{reason}; cannot write {str(path)!r} (the previous file, if any, is unchanged): "
                         f"free space or choose another path", str(path))


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
