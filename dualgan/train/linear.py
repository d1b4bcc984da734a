r"""GAN trainers with a linear discriminator :math:`w^\top\phi(x)` on fixed features (eqs. (1.1)-(1.3) of the theory page, docs/theory.md).

Two members of one family, on the one trainer protocol (:class:`~dualgan.train.base.Trainer`:
data sampling, noise, the constraint handler, history columns, callbacks and
checkpoints are shared, so comparisons are fair):

* :class:`DualLinearGAN` (registered as ``"dual_linear"``): the "dualing" GAN.
  At every iteration the discriminator is solved *exactly* through its dual
  (certified by the duality gap), and the generator ascends

  .. math::

      g(\theta) = \max_{\lambda} D(\lambda;\theta)
                = \max_\lambda -\tfrac{1}{2C}\Big\|\sum_{i\le n}\lambda_i\phi(x_i)
                  - \sum_{j\le m}\tilde\lambda_j\phi(G_\theta(z_j))\Big\|^2 + \sum_i a_i H(\lambda_i/a_i),

  whose gradient at the dual optimum is :math:`\partial_\theta D(\lambda^*;\theta)`
  (Danskin). ``mode="fixed"``: the same real and noise samples at every
  iteration, with a monotone ascent (L-BFGS with a strong-Wolfe line search, or
  Adam with backtracking), so the recorded objective never decreases.
  ``mode="minibatch"``: fresh samples and one generator step per iteration.

* :class:`StandardLinearGAN` (``"standard_linear"``): the paper's baseline, the
  same generator and the same linear discriminator on the same features
  trained by alternating gradient steps: the discriminator takes Adam steps on
  the primal :math:`P(w;\theta) = \tfrac C2\|w\|^2 + \sum_i a_i\ell(y_i w^\top\phi_i)`,
  the generator steps that increase :math:`P` (``gan_loss="minimax"``,
  the same saddle problem the dual GAN solves) or the non-saturating loss.

:class:`RecordLambdas` is a callback that attaches the dual variables of
chosen iterations to the history.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_number, check_positive
from ..duals import DualSolverWarning, LinearDual, solve
from .._modes import active_dropout, eval_mode, spectral_norm_layers
from ..status import Status, StatusCode
from .base import TRAINERS, CheckpointError, Trainer, _Batch, _check_optimizer_state, settings_string

__all__ = ["DualLinearGAN", "StandardLinearGAN", "RecordLambdas", "MODES", "feature_fingerprint"]

MODES = ("fixed", "minibatch")
#: the generator losses of :class:`StandardLinearGAN` (``gan_loss``)
GAN_LOSSES = ("minimax", "non_saturating")

_RESTORED = object()  # the fixed batch came from a checkpoint: its data object is not known


def _finite_tensor(t) -> bool:
    return bool(torch.isfinite(t).all())


class _LinearTrainer(Trainer):
    """What the two linear-discriminator trainers share: the feature map, C, the mode and the fixed batch."""

    def __init__(self, generator: nn.Module, features: nn.Module, *, C: float, mode: str, latent_dim: int,
                 batch_size: int, noise: str, generator_lr: float, beta1: float, generator_optimizer, constraint,
                 seed: int):
        if not isinstance(features, nn.Module):
            raise TypeError(f"features must be a torch.nn.Module (e.g. dualgan.features.RBF), "
                            f"got {type(features).__name__}")
        self.C = check_positive(C, "C")
        self.mode = check_choice(mode, "mode", MODES)
        super().__init__(generator, latent_dim=latent_dim, batch_size=batch_size, noise=noise,
                         generator_lr=generator_lr, beta1=beta1, generator_optimizer=generator_optimizer,
                         constraint=constraint, seed=seed)
        self.features = features
        self.features.to(self.device)
        _check_features(features, generator, self.latent_dim, self.dtype, self.device)
        self._fixed: _Batch | None = None
        self._fixed_source = None

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(mode=self.mode, C=self.C)
        return meta

    @property
    def fixed_batch(self) -> _Batch | None:
        """The fixed batch of ``mode="fixed"`` (copies, read-only): ``.real`` and ``.noise``, ``(batch_size, ...)``.

        ``None`` in minibatch mode and before the first iteration. Drawn once,
        at the first iteration; from a data array with at least ``batch_size``
        rows the real samples are distinct rows (drawn without replacement).
        """
        if self._fixed is None:
            return None
        return _Batch(self._fixed.real.detach().clone(), self._fixed.noise.detach().clone())

    def _batch(self) -> _Batch:
        if self.mode == "fixed":
            if self._fixed is None:
                self._fixed = self._draw_fixed()
            return self._fixed
        return self._draw(self.batch_size)

    def _draw_fixed(self) -> _Batch:
        """The fixed batch: distinct rows of a data array that has enough of them, else an ordinary draw."""
        table = getattr(self._sampler, "rows", None)
        if table is None or table.shape[0] < self.batch_size:
            return self._draw(self.batch_size)
        rows = torch.randperm(table.shape[0], generator=self._rng)[: self.batch_size]
        real = torch.as_tensor(table[rows.to(table.device)]).to(dtype=self.dtype, device=self.device)
        return _Batch(real, self._noise(self.batch_size, self._rng))

    def fit(self, data, iterations: int, **kwargs):
        """:meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`; in fixed mode the batch is drawn once, at the first iteration.

        The feature map is evaluated in eval mode during the fit (dropout off,
        BatchNorm on its running statistics, which do not move; eq. (7.1) of
        the theory page), and every sub-module's train/eval state is put back
        afterwards: the discriminator is certified on one fixed function of
        the samples. In fixed mode the generator must itself be a fixed
        function (no active dropout, no BatchNorm or spectral normalisation in
        training mode), or the
        monotone ascent would compare values of different random problems.

        A later ``fit`` of a fixed-batch trainer keeps training on that batch
        (the objective is a function of it), so ``data`` is then not sampled:
        a ``UserWarning`` says so when ``data`` is not the object the batch was
        drawn from (a trainer restored from a checkpoint takes the ``data`` of
        its first ``fit`` as that object). Construct a new trainer to train on other data.

        Parameters
        ----------
        data, iterations, **kwargs
            As :meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`.

        Returns
        -------
        History
            The trainer's history.

        Raises
        ------
        ValueError, TypeError
            As :meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`; a ``ValueError`` in fixed
            mode for a generator with active dropout, BatchNorm or spectral normalisation in training mode.
        """
        if self.mode == "fixed" and self._fixed is not None and self._fixed_source is _RESTORED:
            self._fixed_source = data  # rerunning the script after a restart: the data the batch came from
        if self.mode == "fixed" and self._fixed is not None and data is not self._fixed_source:
            warnings.warn(f"{type(self).__name__} in fixed mode trains on the batch of {self.batch_size} samples "
                          f"drawn at its first iteration; the data passed to this fit are not sampled (construct "
                          f"a new trainer to train on other data)", UserWarning, stacklevel=2)
        if self.mode == "fixed" and self._fixed is None:
            self._fixed_source = data
        if self.mode == "fixed":
            _check_fixed_generator(self.generator)
        # the feature map is a fixed function of the solve (eq. (7.1) of the theory page): evaluated in eval
        # mode (dropout off, BatchNorm on its running statistics, which do not move), the user's modes put back
        with eval_mode(self.features):
            return super().fit(data, iterations, **kwargs)

    def _extra_state(self) -> dict:
        return {"features": feature_fingerprint(self.features),
                "fixed": None if self._fixed is None else [self._fixed.real, self._fixed.noise]}

    def _validate_extra_state(self, extra: dict) -> None:
        if extra.get("features") != feature_fingerprint(self.features):
            raise CheckpointError("it was written with another feature map (other class, anchors, buffers or "
                                  "settings); construct the trainer with the checkpoint's feature map")
        fixed = extra.get("fixed", "missing")
        if fixed is None:
            return
        if (not isinstance(fixed, list) or len(fixed) != 2 or not all(isinstance(t, torch.Tensor) for t in fixed)
                or fixed[0].shape[0] != self.batch_size
                or tuple(fixed[1].shape) != (self.batch_size, self.latent_dim)):
            raise CheckpointError(f"its fixed batch does not hold {self.batch_size} samples and "
                                  f"({self.batch_size}, {self.latent_dim}) noise")

    def _load_extra_state(self, extra: dict) -> None:
        fixed = extra["fixed"]
        self._fixed = None if fixed is None else _Batch(fixed[0], fixed[1])
        self._fixed_source = _RESTORED


class RecordLambdas:
    r"""Callback: attach the normalised dual variables :math:`\lambda_i/a_i` of chosen iterations to the history.

    After iteration ``t`` (one of ``iterations``) of a :class:`DualLinearGAN`,
    the dual solution the trainer accepted is stored as the history arrays
    ``"lambda_real@t"`` and ``"lambda_fake@t"`` (float64, shapes ``(n,)`` and
    ``(m,)``); the dual variables are those of eq. (1.3) of the theory page.

    Parameters
    ----------
    iterations : iterable of int
        The iterations (0-based, as the history's ``iteration`` column) whose
        dual variables are kept.

    Raises
    ------
    ValueError
        If an entry is not a non-negative integer.

    Examples
    --------
    >>> from dualgan.train import RecordLambdas
    >>> cb = RecordLambdas([0, 99])  # then trainer.fit(data, 100, callbacks=[cb])
    """

    def __init__(self, iterations: Iterable[int]):
        self.iterations = frozenset(check_int(t, "iterations entries", low=0) for t in iterations)

    def __call__(self, trainer, iteration: int) -> None:
        """Store the arrays if the iteration just finished (``iteration - 1``) is one of :attr:`iterations`.

        Parameters
        ----------
        trainer : DualLinearGAN
            The trainer running ``fit``.
        iteration : int
            Rows recorded so far (the finished iteration plus one).

        Raises
        ------
        TypeError
            If ``trainer`` holds no dual solution (it is not a :class:`DualLinearGAN`).
        """
        t = iteration - 1
        if t not in self.iterations:
            return
        res = getattr(trainer, "dual", None)
        if res is None:
            raise TypeError(f"RecordLambdas needs a DualLinearGAN (a trainer with a dual solution), got "
                            f"{type(trainer).__name__}")
        n, m = res.lam_real.shape[0], res.lam_fake.shape[0]
        trainer.history.add_array(f"lambda_real@{t}", res.lam_real.double().cpu() * n)
        trainer.history.add_array(f"lambda_fake@{t}", res.lam_fake.double().cpu() * m)


@TRAINERS.register("dual_linear")
class DualLinearGAN(_LinearTrainer):
    r"""Dual GAN with a linear discriminator: exact discriminator via its certified dual (eqs. (1.3), (1.14), (1.15) of the theory page).

    Defaults: ``batch_size=200``, ``generator_lr=1e-2`` (Adam, minibatch mode).
    On the 5-mode ring (std 0.3, RBF sigma 0.2 on 100 anchors, output gain 3)
    these covered 5/5 modes after 1000 iterations for generator seeds 0 and 1
    and 2/5 for seed 2; ``batch_size=100, generator_lr=1e-3`` covered 3, 3 and
    2 modes after 2000.

    History columns (besides the shared ones of :class:`~dualgan.train.base.Trainer`):
    ``objective`` is the dual value :math:`D(\lambda^*;\theta_t)`, a certified
    lower bound of :math:`g(\theta_t)` within ``inner_gap``; ``generator_loss`` is
    :math:`-D + c` (``c`` the constraint penalty) at the point where the
    generator's gradient was taken; ``inner_gap``, ``lambda_mean/min/max`` of
    :math:`\lambda_i/a_i` over all samples, ``lambda_real_mean``,
    ``lambda_fake_mean``, ``inner_iterations`` (the dual solver's
    iterations), ``generator_grad_norm`` (the norm of the generator's gradient),
    ``generator_objective`` (objective minus the constraint penalty at the
    accepted point, the quantity the fixed-batch ascent keeps monotone), and in
    fixed mode ``step_size``, ``accepted`` and ``trials``.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples; its dtype (float64
        recommended) and device are the trainer's.
    features : torch.nn.Module
        Any differentiable module mapping samples to ``(B, d)`` features,
        e.g. :class:`dualgan.features.RBF`.
    C : float, default 1e-4
        L2 weight of the discriminator (> 0; the paper: 1e-4), eq. (1.1).
    latent_dim : int
        Dimension of the generator's input (>= 1).
    batch_size : int, default 200
        Real and generated samples per iteration (n = m).
    mode : str, default "minibatch"
        ``"fixed"`` (one batch for the whole run, monotone ascent) or ``"minibatch"``.
    generator_lr : float, default 1e-2
        Adam step size of the generator (minibatch mode, and fixed mode with ``fixed_optimizer="adam"``).
    beta1 : float, default 0.5
        Adam's first-moment decay, in [0, 1).
    generator_optimizer : callable, optional
        ``params -> torch.optim.Optimizer`` replacing Adam (not with the
        fixed-batch L-BFGS ascent). Default None: Adam.
    noise : str, default "normal"
        ``"normal"`` or ``"uniform"`` (on [-1, 1]) generator input.
    constraint : ConstraintHandler, optional
        A handler of :mod:`dualgan.constraints`. Default None: no constraint.
    seed : int, default 0
        Seeds the sampling of data and noise.
    loss : str, default "logistic"
        ``"logistic"`` (the paper) or ``"hinge"``.
    tol : float, optional
        Duality-gap tolerance of every dual solve. Default None: 1e-10 in fixed
        mode, 1e-6 in minibatch mode (where the sampling noise of the objective is far larger).
    solver : str, default "newton"
        A method of :func:`dualgan.duals.solve` for ``loss`` without a bias
        (a name in ``dualgan.duals.SOLVERS``).
    max_backtracks : int, default 30
        Fixed mode with Adam: the step is multiplied by ``shrink**k``,
        k = 0..max_backtracks, until the re-solved dual value (minus the
        penalty) does not decrease; when no trial is accepted the generator
        stays where it was (``accepted = 0``).
    shrink : float, default 0.5
        The backtracking factor, in (0, 1).
    fixed_optimizer : str, default "lbfgs"
        Fixed mode: ``"lbfgs"`` (L-BFGS with a strong-Wolfe line search, lr 1)
        or ``"adam"`` (Adam with backtracking).
    lbfgs_history : int, default 20
        Curvature pairs kept by L-BFGS (>= 1).
    w_rtol : float, default inf
        Relative bound on the discriminator's certified error, ``sqrt(2 gap / C)
        <= w_rtol * ||w||`` (eq. (1.6)), asked of every dual solve; ``inf``: the
        gap alone (the objective is certified by the gap; ``w`` only sets the
        direction of the generator's step). A solve that cannot certify ends
        the run with status ``NUMERICAL_ERROR``.
    solver_options : dict, optional
        The solver's own keyword options, passed to
        :func:`dualgan.duals.solve` as ``options`` and checked by name at
        construction (e.g. ``{"memory": 50}`` for ``"lbfgsb"``; the options of
        a method are ``SOLVERS.options(method)``). Default None: the method's defaults.

    Raises
    ------
    ValueError
        If a number is out of range, a name is unknown, ``generator_optimizer``
        is given for the fixed-batch L-BFGS ascent, or the generator has no
        trainable parameters.
    TypeError
        If ``generator`` or ``features`` is not a module, ``constraint`` is not
        a handler, or the feature map's parameters are not of the generator's
        dtype (a float32 ``digits_features()`` under a float64 generator: the
        message names ``features.to(torch.float64)``, an exact conversion).

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017.

    Examples
    --------
    >>> import torch
    >>> from dualgan.data import ring
    >>> from dualgan.features import RBF
    >>> from dualgan.train import DualLinearGAN, mlp_generator
    >>> data = ring(5, std=0.1)
    >>> feats = RBF(data.sample(100, generator=torch.Generator().manual_seed(0)), sigma=0.2)
    >>> gan = DualLinearGAN(mlp_generator(dtype=torch.float64), feats, C=1e-4, latent_dim=2, mode="fixed")
    >>> hist = gan.fit(data, iterations=5)
    >>> hist.is_monotone(tol=1e-9)
    True
    """

    kind = "dual_linear"

    def __init__(self, generator: nn.Module, features: nn.Module, *, C: float = 1e-4, latent_dim: int,
                 batch_size: int = 200, mode: str = "minibatch", generator_lr: float = 1e-2, beta1: float = 0.5,
                 generator_optimizer: Callable | None = None, noise: str = "normal", constraint=None,
                 seed: int = 0, loss: str = "logistic", tol: float | None = None, solver: str = "newton",
                 max_backtracks: int = 30, shrink: float = 0.5, fixed_optimizer: str = "lbfgs",
                 lbfgs_history: int = 20, w_rtol: float = float("inf"), solver_options: dict | None = None):
        from ..duals import DISCRIMINATOR_LOSSES, SOLVERS

        self.loss = check_choice(loss, "loss", DISCRIMINATOR_LOSSES)
        self.fixed_optimizer = check_choice(fixed_optimizer, "fixed_optimizer", ("lbfgs", "adam"))
        self.lbfgs_history = check_int(lbfgs_history, "lbfgs_history", low=1)
        if tol is None:
            # minibatch: the sampling noise of the objective (~1e-2) dwarfs a 1e-6 gap
            tol = 1e-10 if mode == "fixed" else 1e-6
        self.tol = check_positive(tol, "tol")
        self.w_rtol = float("inf") if w_rtol == float("inf") else check_positive(w_rtol, "w_rtol")
        # checked here, not at the first iteration: a typo must not cost a started run
        self.solver = check_choice(solver, "solver", tuple(SOLVERS.names(losses=self.loss)))
        self.solver_options = SOLVERS.check_options(self.solver, solver_options)
        self.max_backtracks = check_int(max_backtracks, "max_backtracks", low=0)
        self.shrink = check_number(shrink, "shrink", low=0.0, high=1.0, low_open=True, high_open=True)
        if mode == "fixed" and self.fixed_optimizer == "lbfgs" and generator_optimizer is not None:
            raise ValueError("generator_optimizer replaces Adam; the fixed-batch ascent with fixed_optimizer='lbfgs' "
                             "uses its own L-BFGS: pass fixed_optimizer='adam' or no generator_optimizer")
        self._lbfgs = mode == "fixed" and self.fixed_optimizer == "lbfgs"
        super().__init__(generator, features, C=C, mode=mode, latent_dim=latent_dim, batch_size=batch_size,
                         noise=noise, generator_lr=generator_lr, beta1=beta1,
                         generator_optimizer=generator_optimizer, constraint=constraint, seed=seed)
        self.dual = None  # the last accepted DualResult (warm start of the next solve)
        self._phi_real_fixed = None
        self._current = None  # certified objective at the current generator (fixed batch, L-BFGS)

    def _make_generator_optimizer(self, factory):
        if self._lbfgs:
            # g(theta) is a deterministic smooth function in the fixed-batch setting, so a
            # quasi-Newton method with a strong-Wolfe line search (sufficient increase at
            # every accepted step) is the natural monotone ascent method
            # max_eval: torch's default (1.25 max_iter) would leave the line search no evaluation
            return torch.optim.LBFGS(self._params, lr=1.0, max_iter=1, max_eval=25, history_size=self.lbfgs_history,
                                     line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
        return super()._make_generator_optimizer(factory)

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(loss=self.loss, tol=self.tol, w_rtol=self.w_rtol, solver=self.solver,
                    solver_options=settings_string(self.solver_options))
        if self.mode == "fixed":  # the settings of the fixed-batch ascent
            meta.update(fixed_optimizer=self.fixed_optimizer)
            if self._lbfgs:
                meta.update(lbfgs_history=self.lbfgs_history)
            else:
                meta.update(max_backtracks=self.max_backtracks, shrink=self.shrink)
        return meta

    # one iteration ---------------------------------------------------------------
    def _step(self) -> dict | None:
        if self._lbfgs:
            return self._step_lbfgs()
        batch = self._batch()
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
        if not res.success:
            self.status = Status(StatusCode.NUMERICAL_ERROR, f"dual solver {res.status} (gap {res.gap:.3g}) at "
                                                             f"iteration {self.iteration}")
            return None
        # (b) Danskin: grad g(theta) = d/dtheta D(lambda*, theta)
        value = self._danskin_surrogate(phi_fake, res)
        penalty = self.constraint.penalty(fake)
        self.gen_optimizer.zero_grad(set_to_none=True)
        self._generator_grads(-value + penalty)
        grad_norm = self._grad_norm()
        if not math.isfinite(grad_norm) or not math.isfinite(float(penalty.detach())):
            self._non_finite("generator gradient or constraint penalty")
            return None
        current = res.dual_value - float(penalty.detach())
        row = {"generator_loss": -current}
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
                    if trial.success and math.isfinite(trial_value) and trial_value >= current:
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
        row["generator_grad_norm"] = grad_norm
        row.update(self._constraint_columns(samples_for_state))
        return row

    def _step_lbfgs(self) -> dict | None:
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
        batch = self._batch()
        if self._phi_real_fixed is None:
            with torch.no_grad():
                self._phi_real_fixed = self.features(batch.real)
        phi_real = self._phi_real_fixed
        if not _finite_tensor(phi_real):
            self._non_finite("features of the real samples")
            return None
        failures, non_finite = [], []
        solve_iterations = []  # Newton iterations of every solve of this step, in order
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
            solve_iterations.append(res.iterations)
            if not res.success:
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
        generator_loss = -self._current  # the loss at the point where the step starts
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
        grad_norm = self._grad_norm()
        self._current = value
        with torch.no_grad():
            samples = self.generator(batch.noise)
        self.constraint.update(samples)
        row = {"generator_loss": generator_loss}
        row.update(self._dual_columns(self.dual, value))
        # The last solve re-certifies the accepted point warm-started from the line search's last trial; when
        # that trial was this point it takes 0 iterations, and the multipliers are those of the trial's solve:
        # record the iterations of the solve that produced them.
        if len(solve_iterations) >= 2 and solve_iterations[-1] == 0:
            row["inner_iterations"] = float(solve_iterations[-2])
        row.update(step_size=float(state.get("t", 0.0)) if accepted else 0.0, accepted=float(accepted),
                   trials=float(trials), generator_grad_norm=grad_norm)
        row.update(self._constraint_columns(samples))
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
            return solve(problem, method=self.solver, tol=self.tol, lam0=warm, warn=False, w_rtol=self.w_rtol,
                         options=self.solver_options)

    def _dual_columns(self, res, generator_objective: float) -> dict:
        n, m = res.lam_real.shape[0], res.lam_fake.shape[0]
        # numpy: these small reductions cost a few microseconds each there, several times torch's
        lr = res.lam_real.detach().cpu().numpy() * n  # float64 tensors: the trainer's problems are torch
        lf = res.lam_fake.detach().cpu().numpy() * m
        both = np.concatenate([lr, lf])
        return {"objective": res.dual_value, "inner_gap": res.gap, "lambda_mean": float(both.mean()),
                "lambda_min": float(both.min()), "lambda_max": float(both.max()),
                "lambda_real_mean": float(lr.mean()), "lambda_fake_mean": float(lf.mean()),
                "inner_iterations": float(res.iterations), "generator_objective": generator_objective}

    # checkpoint extras -------------------------------------------------------------
    def _extra_state(self) -> dict:
        extra = super()._extra_state()
        extra["current"] = self._current
        extra["dual"] = None if self.dual is None else {"lam_real": self.dual.lam_real, "lam_fake": self.dual.lam_fake,
                                                        "slack": self.dual.slack, "w": self.dual.w}
        return extra

    def _validate_extra_state(self, extra: dict) -> None:
        super()._validate_extra_state(extra)
        if set(extra) != {"features", "fixed", "dual", "current"}:
            raise CheckpointError(f"its trainer state has keys {sorted(extra)}, expected ['current', 'dual', "
                                  f"'features', 'fixed']")
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
        super()._load_extra_state(extra)
        saved = extra["dual"]
        self._current = extra["current"]
        if saved is None:
            self.dual = None
            return
        # a warm start only needs the multipliers and their slack; rebuild a DualResult-like record
        from ..duals import DualResult

        self.dual = DualResult(lam_real=saved["lam_real"], lam_fake=saved["lam_fake"], w=saved.get("w"), b=None,
                               dual_value=float("nan"), primal_value=float("nan"), gap=float("nan"),
                               iterations=0, seconds=0.0,
                               status=Status(StatusCode.RUNNING, "restored from a checkpoint (a warm start only)"),
                               method=self.solver,
                               slack=saved["slack"])
        self._phi_real_fixed = None


@TRAINERS.register("standard_linear")
class StandardLinearGAN(_LinearTrainer):
    r"""The standard GAN baseline on the same linear discriminator (alternating Adam steps).

    The discriminator :math:`w` (initialised at 0) takes ``discriminator_steps``
    Adam steps on the primal :math:`P(w;\theta)` of eq. (1.1) of the theory
    page, then the generator one step on ``generator_loss`` with :math:`w` fixed.

    History columns (besides the shared ones of :class:`~dualgan.train.base.Trainer`):
    ``objective`` is the primal :math:`P(w_t;\theta_t)` after the discriminator
    step, an upper bound of :math:`g(\theta_t)`; ``generator_loss`` the
    generator's loss plus the constraint penalty before its step;
    ``discriminator_loss`` (:math:`P` at the last discriminator step),
    ``w_norm`` and ``generator_grad_norm``.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples.
    features : torch.nn.Module
        Any differentiable module mapping samples to ``(B, d)`` features.
    C : float, default 1e-4
        L2 weight of the discriminator (> 0).
    latent_dim : int
        Dimension of the generator's input (>= 1).
    batch_size : int, default 100
        Real and generated samples per iteration.
    mode : str, default "minibatch"
        ``"fixed"`` (one batch for the whole run) or ``"minibatch"``.
    generator_lr : float, default 1e-3
        Adam step size of the generator.
    beta1 : float, default 0.5
        Adam's first-moment decay of both players, in [0, 1).
    generator_optimizer : callable, optional
        ``params -> torch.optim.Optimizer`` replacing the generator's Adam. Default None: Adam.
    noise : str, default "normal"
        ``"normal"`` or ``"uniform"`` generator input.
    constraint : ConstraintHandler, optional
        A handler of :mod:`dualgan.constraints`. Default None: no constraint.
    seed : int, default 0
        Seeds the sampling of data and noise.
    discriminator_lr : float, default 1e-2
        Adam step size of the discriminator weights ``w``.
    discriminator_steps : int, default 1
        Discriminator steps per generator step (>= 1).
    gan_loss : str, default "minimax"
        The GAN loss of the generator, a name of :data:`dualgan.losses.LOSSES`
        written for the linear primal: ``"minimax"`` (ascend :math:`P(w;\theta)`, the saddle problem of eq.
        (1.1)) or ``"non_saturating"`` (minimise
        :math:`\frac1m\sum_j \ell(w^\top\phi(G(z_j)))`, i.e. :math:`-\log\sigma(s)`).

    Raises
    ------
    ValueError
        If a number is out of range or a name is unknown.
    TypeError
        If ``generator`` or ``features`` is not a module, ``constraint`` is not
        a handler, or the feature map's parameters are not of the generator's
        dtype (a float32 ``digits_features()`` under a float64 generator: the
        message names ``features.to(torch.float64)``, an exact conversion).

    References
    ----------
    Ian Goodfellow, Jean Pouget-Abadie, Mehdi Mirza, Bing Xu, David Warde-Farley,
    Sherjil Ozair, Aaron Courville, Yoshua Bengio. "Generative Adversarial Nets." NeurIPS 2014.
    """

    kind = "standard_linear"

    def __init__(self, generator: nn.Module, features: nn.Module, *, C: float = 1e-4, latent_dim: int,
                 batch_size: int = 100, mode: str = "minibatch", generator_lr: float = 1e-3, beta1: float = 0.5,
                 generator_optimizer: Callable | None = None, noise: str = "normal", constraint=None,
                 seed: int = 0, discriminator_lr: float = 1e-2, discriminator_steps: int = 1,
                 gan_loss: str = "minimax"):
        self.discriminator_lr = check_positive(discriminator_lr, "discriminator_lr")
        self.discriminator_steps = check_int(discriminator_steps, "discriminator_steps", low=1)
        self.gan_loss = check_choice(gan_loss, "gan_loss", GAN_LOSSES)
        super().__init__(generator, features, C=C, mode=mode, latent_dim=latent_dim, batch_size=batch_size,
                         noise=noise, generator_lr=generator_lr, beta1=beta1,
                         generator_optimizer=generator_optimizer, constraint=constraint, seed=seed)
        self.w: torch.Tensor | None = None
        self.disc_optimizer = None

    def _meta(self) -> dict:
        meta = super()._meta()
        # the GAN loss under the one settings name of every trainer (a name of dualgan.losses.LOSSES);
        # "generator_loss" is the column of its value
        meta.update(discriminator_lr=self.discriminator_lr, discriminator_steps=self.discriminator_steps,
                    gan_loss=self.gan_loss)
        return meta

    def _ensure_discriminator(self, d: int, dtype) -> None:
        if self.w is None:
            self.w = torch.zeros(d, dtype=dtype, device=self.device, requires_grad=True)
            self.disc_optimizer = torch.optim.Adam([self.w], lr=self.discriminator_lr, betas=(self.beta1, 0.999))

    def primal(self, phi_real: torch.Tensor, phi_fake: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        r"""The primal cost of the discriminator, eq. (1.1) of the theory page with the logistic loss.

        :math:`P(w) = \frac C2\|w\|^2 + \mathrm{mean}_i\,\ell(w^\top\phi_i) + \mathrm{mean}_j\,\ell(-w^\top\tilde\phi_j)`,
        :math:`\ell(s) = \log(1 + e^{-s})`.

        Parameters
        ----------
        phi_real : torch.Tensor
            Shape ``(n, d)``: features of the real samples.
        phi_fake : torch.Tensor
            Shape ``(m, d)``: features of the generated samples.
        w : torch.Tensor, optional
            Shape ``(d,)``: the weights. Default None: the trainer's current ``w``.

        Returns
        -------
        torch.Tensor
            A 0-d tensor (with graph when the inputs have one).
        """
        w = self.w if w is None else w
        return (0.5 * self.C * (w @ w) + F.softplus(-(phi_real @ w)).mean() + F.softplus(phi_fake @ w).mean())

    def _step(self) -> dict | None:
        batch = self._batch()
        with torch.no_grad():
            phi_real = self.features(batch.real)
        if not _finite_tensor(phi_real):
            self._non_finite("features of the real samples")
            return None
        self._ensure_discriminator(phi_real.shape[1], phi_real.dtype)
        w_old = self.w.detach().clone()
        # discriminator: minimise P(w; theta) with the generator fixed
        for _ in range(self.discriminator_steps):
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
        if self.gan_loss == "minimax":
            gen_loss = -F.softplus(phi_fake @ w).mean()
        else:
            gen_loss = F.softplus(-(phi_fake @ w)).mean()
        with torch.no_grad():
            objective = float(self.primal(phi_real, phi_fake.detach(), w))
        self.gen_optimizer.zero_grad(set_to_none=True)
        total = gen_loss + self.constraint.penalty(fake)
        self._generator_grads(total)
        grad_norm = self._grad_norm()
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
        row = {"objective": objective, "generator_loss": float(total.detach()),
               "discriminator_loss": float(disc_loss.detach()), "w_norm": float(w.norm()), "generator_grad_norm": grad_norm}
        row.update(self._constraint_columns(fake_after))
        return row

    def _extra_state(self) -> dict:
        extra = super()._extra_state()
        extra["w"] = None if self.w is None else self.w.detach()
        extra["disc_optimizer"] = None if self.w is None else self.disc_optimizer.state_dict()
        return extra

    def _validate_extra_state(self, extra: dict) -> None:
        super()._validate_extra_state(extra)
        if "w" not in extra:
            raise CheckpointError("its discriminator weights w are missing")
        if extra["w"] is None:
            return
        w = extra["w"]
        d = getattr(self.features, "out_features", None)
        if not isinstance(w, torch.Tensor) or w.ndim != 1 or (isinstance(d, int) and w.shape[0] != d):
            raise CheckpointError(f"its discriminator weights w are not a vector of the feature width: {w!r}")
        if not isinstance(extra.get("disc_optimizer"), dict):
            raise CheckpointError("its discriminator optimiser state is missing")
        # its moments must have w's shape, else the next step fails in torch (checked on the optimiser it will be)
        trial = torch.optim.Adam([torch.zeros_like(w, requires_grad=True)], lr=self.discriminator_lr,
                                 betas=(self.beta1, 0.999))
        _check_optimizer_state("discriminator optimiser", trial, extra["disc_optimizer"])

    def _load_extra_state(self, extra: dict) -> None:
        super()._load_extra_state(extra)
        if extra["w"] is None:
            self.w, self.disc_optimizer = None, None
            return
        w = extra["w"]
        self.w = w.clone().to(self.device).requires_grad_(True)
        self.disc_optimizer = torch.optim.Adam([self.w], lr=self.discriminator_lr, betas=(self.beta1, 0.999))
        self.disc_optimizer.load_state_dict(extra["disc_optimizer"])


# ---------------------------------------------------------------------- feature maps
def _check_features(features: nn.Module, generator: nn.Module, latent_dim: int, dtype, device) -> None:
    """The feature map must take the generator's samples: same floating dtype, one ``(d,)`` row per sample.

    Checked at construction with one eval-mode forward on two generated
    samples (no statistics move), so a float32 feature map under a float64
    generator fails with the fix instead of torch's dtype error inside ``fit``.
    """
    wrong = sorted({str(p.dtype) for p in features.parameters() if p.is_floating_point() and p.dtype != dtype})
    if wrong:
        raise TypeError(f"the feature map's parameters are {', '.join(wrong)} but the generator's samples are "
                        f"{dtype}; convert the feature map, e.g. features.to({dtype}) (exact for float32 -> "
                        f"float64), or use a generator of the feature map's dtype")
    with eval_mode(generator, features), torch.no_grad():
        samples = generator(torch.zeros(2, latent_dim, dtype=dtype, device=device))
        try:
            phi = features(samples)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"the feature map cannot take the generator's samples of shape "
                             f"{tuple(samples.shape)} and dtype {samples.dtype} ({exc}); give the generator the "
                             f"output shape and dtype the feature map expects") from exc
    if not isinstance(phi, torch.Tensor) or phi.ndim != 2 or phi.shape[0] != 2:
        raise ValueError(f"the feature map must return (B, d) features, one row per sample, but it returned "
                         f"{tuple(phi.shape) if isinstance(phi, torch.Tensor) else type(phi).__name__} for 2 samples")


def _check_fixed_generator(generator: nn.Module) -> None:
    """Fixed mode ascends a fixed function of the generator: refuse what changes it between two evaluations.

    Active dropout (a new mask each time), BatchNorm in training mode (its
    output depends on the batch and its statistics move) and spectral
    normalisation in training mode (a power iteration at every forward pass).
    """
    names = {m: f"{name or '<root>'} ({type(m).__name__})" for name, m in generator.named_modules()}
    dropout = active_dropout(generator)
    batchnorm = [names[m] for m in names if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    spectral = [names[m] for m in spectral_norm_layers(generator) if m.training]
    for found, what in ((dropout, "active dropout"), (batchnorm, "BatchNorm in training mode"),
                        (spectral, "spectral normalisation in training mode (a power iteration at every forward "
                                   "pass)")):
        if found:
            raise ValueError(f"mode='fixed' ascends one fixed function of the generator on one batch, but "
                             f"generator layer {found[0]} is {what}, so every evaluation would be a different "
                             f"problem and the monotone ascent would compare them; call generator.eval() before "
                             f"fit (dropout off, BatchNorm on its running statistics, spectral norm on its stored "
                             f"vectors) or use mode='minibatch'")


def feature_fingerprint(features: nn.Module) -> str:
    """A hash of a feature map's identity: its class, every tensor of its ``state_dict`` and its scalar settings.

    Two feature maps with the same fingerprint compute the same features
    (same anchors, projections, bandwidths); a checkpoint records it so that
    resuming with another feature map is refused.

    Parameters
    ----------
    features : torch.nn.Module
        The feature map (any module).

    Returns
    -------
    str
        A SHA-256 hex digest (64 characters).
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


