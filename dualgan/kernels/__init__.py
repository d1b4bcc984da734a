r"""Kernels in torch for discriminators in a reproducing-kernel Hilbert space (eqs. (1.19)-(1.24) of the theory page, docs/theory.md).

Every kernel is a ``torch.nn.Module``: ``kernel(x, y)`` is the cross Gram
matrix, differentiable in both arguments, on any device; :meth:`Kernel.gram`
forms it in row chunks. The kernels are the entries of :data:`KERNELS`:

* ``"linear"`` (:class:`LinearKernel`), ``"polynomial"`` (:class:`PolynomialKernel`);
* ``"rbf"`` (:class:`RBFKernel`, mixtures of bandwidths);
* ``"rational_quadratic"`` (:class:`RationalQuadraticKernel`, mixtures of shapes);
* ``"inverse_multiquadric"`` (:class:`InverseMultiquadricKernel`);
* ``"deep"`` (:class:`DeepKernel`, a base kernel on an ``nn.Module``'s features).

Bandwidths are numbers or ``"median"`` (the median heuristic, :meth:`Kernel.resolve`).
The certified dual on a Gram matrix is :class:`dualgan.duals.KernelDual`.
"""
from .base import KERNELS, Kernel, check_bandwidths, median_distance, squared_distances
from .linear import LinearKernel
from .polynomial import PolynomialKernel
from .rbf import RBFKernel
from .rational_quadratic import RationalQuadraticKernel
from .inverse_multiquadric import InverseMultiquadricKernel
from .deep import DeepKernel

__all__ = ["Kernel", "KERNELS", "LinearKernel", "PolynomialKernel", "RBFKernel", "RationalQuadraticKernel",
           "InverseMultiquadricKernel", "DeepKernel", "squared_distances", "median_distance", "check_bandwidths"]
