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
  The three ascents are the strategies of :mod:`dualgan.train.ascent`, written
  around one evaluation of the certified value and its Danskin gradient.

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

import math
import warnings
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import _all_finite, check_choice, check_int, check_number, check_positive
from ..constraints.base import handler_penalty
from ..duals import DualSolverWarning, LinearDual, solve
from ..status import Status, StatusCode
# the shared base of the two trainers; MODES and feature_fingerprint stay importable from here
from ._linear_base import MODES, _LinearTrainer, feature_fingerprint
from .ascent import FIXED_OPTIMIZERS, AscentFailure, make_ascent, optimizer_step
from .base import TRAINERS, CheckpointError, _check_optimizer_state, settings_string

__all__ = ["DualLinearGAN", "StandardLinearGAN", "RecordLambdas", "MODES", "feature_fingerprint"]

#: the generator losses of :class:`StandardLinearGAN` (``gan_loss``)
GAN_LOSSES = ("minimax", "non_saturating")


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
        self.fixed_optimizer = check_choice(fixed_optimizer, "fixed_optimizer", FIXED_OPTIMIZERS)
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
        # the generator's ascent (before the base builds the generator's optimiser, which the ascent may choose)
        self._ascent = make_ascent(mode, self.fixed_optimizer,
                                   max_backtracks=self.max_backtracks, shrink=self.shrink,
                                   lbfgs_history=self.lbfgs_history)
        super().__init__(generator, features, C=C, mode=mode, latent_dim=latent_dim, batch_size=batch_size,
                         noise=noise, generator_lr=generator_lr, beta1=beta1,
                         generator_optimizer=generator_optimizer, constraint=constraint, seed=seed)
        self.dual = None  # the last accepted DualResult (warm start of the next solve)
        self._phi_real_fixed = None

    def _make_generator_optimizer(self, factory):
        return self._ascent.optimizer(self._params) or super()._make_generator_optimizer(factory)

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(loss=self.loss, tol=self.tol, w_rtol=self.w_rtol, solver=self.solver,
                    solver_options=settings_string(self.solver_options))
        meta.update(self._ascent.settings())  # the settings of the fixed-batch ascent
        return meta

    # one iteration ---------------------------------------------------------------
    def _step(self) -> dict | None:
        """One generator step of the ascent strategy (:mod:`dualgan.train.ascent`), recorded as a history row."""
        batch = self._batch()
        try:
            phi_real = self._real_features(batch.real)
            step = self._ascent.step(self, batch.noise, phi_real)
        except AscentFailure as failure:
            if failure.solver_failed:
                bad = failure.result
                self.status = Status(StatusCode.NUMERICAL_ERROR, f"dual solver {bad.status} (gap {bad.gap:.3g}) at "
                                                                 f"iteration {self.iteration}")
            else:
                self._non_finite(failure.what)
            return None
        self.constraint.update(step.samples)
        self.dual = step.point.result
        row = {"generator_loss": step.generator_loss}
        row.update(self._dual_columns(step.point.result, step.point.objective))
        row["inner_iterations"] = float(step.inner_iterations)
        if step.accepted is not None:
            row.update(step_size=step.step_size, accepted=float(step.accepted), trials=float(step.trials))
        row["generator_grad_norm"] = step.grad_norm
        row.update(self._constraint_columns(step.samples))
        return row

    def _real_features(self, real: torch.Tensor) -> torch.Tensor:
        """Features of the real samples, computed once per fixed batch; non-finite ones raise :class:`AscentFailure`."""
        if self.mode == "fixed" and self._phi_real_fixed is not None:
            return self._phi_real_fixed
        with torch.no_grad():
            phi_real = self.features(real)
        if not _all_finite(phi_real):
            raise AscentFailure("features of the real samples")
        if self.mode == "fixed":
            self._phi_real_fixed = phi_real
        return phi_real

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
        return self._solve_problem(LinearDual(phi_real.detach(), phi_fake.detach(), self.C, loss=self.loss), warm)

    def _solve_problem(self, problem, warm):
        """The trainer's solver on ``problem`` (a dual of :mod:`dualgan.duals`), warm-started; its status says how it ended."""
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
        extra.update(self._ascent.state_dict())  # "current": the certified objective at the generator (L-BFGS)
        extra["dual"] = None if self.dual is None else {"lam_real": self.dual.lam_real, "lam_fake": self.dual.lam_fake,
                                                        "slack": self.dual.slack, "w": self.dual.w}
        return extra

    def _validate_extra_state(self, extra: dict) -> None:
        super()._validate_extra_state(extra)
        if set(extra) != {"features", "fixed", "dual", "current"}:
            raise CheckpointError(f"its trainer state has keys {sorted(extra)}, expected ['current', 'dual', "
                                  f"'features', 'fixed']")
        self._ascent.check_state(extra)
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
        self._ascent.load_state_dict(extra)
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
        if not _all_finite(phi_real):
            self._non_finite("features of the real samples")
            return None
        self._ensure_discriminator(phi_real.shape[1], phi_real.dtype)
        w_old = self.w.detach().clone()
        # discriminator: minimise P(w; theta) with the generator fixed
        for _ in range(self.discriminator_steps):
            with torch.no_grad():
                fake_d = self.generator(batch.noise)
                if not _all_finite(fake_d):
                    self._non_finite("samples")
                    return None
                phi_fake_d = self.features(fake_d)
            if not _all_finite(phi_fake_d):
                self._non_finite("features of the samples")
                return None
            disc_loss = self.primal(phi_real, phi_fake_d)
            self.disc_optimizer.zero_grad(set_to_none=True)
            disc_loss.backward()
            self.disc_optimizer.step()
        if not _all_finite(self.w):
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
        total = gen_loss + handler_penalty(self.constraint, fake)
        self._generator_grads(total)
        grad_norm = self._grad_norm()
        if not math.isfinite(objective) or not math.isfinite(grad_norm):
            self._non_finite("objective or generator gradient")
            return None
        try:
            fake_after = optimizer_step(self, batch.noise)
        except AscentFailure as failure:
            self._non_finite(failure.what)
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
