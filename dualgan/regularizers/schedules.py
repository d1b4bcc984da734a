r"""Weight schedules for regularisers (Roth et al.'s annealing, eq. (5.12) of the theory page, docs/theory.md).

A schedule maps the step count ``t`` to a weight. It is also a tiny counter,
in the manner of ``torch.optim.lr_scheduler``: :meth:`Schedule.step` advances
it once per training iteration and :attr:`Schedule.current` reads the weight
now, so a penalty holding a schedule needs no extra argument from the trainer.
"""
from __future__ import annotations

import math

from .._checks import check_int, check_number, check_positive

__all__ = ["Schedule", "ConstantSchedule", "ExponentialAnnealing"]


class Schedule:
    """Base class: subclasses implement :meth:`value` (a pure function of the step)."""

    def __init__(self):
        self.step_count = 0

    def value(self, step: int) -> float:  # pragma: no cover - abstract
        """The weight at a step (subclasses implement it; a pure function).

        Parameters
        ----------
        step : int
            Step count, >= 0.

        Returns
        -------
        float
            The weight.
        """
        raise NotImplementedError

    @property
    def current(self) -> float:
        """The weight at the schedule's own step count."""
        return self.value(self.step_count)

    def step(self, n: int = 1) -> float:
        """Advance the counter by ``n`` steps and return the new weight.

        Parameters
        ----------
        n : int, default 1
            Number of steps to advance, >= 0.

        Returns
        -------
        float
            The weight at the new step count.

        Raises
        ------
        ValueError
            If ``n`` is not a non-negative integer.
        """
        n = check_int(n, "n (steps to advance)", low=0)
        self.step_count += n
        return self.current

    def __call__(self, step: int | None = None) -> float:
        return self.current if step is None else self.value(_check_step(step))

    def state_dict(self) -> dict:
        """The counter, the one thing that changes in training (for checkpoints)."""
        return {"step_count": int(self.step_count)}

    def check_state_dict(self, state: dict) -> None:
        """Check that ``state`` has a schedule's layout (nothing changes): what :meth:`load_state_dict` checks first.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`: ``{"step_count": n}``.

        Raises
        ------
        ValueError
            If ``state`` has other keys or its count is not a non-negative integer.
        """
        if not isinstance(state, dict) or set(state) != {"step_count"}:
            raise ValueError(f"a Schedule state is {{'step_count': n}}, got {state!r}")
        _check_step(state["step_count"])

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output once :meth:`check_state_dict` accepts it.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`.

        Raises
        ------
        ValueError
            If :meth:`check_state_dict` refuses ``state`` (nothing changes then).
        """
        self.check_state_dict(state)
        self.step_count = _check_step(state["step_count"])


class ConstantSchedule(Schedule):
    """A fixed weight (what a plain float means).

    Parameters
    ----------
    weight : float
        The weight, >= 0.
    """

    def __init__(self, weight: float):
        super().__init__()
        self.weight = _check_nonnegative(weight, "weight")

    def value(self, step: int) -> float:
        """The fixed weight, whatever the step.

        Parameters
        ----------
        step : int
            Step count, >= 0 (ignored).

        Returns
        -------
        float
            The weight.
        """
        _check_step(step)
        return self.weight

    def __repr__(self):
        return f"ConstantSchedule({self.weight!r})"


class ExponentialAnnealing(Schedule):
    r"""Exponential decay from ``initial`` to ``final_ratio * initial`` over ``total_steps``.

    .. math:: \gamma(t) = \gamma_0 \, r^{\min(t, T) / T}

    with :math:`r` = ``final_ratio`` (0.01 in Roth et al.'s code: :math:`\gamma_0`
    down to :math:`0.01\gamma_0` over the run, the decay ``tf.train.exponential_decay``
    with ``decay_steps`` equal to the run length computes) and :math:`T` =
    ``total_steps``. After ``T`` steps the weight stays at the floor
    :math:`r\gamma_0`.

    Parameters
    ----------
    initial : float
        Starting weight :math:`\gamma_0`, >= 0.
    total_steps : int
        Length :math:`T` of the decay, in steps, >= 1.
    final_ratio : float, default 0.01
        Ratio :math:`r` of the final to the initial weight, in (0, 1].

    References
    ----------
    Eq. (5.12) of the theory page.

    Kevin Roth, Aurelien Lucchi, Sebastian Nowozin, Thomas Hofmann.
    *Stabilizing Training of Generative Adversarial Networks through
    Regularization.* NeurIPS 2017 (the annealed weight of their code).
    """

    def __init__(self, initial: float, total_steps: int, final_ratio: float = 0.01):
        super().__init__()
        self.initial = check_positive(initial, "initial")
        self.total_steps = check_int(total_steps, "total_steps (the length of the run)", low=1)
        self.final_ratio = check_positive(final_ratio, "final_ratio")
        if self.final_ratio > 1:
            raise ValueError(f"final_ratio must be in (0, 1] for a decay, got {final_ratio!r}")

    def value(self, step: int) -> float:
        r"""The weight :math:`\gamma_0 r^{\min(t, T)/T}` of eq. (5.12).

        Parameters
        ----------
        step : int
            Step count :math:`t`, >= 0.

        Returns
        -------
        float
            The weight.
        """
        t = min(_check_step(step), self.total_steps)
        return self.initial * math.exp(math.log(self.final_ratio) * t / self.total_steps)

    def __repr__(self):
        return f"ExponentialAnnealing(initial={self.initial!r}, total_steps={self.total_steps}, final_ratio={self.final_ratio!r})"


def as_schedule(weight, name: str) -> Schedule:
    """A float becomes a :class:`ConstantSchedule`; a :class:`Schedule` passes through."""
    if isinstance(weight, Schedule):
        return weight
    return ConstantSchedule(_check_nonnegative(weight, name))


def _check_step(step) -> int:
    return check_int(step, "step (the iteration count)", low=0)


def _check_nonnegative(value, name: str) -> float:
    return check_number(value, name, low=0.0)
