r"""Optimistic gradient descent (Daskalakis et al. 2018): :math:`x_{t+1} = x_t - 2h v(x_t) + h v(x_{t-1})`.

The base optimiser receives :math:`2 v(x_t) - v(x_{t-1})`; on the first step
(no previous field) it receives :math:`v(x_0)`. One field evaluation per step.
"""
from __future__ import annotations


from .base import OPTIMIZERS, GameOptimizer, StepRecord

__all__ = ["OptimisticGD"]


@OPTIMIZERS.register("optimistic", batchable=True, coefficient=None)
class OptimisticGD(GameOptimizer):
    """Optimistic gradient descent (past-gradient extrapolation, eq. (3.7) of the theory page).

    Parameters
    ----------
    lr : float, default 0.01
        Step size :math:`h` (the base optimiser's learning rate), in
        parameter units per unit of field; must be > 0.
    base : str or callable, default "sgd"
        ``"sgd"`` (the plain update rule), ``"adam"``, ``"rmsprop"`` or a
        callable ``(params, lr, **kw) -> torch.optim.Optimizer`` that receives
        the adjusted field as its gradient.
    base_kwargs : dict, optional
        Extra keyword arguments of the base optimiser (e.g. ``{"alpha": 0.9}``
        for RMSProp). Default None: none.

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0 or ``base`` is unknown or does
        not build a torch optimiser.

    References
    ----------
    Constantinos Daskalakis, Andrew Ilyas, Vasilis Syrgkanis, Haoyang Zeng.
    "Training GANs with Optimism." ICLR 2018.
    """

    memory_steps = 1     # its previous field: the linear map acts on (z_t, z_{t-1})

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs: dict | None = None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self._previous = None  # the field of the previous step; None before the first step (state round-trips)

    def _extra_state(self):
        return None if self._previous is None else [p.clone() for p in self._previous]

    def _load_extra_state(self, extra) -> None:
        self._previous = None if extra is None else [p.clone() for p in extra]

    def _batched_step(self, point, lr, coefficient, move, memory):
        """One step of every cell along 2 v(z_t) - v(z_{t-1}) (v(z_0) first); ``memory`` is the previous field.

        See :meth:`GameOptimizer.batched_step` for the parameters and the returns.
        """
        field = point.v
        direction = field if memory is None else 2 * field - memory
        return move(point.Z, direction, lr), field, None

    def _step(self, game) -> StepRecord:
        ev = game.evaluate()
        bad = self._non_finite(ev.field, ev.losses)
        if bad is not None:
            return bad
        if self._previous is None:
            direction = ev.field
        else:
            direction = [2 * f - p for f, p in zip(ev.field, self._previous)]
        self._apply(game, direction)
        self._previous = [f.detach().clone() for f in ev.field]
        return self._record(ev.field, ev.losses, direction)
