r"""The polynomial kernel :math:`k(x, y) = (\gamma x^\top y + c_0)^p` (eq. (1.20) of the theory page, docs/theory.md)."""
from __future__ import annotations

import torch

from .._checks import check_int, check_number, check_positive
from .base import KERNELS, Kernel

__all__ = ["PolynomialKernel"]


@KERNELS.register("polynomial")
class PolynomialKernel(Kernel):
    r"""The polynomial kernel :math:`k(x, y) = (\gamma x^\top y + c_0)^p`, eq. (1.20) of the theory page.

    Positive semi-definite for ``coef0 >= 0`` and a positive integer degree.

    Parameters
    ----------
    degree : int, default 2
        The power :math:`p`, >= 1.
    gamma : float, default 1.0
        The scale :math:`\gamma` of the inner product, > 0.
    coef0 : float, default 1.0
        The offset :math:`c_0`, >= 0.

    Raises
    ------
    ValueError
        If a setting is out of range.

    References
    ----------
    Bernhard Schölkopf, Alexander J. Smola. *Learning with Kernels.* MIT Press, 2002.

    Examples
    --------
    >>> import torch
    >>> from dualgan.kernels import PolynomialKernel
    >>> PolynomialKernel(degree=2)(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]]))
    tensor([[4.]])
    """

    def __init__(self, degree: int = 2, gamma: float = 1.0, coef0: float = 1.0):
        super().__init__()
        self.degree = check_int(degree, "degree", low=1)
        self.gamma = check_positive(gamma, "gamma")
        self.coef0 = check_number(coef0, "coef0", low=0.0)

    def _settings(self) -> tuple[str, ...]:
        return ("degree", "gamma", "coef0")

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.gamma * (x @ y.T) + self.coef0) ** self.degree
