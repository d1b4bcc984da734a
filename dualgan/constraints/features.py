r"""Discriminator side: let the features see the constraint residual (eq. (4.9) of the theory page, docs/theory.md).

A linear dual discriminator scores :math:`w^\top\phi(x)`. Appending the
residual to the features,

.. math:: \phi_A(x) = [\,\phi(x),\; s\,(A x - b),\; s^2 (A x - b)^{\circ 2}\,],

lets it penalise generated samples off the subspace directly: the linear
terms see a mean offset of the residual and the squares (optional,
``squares=True``) its spread, which a linear score on :math:`A x - b` alone
cannot see (residuals of :math:`\pm 1` average to zero). Real data has zero
residual, so any non-zero residual is a feature that separates generated
samples. For a union the appended block is :math:`s\,(a_k^\top x - b_k)_k`
and :math:`s^2 \min_k (a_k^\top x - b_k)^2`.

>>> import torch
>>> from dualgan.constraints import AffineSubspace, ResidualFeatures
>>> phi = ResidualFeatures(AffineSubspace([[1.0, 1.0]], [0.0]))   # identity features + residual
>>> phi(torch.zeros(3, 2)).shape
torch.Size([3, 4])
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .._checks import check_bool, check_positive
from .sets import AffineSubspace, HyperplaneUnion, as_constraint_set

__all__ = ["ResidualFeatures"]


class ResidualFeatures(nn.Module):
    r"""``feature_map`` (default: the identity) with the scaled residual appended, eq. (4.9) of the theory page.

    For a subspace the output is :math:`[\phi(x),\ s(Ax - b),\ s^2(Ax - b)^{\circ 2}]`
    (the last block only with ``squares=True``), of width ``d + 2r``
    (``d + r``); for a union of ``K`` hyperplanes
    :math:`[\phi(x),\ s(a_k^\top x - b_k)_k,\ s^2\min_k(a_k^\top x - b_k)^2]`, of
    width ``d + K + 1`` (``d + K``).

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        The constraint set, of ambient dimension ``D``.
    feature_map : callable or None, default None
        Any differentiable callable mapping samples ``(n, D)`` (or
        ``(n, *shape)``) to features ``(n, d)``; ``None`` uses the flattened
        raw samples (``d = D``).
    scale : float, default 1.0
        :math:`s > 0`, the weight of the residual block relative to the
        features, in inverse residual units.
    squares : bool, default True
        Also append the squared residuals (a linear score on the residual
        alone sees only its mean, not its spread).

    Raises
    ------
    ValueError
        If ``constraint`` is not a constraint set, ``feature_map`` is not
        callable, ``scale`` is not a finite positive number or ``squares`` is
        not a bool.
    """

    def __init__(self, constraint: AffineSubspace | HyperplaneUnion, feature_map: Callable | None = None,
                 scale: float = 1.0, squares: bool = True):
        super().__init__()
        self.constraint = as_constraint_set(constraint)
        if feature_map is not None and not callable(feature_map):
            raise ValueError(f"feature_map must be callable (n, D) -> (n, d) or None, got {type(feature_map).__name__}")
        self.feature_map = feature_map
        self.scale = check_positive(scale, "scale")
        self.squares = check_bool(squares, "squares")

    @property
    def n_appended(self) -> int:
        """How many columns are appended to the features."""
        if isinstance(self.constraint, AffineSubspace):
            r = self.constraint.n_equations
            return 2 * r if self.squares else r
        return self.constraint.n_hyperplanes + (1 if self.squares else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The features with the residual block appended.

        Parameters
        ----------
        x : torch.Tensor
            Samples, shape ``(n, D)`` or ``(n, *shape)`` with ``D`` values per sample, float.

        Returns
        -------
        torch.Tensor
            Shape ``(n, d + n_appended)``, differentiable in ``x``.

        Raises
        ------
        ValueError
            If ``x`` is not a tensor with ``D`` values per sample.
        """
        if not isinstance(x, torch.Tensor) or x.ndim < 2:
            raise ValueError(f"x must be a tensor of shape (n, {self.constraint.dim}), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.constraint.dim:
            raise ValueError(f"x has {flat.shape[1]} values per sample but the constraint has dimension "
                             f"{self.constraint.dim}")
        base = flat if self.feature_map is None else self.feature_map(x)
        res = self.scale * self.constraint.residual(flat)
        blocks = [base, res]
        if self.squares:
            sq = res.square()
            blocks.append(sq if isinstance(self.constraint, AffineSubspace) else sq.min(dim=1, keepdim=True).values)
        return torch.cat(blocks, dim=1)
