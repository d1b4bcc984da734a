r"""Trust-region steps for any torch discriminator (eqs. (2.1)-(2.13) of the theory page, docs/theory.md).

The discriminator cost on a batch of n real and m generated samples,
:math:`y_i = \pm 1`, :math:`a_i = 1/n, 1/m`, :math:`\ell(s) = \log(1+e^{-s})`:

.. math::

    f(w) = \tfrac{C}{2}\|w\|^2 + \sum_i a_i\,\ell(y_i F(w, x_i)).

Each step minimises a model :math:`m(\delta)` of :math:`f(w+\delta)` over
:math:`\|\delta\| \le \Delta`:

* ``model="cost"`` (A): :math:`m(\delta) = f(w) + \nabla f^\top\delta`, closed form
  :math:`\delta = -\Delta\,\nabla f/\|\nabla f\|`, predicted decrease
  :math:`\Delta\|\nabla f\|`;
* ``model="score"`` (B): the scores are linearised, :math:`F_i + g_i^\top\delta`,
  and the convex model is minimised through its dual
  (:func:`~dualgan.trust_region.solve_score_dual`); the Gram matrix comes
  from :func:`~dualgan.trust_region.score_linearization` and the step is one
  backward pass of :math:`\sum_i \lambda_i y_i F(w, x_i)/s`.

The acceptance ratio :math:`\rho = (f(w) - f(w+\delta))/(m(0) - m(\delta))` goes
to the radius policy; a rejected step is re-solved at the smaller radius
(the linearisation is reused) up to ``max_attempts`` times. An accepted step
is applied to the module in place.

>>> import torch
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<...>
>>> disc = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
>>> tr = TrustRegionDiscriminator(disc, model="score", C=1e-2, radius=0.5)
>>> rec = tr.step(torch.randn(16, 2, dtype=torch.float64) + 1, torch.randn(16, 2, dtype=torch.float64))
>>> rec.step_norm <= rec.radius_before + 1e-9 and rec.predicted_decrease >= 0
True
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_finite_tensor, check_int, check_number, check_positive
from .._threads import with_thread_policy
from .._modes import active_dropout, fixed_within_step
from ..status import Status, StatusCode
from .linearization import LINEARIZATIONS, ScoreFunction, in_model_dtype, score_linearization
from .radius import RadiusPolicy, get_policy
from .subproblem import SUBPROBLEM_SOLVERS, ScoreDualResult, ScoreSubproblem, solve_score_dual

__all__ = ["TrustRegionStep", "TrustRegionDiscriminator", "MODELS", "discriminator_cost"]

MODELS = ("score", "cost")


@dataclass(frozen=True)
class TrustRegionStep:
    r"""One trust-region discriminator step (the last attempt when earlier ones were rejected).

    ``step`` is the flat parameter step :math:`\delta` (length P, detached);
    ``predicted_decrease = m(0) - m(delta) >= 0``; ``actual_decrease =
    f(w) - f(w + delta)``; ``rho`` their ratio (NaN when the model predicts no
    decrease, status ``STALLED``, or when no step was solved); ``cost_after`` is the cost
    at the parameters the module holds after the call. ``inner`` is the dual
    solution for score linearisation (None for cost linearisation);
    ``linearization`` is how its Gram matrix was computed (the
    :class:`~dualgan.trust_region.ScoreLinearization` ``method``; empty for cost linearisation).

    Parameters
    ----------
    step : torch.Tensor
        Shape ``(P,)``: the parameter step :math:`\delta` (detached; zeros when no step).
    step_norm : float
        :math:`\|\delta\|` (parameter-space units), at most the radius.
    predicted_decrease : float
        :math:`m(0) - m(\delta) \ge 0` (eq. (2.3) or (2.4) of the theory page).
    actual_decrease : float
        :math:`f(w) - f(w + \delta)` (eq. (2.1)).
    rho : float
        The acceptance ratio of eq. (2.11); NaN when the model predicts no decrease.
    accepted : bool
        Whether the step was applied to the module.
    radius_before : float
        The trust radius at the start of the call.
    radius_after : float
        The trust radius for the next call (eqs. (2.12)-(2.13)).
    cost_before : float
        :math:`f(w)` at the start.
    cost_after : float
        The cost at the parameters the module holds after the call.
    model : str
        ``"score"`` or ``"cost"``.
    attempts : int
        Number of solves (a rejected step is re-solved at the shrunk radius).
    status : Status
        ``SUCCESS``: a step was accepted; ``MAX_ITER``: every one of the ``max_attempts``
        steps was rejected (the radius shrank); ``STALLED``: a zero gradient or a model
        that predicts no decrease (no step); ``NON_FINITE``: a NaN or inf in the cost,
        gradient or linearisation at the current parameters (no step, the costs stay NaN);
        the inner solver's breakdown status (``NUMERICAL_ERROR``, ``NON_FINITE``, ...)
        when no usable step came out.
    reason : str
        The radius policy's explanation.
    seconds : float
        Wall time of the call, in seconds.
    inner : ScoreDualResult, optional
        The dual solution for score linearisation; None for cost linearisation.
    linearization : str, default ""
        How the Gram matrix was computed; empty for cost linearisation.
    """

    step: torch.Tensor
    step_norm: float
    predicted_decrease: float
    actual_decrease: float
    rho: float
    accepted: bool
    radius_before: float
    radius_after: float
    cost_before: float
    cost_after: float
    model: str
    attempts: int
    status: Status
    reason: str
    seconds: float
    inner: ScoreDualResult | None = None
    linearization: str = ""


def discriminator_cost(scores: torch.Tensor, y: torch.Tensor, a: torch.Tensor, C: float,
                       w_sqnorm: torch.Tensor | float) -> torch.Tensor:
    r""":math:`f = \tfrac{C}{2}\|w\|^2 + \sum_i a_i\,\mathrm{softplus}(-y_i F_i)` in float64 (a 0-d tensor).

    Eq. (2.1) of the theory page (:math:`\mathrm{softplus}(-s) = \ell(s)` of eq. (0.2)).

    Parameters
    ----------
    scores : torch.Tensor
        Shape ``(N,)``: the scores :math:`F_i` (cast to float64).
    y : torch.Tensor
        Shape ``(N,)``, float64: labels, +1 real and -1 generated.
    a : torch.Tensor
        Shape ``(N,)``, float64: weights, 1/n real and 1/m generated.
    C : float
        L2 weight (> 0).
    w_sqnorm : torch.Tensor or float
        :math:`\|w\|^2` of the parameters.

    Returns
    -------
    torch.Tensor
        The cost :math:`f(w)`, 0-d, float64.

    Raises
    ------
    ValueError
        If ``C`` is not a finite number > 0 (a negative C gave a smaller cost without an error), or
        ``scores``, ``y`` and ``a`` are not vectors of one length (torch's broadcasting error otherwise).
    """
    C = check_positive(C, "C")
    if not (scores.ndim == y.ndim == a.ndim == 1 and scores.shape == y.shape == a.shape):
        raise ValueError(f"scores, y and a must be vectors of one length N (one entry per sample), got shapes "
                         f"{tuple(scores.shape)}, {tuple(y.shape)} and {tuple(a.shape)}")
    return 0.5 * C * w_sqnorm + a @ F.softplus(-y * scores.to(torch.float64))


class TrustRegionDiscriminator:
    r"""A trust-region optimiser of a discriminator's parameters (those with ``requires_grad=True``).

    Minimises the cost (2.1) of the theory page by steps of the sub-problem
    (2.2) with the model (2.3) or (2.4), accepted by eq. (2.11).

    Parameters
    ----------
    discriminator : torch.nn.Module
        Any module mapping a batch to one score per sample. Within a step it is
        held to one fixed function (eq. (7.2) of the theory page): spectral-norm
        vectors advance once at the start of each step and are frozen for the
        rest of it; :meth:`cost` is a pure evaluation (no buffer moves). Active
        dropout is refused; BatchNorm in training mode is refused by score
        linearisation (per-sample gradients) and accepted by cost linearisation
        (its running statistics move once per step, on the step's batch).
    model : str, default "score"
        ``"score"`` (score linearisation, eq. (2.4)) or ``"cost"`` (cost linearisation, eq. (2.3)).
    C : float, default 1e-3
        L2 weight of the cost, > 0.
    radius : float, default 0.1
        Initial trust radius :math:`\Delta_0 > 0` (parameter-space Euclidean norm).
    policy : RadiusPolicy or str, optional
        A :class:`~dualgan.trust_region.RadiusPolicy` or its name
        (``"standard"``, ``"symmetric"``, ``"fixed"``). Default None: ``"standard"``.
    solver : str, default "newton"
        Inner solver of the score dual, a name of
        :data:`~dualgan.trust_region.SUBPROBLEM_SOLVERS`: ``"newton"``, ``"ipopt"`` or ``"casadi"``.
    inner_tol : float, optional
        Its tolerance (> 0). Default None: see :func:`solve_score_dual`.
    max_attempts : int, default 4
        Solves per call (a rejected step is re-solved at the shrunk radius).
    chunk_size : int, optional
        Jacobian rows held at once (see :func:`score_linearization`).
        Default None: as many as fit in ``memory_mb``.
    memory_mb : float, default 512.0
        Memory budget of the linearisation, in MiB.
    linearization : str, default "auto"
        How the Gram matrix is computed, a name of
        :data:`~dualgan.trust_region.LINEARIZATIONS`: ``"auto"`` (factorised
        ``nn.Linear`` / ``nn.Conv2d`` layers, ``torch.func`` for the rest) or ``"torch.func"``
        (see :func:`score_linearization`).
    solver_options : dict, optional
        The inner solver's own keyword options (``SUBPROBLEM_SOLVERS.options(solver)``,
        e.g. ``{"max_outer": 100}`` for ``"newton"``), checked by name at
        construction and passed to :func:`solve_score_dual`. Default None: its defaults.

    Raises
    ------
    ValueError
        If ``model``, ``solver``, ``linearization`` or a ``solver_options`` name
        is unknown, ``C``, ``radius``, ``inner_tol``, ``memory_mb``,
        ``chunk_size`` or ``max_attempts`` is out of range (integers: Python or
        numpy integers, not ``bool``), ``radius`` is below the policy's
        ``min_radius``, or the module has no trainable parameters.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C).
    """

    def __init__(self, discriminator: nn.Module, *, model: str = "score", C: float = 1e-3, radius: float = 0.1,
                 policy: RadiusPolicy | str | None = None, solver: str = "newton", inner_tol: float | None = None,
                 max_attempts: int = 4, chunk_size: int | None = None, memory_mb: float = 512.0,
                 linearization: str = "auto", solver_options: dict | None = None):
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose 'score' (score linearisation) or 'cost' "
                             f"(cost linearisation)")
        if solver not in SUBPROBLEM_SOLVERS:
            raise ValueError(f"unknown solver {solver!r} (the inner solver of the score dual); choose one of "
                             f"{SUBPROBLEM_SOLVERS.names()}")
        if linearization not in LINEARIZATIONS:
            raise ValueError(f"unknown linearization {linearization!r}; choose one of {LINEARIZATIONS.names()}")
        # every value checked here, not at the first step
        max_attempts = check_int(max_attempts, "max_attempts", low=1)
        chunk_size = check_int(chunk_size, "chunk_size (Jacobian rows held at once)", low=1, allow_none=True)
        memory_mb = check_positive(memory_mb, "memory_mb (the linearisation's memory budget in MiB)")
        solver_options = SUBPROBLEM_SOLVERS.check_options(solver, solver_options)
        self.fn = ScoreFunction(discriminator)
        self.discriminator = discriminator
        self.model = model
        self.C = check_positive(C, "C")
        self.radius = check_positive(radius, "radius")
        self.policy = get_policy(policy)
        if self.radius < self.policy.min_radius:
            raise ValueError(f"radius={radius!r} is below the radius policy's floor min_radius="
                             f"{self.policy.min_radius:g} of {type(self.policy).__name__}: the policy never goes "
                             f"below its floor, so a start there is a radius it could not choose; pass radius >= "
                             f"{self.policy.min_radius:g} (default 0.1) or a policy with a lower min_radius")
        self.solver = solver
        self.inner_tol = None if inner_tol is None else check_positive(inner_tol, "inner_tol")
        self.max_attempts = max_attempts
        self.chunk_size = chunk_size
        self.memory_mb = memory_mb
        self.linearization = linearization
        self.solver_options = solver_options
        self._warm: tuple[torch.Tensor, torch.Tensor, float] | None = None

    # ------------------------------------------------------------ public
    def batch(self, real: torch.Tensor, fake: torch.Tensor):
        """Stack a batch and build labels ``y`` and weights ``a`` (float64) on the samples' device.

        Labels and weights are eq. (0.1) of the theory page.

        Parameters
        ----------
        real : torch.Tensor
            Shape ``(n, ...)``: real samples (finite).
        fake : torch.Tensor
            Shape ``(m, ...)``: generated samples, same per-sample shape (finite).

        Returns
        -------
        tuple of torch.Tensor
            ``(x, y, a)``: the stacked, detached batch ``(n + m, ...)``, labels
            (+1 real, -1 generated) and weights (1/n, 1/m), both ``(n + m,)`` float64.

        Raises
        ------
        ValueError
            If a batch is empty or not finite, or the per-sample shapes differ.
        TypeError
            If a batch's dtype is wider than the discriminator's (float64
            samples for float32 parameters: the message names both and the
            exact fix); a narrower one is widened exactly.
        """
        for name, t in (("real", real), ("fake", fake)):
            if not isinstance(t, torch.Tensor) or t.ndim < 1 or t.shape[0] == 0:
                raise ValueError(f"{name} must be a non-empty tensor with the batch along dimension 0")
            check_finite_tensor(t.detach(), name)
        if real.shape[1:] != fake.shape[1:]:
            raise ValueError(f"real and fake samples must have the same shape per sample, got "
                             f"{tuple(real.shape[1:])} and {tuple(fake.shape[1:])}")
        real, fake = (in_model_dtype(self.discriminator, t, name) for t, name in ((real, "real"), (fake, "fake")))
        n, m = real.shape[0], fake.shape[0]
        x = torch.cat([real.detach(), fake.detach()])
        kw = dict(dtype=torch.float64, device=x.device)
        y = torch.cat([torch.ones(n, **kw), -torch.ones(m, **kw)])
        a = torch.cat([torch.full((n,), 1.0 / n, **kw), torch.full((m,), 1.0 / m, **kw)])
        return x, y, a

    @with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
    def cost(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """The discriminator cost f(w) (eq. (2.1) of the theory page) on this batch.

        Parameters
        ----------
        real : torch.Tensor
            Shape ``(n, ...)``: real samples.
        fake : torch.Tensor
            Shape ``(m, ...)``: generated samples.

        Returns
        -------
        float
            :math:`f(w)` at the module's current parameters.

        Raises
        ------
        ValueError
            As :meth:`batch`, or as :meth:`step` for a module that cannot be one fixed function.
        TypeError
            As :meth:`batch`.
        """
        x, y, a = self.batch(real, fake)
        params = self._params()
        # a pure evaluation (eq. (7.2)): spectral-norm vectors not iterated, running statistics put back
        with fixed_within_step(self.discriminator), torch.no_grad():
            return float(self._cost(params, x, y, a))

    @with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
    def step(self, real: torch.Tensor, fake: torch.Tensor) -> TrustRegionStep:
        """One trust-region step on the batch (real, fake); updates the module and the radius.

        Solves eq. (2.2) of the theory page, accepts by eq. (2.11) and sets the
        radius by the policy (eqs. (2.12)-(2.13)).

        Parameters
        ----------
        real : torch.Tensor
            Shape ``(n, ...)``: real samples.
        fake : torch.Tensor
            Shape ``(m, ...)``: generated samples.

        Returns
        -------
        TrustRegionStep
            The step, its decreases, acceptance and radii.

        Raises
        ------
        ValueError
            As :meth:`batch`, or when the discriminator cannot be one fixed
            function of its parameters for the step (eq. (7.2) of the theory
            page): active dropout, or BatchNorm in training mode with score
            linearisation (the message says why and what to do).
        TypeError
            As :meth:`batch`.
        """
        t0 = time.perf_counter()
        x, y, a = self.batch(real, fake)
        self._params()  # refuse a module that cannot be one fixed function before anything moves
        # one fixed function for the whole step (eq. (7.2)): the spectral-norm vectors advance once, here,
        # then stay frozen; the running statistics are put back after the step's evaluations
        with fixed_within_step(self.discriminator, advance_on=x):
            if self.model == "cost":
                return self._cost_step(x, y, a, t0)
            return self._score_step(x, y, a, t0)

    def state_dict(self) -> dict:
        """The step's own training state: the trust radius and the inner solver's warm start.

        The discriminator's parameters are the module's (``discriminator.state_dict()``),
        saved by whoever owns the module; this is what the step itself changes
        (the trust radius of eq. (2.2) of the theory page, moved by its policy, eqs. (2.12)-(2.13),
        and the last solution of the dual (2.6), which warm-starts the next).

        Returns
        -------
        dict
            ``{"radius": float, "warm": None or [lam, slack, mu]}`` with ``lam``
            and ``slack`` detached copies of the inner dual's multipliers (1-d
            tensors) and ``mu`` a float.
        """
        warm = self._warm
        return {"radius": float(self.radius),
                "warm": None if warm is None else [warm[0].detach().clone(), warm[1].detach().clone(), float(warm[2])]}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output; the whole state is checked before anything changes.

        Parameters
        ----------
        state : dict
            ``{"radius": float > 0, "warm": None or [tensor, tensor, number]}``,
            as :meth:`state_dict` returns.

        Raises
        ------
        ValueError
            If ``state`` lacks a key or has another one, the radius is not a
            finite positive number or is below the policy's ``min_radius``, or the
            warm start is not two finite 1-d floating-point tensors of one length
            and a finite number >= 0 (the radius multiplier).
        """
        if not isinstance(state, dict) or set(state) != {"radius", "warm"}:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"a TrustRegionDiscriminator state has the keys ['radius', 'warm'], got {got}; "
                             f"pass what state_dict() returned")
        radius = check_positive(state["radius"], "its trust radius")
        if radius < self.policy.min_radius:  # as the constructor: the policy could not have chosen it
            raise ValueError(f"its trust radius {radius!r} is below the radius policy's floor min_radius="
                             f"{self.policy.min_radius:g} of {type(self.policy).__name__}; load it into a step "
                             f"whose policy has a lower min_radius")
        warm = state["warm"]
        if warm is not None:
            if not (isinstance(warm, (list, tuple)) and len(warm) == 3
                    and all(isinstance(t, torch.Tensor) and t.ndim == 1 and t.is_floating_point() for t in warm[:2])
                    and warm[0].shape == warm[1].shape):
                raise ValueError("its inner solver's warm start is not [tensor, tensor, number] (two 1-d "
                                 "floating-point tensors of one length and a finite number >= 0)")
            # the next solve would refuse NaN multipliers or a negative mu: refused here, before anything changes
            for t, name in ((warm[0], "lam"), (warm[1], "slack")):
                if not bool(torch.isfinite(t).all()):
                    raise ValueError(f"its inner solver's warm start ({name}) contains NaN or inf; pass warm=None "
                                     f"to start the next solve cold")
            mu = check_number(warm[2], "its inner solver's warm start (mu, the radius multiplier)", low=0.0)
            warm = (warm[0], warm[1], mu)
        self.radius = radius
        self._warm = warm

    # ------------------------------------------------------------ internals
    def _params(self) -> dict[str, torch.Tensor]:
        """The current trainable parameters, after refusing a module that cannot be one fixed function.

        Score linearisation needs per-sample gradients (no BatchNorm in training
        mode, no active dropout: :func:`~dualgan.trust_region.linearization.check_sample_independent`);
        cost linearisation only needs :math:`f(w)` on the batch to be a
        deterministic function of :math:`w`, which BatchNorm on the batch's
        statistics is, and active dropout is not.
        """
        if self.model == "score":
            return self.fn.params()
        dropout = active_dropout(self.discriminator)
        if dropout:
            raise ValueError(f"layer {dropout[0]} is active dropout in training mode: the cost f(w) is random, so "
                             f"a trust-region step would compare values of different random functions (rho, the "
                             f"ratio of actual to predicted decrease, would mean nothing) and the recorded cost "
                             f"would not be the one stepped. Call discriminator.eval() for the steps (dropout "
                             f"off) or remove the layer")
        live = dict(self.discriminator.named_parameters())
        return {n: live[n].detach() for n in self.fn.names}

    def _cost(self, params, x, y, a) -> torch.Tensor:
        w = self.fn.flat(params).to(torch.float64)
        return discriminator_cost(self.fn(params, x), y, a, self.C, w @ w)

    def _trial(self, params, delta, x, y, a) -> float:
        trial = {n: p + d.to(p.dtype) for (n, p), d in zip(params.items(), self.fn.unflat(delta).values())}
        with torch.no_grad():
            value = float(self._cost(trial, x, y, a))
        return value

    def _feasible(self, delta: torch.Tensor, radius: float) -> tuple[torch.Tensor, float]:
        """Scale ``delta`` into the ball (float rounding of the model dtype included)."""
        norm = _norm(delta)
        eps = torch.finfo(delta.dtype).eps
        for _ in range(5):
            if norm <= radius:
                break
            delta = delta * (radius / norm * (1.0 - 8 * eps))
            norm = _norm(delta)
        return delta, norm

    def _finish(self, record_kwargs, delta, norm, accepted, radius_before, decision_radius, cost_before,
                trial_cost, t0):
        if accepted:
            self.fn.add_(delta)
        self.radius = decision_radius
        return TrustRegionStep(step=delta.detach(), step_norm=norm, accepted=accepted, radius_before=radius_before,
                               radius_after=decision_radius, cost_before=cost_before,
                               cost_after=trial_cost if accepted else cost_before, model=self.model,
                               seconds=time.perf_counter() - t0, **record_kwargs)

    def _cost_step(self, x, y, a, t0) -> TrustRegionStep:
        params = self._params()
        p_leaf = {n: p.clone().requires_grad_(True) for n, p in params.items()}
        with torch.enable_grad():
            f0_t = self._cost(p_leaf, x, y, a)
            grads = torch.autograd.grad(f0_t, list(p_leaf.values()))
        g = torch.cat([gi.reshape(-1) for gi in grads])
        f0 = float(f0_t.detach())
        gnorm = _norm(g)
        radius_before = self.radius
        if not (math.isfinite(f0) and math.isfinite(gnorm)):
            return self._finish(dict(predicted_decrease=math.nan, actual_decrease=math.nan, rho=math.nan, attempts=0,
                                     status=Status(StatusCode.NON_FINITE, f"non-finite cost ({f0!r}) or gradient norm "
                                                                          f"({gnorm!r}) at the current parameters"),
                                     reason="non-finite cost or gradient: no step"),
                                torch.zeros_like(g), 0.0, False, radius_before, radius_before, f0, f0, t0)
        if not gnorm > 0:
            return self._finish(dict(predicted_decrease=0.0, actual_decrease=0.0, rho=math.nan, attempts=0,
                                     status=Status(StatusCode.STALLED, "zero gradient: no step"),
                                     reason="zero gradient: no step"),
                                torch.zeros_like(g), 0.0, False, radius_before, radius_before, f0, f0, t0)
        rec = None
        for attempt in range(1, self.max_attempts + 1):
            radius = self.radius
            delta, norm = self._feasible(-radius * g / gnorm, radius)
            predicted = radius * gnorm  # m(0) - m(delta) = -grad^T delta
            trial_cost = self._trial(params, delta, x, y, a)
            actual = f0 - trial_cost
            rho = actual / predicted if math.isfinite(actual) else math.nan
            decision = self.policy.decide(rho, norm, radius)
            rec = dict(predicted_decrease=predicted, actual_decrease=actual, rho=rho, attempts=attempt,
                       status=_attempt_status(decision.accepted, attempt, rho), reason=decision.reason)
            if decision.accepted or attempt == self.max_attempts:
                return self._finish(rec, delta, norm, decision.accepted, radius_before, decision.radius, f0,
                                    trial_cost, t0)
            self.radius = decision.radius
        raise AssertionError("unreachable")  # pragma: no cover

    def _score_step(self, x, y, a, t0) -> TrustRegionStep:
        params = self._params()
        lin = score_linearization(self.fn, x, method=self.linearization, chunk_size=self.chunk_size,
                                  memory_mb=self.memory_mb)
        w = self.fn.flat(params)
        ww = float(w.to(torch.float64) @ w.to(torch.float64))
        scores = lin.scores.to(torch.float64)
        gram, jw = lin.gram.to(torch.float64), lin.jw.to(torch.float64)
        f0 = float(discriminator_cost(scores, y, a, self.C, ww))
        if lin.pullback is not None:  # J^T c from the factorised pass: no second forward pass
            jtc = lin.pullback
        else:
            _, pullback = torch.func.vjp(lambda p: self.fn(p, x), params)

            def jtc(c):
                return self.fn.flat(pullback(c)[0])
        radius_before = self.radius
        if not (math.isfinite(f0) and all(bool(torch.isfinite(t).all()) for t in (gram, jw))):
            # NaN parameters or scores: no sub-problem to solve (nothing turns the NaN into a number)
            return self._finish(dict(predicted_decrease=math.nan, actual_decrease=math.nan, rho=math.nan, attempts=0,
                                     status=Status(StatusCode.NON_FINITE, f"non-finite cost ({f0!r}), scores or "
                                                                          f"linearisation at the current parameters"),
                                     reason="non-finite linearisation: no step", linearization=lin.method),
                                torch.zeros_like(w), 0.0, False, radius_before, radius_before, f0, f0, t0)
        lam0 = slack0 = mu0 = None
        if self._warm is not None and self._warm[0].shape == a.shape:
            lam0, slack0, mu0 = self._warm
        problem = ScoreSubproblem(gram, jw, scores, y, a, self.C, ww, self.radius)
        for attempt in range(1, self.max_attempts + 1):
            radius = self.radius
            problem = problem.with_radius(radius)
            try:
                inner = solve_score_dual(problem, self.solver, tol=self.inner_tol, lam0=lam0, slack0=slack0, mu0=mu0,
                                         options=self.solver_options)
            except ArithmeticError as exc:  # an overflow at an extreme radius: no step, and the record says so
                return self._finish(dict(predicted_decrease=0.0, actual_decrease=0.0, rho=math.nan,
                                         attempts=attempt,
                                         status=Status(StatusCode.NUMERICAL_ERROR,
                                                       f"the inner solver {self.solver!r} failed at radius "
                                                       f"{radius:.3g} ({type(exc).__name__}: {exc}): no step"),
                                         reason="inner solver failed: no step", linearization=lin.method),
                                    torch.zeros_like(w), 0.0, False, radius_before, radius, f0, f0, t0)
            lam0, slack0, mu0 = inner.lam, inner.slack, inner.mu
            if not inner.usable:
                return self._finish(dict(predicted_decrease=0.0, actual_decrease=0.0, rho=math.nan,
                                         attempts=attempt, status=inner.status, reason="inner solver failed: no step",
                                         inner=inner, linearization=lin.method),
                                    torch.zeros_like(w), 0.0, False, radius_before, radius, f0, f0, t0)
            # the step: ONE backward pass of sum_i (t lam_i y_i / s) F(w, x_i), minus (t C / s) w
            delta = jtc(inner.score_weights.to(w.dtype)) - inner.weight_decay * w
            delta, norm = self._feasible(delta, radius)
            # model decrease at the step actually taken (||w + delta|| from the vectors, J delta from the Gram)
            wd = w.to(torch.float64) + delta.to(torch.float64)
            model_value = 0.5 * self.C * float(wd @ wd) + float(a @ F.softplus(-(y * scores + inner.jdelta)))
            predicted = f0 - model_value
            if not predicted > 64 * torch.finfo(torch.float64).eps * (1.0 + abs(f0)):
                self._warm = (inner.lam, inner.slack, inner.mu)
                return self._finish(dict(predicted_decrease=max(predicted, 0.0), actual_decrease=0.0, rho=math.nan,
                                         attempts=attempt,
                                         status=Status(StatusCode.STALLED, f"the model predicts a decrease of "
                                                                           f"{predicted:.3g} only: no step"),
                                         reason="the model predicts no decrease: no step", inner=inner,
                                         linearization=lin.method),
                                    torch.zeros_like(w), 0.0, False, radius_before, radius, f0, f0, t0)
            trial_cost = self._trial(params, delta, x, y, a)
            actual = f0 - trial_cost
            rho = actual / predicted if math.isfinite(actual) else math.nan
            decision = self.policy.decide(rho, norm, radius)
            rec = dict(predicted_decrease=predicted, actual_decrease=actual, rho=rho, attempts=attempt,
                       status=_attempt_status(decision.accepted, attempt, rho), reason=decision.reason, inner=inner,
                       linearization=lin.method)
            if decision.accepted or attempt == self.max_attempts:
                self._warm = (inner.lam, inner.slack, inner.mu)
                return self._finish(rec, delta, norm, decision.accepted, radius_before, decision.radius, f0,
                                    trial_cost, t0)
            self.radius = decision.radius
        raise AssertionError("unreachable")  # pragma: no cover


def _norm(t: torch.Tensor) -> float:
    """The Euclidean norm in float64 without underflow or overflow (a step of norm 1e-300 has norm 1e-300, not 0)."""
    t = t.to(torch.float64)
    scale = float(t.abs().max()) if t.numel() else 0.0
    if not (math.isfinite(scale) and scale > 0):
        return float(torch.linalg.vector_norm(t))  # zero, or NaN / inf as they are
    return scale * float(torch.linalg.vector_norm(t / scale))


def _attempt_status(accepted: bool, attempt: int, rho: float) -> Status:
    """The status of a step record: accepted at ``attempt``, or rejected at the last attempt."""
    if accepted:
        return Status(StatusCode.SUCCESS, f"step accepted at attempt {attempt} (rho = {rho:.4g})")
    return Status(StatusCode.MAX_ITER, f"step rejected at each of {attempt} attempts (last rho = {rho:.4g}): "
                                       f"the radius shrank and the parameters are unchanged")
