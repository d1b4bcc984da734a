r"""The dual objective of the linear discriminator: the one reference form, and its torch form in the features.

The dual (eq. (1.3) of the theory page, docs/theory.md, logistic loss) and (1.12) (hinge loss) is

.. math::

    D(\lambda) = -\frac{1}{2C}\|v\|^2 + S(\lambda),\qquad v = \Gamma^\top\lambda,\qquad
    S(\lambda) = \begin{cases}\sum_i a_i H(\lambda_i/a_i) & \text{logistic}\\
                               \sum_i \lambda_i & \text{hinge}\end{cases}

with gradient (eq. (1.7)) :math:`-\Gamma v/C + \nabla S` and Hessian (eq. (1.8))
:math:`-\Gamma\Gamma^\top/C - \mathrm{diag}(h)`, :math:`h_i = a_i/(\lambda_i(a_i-\lambda_i))`
(logistic) or 0 (hinge). :func:`dual_value`, :func:`dual_gradient`,
:func:`separable_term`, :func:`separable_gradient` and :func:`separable_curvature`
are written once here, on any array back end (:mod:`dualgan.duals._backend`:
numpy on the CPU, torch on CUDA, or torch tensors that carry gradients). Every
solver evaluates the dual through them where it needs numbers
(:class:`~dualgan.duals.LinearDual`, the cyipopt callbacks, the trust-region
sub-problem); the compiled (numba) and symbolic (casadi) forms, which cannot call
them, are tested against them.

For fixed :math:`\lambda`, only the quadratic term of :math:`D` depends on the
generator, so the generator ascends

.. math::

    D(\lambda;\theta) = -\frac{1}{2C}\Big\|\sum_{i\le n}\lambda_i\phi(x_i)
        - \sum_{j\le m}\tilde\lambda_j\phi(G_\theta(z_j))\Big\|^2
        + \sum_i a_i H(\lambda_i/a_i)

(eqs. (1.13) and (1.14)): a lambda-weighted feature-moment mismatch, i.e. a
weighted MMD (:func:`dual_objective`).

References
----------
Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs." NeurIPS 2017.
"""
from __future__ import annotations

import numpy as np
import torch

from .._checks import check_choice, check_positive
from ._backend import ops_for

__all__ = ["dual_objective", "dual_value", "dual_gradient", "separable_term", "separable_gradient",
           "separable_curvature", "DISCRIMINATOR_LOSSES"]

#: the losses of the linear discriminator: eq. (1.3) (logistic) and eq. (1.12) (hinge) of the theory page
#: (not the GAN losses of :data:`dualgan.losses.LOSSES`)
DISCRIMINATOR_LOSSES = ("logistic", "hinge")


def separable_term(ops, lam, slack, a, loss: str):
    r"""The separable part :math:`S(\lambda)` of the dual: :math:`\sum_i a_i H(\lambda_i/a_i)` or :math:`\sum_i\lambda_i`.

    Eq. (1.3) (logistic, the entropy term) or eq. (1.12) (hinge) of the theory page.

    Parameters
    ----------
    ops : type
        The array back end (:class:`~dualgan.duals._backend.NumpyOps` or ``TorchOps``).
    lam : array, shape (N,), float64
        Multipliers in the box :math:`0 \le \lambda_i \le a_i` (``0 log 0 = 0`` on its faces).
    slack : array, shape (N,), float64
        :math:`a - \lambda`, computed without cancellation.
    a : array, shape (N,), float64
        The box's upper bounds, > 0.
    loss : str
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    float
        :math:`S(\lambda)` (a Python float in float64).
    """
    if loss == "hinge":
        return float(lam.sum())
    return -float(ops.xlogy(lam, lam / a).sum() + ops.xlogy(slack, slack / a).sum())


def separable_gradient(ops, lam, slack, loss: str):
    r""":math:`\nabla S(\lambda)`: :math:`\log((a_i - \lambda_i)/\lambda_i)` (logistic) or 1 (hinge).

    The second term of eq. (1.7) of the theory page.

    Parameters
    ----------
    ops : type
        The array back end.
    lam : array, shape (N,), float64
        Multipliers strictly inside the box (logistic).
    slack : array, shape (N,), float64
        :math:`a - \lambda`, strictly positive (logistic).
    loss : str
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    array, shape (N,), float64
    """
    if loss == "hinge":
        return ops.ones_like(lam)
    return ops.log(slack) - ops.log(lam)


def separable_curvature(ops, lam, slack, a, loss: str):
    r""":math:`-\nabla^2 S(\lambda)`, a diagonal: :math:`h_i = a_i/(\lambda_i(a_i - \lambda_i))` or 0 (hinge).

    The diagonal term of eq. (1.8) of the theory page.

    Parameters
    ----------
    ops : type
        The array back end.
    lam, slack : array, shape (N,), float64
        Multipliers and :math:`a - \lambda`, strictly positive (logistic).
    a : array, shape (N,), float64
        The box's upper bounds.
    loss : str
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    array, shape (N,), float64
        The diagonal :math:`h \ge 0`.
    """
    if loss == "hinge":
        return ops.zeros_like(lam)
    return a / (lam * slack)


def dual_value(ops, v, lam, slack, a, C: float, loss: str):
    r""":math:`D(\lambda) = -\|v\|^2/(2C) + S(\lambda)`, eqs. (1.3) and (1.12) of the theory page.

    Parameters
    ----------
    ops : type
        The array back end of ``lam`` and ``slack``.
    v : array or torch.Tensor, shape (d,)
        :math:`v = \Gamma^\top\lambda` (eq. (1.2)); a torch tensor carrying
        gradients keeps them (the quadratic is computed in its dtype).
    lam, slack : array, shape (N,), float64
        Feasible multipliers and :math:`a - \lambda`.
    a : array, shape (N,), float64
        The box's upper bounds.
    C : float
        L2 weight of the primal, > 0.
    loss : str
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    float or torch.Tensor
        :math:`D(\lambda)`; a 0-d tensor when ``v`` is a tensor, else a float.
    """
    quadratic = -(v @ v) / (2.0 * C)
    return quadratic + separable_term(ops, lam, slack, a, loss)


def dual_gradient(ops, Gv, lam, slack, C: float, loss: str):
    r""":math:`\nabla D(\lambda) = -\Gamma v/C + \nabla S(\lambda)`, eq. (1.7) of the theory page.

    Parameters
    ----------
    ops : type
        The array back end.
    Gv : array, shape (N,), float64
        :math:`\Gamma v = \Gamma\Gamma^\top\lambda` (for the trust-region dual, :math:`K\lambda`).
    lam, slack : array, shape (N,), float64
        Multipliers strictly inside the box and :math:`a - \lambda`.
    C : float
        The scale of the quadratic, > 0.
    loss : str
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    array, shape (N,), float64
    """
    return -Gv / C + separable_gradient(ops, lam, slack, loss)


def dual_objective(phi_real: torch.Tensor, phi_fake: torch.Tensor, lam_real, lam_fake, C: float,
                   loss: str = "logistic") -> torch.Tensor:
    r"""Differentiable :math:`D(\lambda;\theta)` at fixed ``lam_real``, ``lam_fake``.

    ``phi_real`` (n, d) and ``phi_fake`` (m, d) are torch tensors (gradients
    flow into both); the multipliers may be numpy arrays or tensors and are
    treated as constants. Weights are ``a = 1/n`` (real) and ``1/m`` (fake).
    Eq. (1.3) of the theory page (eq. (1.12) for the hinge loss), evaluated by
    :func:`dual_value`; its gradient in the generator's parameters at the
    optimal multipliers is eq. (1.14).

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
        If ``C`` is not > 0, ``loss`` is unknown, the shapes do not match, or a
        multiplier is not finite or outside its box ``[0, a_i]``.
    TypeError
        If ``phi_real`` or ``phi_fake`` is not a floating-point torch tensor.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017.
    """
    C, lam, a = _fixed_multipliers(phi_real, phi_fake, lam_real, lam_fake, C, loss)
    n, dtype = phi_real.shape[0], phi_fake.dtype
    v = lam[:n].to(dtype) @ phi_real.to(dtype) - lam[n:].to(dtype) @ phi_fake
    # the separable term is a constant of the generator (lambda is fixed): one float, in float64, on the
    # back end of the multipliers' device (numpy on the CPU: cheaper per call than torch)
    ops = ops_for(phi_fake.device)
    lam_, a_ = ops.to_backend(lam), ops.to_backend(a)
    return dual_value(ops, v, lam_, a_ - lam_, a_, C, loss)


def _fixed_multipliers(real: torch.Tensor, fake: torch.Tensor, lam_real, lam_fake, C: float, loss: str,
                       weights=None, names: tuple[str, str, str] = ("phi_real", "phi_fake", "d")):
    """The checked arguments of a dual at fixed multipliers (:func:`dual_objective` and
    :func:`~dualgan.duals.kernel_dual_objective`): ``(C, lam, a)``, ``lam`` the multipliers (real
    then generated) and ``a`` their bounds (1/n, 1/m, or ``weights``), float64 on ``fake``'s device,
    ``lam`` detached (constants) and in its box ``[0, a]`` (eq. (1.3)). ``names``: the batches'
    names and their width's, for the messages."""
    C = check_positive(C, "C")
    check_choice(loss, "loss", DISCRIMINATOR_LOSSES)
    first, second, width = names
    for batch, name in ((real, first), (fake, second)):
        # an integer batch cast the multipliers to integers (all 0: the entropy alone, without an error)
        if not (isinstance(batch, torch.Tensor) and batch.is_floating_point()):
            got = f"dtype {batch.dtype}" if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise TypeError(f"{name} must be a floating-point torch tensor (the objective is differentiated through "
                            f"it), got {got}; pass torch.as_tensor({name}, dtype=torch.float64)")
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"{first} and {second} must be (n, {width}) and (m, {width}) with the same {width}, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    n, m, device = real.shape[0], fake.shape[0], fake.device
    lr, lf = (torch.as_tensor(t, dtype=torch.float64).detach().reshape(-1).to(device) for t in (lam_real, lam_fake))
    if lr.shape[0] != n or lf.shape[0] != m:
        raise ValueError(f"lam_real / lam_fake have {lr.shape[0]} / {lf.shape[0]} entries but the batches have "
                         f"{n} / {m} rows")
    a = torch.cat([torch.full((n,), 1.0 / n, dtype=torch.float64, device=device),
                   torch.full((m,), 1.0 / m, dtype=torch.float64, device=device)])
    if weights is not None:
        a = _check_weights(weights, n, m, a)
    lam = torch.cat([lr, lf])
    check_multipliers(lam, a, n)
    return C, lam, a


def check_multipliers(lam: torch.Tensor, a: torch.Tensor, n: int) -> None:
    """Raise unless every multiplier is finite and in its box ``[0, a_i]`` (eq. (1.3)), up to rounding.

    Outside it the dual's entropy is not defined: the objective came back NaN, silently.
    ``lam`` and ``a`` are float64, real samples first (``n`` of them).
    """
    bad = ~torch.isfinite(lam) | (lam < 0) | (lam > a * (1 + 16 * 2.0 ** -52))
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        name, j = ("lam_real", i) if i < n else ("lam_fake", i - n)
        raise ValueError(f"{name} must hold multipliers in [0, a_i] (the box of eq. (1.3); a_i = 1/n, 1/m by default), "
                         f"got {name}[{j}] = {float(lam[i]):.6g} with a_i = {float(a[i]):.6g}; pass the lam_real / "
                         f"lam_fake of a DualResult of this batch")


def _check_weights(weights, n: int, m: int, like: torch.Tensor) -> torch.Tensor:
    """The per-sample weights pair as one float64 vector (real then fake) on ``like``'s device."""
    if not (isinstance(weights, (tuple, list)) and len(weights) == 2):
        raise ValueError(f"weights must be a pair (weights_real, weights_fake) of 1-d arrays of lengths n={n} "
                         f"and m={m}, got {type(weights).__name__}; pass None for a_i = 1/n, 1/m")
    parts = []
    for name, w, k in (("weights_real", weights[0], n), ("weights_fake", weights[1], m)):
        try:
            t = torch.as_tensor(w.detach() if isinstance(w, torch.Tensor) else np.asarray(w, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weights: {name} could not be read as numbers ({exc})") from exc
        t = t.to(dtype=torch.float64, device=like.device)
        if t.ndim != 1 or t.shape[0] != k:
            raise ValueError(f"weights: {name} must be a 1-d array of length {k}, got shape {tuple(t.shape)}")
        if not bool((torch.isfinite(t) & (t > 0)).all()):
            raise ValueError(f"weights: every entry of {name} must be finite and > 0 (drop samples of "
                             f"weight 0 before building the problem)")
        parts.append(t)
    return torch.cat(parts)
