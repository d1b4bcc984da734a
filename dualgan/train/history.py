r"""Per-iteration training records shared by every trainer of the library.

A :class:`History` is a column store of floats: one row per iteration, one
column per recorded quantity. The standard columns are

``iteration``, ``objective`` (the value the trainer claims to increase, e.g.
the dual value :math:`g(\theta_t) = \max_\lambda D(\lambda;\theta_t)` of eq. (1.13)
of the theory page), ``inner_gap`` (the duality gap certificate of the inner solve), ``lambda_mean`` /
``lambda_min`` / ``lambda_max`` (statistics of the dual variables) and
``seconds`` (cumulative wall time). The duality gap is non-negative in exact
arithmetic but is recorded as a difference of two nearly equal floats, so
values of exactly 0 or slightly negative ones (a few ulps of the objective)
occur by rounding; :meth:`History.plot_objective` and :func:`plot_gap` draw
them at machine epsilon on their log axis;

any trainer adds its own (``rho``, ``radius``, ``accepted`` for trust-region
steps, ``step_size``, ``constraint_mean_violation``, ...). A column that
appears later in a run is back-filled with NaN; a value a trainer does not
report in some row is NaN there too.

Monotone ascent (eq. (1.15) of the theory page, docs/theory.md) is checked with :meth:`History.is_monotone`
and inspected with :meth:`History.decreases`, which lists every iteration where
the objective fell and by how much.

Histories are saved as JSON (``.json``) or numpy archives (``.npz``), never as
pickles: :meth:`History.load` reads only numbers and strings. The JSON is
standard (RFC 8259, no ``NaN`` or ``Infinity`` tokens): a NaN entry is written
as ``null`` and an infinite one as the string ``"inf"`` or ``"-inf"`` (a
non-finite float setting as ``{"float": "inf"}``), and read back exactly; it
carries the SHA-256 of its content (key ``sha256``), checked by
:meth:`History.load`, so a changed digit is refused, not read (an ``.npz``
is checked by the CRC-32 of its zip members).
:meth:`History.load` refuses a column that is not a flat list of numbers and
an array whose data does not fill its shape, naming it.

How the last ``fit`` that wrote a history ended is :attr:`History.status`, a
:class:`~dualgan.status.Status` (None before any ``fit``), kept in the metadata as
the two strings ``meta["status_code"]`` (a :class:`~dualgan.status.StatusCode`
value) and ``meta["status_message"]``, so it survives :meth:`History.save` /
:meth:`History.load` and :meth:`History.to_dict` / :meth:`History.from_dict`.

>>> h = History(meta={"trainer": "example"})
>>> for t, value in enumerate([1.0, 2.0, 1.5, 3.0]):
...     h.append(iteration=t, objective=value)
>>> h.is_monotone(tol=1e-9)
False
>>> [(d.iteration, d.drop) for d in h.decreases()]
[(2, 0.5)]
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .._io import check_writable_path, clean_stale_temporaries, save_figure
from ..status import Status, StatusCode, check_status
# the file format (JSON with its digest, or npz) has a module of its own; its tag stays importable here
from ._history_format import FORMAT as _FORMAT  # noqa: F401
from ._history_format import from_plain, read_json, read_npz, to_plain, write_json, write_npz

__all__ = ["History", "Decrease", "STANDARD_COLUMNS"]

STANDARD_COLUMNS = ("iteration", "objective", "inner_gap", "lambda_mean", "lambda_min", "lambda_max", "seconds")

#: the metadata keys that hold :attr:`History.status` (its code's value and its message)
_STATUS_CODE, _STATUS_MESSAGE = "status_code", "status_message"


@dataclass(frozen=True)
class Decrease:
    """One iteration where a column fell: ``drop = before - after > tol``.

    Parameters
    ----------
    iteration : int
        The ``iteration`` value of the row where the column fell.
    row : int
        Index of that row.
    before : float
        The column's value in the previous row.
    after : float
        Its value in this row.
    """

    iteration: int
    row: int
    before: float
    after: float

    @property
    def drop(self) -> float:
        return self.before - self.after


class History:
    """Column store of per-iteration floats, plus run metadata and named arrays.

    Parameters
    ----------
    meta : Mapping[str, str | int | float | bool | None], optional
        Run settings (JSON scalars), saved with the history; ``"status_code"`` and
        ``"status_message"`` hold :attr:`status`. Default None: no settings.

    Raises
    ------
    ValueError
        If a setting is refused by :meth:`set_meta`.
    """

    def __init__(self, meta: Mapping[str, object] | None = None):
        self._columns: dict[str, list[float]] = {}
        self._n_rows = 0
        self.meta: dict[str, object] = {}
        self._arrays: dict[str, np.ndarray] = {}
        for key, value in dict(meta or {}).items():
            self.set_meta(key, value)

    # ------------------------------------------------------------ recording
    def append(self, **values: float) -> None:
        """Add one row; unknown names become new columns (NaN in earlier rows).

        Parameters
        ----------
        **values : float
            ``column=value`` pairs (numbers convertible to float).

        Raises
        ------
        ValueError
            If no value is given or a value is not a number.
        """
        if not values:
            raise ValueError("append needs at least one column=value pair, e.g. append(iteration=0, objective=1.0)")
        row: dict[str, float] = {}
        for name, value in values.items():
            try:
                row[name] = float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"History column {name!r} takes floats, got {value!r}") from exc
        for name in row:
            if name not in self._columns:
                self._columns[name] = [math.nan] * self._n_rows
        for name, column in self._columns.items():
            column.append(row.get(name, math.nan))
        self._n_rows += 1

    def extend(self, other: "History") -> None:
        """Append every row of ``other`` (used when resuming from a checkpoint).

        Parameters
        ----------
        other : History
            The rows (and named arrays) to append.
        """
        for i in range(len(other)):
            self.append(**{name: col[i] for name, col in other._columns.items()})
        for name, arr in other._arrays.items():
            self._arrays[name] = arr

    def set_meta(self, key: str, value: object) -> None:
        """Store one run setting; only JSON scalars (str, int, float, bool, None) are accepted.

        Parameters
        ----------
        key : str
            The setting's name.
        value : str, int, float, bool or None
            Its value (numpy scalars are converted).

        Raises
        ------
        ValueError
            If ``key`` is not a string or ``value`` is not a JSON scalar.
        """
        if not isinstance(key, str):
            raise ValueError(f"meta keys must be strings, got {key!r}")
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"meta[{key!r}] must be a str, int, float, bool or None, got {type(value).__name__}; "
                             f"convert it with str() or float()")
        if key == "status":
            raise ValueError("meta['status'] is not a setting: a run's outcome is History.status, set with "
                             "history.status = Status(code, message) (kept as meta['status_code'] and "
                             "meta['status_message'])")
        if key == _STATUS_CODE:
            codes = [c.value for c in StatusCode]
            if not isinstance(value, str) or value not in codes:
                raise ValueError(f"meta[{_STATUS_CODE!r}] must be a StatusCode value, one of {codes}; got {value!r}")
            value = StatusCode(value).value  # the plain string, also for a StatusCode member
        if key == _STATUS_MESSAGE and not isinstance(value, str):
            raise ValueError(f"meta[{_STATUS_MESSAGE!r}] must be a str, got {type(value).__name__}")
        self.meta[key] = value

    @property
    def status(self) -> Status | None:
        """How the last ``fit`` that wrote this history ended; None before any ``fit``.

        Assign a :class:`~dualgan.status.Status` to set it (trainers do at the end of
        every ``fit``); it is stored as ``meta["status_code"]`` and ``meta["status_message"]``.

        Returns
        -------
        dualgan.status.Status or None

        Raises
        ------
        TypeError
            On assignment of anything but a :class:`~dualgan.status.Status`.
        ValueError
            If the metadata holds a message without a code, or a code that is not a
            :class:`~dualgan.status.StatusCode` value.
        """
        _check_status_meta(self.meta)
        code = self.meta.get(_STATUS_CODE)
        return None if code is None else Status(StatusCode(code), self.meta.get(_STATUS_MESSAGE, ""))

    @status.setter
    def status(self, status: Status) -> None:
        check_status(status, "History.status")
        self.set_meta(_STATUS_CODE, status.code.value)
        self.set_meta(_STATUS_MESSAGE, status.message)

    def add_array(self, name: str, array) -> None:
        """Attach a named float array (e.g. the dual variables at one iteration).

        Parameters
        ----------
        name : str
            The array's name (e.g. ``"lambda_real@10"``).
        array : array_like or torch.Tensor
            Any numeric array; stored as a float64 numpy array.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"array name must be a non-empty string, got {name!r}")
        self._arrays[name] = np.asarray(_to_numpy(array), dtype=np.float64)

    # ------------------------------------------------------------ reading
    def __len__(self) -> int:
        return self._n_rows

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    @property
    def array_names(self) -> tuple[str, ...]:
        return tuple(self._arrays)

    def column(self, name: str) -> np.ndarray:
        """A copy of one column as a float64 array.

        Parameters
        ----------
        name : str
            A column name.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(self),)``, float64 (NaN where a row has no value).
        """
        return np.asarray(_entry(self._columns, "column", name), dtype=np.float64)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.column(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._columns

    def array(self, name: str) -> np.ndarray:
        """A copy of an attached array.

        Parameters
        ----------
        name : str
            A name given to :meth:`add_array`.

        Returns
        -------
        numpy.ndarray
        """
        return _entry(self._arrays, "array", name).copy()

    def last(self, name: str) -> float:
        """The last value of a column (NaN for an empty history).

        Parameters
        ----------
        name : str
            A column name.

        Returns
        -------
        float
        """
        col = self.column(name)
        return float(col[-1]) if col.size else math.nan

    def iterations(self) -> np.ndarray:
        """The ``iteration`` column, or 0..len-1 when the trainer did not record one."""
        return self.column("iteration") if "iteration" in self._columns else np.arange(self._n_rows, dtype=float)

    def to_dataframe(self):
        """The columns as a pandas DataFrame (optional dependency pandas), one row per History row.

        Returns
        -------
        pandas.DataFrame
            Float64 columns named exactly as the History's (``iteration``,
            ``objective``, ``inner_gap``, ...), NaN where a row has no value; the run
            metadata is in ``DataFrame.attrs["meta"]``. Attached arrays are not
            included (read them with :meth:`array`).

        Raises
        ------
        ImportError
            When pandas is not installed (``pip install 'dualgan[pandas]'``).
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("History.to_dataframe needs pandas: pip install 'dualgan[pandas]' "
                              "(or pip install pandas)") from exc
        frame = pd.DataFrame({name: self.column(name) for name in self._columns}, index=pd.RangeIndex(self._n_rows))
        frame.attrs["meta"] = dict(self.meta)
        return frame

    def __repr__(self) -> str:
        return f"History(rows={self._n_rows}, columns={list(self._columns)}, meta={self.meta})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        if self.columns != other.columns or len(self) != len(other) or self.meta != other.meta:
            return False
        if set(self._arrays) != set(other._arrays):
            return False
        same_cols = all(np.array_equal(self.column(c), other.column(c), equal_nan=True) for c in self.columns)
        same_arrays = all(np.array_equal(self._arrays[k], other._arrays[k], equal_nan=True) for k in self._arrays)
        return same_cols and same_arrays

    # ------------------------------------------------------------ monotonicity
    def decreases(self, tol: float = 0.0, column: str = "objective") -> tuple[Decrease, ...]:
        """Every row where ``column`` fell by more than ``tol`` relative to the previous row.

        NaN rows are skipped (compared with the last value before them that is
        not NaN); an infinite value takes part: a fall to -inf (or from +inf) is
        a decrease of infinite size.

        Parameters
        ----------
        tol : float, default 0.0
            Drops of at most ``tol`` are not counted (>= 0).
        column : str, default "objective"
            The column checked.

        Returns
        -------
        tuple of Decrease
        """
        tol = _check_tol(tol)
        values = self.column(column)
        its = self.iterations()
        out: list[Decrease] = []
        prev, prev_row = math.nan, -1
        for row, value in enumerate(values):
            if math.isnan(value):
                continue
            if prev_row >= 0 and prev - value > tol:  # inf - inf is NaN: no change, not a decrease
                out.append(Decrease(iteration=int(its[row]), row=row, before=float(prev), after=float(value)))
            prev, prev_row = value, row
        return tuple(out)

    def is_monotone(self, tol: float = 1e-9, column: str = "objective") -> bool:
        """True when ``column`` never decreases by more than ``tol`` between consecutive finite rows
        and at least one value is finite (an all-NaN run is not a monotone run).

        Parameters
        ----------
        tol : float, default 1e-9
            Drops of at most ``tol`` are allowed (eq. (1.15) of the theory page).
        column : str, default "objective"
            The column checked.

        Returns
        -------
        bool
        """
        values = self.column(column)
        if not np.isfinite(values).any():
            return False
        return not self.decreases(tol, column)

    def largest_decrease(self, column: str = "objective") -> float:
        """The largest fall between consecutive finite rows (0.0 when none).

        Parameters
        ----------
        column : str, default "objective"
            The column checked.

        Returns
        -------
        float
            The largest drop between consecutive rows (0.0 when it never falls).
        """
        drops = [d.drop for d in self.decreases(0.0, column)]
        return max(drops) if drops else 0.0

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """Plain form for standard JSON: NaN written as None, +-inf as ``"inf"`` / ``"-inf"``.

        A non-finite float setting of :attr:`meta` is written as
        ``{"float": "inf"}`` (``"-inf"``, ``"nan"``); :meth:`from_dict` reads
        every one of these back exactly.
        """
        return to_plain(self.meta, self._columns, self._arrays)

    @classmethod
    def from_dict(cls, data: Mapping) -> "History":
        """Rebuild a History from :meth:`to_dict`'s output.

        Parameters
        ----------
        data : Mapping
            The output of :meth:`to_dict`.

        Returns
        -------
        History

        Raises
        ------
        ValueError
            If ``data`` is not such a mapping, or its ``meta`` holds a setting
            :meth:`set_meta` refuses (e.g. a ``status_code`` that is not a
            :class:`~dualgan.status.StatusCode` value; the message names the key).
        """
        return cls._from_parts(*from_plain(data))

    @classmethod
    def _from_parts(cls, meta: dict, columns: dict, arrays: dict) -> "History":
        """A History of decoded parts (both file formats): settings checked as :meth:`set_meta` does, one column length."""
        h = cls(meta=meta)
        _check_status_meta(h.meta)
        lengths = {k: len(c) for k, c in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"corrupt History: columns have different lengths {lengths}")
        h._columns, h._arrays = columns, arrays
        h._n_rows = next(iter(lengths.values())) if lengths else 0
        return h

    def save(self, path) -> Path:
        """Write to ``path``: ``.json`` (text) or ``.npz`` (numpy archive, no pickled objects).

        Parameters
        ----------
        path : str or os.PathLike
            A ``.json`` or ``.npz`` file (written atomically).

        Returns
        -------
        pathlib.Path
        """
        path = _history_path(path)
        check_writable_path(path, "path")
        # atomic: written to a temporary file in the same folder, then renamed, so a kill while
        # saving leaves the previous file intact (never a truncated one)
        if path.suffix == ".json":
            write_json(path, self.to_dict())  # standard JSON, with the SHA-256 of its canonical text
        else:
            write_npz(path, self.meta, self._columns, self._arrays)
        return path

    @classmethod
    def load(cls, path) -> "History":
        """Read a history written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        History

        Raises
        ------
        ValueError
            If the file cannot be read as a History, a column is not a flat
            list of numbers (a 2-d column, a string entry), an array's data
            does not fill its shape, or its metadata holds a setting
            :meth:`set_meta` refuses (e.g. an unknown ``status_code``); the
            message names the file and the column, array or key.
        """
        path = _history_path(path)
        clean_stale_temporaries(path)
        if path.is_dir():
            raise ValueError(f"History file {str(path)!r} is a folder; pass the file History.save wrote")
        if not path.is_file():
            raise ValueError(f"History file {str(path)!r} does not exist")
        try:
            if path.suffix == ".json":
                return cls.from_dict(read_json(path))
            return cls._from_parts(*read_npz(path))
        except (ValueError, KeyError, TypeError, EOFError, OSError, UnicodeDecodeError, AttributeError,
                zipfile.BadZipFile) as exc:
            raise ValueError(f"cannot read History file {str(path)!r} ({type(exc).__name__}: {exc}); it is "
                             f"empty, truncated or not written by History.save: restore it from a copy or "
                             f"re-run the training") from exc

    # ------------------------------------------------------------ plotting
    def plot(self, columns: Iterable[str] = ("objective",), ax=None, label: str | None = None,
             logy: bool = False, **plot_kwargs):
        """Plot columns against the iteration; returns the matplotlib Axes.

        Parameters
        ----------
        columns : iterable of str, default ("objective",)
            The columns drawn against ``iteration``.
        ax : matplotlib.axes.Axes, optional
            Where to draw. Default None: a new figure.
        label : str, optional
            Legend prefix. Default None: the column names.
        logy : bool, default False
            Log scale on the y axis.
        **plot_kwargs
            Passed to ``ax.plot``.
        """
        import matplotlib

        if ax is None:
            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 3.5))
        if isinstance(columns, str):  # one column name, not an iterable of characters
            columns = (columns,)
        columns = tuple(columns)
        its = self.iterations()
        for name in columns:
            values = self.column(name)
            lab = name if label is None else (label if len(columns) == 1 else f"{label}: {name}")
            ax.plot(its, np.abs(values) if logy else values, label=lab, **plot_kwargs)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.legend(loc="best", fontsize="small")
        return ax

    def plot_objective(self, path=None, title: str | None = None, tol: float = 1e-9,
                       gap_tol: float | None = None):
        r"""Objective and duality gap side by side, decreases beyond ``tol`` marked in red.

        The gap panel is on a log axis: recorded gaps can be exactly 0 or
        slightly negative (a few ulps of the objective) by rounding, so it
        plots :math:`\max(\mathrm{gap}, \epsilon)` with :math:`\epsilon` the
        float64 machine epsilon, and ``gap_tol`` (the solver tolerance, if
        given) as a dashed line. Writes a PNG (atomically) when ``path`` is
        given; returns the Figure.

        Parameters
        ----------
        path : str or os.PathLike, optional
            PNG to write (atomically). Default None: not saved.
        title : str, optional
            Figure title.
        tol : float, default 1e-9
            Drops larger than this are marked.
        gap_tol : float, optional
            Drawn as a line on the gap panel. Default None.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        panels = 2 if "inner_gap" in self._columns else 1
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5), squeeze=False)
        self.plot(["objective"], ax=axes[0, 0])
        bad = self.decreases(tol)
        if bad:
            rows = [d.row for d in bad]
            axes[0, 0].plot(self.iterations()[rows], self.column("objective")[rows], "rv",
                            label=f"{len(bad)} decreases > {tol:g}")
            axes[0, 0].legend(loc="best", fontsize="small")
        if panels == 2:
            plot_gap(axes[0, 1], self.iterations(), self.column("inner_gap"), gap_tol=gap_tol)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path, dpi=100)
        return fig


def plot_gap(ax, iterations, gap, gap_tol: float | None = None, label: str = "duality gap"):
    r"""Draw a duality-gap curve readable on a log axis.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    iterations, gap : array-like
        The x values and the recorded gaps. Gaps are certified to be
        :math:`\ge 0` mathematically but are computed as a difference of two
        nearly equal floats, so values of 0 or tiny negatives (rounding) occur;
        they are drawn at the float64 machine epsilon, labelled as such. NaN
        gaps stay NaN (gaps in the curve), never a finite value.
    gap_tol : float or None
        The solver's gap tolerance, drawn as a dashed horizontal line.
    label : str, default "duality gap"
        The curve's legend label (the floor at machine epsilon is appended to it).

    Returns
    -------
    matplotlib Axes
        ``ax``, drawn on.
    """
    gap = np.asarray(gap, dtype=np.float64)
    eps = float(np.finfo(np.float64).eps)
    shown = np.where(np.isnan(gap), np.nan, np.maximum(gap, eps))
    ax.semilogy(iterations, shown, label=f"{label} (values < {eps:.1e} drawn at {eps:.1e})")
    if gap_tol is not None:
        ax.axhline(float(gap_tol), color="grey", ls="--", lw=1, label=f"tolerance {float(gap_tol):g}")
    finite = shown[np.isfinite(shown)]
    top = max([float(finite.max()) if finite.size else 1.0] + ([float(gap_tol)] if gap_tol else []))
    ax.set_ylim(eps / 2, max(top * 2, eps * 10))
    ax.set_xlabel("iteration")
    ax.legend(loc="best", fontsize="small")
    return ax


def _history_path(path) -> Path:
    path = Path(path)
    if path.suffix not in (".json", ".npz"):
        raise ValueError(f"path must end in .json or .npz, got {str(path)!r}")
    return path


def _entry(store: dict, kind: str, name: str):
    """``store[name]``, or a ``ValueError`` naming the History's ``kind`` (column, array) and those it has."""
    if not isinstance(name, str) or name not in store:  # a row index or a slice is not a name (was TypeError)
        example = next(iter(store), "objective")
        hint = "" if isinstance(name, str) else f" ({kind}s are read by name, e.g. {example!r})"
        raise ValueError(f"History has no {kind} {name!r}; it has {list(store)}{hint}")
    return store[name]


def _check_status_meta(meta: Mapping) -> None:
    """A status message needs its code (a code alone is a status with an empty message)."""
    if _STATUS_MESSAGE in meta and meta.get(_STATUS_CODE) is None:
        raise ValueError(f"meta[{_STATUS_MESSAGE!r}] is set but meta[{_STATUS_CODE!r}] is not; a saved status "
                         f"needs both (set History.status = Status(code, message))")


def _check_tol(tol) -> float:
    try:
        t = float(tol)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}") from exc
    if not t >= 0 or math.isinf(t):
        raise ValueError(f"tol must be finite and >= 0, got {tol!r}")
    return t


def _to_numpy(array):
    try:
        import torch

        if isinstance(array, torch.Tensor):
            return array.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    return array
