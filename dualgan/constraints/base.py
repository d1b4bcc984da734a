"""The one interface of constraint handlers, as trainers and game optimisers see it.

A trainer holding a handler ``h`` does, for every generator update:

1. at construction: ``generator = h.wrap_generator(generator)`` (projection
   returns a wrapped module whose output lies on the constraint set; the other
   handlers return the generator unchanged);
2. in the generator's loss: ``loss = loss + h.penalty(samples)`` (a 0-d
   tensor; zero for projection and for no constraint; :func:`handler_penalty` checks it);
3. after the generator step: ``h.update(samples)`` (the augmented Lagrangian
   updates its multipliers and penalty parameter here; others do nothing);
4. when recording history: ``h.state(samples)``, a :class:`ConstraintState` (:func:`handler_state` checks it);
5. in checkpoints: ``h.state_dict()`` (tensors and numbers: the multipliers,
   penalty parameter and counters that change in training) and, on resume,
   ``h.load_state_dict(state)``, which validates the whole state before
   changing anything, so a resumed run equals the uninterrupted one bit for bit.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .sets import HyperplaneUnion, _check_batch, as_constraint_set

__all__ = ["ConstraintHandler", "ConstraintState", "HandlerBase", "NoConstraint", "HANDLER_METHODS", "check_handler",
           "check_empty_state", "handler_state_dict", "handler_load_state_dict", "handler_penalty", "handler_state"]


@dataclass(frozen=True)
class ConstraintState:
    """Violation of a batch and the handler's own variables (multipliers, penalty weight).

    ``mean_violation`` / ``max_violation``: Euclidean distance of the samples
    to the constraint set (to the nearest hyperplane for a union).
    ``multipliers``: the augmented Lagrangian's estimates (empty otherwise).
    ``penalty_weight``: the penalty's weight or the augmented Lagrangian's
    penalty parameter rho. ``mean_residual`` / ``max_residual``: the same
    violation in the user's units, ||A x - b|| (min_k |a_k^T x - b_k| for a
    union); NaN when a handler does not compute them. ``shares``: for a union,
    the fraction of samples whose nearest hyperplane is k.

    Attributes
    ----------
    mean_violation : float
        Mean Euclidean distance of the samples to the set, eq. (4.8) of the theory page.
    max_violation : float
        Largest such distance.
    multipliers : tuple of float, default ()
        The augmented Lagrangian's multiplier estimates :math:`\\mu` (empty otherwise).
    penalty_weight : float, default 0.0
        The penalty's weight :math:`\\gamma` or the augmented Lagrangian's :math:`\\rho`.
    mean_residual : float, default nan
        Mean residual norm in the user's units.
    max_residual : float, default nan
        Largest residual norm.
    shares : tuple of float, default ()
        For a union, the fraction of samples nearest to each hyperplane.
    """

    mean_violation: float
    max_violation: float
    multipliers: tuple[float, ...] = field(default=())
    penalty_weight: float = 0.0
    mean_residual: float = float("nan")
    max_residual: float = float("nan")
    shares: tuple[float, ...] = field(default=())


@runtime_checkable
class ConstraintHandler(Protocol):
    """What a constraint handler offers to trainers and game optimisers (the module docstring says when each is called).

    :func:`check_handler` checks an object against this protocol; every
    trainer and :class:`~dualgan.games.GANGame` call it on their ``constraint``.
    """

    def wrap_generator(self, generator: nn.Module) -> nn.Module:
        """The generator the trainer trains: ``generator`` itself or a module wrapping it.

        Parameters
        ----------
        generator : torch.nn.Module
            The user's generator.

        Returns
        -------
        torch.nn.Module
            The generator to train (for projection, one whose output lies on the set, eq. (4.7) of the theory page).
        """
        ...

    def penalty(self, samples: torch.Tensor) -> torch.Tensor:
        """The penalty added to the generator's loss.

        Parameters
        ----------
        samples : torch.Tensor
            Shape ``(B, D)``: generated samples, with graph.

        Returns
        -------
        torch.Tensor
            A 0-d tensor (zero for projection and for no constraint).
        """
        ...

    def update(self, samples: torch.Tensor) -> None:
        """Update the handler's variables after a generator step (multipliers, penalty parameter).

        Parameters
        ----------
        samples : torch.Tensor
            Shape ``(B, D)``: generated samples after the step, without graph.
        """
        ...

    def state(self, samples: torch.Tensor) -> ConstraintState:
        """The violation of ``samples`` and the handler's variables, for the history.

        Parameters
        ----------
        samples : torch.Tensor
            Shape ``(B, D)``: generated samples.

        Returns
        -------
        ConstraintState
        """
        ...


#: the methods :func:`check_handler` requires, the members of :class:`ConstraintHandler`
HANDLER_METHODS = ("wrap_generator", "penalty", "update", "state")


def check_handler(handler, name: str = "constraint"):
    """The one check of a constraint handler: it must follow :class:`ConstraintHandler`.

    Parameters
    ----------
    handler : object
        The object passed as a trainer's or game's constraint handler.
    name : str, default "constraint"
        The argument's name, for the error message.

    Returns
    -------
    ConstraintHandler
        ``handler`` itself.

    Raises
    ------
    TypeError
        If ``handler`` lacks a callable ``wrap_generator``, ``penalty``,
        ``update`` or ``state`` (the message names the missing ones and says
        to pass None for no constraint).

    Examples
    --------
    >>> from dualgan.constraints.base import NoConstraint, check_handler
    >>> check_handler(NoConstraint()).__class__.__name__
    'NoConstraint'
    """
    if isinstance(handler, ConstraintHandler) and all(callable(getattr(handler, m)) for m in HANDLER_METHODS):
        return handler
    missing = [m for m in HANDLER_METHODS if not callable(getattr(handler, m, None))]
    raise TypeError(f"{name} must follow dualgan.constraints.base.ConstraintHandler (missing {', '.join(missing)}); "
                    f"got {type(handler).__name__}: pass a handler of dualgan.constraints or None for no constraint")


class HandlerBase(abc.ABC):
    """Base class of the library's constraint handlers: the defaults of a handler without variables.

    A subclass writes :meth:`state` (the violation it reports) and overrides
    what it changes: :meth:`wrap_generator` (projection), :meth:`penalty`
    (penalty, augmented Lagrangian), :meth:`update`, :meth:`state_dict`,
    :meth:`check_state_dict` and :meth:`load_state_dict` (a handler whose variables change in training,
    e.g. the augmented Lagrangian's multipliers, eq. (4.6) of the theory
    page). A handler need not derive from this class: :func:`check_handler`
    checks the :class:`ConstraintHandler` protocol, and checkpoints call
    :func:`handler_state_dict`.
    """

    def wrap_generator(self, generator: nn.Module) -> nn.Module:
        """Return ``generator`` unchanged (the handler acts through the loss or not at all).

        Parameters
        ----------
        generator : torch.nn.Module
            The user's generator.

        Returns
        -------
        torch.nn.Module
            ``generator`` itself.
        """
        return generator

    def penalty(self, samples: torch.Tensor) -> torch.Tensor:
        """Zero: nothing is added to the generator's loss.

        Parameters
        ----------
        samples : torch.Tensor
            Generated samples, any shape; only their dtype and device are used.

        Returns
        -------
        torch.Tensor
            A 0-d zero in ``samples``' dtype and device.
        """
        return samples.new_zeros(())

    def update(self, samples: torch.Tensor) -> None:
        """Nothing to update (no variables change in training).

        Parameters
        ----------
        samples : torch.Tensor
            Generated samples of the last generator step (unused).
        """
        return None

    @abc.abstractmethod
    def state(self, samples: torch.Tensor) -> ConstraintState:
        """The violation of ``samples`` and the handler's variables, for the history.

        Parameters
        ----------
        samples : torch.Tensor
            Shape ``(B, D)``: generated samples.

        Returns
        -------
        ConstraintState
            The violation, eq. (4.8) of the theory page, and the handler's variables.
        """

    def state_dict(self) -> dict:
        """No training state: an empty dict (see :func:`handler_state_dict`).

        Returns
        -------
        dict
            ``{}``.
        """
        return {}

    def check_state_dict(self, state: dict) -> None:
        """Check that ``state`` has this handler's layout (nothing changes): here, the empty state.

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned: ``{}``.

        Raises
        ------
        ValueError
            If ``state`` is not an empty dict (a checkpoint of another handler).
        """
        check_empty_state(self, state)

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output once :meth:`check_state_dict` accepts it (by default, nothing).

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned.

        Raises
        ------
        ValueError
            If :meth:`check_state_dict` refuses ``state`` (nothing changes then).
        """
        self.check_state_dict(state)


class NoConstraint(HandlerBase):
    """The handler trainers use by default: changes nothing (every method is :class:`HandlerBase`'s default)."""

    def state(self, samples: torch.Tensor) -> ConstraintState:
        """No violation, no variables.

        Parameters
        ----------
        samples : torch.Tensor
            Generated samples (unused).

        Returns
        -------
        ConstraintState
            ``ConstraintState(0.0, 0.0)``.
        """
        return ConstraintState(0.0, 0.0)


class _SetHandler(HandlerBase):
    """A handler of one constraint set: it holds the set and reports the violation with its own variables.

    A subclass says which variables it reports (hook ``_variables``: the
    multipliers and the penalty weight, none and 0 by default).
    """

    def __init__(self, constraint):
        self.constraint = as_constraint_set(constraint)

    def state(self, samples: torch.Tensor) -> ConstraintState:
        """The violation of ``samples``, the handler's multipliers and its penalty weight (or rho).

        Parameters
        ----------
        samples : torch.Tensor
            Shape ``(n, D)`` or ``(n, *shape)`` with ``D`` values per sample.

        Returns
        -------
        ConstraintState
            Distances as in eq. (4.8) of the theory page; for a union, the shares.

        Raises
        ------
        ValueError
            If ``samples`` does not have ``D`` values per sample.
        """
        multipliers, penalty_weight = self._variables()
        return state_of(self.constraint, samples, multipliers, penalty_weight)

    def _variables(self) -> tuple:
        return (), 0.0


def flatten_samples(constraint, samples: torch.Tensor) -> torch.Tensor:
    """(n, *shape) -> (n, D) for the constraint's dimension D (shared by all handlers); ValueError otherwise."""
    if isinstance(samples, torch.Tensor) and samples.ndim > 2 and samples[0].numel() == constraint.dim:
        samples = samples.reshape(samples.shape[0], constraint.dim)
    _check_batch(samples, constraint.dim)
    return samples


def state_of(constraint, samples: torch.Tensor, multipliers=(), penalty_weight: float = 0.0) -> ConstraintState:
    """Violation of ``samples`` (and union shares) as a :class:`ConstraintState`."""
    x = flatten_samples(constraint, samples)
    v = constraint.violation(x)
    shares = constraint.shares(x) if isinstance(constraint, HyperplaneUnion) else ()
    return ConstraintState(v.mean_distance, v.max_distance, tuple(float(m) for m in multipliers),
                           float(penalty_weight), mean_residual=v.mean_residual, max_residual=v.max_residual,
                           shares=shares)


def check_empty_state(handler, state) -> None:
    """Refuse a non-empty saved state for a handler that has none.

    Parameters
    ----------
    handler : object
        The handler (named in the message).
    state : object
        The saved state; must be an empty dict.

    Raises
    ------
    ValueError
        If ``state`` is not an empty dict.
    """
    if not isinstance(state, dict) or state:
        raise ValueError(f"{type(handler).__name__} has no training state, but the saved state is {state!r}; "
                         f"the checkpoint was written with another constraint handler")


def handler_penalty(handler, samples: torch.Tensor) -> torch.Tensor:
    """``handler.penalty(samples)``, checked: what a trainer adds to the generator's loss.

    A handler written outside the library may return a vector (one penalty per
    sample: torch's "grad can be implicitly created only for scalar outputs" at the
    backward pass) or a float (AttributeError 'detach'); that is refused here, naming
    the handler.

    Parameters
    ----------
    handler : ConstraintHandler
        The trainer's constraint handler.
    samples : torch.Tensor
        Shape ``(B, D)``: generated samples, with graph.

    Returns
    -------
    torch.Tensor
        The penalty, a 0-d floating-point tensor.

    Raises
    ------
    TypeError
        If the penalty is not a 0-d floating-point tensor.
    """
    value = handler.penalty(samples)
    if not (isinstance(value, torch.Tensor) and value.ndim == 0 and value.is_floating_point()):
        got = (f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}" if isinstance(value, torch.Tensor)
               else f"a {type(value).__name__}")
        raise TypeError(f"{type(handler).__name__}.penalty returned {got}; a constraint handler's penalty is a 0-d "
                        f"floating-point tensor added to the generator's loss (e.g. the batch mean of a per-sample "
                        f"penalty)")
    return value


def handler_state(handler, samples: torch.Tensor) -> ConstraintState:
    """``handler.state(samples)``, checked: what a trainer records in its history.

    Parameters
    ----------
    handler : ConstraintHandler
        The trainer's constraint handler.
    samples : torch.Tensor
        Shape ``(B, D)``: generated samples.

    Returns
    -------
    ConstraintState
        The violation of ``samples`` and the handler's variables.

    Raises
    ------
    TypeError
        If the handler returns something else than a :class:`ConstraintState` (a dict raised
        AttributeError 'mean_violation' when the history row was written).
    """
    state = handler.state(samples)
    if not isinstance(state, ConstraintState):
        raise TypeError(f"{type(handler).__name__}.state returned a {type(state).__name__}; a constraint handler's "
                        f"state is a dualgan.constraints.ConstraintState(mean_violation, max_violation, ...)")
    return state


def handler_state_dict(handler) -> dict:
    """The handler's training state (multipliers, penalty parameter, counters) for a checkpoint.

    A handler that changes during training must define ``state_dict()`` and
    ``load_state_dict(state)``; a handler without them is accepted only if it
    has no mutable state, which this function cannot know, so it raises
    rather than write a checkpoint that would not resume bit for bit.

    Parameters
    ----------
    handler : ConstraintHandler
        The handler.

    Returns
    -------
    dict
        Its ``state_dict()`` (tensors, numbers and containers).

    Raises
    ------
    ValueError
        If the handler has no ``state_dict()``.
    """
    fn = getattr(handler, "state_dict", None)
    if not callable(fn):
        raise ValueError(f"constraint handler {type(handler).__name__} has no state_dict(); add state_dict() and "
                         f"load_state_dict(state) (return {{}} if it has no training state) so checkpoints can "
                         f"restore it")
    return fn()


def handler_load_state_dict(handler, state) -> None:
    """Restore what :func:`handler_state_dict` saved (validated by the handler before anything changes).

    Parameters
    ----------
    handler : ConstraintHandler
        The handler to restore.
    state : dict
        What :func:`handler_state_dict` returned for a handler of the same class and settings.

    Raises
    ------
    ValueError
        If the handler has no ``load_state_dict`` or refuses ``state``.
    """
    fn = getattr(handler, "load_state_dict", None)
    if not callable(fn):
        raise ValueError(f"constraint handler {type(handler).__name__} has no load_state_dict(state)")
    fn(state)
