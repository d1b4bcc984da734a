r"""The one trainer protocol of the library: :class:`Trainer` runs the one loop, a subclass writes its step.

``fit`` is the library's one loop (:class:`~dualgan.train.loop.Loop`, shared
with the game runs of :mod:`dualgan.games`); a trainer adds the data, the
generator's contract and its parts (generator, its optimiser, the random
generator, the constraint handler and its own state) to the checkpoint.

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
  rerun after :meth:`Trainer.load_checkpoint <dualgan.train.loop.Loop.load_checkpoint>` continues to the same total; a
  call with ``iterations <= trainer.iteration`` trains nothing and warns;
* one result record: ``fit`` returns the trainer's one
  :class:`~dualgan.train.History`, numbered globally (row ``k`` is iteration
  ``k`` whatever the number of ``fit`` calls), with ``history.status`` and
  :attr:`Trainer.status <dualgan.train.loop.Loop.status>` (the same :class:`~dualgan.status.Status`) saying how
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

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .._checks import check_choice, check_int, check_number, check_positive
from .._io import check_writable_path
from .._threads import with_thread_policy
from ..constraints.base import (NoConstraint, check_handler, handler_load_state_dict, handler_state,
                                handler_state_dict)
from ..registry import Registry
from ..status import Status, StatusCode
# the checkpoint format and the data/model contracts have modules of their own; their names stay importable here
from .checkpoint import (CheckpointError,  # noqa: F401
                         _check_module_state, _check_optimizer_state, read_checkpoint, settings_string,
                         write_checkpoint)
from .contracts import (_EXACT_INTEGER_DTYPES, _check_callbacks, _check_discriminator, _check_latent_dim,  # noqa: F401
                        _make_sampler)
from .history import History
from .loop import Loop, check_checkpointing

__all__ = ["Trainer", "TRAINERS", "CheckpointError", "SHARED_COLUMNS", "NOISES", "make_trainer", "read_checkpoint",
           "write_checkpoint", "settings_string"]

#: every registered trainer; the packages whose modules register one are imported on first use
TRAINERS = Registry("trainer", package=("dualgan.train", "dualgan.trust_region", "dualgan.games"))

#: the columns every trainer's history has (plus the constraint columns when a handler is given)
SHARED_COLUMNS = ("iteration", "objective", "generator_loss", "seconds")

#: the noise distributions of the generator's input
NOISES = ("normal", "uniform")


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


class Trainer(Loop):
    """Base class of every trainer: the loop, callbacks, progress, checkpoints, status and history.

    Not used directly: a subclass implements :meth:`~dualgan.train.loop.Loop._step`. The parameters
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
    generator_optimizer : callable or torch.optim.Optimizer, optional
        ``params -> torch.optim.Optimizer`` for the generator's trainable
        parameters, or an optimiser already built over exactly those
        parameters (e.g. ``torch.optim.SGD(generator.parameters(), lr=0.01)``).
        Default None: ``Adam(params, generator_lr, betas=(beta1, 0.999))``.
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
        If ``generator`` is not a module, ``generator_optimizer`` is neither
        a torch optimiser nor a callable returning one, ``constraint`` lacks
        a handler method, or the generator returns no tensor (a tuple) or
        samples of another dtype than its parameters'.
    ValueError
        If a number is out of range, ``noise`` is unknown, the generator
        has no trainable parameters, does not return one sample per noise
        row, or returns samples that do not depend on its parameters (a
        ``.detach()`` in its forward): one eval-mode forward on two noise
        vectors checks this contract at construction; or if
        ``generator_optimizer`` is an optimiser over other tensors than the
        generator's trainable parameters. Data that return
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
    _noun = "trainer"
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
        if (generator_optimizer is not None and not callable(generator_optimizer)
                and not isinstance(generator_optimizer, torch.optim.Optimizer)):
            raise TypeError(f"generator_optimizer must be a torch.optim.Optimizer over the generator's parameters, "
                            f"a callable params -> torch.optim.Optimizer, or None; got "
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
        self._start_loop()
        self._sampler = None

    # ------------------------------------------------------------------ fit
    @with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
    def fit(self, data, iterations: int, *, progress: bool = False, callbacks: Sequence[Callable] = (),
            checkpoint_path=None, checkpoint_every: int = 0) -> History:
        """Train until ``self.iteration == iterations`` and return the history.

        ``iterations`` is the total to reach, not a count of further
        iterations: a trainer restored by :meth:`~dualgan.train.loop.Loop.load_checkpoint` at iteration
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
            Where :meth:`~dualgan.train.loop.Loop.save_checkpoint` writes every ``checkpoint_every``
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
        callbacks = _check_callbacks(callbacks)
        checkpoint_path, checkpoint_every = check_checkpointing(checkpoint_path, checkpoint_every)
        if checkpoint_path is not None:
            handler_state_dict(self.constraint)  # a handler that cannot be saved must not cost a run
        self._sampler = _make_sampler(data)
        return self._loop(iterations, progress=progress, callbacks=callbacks, checkpoint_path=checkpoint_path,
                          checkpoint_every=checkpoint_every)

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

    # ------------------------------------------------------------------ checkpoints: the trainer's parts
    _part_names = ("generator", "gen_optimizer", "rng", "extra", "constraint")

    def _parts(self) -> dict:
        return {"generator": {k: v.detach().clone() for k, v in self.generator.state_dict().items()},
                "gen_optimizer": None if self.gen_optimizer is None else copy.deepcopy(self.gen_optimizer.state_dict()),
                "rng": self._rng.get_state(), "extra": self._extra_state(),
                "constraint": handler_state_dict(self.constraint)}

    def _validate_parts(self, payload: dict) -> None:
        _check_module_state("generator", self.generator, payload["generator"])
        rng = payload["rng"]
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.shape != self._rng.get_state().shape:
            raise CheckpointError("its random generator state is not a CPU torch.Generator state")
        _check_optimizer_state("generator optimiser", self.gen_optimizer, payload["gen_optimizer"])
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

    def _apply_parts(self, payload: dict) -> None:
        self.generator.load_state_dict(payload["generator"])
        if self.gen_optimizer is not None:
            self.gen_optimizer.load_state_dict(payload["gen_optimizer"])
        self._rng.set_state(payload["rng"])
        self._load_extra_state(payload["extra"])
        handler_load_state_dict(self.constraint, payload["constraint"])

    def _end_loop(self) -> None:
        self._sampler = None

    # ------------------------------------------------------------------ hooks of subclasses
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
        """The generator's torch optimiser: the one given, ``factory(params)`` or Adam(generator_lr, (beta1, 0.999))."""
        if factory is None:
            return torch.optim.Adam(self._params, lr=self.generator_lr, betas=(self.beta1, 0.999))
        if isinstance(factory, torch.optim.Optimizer):  # passed in, built by the caller: it must step these parameters
            held = [p for g in factory.param_groups for p in g["params"]]
            if {id(p) for p in held} != {id(p) for p in self._params} or len(held) != len(self._params):
                raise ValueError(f"generator_optimizer is a {type(factory).__name__} over {len(held)} tensors that "
                                 f"are not the generator's {len(self._params)} trainable parameters; build it over "
                                 f"generator.parameters() (trainable ones only), or pass a callable params -> "
                                 f"optimiser")
            return factory
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
        """:meth:`~dualgan.train.loop.Loop._step`, with non-finite real data ending the run as ``NON_FINITE`` (see :meth:`_real`)."""
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
        state = handler_state(self.constraint, samples.detach())
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

