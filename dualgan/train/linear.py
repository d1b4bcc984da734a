r"""GAN trainers with a linear discriminator :math:`w^\top\phi(x)` on fixed features (SPEC.md section 1).

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

from .._checks import check_choice, check_positive
from ..constraints.base import NoConstraint
from ..duals import DualSolverWarning, LinearDual, solve
from .history import History

__all__ = ["DualLinearGAN", "StandardLinearGAN", "LinearGANTrainer", "MODES"]

MODES = ("fixed", "minibatch")
_CHECKPOINT_FORMAT = "dualgan.LinearGANCheckpoint/1"


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
        for name, v in (("noise_dim", noise_dim), ("batch_size", batch_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.mode = check_choice(mode, "mode", MODES)
        self.noise = check_choice(noise, "noise", ("normal", "uniform"))
        self.lr = check_positive(lr, "lr")
        self.beta1 = float(beta1)
        if not 0.0 <= self.beta1 < 1.0:
            raise ValueError(f"beta1 (Adam momentum) must lie in [0, 1), got {beta1!r}")
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
        self.status = "not started"
        self._fixed: _Batch | None = None
        self._elapsed = 0.0
        self.history = History(meta=self._meta())

    # ------------------------------------------------------------------ public API
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
        ``checkpoint_path`` every ``checkpoint_every`` iterations and at the end.
        """
        if not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
        if checkpoint_every and checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path")
        sampler = _make_sampler(data)
        record_at = {int(t) for t in record_lambdas_at}
        self.status = "running"
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=iterations, initial=min(self.iteration, iterations), desc=self.kind, leave=False)
        try:
            while self.iteration < iterations:
                t0 = time.perf_counter()
                row = self._iterate(sampler, self.iteration in record_at)
                self._elapsed += time.perf_counter() - t0
                if row is None:  # _iterate set a failure status
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
                self.status = "completed"
        finally:
            if bar is not None:
                bar.close()
        self.history.set_meta("status", self.status)
        if checkpoint_path is not None:
            self.save_checkpoint(checkpoint_path)
        return self.history

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` generated samples (no gradient), noise from a separate generator seeded by ``seed``."""
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 12345 if seed is None else int(seed))
        with torch.no_grad():
            return self.generator(self._noise(n, gen))

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path) -> Path:
        """Write everything needed to continue bit-for-bit: parameters, optimiser, RNG, batch, duals, history."""
        path = Path(path)
        payload = {
            "format": _CHECKPOINT_FORMAT,
            "kind": self.kind,
            "iteration": self.iteration,
            "elapsed": self._elapsed,
            "generator": self.generator.state_dict(),
            "gen_optimizer": self.gen_optimizer.state_dict(),
            "rng": self._rng.get_state(),
            "fixed": None if self._fixed is None else [self._fixed.real, self._fixed.noise],
            "history": self.history.to_dict(),
            "extra": self._extra_state(),
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)
        return path

    def load_checkpoint(self, path) -> "LinearGANTrainer":
        """Restore a checkpoint written by a trainer of the same class and settings; returns ``self``."""
        payload = torch.load(Path(path), map_location=self.device, weights_only=True)
        if payload.get("format") != _CHECKPOINT_FORMAT or payload.get("kind") != self.kind:
            raise ValueError(f"{path} is not a checkpoint of a {type(self).__name__}")
        saved_meta = payload["history"]["meta"]
        for key, value in self._meta().items():
            if saved_meta.get(key) != value:
                raise ValueError(f"checkpoint was written with {key}={saved_meta.get(key)!r} but this trainer has "
                                 f"{key}={value!r}; construct the trainer with the checkpoint's settings")
        self.generator.load_state_dict(payload["generator"])
        self.gen_optimizer.load_state_dict(payload["gen_optimizer"])
        self._rng.set_state(payload["rng"])
        fixed = payload["fixed"]
        self._fixed = None if fixed is None else _Batch(fixed[0], fixed[1])
        self.iteration = int(payload["iteration"])
        self._elapsed = float(payload["elapsed"])
        self.history = History.from_dict(payload["history"])
        self._load_extra_state(payload["extra"])
        self.status = "resumed"
        return self

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

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, extra: dict) -> None:
        return None

    def _iterate(self, sampler, record_lambdas: bool) -> dict | None:  # pragma: no cover - abstract
        raise NotImplementedError


class DualLinearGAN(LinearGANTrainer):
    r"""Dual GAN with a linear discriminator: exact discriminator via its certified dual (SPEC.md section 1).

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
                 fixed_optimizer: str = "lbfgs", lbfgs_history: int = 20):
        self.loss = check_choice(loss, "loss", ("logistic", "hinge"))
        self.fixed_optimizer = check_choice(fixed_optimizer, "fixed_optimizer", ("lbfgs", "adam"))
        if not isinstance(lbfgs_history, int) or lbfgs_history < 1:
            raise ValueError(f"lbfgs_history must be a positive integer, got {lbfgs_history!r}")
        if tol is None:
            # minibatch: the sampling noise of the objective (~1e-2) dwarfs a 1e-6 gap
            tol = 1e-10 if mode == "fixed" else 1e-6
        self.tol = check_positive(tol, "tol")
        self.solver = solver
        if not isinstance(max_backtracks, int) or max_backtracks < 0:
            raise ValueError(f"max_backtracks must be a non-negative integer, got {max_backtracks!r}")
        self.max_backtracks = max_backtracks
        self.shrink = check_positive(shrink, "shrink")
        if self.shrink >= 1:
            raise ValueError(f"shrink must lie in (0, 1), got {shrink!r}")
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
        meta.update(loss=self.loss, tol=self.tol, solver=self.solver)
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
                if self.mode == "fixed":
                    self._phi_real_fixed = phi_real
        fake = self.generator(batch.noise)
        phi_fake = self.features(fake)
        # (a) the exact discriminator at the current generator, warm-started
        res = self._solve(phi_real, phi_fake.detach(), warm=self.dual)
        if not res.converged:
            self.status = f"failed: dual solver {res.status} (gap {res.gap:.3g}) at iteration {self.iteration}"
            return None
        # (b) Danskin: grad g(theta) = d/dtheta D(lambda*, theta)
        value = self._danskin_surrogate(phi_fake, res)
        penalty = self.constraint.penalty(fake)
        self.gen_optimizer.zero_grad(set_to_none=True)
        (-value + penalty).backward()
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))
        current = res.dual_value - float(penalty.detach())
        row = {}
        if self.mode == "minibatch":
            self.gen_optimizer.step()
            with torch.no_grad():
                fake_after = self.generator(batch.noise)
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
                    trial = self._solve(phi_real, self.features(trial_fake), warm=res)
                    trial_value = trial.dual_value - float(self.constraint.penalty(trial_fake))
                    if trial.converged and trial_value >= current:
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
        accepted, and the quasi-Newton memory is reset.
        """
        batch = self._batch(sampler)
        if self._phi_real_fixed is None:
            with torch.no_grad():
                self._phi_real_fixed = self.features(batch.real)
        phi_real = self._phi_real_fixed
        failures = []

        def closure():
            self.gen_optimizer.zero_grad(set_to_none=True)
            fake = self.generator(batch.noise)
            phi_fake = self.features(fake)
            res = self._solve(phi_real, phi_fake.detach(), warm=self.dual)
            if not res.converged:
                failures.append(res)
                return torch.tensor(float("inf"), dtype=torch.float64)
            value = self._danskin_surrogate(phi_fake, res)
            penalty = self.constraint.penalty(fake)
            (-value + penalty).backward()
            self.dual = res
            return torch.tensor(-(res.dual_value - float(penalty.detach())), dtype=torch.float64)

        if self.iteration == 0 or self._current is None:
            self._current = -float(closure())  # the objective at the starting point
        old = [p.detach().clone() for p in self._params]
        evals_before = self.gen_optimizer.state[self._params[0]].get("func_evals", 0)
        self.gen_optimizer.step(closure)
        state = self.gen_optimizer.state[self._params[0]]
        trials = state.get("func_evals", 0) - evals_before
        if failures:
            for p, o in zip(self._params, old):
                p.data.copy_(o)
            bad = failures[0]
            self.status = f"failed: dual solver {bad.status} (gap {bad.gap:.3g}) at iteration {self.iteration}"
            return None
        # the certified objective at the accepted point (one more warm-started solve)
        value = -float(closure())
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))
        # Values are certified to the gap tolerance, so two solves at one point may differ by
        # up to ~tol: a step is kept unless it lowers the objective by more than 2 tol.
        accepted = value >= self._current - 2 * self.tol
        if not accepted:
            for p, o in zip(self._params, old):
                p.data.copy_(o)
            self.gen_optimizer.state.clear()  # its curvature pairs describe a step not taken: restart
            value = -float(closure())
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
            return solve(problem, method=self.solver, tol=self.tol, lam0=warm, warn=False)

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
        SPEC.md section 1) or ``"non_saturating"`` (minimise
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
        if not isinstance(disc_steps, int) or disc_steps < 1:
            raise ValueError(f"disc_steps must be a positive integer, got {disc_steps!r}")
        self.disc_steps = disc_steps
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
        self._ensure_discriminator(phi_real.shape[1], phi_real.dtype)
        # discriminator: minimise P(w; theta) with the generator fixed
        for _ in range(self.disc_steps):
            with torch.no_grad():
                phi_fake_d = self.features(self.generator(batch.noise))
            disc_loss = self.primal(phi_real, phi_fake_d)
            self.disc_optimizer.zero_grad(set_to_none=True)
            disc_loss.backward()
            self.disc_optimizer.step()
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
        (gen_loss + self.constraint.penalty(fake)).backward()
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in self._params if p.grad is not None))
        self.gen_optimizer.step()
        with torch.no_grad():
            fake_after = self.generator(batch.noise)
        self.constraint.update(fake_after)
        if not math.isfinite(objective):
            self.status = f"failed: non-finite objective at iteration {self.iteration} (learning rates too large?)"
            return None
        row = {"objective": objective, "disc_loss": float(disc_loss.detach()), "gen_loss": float(gen_loss.detach()),
               "w_norm": float(w.norm()), "grad_norm": grad_norm}
        row.update(self._constraint_columns(fake_after))
        return row

    def _extra_state(self) -> dict:
        if self.w is None:
            return {"w": None}
        return {"w": self.w.detach(), "disc_optimizer": self.disc_optimizer.state_dict()}

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
