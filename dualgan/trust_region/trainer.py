r"""``TrustRegionGAN``: generator steps alternating with trust-region discriminator steps.

Each iteration (the Dualing GANs algorithm for non-linear discriminators, eqs. (2.1)-(2.13) of the theory page):

1. draw a real batch and a generated batch :math:`G_\theta(z)`;
2. one trust-region step of the discriminator on the cost
   :math:`f(w) = \tfrac C2\|w\|^2 + \sum_i a_i\ell(y_iF(w,x_i))`
   (:class:`~dualgan.trust_region.TrustRegionDiscriminator`, ``model="score"`` or ``"cost"``);
   ``model="adam"`` replaces it by one plain Adam step on the same cost (the
   standard-training baseline, with the same records where they make sense);
3. ``generator_steps`` generator updates on the loss ``gan_loss``
   (a :mod:`dualgan.losses` name; default ``"non_saturating"``) plus the
   constraint handler's penalty, then ``handler.update(samples)``.

It is a :class:`~dualgan.train.base.Trainer` (registered as ``"trust_region"``):
``fit(data, iterations)`` trains to the total ``iterations`` and returns the
trainer's one :class:`~dualgan.train.History`, with callbacks, progress,
checkpoints and status as every trainer of the library. Its rows hold the
shared columns (``iteration``, ``objective``: the discriminator cost after its
step, the minibatch estimate of :math:`\min_w f`, which the generator drives
up; ``generator_loss``: the last generator step's loss plus penalty;
``seconds``; with a constraint ``constraint_mean_violation``,
``constraint_max_violation``, ``constraint_penalty_weight``) and
``cost_before``, ``rho``, ``radius_after`` and ``radius_before`` (the trust radius after and before the step),
``accepted`` (1/0), ``step_norm``, ``predicted_decrease``,
``actual_decrease``, ``attempts``, ``mu``, ``inner_iterations``, ``inner_gap``
(the inner solver's iterations and gap), ``generator_grad_norm`` (the norm of
the last generator step's gradient).
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import nn

from .._checks import check_choice, check_int, check_positive
from .._modes import fixed_within_step
from ..constraints.base import handler_penalty
from ..losses import get_loss
from ..status import Status, StatusCode
from ..train.base import (TRAINERS, CheckpointError, Trainer, _check_discriminator, _check_module_state,
                          _check_optimizer_state, settings_string)
from .step import TrustRegionDiscriminator, discriminator_cost

__all__ = ["TrustRegionGAN", "TRAINER_MODELS"]

TRAINER_MODELS = ("score", "cost", "adam")


@TRAINERS.register("trust_region")
class TrustRegionGAN(Trainer):
    r"""Train a generator against a discriminator updated by trust-region steps.

    The discriminator minimises the cost of eq. (2.1) of the theory page by
    the trust-region steps of eqs. (2.2)-(2.13); the generator minimises its
    loss (eqs. (5.2)-(5.6)) on the discriminator's scores. The history's
    columns are listed in the module docstring; :attr:`radius` is the current
    trust radius and :attr:`accepted_fraction` the share of accepted steps.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples ``(B, ...)``.
    discriminator : torch.nn.Module
        Maps samples to one score each: an MLP, a conv net, or a feature map
        followed by a linear head (``nn.Sequential(RBF(anchors), nn.Linear(k, 1))``;
        frozen parameters stay fixed). Its dtype must be the generator's and
        it must give one score per sample (both checked at construction); it
        is one fixed function within each iteration (eq. (7.2) of the theory
        page: spectral-norm vectors advance once per iteration, at the
        discriminator step, and are frozen for it and the generator's steps);
        active dropout is refused, and BatchNorm in training mode is refused by
        ``model="score"`` (per-sample gradients) and accepted by ``"cost"`` and
        ``"adam"`` (running statistics moved once per iteration).
    latent_dim : int
        Noise dimension (>= 1).
    batch_size : int, default 64
        Real and generated samples per iteration (>= 1).
    noise : str, default "normal"
        ``"normal"`` or ``"uniform"`` (on [-1, 1]) generator input.
    model : str, default "score"
        ``"score"`` (score linearisation, eq. (2.4)), ``"cost"`` (cost
        linearisation, eq. (2.3)) or ``"adam"`` (plain Adam baseline, see the module docstring).
    C : float, default 1e-3
        L2 weight of the discriminator cost (> 0), passed to
        :class:`~dualgan.trust_region.TrustRegionDiscriminator`.
    radius : float, default 0.1
        Initial trust radius :math:`\Delta_0 > 0`, passed to the trust-region discriminator.
    policy : RadiusPolicy or str, optional
        Radius policy or its name (``"standard"``, ``"symmetric"``,
        ``"fixed"``), passed to the trust-region discriminator. Default None: ``"standard"``.
    solver : str, default "newton"
        Inner solver of the score dual, a name of
        :data:`~dualgan.trust_region.SUBPROBLEM_SOLVERS` (``"newton"``,
        ``"ipopt"``, ``"casadi"``), checked at construction; the trust-region
        discriminator's ``inner`` (the same name as ``solver`` of
        :class:`~dualgan.train.DualLinearGAN`, the discriminator's solver).
    solver_options : dict, optional
        The solver's own keyword options (``SUBPROBLEM_SOLVERS.options(solver)``,
        e.g. ``{"max_outer": 100}``), checked by name at construction. Default None: its defaults.
    inner_tol : float, optional
        The inner solver's tolerance (> 0). Default None: the solver's default.
    max_attempts : int, default 4
        Solves per discriminator step (>= 1; Python or numpy integer).
    chunk_size : int, optional
        Jacobian rows held at once by the score linearisation (>= 1). Default None: as many as fit in ``memory_mb``.
    memory_mb : float, default 512.0
        Memory budget of the score linearisation in MiB (finite, > 0).
    linearization : str, default "auto"
        How the Gram matrix is computed, a name of :data:`~dualgan.trust_region.LINEARIZATIONS`.
    gan_loss : str or GANLoss, default "non_saturating"
        The GAN loss of the generator's step, a name of
        :data:`dualgan.losses.LOSSES` or a ``GANLoss`` (the same name and
        meaning as in :class:`~dualgan.games.GameTrainer`; ``generator_loss`` is
        the history column of its value).
    generator_lr : float, default 1e-3
        Adam step size of the generator; ignored when ``generator_optimizer`` is given.
    beta1 : float, default 0.5
        Adam's first-moment decay (generator, and the ``"adam"`` discriminator), in [0, 1).
    generator_optimizer : callable, optional
        ``params -> torch.optim.Optimizer`` for the generator. Default None: Adam.
    discriminator_lr : float, default 1e-3
        Adam step size of the ``"adam"`` baseline (> 0).
    generator_steps : int, default 1
        Generator updates per iteration (>= 1).
    constraint : ConstraintHandler, optional
        A handler following :mod:`dualgan.constraints.base`. Default None: no constraint.
    seed : int, default 0
        Seeds the noise and minibatch draws.

    Raises
    ------
    ValueError
        If ``model`` is unknown, a number is out of range (``radius`` below
        the policy's ``min_radius`` included), the generator has no trainable
        parameters or breaks its contract (one sample per noise row, samples
        that depend on its parameters), or the discriminator does not give one
        score per sample.
    TypeError
        If the generator or discriminator is not a module, the constraint
        handler is incomplete, the generator returns no tensor, or the
        discriminator's dtype is not the generator's.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C).
    """

    kind = "trust_region"

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, latent_dim: int, batch_size: int = 64,
                 noise: str = "normal", model: str = "score", C: float = 1e-3, radius: float = 0.1, policy=None,
                 solver: str = "newton", solver_options: dict | None = None, inner_tol: float | None = None,
                 max_attempts: int = 4, chunk_size: int | None = None, memory_mb: float = 512.0,
                 linearization: str = "auto", gan_loss="non_saturating", generator_lr: float = 1e-3,
                 beta1: float = 0.5, generator_optimizer: Callable | None = None, discriminator_lr: float = 1e-3,
                 generator_steps: int = 1, constraint=None, seed: int = 0):
        self.model = check_choice(model, "model", TRAINER_MODELS)
        if not isinstance(discriminator, nn.Module):
            raise TypeError(f"discriminator must be a torch.nn.Module, got {type(discriminator).__name__}")
        self.generator_steps = check_int(generator_steps, "generator_steps", low=1)
        self.C = check_positive(C, "C")
        self.discriminator_lr = check_positive(discriminator_lr, "discriminator_lr")
        self.loss = get_loss(gan_loss)
        super().__init__(generator, latent_dim=latent_dim, batch_size=batch_size, noise=noise,
                         generator_lr=generator_lr, beta1=beta1, generator_optimizer=generator_optimizer,
                         constraint=constraint, seed=seed)
        _check_discriminator(discriminator, generator, self.latent_dim, self.dtype, self.device)
        self.discriminator = discriminator
        # every value is checked here (TrustRegionDiscriminator), not at the first iteration
        self.tr = TrustRegionDiscriminator(discriminator, model="cost" if model == "adam" else model, C=self.C,
                                           radius=radius, policy=policy, solver=solver, solver_options=solver_options,
                                           inner_tol=inner_tol, max_attempts=max_attempts, chunk_size=chunk_size,
                                           memory_mb=memory_mb, linearization=linearization)
        self.d_opt = (torch.optim.Adam(self.tr.fn.module.parameters(), lr=self.discriminator_lr,
                                       betas=(self.beta1, 0.999)) if model == "adam" else None)
        # recorded now (the radius and a policy's fields are the run's starting settings)
        self._settings = {"radius": float(self.tr.radius), "policy": settings_string(self.tr.policy),
                          "solver": self.tr.solver, "solver_options": settings_string(self.tr.solver_options),
                          "inner_tol": self.tr.inner_tol, "max_attempts": self.tr.max_attempts,
                          "chunk_size": self.tr.chunk_size, "memory_mb": self.tr.memory_mb,
                          "linearization": self.tr.linearization}

    @property
    def radius(self) -> float:
        """The discriminator's current trust radius."""
        return float(self.tr.radius)

    @property
    def accepted_fraction(self) -> float:
        """Share of the recorded discriminator steps that were accepted, in [0, 1] (NaN without any)."""
        acc = [a for a in (self.history.column("accepted") if "accepted" in self.history else []) if a == a]
        return float(sum(acc) / len(acc)) if acc else math.nan

    # ------------------------------------------------------------ one iteration
    def _step(self) -> dict | None:
        real = self._real(self.batch_size)  # non-finite data ends the run in the base class's sampling
        with torch.no_grad():
            fake = self.generator(self._noise(self.batch_size, self._rng))
        if not bool(torch.isfinite(fake).all()):
            self._non_finite("samples")
            return None
        if not all(bool(torch.isfinite(p).all()) for p in self.discriminator.parameters()):
            self._non_finite("discriminator weights")
            return None
        backup = self._weights()
        row = self._discriminator_round(real, fake)
        failed = row.pop("failed", None)
        if failed is not None:  # the step's own breakdown (the inner solver failed): no silent success
            self._restore_weights(backup)
            self.status = Status(failed.code, f"discriminator step at iteration {self.iteration}: {failed.message}")
            return None
        if not math.isfinite(row["objective"]):
            self._restore_weights(backup)
            self._non_finite("discriminator cost")
            return None
        gen_loss, samples = self._generator_round(self.batch_size)
        if samples is None:
            self._restore_weights(backup)
            self._non_finite(gen_loss)
            return None
        row["generator_loss"] = gen_loss
        row["generator_grad_norm"] = self._grad_norm()  # of the last generator step
        row.update(self._constraint_columns(samples))
        return row

    def _final_status(self, iterations: int) -> Status:
        """``STALLED`` when the run ends with the trust radius at the policy's floor and its last steps rejected.

        The policy shrinks the radius on poor steps, so a radius at
        ``min_radius`` whose last step was rejected means the discriminator
        stopped being trained (typically a cost that changes between two
        evaluations, or a model that does not fit the cost), which a
        ``SUCCESS`` would hide; the message counts the rejected steps.
        """
        floor = self.tr.policy.min_radius
        accepted = self.history.column("accepted") if self.d_opt is None and "accepted" in self.history else []
        rejected = 0
        for a in reversed(list(accepted)):  # from the history: the same after a resume
            if a != 0:
                break
            rejected += 1
        if rejected and self.tr.radius <= floor * (1 + 1e-12):
            return Status(StatusCode.STALLED, f"reached iteration {iterations}, but the trust radius collapsed to "
                                              f"the policy's min_radius {floor:g} and the last {rejected} "
                                              f"discriminator step(s) were rejected: the discriminator is no "
                                              f"longer trained. Check that the discriminator is a fixed function "
                                              f"(no active dropout) and of the generator's dtype, or try "
                                              f"model='cost' or another radius policy")
        return super()._final_status(iterations)

    # ------------------------------------------------------------ checkpoints
    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(model=self.model, C=float(self.C), gan_loss=self.loss.name, generator_steps=self.generator_steps,
                    discriminator_lr=self.discriminator_lr if self.d_opt is not None else None)
        if self.d_opt is None:  # the trust-region settings steer only the trust-region discriminator
            meta.update(self._settings)
        return meta

    def _extra_state(self) -> dict:
        # each part's own state (the step's: radius and warm start), in the layout checkpoints have always had
        return {
            "discriminator": {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()},
            "d_opt": None if self.d_opt is None else copy.deepcopy(self.d_opt.state_dict()),
            **self.tr.state_dict(),
        }

    def _validate_extra_state(self, extra: dict) -> None:
        missing = [k for k in ("discriminator", "d_opt", "radius", "warm") if k not in extra]
        if missing:
            raise CheckpointError(f"its trust-region state is missing {missing}; use an earlier copy")
        _check_module_state("discriminator", self.discriminator, extra["discriminator"])
        _check_optimizer_state("discriminator optimiser", self.d_opt, extra["d_opt"])
        try:  # the step checks its own state, on a shallow copy: nothing of this trainer changes here
            copy.copy(self.tr).load_state_dict({"radius": extra["radius"], "warm": extra["warm"]})
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc

    def _load_extra_state(self, extra: dict) -> None:
        self.discriminator.load_state_dict(extra["discriminator"])
        if self.d_opt is not None:
            self.d_opt.load_state_dict(extra["d_opt"])
        self.tr.load_state_dict({"radius": extra["radius"], "warm": extra["warm"]})

    def _weights(self):
        params = list(self.generator.parameters()) + list(self.discriminator.parameters())
        return [p.detach().clone() for p in params]

    def _restore_weights(self, backup) -> None:
        params = list(self.generator.parameters()) + list(self.discriminator.parameters())
        with torch.no_grad():
            for p, b in zip(params, backup):
                p.copy_(b)

    # ------------------------------------------------------------ internals
    def _discriminator_round(self, real, fake) -> dict:
        if self.d_opt is None:
            rec = self.tr.step(real, fake)
            inner = rec.inner
            failed = rec.status if rec.status.code in (StatusCode.NUMERICAL_ERROR, StatusCode.ERROR) else None
            return dict(failed=failed, objective=rec.cost_after, cost_before=rec.cost_before, rho=rec.rho,
                        radius_after=rec.radius_after, radius_before=rec.radius_before, accepted=float(rec.accepted),
                        step_norm=rec.step_norm, predicted_decrease=rec.predicted_decrease,
                        actual_decrease=rec.actual_decrease, attempts=rec.attempts,
                        mu=inner.mu if inner is not None else math.nan,
                        inner_iterations=inner.inner_iterations if inner is not None else math.nan,
                        inner_gap=inner.gap if inner is not None else math.nan)
        # standard training: one Adam step on the same cost f
        x, y, a = self.tr.batch(real, fake)
        params = [p for p in self.tr.fn.module.parameters() if p.requires_grad]
        w_before = torch.cat([p.detach().reshape(-1) for p in params])
        self.d_opt.zero_grad(set_to_none=True)
        cost = discriminator_cost(self.tr.fn.module(x).reshape(-1), y, a, self.C,
                                  sum((p.to(torch.float64) ** 2).sum() for p in params))
        cost.backward()
        self.d_opt.step()
        w_after = torch.cat([p.detach().reshape(-1) for p in params])
        after = self.tr.cost(real, fake)
        return dict(objective=after, cost_before=float(cost.detach()), rho=math.nan, radius_after=math.nan,
                    radius_before=math.nan, accepted=math.nan,
                    step_norm=float((w_after - w_before).double().norm()), predicted_decrease=math.nan,
                    actual_decrease=float(cost.detach()) - after, attempts=1, mu=math.nan,
                    inner_iterations=math.nan, inner_gap=math.nan)

    def _generator_round(self, batch_size):
        """``generator_steps`` updates; returns (loss, samples), or (what, None) when something is not finite."""
        loss_value, samples = math.nan, None
        for _ in range(self.generator_steps):
            samples = self.generator(self._noise(batch_size, self._rng))
            if not bool(torch.isfinite(samples).all()):
                return "samples", None
            # the discriminator is a fixed function of the generator's step (eq. (7.2) of the theory page):
            # spectral-norm vectors not iterated, running statistics put back
            with fixed_within_step(self.discriminator):
                scores = self.discriminator(samples).reshape(-1)
                loss = self.loss.generator_loss(scores) + handler_penalty(self.constraint, samples)
                if not math.isfinite(float(loss.detach())):
                    return "generator loss", None
                grads = torch.autograd.grad(loss, self._params)
            if not all(bool(torch.isfinite(g).all()) for g in grads):
                return "generator gradient", None
            for p, g in zip(self._params, grads):
                p.grad = g
            self.gen_optimizer.step()
            self.constraint.update(samples.detach())
            loss_value = float(loss.detach())
        return loss_value, samples
