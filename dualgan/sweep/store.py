"""Append-only JSONL results of a sweep: one line per finished run, safe to share between processes.

Each line is a :class:`RunRecord` (run id, configuration, metrics, wall time,
status). A line is written with one ``os.write`` on a descriptor opened with
``O_APPEND`` while holding an exclusive ``fcntl.flock`` on ``<file>.lock``,
so concurrent writers (two sweeps with the same spec, a driver and a user
appending by hand) never interleave or overwrite lines. A line cut short by a
killed process is ignored when reading (the run is redone) and the next
append starts on a fresh line.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .._io import _naming_target, json_float
from ..status import Status, StatusCode, check_status
from .spec import RunConfig

try:  # POSIX; elsewhere O_APPEND alone keeps whole-line writes from overwriting each other
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["RunRecord", "ResultsStore"]

_FORMAT = "dualgan.RunRecord/2"


@dataclass(frozen=True)
class RunRecord:
    """One finished run of a sweep, one line of its results file.

    Parameters
    ----------
    run_id : str
        The configuration's stable id (:attr:`RunConfig.run_id`).
    config : RunConfig
        The configuration that ran.
    metrics : dict of str to float, default {}
        The job's metrics (NaN stored as JSON null, infinities as the strings
        ``"inf"`` and ``"-inf"``: the file is standard JSON and reads back exactly).
    seconds : float, default nan
        Wall time of the run, in seconds.
    status : Status, default ``Status(StatusCode.SUCCESS)``
        How the run ended: the job's status, ``ERROR`` when the job raised
        (the message names the exception and where), ``INTERRUPTED`` when its
        worker process died. Stored as ``{"code": ..., "message": ...}``.

    Raises
    ------
    TypeError
        If ``status`` is not a :class:`~dualgan.status.Status`.
    """

    run_id: str
    config: RunConfig
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = math.nan
    status: Status = field(default_factory=lambda: Status(StatusCode.SUCCESS))

    def __post_init__(self):
        check_status(self.status, "RunRecord.status")

    @property
    def ok(self) -> bool:
        """The run finished with status ``SUCCESS``."""
        return self.status.success

    @property
    def errored(self) -> bool:
        """The job raised or its worker died (as opposed to finishing and reporting a failure); ``--retry-errors`` reruns these."""
        return self.status.code in (StatusCode.ERROR, StatusCode.INTERRUPTED)

    def to_json(self) -> str:
        """The record as one JSON line (no newline), keys sorted.

        Returns
        -------
        str
            ``{"format", "run_id", "config", "metrics", "seconds", "status": {"code", "message"}, "sha256"}``
            (``sha256``: of the canonical line without it, checked by :meth:`from_json`).
        """
        payload = {"format": _FORMAT, "run_id": self.run_id, "config": self.config.to_dict(),
                   "metrics": {k: json_float(v) for k, v in sorted(self.metrics.items())},
                   "seconds": json_float(self.seconds),
                   "status": {"code": self.status.code.value, "message": self.status.message}}
        # the SHA-256 of the line without it: a changed digit (a flipped bit) is detected on load, not averaged in
        payload["sha256"] = _digest(payload)
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> "RunRecord":
        """Parse and validate one line written by :meth:`to_json`.

        Parameters
        ----------
        line : str
            One line of a results file.

        Returns
        -------
        RunRecord

        Raises
        ------
        ValueError
            If the line is not such a JSON object, has another format, or its
            status is not ``{"code": <a StatusCode value>, "message": <str>}``.
        """
        d = json.loads(line)
        if not isinstance(d, dict):
            raise ValueError(f"a record line must be a JSON object, got {type(d).__name__}")
        if d.get("format") != _FORMAT:
            raise ValueError(f"not a {_FORMAT} line: {line[:80]!r}")
        metrics = {k: (math.nan if v is None else float(v)) for k, v in d["metrics"].items()}
        seconds = math.nan if d["seconds"] is None else float(d["seconds"])
        status = d.get("status")
        if (not isinstance(status, dict) or set(status) != {"code", "message"}
                or not isinstance(status["message"], str)):
            raise ValueError(f"a record's status must be {{'code': ..., 'message': ...}}, got {status!r}")
        try:
            code = StatusCode(status["code"])
        except ValueError:
            raise ValueError(f"unknown status code {status['code']!r}; one of "
                             f"{[c.value for c in StatusCode]}") from None
        record = cls(d["run_id"], RunConfig.from_dict(d["config"]), metrics, seconds, Status(code, status["message"]))
        if "sha256" in d and d["sha256"] != _digest({k: v for k, v in d.items() if k != "sha256"}):
            raise ValueError("the record does not match the SHA-256 it was written with (changed after it was "
                             "written, e.g. a flipped bit)")
        return record


class ResultsStore:
    """The JSONL results file of one sweep (created on first append, with its parent directory).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.jsonl`` file; a lock file ``<path>.lock`` is kept next to it.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def records(self) -> list[RunRecord]:
        """Every complete, parseable line in file order (a later line for the same id supersedes an earlier one).

        Returns
        -------
        list of RunRecord
            Unreadable lines are skipped with a ``RuntimeWarning`` (silently for
            a last line cut short by a killed writer).
        """
        if not self.path.exists():
            return []
        out = []
        with self._locked():
            data = self.path.read_bytes()
        lines = data.split(b"\n")
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                # per line: one line of invalid UTF-8 (a disk error, a foreign writer) must not hide the others
                out.append(RunRecord.from_json(raw.decode("utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:  # UnicodeDecodeError is a ValueError
                if lineno == len(lines):  # the last line, no newline: cut short by a killed writer
                    continue
                warnings.warn(f"{self.path}:{lineno}: skipping an unreadable line ({exc})", RuntimeWarning,
                              stacklevel=2)
        return out

    def latest(self) -> dict[str, RunRecord]:
        """The last record of every run id.

        Returns
        -------
        dict of str to RunRecord
        """
        return {r.run_id: r for r in self.records()}

    def append(self, record: RunRecord) -> None:
        """Append one line atomically (one write under the lock, O_APPEND).

        Parameters
        ----------
        record : RunRecord
            The record to append.

        Raises
        ------
        OSError
            If the line cannot be written (a full disk); the message names the
            file, whose earlier lines are intact (a cut line is skipped when read).
        """
        line = (record.to_json() + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if _ends_without_newline(self.path):
                    line = b"\n" + line
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:  # a full disk: the error names the results file (earlier lines are intact)
                raise _naming_target(exc, self.path) from exc
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover
            yield
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _digest(payload: dict) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no spaces; older records carry none and load as they are)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ends_without_newline(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) != b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
