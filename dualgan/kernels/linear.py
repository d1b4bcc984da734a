r"""The linear kernel :math:`k(x, y) = x^\top y` (eq. (1.20) of the theory page, docs/theory.md)."""
from __future__ import annotations

import torch

from .base import KERNELS, Kernel

__all__ = ["LinearKernel"]


@KERNELS.register("linear")
class LinearKernel(Kernel):
    r"""The linear kernel :math:`k(x, y) = x^\top y`, eq. (1.20) of the theory page.

    With it the kernel dual is the linear dual on the samples themselves
    (:class:`dualgan.duals.LinearDual` with ``phi = x``).

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing GANs.* NeurIPS 2017.

    Examples
    --------
    >>> import torch
    >>> from dualgan.kernels import LinearKernel
    >>> LinearKernel()(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]]))
    tensor([[11.]])
    """

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ y.T
