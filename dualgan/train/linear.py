r"""GAN trainers with a linear discriminator :math:`w^\top\phi(x)` on fixed features (eqs. (1.1)-(1.3) of the theory page, docs/theory.md).

Two members of one family, sharing data sampling, noise, the constraint
handler, history recording and checkpoints, so comparisons are fair:

* :class:`DualLinearGAN`: the "dualing" GAN. At every iteration the
  discriminator is solved *exactly* through its dual (certified by the duality
  gap), and the generator ascends

  .. math::

      g(\theta) = \max_{\lambda} D(\lambda;\theta)
                = \max_\lambda -\tfrac{1}{2C}\Big\|\sum_{i\le n}\lambda_i\phi(x_i)
                  - \sum_{j\le m}\tilde\lambda_j\phi(G_\theta(z_j))\Big\|^2 + \sum_i a_i H(\lambda_i/a_i),

  whose gradient at the dual optimum is :math:`\partial_\theta D(\lambda^*;\theta)`
  (Danskin). ``mode="fixed"``: the same real and noise samples at every
  iteration; the generator's Adam step is scaled back (backtracking line
  search) until the dual value re-solved, warm-started, at the trial point is
  at least the current one, so the recorded objective never decreases.
  ``mode="minibatch"``: fresh samples and one Adam step per iteration.

* :class:`StandardLinearGAN`: the paper's baseline, the same generator and the
  same linear discriminator on the same features trained by alternating
  gradient steps: the discriminator takes Adam steps on the primal
  :math:`P(w;\theta) = \tfrac C2\|w\|^2 + \sum_i a_i\ell(y_i w^\top\phi_i)`, the
  generator Adam steps that increase :math:`P` (``generator_loss="minimax"``,
  the same saddle problem the dual GAN solves) or the non-saturating loss.

Both return a :class:`~dualgan.train.history.History`; the constraint handler
(:mod:`dualgan.constraints.base`) is called at its documented points:
``wrap_generator`` at construction, ``penalty`` in the generator loss,
``update`` after each generator step, ``state`` in every history row.
"""
from __future__ import annotations

import copy
import hashlib
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_number, check_positive
from .._io import atomic_write_with, check_writable_path
from .._threads import with_small_model_threads
from ..constraints.base import NoConstraint, handler_load_state_dict, handler_state_dict
from ..duals import DualSolverWarning, LinearDual, solve
from ..status import Status, StatusCode
from .history import History

__all__ = ["DualLinearGAN", "StandardLinearGAN", "LinearGANTrainer", "MODES", "CheckpointError",
           "feature_fingerprint"]

MODES = ("fixed", "minibatch")
_CHECKPOINT_FORMAT = "dualgan.LinearGANCheckpoint/2"
_CHECKPOINT_KEYS = ("format", "kind", "iteration", "elapsed", "generator", "gen_optimizer", "rng", "fixed",
                    "history", "extra", "constraint", "features", "status")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be restored; the message names the file, what is wrong and what to do."""


def _finite_tensor(t) -> bool:
    return bool(torch.isfinite(t).all())


@dataclass(frozen=True)
class _Batch:
    real: torch.Tensor
    noise: torch.Tensor


class LinearGANTrainer:
    """Shared machinery of the linear-discriminator trainers (not used directly).

    Parameters
    ----------
    generator: any ``nn.Module`` mapping noise (B, noise_dim) to samples.
    features: any differentiable ``nn.Module`` mapping samples to (B, d) features.
    C: L2 weight of the discriminator, > 0 (the paper: 1e-4).
    noise_dim: dimension of the generator's input.
    batch_size: real and generated samples per iteration (n = m).
    mode: ``"fixed"`` (one batch for the whole run) or ``"minibatch"``.
    lr, beta1: Adam on the generator (the paper's learning rate and momentum).
    noise: ``"normal"`` or ``"uniform"`` (on [-1, 1]).
    constraint: ``None`` or a handler following :mod:`dualgan.constraints.base`.
    seed: seeds the sampling of data and noise (the generator's initialisation is the caller's).
    """

    kind = "base"

    def __init__(self, generator: nn.Module, features: nn.Module, C: float = 1e-4, *, noise_dim: int,
                 batch_size: int = 100, mode: str = "minibatch", lr: float = 1e-3, beta1: float = 0.5,
                 noise: str = "normal", constraint=None, seed: int = 0):
        if not isinstance(generator, nn.Module):
            raise ValueError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
        if not isinstance(features, nn.Module):
            raise ValueError(f"features must be a torch.nn.Module (e.g. dualgan.features.RBF), "
                             f"got {type(features).__name__}")
        self.C = check_positive(C, "C")
        noise_dim = check_int(noise_dim, "noise_dim", low=1)
        batch_size = check_int(batch_size, "batch_size", low=1)
        seed = check_int(seed, "seed", low=0, high=2 ** 63 - 1 - 12345)
        self.mode = check_choice(mode, "mode", MODES)
        self.noise = check_choice(noise, "noise", ("normal", "uniform"))
        self.lr = check_positive(lr, "lr")
        self.beta1 = check_number(beta1, "beta1 (Adam momentum)", low=0.0, high=1.0, high_open=True)
        self.constraint = NoConstraint() if constraint is None else constraint
        for method in ("wrap_generator", "penalty", "update", "state"):
            if not callable(getattr(self.constraint, method, None)):
                raise ValueError(f"constraint must follow dualgan.constraints.base.ConstraintHandler "
                                 f"(missing {method}()); pass None for no constraint")
        self.generator = self.constraint.wrap_generator(generator)
        self.features = features
        self.noise_dim = noise_dim
        self.batch_size = batch_size
        self.seed = seed
        params = [p for p in self.generator.parameters() if p.requires_grad]
        if not params:
            raise ValueError("generator has no trainable parameters")
        self._params = params
        self.device = params[0].device
        self.dtype = params[0].dtype
        self.features.to(self.device)
        self.gen_optimizer = torch.optim.Adam(params, lr=self.lr, betas=(self.beta1, 0.999))
        self._rng = torch.Generator(device="cpu").manual_seed(seed)
        self.iteration = 0
        self.status = Status(StatusCode.RUNNING, "not started")
        self._fixed: _Batch | None = None
        self._elapsed = 0.0
        self.history = History(meta=self._meta())

    # ------------------------------------------------------------------ public API
    @with_small_model_threads  # one torch thread unless chosen otherwise (dualgan/_threads.py)
    def fit(self, data, iterations: int, *, progress: bool = False, checkpoint_path=None,
            checkpoint_every: int = 0, callback: Callable[["LinearGANTrainer", int], None] | None = None,
            record_lambdas_at=()) -> History:
        """Train until ``self.iteration == iterations`` (a resumed trainer continues) and return the history.

        ``data``: an object with ``sample(n, generator=...)`` (e.g.
        :func:`dualgan.data.ring`) or a tensor of samples whose rows are drawn
        uniformly. ``callback(trainer, iteration)`` runs after each iteration;
        ``record_lambdas_at`` lists iterations whose normalised dual variables
        :math:`\\lambda_i/a_i` are attached to the history as arrays
        ``"lambda_real@t"`` / ``"lambda_fake@t"``; a checkpoint is written to
        ``checkpoint_path`` (folder checked before training, written atomically)
        every ``checkpoint_every`` iterations and at the end.

        How a run ends is :attr:`status` (a :class:`~dualgan.status.Status`,
        also in ``history.meta["status"]``): ``SUCCESS``; ``NON_FINITE`` with
        ``"non-finite samples at iteration k"`` (or features, gradient, ...)
        when a NaN or inf appears: the trainer keeps its last finite state,
        which the final checkpoint holds; ``NUMERICAL_ERROR`` when a dual solve
        fails; ``ERROR`` / ``INTERRUPTED`` when an exception or Ctrl-C ends the
        run: it is re-raised after the checkpoint is written, unless it struck
        inside an iteration, where the last periodic checkpoint is kept.
        """
        if checkpoint_path is not None:
            handler_state_dict(self.constraint)  # a handler that cannot be checkpointed fails now, not at the end
        iterations = check_int(iterations, "iterations", low=0)
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=0)
        if checkpoint_every and checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path")
        if checkpoint_path is not None:
            # checked before training: a missing folder must not cost a whole run
            checkpoint_path = check_writable_path(checkpoint_path, "checkpoint_path")
        sampler = _make_sampler(data)
        record_at = {check_int(t, "record_lambdas_at entries", low=0) for t in record_lambdas_at}
        self.status = Status(StatusCode.RUNNING, f"running from iteration {self.iteration}")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=iterations, initial=min(self.iteration, iterations), desc=self.kind, leave=False)
        raised, mid_iteration = None, False
        try:
            while self.iteration < iterations:
                t0 = time.perf_counter()
                mid_iteration = True  # an exception inside an iteration leaves a half-updated trainer
                row = self._iterate(sampler, self.iteration in record_at)
                mid_iteration = False
                self._elapsed += time.perf_counter() - t0
                if row is None:  # _iterate set a failure status
                    break
                bad = [k for k, v in row.items() if not math.isfinite(v) and k in self._must_be_finite]
                if bad:
                    self.status = Status(StatusCode.NON_FINITE, f"non-finite {', '.join(bad)} at iteration "
                                                                f"{self.iteration}")
                    break
                row["seconds"] = self._elapsed
                self.history.append(iteration=self.iteration, **row)
                self.iteration += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(objective=f"{row['objective']:.6g}")
                if callback is not None:
                    callback(self, self.iteration)
                if checkpoint_every and self.iteration % checkpoint_every == 0:
                    self.save_checkpoint(checkpoint_path)
            else:
                self.status = Status(StatusCode.SUCCESS, f"completed {iterations} iterations")
        except KeyboardInterrupt as exc:
            self.status = Status(StatusCode.INTERRUPTED, f"interrupted at iteration {self.iteration}")
            raised = exc
        except Exception as exc:  # noqa: BLE001 - recorded, the checkpoint written, then re-raised
            self.status = Status(StatusCode.ERROR, f"{type(exc).__name__} at iteration {self.iteration}: {exc}")
            raised = exc
        finally:
            if bar is not None:
                bar.close()
        self.history.set_meta("status", str(self.status))
        if checkpoint_path is not None and not (raised is not None and mid_iteration):
            # after an exception inside an iteration the last periodic checkpoint (consistent) is kept
            self.save_checkpoint(checkpoint_path)
        if raised is not None:
            raise raised
        return self.history

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` generated samples (no gradient), noise from a separate generator seeded by ``seed``."""
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 12345 if seed is None else int(seed))
        with torch.no_grad():
            return self.generator(self._noise(n, gen))

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "format": _CHECKPOINT_FORMAT,
            "kind": self.kind,
            "iteration": self.iteration,
            "elapsed": self._elapsed,
            "generator": {k: v.detach().clone() for k, v in self.generator.state_dict().items()},
            "gen_optimizer": copy.deepcopy(self.gen_optimizer.state_dict()),
            "rng": self._rng.get_state(),
            "fixed": None if self._fixed is None else [self._fixed.real, self._fixed.noise],
            "history": self.history.to_dict(),
            "extra": self._extra_state(),
            "constraint": handler_state_dict(self.constraint),
            "features": feature_fingerprint(self.features),
            "status": [self.status.code.value, self.status.message],
        }

    def save_checkpoint(self, path) -> Path:
        """Write everything needed to continue bit for bit.

        The checkpoint holds the generator's parameters, the optimiser's state,
        the sampling random generator, the fixed batch, the last dual solution,
        the history, the constraint handler's state (multipliers, penalty
        parameter, counters), a fingerprint of the feature map and the status.
        The file is written to a temporary file and renamed (atomic): a kill
        while saving leaves the previous checkpoint intact.
        """
        path = check_writable_path(path, "path")
        payload = self._state()
        atomic_write_with(path, lambda tmp: torch.save(payload, tmp))
        return path

    def load_checkpoint(self, path) -> "LinearGANTrainer":
        """Restore a checkpoint written by a trainer of the same class and settings; returns ``self``.

        Everything is validated before the trainer changes (format, keys,
        settings, generator architecture, feature map, optimiser, shapes,
        iteration against the history length, the handler's state); if
        restoring still fails half-way, the previous state is put back.

        Raises
        ------
        CheckpointError
            (a ``ValueError``) naming the file, what is wrong and what to do.
        """
        payload = _read_checkpoint(path, self.device)
        where = str(path)
        try:
            self._validate_checkpoint(payload)
        except CheckpointError:
            raise
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
                                  f"{type(self).__name__}")
        history = History.from_dict(payload["history"])
        for key, value in self._meta().items():
            if history.meta.get(key) != value:
                raise CheckpointError(f"it was written with {key}={history.meta.get(key)!r} but this trainer has "
                                      f"{key}={value!r}; construct the trainer with the checkpoint's settings")
        if payload["features"] != feature_fingerprint(self.features):
            raise CheckpointError("it was written with another feature map (other class, anchors, buffers or "
                                  "settings); construct the trainer with the checkpoint's feature map")
        own = self.generator.state_dict()
        saved = payload["generator"]
        if not isinstance(saved, dict) or set(saved) != set(own):
            raise CheckpointError(f"its generator has other parameters ({sorted(saved)[:6]}...) than this one "
                                  f"({sorted(own)[:6]}...); construct the trainer with the checkpoint's generator "
                                  f"architecture")
        for k, v in own.items():
            if not isinstance(saved[k], torch.Tensor) or saved[k].shape != v.shape or saved[k].dtype != v.dtype:
                raise CheckpointError(f"generator parameter {k!r} is {getattr(saved[k], 'shape', saved[k])} "
                                      f"({getattr(saved[k], 'dtype', '')}) in the checkpoint but {tuple(v.shape)} "
                                      f"({v.dtype}) here; construct the trainer with the checkpoint's architecture")
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
        fixed = payload["fixed"]
        if fixed is not None:
            if (not isinstance(fixed, list) or len(fixed) != 2 or not all(isinstance(t, torch.Tensor) for t in fixed)
                    or fixed[0].shape[0] != self.batch_size or tuple(fixed[1].shape) != (self.batch_size,
                                                                                        self.noise_dim)):
                raise CheckpointError(f"its fixed batch does not hold {self.batch_size} samples and "
                                      f"({self.batch_size}, {self.noise_dim}) noise")
        opt = payload["gen_optimizer"]
        groups = opt.get("param_groups") if isinstance(opt, dict) else None
        own_groups = self.gen_optimizer.state_dict()["param_groups"]
        if (not isinstance(groups, list) or len(groups) != len(own_groups)
                or any(len(g.get("params", ())) != len(o["params"]) for g, o in zip(groups, own_groups))):
            raise CheckpointError(f"its optimiser state does not match this trainer's "
                                  f"{type(self.gen_optimizer).__name__} over {len(self._params)} tensors")
        status = payload["status"]
        if not isinstance(status, list) or len(status) != 2:
            raise CheckpointError(f"its status {status!r} is not [code, message]")
        StatusCode(status[0])
        self._validate_extra_state(payload["extra"])
        _validate_handler_state(self.constraint, payload["constraint"])

    def _apply_state(self, payload: dict) -> None:
        self.generator.load_state_dict(payload["generator"])
        self.gen_optimizer.load_state_dict(payload["gen_optimizer"])
        self._rng.set_state(payload["rng"])
        fixed = payload["fixed"]
        self._fixed = None if fixed is None else _Batch(fixed[0], fixed[1])
        self.iteration = int(payload["iteration"])
        self._elapsed = float(payload["elapsed"])
        self.history = History.from_dict(payload["history"])
        self._load_extra_state(payload["extra"])
        handler_load_state_dict(self.constraint, payload["constraint"])
        code, message = payload["status"]
        self.status = Status(StatusCode(code), message)
        if self.status.code is StatusCode.RUNNING:
            self.status = Status(StatusCode.RUNNING, f"resumed at iteration {self.iteration}")

    # ------------------------------------------------------------------ helpers
    def _meta(self) -> dict:
        return {"trainer": type(self).__name__, "mode": self.mode, "C": self.C, "batch_size": self.batch_size,
                "lr": self.lr, "beta1": self.beta1, "noise": self.noise, "seed": self.seed,
                "constraint": type(self.constraint).__name__}

    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        if self.noise == "normal":
            z = torch.randn(n, self.noise_dim, generator=gen, dtype=torch.float64)
        else:
            z = 2 * torch.rand(n, self.noise_dim, generator=gen, dtype=torch.float64) - 1
        return z.to(dtype=self.dtype, device=self.device)

    def _batch(self, sampler) -> _Batch:
        if self.mode == "fixed":
            if self._fixed is None:
                self._fixed = self._draw(sampler)
            return self._fixed
        return self._draw(sampler)

    def _draw(self, sampler) -> _Batch:
        real = sampler(self.batch_size, self._rng).to(dtype=self.dtype, device=self.device)
        return _Batch(real, self._noise(self.batch_size, self._rng))

    def _constraint_columns(self, samples: torch.Tensor) -> dict:
        state = self.constraint.state(samples.detach())
        row = {"constraint_mean_violation": state.mean_violation, "constraint_max_violation": state.max_violation,
               "constraint_penalty_weight": state.penalty_weight}
        for k, mu in enumerate(state.multipliers[:8]):
            row[f"constraint_multiplier_{k}"] = mu
        if isinstance(self.constraint, NoConstraint):
            return {}
        return row

    # columns that must be finite in every recorded row (else the run ends with NON_FINITE)
    _must_be_finite = ("objective",)

    def _extra_state(self) -> dict:
        return {}

    def _validate_extra_state(self, extra) -> None:
        if not isinstance(extra, dict):
            raise CheckpointError(f"its trainer-specific state is {type(extra).__name__}, not a dict")

    def _load_extra_state(self, extra: dict) -> None:
        return None

    def _generator_grads(self, loss: torch.Tensor) -> None:
        """Set ``p.grad`` of the generator's parameters to d loss / d p, and nothing else.

        ``torch.autograd.grad`` instead of ``backward()``: a trainable feature map
        (or any other module the loss depends on) keeps its ``.grad`` untouched.
        """
        grads = torch.autograd.grad(loss, self._params, allow_unused=True)
        for p, g in zip(self._params, grads):
            p.grad = torch.zeros_like(p) if g is None else g

    def _non_finite(self, what: str) -> None:
        self.status = Status(StatusCode.NON_FINITE, f"non-finite {what} at iteration {self.iteration}")

    def _iterate(self, sampler, record_lambdas: bool) -> dict | None:  # pragma: no cover - abstract
        raise NotImplementedError


class DualLinearGAN(LinearGANTrainer):
    r"""Dual GAN with a linear discriminator: exact discriminator via its certified dual (eqs. (1.3), (1.14), (1.15) of the theory page).

    Defaults: ``batch_size=200``, ``lr=1e-2`` (Adam, minibatch mode). On the
    5-mode ring (std 0.3, RBF sigma 0.2 on 100 anchors, output gain 3) these
    covered 5/5 modes after 1000 iterations for generator seeds 0 and 1 and 2/5
    for seed 2; ``batch_size=100, lr=1e-3`` covered 3, 3 and 2 modes after 2000.

    Extra parameters
    ----------------
    loss: ``"logistic"`` (the paper) or ``"hinge"``.
    tol: duality-gap tolerance of every dual solve (default 1e-10 in fixed mode; 1e-6 in
        minibatch mode, where the sampling noise of the objective is far larger).
    solver: method of :func:`dualgan.duals.solve` (default ``"newton"``).
    w_rtol: relative bound on the discriminator's certified error, ``sqrt(2 gap / C) <=
        w_rtol * ||w||`` (eq. (1.6)), asked of every dual solve. Default ``inf``: the gap alone,
        since the trainer's objective is certified by the gap and ``w`` only sets the direction
        of the generator's step, which the line search accepts by the re-solved objective. A
        solve that cannot certify ends the run (status ``numerical_error``).
    max_backtracks, shrink: line search of the fixed-batch mode: the Adam step
        is multiplied by ``shrink**k``, k = 0..max_backtracks, until the dual value
        (minus the constraint penalty) does not decrease; when no trial is
        accepted the generator stays where it was (``accepted = 0`` in the history).

    History columns: ``objective`` (dual value :math:`D(\lambda^*;\theta_t)`,
    a certified lower bound of :math:`g(\theta_t)` within ``gap``), ``gap``,
    ``lambda_mean/min/max`` of :math:`\lambda_i/a_i` over all samples,
    ``lambda_real_mean``, ``lambda_fake_mean``, ``dual_iterations``,
    ``generator_objective`` (objective minus the constraint penalty, the
    quantity the line search keeps monotone), and in fixed mode
    ``step_size`` and ``accepted`` and ``trials``.

    Examples
    --------
    >>> import torch
    >>> from dualgan.data import ring
    >>> from dualgan.features import RBF
    >>> from dualgan.train import DualLinearGAN, mlp_generator
    >>> data = ring(5, std=0.1)
    >>> feats = RBF(data.sample(100, generator=torch.Generator().manual_seed(0)), sigma=0.2)
    >>> gan = DualLinearGAN(mlp_generator(dtype=torch.float64), feats, C=1e-4, noise_dim=2, mode="fixed")
    >>> hist = gan.fit(data, iterations=5)
    >>> hist.is_monotone(tol=1e-9)
    True
    """

    kind = "dual"

    def __init__(self, generator: nn.Module, features: nn.Module, C: float = 1e-4, *, noise_dim: int,
                 batch_size: int = 200, mode: str = "minibatch", lr: float = 1e-2, beta1: float = 0.5,
                 noise: str = "normal", constraint=None, seed: int = 0, loss: str = "logistic",
                 tol: float | None = None, solver: str = "newton", max_backtracks: int = 30, shrink: float = 0.5,
                 fixed_optimizer: str = "lbfgs", lbfgs_history: int = 20, w_rtol: float = float("inf")):
        from ..duals import available_methods

        self.loss = check_choice(loss, "loss", ("logistic", "hinge"))
        self.fixed_optimizer = check_choice(fixed_optimizer, "fixed_optimizer", ("lbfgs", "adam"))
        lbfgs_history = check_int(lbfgs_history, "lbfgs_history", low=1)
        if tol is None:
            # minibatch: the sampling noise of the objective (~1e-2) dwarfs a 1e-6 gap
            tol = 1e-10 if mode == "fixed" else 1e-6
        self.tol = check_positive(tol, "tol")
        self.w_rtol = float("inf") if w_rtol == float("inf") else check_positive(w_rtol, "w_rtol")
        # checked here, not at the first iteration: a typo must not cost a started run
        self.solver = check_choice(solver, "solver", tuple(available_methods(self.loss, False)))
        self.max_backtracks = check_int(max_backtracks, "max_backtracks", low=0)
        self.shrink = check_number(shrink, "shrink", low=0.0, high=1.0, low_open=True, high_open=True)
        super().__init__(generator, features, C, noise_dim=noise_dim, batch_size=batch_size, mode=mode, lr=lr,
                         beta1=beta1, noise=noise, constraint=constraint, seed=seed)
        self.dual = None  # the last accepted DualResult (warm start of the next solve)
        self._phi_real_fixed = None
        self._current = None  # certified objective at the current generator (fixed batch, L-BFGS)
        if self.mode == "fixed" and self.fixed_optimizer == "lbfgs":
            # g(theta) is a deterministic smooth function in the fixed-batch setting, so a
            # quasi-Newton method with a strong-Wolfe line search (sufficient increase at
            # every accepted step) is the natural monotone ascent method
            # max_eval: torch's default (1.25 max_iter) would leave the line search no evaluation
            self.gen_optimizer = torch.optim.LBFGS(self._params, lr=1.0, max_iter=1, max_eval=25,
                                                   history_size=lbfgs_history,
                                                   line_search_fn="strong_wolfe", tolerance_grad=0.0,
                                                   tolerance_change=0.0)

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(loss=self.loss, tol=self.tol, w_rtol=self.w_rtol, solver=self.solver)
        if self.mode == "fixed":
            meta.update(fixed_optimizer=self.fixed_optimizer)
        return meta

    # one iteration ---------------------------------------------------------------
    def _iterate(self, sampler, record_lambdas: bool) -> dict | None:
        if self.mode == "fixed" and self.fixed_optimizer == "lbfgs":
            return self._iterate_lbfgs(sampler, record_lambdas)
        batch = self._batch(sampler)
        with torch.no_grad():
            if self.mode == "fixed" and self._phi_real_fixed is not None:
                phi_real = self._phi_real_fixed
            else:
                phi_real = self.features(batch.real)
                if not _finite_tensor(phi_real):
                    self._non_finite("features of the real samples")
                    return None
                if self.mode == "fixed":
                    self._phi_real_fixed = phi_real
        fake = self.generator(batch.noise)
        if not _finite_tensor(fake):
            self._non_finite("samples")
            return None
        phi_fake = self.features(fake)
        if not _finite_tensor(phi_fake):
            self._non_finite("features of the samples")
            return None
        # (a) the exact discriminator at the current generator, warm-started
        res = self._solve(phi_real, phi_fake.detach(), warm=self.dual)
        if not res.converged:
            self.status = Status(StatusCode.NUMERICAL_ERROR, f"dual solver {res.status} (gap {res.gap:.3g}) at "
                                                             f"iteration {self.iteration}")
            return None
        # (b) Danskin: grad g(theta) = d/dtheta D(lambda*, theta)
        value = self._danskin_surrogate(phi_fake, res)
        penalty = self.constraint.penalty(fake)
        self.gen_optimizer.zero_grad(set_to_none=True)
        self._generator_grads(-value + penalty)
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))
        if not math.isfinite(grad_norm) or not math.isfinite(float(penalty.detach())):
            self._non_finite("generator gradient or constraint penalty")
            return None
        current = res.dual_value - float(penalty.detach())
        row = {}
        if self.mode == "minibatch":
            old = [p.detach().clone() for p in self._params]
            self.gen_optimizer.step()
            with torch.no_grad():
                fake_after = self.generator(batch.noise)
            if not _finite_tensor(fake_after):
                with torch.no_grad():  # keep the last finite generator (what the final checkpoint holds)
                    for p, o in zip(self._params, old):
                        p.copy_(o)
                self._non_finite("samples after the generator step")
                return None
            self.constraint.update(fake_after)
            self.dual = res
            row.update(self._dual_columns(res, current))
            samples_for_state = fake_after
        else:
            old = [p.detach().clone() for p in self._params]
            self.gen_optimizer.step()
            step = [p.detach() - o for p, o in zip(self._params, old)]
            alpha, accepted, trials, best = 1.0, False, 0, None
            with torch.no_grad():
                for _ in range(self.max_backtracks + 1):
                    trials += 1
                    for p, o, s in zip(self._params, old, step):
                        p.copy_(o + alpha * s)
                    trial_fake = self.generator(batch.noise)
                    trial_phi = self.features(trial_fake) if _finite_tensor(trial_fake) else None
                    if trial_phi is None or not _finite_tensor(trial_phi):
                        alpha *= self.shrink  # a non-finite trial is a rejected trial
                        continue
                    trial = self._solve(phi_real, trial_phi, warm=res)
                    trial_value = trial.dual_value - float(self.constraint.penalty(trial_fake))
                    if trial.converged and math.isfinite(trial_value) and trial_value >= current:
                        accepted, best = True, (trial, trial_value, trial_fake)
                        break
                    alpha *= self.shrink
                if not accepted:
                    for p, o in zip(self._params, old):
                        p.copy_(o)
                    best = (res, current, fake.detach())
            new_res, new_value, samples_for_state = best
            self.constraint.update(samples_for_state)
            self.dual = new_res
            row.update(self._dual_columns(new_res, new_value))
            row.update(step_size=alpha if accepted else 0.0, accepted=float(accepted), trials=float(trials))
        row["grad_norm"] = grad_norm
        row.update(self._constraint_columns(samples_for_state))
        if record_lambdas:
            self._record_lambdas(self.dual)
        return row

    def _iterate_lbfgs(self, sampler, record_lambdas: bool) -> dict | None:
        """One L-BFGS step on -g(theta) with a strong-Wolfe line search (fixed batch).

        Every function evaluation re-solves the dual (warm-started) to the gap
        tolerance and returns its certified value; the gradient is Danskin's,
        d/dtheta D(lambda*; theta). A step that would lower the recorded objective
        by more than twice the gap tolerance (the line search guarantees sufficient
        increase, so this only happens when it fails) is undone, recorded as not
        accepted, and the quasi-Newton memory is reset. A trial point whose
        samples, features, gradient or penalty are not finite is a rejected
        trial (the line search sees +inf); if the step still ends there, the
        old weights stay and the next step starts with half the initial step
        (the optimiser's ``lr``, saved in checkpoints). Non-finite values at the
        current point end the run with status ``NON_FINITE``.
        """
        batch = self._batch(sampler)
        if self._phi_real_fixed is None:
            with torch.no_grad():
                self._phi_real_fixed = self.features(batch.real)
        phi_real = self._phi_real_fixed
        if not _finite_tensor(phi_real):
            self._non_finite("features of the real samples")
            return None
        failures, non_finite = [], []
        inf = torch.tensor(float("inf"), dtype=torch.float64)

        def closure():
            # A trial point whose samples, features, gradient or penalty are not finite returns +inf
            # with no gradient: the line search treats it as a failed (rejected) trial.
            self.gen_optimizer.zero_grad(set_to_none=True)
            fake = self.generator(batch.noise)
            if not _finite_tensor(fake):
                non_finite.append("samples")
                return inf
            phi_fake = self.features(fake)
            if not _finite_tensor(phi_fake):
                non_finite.append("features of the samples")
                return inf
            res = self._solve(phi_real, phi_fake.detach(), warm=self.dual)
            if not res.converged:
                failures.append(res)
                return inf
            value = self._danskin_surrogate(phi_fake, res)
            penalty = self.constraint.penalty(fake)
            self._generator_grads(-value + penalty)
            objective = res.dual_value - float(penalty.detach())
            if not math.isfinite(objective) or not all(_finite_tensor(p.grad) for p in self._params):
                self.gen_optimizer.zero_grad(set_to_none=True)
                non_finite.append("generator gradient or constraint penalty")
                return inf
            self.dual = res
            return torch.tensor(-objective, dtype=torch.float64)

        def restore(old):
            with torch.no_grad():
                for p, o in zip(self._params, old):
                    p.copy_(o)

        if self.iteration == 0 or self._current is None:
            start = -float(closure())  # the objective at the starting point
            if non_finite or failures:
                if failures:
                    bad = failures[0]
                    self.status = Status(StatusCode.NUMERICAL_ERROR, f"dual solver {bad.status} (gap "
                                                                     f"{bad.gap:.3g}) at iteration {self.iteration}")
                else:
                    self._non_finite(non_finite[0])
                return None
            self._current = start
        old = [p.detach().clone() for p in self._params]
        evals_before = self.gen_optimizer.state[self._params[0]].get("func_evals", 0)
        self.gen_optimizer.step(closure)
        state = self.gen_optimizer.state[self._params[0]]
        trials = state.get("func_evals", 0) - evals_before
        if failures:
            restore(old)
            bad = failures[0]
            self.status = Status(StatusCode.NUMERICAL_ERROR, f"dual solver {bad.status} (gap {bad.gap:.3g}) at "
                                                             f"iteration {self.iteration}")
            return None
        hit_non_finite = bool(non_finite)
        # the certified objective at the accepted point (one more warm-started solve)
        value = -float(closure()) if all(_finite_tensor(p) for p in self._params) else -math.inf
        # Values are certified to the gap tolerance, so two solves at one point may differ by
        # up to ~tol: a step is kept unless it lowers the objective by more than 2 tol.
        accepted = math.isfinite(value) and value >= self._current - 2 * self.tol
        if not accepted:
            restore(old)
            self.gen_optimizer.state.clear()  # its curvature pairs describe a step not taken: restart
            if hit_non_finite:
                # the step ran into non-finite values: the next attempt starts with half the step
                for group in self.gen_optimizer.param_groups:
                    group["lr"] *= 0.5
            non_finite.clear()
            value = -float(closure())
            if non_finite:  # cannot happen at the old (finite) point unless the model is not deterministic
                self._non_finite(non_finite[0])
                return None
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))
        self._current = value
        with torch.no_grad():
            samples = self.generator(batch.noise)
        self.constraint.update(samples)
        row = self._dual_columns(self.dual, value)
        row.update(step_size=float(state.get("t", 0.0)) if accepted else 0.0, accepted=float(accepted),
                   trials=float(trials), grad_norm=grad_norm)
        row.update(self._constraint_columns(samples))
        if record_lambdas:
            self._record_lambdas(self.dual)
        return row

    @staticmethod
    def _danskin_surrogate(phi_fake: torch.Tensor, res) -> torch.Tensor:
        r"""A scalar whose gradient is Danskin's :math:`\nabla_\theta D(\lambda^*;\theta)`.

        For both losses :math:`\partial D/\partial\tilde\phi_j = \tilde\lambda_j v(\lambda)/C
        = \tilde\lambda_j w`, so :math:`\sum_j\tilde\lambda_j w^\top\tilde\phi_j(\theta)` with
        :math:`\tilde\lambda` and the solver's ``w`` held fixed has the gradient of
        :func:`dualgan.duals.dual_objective` (the tests compare the two) in a third of its operations.
        Its value is not D; the trainers record the solver's certified ``dual_value``.
        """
        kw = dict(dtype=phi_fake.dtype, device=phi_fake.device)
        return torch.as_tensor(res.lam_fake, **kw) @ (phi_fake @ torch.as_tensor(res.w, **kw))

    def _solve(self, phi_real, phi_fake, warm):
        problem = LinearDual(phi_real.detach(), phi_fake.detach(), self.C, loss=self.loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DualSolverWarning)
            return solve(problem, method=self.solver, tol=self.tol, lam0=warm, warn=False, w_rtol=self.w_rtol)

    def _dual_columns(self, res, generator_objective: float) -> dict:
        n, m = res.lam_real.shape[0], res.lam_fake.shape[0]
        # numpy: these small reductions cost a few microseconds each there, several times torch's
        lr = res.lam_real.detach().cpu().numpy() * n  # float64 tensors: the trainer's problems are torch
        lf = res.lam_fake.detach().cpu().numpy() * m
        both = np.concatenate([lr, lf])
        return {"objective": res.dual_value, "gap": res.gap, "lambda_mean": float(both.mean()),
                "lambda_min": float(both.min()), "lambda_max": float(both.max()),
                "lambda_real_mean": float(lr.mean()), "lambda_fake_mean": float(lf.mean()),
                "dual_iterations": float(res.iterations), "generator_objective": generator_objective}

    def _record_lambdas(self, res) -> None:
        n, m = res.lam_real.shape[0], res.lam_fake.shape[0]
        self.history.add_array(f"lambda_real@{self.iteration}", res.lam_real.double().cpu() * n)
        self.history.add_array(f"lambda_fake@{self.iteration}", res.lam_fake.double().cpu() * m)

    # checkpoint extras -------------------------------------------------------------
    def _extra_state(self) -> dict:
        if self.dual is None:
            return {"dual": None, "current": self._current}
        return {"dual": {"lam_real": self.dual.lam_real, "lam_fake": self.dual.lam_fake,
                         "slack": self.dual.slack, "w": self.dual.w}, "current": self._current}

    def _validate_extra_state(self, extra) -> None:
        super()._validate_extra_state(extra)
        if set(extra) != {"dual", "current"}:
            raise CheckpointError(f"its dual state has keys {sorted(extra)}, expected ['current', 'dual']")
        saved = extra["dual"]
        if saved is None:
            return
        n = self.batch_size
        for key in ("lam_real", "lam_fake", "slack"):
            if not isinstance(saved.get(key), torch.Tensor):
                raise CheckpointError(f"its dual state lacks the tensor {key!r}")
        if saved["lam_real"].shape[0] != n or saved["lam_fake"].shape[0] != n:
            raise CheckpointError(f"its dual variables are for batches of {saved['lam_real'].shape[0]} and "
                                  f"{saved['lam_fake'].shape[0]} samples, not {n}")

    def _load_extra_state(self, extra: dict) -> None:
        saved = extra.get("dual")
        self._current = extra.get("current")
        if saved is None:
            self.dual = None
            return
        # a warm start only needs the multipliers and their slack; rebuild a DualResult-like record
        from ..duals import DualResult

        self.dual = DualResult(lam_real=saved["lam_real"], lam_fake=saved["lam_fake"], w=saved.get("w"), b=None,
                               dual_value=float("nan"), primal_value=float("nan"), gap=float("nan"),
                               iterations=0, seconds=0.0, status="restored", method=self.solver,
                               slack=saved["slack"])
        self._phi_real_fixed = None


class StandardLinearGAN(LinearGANTrainer):
    r"""The standard GAN baseline on the same linear discriminator (alternating Adam steps).

    Extra parameters
    ----------------
    disc_lr: Adam learning rate of the discriminator weights ``w`` (initialised at 0).
    disc_steps: discriminator steps per generator step (default 1).
    generator_loss: ``"minimax"`` (ascend :math:`P(w;\theta)`, the saddle problem of
        eq. (1.1) of the theory page) or ``"non_saturating"`` (minimise
        :math:`\frac1m\sum_j \ell(w^\top\phi(G(z_j)))`, i.e. :math:`-\log\sigma(s)`).

    History column ``objective`` is the primal :math:`P(w_t;\theta_t)` after the
    discriminator step: an upper bound of :math:`g(\theta_t)`; ``disc_loss``,
    ``gen_loss`` and ``w_norm`` are recorded too.
    """

    kind = "standard"

    def __init__(self, generator: nn.Module, features: nn.Module, C: float = 1e-4, *, noise_dim: int,
                 batch_size: int = 100, mode: str = "minibatch", lr: float = 1e-3, beta1: float = 0.5,
                 noise: str = "normal", constraint=None, seed: int = 0, disc_lr: float = 1e-2,
                 disc_steps: int = 1, generator_loss: str = "minimax"):
        self.disc_lr = check_positive(disc_lr, "disc_lr")
        self.disc_steps = check_int(disc_steps, "disc_steps", low=1)
        self.generator_loss = check_choice(generator_loss, "generator_loss", ("minimax", "non_saturating"))
        super().__init__(generator, features, C, noise_dim=noise_dim, batch_size=batch_size, mode=mode, lr=lr,
                         beta1=beta1, noise=noise, constraint=constraint, seed=seed)
        self.w: torch.Tensor | None = None
        self.disc_optimizer = None

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(disc_lr=self.disc_lr, disc_steps=self.disc_steps, generator_loss=self.generator_loss)
        return meta

    def _ensure_discriminator(self, d: int, dtype) -> None:
        if self.w is None:
            self.w = torch.zeros(d, dtype=dtype, device=self.device, requires_grad=True)
            self.disc_optimizer = torch.optim.Adam([self.w], lr=self.disc_lr, betas=(self.beta1, 0.999))

    def primal(self, phi_real: torch.Tensor, phi_fake: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`P(w) = \frac C2\|w\|^2 + \mathrm{mean}_i\,\ell(w^\top\phi_i) + \mathrm{mean}_j\,\ell(-w^\top\tilde\phi_j)`."""
        w = self.w if w is None else w
        return (0.5 * self.C * (w @ w) + F.softplus(-(phi_real @ w)).mean() + F.softplus(phi_fake @ w).mean())

    def _iterate(self, sampler, record_lambdas: bool) -> dict | None:
        batch = self._batch(sampler)
        with torch.no_grad():
            phi_real = self.features(batch.real)
        if not _finite_tensor(phi_real):
            self._non_finite("features of the real samples")
            return None
        self._ensure_discriminator(phi_real.shape[1], phi_real.dtype)
        w_old = self.w.detach().clone()
        # discriminator: minimise P(w; theta) with the generator fixed
        for _ in range(self.disc_steps):
            with torch.no_grad():
                fake_d = self.generator(batch.noise)
                if not _finite_tensor(fake_d):
                    self._non_finite("samples")
                    return None
                phi_fake_d = self.features(fake_d)
            if not _finite_tensor(phi_fake_d):
                self._non_finite("features of the samples")
                return None
            disc_loss = self.primal(phi_real, phi_fake_d)
            self.disc_optimizer.zero_grad(set_to_none=True)
            disc_loss.backward()
            self.disc_optimizer.step()
        if not _finite_tensor(self.w):
            with torch.no_grad():  # keep the last finite discriminator (what the final checkpoint holds)
                self.w.copy_(w_old)
            self._non_finite("discriminator weights (discriminator loss)")
            return None
        # generator: increase P (minimax) or minimise the non-saturating loss, with w fixed
        fake = self.generator(batch.noise)
        phi_fake = self.features(fake)
        w = self.w.detach()
        if self.generator_loss == "minimax":
            gen_loss = -F.softplus(phi_fake @ w).mean()
        else:
            gen_loss = F.softplus(-(phi_fake @ w)).mean()
        with torch.no_grad():
            objective = float(self.primal(phi_real, phi_fake.detach(), w))
        self.gen_optimizer.zero_grad(set_to_none=True)
        self._generator_grads(gen_loss + self.constraint.penalty(fake))
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))
        if not math.isfinite(objective) or not math.isfinite(grad_norm):
            self._non_finite("objective or generator gradient")
            return None
        old = [p.detach().clone() for p in self._params]
        self.gen_optimizer.step()
        with torch.no_grad():
            fake_after = self.generator(batch.noise)
        if not _finite_tensor(fake_after):
            with torch.no_grad():
                for p, o in zip(self._params, old):
                    p.copy_(o)
            self._non_finite("samples after the generator step")
            return None
        self.constraint.update(fake_after)
        row = {"objective": objective, "disc_loss": float(disc_loss.detach()), "gen_loss": float(gen_loss.detach()),
               "w_norm": float(w.norm()), "grad_norm": grad_norm}
        row.update(self._constraint_columns(fake_after))
        return row

    def _extra_state(self) -> dict:
        if self.w is None:
            return {"w": None}
        return {"w": self.w.detach(), "disc_optimizer": self.disc_optimizer.state_dict()}

    def _validate_extra_state(self, extra) -> None:
        super()._validate_extra_state(extra)
        if extra.get("w") is None:
            return
        w = extra["w"]
        d = getattr(self.features, "out_features", None)
        if not isinstance(w, torch.Tensor) or w.ndim != 1 or (isinstance(d, int) and w.shape[0] != d):
            raise CheckpointError(f"its discriminator weights w are not a vector of the feature width: {w!r}")
        if not isinstance(extra.get("disc_optimizer"), dict):
            raise CheckpointError("its discriminator optimiser state is missing")

    def _load_extra_state(self, extra: dict) -> None:
        if extra.get("w") is None:
            self.w, self.disc_optimizer = None, None
            return
        w = extra["w"]
        self.w = w.clone().to(self.device).requires_grad_(True)
        self.disc_optimizer = torch.optim.Adam([self.w], lr=self.disc_lr, betas=(self.beta1, 0.999))
        self.disc_optimizer.load_state_dict(extra["disc_optimizer"])


# ---------------------------------------------------------------------- sampling
def _make_sampler(data) -> Callable[[int, torch.Generator], torch.Tensor]:
    if hasattr(data, "sample") and callable(data.sample):
        return lambda n, gen: data.sample(n, generator=gen, dtype=torch.float64)
    if isinstance(data, torch.Tensor) or hasattr(data, "__array__"):
        table = data if isinstance(data, torch.Tensor) else torch.as_tensor(data)
        if table.ndim < 2 or table.shape[0] < 1:
            raise ValueError(f"data given as an array must have shape (N, ...) with N >= 1, got {tuple(table.shape)}")
        if not bool(torch.isfinite(table).all()):
            raise ValueError("data contains NaN or inf; clean the data set first")
        table = table.detach()
        return lambda n, gen: table[torch.randint(table.shape[0], (n,), generator=gen)]
    raise ValueError(f"data must have a sample(n, generator=...) method (e.g. dualgan.data.ring(5)) or be an "
                     f"array of samples, got {type(data).__name__}")


# ---------------------------------------------------------------------- checkpoints
def feature_fingerprint(features: nn.Module) -> str:
    """A hash of a feature map's identity: its class, every tensor of its ``state_dict`` and its scalar settings.

    Two feature maps with the same fingerprint compute the same features
    (same anchors, projections, bandwidths); a checkpoint records it so that
    resuming with another feature map is refused.
    """
    h = hashlib.sha256(f"{type(features).__module__}.{type(features).__qualname__}".encode())
    for name, t in sorted(features.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for module_name, module in features.named_modules():
        for key, value in sorted(vars(module).items()):
            if key.startswith("_") or key == "training":
                continue
            if isinstance(value, (bool, int, float, str)) or value is None:
                h.update(f"{module_name}.{key}={value!r}".encode())
    return h.hexdigest()


def _read_checkpoint(path, device):
    """``torch.load(weights_only=True)`` with every failure turned into a :class:`CheckpointError`."""
    import pickle
    import zipfile

    where = str(path)
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {where!r} does not exist (or is not a file); check the path")
    if p.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {where!r} is empty (0 bytes), e.g. from a process killed while writing "
                              f"it with an older version; use an earlier copy or train from the start")
    try:
        # weights_only=True: tensors, numbers, strings and containers only; never arbitrary objects
        return torch.load(p, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"checkpoint {where!r} holds objects other than tensors and plain data, or is not a "
                              f"checkpoint at all; it is refused (loading it could run arbitrary code): use a "
                              f"checkpoint written by save_checkpoint") from exc
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError, IndexError,
            AttributeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {where!r} cannot be read ({type(exc).__name__}: {exc}); it is "
                              f"truncated or corrupt: use an earlier copy or train from the start") from exc


def _validate_handler_state(handler, state) -> None:
    """Try ``load_state_dict`` on a copy of the handler, so a bad state fails before the trainer changes."""
    trial = copy.deepcopy(handler)
    try:
        handler_load_state_dict(trial, state)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"its constraint handler state does not fit this {type(handler).__name__}: "
                              f"{exc}") from exc
