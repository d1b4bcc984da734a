r"""A deep kernel :math:`k(\phi(x), \phi(y))` on any ``nn.Module`` (eq. (1.20) of the theory page, docs/theory.md)."""
from __future__ import annotations

import torch
from torch import nn

from .._modes import eval_mode
from .base import KERNELS, Kernel

__all__ = ["DeepKernel"]


@KERNELS.register("deep")
class DeepKernel(Kernel):
    r"""The kernel :math:`k(\phi(x), \phi(y))` of a base kernel on the outputs of a feature network.

    Eq. (1.20) of the theory page. Positive semi-definite whenever the base
    kernel is; differentiable in ``x`` and ``y`` through ``features``. A base
    kernel with a ``"median"`` bandwidth resolves it on the features. The
    feature network is evaluated in eval mode (eq. (7.1)): dropout off,
    BatchNorm on its running statistics (which do not move), the user's
    train/eval flags put back, so the kernel is one fixed function.

    Parameters
    ----------
    features : torch.nn.Module
        Maps a batch ``(B, D)`` to features ``(B, d)`` (any differentiable module). Samples of
        another floating dtype enter it in the dtype of its parameters, and its features are
        returned in the samples' dtype (a float32 network serves float64 problems).
    base : Kernel
        The kernel on the features, e.g. :class:`~dualgan.kernels.RBFKernel`.

    Raises
    ------
    TypeError
        If ``features`` is not a module or ``base`` not a :class:`~dualgan.kernels.Kernel`.

    References
    ----------
    Andrew G. Wilson, Zhiting Hu, Ruslan Salakhutdinov, Eric P. Xing. *Deep Kernel Learning.* AISTATS 2016.
    Chun-Liang Li, Wei-Cheng Chang, Yu Cheng, Yiming Yang, Barnabás Póczos. *MMD GAN.* NeurIPS 2017.

    Examples
    --------
    >>> import torch
    >>> from dualgan.kernels import DeepKernel, LinearKernel
    >>> k = DeepKernel(torch.nn.Identity(), LinearKernel())
    >>> k(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]]))
    tensor([[11.]])
    """

    def __init__(self, features: nn.Module, base: Kernel):
        super().__init__()
        if not isinstance(features, nn.Module):
            raise TypeError(f"features must be a torch.nn.Module, got {type(features).__name__}")
        if not isinstance(base, Kernel):
            raise TypeError(f"base must be a dualgan.kernels.Kernel (e.g. RBFKernel()), got {type(base).__name__}")
        self.features = features
        self.base = base

    @property
    def needs_resolve(self) -> bool:
        """True when the base kernel has a ``"median"`` bandwidth."""
        return self.base.needs_resolve

    def resolve(self, x: torch.Tensor) -> "DeepKernel":
        """A copy whose base kernel's median bandwidths are resolved on the features of ``x``.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(B, D)``: samples (mapped through ``features`` without gradient).

        Returns
        -------
        DeepKernel
            The same feature network, a base kernel with numeric bandwidths.
        """
        if not self.needs_resolve:
            return self
        with torch.no_grad(), eval_mode(self.features):
            phi = self._features(x)
        return DeepKernel(self.features, self.base.resolve(phi))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The cross Gram :math:`[k(\\phi(x_i), \\phi(y_j))]`, differentiable in both arguments.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(B1, D)``.
        y : torch.Tensor, optional
            Shape ``(B2, D)``. Default None: ``x``.

        Returns
        -------
        torch.Tensor
            Shape ``(B1, B2)``.
        """
        return self._pairwise(x, x if y is None else y)

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # a kernel is one fixed function: the features are evaluated as eq. (7.1) says (dropout in training
        # mode gave a solved KernelDual's scores 0.08 off its certified ones; BatchNorm moved the user's statistics)
        with eval_mode(self.features):
            fx = self._features(x)
            fy = fx if y is x else self._features(y)
        return self.base(fx, fy)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        # KernelDual hands float64 samples to the kernel; a float32 network (a DCGAN discriminator's
        # features) refused them with torch's raw dtype error. The samples enter in the network's dtype and
        # its features come back in theirs: one fixed function of x, differentiable through both casts.
        dtype = next((t.dtype for t in self.features.parameters() if t.is_floating_point()), None)
        if dtype is None or x.dtype == dtype or not x.is_floating_point():
            return self.features(x)
        return self.features(x.to(dtype)).to(x.dtype)

    def _settings(self) -> tuple[str, ...]:
        return ()
