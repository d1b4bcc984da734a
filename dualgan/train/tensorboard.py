"""TensorBoard logging of a trainer's :class:`~dualgan.train.History`, one scalar per column.

:class:`TensorBoardCallback` is a ``callback(trainer, iteration)`` for every
trainer's ``fit(..., callbacks=[tb])`` (every :class:`~dualgan.train.base.Trainer`
of :data:`~dualgan.train.base.TRAINERS`): after each iteration it writes
the history's newest row with ``torch.utils.tensorboard.SummaryWriter``, the
tag of each scalar being the History's column name (``objective``, ``inner_gap``,
``lambda_mean``, ``rho``, ...) and its step the row's ``iteration``.
:func:`write_history` writes a whole saved or finished History the same way.

TensorBoard is an optional extra: ``pip install 'dualgan[tensorboard]'``.
TensorBoard stores scalars as float32, so a value read back equals the
History's float64 value rounded to float32. NaN entries (a column a trainer
did not report in that row) are not written.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .._numbers import check_int
from .history import History

__all__ = ["TensorBoardCallback", "write_history"]

_MISSING = ("TensorBoard logging needs the optional dependency tensorboard: pip install 'dualgan[tensorboard]' "
            "(or pip install tensorboard)")


def _summary_writer(log_dir, **kwargs):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises ImportError when the tensorboard package is absent
        raise ImportError(_MISSING) from exc
    return SummaryWriter(log_dir=str(log_dir), **kwargs)


class TensorBoardCallback:
    """Write each new History row of a trainer to TensorBoard, tags = column names.

    Parameters
    ----------
    log_dir : str or path-like
        Folder of the event file (created if missing); point ``tensorboard
        --logdir`` at it or at its parent.
    prefix : str, default=""
        Prepended to every tag (``prefix + column``), e.g. ``"dual/"`` to keep
        two trainers apart in one log folder.
    flush_every : int, default=1
        Flush the event file every this many rows (>= 1), so a running
        TensorBoard sees each iteration; :meth:`close` flushes the rest.

    Raises
    ------
    ImportError
        When the ``tensorboard`` package is not installed (names the extra).
    ValueError
        For a non-string ``prefix`` or ``flush_every < 1``.

    Examples
    --------
    >>> import tempfile, torch
    >>> from dualgan.data import ring
    >>> from dualgan.features import RBF
    >>> from dualgan.train import DualLinearGAN, mlp_generator
    >>> from dualgan.train.tensorboard import TensorBoardCallback
    >>> data = ring(5)
    >>> gan = DualLinearGAN(mlp_generator(dtype=torch.float64), RBF(data.sample(20), sigma=0.5),
    ...                     latent_dim=2, batch_size=20)
    >>> with TensorBoardCallback(tempfile.mkdtemp()) as tb:
    ...     history = gan.fit(data, iterations=5, callbacks=[tb])
    """

    def __init__(self, log_dir, *, prefix: str = "", flush_every: int = 1):
        if not isinstance(prefix, str):
            raise ValueError(f"prefix must be a string (e.g. 'dual/'), got {prefix!r}")
        self.log_dir = Path(log_dir)
        self.prefix = prefix
        self.flush_every = check_int(flush_every, "flush_every", low=1)
        self.writer = _summary_writer(self.log_dir)
        self._written: dict[int, int] = {}  # id(history) -> rows already written
        self._since_flush = 0
        self._meta_written = False

    def __call__(self, trainer, iteration: int) -> None:
        """Write the rows of ``trainer.history`` not yet written (normally its newest one)."""
        history = getattr(trainer, "history", None)
        if not isinstance(history, History):
            raise ValueError(f"TensorBoardCallback needs a trainer with a dualgan History in .history, got "
                             f"{type(trainer).__name__} with {type(history).__name__}")
        self.write(history)

    def write(self, history: History) -> int:
        """Write the rows of ``history`` added since the last call with it; returns how many were written.

        Parameters
        ----------
        history : History
            The history whose new rows are written.

        Returns
        -------
        int
        """
        if not self._meta_written and history.meta:
            self.writer.add_text(f"{self.prefix}meta", json.dumps(history.meta, sort_keys=True), 0)
            self._meta_written = True
        start = self._written.get(id(history), 0)
        n = len(history)
        if n > start:
            columns = {name: history.column(name) for name in history.columns}
            steps = history.iterations()
            for row in range(start, n):
                step = int(steps[row]) if math.isfinite(steps[row]) else row
                for name, values in columns.items():
                    if name == "iteration" or not math.isfinite(values[row]):
                        continue
                    self.writer.add_scalar(self.prefix + name, float(values[row]), step)
            self._written[id(history)] = n
            self._since_flush += n - start
            if self._since_flush >= self.flush_every:
                self.writer.flush()
                self._since_flush = 0
        return n - start

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

    def __enter__(self) -> "TensorBoardCallback":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_history(history: History, log_dir, *, prefix: str = "") -> Path:
    """Write every row of a finished or loaded History to a new event file in ``log_dir``.

    Parameters
    ----------
    history : History
        E.g. the return value of a trainer's ``fit`` or ``History.load(path)``.
    log_dir : str or path-like
        Folder of the event file.
    prefix : str, default=""
        Prepended to every tag.

    Returns
    -------
    pathlib.Path
        ``log_dir``.

    Raises
    ------
    ImportError
        When the ``tensorboard`` package is not installed.
    ValueError
        When ``history`` is not a :class:`~dualgan.train.History`.
    """
    if not isinstance(history, History):
        raise ValueError(f"history must be a dualgan.train.History, got {type(history).__name__}")
    with TensorBoardCallback(log_dir, prefix=prefix) as tb:
        tb.write(history)
    return Path(log_dir)
