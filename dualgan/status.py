"""One status type for every record of the library that has a status.

A status is a machine-readable :class:`StatusCode` plus a human message.
Callers branch on the code (or on :attr:`Status.success`), never on the text.

Examples
--------
>>> from dualgan.status import Status, StatusCode
>>> s = Status(StatusCode.MAX_ITER, "gap 3.1e-04 > tol 1e-10 after 200 iterations")
>>> s.success, s.code.value, str(s)
(False, 'max_iter', 'max_iter: gap 3.1e-04 > tol 1e-10 after 200 iterations')
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["StatusCode", "Status", "check_status"]


class StatusCode(str, enum.Enum):
    """Why a solver, step, trainer or job stopped.

    ``SUCCESS`` is the one success value: a solver certified its tolerance, a
    trainer ran every requested iteration, a job finished.
    """

    #: the certificate holds (solvers), every iteration ran (trainers), the job finished (sweeps)
    SUCCESS = "success"
    #: the iteration cap was reached before the certificate held
    MAX_ITER = "max_iter"
    #: no further progress is possible from the current point (the message says why)
    STALLED = "stalled"
    #: a linear system was singular or indefinite, or a sub-solver failed
    NUMERICAL_ERROR = "numerical_error"
    #: a NaN or an infinity appeared in an input, an iterate or a model output
    NON_FINITE = "non_finite"
    #: the record belongs to a run that has not finished
    RUNNING = "running"
    #: the run was stopped from outside (KeyboardInterrupt, a callback, a killed worker)
    INTERRUPTED = "interrupted"
    #: an exception ended the run (the message names it)
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Status:
    """A :class:`StatusCode` and a message for people.

    Parameters
    ----------
    code : StatusCode
        What happened, for programs.
    message : str, default ""
        Why, for people (values, iteration counts, the failing argument).
    """

    code: StatusCode
    message: str = ""

    def __post_init__(self):
        if not isinstance(self.code, StatusCode):
            object.__setattr__(self, "code", StatusCode(self.code))

    @property
    def success(self) -> bool:
        """True only for :attr:`StatusCode.SUCCESS`."""
        return self.code is StatusCode.SUCCESS

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}" if self.message else self.code.value

    def to_pair(self) -> list:
        """The ``[code, message]`` pair checkpoints store (plain strings; read back by :meth:`from_pair`).

        Returns
        -------
        list of str
            ``[self.code.value, self.message]``.
        """
        return [self.code.value, self.message]

    @classmethod
    def from_pair(cls, pair) -> "Status":
        """Read a stored ``[code, message]`` pair, refusing anything else.

        Parameters
        ----------
        pair : list or tuple
            ``[code, message]``: a :class:`StatusCode` value and a str.

        Returns
        -------
        Status

        Raises
        ------
        ValueError
            If ``pair`` is not a two-item list or tuple with a str message, or
            its code is not a :class:`StatusCode` value (the message lists them).
        """
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], str):
            raise ValueError(f"a status is stored as [code, message], got {pair!r:.80}")
        try:
            code = StatusCode(pair[0])
        except ValueError:
            raise ValueError(f"unknown status code {pair[0]!r:.40}; one of {[c.value for c in StatusCode]}") from None
        return cls(code, pair[1])

    @classmethod
    def ok(cls, message: str = "") -> "Status":
        """The success status with an optional message.

        Parameters
        ----------
        message : str, default ""
            What succeeded, for people (e.g. ``"reached iteration 100"``).

        Returns
        -------
        Status
            ``Status(StatusCode.SUCCESS, message)``.
        """
        return cls(StatusCode.SUCCESS, message)


def check_status(value, name: str = "status") -> Status:
    """Return ``value`` if it is a :class:`Status`, else raise naming the record's field.

    The one check of every record that carries a status (a sweep job's
    result, a results line, a history), so that callers can rely on
    :attr:`Status.code` being there.

    Parameters
    ----------
    value : object
        The would-be status.
    name : str, default "status"
        The field's name in the message, e.g. ``"RunRecord.status"``.

    Returns
    -------
    Status
        ``value`` itself.

    Raises
    ------
    TypeError
        If ``value`` is not a :class:`Status` (a code, a string, a pair); the
        message names the field, the value and how to build a status.
    """
    if not isinstance(value, Status):
        raise TypeError(f"{name} must be a dualgan.status.Status, e.g. Status.ok() or Status(StatusCode.<CODE>, "
                        f"message); got {type(value).__name__} {value!r:.80}")
    return value
