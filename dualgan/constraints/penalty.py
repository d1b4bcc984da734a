r"""Soft constraints: a weighted penalty added to the generator's loss (eqs. (4.4) and (4.5) of the theory page, docs/theory.md).

The generator minimises :math:`L_G + \gamma\, E_z[c(G(z))]` with

* one subspace: :math:`c(x) = \|A x - b\|^2` (``form="squared"``);
* a union of hyperplanes, with residuals :math:`r_k(x) = a_k^\top x - b_k`:

  - ``form="product"``: :math:`c(x) = \prod_k r_k(x)^2`, the product proposed
    alongside the original question (zero exactly on the union; squared so
    that it is non-negative and smooth). Its scale is the product of all the
    distances, so far from the union it grows like :math:`\|x\|^{2K}` and near
    the intersection of two hyperplanes it vanishes to fourth order;
  - ``form="min"``: :math:`c(x) = \min_k r_k(x)^2` (piecewise smooth);
  - ``form="smooth_min"`` (default for unions): the log-mean-exp soft minimum
    :math:`c(x) = -\tau \log \frac1K \sum_k e^{-r_k(x)^2/\tau}`, smooth, with
    :math:`\min_k r_k^2 \le c \le \min_k r_k^2 + \tau \log K`. Its gradient is
    :math:`\sum_k \mathrm{softmax}_k(-r^2/\tau)\, \nabla r_k^2`, which pulls a
    sample toward the other hyperplanes with weight
    :math:`\approx e^{-r_k^2/\tau}`: keep ``temperature`` well below the
    squared distance between the data's pieces.

``penalty`` returns :math:`\gamma` times the batch mean of :math:`c`
(NaN or inf samples propagate into a NaN or inf penalty, which trainers
report as a non-finite status; nothing maps them to a finite number);
``update`` does nothing; ``state`` reports the batch's violation and
:math:`\gamma` as ``penalty_weight``.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_positive
from .base import _SetHandler, flatten_samples
from .sets import AffineSubspace, HyperplaneUnion

__all__ = ["Penalty", "penalty_value", "SUBSPACE_FORMS", "UNION_FORMS"]

SUBSPACE_FORMS = ("squared",)
UNION_FORMS = ("product", "min", "smooth_min")


class Penalty(_SetHandler):
    r"""Handler: :math:`\gamma\, E[c(x)]` in the generator's loss, :math:`c` chosen by ``form``.

    :math:`c` is eq. (4.4) of the theory page for a subspace and one of the
    three forms of eq. (4.5) for a union of hyperplanes.

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        The set the generated samples should lie on.
    weight : float, default 1.0
        :math:`\gamma > 0`, the penalty's weight relative to the generator's loss.
    form : {"squared", "product", "min", "smooth_min"} or None, default None
        ``"squared"`` for a subspace (the only form, and the default); for a
        union ``"product"``, ``"min"`` or ``"smooth_min"`` (the default).
    temperature : float, default 1e-2
        :math:`\tau > 0` of ``"smooth_min"``, in squared residual units
        (the units of :math:`(a_k^\top x - b_k)^2`); unused by the other forms.

    Raises
    ------
    ValueError
        If ``constraint`` is not a constraint set, ``weight`` or
        ``temperature`` is not a finite positive number, or ``form`` is not one
        of the forms of the constraint's kind.

    References
    ----------
    Jorge Nocedal, Stephen J. Wright. *Numerical Optimization*, 2nd ed.
    Springer, 2006 (chapter 17, the quadratic penalty method).
    """

    def __init__(self, constraint: AffineSubspace | HyperplaneUnion, weight: float = 1.0, form: str | None = None,
                 temperature: float = 1e-2):
        super().__init__(constraint)
        self.weight = check_positive(weight, "weight")
        self.temperature = check_positive(temperature, "temperature")
        union = isinstance(self.constraint, HyperplaneUnion)
        if form is None:
            form = "smooth_min" if union else "squared"
        self.form = check_choice(form, "form", UNION_FORMS if union else SUBSPACE_FORMS)

    def __repr__(self) -> str:
        return f"Penalty({self.constraint!r}, weight={self.weight:g}, form={self.form!r})"

    def penalty(self, samples: torch.Tensor) -> torch.Tensor:
        r"""The term :math:`\gamma` times the batch mean of :math:`c`, eqs. (4.4) and (4.5) of the theory page.

        Parameters
        ----------
        samples : torch.Tensor
            Generated samples, shape ``(n, D)`` or ``(n, *shape)`` with ``D``
            values per sample, float, any device; differentiable.

        Returns
        -------
        torch.Tensor
            0-d, in ``samples``' dtype; NaN or inf samples give a NaN or inf penalty.

        Raises
        ------
        ValueError
            If ``samples`` does not have ``D`` values per sample.
        """
        x = flatten_samples(self.constraint, samples)
        return self.weight * penalty_value(self.constraint, x, self.form, self.temperature).mean()

    def _variables(self):
        return (), self.weight  # no multipliers; the weight gamma as penalty_weight


def penalty_value(constraint, x: torch.Tensor, form: str, temperature: float = 1e-2) -> torch.Tensor:
    r"""The per-sample penalty :math:`c(x_j)`, eq. (4.4) (subspace) or (4.5) (union) of the theory page.

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        The constraint set, of ambient dimension ``D``.
    x : torch.Tensor
        Samples, shape ``(n, D)``, float, any device; differentiable.
    form : {"squared", "product", "min", "smooth_min"}
        ``"squared"`` for a subspace; ``"product"``, ``"min"`` or
        ``"smooth_min"`` for a union (see :class:`Penalty`).
    temperature : float, default 1e-2
        :math:`\tau > 0` of ``"smooth_min"``, in squared residual units; unused otherwise.

    Returns
    -------
    torch.Tensor
        Shape ``(n,)``, in ``x``'s dtype, non-negative (NaN for NaN samples).

    Raises
    ------
    ValueError
        If ``form`` is not a form of the constraint's kind, or (for
        ``"smooth_min"``) ``temperature`` is not a finite positive number.
    """
    if isinstance(constraint, AffineSubspace):
        check_choice(form, "form", SUBSPACE_FORMS)
        return constraint.residual(x).square().sum(dim=1)
    check_choice(form, "form", UNION_FORMS)
    sq = constraint.residual(x).square()                                     # (n, K)
    if form == "product":
        return sq.prod(dim=1)
    if form == "min":
        return sq.min(dim=1).values
    tau = check_positive(temperature, "temperature")
    return -tau * (torch.logsumexp(-sq / tau, dim=1) - math.log(sq.shape[1]))
