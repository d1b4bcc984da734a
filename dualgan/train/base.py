r"""The one trainer protocol of the library: :class:`Trainer` owns the loop, a subclass writes its step.

Every trainer (the linear-discriminator trainers :class:`~dualgan.train.DualLinearGAN`
and :class:`~dualgan.train.StandardLinearGAN`, :class:`~dualgan.trust_region.TrustRegionGAN`
and :class:`~dualgan.games.trainer.GameTrainer`) is a :class:`Trainer`, registered in
:data:`TRAINERS` under a short name, and shares:

* one constructor vocabulary, keyword-only after the models: ``latent_dim``,
  ``batch_size``, ``noise`` (``"normal"`` or ``"uniform"``), ``generator_lr``,
  ``beta1``, ``generator_optimizer``, ``constraint``, ``seed`` (and
  ``discriminator_lr`` where a discriminator has a learning rate);
* one meaning of ``fit(data, iterations)``: train until ``trainer.iteration ==
  iterations``. ``iterations`` is the *total* (as ``max_steps`` in PyTorch
  Lightning, or ``epochs`` with ``initial_epoch`` in Keras), so the same script
  rerun after :meth:`Trainer.load_checkpoint` continues to the same total; a
  call with ``iterations <= trainer.iteration`` trains nothing and warns;
* one result record: ``fit`` returns the trainer's one
  :class:`~dualgan.train.History`, numbered globally (row ``k`` is iteration
  ``k`` whatever the number of ``fit`` calls), with ``history.status`` and
  :attr:`Trainer.status` (the same :class:`~dualgan.status.Status`) saying how
  the last ``fit`` ended;
* the same columns for the same quantities: ``iteration``, ``objective`` (the
  quantity the trainer reports as its progress; each trainer documents it),
  ``generator_loss`` (the loss the generator's step minimises, constraint
  penalty included, at the point where its gradient was taken), ``seconds``
  (cumulative training wall time) and, with a constraint handler,
  ``constraint_mean_violation``, ``constraint_max_violation``,
  ``constraint_penalty_weight`` and ``constraint_multiplier_k``;
* callbacks ``callback(trainer, iteration)`` after every recorded row (a
  callback may set ``trainer.should_stop = True`` to end the run with status
  ``INTERRUPTED``), a tqdm progress bar, periodic and final checkpoints written
  atomically and restored bit for bit, and the same failure semantics: a NaN or
  inf ends the run with status ``NON_FINITE`` and the last finite state kept.

Adding a trainer is writing its step::

    @TRAINERS.register("mine")
    class MyTrainer(Trainer):
        kind = "mine"

        def _step(self) -> dict | None:
            batch = self._draw(self.batch_size)
            ...  # update the models
            return {"objective": ..., "generator_loss": ...}

plus, when it keeps state of its own (a discriminator, its optimiser), the
hooks :meth:`Trainer._extra_state`, :meth:`Trainer._validate_extra_state` and
:meth:`Trainer._load_extra_state` (and :meth:`Trainer._meta` for its settings).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import inspect
import io
import json
import math
import numbers
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from .._checks import check_choice, check_int, check_number, check_positive
from .._io import atomic_path, check_writable_path, clean_stale_temporaries
from .._threads import with_thread_policy
from ..constraints.base import NoConstraint, check_handler, handler_load_state_dict, handler_state_dict
from ..registry import Registry
from ..status import Status, StatusCode
from .history import History

__all__ = ["Trainer", "TRAINERS", "CheckpointError", "SHARED_COLUMNS", "NOISES", "make_trainer", "read_checkpoint",
           "write_checkpoint", "settings_string"]

#: every registered trainer; the packages whose modules register one are imported on first use
TRAINERS = Registry("trainer", package=("dualgan.train", "dualgan.trust_region", "dualgan.games"))

#: the columns every trainer's history has (plus the constraint columns when a handler is given)
SHARED_COLUMNS = ("iteration", "objective", "generator_loss", "seconds")

#: the noise distributions of the generator's input
NOISES = ("normal", "uniform")

_CHECKPOINT_FORMAT = "dualgan.TrainerCheckpoint/1"
_CHECKPOINT_KEYS = ("format", "kind", "settings", "iteration", "elapsed", "generator", "gen_optimizer", "rng",
                    "history", "extra", "constraint", "status")
#: the first line of a checkpoint file; the second is ``sha256 <hex digest> <length>`` of the torch archive after it
_FILE_MAGIC = b"dualgan checkpoint 2\n"
_HASH_LINE = re.compile(rb"sha256 ([0-9a-f]{64}) ([0-9]{1,15})\n")
#: torch optimisers whose per-parameter state tensors have the parameter's shape (LBFGS, Adafactor do not)
_ELEMENTWISE_OPTIMIZERS = tuple(getattr(torch.optim, n) for n in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SGD",
                                                                  "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD")
                                if hasattr(torch.optim, n))


class CheckpointError(ValueError):
    """A checkpoint file that cannot be restored; the message names the file, what is wrong and what to do."""


class _NonFiniteData(Exception):
    """Raised by :meth:`Trainer._real` when a real sample holds NaN or inf (caught by :meth:`Trainer._checked_step`)."""


@dataclass(frozen=True)
class _Batch:
    real: torch.Tensor
    noise: torch.Tensor


def make_trainer(name: str, *models: nn.Module, **options) -> "Trainer":
    """Build the trainer registered as ``name`` (:data:`TRAINERS`) with its keyword-only ``options``.

    Parameters
    ----------
    name : str
        A registered trainer name (``TRAINERS.names()``), e.g. ``"dual_linear"``.
    *models : torch.nn.Module
        The positional arguments of that trainer: the generator, then its
        discriminator or feature map.
    **options
        Its keyword-only settings (``latent_dim``, ``batch_size``, ...);
        unknown names are refused.

    Returns
    -------
    Trainer
        A new trainer at iteration 0.

    Raises
    ------
    ValueError
        If ``name`` is not registered, an option is not one the trainer takes,
        or a value is out of range.
    """
    options = TRAINERS.check_options(name, options)
    return TRAINERS.get(name)(*models, **options)


class Trainer:
    """Base class of every trainer: the loop, callbacks, progress, checkpoints, status and history.

    Not used directly: a subclass implements :meth:`_step`. The parameters
    below are the shared constructor vocabulary; each subclass takes them
    keyword-only after its models.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples ``(B, ...)``; its dtype and
        device are the trainer's. Wrapped once by the constraint handler.
    latent_dim : int
        Dimension of the generator's input (>= 1).
    batch_size : int
        Real and generated samples per iteration (>= 1).
    noise : str, default "normal"
        Distribution of the generator's input: ``"normal"`` (standard normal)
        or ``"uniform"`` (on [-1, 1]).
    generator_lr : float, default 1e-3
        Adam step size of the generator (> 0); unused when
        ``generator_optimizer`` is given.
    beta1 : float, default 0.5
        Adam's first-moment decay, in [0, 1).
    generator_optimizer : callable, optional
        ``params -> torch.optim.Optimizer`` for the generator's trainable
        parameters. Default None: ``Adam(params, generator_lr, betas=(beta1, 0.999))``.
    constraint : ConstraintHandler, optional
        A handler following :class:`~dualgan.constraints.base.ConstraintHandler`
        (checked by :func:`~dualgan.constraints.base.check_handler`). Default
        None: :class:`~dualgan.constraints.base.NoConstraint`.
    seed : int, default 0
        Seeds the trainer's draws of data and noise (the models'
        initialisation is the caller's); 0 <= seed < 2**63 - 12345.

    Raises
    ------
    TypeError
        If ``generator`` is not a module, ``generator_optimizer`` is not
        callable or does not return a torch optimiser, ``constraint`` lacks
        a handler method, or the generator returns no tensor (a tuple) or
        samples of another dtype than its parameters'.
    ValueError
        If a number is out of range, ``noise`` is unknown, the generator
        has no trainable parameters, does not return one sample per noise
        row, or returns samples that do not depend on its parameters (a
        ``.detach()`` in its forward): one eval-mode forward on two noise
        vectors checks this contract at construction. Data that return
        another number of rows or another sample shape than the generator's
        are refused at the first batch of ``fit``.

    Attributes
    ----------
    iteration : int
        Iterations trained so far (rows of :attr:`history`).
    status : Status
        How the last ``fit`` ended (``RUNNING`` before the first).
    should_stop : bool
        Set by a callback to end the current ``fit`` after this iteration.
    """

    #: the name the trainer is registered under (also in its checkpoints)
    kind = "base"
    #: columns that must be finite in every recorded row (else the run ends with ``NON_FINITE``)
    _must_be_finite = ("objective",)

    def __init__(self, generator: nn.Module, *, latent_dim: int, batch_size: int, noise: str = "normal",
                 generator_lr: float = 1e-3, beta1: float = 0.5, generator_optimizer: Callable | None = None,
                 constraint=None, seed: int = 0):
        if not isinstance(generator, nn.Module):
            raise TypeError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
        self.latent_dim = check_int(latent_dim, "latent_dim", low=1)
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self.noise = check_choice(noise, "noise", NOISES)
        self.generator_lr = check_positive(generator_lr, "generator_lr")
        self.beta1 = check_number(beta1, "beta1 (Adam momentum)", low=0.0, high=1.0, high_open=True)
        if generator_optimizer is not None and not callable(generator_optimizer):
            raise TypeError(f"generator_optimizer must be a callable params -> torch.optim.Optimizer or None, got "
                            f"{type(generator_optimizer).__name__}")
        self.seed = check_int(seed, "seed", low=0, high=2 ** 63 - 1 - 12345)
        self.constraint = NoConstraint() if constraint is None else check_handler(constraint)
        self.generator = self.constraint.wrap_generator(generator)
        self._params = [p for p in self.generator.parameters() if p.requires_grad]
        if not self._params:
            raise ValueError("generator has no trainable parameters")
        self.device = self._params[0].device
        self.dtype = self._params[0].dtype
        # the generator's contract (a tensor, one sample per noise row, a function of its parameters), checked once
        self._sample_shape = _check_latent_dim(generator, self.latent_dim, self.dtype, self.device)
        self._custom_optimizer = generator_optimizer is not None
        self.gen_optimizer = self._make_generator_optimizer(generator_optimizer)
        # recorded now: an optimiser's hyperparameters may change while training (L-BFGS's lr is halved)
        self._generator_optimizer_settings = settings_string(self.gen_optimizer)
        self._rng = torch.Generator(device="cpu").manual_seed(self.seed)
        self.iteration = 0
        self.status = Status(StatusCode.RUNNING, "not started")
        self.should_stop = False
        self._elapsed = 0.0
        self._history: History | None = None
        self._sampler = None

    @property
    def history(self) -> History:
        """The trainer's one :class:`~dualgan.train.History` (row ``k`` is iteration ``k``)."""
        if self._history is None:
            self._history = History(meta=self._meta())
        return self._history

    # ------------------------------------------------------------------ fit
    @with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
    def fit(self, data, iterations: int, *, progress: bool = False, callbacks: Sequence[Callable] = (),
            checkpoint_path=None, checkpoint_every: int = 0) -> History:
        """Train until ``self.iteration == iterations`` and return the history.

        ``iterations`` is the total to reach, not a count of further
        iterations: a trainer restored by :meth:`load_checkpoint` at iteration
        ``k`` trains ``iterations - k`` more, so rerunning the same script
        continues to the same total. A call with ``iterations <=
        self.iteration`` trains nothing and emits a ``UserWarning``; it leaves
        the status ``SUCCESS`` ("already at iteration k") when the trainer had
        no final status yet (a fresh or a restored ``RUNNING`` trainer) and the
        previous final status otherwise (nothing changed).

        How a run ends is :attr:`status` (a :class:`~dualgan.status.Status`,
        also the returned history's :attr:`History.status <dualgan.train.History.status>`): ``SUCCESS`` when
        ``iterations`` is reached; ``NON_FINITE`` (``"non-finite samples at
        iteration k"`` and the like) when a NaN or inf appears: the trainer
        keeps its last finite state, which the final checkpoint holds;
        ``NUMERICAL_ERROR`` when a sub-solver fails; ``INTERRUPTED`` when a
        callback sets ``should_stop``, Ctrl-C or a ``SystemExit`` ends the run;
        ``ERROR`` when an exception ends it, or when the final checkpoint
        cannot be written: ``fit`` never ends at ``RUNNING``. An exception
        (Ctrl-C included) is re-raised after
        the checkpoint is written, unless it struck inside an iteration, where
        the last periodic checkpoint (a consistent state) is kept.

        Parameters
        ----------
        data : object, tensor, array or callable
            An object with ``sample(n, generator=...)`` (e.g.
            :func:`dualgan.data.ring`; asked for float64 samples when its
            ``sample`` takes ``dtype``), a tensor or array of samples ``(N, ...)``
            whose rows are drawn uniformly with replacement, or a callable
            ``(n, generator) -> tensor``.
        iterations : int
            The iteration to train up to (>= 0), counted from the trainer's first iteration.
        progress : bool, default False
            Show a tqdm progress bar on ``sys.stderr`` (none when ``sys.stderr``
            is None, as under ``pythonw``).
        callbacks : sequence of callable, default ()
            Each ``callback(trainer, iteration)`` runs after every recorded row
            (``iteration`` = rows so far), e.g.
            :class:`~dualgan.train.tensorboard.TensorBoardCallback`.
        checkpoint_path : str or os.PathLike, optional
            Where :meth:`save_checkpoint` writes every ``checkpoint_every``
            iterations and at the end (also after a failure); its folder is
            checked before training. Default None: no checkpoints.
        checkpoint_every : int, default 0
            Write a checkpoint when ``self.iteration`` is a multiple of this
            (0: only at the end; > 0 needs ``checkpoint_path``).

        Returns
        -------
        History
            The trainer's history (the same object as :attr:`history`).

        Raises
        ------
        ValueError
            If ``iterations`` or ``checkpoint_every`` is not a non-negative
            integer, ``checkpoint_every`` is given without ``checkpoint_path``,
            the checkpoint folder does not exist or is not writable, the
            constraint handler cannot be checkpointed, or ``data`` is neither
            a sampler, an array of finite samples nor a callable.
        TypeError
            If ``callbacks`` is not a sequence of callables.
        """
        iterations = check_int(iterations, "iterations", low=0)
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=0)
        callbacks = _check_callbacks(callbacks)
        if checkpoint_every and checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path")
        if checkpoint_path is not None:
            # checked before training: a missing folder or a handler that cannot be saved must not cost a run
            checkpoint_path = check_writable_path(checkpoint_path, "checkpoint_path")
            handler_state_dict(self.constraint)
        sampler = _make_sampler(data)
        history = self.history
        if iterations <= self.iteration:
            warnings.warn(f"{type(self).__name__} is already at iteration {self.iteration}; iterations="
                          f"{iterations} is the total to reach, not a number of further iterations, so nothing "
                          f"was trained (pass iterations > {self.iteration} to continue)", UserWarning, stacklevel=3)
            if self.status.code is StatusCode.RUNNING:  # nothing to train is a finished fit; a final status stays
                self.status = Status(StatusCode.SUCCESS, f"already at iteration {self.iteration}")
                history.status = self.status
            return history
        self._sampler = sampler
        self.should_stop = False
        self.status = Status(StatusCode.RUNNING, f"running from iteration {self.iteration}")
        bar = None
        raised, mid_iteration = None, False
        try:  # from here on, every way out of fit leaves a final status (never RUNNING)
            if progress:
                bar = _progress_bar(iterations, self.iteration, self.kind)
            while self.iteration < iterations:
                t0 = time.perf_counter()
                mid_iteration = True  # an exception inside an iteration leaves a half-updated trainer
                row = self._checked_step()
                mid_iteration = False
                self._elapsed += time.perf_counter() - t0
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
                    bar.set_postfix(objective=f"{row['objective']:.6g}")
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
            self._sampler = None
        history.status = self.status
        if checkpoint_path is not None and not (raised is not None and mid_iteration):
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

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` generated samples without graph, from noise of a separate generator (training is unaffected).

        The generator runs in the mode it is in (BatchNorm in training mode
        normalises with the statistics of these ``n`` samples), but its buffers
        (running statistics, spectral-norm vectors) are put back afterwards
        (eq. (7.2) of the theory page), so sampling in the middle of a run
        changes nothing of the run.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        seed : int, optional
            Seed of the noise. Default None: ``self.seed + 12345``.

        Returns
        -------
        torch.Tensor
            Shape ``(n, ...)``, the generator's dtype and device.

        Raises
        ------
        ValueError
            If ``n`` is not a positive integer or ``seed`` is negative.
        """
        n = check_int(n, "n", low=1)
        seed = self.seed + 12345 if seed is None else check_int(seed, "seed", low=0)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        from .._modes import fixed_within_step

        with torch.no_grad(), fixed_within_step(self.generator):
            return self.generator(self._noise(n, gen))

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "format": _CHECKPOINT_FORMAT,
            "kind": self.kind,
            "settings": self._meta(),
            "iteration": self.iteration,
            "elapsed": self._elapsed,
            "generator": {k: v.detach().clone() for k, v in self.generator.state_dict().items()},
            "gen_optimizer": None if self.gen_optimizer is None else copy.deepcopy(self.gen_optimizer.state_dict()),
            "rng": self._rng.get_state(),
            "history": self.history.to_dict(),
            "extra": self._extra_state(),
            "constraint": handler_state_dict(self.constraint),
            "status": self.status.to_pair(),
        }

    def save_checkpoint(self, path) -> Path:
        """Write everything needed to continue bit for bit, atomically (temporary file, then rename).

        The file holds the generator's parameters and buffers, its optimiser's
        state, the random generator of the data and noise draws, the history,
        the constraint handler's state, the status and the trainer's own state
        (its discriminator, optimisers, dual variables, ...), under a SHA-256
        of its content (:func:`write_checkpoint`). A kill while saving leaves
        the previous checkpoint intact; the temporary file it leaves is removed
        by the next save or load of that path.

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
            If the folder does not exist or is not writable, or the constraint
            handler has no ``state_dict``.
        OSError
            If writing fails (a full disk, a folder made read-only meanwhile);
            the message names ``path``, which keeps its previous content.
        """
        path = check_writable_path(path, "path")
        return write_checkpoint(path, self._state())

    def load_checkpoint(self, path) -> "Trainer":
        """Restore a checkpoint written by a trainer of the same class and settings; returns ``self``.

        Everything is validated before the trainer changes (the file's
        SHA-256, format, keys, kind, settings, generator architecture,
        optimiser state shapes against the parameters, the history's columns
        and length against the iteration, the handler's and the trainer's own
        state); if restoring still fails half-way, the previous state is put back.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save_checkpoint`.

        Returns
        -------
        Trainer
            ``self``, restored; :meth:`fit` continues from its iteration.

        Raises
        ------
        CheckpointError
            (a ``ValueError``) naming the file, what is wrong and what to do.
        """
        payload = read_checkpoint(path, self.device)
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
                                  f"trainer is unchanged") from exc
        return self

    def _validate_checkpoint(self, payload) -> None:
        if not isinstance(payload, dict) or payload.get("format") != _CHECKPOINT_FORMAT:
            got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise CheckpointError(f"not a {_CHECKPOINT_FORMAT} checkpoint (format {got!r}); it was written by "
                                  f"another program or another version of dualgan")
        missing = [k for k in _CHECKPOINT_KEYS if k not in payload]
        if missing:
            raise CheckpointError(f"the checkpoint is missing {missing}; it is incomplete: use an earlier copy")
        if payload["kind"] != self.kind:
            raise CheckpointError(f"it is a checkpoint of a {payload['kind']!r} trainer, not of a "
                                  f"{type(self).__name__} ({self.kind!r})")
        settings = payload["settings"]
        if not isinstance(settings, dict):
            raise CheckpointError(f"its settings are {type(settings).__name__}, not a dict")
        for key, value in self._meta().items():
            if settings.get(key) != value:
                raise CheckpointError(f"it was written with {key}={settings.get(key)!r} but this trainer has "
                                      f"{key}={value!r}; construct the trainer with the checkpoint's settings")
        history = History.from_dict(payload["history"])
        self._check_history_columns(history)
        _check_module_state("generator", self.generator, payload["generator"])
        iteration = payload["iteration"]
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise CheckpointError(f"its iteration {iteration!r} is not a non-negative integer")
        if len(history) != iteration:
            raise CheckpointError(f"it claims iteration {iteration} but holds {len(history)} history rows; the "
                                  f"file is inconsistent: use an earlier copy")
        elapsed = payload["elapsed"]
        if not isinstance(elapsed, float) or not elapsed >= 0:
            raise CheckpointError(f"its elapsed time {elapsed!r} is not a number >= 0")
        rng = payload["rng"]
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.shape != self._rng.get_state().shape:
            raise CheckpointError("its random generator state is not a CPU torch.Generator state")
        _check_optimizer_state("generator optimiser", self.gen_optimizer, payload["gen_optimizer"])
        Status.from_pair(payload["status"])
        extra = payload["extra"]
        if not isinstance(extra, dict):
            raise CheckpointError(f"its trainer-specific state is {type(extra).__name__}, not a dict")
        self._validate_extra_state(extra)
        trial = copy.deepcopy(self.constraint)  # a bad handler state fails before the trainer changes
        try:
            handler_load_state_dict(trial, payload["constraint"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"its constraint handler state does not fit this "
                                  f"{type(self.constraint).__name__}: {exc}") from exc

    def _check_history_columns(self, history: History) -> None:
        """A history with rows has every column each row of this trainer gets (an edited file loses none)."""
        if not len(history):
            return
        required = list(SHARED_COLUMNS) + [c for c in self._must_be_finite if c not in SHARED_COLUMNS]
        if not isinstance(self.constraint, NoConstraint):
            required += ["constraint_mean_violation", "constraint_max_violation", "constraint_penalty_weight"]
        missing = [c for c in required if c not in history.columns]
        if missing:
            raise CheckpointError(f"its history lacks the column(s) {missing}, which every row of a "
                                  f"{type(self).__name__} has; the file was edited or damaged: use an earlier copy")

    def _apply_state(self, payload: dict) -> None:
        self.generator.load_state_dict(payload["generator"])
        if self.gen_optimizer is not None:
            self.gen_optimizer.load_state_dict(payload["gen_optimizer"])
        self._rng.set_state(payload["rng"])
        self.iteration = int(payload["iteration"])
        self._elapsed = float(payload["elapsed"])
        self._history = History.from_dict(payload["history"])
        self._load_extra_state(payload["extra"])
        handler_load_state_dict(self.constraint, payload["constraint"])
        self.status = Status.from_pair(payload["status"])
        if self.status.code is StatusCode.RUNNING:
            self.status = Status(StatusCode.RUNNING, f"resumed at iteration {self.iteration}")

    # ------------------------------------------------------------------ hooks of subclasses
    def _step(self) -> dict | None:  # pragma: no cover - abstract
        """One iteration: update the models and return the history row (without ``iteration`` and ``seconds``).

        Return None after setting :attr:`status` (``NON_FINITE``,
        ``NUMERICAL_ERROR``) when the iteration cannot be completed; the models
        must then hold their last finite state.
        """
        raise NotImplementedError

    def _final_status(self, iterations: int) -> Status:
        """The status of a fit that ran every iteration: ``SUCCESS``, unless the subclass knows its training stalled."""
        return Status(StatusCode.SUCCESS, f"reached iteration {iterations}")

    def _undo_step(self) -> None:
        """Put back the state before the last :meth:`_step` when its row is not finite (default: nothing)."""

    def _meta(self) -> dict:
        """The settings a checkpoint must match (JSON scalars); subclasses add theirs."""
        return {"trainer": type(self).__name__, "kind": self.kind, "latent_dim": self.latent_dim,
                "batch_size": self.batch_size, "noise": self.noise,
                "generator_lr": None if self._custom_optimizer else self.generator_lr,
                "beta1": None if self._custom_optimizer else self.beta1,
                "generator_optimizer": self._generator_optimizer_settings,
                "seed": self.seed, "constraint": type(self.constraint).__name__}

    def _extra_state(self) -> dict:
        """The subclass's own state for a checkpoint (tensors, numbers, strings and containers only)."""
        return {}

    def _validate_extra_state(self, extra: dict) -> None:
        """Raise :class:`CheckpointError` if ``extra`` cannot be loaded by :meth:`_load_extra_state`."""

    def _load_extra_state(self, extra: dict) -> None:
        """Restore :meth:`_extra_state`'s output (already validated)."""

    def _make_generator_optimizer(self, factory):
        """The generator's torch optimiser: ``factory(params)`` or Adam(generator_lr, (beta1, 0.999))."""
        if factory is None:
            return torch.optim.Adam(self._params, lr=self.generator_lr, betas=(self.beta1, 0.999))
        opt = factory(self._params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"generator_optimizer must return a torch.optim.Optimizer, got {type(opt).__name__}")
        return opt

    # ------------------------------------------------------------------ helpers of subclasses
    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` noise vectors ``(n, latent_dim)`` drawn in float64 from ``gen``, in the generator's dtype."""
        if self.noise == "normal":
            z = torch.randn(n, self.latent_dim, generator=gen, dtype=torch.float64)
        else:
            z = 2 * torch.rand(n, self.latent_dim, generator=gen, dtype=torch.float64) - 1
        return z.to(dtype=self.dtype, device=self.device)

    def _real(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """``n`` real samples from the data of the current :meth:`fit`, in the generator's dtype and device.

        The one place every trainer's real samples come from, so the one check
        of them: a NaN or inf raises :class:`_NonFiniteData`, which
        :meth:`_checked_step` turns into the status ``NON_FINITE`` ("non-finite
        data samples at iteration k"); samples are drawn before any update, so
        the models keep their last finite state.
        """
        real = self._sampler(n, self._rng if gen is None else gen)
        if not isinstance(real, torch.Tensor) and not hasattr(real, "__array__"):
            raise TypeError(f"the data returned a {type(real).__name__} for a batch of {n} samples; it must return "
                            f"a tensor or array of shape ({n}, ...)")
        real = torch.as_tensor(real).detach()  # data are constants of the step, never part of its graph
        if real.ndim < 1 or real.shape[0] != n or tuple(real.shape[1:]) != self._sample_shape:
            # every batch: a sampler that returns n - 1 rows would silently train on a smaller batch
            raise ValueError(f"the data returned samples of shape {tuple(real.shape)} for a batch of {n}, but the "
                             f"trainer needs ({n}, {', '.join(map(str, self._sample_shape))}): {n} rows (batch_size) "
                             f"shaped like the generator's output {self._sample_shape}; make the data return exactly "
                             f"n samples of the generator's sample shape")
        if real.is_complex() or not (real.is_floating_point() or real.dtype in _EXACT_INTEGER_DTYPES):
            raise TypeError(f"the data returned samples of dtype {real.dtype}; return real floating-point samples")
        real = real.to(dtype=self.dtype, device=self.device)
        if not bool(torch.isfinite(real).all()):
            raise _NonFiniteData
        return real

    def _checked_step(self) -> dict | None:
        """:meth:`_step`, with non-finite real data ending the run as ``NON_FINITE`` (see :meth:`_real`)."""
        try:
            return self._step()
        except _NonFiniteData:
            self._non_finite("data samples")
            return None

    def _draw(self, n: int) -> _Batch:
        """A batch of ``n`` real samples and ``n`` noise vectors, both from the trainer's random generator."""
        real = self._real(n)
        return _Batch(real, self._noise(n, self._rng))

    def _constraint_columns(self, samples: torch.Tensor) -> dict:
        """The constraint columns of a history row (none without a constraint handler)."""
        if isinstance(self.constraint, NoConstraint):
            return {}
        state = self.constraint.state(samples.detach())
        row = {"constraint_mean_violation": state.mean_violation, "constraint_max_violation": state.max_violation,
               "constraint_penalty_weight": state.penalty_weight}
        for k, mu in enumerate(state.multipliers[:8]):
            row[f"constraint_multiplier_{k}"] = mu
        return row

    def _generator_grads(self, loss: torch.Tensor) -> None:
        """Set ``p.grad`` of the generator's parameters to d loss / d p, and nothing else.

        ``torch.autograd.grad`` instead of ``backward()``: a trainable feature
        map or discriminator the loss depends on keeps its ``.grad`` untouched.
        """
        grads = torch.autograd.grad(loss, self._params, allow_unused=True)
        for p, g in zip(self._params, grads):
            p.grad = torch.zeros_like(p) if g is None else g

    def _grad_norm(self) -> float:
        return math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))

    def _non_finite(self, what: str) -> None:
        self.status = Status(StatusCode.NON_FINITE, f"non-finite {what} at iteration {self.iteration}")


#: integer sample dtypes that the generator's floating dtype holds exactly (pixel values, counts)
_EXACT_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)


def _check_latent_dim(generator: nn.Module, latent_dim: int, dtype, device) -> tuple:
    """One forward of ``generator`` on two zero noise vectors, in eval mode (no batch-norm statistics move).

    A ``latent_dim`` that does not fit the generator's input fails here with a
    ValueError naming it, not as a raw torch error inside ``fit``; so does a
    generator that breaks the contract every trainer relies on: it must return
    a tensor (not a tuple), one sample per noise row, in a floating dtype, and
    its samples must depend on its trainable parameters (a ``.detach()`` in
    ``forward`` would leave the generator untrained while a run reports
    success). Returns the shape of one sample.
    """
    from .._modes import eval_mode

    with eval_mode(generator), torch.enable_grad():
        try:
            out = generator(torch.zeros(2, latent_dim, dtype=dtype, device=device))
        except RuntimeError as exc:
            raise ValueError(f"latent_dim={latent_dim} does not fit the generator: its forward on noise of shape "
                             f"(2, {latent_dim}) failed ({exc}); pass the generator's input dimension as "
                             f"latent_dim") from exc
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the generator must return a tensor of samples (B, ...), but it returned a "
                        f"{type(out).__name__} for noise of shape (2, {latent_dim}); return the samples alone "
                        f"(e.g. the first element of the tuple)")
    if out.ndim < 1 or out.shape[0] != 2:
        raise ValueError(f"the generator must return one sample per noise row, but it returned shape "
                         f"{tuple(out.shape)} for noise of shape (2, {latent_dim}); return a (B, ...) tensor "
                         f"with B the number of noise rows")
    if out.dtype != dtype:
        raise TypeError(f"the generator returned samples of dtype {out.dtype} but its parameters are {dtype}; "
                        f"return samples in the parameters' dtype (no .float() / .double() in its forward), or "
                        f"convert the generator with generator.to({out.dtype})")
    if not out.requires_grad:
        raise ValueError("the generator's samples do not depend on its trainable parameters (no autograd graph: "
                         "a .detach(), torch.no_grad() or .data in its forward?); the trainer could not change "
                         "them. Return samples computed from the parameters without detaching them")
    return tuple(out.shape[1:])


def _check_discriminator(discriminator: nn.Module, generator: nn.Module, latent_dim: int, dtype, device) -> None:
    """One eval-mode forward of ``discriminator`` on two generated samples: it must give one score per sample.

    A discriminator with two outputs per sample (``nn.Linear(d, 2)``) would
    otherwise be read as twice as many scores, and a dtype that differs from
    the generator's fails here with the fix instead of inside ``fit``.
    """
    from .._modes import eval_mode

    params = [p for p in discriminator.parameters() if p.is_floating_point()]
    if params and params[0].dtype != dtype:
        raise TypeError(f"the discriminator's parameters are {params[0].dtype} but the generator's samples are "
                        f"{dtype}; convert one of them (e.g. discriminator.to({dtype}) or generator.to("
                        f"{params[0].dtype}))")
    with eval_mode(generator, discriminator), torch.no_grad():
        samples = generator(torch.zeros(2, latent_dim, dtype=dtype, device=device))
        scores = discriminator(samples)
    if not isinstance(scores, torch.Tensor) or scores.numel() != 2 or scores.shape[0] != 2:
        raise ValueError(f"the discriminator must return one score per sample, shape (B,) or (B, 1), but it "
                         f"returned {tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__} for 2 samples of shape "
                         f"{tuple(samples.shape[1:])}; give it a single output (e.g. nn.Linear(k, 1) as its last layer)")


# ---------------------------------------------------------------------- settings
def settings_string(obj) -> str:
    """A canonical JSON text of an object's settings, for a checkpoint's settings check.

    Numbers, strings and None are themselves; sequences and mappings are
    converted entry by entry; a torch optimiser is its class and its
    hyperparameters (every ``param_groups`` entry but ``params``); a
    ``torch.Generator`` is its initial seed; a tensor its values (or, above
    64 entries, a SHA-256 of its bytes); any other object its class and its
    public attributes (a dataclass: its fields). Two objects with equal
    settings strings steer a trainer alike.

    Parameters
    ----------
    obj : object
        The setting (an optimiser, a radius policy, a regulariser, a dict of options, ...).

    Returns
    -------
    str
        ``json.dumps`` of the converted object with sorted keys.
    """
    return json.dumps(_settings_of(obj, 0), sort_keys=True)


def _settings_of(obj, depth: int):
    if depth > 8:
        return repr(obj)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        v = float(obj)
        return v if math.isfinite(v) else repr(v)  # JSON has no inf or NaN
    if isinstance(obj, (list, tuple)):
        return [_settings_of(o, depth + 1) for o in obj]
    if isinstance(obj, Mapping):
        return {str(k): _settings_of(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, torch.Generator):
        return f"torch.Generator(initial_seed={obj.initial_seed()})"
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        if t.numel() <= 64:
            return {"tensor": _settings_of(t.tolist(), depth + 1), "dtype": str(t.dtype)}
        return {"tensor_sha256": hashlib.sha256(t.view(torch.uint8).numpy().tobytes()).hexdigest(),
                "shape": list(t.shape), "dtype": str(t.dtype)}
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if isinstance(obj, torch.optim.Optimizer):
        groups = [{k: v for k, v in g.items() if k != "params"} for g in obj.param_groups]
        return {"class": name, "param_groups": _settings_of(groups, depth + 1)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif hasattr(obj, "__dict__"):
        fields = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    else:
        return repr(obj)
    return {"class": name, **{k: _settings_of(v, depth + 1) for k, v in fields.items()}}


# ---------------------------------------------------------------------- sampling
def _make_sampler(data) -> Callable[[int, torch.Generator], torch.Tensor]:
    if hasattr(data, "sample") and callable(data.sample):
        try:
            takes_dtype = "dtype" in inspect.signature(data.sample).parameters
        except (TypeError, ValueError):
            takes_dtype = False
        if takes_dtype:
            return lambda n, gen: data.sample(n, generator=gen, dtype=torch.float64)
        return lambda n, gen: data.sample(n, generator=gen)
    if isinstance(data, torch.Tensor) or hasattr(data, "__array__"):
        table = data if isinstance(data, torch.Tensor) else torch.as_tensor(data)
        if table.ndim < 2 or table.shape[0] < 1:
            raise ValueError(f"data given as an array must have shape (N, ...) with N >= 1, got {tuple(table.shape)}")
        if not bool(torch.isfinite(table).all()):
            raise ValueError("data contains NaN or inf; clean the data set first")
        table = table.detach()

        def draw(n, gen):
            return table[torch.randint(table.shape[0], (n,), generator=gen).to(table.device)]

        draw.rows = table  # the table itself: a fixed batch is drawn from it without replacement
        return draw
    if callable(data):
        return lambda n, gen: data(n, gen)
    raise ValueError(f"data must have a sample(n, generator=...) method (e.g. dualgan.data.ring(5)), be an array "
                     f"of samples or a callable (n, generator) -> tensor; got {type(data).__name__}")


def _progress_bar(total: int, initial: int, desc: str):
    """A tqdm bar on stderr, or None when there is no stderr to draw on (``sys.stderr`` None, e.g. pythonw)."""
    if sys.stderr is None:
        return None
    from .._io import progress_bar

    return progress_bar(total=total, initial=initial, desc=desc, leave=False)


def _check_callbacks(callbacks) -> list:
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a sequence of callables (trainer, iteration), got "
                        f"{type(callbacks).__name__}; pass one callback as callbacks=[cb]")
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"every entry of callbacks must be a callable (trainer, iteration), got "
                            f"{type(cb).__name__}")
    return list(callbacks)


# ---------------------------------------------------------------------- checkpoints
def _check_module_state(name: str, module: nn.Module, saved) -> None:
    own = module.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(own):
        got = sorted(saved)[:6] if isinstance(saved, dict) else type(saved).__name__
        raise CheckpointError(f"its {name} has other parameters ({got}...) than this one ({sorted(own)[:6]}...); "
                              f"construct the trainer with the checkpoint's {name} architecture")
    for k, v in own.items():
        s = saved[k]
        if not isinstance(s, torch.Tensor) or s.shape != v.shape or s.dtype != v.dtype:
            raise CheckpointError(f"{name} parameter {k!r} is {getattr(s, 'shape', s)} ({getattr(s, 'dtype', '')}) "
                                  f"in the checkpoint but {tuple(v.shape)} ({v.dtype}) here; construct the trainer "
                                  f"with the checkpoint's {name} architecture")


def _check_optimizer_state(name: str, optimizer, saved) -> None:
    if optimizer is None:
        if saved is not None:
            raise CheckpointError(f"it holds a {name} state but this trainer has none")
        return
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    own = optimizer.state_dict()
    own_groups = own["param_groups"]
    if (not isinstance(groups, list) or len(groups) != len(own_groups)
            or any(not isinstance(g, dict) or not isinstance(g.get("params"), list)
                   or len(g["params"]) != len(o["params"]) for g, o in zip(groups, own_groups))):
        raise CheckpointError(f"its {name} state does not match this trainer's {type(optimizer).__name__} over "
                              f"{sum(len(o['params']) for o in own_groups)} tensors")
    _check_optimizer_tensors(name, optimizer, own, groups, saved.get("state"))


def _check_game_optimizer_state(name: str, game_optimizer, parameters, saved) -> None:
    """A game optimiser's saved state (``{"iteration", "lr", "base", "extra"}``) fits ``parameters``.

    Its base optimiser's moments are checked against an optimiser of the same
    kind built over zero tensors shaped like ``parameters`` (nothing of the
    game or of ``game_optimizer`` changes), so that a state of the wrong shape
    is refused here rather than failing inside torch at the next step.
    """
    if not isinstance(saved, dict) or set(saved) != {"iteration", "lr", "base", "extra"}:
        raise CheckpointError(f"its {name} state is not a {type(game_optimizer).__name__} state")
    if saved["base"] is None:
        return
    from ..games.optimizers.base import make_base_optimizer

    trial = make_base_optimizer(game_optimizer.base, [torch.zeros_like(q, requires_grad=True) for q in parameters],
                                game_optimizer.lr, game_optimizer.base_kwargs)
    _check_optimizer_state(f"{name}'s base optimiser", trial, saved["base"])


def _check_optimizer_tensors(name: str, optimizer, own: dict, groups: list, state) -> None:
    """Every per-parameter state tensor has the shape torch will use it with (else ``fit`` fails in torch)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"its {name} state has no per-parameter 'state' dict (got {type(state).__name__})")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    saved_ids = [i for g in groups for i in g["params"]]
    position = {i: k for k, i in enumerate(saved_ids)}
    own_ids = [i for g in own["param_groups"] for i in g["params"]]
    elementwise = isinstance(optimizer, _ELEMENTWISE_OPTIMIZERS)
    for key, entry in state.items():
        if key not in position:
            raise CheckpointError(f"its {name} state holds an entry for parameter {key!r}, which none of its "
                                  f"parameter groups lists; the file is inconsistent: use an earlier copy")
        if not isinstance(entry, dict):
            raise CheckpointError(f"its {name} state of parameter {position[key]} is {type(entry).__name__}, not a dict")
        k = position[key]
        param = params[k]
        own_entry = own["state"].get(own_ids[k], {})
        for field, value in entry.items():
            if not isinstance(value, torch.Tensor) or value.ndim == 0:
                continue
            if elementwise:
                expected = tuple(param.shape)
            elif isinstance(own_entry.get(field), torch.Tensor):
                expected = tuple(own_entry[field].shape)
            else:
                continue
            if tuple(value.shape) != expected:
                raise CheckpointError(f"its {name} state {field!r} of parameter {k} has shape {tuple(value.shape)}, "
                                      f"but this {type(optimizer).__name__} needs {expected} (the parameter is "
                                      f"{tuple(param.shape)}); the file is inconsistent: use an earlier copy")


def write_checkpoint(path, payload) -> Path:
    """Write ``payload`` as a checkpoint file: a header with the SHA-256 of its content, then a torch archive.

    The file is ``dualgan checkpoint 2``, a line ``sha256 <hex digest>
    <length>``, then the bytes of ``torch.save(payload)``; it is written
    atomically (a temporary file, then a rename). :func:`read_checkpoint`
    checks the digest and the length before anything is unpickled, so any
    change of the file after it was written (a flipped bit, a zeroed block,
    a truncation) is refused instead of loaded.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    payload : dict
        Tensors, numbers, strings and containers only (what
        ``torch.load(weights_only=True)`` reads back).

    Returns
    -------
    pathlib.Path
        ``Path(path)``.

    Raises
    ------
    OSError
        If the file cannot be written (a full disk, a read-only folder); the
        message names ``path``, which keeps its previous content.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)  # in memory: a full disk is an OSError of the write below, not a torch error
    body = buffer.getbuffer()
    header = _FILE_MAGIC + f"sha256 {hashlib.sha256(body).hexdigest()} {len(body)}\n".encode("ascii")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(body)
    return Path(path)


def read_checkpoint(path, device=None):
    """Read a checkpoint file: check its SHA-256, then ``torch.load(weights_only=True)``; every failure a :class:`CheckpointError`.

    A file of :func:`write_checkpoint` is refused when its content does not
    match the digest in its header (a flipped bit, a zeroed block, a
    truncation), before anything is unpickled. A bare torch archive (written
    before checkpoints carried a digest) is read with a warning that damage
    to it cannot be detected. Stale temporaries of killed saves of ``path``
    are removed (:func:`dualgan._io.clean_stale_temporaries`).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    device : torch.device or str, optional
        Where tensors are mapped. Default None: where they were saved.

    Returns
    -------
    object
        The saved payload (tensors, numbers, strings and containers only).

    Raises
    ------
    CheckpointError
        If the file does not exist, is empty, truncated or corrupt (its
        content does not match its SHA-256), or holds objects other than
        tensors and plain data (refused: loading them could run code).
    """
    import pickle
    import zipfile

    where = str(path)
    p = Path(path)
    clean_stale_temporaries(p)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {where!r} does not exist (or is not a file); check the path")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {where!r} cannot be read ({exc}); check its permissions") from exc
    if not data:
        raise CheckpointError(f"checkpoint {where!r} is empty (0 bytes), e.g. from a process killed while writing "
                              f"it with an older version; use an earlier copy or train from the start")
    body = _verified_body(data, where)
    try:
        # weights_only=True: tensors, numbers, strings and containers only; never arbitrary objects
        return torch.load(io.BytesIO(body), map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"checkpoint {where!r} holds objects other than tensors and plain data, or is not a "
                              f"checkpoint at all; it is refused (loading it could run arbitrary code): use a "
                              f"checkpoint written by save_checkpoint") from exc
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError, IndexError,
            AttributeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {where!r} cannot be read ({type(exc).__name__}: {exc}); it is "
                              f"truncated or corrupt: use an earlier copy or train from the start") from exc


def _verified_body(data: bytes, where: str):
    """The torch archive of a checkpoint file, after its length and SHA-256 are checked against its header."""
    if not data.startswith(_FILE_MAGIC):
        if data.startswith(b"PK\x03\x04"):  # a bare torch archive: a checkpoint of an older version
            warnings.warn(f"checkpoint {where!r} has no content digest (written by an older version of dualgan), so "
                          f"damage to it cannot be detected; save it again to add one", UserWarning, stacklevel=4)
            return data
        raise CheckpointError(f"checkpoint {where!r} is not a checkpoint written by dualgan (it does not start with the "
                              f"line {_FILE_MAGIC.decode().strip()!r}), or it is corrupt there; use a file written "
                              f"by save_checkpoint, or an earlier copy")
    end = data.find(b"\n", len(_FILE_MAGIC), len(_FILE_MAGIC) + 100)
    match = _HASH_LINE.fullmatch(data, len(_FILE_MAGIC), end + 1) if end >= 0 else None
    if match is None:
        raise CheckpointError(f"checkpoint {where!r} is truncated or corrupt: its digest line is damaged; use an "
                              f"earlier copy or train from the start")
    body = memoryview(data)[end + 1:]
    if len(body) != int(match.group(2)):
        raise CheckpointError(f"checkpoint {where!r} is truncated or corrupt: it holds {len(body)} bytes after its "
                              f"header, which says {int(match.group(2))}; use an earlier copy or train from the start")
    if hashlib.sha256(body).hexdigest() != match.group(1).decode("ascii"):
        raise CheckpointError(f"checkpoint {where!r} is truncated or corrupt: its content does not match the SHA-256 "
                              f"in its header (changed after it was written, e.g. a flipped bit or a damaged block); "
                              f"nothing was loaded: use an earlier copy or train from the start")
    return body
