r"""``TrustRegionGAN``: generator steps alternating with trust-region discriminator steps.

Each iteration (the Dualing GANs algorithm for non-linear discriminators, eqs. (2.1)-(2.13) of the theory page):

1. draw a real batch and a generated batch :math:`G_\theta(z)`;
2. one trust-region step of the discriminator on the cost
   :math:`f(w) = \tfrac C2\|w\|^2 + \sum_i a_i\ell(y_iF(w,x_i))`
   (:class:`~dualgan.trust_region.TrustRegionDiscriminator`, ``model="score"`` or ``"cost"``);
   ``model="adam"`` replaces it by one plain Adam step on the same cost (the
   standard-training baseline, with the same records where they make sense);
3. ``generator_steps`` generator updates on the loss ``generator_loss``
   (a :mod:`dualgan.losses` name; default ``"non_saturating"``) plus the
   constraint handler's penalty, then ``handler.update(samples)``.

The :class:`~dualgan.train.History` gets one row per iteration with
``objective`` (the discriminator cost after its step, the minibatch estimate
of :math:`\min_w f`, which the generator drives up), ``cost_before``, ``rho``,
``radius`` (after the step), ``radius_before``, ``accepted`` (1/0),
``step_norm``, ``predicted_decrease``, ``actual_decrease``, ``attempts``,
``mu``, ``inner_iterations``, ``inner_gap``, ``generator_loss``, ``seconds``
and, with a constraint, ``constraint_mean_violation``, ``constraint_max_violation``,
``penalty_weight``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..constraints.base import NoConstraint
from ..losses import get_loss
from ..train.history import History
from .step import TrustRegionDiscriminator, discriminator_cost

__all__ = ["TrustRegionGAN", "TrustRegionResult", "TRAINER_MODELS"]

TRAINER_MODELS = ("score", "cost", "adam")


@dataclass(frozen=True)
class TrustRegionResult:
    """Outcome of :meth:`TrustRegionGAN.fit`: the history, final radius, share of accepted steps, status."""

    history: History
    final_radius: float
    accepted_fraction: float
    status: str


class TrustRegionGAN:
    r"""Train a generator against a discriminator updated by trust-region steps.

    Parameters
    ----------
    generator: ``nn.Module`` mapping noise (B, latent_dim) to samples.
    discriminator: ``nn.Module`` mapping samples to one score each: an MLP, a
        conv net, or a feature map followed by a linear head
        (``nn.Sequential(RBF(anchors), nn.Linear(k, 1))``; frozen parameters stay fixed).
    latent_dim: noise dimension.
    model: ``"score"`` (default), ``"cost"`` or ``"adam"`` (baseline, see module doc).
    C, radius, policy, inner, max_attempts, memory_mb: passed to
        :class:`~dualgan.trust_region.TrustRegionDiscriminator`.
    generator_loss: a :mod:`dualgan.losses` name or ``GANLoss``.
    generator_lr: Adam step size of the generator (betas (0.5, 0.999)) unless
        ``generator_optimizer`` (a function params -> optimizer) is given.
    discriminator_lr: Adam step size of the ``"adam"`` baseline.
    generator_steps: generator updates per iteration.
    constraint: ``None`` or a handler following :mod:`dualgan.constraints.base`.
    seed: seeds the noise and minibatch draws.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, latent_dim: int, model: str = "score",
                 C: float = 1e-3, radius: float = 0.1, policy=None, inner: str = "newton", max_attempts: int = 4,
                 memory_mb: float = 512.0, generator_loss="non_saturating", generator_lr: float = 1e-3,
                 generator_optimizer: Callable | None = None, discriminator_lr: float = 1e-3,
                 generator_steps: int = 1, constraint=None, seed: int = 0):
        if model not in TRAINER_MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {list(TRAINER_MODELS)}")
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        if not isinstance(generator_steps, int) or generator_steps < 1:
            raise ValueError(f"generator_steps must be a positive integer, got {generator_steps!r}")
        if not isinstance(generator, nn.Module):
            raise ValueError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
        self.constraint = NoConstraint() if constraint is None else constraint
        for method in ("wrap_generator", "penalty", "update", "state"):
            if not callable(getattr(self.constraint, method, None)):
                raise ValueError(f"constraint must follow dualgan.constraints.base.ConstraintHandler "
                                 f"(missing {method}); pass None for no constraint")
        self.generator = self.constraint.wrap_generator(generator)
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.model = model
        self.C = C
        self.loss = get_loss(generator_loss)
        self.generator_steps = generator_steps
        self.seed = int(seed)
        self._gen_params = [p for p in self.generator.parameters() if p.requires_grad]
        if not self._gen_params:
            raise ValueError("the generator has no trainable parameters")
        self.g_opt = (generator_optimizer(self._gen_params) if generator_optimizer is not None
                      else torch.optim.Adam(self._gen_params, lr=generator_lr, betas=(0.5, 0.999)))
        self.tr = TrustRegionDiscriminator(discriminator, model="cost" if model == "adam" else model, C=C,
                                           radius=radius, policy=policy, inner=inner, max_attempts=max_attempts,
                                           memory_mb=memory_mb)
        self.d_opt = (torch.optim.Adam(self.tr.fn.module.parameters(), lr=discriminator_lr, betas=(0.5, 0.999))
                      if model == "adam" else None)
        p0 = self._gen_params[0]
        self.device, self.dtype = p0.device, p0.dtype
        self._gen = torch.Generator(device="cpu").manual_seed(self.seed)

    # ------------------------------------------------------------ public
    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=self._gen, dtype=self.dtype).to(self.device)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` generated samples (no gradient)."""
        return self.generator(self.noise(n))

    def fit(self, data, iterations: int, batch_size: int = 64, progress: bool = False,
            history: History | None = None) -> TrustRegionResult:
        """Run ``iterations`` discriminator/generator rounds on minibatches of ``data``.

        ``data``: a tensor of samples (minibatches drawn with replacement), an
        object with ``sample(n, generator=...)`` (e.g. :func:`dualgan.data.ring`)
        or a callable ``(n, generator) -> tensor``.
        """
        if not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        draw = self._sampler(data)
        hist = history if history is not None else History(meta={
            "trainer": "TrustRegionGAN", "model": self.model, "C": float(self.C), "seed": self.seed,
            "policy": type(self.tr.policy).__name__, "inner": self.tr.inner, "batch_size": batch_size,
            "generator_loss": self.loss.name})
        start_row = len(hist)
        t0 = time.perf_counter()
        iterator = range(iterations)
        if progress:
            from tqdm.auto import tqdm
            iterator = tqdm(iterator, desc=f"TrustRegionGAN[{self.model}]")
        status = "completed"
        for it in iterator:
            real = draw(batch_size).to(device=self.device, dtype=self.dtype)
            with torch.no_grad():
                fake = self.generator(self.noise(batch_size))
            row = self._discriminator_round(real, fake)
            gen_loss, samples = self._generator_round(batch_size)
            row.update(iteration=start_row + it, generator_loss=gen_loss, seconds=time.perf_counter() - t0)
            if not isinstance(self.constraint, NoConstraint):
                state = self.constraint.state(samples.detach())
                row.update(constraint_mean_violation=state.mean_violation,
                           constraint_max_violation=state.max_violation, penalty_weight=state.penalty_weight)
            hist.append(**row)
            if progress:
                iterator.set_postfix(cost=f"{row['objective']:.4f}", radius=f"{row['radius']:.3g}")
            if not math.isfinite(row["objective"]) or not math.isfinite(gen_loss):
                status = f"failed: non-finite objective at iteration {start_row + it}"
                break
        acc = hist.column("accepted")[start_row:]
        acc = acc[~(acc != acc)]  # drop NaN
        return TrustRegionResult(history=hist, final_radius=float(self.tr.radius),
                                 accepted_fraction=float(acc.mean()) if acc.size else math.nan, status=status)

    # ------------------------------------------------------------ internals
    def _discriminator_round(self, real, fake) -> dict:
        if self.d_opt is None:
            rec = self.tr.step(real, fake)
            inner = rec.inner
            return dict(objective=rec.cost_after, cost_before=rec.cost_before, rho=rec.rho,
                        radius=rec.radius_after, radius_before=rec.radius_before, accepted=float(rec.accepted),
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
        return dict(objective=after, cost_before=float(cost.detach()), rho=math.nan, radius=math.nan,
                    radius_before=math.nan, accepted=math.nan,
                    step_norm=float((w_after - w_before).double().norm()), predicted_decrease=math.nan,
                    actual_decrease=float(cost.detach()) - after, attempts=1, mu=math.nan,
                    inner_iterations=math.nan, inner_gap=math.nan)

    def _generator_round(self, batch_size):
        loss_value, samples = math.nan, None
        for _ in range(self.generator_steps):
            samples = self.generator(self.noise(batch_size))
            scores = self.discriminator(samples).reshape(-1)
            loss = self.loss.generator_loss(scores) + self.constraint.penalty(samples)
            grads = torch.autograd.grad(loss, self._gen_params)
            for p, g in zip(self._gen_params, grads):
                p.grad = g
            self.g_opt.step()
            self.constraint.update(samples.detach())
            loss_value = float(loss.detach())
        return loss_value, samples

    def _sampler(self, data):
        gen = self._gen
        if isinstance(data, torch.Tensor):
            if data.ndim < 1 or data.shape[0] == 0:
                raise ValueError("data tensor must hold at least one sample along dimension 0")
            return lambda n: data[torch.randint(data.shape[0], (n,), generator=gen).to(data.device)]
        if hasattr(data, "sample") and callable(data.sample):
            return lambda n: data.sample(n, generator=gen)
        if callable(data):
            return lambda n: data(n, gen)
        raise ValueError(f"data must be a tensor of samples, an object with sample(n, generator=...) or a callable "
                         f"(n, generator) -> tensor; got {type(data).__name__}")
