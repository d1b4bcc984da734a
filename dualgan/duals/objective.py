r"""The dual objective as a differentiable torch function of the features.

For fixed :math:`\lambda`, only the quadratic term of :math:`D` depends on the
generator, so the generator ascends

.. math::

    D(\lambda;\theta) = -\frac{1}{2C}\Big\|\sum_{i\le n}\lambda_i\phi(x_i)
        - \sum_{j\le m}\tilde\lambda_j\phi(G_\theta(z_j))\Big\|^2
        + \sum_i a_i H(\lambda_i/a_i)

(eqs. (1.13) and (1.14) of the theory page, docs/theory.md): a lambda-weighted feature-moment
mismatch, i.e. a weighted MMD.
"""
from __future__ import annotations

import torch

from .._checks import check_choice, check_positive
from ._backend import ops_for
from .problem import LOSSES

__all__ = ["dual_objective"]


def dual_objective(phi_real: torch.Tensor, phi_fake: torch.Tensor, lam_real, lam_fake, C: float,
                   loss: str = "logistic") -> torch.Tensor:
    r"""Differentiable :math:`D(\lambda;\theta)` at fixed ``lam_real``, ``lam_fake``.

    ``phi_real`` (n, d) and ``phi_fake`` (m, d) are torch tensors (gradients
    flow into both); the multipliers may be numpy arrays or tensors and are
    treated as constants. Weights are ``a = 1/n`` (real) and ``1/m`` (fake).
    Eq. (1.3) of the theory page (eq. (1.12) for the hinge loss); its gradient
    in the generator's parameters at the optimal multipliers is eq. (1.14).

    Parameters
    ----------
    phi_real : torch.Tensor
        Shape ``(n, d)``: features of the real samples.
    phi_fake : torch.Tensor
        Shape ``(m, d)``: features of the generated samples (gradients flow into it).
    lam_real : numpy.ndarray or torch.Tensor
        Shape ``(n,)``: multipliers of the real samples, in ``[0, 1/n]`` (constants).
    lam_fake : numpy.ndarray or torch.Tensor
        Shape ``(m,)``: multipliers of the generated samples, in ``[0, 1/m]`` (constants).
    C : float
        L2 weight of the primal, > 0.
    loss : str, default "logistic"
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    torch.Tensor
        :math:`D(\lambda;\theta)`, 0-d, in the dtype and device of ``phi_fake``.

    Raises
    ------
    ValueError
        If ``C`` is not > 0, ``loss`` is unknown, or the shapes do not match.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017.
    """
    C = check_positive(C, "C")
    check_choice(loss, "loss", LOSSES)
    if phi_real.ndim != 2 or phi_fake.ndim != 2 or phi_real.shape[1] != phi_fake.shape[1]:
        raise ValueError(f"phi_real and phi_fake must be (n, d) and (m, d) with the same d, got "
                         f"{tuple(phi_real.shape)} and {tuple(phi_fake.shape)}")
    dtype, device = phi_fake.dtype, phi_fake.device
    lr = torch.as_tensor(lam_real, dtype=dtype, device=device).detach().reshape(-1)
    lf = torch.as_tensor(lam_fake, dtype=dtype, device=device).detach().reshape(-1)
    if lr.shape[0] != phi_real.shape[0] or lf.shape[0] != phi_fake.shape[0]:
        raise ValueError(f"lam_real / lam_fake have {lr.shape[0]} / {lf.shape[0]} entries but the batches have "
                         f"{phi_real.shape[0]} / {phi_fake.shape[0]} rows")
    v = lr @ phi_real.to(dtype) - lf @ phi_fake
    value = -(v @ v) / (2.0 * C)
    if loss == "hinge":
        return value + lr.sum() + lf.sum()
    # the entropy is a constant of the generator (lambda is fixed): one float, in float64
    return value + (_entropy(lam_real, 1.0 / phi_real.shape[0]) + _entropy(lam_fake, 1.0 / phi_fake.shape[0]))


def _entropy(lam, a: float) -> float:
    """sum_i a H(lam_i / a) with H(0) = H(1) = 0, in float64 on the back end of ``lam``'s device
    (numpy on the CPU: cheaper per call than torch)."""
    lam = torch.as_tensor(lam, dtype=torch.float64).detach().reshape(-1)
    ops = ops_for(lam.device)
    lam = ops.to_backend(lam)
    rest = a - lam
    return -float(ops.xlogy(lam, lam / a).sum() + ops.xlogy(rest, rest / a).sum())
