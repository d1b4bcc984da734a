r"""Simultaneous gradient descent: :math:`x \leftarrow x - h\, v(x)` (eq. (3.3) of the theory page, docs/theory.md).

Every player steps on its own gradient at the same point. On the bilinear
game :math:`x^\top A y` the update map :math:`I - hJ` has spectral radius
:math:`\sqrt{1 + h^2 \sigma_{\max}(A)^2} > 1`: it diverges for every step size.
"""
from __future__ import annotations


from .base import OPTIMIZERS, GameOptimizer

__all__ = ["SimultaneousGD"]


@OPTIMIZERS.register("simultaneous", batchable=True, coefficient=None)
class SimultaneousGD(GameOptimizer):
    """Simultaneous gradient descent on top of a base optimiser (plain SGD by default).

    Eq. (3.3) of the theory page.

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
    """

    def _batched_step(self, point, lr, coefficient, move, memory):
        """One step of every cell (see :meth:`GameOptimizer.batched_step`): the base step along :math:`v`."""
        return move(point.Z, point.v, lr), memory, None
