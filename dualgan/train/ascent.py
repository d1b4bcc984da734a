r"""The generator's ascent of the dual GAN: small strategies around one certified evaluation (eqs. (1.13)-(1.15)).

At the generator's parameters :math:`\theta` the dual GAN ascends
:math:`g(\theta) = \max_\lambda D(\lambda;\theta)` (eq. (1.13) of the theory
page, docs/theory.md). :func:`certified_value` is the one place that evaluates
it: the samples and their features, the dual solve (certified by its duality
gap), the value :math:`D(\lambda^*;\theta)` minus the constraint penalty, and
Danskin's gradient :math:`\nabla_\theta D(\lambda^*;\theta)` (eq. (1.14)) left
in the generator's ``.grad``. Each ascent is a small strategy around it,
chosen by :func:`make_ascent` from the trainer's ``mode`` and ``fixed_optimizer``:

* :class:`MinibatchAscent` (``mode="minibatch"``): one step of the
  generator's optimiser per fresh batch;
* :class:`BacktrackingAscent` (``mode="fixed", fixed_optimizer="adam"``): the
  optimiser's step, shrunk until the re-solved value does not decrease (eq. (1.15));
* :class:`LBFGSAscent` (``mode="fixed", fixed_optimizer="lbfgs"``): L-BFGS
  with a strong-Wolfe line search, every function evaluation a certified solve.

A strategy returns an :class:`AscentStep`; the trainer records it. An
evaluation that cannot be certified (non-finite samples, features, gradient or
penalty, or a dual solve that fails) raises :class:`AscentFailure`, which the
trainer turns into its status.

References
----------
Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs." NeurIPS 2017.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .._checks import _all_finite, check_number
from ..constraints.base import handler_penalty
from .checkpoint import CheckpointError

if TYPE_CHECKING:  # the records name the dual result type; the strategies need nothing of duals at run time
    from ..duals import DualResult

__all__ = ["certified_value", "CertifiedPoint", "AscentStep", "AscentFailure", "Ascent", "MinibatchAscent",
           "BacktrackingAscent", "LBFGSAscent", "make_ascent", "optimizer_step", "FIXED_OPTIMIZERS"]

#: the ascents of a fixed batch (``fixed_optimizer``)
FIXED_OPTIMIZERS = ("lbfgs", "adam")


@dataclass(frozen=True)
class CertifiedPoint:
    r"""The certified objective at one generator: the solve, its value and the samples.

    Attributes
    ----------
    result : DualResult
        The dual solve at :math:`\theta` (successful: its gap certifies the value).
    objective : float
        ``result.dual_value`` minus the constraint penalty: the quantity the
        fixed-batch ascent keeps monotone (the history's ``generator_objective``).
    samples : torch.Tensor
        The generated samples :math:`G_\theta(z)`, detached, ``(batch_size, ...)``.
    grad_norm : float
        The norm of Danskin's gradient left in the generator's ``.grad``; NaN
        when the evaluation took no gradient.
    """

    result: DualResult
    objective: float
    samples: torch.Tensor
    grad_norm: float


@dataclass(frozen=True)
class AscentStep:
    """What one generator step of a strategy did, for the trainer's history row.

    Attributes
    ----------
    point : CertifiedPoint
        The certified point the row reports (``objective``, the multipliers'
        statistics and ``generator_objective``).
    generator_loss : float
        Minus the certified objective at the point where the step started.
    samples : torch.Tensor
        The samples of the generator after the step (the constraint handler's update and columns).
    grad_norm : float
        The norm of the generator's gradient the row records.
    inner_iterations : int
        Iterations of the dual solve that produced the point's multipliers.
    step_size : float or None
        The accepted step's size (0.0 when none was accepted); None for an
        ascent without a line search (minibatch).
    accepted : bool or None
        Whether the step was kept; None without a line search.
    trials : int or None
        Evaluations the line search took; None without a line search.
    """

    point: CertifiedPoint
    generator_loss: float
    samples: torch.Tensor
    grad_norm: float
    inner_iterations: int
    step_size: float | None = None
    accepted: bool | None = None
    trials: int | None = None


class AscentFailure(Exception):
    """An evaluation that cannot be certified: a failed dual solve, or non-finite values.

    Parameters
    ----------
    what : str
        What was not finite (``"samples"``, ``"features of the samples"``,
        ``"generator gradient or constraint penalty"``, ...), or ``"dual solve"``.
    result : DualResult, optional
        The dual solve of the evaluation, when it got that far. Default None.
    """

    def __init__(self, what: str, result: DualResult | None = None):
        super().__init__(what)
        self.what = what
        self.result = result

    @property
    def solver_failed(self) -> bool:
        """True when the dual solve itself did not certify (the run ends with ``NUMERICAL_ERROR``)."""
        return self.result is not None and not self.result.success


def certified_value(trainer, noise: torch.Tensor, phi_real: torch.Tensor, warm, *,
                    gradient: bool = True) -> CertifiedPoint:
    r"""The certified :math:`g(\theta)` at the generator's parameters, with Danskin's gradient (eqs. (1.13), (1.14)).

    Generates the samples of ``noise``, solves the dual on the features of the
    real and generated samples (``trainer._solve``, warm-started from ``warm``),
    and returns ``dual_value`` minus the constraint penalty. With ``gradient``
    the generator's ``.grad`` is set to the gradient of
    :math:`-D(\lambda^*;\theta) + \text{penalty}` with the multipliers held
    fixed (Danskin: the gradient of :math:`-g`), through
    ``trainer._danskin_surrogate``; on failure the ``.grad`` are None.

    Parameters
    ----------
    trainer : DualLinearGAN
        The trainer: its generator, feature map, constraint handler, solver and optimiser.
    noise : torch.Tensor
        Shape ``(batch_size, latent_dim)``: the generator's input.
    phi_real : torch.Tensor
        Shape ``(batch_size, d)``: features of the real samples (finite, no graph).
    warm : DualResult or None
        The warm start of the dual solve.
    gradient : bool, default True
        Set Danskin's gradient in ``.grad``; False: only the value (call under ``torch.no_grad()``).

    Returns
    -------
    CertifiedPoint
        The solve, the objective, the samples and the gradient's norm (NaN without ``gradient``).

    Raises
    ------
    AscentFailure
        When the samples or their features are not finite, the dual solve
        fails (``solver_failed``), or the objective or the gradient is not finite.
    """
    optimizer = trainer.gen_optimizer
    if gradient:
        optimizer.zero_grad(set_to_none=True)
    fake = trainer.generator(noise)
    if not _all_finite(fake):
        raise AscentFailure("samples")
    phi_fake = trainer.features(fake)
    if not _all_finite(phi_fake):
        raise AscentFailure("features of the samples")
    result = trainer._solve(phi_real, phi_fake.detach(), warm=warm)
    if not result.success:
        raise AscentFailure("dual solve", result)
    grad_norm = math.nan
    if gradient:
        value = trainer._danskin_surrogate(phi_fake, result)
        penalty = handler_penalty(trainer.constraint, fake)
        trainer._generator_grads(-value + penalty)
        grad_norm = trainer._grad_norm()
    else:
        penalty = handler_penalty(trainer.constraint, fake)
    objective = result.dual_value - float(penalty.detach())
    if not math.isfinite(objective) or (gradient and not math.isfinite(grad_norm)):
        if gradient:
            optimizer.zero_grad(set_to_none=True)
        raise AscentFailure("generator gradient or constraint penalty", result)
    return CertifiedPoint(result, objective, fake.detach(), grad_norm)


class Ascent:
    """A generator step of the dual GAN around :func:`certified_value`; subclasses write :meth:`step`.

    Attributes
    ----------
    current : float or None
        The certified objective at the current generator when the strategy
        keeps it between steps (L-BFGS; saved in checkpoints), else None.
    """

    current: float | None = None

    def state_dict(self) -> dict:
        """Its state for a checkpoint: ``{"current": current}``.

        Returns
        -------
        dict
        """
        return {"current": self.current}

    @staticmethod
    def check_state(state: dict) -> None:
        """Refuse a saved state that is not :meth:`state_dict`'s (before anything is restored).

        Parameters
        ----------
        state : dict
            The saved state (the trainer's checkpoint extras hold it).

        Raises
        ------
        CheckpointError
            If ``current`` is neither None nor a finite number (a NaN would reject every later step).
        """
        try:
            check_number(state.get("current"), "its certified objective 'current'", allow_none=True)
        except ValueError as exc:
            raise CheckpointError(f"{exc} (the value at the generator, or None)") from None

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (checked by :meth:`check_state`).

        Parameters
        ----------
        state : dict
            The saved state.

        Raises
        ------
        CheckpointError
            As :meth:`check_state`.
        """
        self.check_state(state)
        self.current = state.get("current")

    def optimizer(self, params: list) -> torch.optim.Optimizer | None:
        """The generator's optimiser this ascent needs, or None for the trainer's (Adam or the one given).

        Parameters
        ----------
        params : list of torch.Tensor
            The generator's trainable parameters.

        Returns
        -------
        torch.optim.Optimizer or None
        """
        return None

    def settings(self) -> dict:
        """Its hyper-parameters, as checkpoint settings (JSON scalars); empty for the minibatch ascent.

        Returns
        -------
        dict
        """
        return {}

    def step(self, trainer, noise: torch.Tensor, phi_real: torch.Tensor) -> AscentStep:
        """One generator step on the batch.

        Parameters
        ----------
        trainer : DualLinearGAN
            The trainer (its generator, optimiser and warm start ``trainer.dual``).
        noise : torch.Tensor
            Shape ``(batch_size, latent_dim)``: the batch's noise.
        phi_real : torch.Tensor
            Shape ``(batch_size, d)``: features of the batch's real samples.

        Returns
        -------
        AscentStep

        Raises
        ------
        AscentFailure
            When an evaluation the step cannot do without fails.
        """
        raise NotImplementedError


class MinibatchAscent(Ascent):
    """``mode="minibatch"``: one step of the generator's optimiser along Danskin's gradient, no line search."""

    def step(self, trainer, noise, phi_real):
        point = certified_value(trainer, noise, phi_real, trainer.dual)
        after = optimizer_step(trainer, noise)
        return AscentStep(point, -point.objective, after, point.grad_norm, point.result.iterations)


@dataclass
class BacktrackingAscent(Ascent):
    """``mode="fixed", fixed_optimizer="adam"``: the optimiser's step, shrunk until the value does not fall (eq. (1.15)).

    The step ``s`` of the generator's optimiser is tried as ``shrink**k * s``,
    k = 0..max_backtracks, each trial re-solved (warm-started from the start's
    solve); the first whose objective is not below the start's is kept. A trial
    with non-finite values is a rejected trial. When none is kept the
    generator stays where it was (``accepted`` False, ``step_size`` 0).

    Parameters
    ----------
    max_backtracks : int
        Shrinks after the full step (>= 0).
    shrink : float
        The backtracking factor, in (0, 1).
    """

    max_backtracks: int
    shrink: float

    def settings(self):
        return {"fixed_optimizer": "adam", "max_backtracks": self.max_backtracks, "shrink": self.shrink}

    def step(self, trainer, noise, phi_real):
        start = certified_value(trainer, noise, phi_real, trainer.dual)
        params = trainer._params
        old = _snapshot(params)
        trainer.gen_optimizer.step()
        direction = [p.detach() - o for p, o in zip(params, old)]
        alpha, trials, best = 1.0, 0, None
        with torch.no_grad():
            for _ in range(self.max_backtracks + 1):
                trials += 1
                for p, o, s in zip(params, old, direction):
                    p.copy_(o + alpha * s)
                try:
                    trial = certified_value(trainer, noise, phi_real, start.result, gradient=False)
                except AscentFailure:
                    trial = None
                if trial is not None and trial.objective >= start.objective:
                    best = trial
                    break
                alpha *= self.shrink
        if best is None:
            _restore(params, old)
        point = start if best is None else best
        return AscentStep(point, -start.objective, point.samples, start.grad_norm, point.result.iterations,
                          step_size=0.0 if best is None else alpha, accepted=best is not None, trials=trials)


class LBFGSAscent(Ascent):
    """``mode="fixed", fixed_optimizer="lbfgs"``: one L-BFGS step on :math:`-g(\\theta)`, strong-Wolfe line search.

    :math:`g` is a deterministic smooth function on a fixed batch, so a
    quasi-Newton method with a line search that asks sufficient increase of
    every accepted step is the natural monotone ascent. Every function
    evaluation is :func:`certified_value` (warm-started); a trial point whose
    samples, features, gradient or penalty are not finite is a rejected trial
    (the line search sees +inf). A step that lowers the objective by more than
    twice the gap tolerance (values are certified to ``tol``, so two solves at
    one point may differ by up to about ``tol``) is undone, recorded as not
    accepted, and the quasi-Newton memory is reset; if it ended at non-finite
    values the next step starts with half the initial step (the optimiser's
    ``lr``, saved in checkpoints). A dual solve that fails ends the run.

    Parameters
    ----------
    history_size : int
        Curvature pairs kept (the trainer's ``lbfgs_history``, >= 1).
    """

    def __init__(self, history_size: int):
        self.history_size = history_size
        self.current = None

    def optimizer(self, params):
        # max_eval: torch's default (1.25 max_iter) would leave the line search no evaluation
        return torch.optim.LBFGS(params, lr=1.0, max_iter=1, max_eval=25, history_size=self.history_size,
                                 line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)

    def settings(self):
        return {"fixed_optimizer": "lbfgs", "lbfgs_history": self.history_size}

    def step(self, trainer, noise, phi_real):
        optimizer, params = trainer.gen_optimizer, trainer._params
        failures, solve_iterations, last = [], [], []  # solve_iterations: of every solve of this step, in order
        inf = torch.tensor(float("inf"), dtype=torch.float64)

        def closure():
            try:
                point = certified_value(trainer, noise, phi_real, trainer.dual)
            except AscentFailure as failure:
                if failure.result is not None:
                    solve_iterations.append(failure.result.iterations)
                failures.append(failure)
                return inf
            solve_iterations.append(point.result.iterations)
            trainer.dual = point.result
            last.append(point)
            return torch.tensor(-point.objective, dtype=torch.float64)

        def certify_here() -> CertifiedPoint:
            """The certified point at the parameters as they are; any failure ends the step."""
            failures.clear()
            closure()
            if failures:
                raise failures[0]
            return last[-1]

        if trainer.iteration == 0 or self.current is None:
            self.current = certify_here().objective  # the objective at the starting point
        generator_loss = -self.current
        old = _snapshot(params)
        evals_before = optimizer.state[params[0]].get("func_evals", 0)
        failures.clear()
        optimizer.step(closure)
        state = optimizer.state[params[0]]
        trials = state.get("func_evals", 0) - evals_before
        solver = [f for f in failures if f.solver_failed]
        if solver:
            _restore(params, old)
            raise solver[0]
        hit_non_finite = bool(failures)
        # the certified objective at the accepted point (one more warm-started solve)
        try:
            point = certify_here() if all(_all_finite(p) for p in params) else None
        except AscentFailure:  # a point that cannot be certified is not accepted
            point = None
        accepted = point is not None and point.objective >= self.current - 2 * trainer.tol
        if not accepted:
            _restore(params, old)
            optimizer.state.clear()  # its curvature pairs describe a step not taken: restart
            if hit_non_finite:
                # the step ran into non-finite values: the next attempt starts with half the step
                for group in optimizer.param_groups:
                    group["lr"] *= 0.5
            point = certify_here()  # fails only if the model is not deterministic
        self.current = point.objective
        with torch.no_grad():
            samples = trainer.generator(noise)
        # The last solve re-certifies the accepted point warm-started from the line search's last trial; when
        # that trial was this point it takes 0 iterations, and the multipliers are those of the trial's solve:
        # record the iterations of the solve that produced them.
        iterations = point.result.iterations
        if len(solve_iterations) >= 2 and solve_iterations[-1] == 0:
            iterations = solve_iterations[-2]
        return AscentStep(point, generator_loss, samples, point.grad_norm, iterations,
                          step_size=float(state.get("t", 0.0)) if accepted else 0.0, accepted=accepted, trials=trials)


def make_ascent(mode: str, fixed_optimizer: str, *, max_backtracks: int, shrink: float,
                lbfgs_history: int) -> Ascent:
    """The ascent strategy of a trainer's ``mode`` and ``fixed_optimizer`` (arguments checked by the trainer).

    Parameters
    ----------
    mode : str
        ``"minibatch"`` or ``"fixed"``.
    fixed_optimizer : str
        ``"lbfgs"`` or ``"adam"`` (used in fixed mode only).
    max_backtracks : int
        Of :class:`BacktrackingAscent`.
    shrink : float
        Of :class:`BacktrackingAscent`.
    lbfgs_history : int
        Of :class:`LBFGSAscent`.

    Returns
    -------
    Ascent
        A new strategy (with no state).
    """
    if mode == "minibatch":
        return MinibatchAscent()
    if fixed_optimizer == "adam":
        return BacktrackingAscent(max_backtracks, shrink)
    return LBFGSAscent(lbfgs_history)


def optimizer_step(trainer, noise: torch.Tensor) -> torch.Tensor:
    """One step of the generator's optimiser (its ``.grad`` set), then the new samples of ``noise``.

    Samples that are not finite after the step put the generator back where
    it was (what the final checkpoint holds) and raise.

    Parameters
    ----------
    trainer : Trainer
        A trainer whose generator's ``.grad`` holds the step's gradient.
    noise : torch.Tensor
        Shape ``(batch_size, latent_dim)``.

    Returns
    -------
    torch.Tensor
        The samples after the step, without graph.

    Raises
    ------
    AscentFailure
        ``"samples after the generator step"`` when they are not finite.
    """
    old = _snapshot(trainer._params)
    trainer.gen_optimizer.step()
    with torch.no_grad():
        after = trainer.generator(noise)
    if not _all_finite(after):
        _restore(trainer._params, old)
        raise AscentFailure("samples after the generator step")
    return after


def _snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _restore(params, old) -> None:
    with torch.no_grad():
        for p, o in zip(params, old):
            p.copy_(o)
