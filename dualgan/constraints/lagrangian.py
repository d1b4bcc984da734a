r"""The augmented Lagrangian (method of multipliers) for generated samples (eqs. (4.6) and (4.7) of the theory page, docs/theory.md).

Per sample, the *active residual* :math:`R(x)` is

* one subspace: :math:`R(x) = A x - b \in R^r`;
* a union: :math:`R(x)_k = a_k^\top x - b_k` for the sample's nearest
  hyperplane :math:`k = k^*(x)` and 0 for the others (:math:`R(x) \in R^K`):
  locally the union is that one hyperplane.

The constraint is :math:`c(\theta) = E_z[R(G(z))] = 0` (one multiplier per
equation, resp. per hyperplane) and the generator minimises

.. math::

    L_G(\theta) + \mu^\top c(\theta) + \frac{\rho}{2}\, E_z\|R(G(z))\|^2 .

The quadratic term is the per-sample form (it bounds
:math:`\tfrac{\rho}{2}\|c\|^2` from above by Jensen's inequality and, unlike
it, vanishes only when every sample is feasible). The generator steps
between multiplier updates are the method's inner minimisation: ``update``
is called after every generator step and averages the batch estimates of
:math:`c`; every ``check_every`` calls (one outer iteration) it takes the
dual-ascent step of the method of multipliers

.. math:: \mu \leftarrow \mu + \rho\, \bar c_{\text{window}},

and compares the window's mean violation :math:`E\|R\|` with the previous
window's: when it has not fallen below ``decrease`` times that,
:math:`\rho \leftarrow \min(\text{growth}\cdot\rho, \rho_{\max})`
(Nocedal & Wright, *Numerical Optimization*, 2nd ed., Framework 17.3 / Bertsekas 1982).
``state`` reports :math:`\mu` as ``multipliers`` and :math:`\rho` as
``penalty_weight``, so trainers record both in their History.

A handler holds the multipliers of one run: the trainer that wraps its
generator with it owns it, and a second trainer (another generator) is
refused with a ``ValueError`` instead of silently starting from the first
run's :math:`\mu` and :math:`\rho`; :meth:`AugmentedLagrangian.reset` returns a handler to
its initial multipliers and penalty parameter and frees it for another trainer.
"""
from __future__ import annotations

import math
import weakref

import torch
from torch import nn

from .._checks import check_int, check_positive
from .base import _SetHandler, flatten_samples
from .sets import AffineSubspace, HyperplaneUnion

__all__ = ["AugmentedLagrangian", "active_residual"]


class AugmentedLagrangian(_SetHandler):
    r"""Handler: method of multipliers with multipliers :math:`\mu` and penalty parameter :math:`\rho`.

    The generator's loss gains the terms of eq. (4.6) of the theory page; every
    ``check_every`` calls of :meth:`update` the multipliers and :math:`\rho`
    take the step of eq. (4.7).

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        An :class:`AffineSubspace` (``r`` multipliers, one per equation) or a
        :class:`HyperplaneUnion` (one multiplier per hyperplane).
    rho : float, default 1.0
        Initial penalty parameter :math:`\rho > 0`, in inverse squared residual units.
    growth : float, default 2.0
        Factor :math:`\beta \ge 1` by which :math:`\rho` grows when the
        violation stalls; ``growth=1`` keeps :math:`\rho` fixed.
    rho_max : float, default 1e4
        Upper bound of :math:`\rho`, ``>= rho``.
    check_every : int, default 50
        Window length, in :meth:`update` calls (generator steps), of one outer
        iteration: the multiplier step and the stall test.
    decrease : float, default 0.5
        Factor :math:`\kappa \in (0, 1]` by which the window's mean violation
        :math:`E\|R\|` must fall below the previous window's; otherwise
        :math:`\rho` grows.
    dual_step : float or None, default None
        Step of the multiplier update, > 0; ``None`` uses :math:`\rho`, the
        classical method of multipliers.
    multipliers : array_like or None, default None
        Initial :math:`\mu`, one finite number per equation (subspace) or per
        hyperplane (union); ``None`` for zeros. Stored in float64.

    Raises
    ------
    ValueError
        If ``constraint`` is not a constraint set, a number is out of its
        range (``rho``, ``rho_max``, ``dual_step`` > 0, ``growth`` >= 1,
        ``rho_max`` >= ``rho``, ``decrease`` in (0, 1], ``check_every`` >= 1),
        or ``multipliers`` has the wrong length or non-finite entries.

    Notes
    -----
    One handler per trainer: :meth:`wrap_generator` binds the handler to the
    trainer's generator, and wrapping another generator raises ``ValueError``
    (the multipliers and :math:`\rho` are the state of one run). Call
    :meth:`reset` to reuse a handler from its initial state.

    References
    ----------
    Magnus R. Hestenes. *Multiplier and gradient methods.* Journal of
    Optimization Theory and Applications 4, 1969.

    M. J. D. Powell. *A method for nonlinear constraints in minimization
    problems.* In R. Fletcher (ed.), Optimization, Academic Press, 1969.

    Dimitri P. Bertsekas. *Constrained Optimization and Lagrange Multiplier
    Methods.* Academic Press, 1982.

    Jorge Nocedal, Stephen J. Wright. *Numerical Optimization*, 2nd ed.
    Springer, 2006 (Framework 17.3).
    """

    def __init__(self, constraint: AffineSubspace | HyperplaneUnion, rho: float = 1.0, growth: float = 2.0,
                 rho_max: float = 1e4, check_every: int = 50, decrease: float = 0.5,
                 dual_step: float | None = None, multipliers=None):
        super().__init__(constraint)
        self.rho = check_positive(rho, "rho")
        self.growth = check_positive(growth, "growth")
        if self.growth < 1:
            raise ValueError(f"growth must be >= 1 (rho never shrinks), got {growth!r}")
        self.rho_max = check_positive(rho_max, "rho_max")
        if self.rho_max < self.rho:
            raise ValueError(f"rho_max ({rho_max!r}) must be >= rho ({rho!r})")
        self.check_every = check_int(check_every, "check_every", low=1)
        self.decrease = check_positive(decrease, "decrease")
        if self.decrease > 1:
            raise ValueError(f"decrease must lie in (0, 1], got {decrease!r}")
        self.dual_step = None if dual_step is None else check_positive(dual_step, "dual_step")
        n_mult = (self.constraint.n_equations if isinstance(self.constraint, AffineSubspace)
                  else self.constraint.n_hyperplanes)
        if multipliers is None:
            mu = torch.zeros(n_mult, dtype=torch.float64)
        else:
            mu = torch.as_tensor(multipliers, dtype=torch.float64).reshape(-1)
            if mu.shape[0] != n_mult or not bool(torch.isfinite(mu).all()):
                what = "equation" if isinstance(self.constraint, AffineSubspace) else "hyperplane"
                raise ValueError(f"multipliers must be {n_mult} finite numbers (one per {what}), got {multipliers!r}")
        self._initial = (mu.clone(), self.rho)
        self._generator = None  # weak reference to the generator of the trainer that owns this handler
        self.multipliers = mu
        self.n_updates = 0
        self._window_sum = 0.0
        self._window_c: torch.Tensor | None = None
        self._previous_window: float | None = None

    def reset(self) -> None:
        """Back to the initial multipliers and ``rho`` with no update recorded, and free for another trainer.

        Examples
        --------
        >>> from dualgan.constraints import AffineSubspace, AugmentedLagrangian
        >>> al = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), multipliers=[2.0])
        >>> al.reset(); float(al.multipliers[0])
        2.0
        """
        self.multipliers, self.rho = self._initial[0].clone(), self._initial[1]
        self.n_updates, self._window_sum, self._window_c, self._previous_window = 0, 0.0, None, None
        self._generator = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_generator"] = None  # a weak reference cannot be pickled; a copy is bound by its own trainer
        return state

    def __repr__(self) -> str:
        return f"AugmentedLagrangian({self.constraint!r}, rho={self.rho:g})"

    def wrap_generator(self, generator: nn.Module) -> nn.Module:
        """The generator, unchanged (the method acts through the loss); binds the handler to it.

        Parameters
        ----------
        generator : torch.nn.Module
            The generator of the trainer that will own this handler.

        Returns
        -------
        torch.nn.Module
            ``generator`` itself.

        Raises
        ------
        ValueError
            If the handler already belongs to the trainer of another generator
            (its multipliers are that run's): construct one handler per
            trainer, or call :meth:`reset` first.
        """
        bound = None if self._generator is None else self._generator()
        if (bound is not None and bound is not generator) or (bound is None and self._generator is not None
                                                               and self.n_updates > 0):
            raise ValueError(f"this AugmentedLagrangian already belongs to the trainer of another generator "
                             f"({self.n_updates} updates, multipliers {self.multipliers.cpu().tolist()}, "
                             f"rho={self.rho:g}); a second trainer would start from that run's multipliers: "
                             f"construct a new AugmentedLagrangian for each trainer, or call reset() first")
        try:
            self._generator = weakref.ref(generator)
        except TypeError:  # an object without weak references (a plain callable's wrapper): keep it alive
            self._generator = lambda: generator
        return generator

    def penalty(self, samples: torch.Tensor) -> torch.Tensor:
        r"""The batch estimate of :math:`\mu^\top c + \frac{\rho}{2} E\|R\|^2`, eq. (4.6) of the theory page.

        Parameters
        ----------
        samples : torch.Tensor
            Generated samples, shape ``(n, D)`` or ``(n, *shape)`` with ``D``
            values per sample, float, any device; differentiable.

        Returns
        -------
        torch.Tensor
            0-d, in ``samples``' dtype.

        Raises
        ------
        ValueError
            If ``samples`` does not have ``D`` values per sample.
        """
        R = active_residual(self.constraint, flatten_samples(self.constraint, samples))
        mu = self.multipliers.to(device=R.device, dtype=R.dtype)
        return mu @ R.mean(dim=0) + 0.5 * self.rho * R.square().sum(dim=1).mean()

    def update(self, samples: torch.Tensor) -> None:
        r"""Record the batch's constraint estimate; at the end of a window, the step of eq. (4.7).

        Called after every generator step. Every ``check_every`` calls,
        :math:`\mu \leftarrow \mu + \text{step}\cdot\bar c` with the window's
        mean :math:`\bar c`, and :math:`\rho` grows by ``growth`` (up to
        ``rho_max``) when the window's mean violation did not fall below
        ``decrease`` times the previous window's.

        Parameters
        ----------
        samples : torch.Tensor
            Generated samples of the step, shape ``(n, D)`` or ``(n, *shape)``
            with ``D`` values per sample (detached, computed in float64).

        Raises
        ------
        FloatingPointError
            If a sample is not finite (the generator diverged).
        ValueError
            If ``samples`` does not have ``D`` values per sample.
        """
        with torch.no_grad():
            x = flatten_samples(self.constraint, samples).detach().to(torch.float64)
            R = active_residual(self.constraint, x)
            if not bool(torch.isfinite(R).all()):
                raise FloatingPointError("augmented Lagrangian: non-finite generated samples; the generator "
                                         "diverged (lower the learning rate or rho)")
            c = R.mean(dim=0)
            self._window_c = c if self._window_c is None else self._window_c.to(c.device) + c
            self._window_sum += float(torch.linalg.vector_norm(R, dim=1).mean())
        self.n_updates += 1
        if self.n_updates % self.check_every:
            return
        # End of an outer iteration: dual ascent with the window's constraint estimate, then the rho test.
        step = self.rho if self.dual_step is None else self.dual_step
        self.multipliers = self.multipliers.to(self._window_c.device) + step * self._window_c / self.check_every
        window = self._window_sum / self.check_every
        if self._previous_window is not None and window > self.decrease * self._previous_window:
            self.rho = min(self.rho * self.growth, self.rho_max)
        self._previous_window = window
        self._window_sum, self._window_c = 0.0, None

    def _variables(self):
        return self.multipliers.cpu().tolist(), self.rho  # mu as multipliers, rho as penalty_weight

    def _settings(self) -> dict:
        # what a checkpoint must have been written with: the update rule's constants
        return {"check_every": self.check_every, "growth": self.growth, "rho_max": self.rho_max,
                "decrease": self.decrease, "dual_step": self.dual_step}

    def state_dict(self) -> dict:
        """Everything :meth:`update` changes: multipliers, rho, the update counter and the stall window.

        Returns
        -------
        dict
            Tensors and numbers (``torch.save(..., weights_only=True)``-safe).
        """
        return {"multipliers": self.multipliers.detach().cpu().clone(), "rho": float(self.rho),
                "n_updates": int(self.n_updates), "window_sum": float(self._window_sum),
                "window_c": None if self._window_c is None else self._window_c.detach().cpu().clone(),
                "previous_window": self._previous_window, "settings": self._settings()}

    def check_state_dict(self, state: dict) -> None:
        """Check that ``state`` has this handler's layout, shapes and settings (nothing changes).

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned for a handler built with the same
            constraint and settings.

        Raises
        ------
        ValueError
            When keys are missing, shapes differ from this handler's constraint,
            values are not finite, or the handler was built with other settings.
        """
        keys = {"multipliers", "rho", "n_updates", "window_sum", "window_c", "previous_window", "settings"}
        if not isinstance(state, dict) or set(state) != keys:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"AugmentedLagrangian state must have the keys {sorted(keys)}, got {got}; it was "
                             f"written by another constraint handler")
        mu = state["multipliers"]
        n = self.multipliers.shape[0]
        if not isinstance(mu, torch.Tensor) or tuple(mu.shape) != (n,) or not bool(torch.isfinite(mu).all()):
            raise ValueError(f"saved multipliers must be {n} finite numbers (one per equation or hyperplane of "
                             f"this handler's constraint), got {mu!r}")
        wc = state["window_c"]
        if wc is not None and (not isinstance(wc, torch.Tensor) or tuple(wc.shape) != (n,)):
            raise ValueError(f"saved window_c must be None or {n} numbers, got {wc!r}")
        settings = self._settings()
        if state["settings"] != settings:
            raise ValueError(f"the saved AugmentedLagrangian had settings {state['settings']} but this one has "
                             f"{settings}; construct the handler with the checkpoint's settings")
        if not _is_number(state["rho"], low_open=True):
            raise ValueError(f"saved rho must be finite and > 0, got {state['rho']!r}")
        n_updates = state["n_updates"]
        if isinstance(n_updates, bool) or not isinstance(n_updates, int) or n_updates < 0:
            raise ValueError(f"saved n_updates must be a non-negative integer, got {n_updates!r}")
        # the window's numbers too, so that a bad one is refused before the multipliers change
        for key in ("window_sum", "previous_window"):
            if not (_is_number(state[key]) or key == "previous_window" and state[key] is None):
                raise ValueError(f"saved {key} must be a finite number >= 0 (the stall window's mean violation)"
                                 f"{' or None' if key == 'previous_window' else ''}, got {state[key]!r}")

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output once :meth:`check_state_dict` accepts it (nothing changes otherwise).

        Parameters
        ----------
        state : dict
            A state :meth:`check_state_dict` accepts.

        Raises
        ------
        ValueError
            If it refuses ``state``.
        """
        self.check_state_dict(state)
        wc = state["window_c"]
        self.multipliers = state["multipliers"].detach().to(torch.float64).clone()
        self.rho = float(state["rho"])
        self.n_updates = state["n_updates"]
        self._window_sum = float(state["window_sum"])
        self._window_c = None if wc is None else wc.detach().to(torch.float64).clone()
        prev = state["previous_window"]
        self._previous_window = None if prev is None else float(prev)


def _is_number(value, low_open: bool = False) -> bool:
    """A finite real number >= 0 (> 0 with ``low_open``), as a saved state holds it (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and (value > 0 if low_open else value >= 0)


def active_residual(constraint, x: torch.Tensor) -> torch.Tensor:
    r"""The active residual :math:`R(x)` of the augmented Lagrangian, eq. (4.6) of the theory page.

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        The constraint set, of ambient dimension ``D``.
    x : torch.Tensor
        Samples, shape ``(n, D)``, float, any device; differentiable.

    Returns
    -------
    torch.Tensor
        :math:`A x - b`, shape ``(n, r)``, for a subspace; for a union, shape
        ``(n, K)`` holding :math:`a_k^\top x - b_k` in the column of each
        row's nearest hyperplane and zeros elsewhere. In ``x``'s dtype.
    """
    if isinstance(constraint, AffineSubspace):
        return constraint.residual(x)
    res = constraint.residual(x)
    nearest = constraint.signed_distances(x.detach()).abs().argmin(dim=1)
    mask = torch.zeros_like(res).scatter_(1, nearest[:, None], 1.0)
    return res * mask
