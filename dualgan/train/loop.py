"""The one loop of the library and its one checkpoint: how a run starts, records, checkpoints, resumes and ends.

:class:`Loop` is the core that every iterative run shares (jaxopt's
``IterativeSolver.run`` in spirit): the trainers (:class:`~dualgan.train.base.Trainer`,
whose ``fit`` is this loop), a game optimiser run (:func:`dualgan.games.run_optimizer`)
and a batched run of game cells (:func:`dualgan.games.batched_run`). A subclass
writes its step and names its parts; the loop owns the rest, in this order:

1. *start*: nothing to do when ``iterations <= iteration`` (a warning); the
   status becomes ``RUNNING``;
2. *step*: :meth:`Loop._checked_step` returns the record's row, or None after
   setting a failure status (the run ends, nothing recorded);
3. *record*: a row whose :attr:`Loop._must_be_finite` columns are not finite is
   undone and ends the run with ``NON_FINITE``; otherwise it is appended to
   the :class:`~dualgan.train.History` (``iteration``, ``seconds`` added) and
   ``iteration`` advances;
4. *end early*: a step that set :attr:`Loop.ending` (a :class:`~dualgan.status.Status`)
   ends the run with it after its row is recorded; a callback that sets
   ``should_stop`` ends it with ``INTERRUPTED``;
5. *checkpoint* every ``checkpoint_every`` iterations and, for runs that keep a
   final one (:attr:`Loop._final_checkpoint`), at the end, after a failure too;
6. *end*: ``SUCCESS`` (:meth:`Loop._final_status`) when ``iterations`` is
   reached; an exception leaves ``ERROR`` (``INTERRUPTED`` for Ctrl-C) and is re-raised.

One checkpoint format for every run: the header ``format``, ``kind``,
``settings``, ``iteration``, ``elapsed``, ``history``, ``status``, then each
part's state under its own name (:meth:`Loop._parts`; cooper's and GAN_stability's
practice: the file is the collection of its parts). Loading checks the whole
file, then each part checks its own layout (:meth:`Loop._validate_parts`),
before anything changes.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

from .._io import check_writable_path
from ..status import Status, StatusCode
from .checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from .history import History

__all__ = ["Loop", "CHECKPOINT_FORMAT", "check_checkpointing"]

#: the format of every checkpoint written now (trainers and game runs alike)
CHECKPOINT_FORMAT = "dualgan.Checkpoint/2"
#: formats read as they are: the trainers' checkpoints of dualgan 0.1.0 before game runs shared the format
_READABLE_FORMATS = (CHECKPOINT_FORMAT, "dualgan.TrainerCheckpoint/1")
#: what a run of each kind is called in messages ("trainer", "run"), filled as the classes are defined
_NOUNS: dict = {}
#: the keys every checkpoint has before its parts
_HEADER_KEYS = ("format", "kind", "settings", "iteration", "elapsed", "history", "status")


class Loop:
    """The shared core of every run: the loop, its record, its status and its checkpoint (see the module docstring).

    Not used directly. A subclass sets :attr:`kind`, writes :meth:`_step`
    and, when it keeps state, :meth:`_parts`, :meth:`_validate_parts` and
    :meth:`_apply_parts` (and :meth:`_meta` for the settings a checkpoint must match).

    Attributes
    ----------
    iteration : int
        Iterations run so far (rows of :attr:`history`).
    status : Status
        How the last run ended (``RUNNING`` before the first).
    should_stop : bool
        Set by a callback to end the run after this iteration (``INTERRUPTED``).
    ending : Status or None
        Set by a step to end the run with this status once its row is recorded.
    """

    #: the run's name in its checkpoints (a trainer's registered name)
    kind = "loop"
    #: columns that must be finite in every recorded row (else the run ends with ``NON_FINITE``)
    _must_be_finite: tuple = ()
    #: whether the run writes a checkpoint at its end as well (else only every ``checkpoint_every``)
    _final_checkpoint = True
    #: the label of the progress bar (default: :attr:`kind`)
    _label: str | None = None
    #: what the run is called in messages ("trainer" for the trainers)
    _noun = "run"
    iteration: int
    status: Status
    should_stop: bool
    ending: Status | None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _NOUNS[cls.kind] = cls._noun

    def _start_loop(self) -> None:
        self.iteration = 0
        self.status = Status(StatusCode.RUNNING, "not started")
        self.should_stop = False
        self.ending = None
        self._elapsed = 0.0
        self._untimed = 0.0
        self._history: History | None = None

    @property
    def history(self) -> History:
        """The run's one :class:`~dualgan.train.History` (row ``k`` is iteration ``k``)."""
        if self._history is None:
            self._history = History(meta=self._meta())
        return self._history

    # ------------------------------------------------------------------ the loop
    def _loop(self, iterations: int, *, progress: bool = False, callbacks: Sequence[Callable] = (),
              checkpoint_path=None, checkpoint_every: int = 0) -> History:
        """Run until ``self.iteration == iterations`` (arguments already checked); returns :attr:`history`."""
        history = self.history
        if iterations <= self.iteration:
            warnings.warn(f"{type(self).__name__} is already at iteration {self.iteration}; iterations="
                          f"{iterations} is the total to reach, not a number of further iterations, so nothing "
                          f"was trained (pass iterations > {self.iteration} to continue)", UserWarning, stacklevel=4)
            if self.status.code is StatusCode.RUNNING:  # nothing to train is a finished fit; a final status stays
                self.status = Status(StatusCode.SUCCESS, f"already at iteration {self.iteration}")
                history.status = self.status
            self._end_loop()
            return history
        self.should_stop, self.ending = False, None
        self.status = Status(StatusCode.RUNNING, f"running from iteration {self.iteration}")
        bar = None
        raised, mid_iteration = None, False
        try:  # from here on, every way out leaves a final status (never RUNNING)
            if progress:
                bar = _progress_bar(iterations, self.iteration, self._label or self.kind)
            while self.iteration < iterations:
                t0 = time.perf_counter()
                self._untimed = 0.0
                mid_iteration = True  # an exception inside an iteration leaves a half-updated run
                row = self._checked_step()
                mid_iteration = False
                self._elapsed += time.perf_counter() - t0 - self._untimed
                if row is None:  # _step set a failure status and kept the last finite state
                    break
                bad = [k for k in self._must_be_finite if not math.isfinite(row[k])]
                if bad:
                    self._undo_step()
                    self.status = Status(StatusCode.NON_FINITE, f"non-finite {', '.join(bad)} at iteration "
                                                                f"{self.iteration}")
                    break
                row["seconds"] = self._elapsed
                history.append(iteration=self.iteration, **row)
                self.iteration += 1
                if bar is not None:
                    bar.update(1)
                    if "objective" in row:
                        bar.set_postfix(objective=f"{row['objective']:.6g}")
                if self.ending is not None:  # the step ended the run (converged, diverged, failed) after its record
                    self.status = self.ending
                    break
                for callback in callbacks:
                    callback(self, self.iteration)
                if checkpoint_every and self.iteration % checkpoint_every == 0:
                    self.save_checkpoint(checkpoint_path)
                if self.should_stop:
                    self.status = Status(StatusCode.INTERRUPTED, f"stopped by a callback at iteration "
                                                                 f"{self.iteration}")
                    break
            else:
                self.status = self._final_status(iterations)
        except KeyboardInterrupt as exc:
            self.status = Status(StatusCode.INTERRUPTED, f"interrupted at iteration {self.iteration}")
            raised = exc
        except Exception as exc:  # noqa: BLE001 - recorded, the checkpoint written, then re-raised
            self.status = Status(StatusCode.ERROR, f"{type(exc).__name__} at iteration {self.iteration}: {exc}")
            raised = exc
        except BaseException as exc:  # SystemExit (e.g. from a SIGTERM handler), GeneratorExit: ended from outside
            self.status = Status(StatusCode.INTERRUPTED, f"{type(exc).__name__} at iteration {self.iteration}")
            raised = exc
        finally:
            if bar is not None:
                with contextlib.suppress(Exception):  # a closed stderr must not hide how the run ended
                    bar.close()
            self._end_loop()
        history.status = self.status
        if self._final_checkpoint and checkpoint_path is not None and not (raised is not None and mid_iteration):
            # after an exception inside an iteration the last periodic checkpoint (consistent) is kept
            try:
                self.save_checkpoint(checkpoint_path)
            except Exception as exc:
                if raised is None:  # the run itself ended well, but its final checkpoint is not on disk
                    self.status = Status(StatusCode.ERROR, f"the final checkpoint could not be written at iteration "
                                                           f"{self.iteration}: {exc}")
                    history.status = self.status
                raise
        if raised is not None:
            raise raised
        return history

    @contextlib.contextmanager
    def _not_timed(self):
        """Time spent inside (evaluating, not training) is left out of the ``seconds`` column."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._untimed += time.perf_counter() - t0

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        header = {"format": CHECKPOINT_FORMAT, "kind": self.kind, "settings": self._meta(),
                  "iteration": self.iteration, "elapsed": self._elapsed, "history": self.history.to_dict(),
                  "status": self.status.to_pair()}
        return {**header, **self._parts()}

    def save_checkpoint(self, path) -> Path:
        """Write everything needed to continue bit for bit, atomically (temporary file, then rename).

        The file holds the run's header (kind, settings, iteration, elapsed
        time, history, status) and the state of each of its parts, under a
        SHA-256 of its content (:func:`~dualgan.train.checkpoint.write_checkpoint`).
        A kill while saving leaves the previous checkpoint intact; the
        temporary file it leaves is removed by the next save or load of that path.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; its folder must exist and be writable.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        ValueError
            If the folder does not exist or is not writable, or a part cannot be saved.
        OSError
            If writing fails (a full disk, a folder made read-only meanwhile);
            the message names ``path``, which keeps its previous content.
        """
        path = check_writable_path(path, "path")
        return write_checkpoint(path, self._state())

    def load_checkpoint(self, path):
        """Restore a checkpoint written by a run of the same kind and settings; returns ``self``.

        Everything is validated before the run changes (the file's SHA-256,
        format, keys, kind, settings, the history's length against the
        iteration, the status, then each part's own layout); if restoring
        still fails half-way, the previous state is put back.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save_checkpoint`.

        Returns
        -------
        Loop
            ``self``, restored; the next run continues from its iteration.

        Raises
        ------
        CheckpointError
            (a ``ValueError``) naming the file, what is wrong and what to do.
        """
        payload = self._upgrade(read_checkpoint(path, getattr(self, "device", None)))
        where = str(path)
        try:
            self._validate_checkpoint(payload)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {where!r}: {exc}") from exc
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {where!r} is not usable by this {type(self).__name__}: {exc}") from exc
        backup = self._state()
        try:
            self._apply_state(payload)
        except Exception as exc:
            self._apply_state(backup)
            raise CheckpointError(f"checkpoint {where!r} could not be restored ({type(exc).__name__}: {exc}); the "
                                  f"{type(self).__name__} is unchanged") from exc
        return self

    def _validate_checkpoint(self, payload) -> None:
        if not isinstance(payload, dict) or payload.get("format") not in _READABLE_FORMATS:
            got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise CheckpointError(f"not a {CHECKPOINT_FORMAT} checkpoint (format {got!r}); it was written by "
                                  f"another program or another version of dualgan")
        if payload.get("kind", self.kind) != self.kind:
            raise CheckpointError(f"it is a checkpoint of a {payload['kind']!r} {_NOUNS.get(payload['kind'], 'run')}, "
                                  f"not of a "
                                  f"{type(self).__name__} ({self.kind!r})")
        missing = [k for k in _HEADER_KEYS + tuple(self._part_names) if k not in payload]
        if missing:
            raise CheckpointError(f"the checkpoint is missing {missing}; it is incomplete: use an earlier copy")
        settings = payload["settings"]
        if not isinstance(settings, dict):
            raise CheckpointError(f"its settings are {type(settings).__name__}, not a dict")
        for key, value in self._meta().items():
            if settings.get(key) != value:
                raise CheckpointError(f"it was written with {key}={settings.get(key)!r} but this "
                                      f"{type(self).__name__} has {key}={value!r}; construct it with the "
                                      f"checkpoint's settings")
        history = History.from_dict(payload["history"])
        self._check_history_columns(history)
        iteration = payload["iteration"]
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise CheckpointError(f"its iteration {iteration!r} is not a non-negative integer")
        if len(history) != iteration:
            raise CheckpointError(f"it claims iteration {iteration} but holds {len(history)} history rows; the "
                                  f"file is inconsistent: use an earlier copy")
        elapsed = payload["elapsed"]
        if not isinstance(elapsed, float) or not elapsed >= 0:
            raise CheckpointError(f"its elapsed time {elapsed!r} is not a number >= 0")
        self._check_saved_status(Status.from_pair(payload["status"]))
        self._validate_parts(payload)

    def _apply_state(self, payload: dict) -> None:
        self.iteration = int(payload["iteration"])
        self._elapsed = float(payload["elapsed"])
        self._history = History.from_dict(payload["history"])
        self._apply_parts(payload)
        self.status = Status.from_pair(payload["status"])
        if self.status.code is StatusCode.RUNNING:
            self.status = Status(StatusCode.RUNNING, f"resumed at iteration {self.iteration}")

    # ------------------------------------------------------------------ hooks of subclasses
    #: the names of the parts a checkpoint holds besides its header (:meth:`_parts`' keys)
    _part_names: tuple = ()

    def _step(self) -> dict | None:  # pragma: no cover - abstract
        """One iteration: update the state and return the history row (without ``iteration`` and ``seconds``).

        Return None after setting :attr:`status` (``NON_FINITE``,
        ``NUMERICAL_ERROR``) when the iteration cannot be completed; the state
        must then be the last finite one. Set :attr:`ending` to end the run
        after this row is recorded.
        """
        raise NotImplementedError

    def _checked_step(self) -> dict | None:
        return self._step()

    def _end_loop(self) -> None:
        """Called once when a run ends, however it ends (default: nothing)."""

    def _final_status(self, iterations: int) -> Status:
        """The status of a run that ran every iteration: ``SUCCESS``, unless the subclass knows it stalled."""
        return Status(StatusCode.SUCCESS, f"reached iteration {iterations}")

    def _undo_step(self) -> None:
        """Put back the state before the last :meth:`_step` when its row is not finite (default: nothing)."""

    def _meta(self) -> dict:
        """The settings a checkpoint must match (JSON scalars)."""
        return {"kind": self.kind}

    def _parts(self) -> dict:
        """The state of each part, by name (tensors, numbers, strings and containers only)."""
        return {}

    def _validate_parts(self, payload: dict) -> None:
        """Raise :class:`CheckpointError` if a part's saved state cannot be loaded (nothing changes)."""

    def _apply_parts(self, payload: dict) -> None:
        """Restore each part from :meth:`_parts`' output (already validated)."""

    def _check_history_columns(self, history: History) -> None:
        """Raise :class:`CheckpointError` if the saved history lacks a column every row has (default: no check)."""

    def _check_saved_status(self, status: Status) -> None:
        """Raise :class:`CheckpointError` if the saved status cannot be resumed (default: any status can)."""

    def _upgrade(self, payload):
        """A checkpoint of an earlier layout in today's, or as it is (default: as it is)."""
        return payload


def check_checkpointing(checkpoint_path, checkpoint_every) -> tuple:
    """``(checkpoint_path, checkpoint_every)`` checked before a run: its folder writable, a period that has a path.

    Parameters
    ----------
    checkpoint_path : str or os.PathLike or None
        Where the run writes its checkpoints (None: nowhere).
    checkpoint_every : int
        The period in iterations (>= 0; 0: none; > 0 needs ``checkpoint_path``).

    Returns
    -------
    tuple
        ``(Path or None, int)``.

    Raises
    ------
    ValueError
        If ``checkpoint_every`` is not a non-negative integer or is set without a
        ``checkpoint_path``, or the folder does not exist or is not writable.
    """
    from .._checks import check_int

    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=0)
    if checkpoint_every and checkpoint_path is None:
        raise ValueError("checkpoint_every needs a checkpoint_path")
    if checkpoint_path is not None:  # checked before the run: a missing folder must not cost a run
        checkpoint_path = check_writable_path(checkpoint_path, "checkpoint_path")
    return checkpoint_path, checkpoint_every


def _progress_bar(total: int, initial: int, desc: str):
    """A tqdm bar on stderr, or None when there is no stderr to draw on (``sys.stderr`` None, e.g. pythonw)."""
    if sys.stderr is None:
        return None
    from .._io import progress_bar

    return progress_bar(total=total, initial=initial, desc=desc, leave=False)
