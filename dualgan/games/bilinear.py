r"""The bilinear game :math:`\min_x \max_y x^\top A y` of eq. (3.12) of the theory page.

Every optimiser of :mod:`dualgan.games.optimizers` with plain SGD is a linear map :math:`z_{t+1} = M z_t` on this
game (optimistic GD: on the stacked :math:`(z_t, z_{t-1})`), written in closed form from eqs. (3.3)-(3.10) by
``make_optimizer(name, lr=h, **coefficients).bilinear_update_map(A)``
(:meth:`~dualgan.games.GameOptimizer.bilinear_update_map`), so a measured step and geometric rate can be compared
with :math:`M` and its spectral radius. :math:`z^* = 0` is the equilibrium (the only one when A is nonsingular).
"""
from __future__ import annotations

import numpy as np
import torch

from .._checks import as_tensor, check_finite_tensor, check_float_dtype, check_int, check_positive
from .game import Game, Player

__all__ = ["BilinearGame", "random_matrix", "bilinear_jacobian"]


class BilinearGame(Game):
    """Zero-sum bilinear game of eq. (3.12) of the theory page: ``x`` minimises :math:`x^\\top A y`, ``y`` maximises it.

    Parameters
    ----------
    A : array_like or torch.Tensor
        The coupling matrix, shape ``(n_x, n_y)``, finite entries.
    x0 : array_like or torch.Tensor, optional
        Initial point of player ``x``, shape ``(n_x,)``. Default None: a standard normal draw from ``seed``.
    y0 : array_like or torch.Tensor, optional
        Initial point of player ``y``, shape ``(n_y,)``. Default None: a standard normal draw (after ``x0``'s).
    seed : int, default 0
        Seed (>= 0) of the ``torch.Generator`` that draws the default initial points.
    dtype : torch.dtype, default torch.float64
        Floating-point type of ``A`` and the parameters.
    device : torch.device or str, optional
        Device of ``A`` and the parameters. Default None: torch's default device.

    Raises
    ------
    ValueError
        If ``A`` is not a non-empty finite 2-D matrix, ``x0``/``y0`` do not match its shape or are not finite,
        ``seed`` is not a non-negative integer (``bool`` and floats are refused, numpy integers accepted) or
        ``dtype`` is not a floating dtype.
    """

    def __init__(self, A, x0=None, y0=None, seed: int = 0, dtype=torch.float64, device=None):
        A = coupling_matrix(A, dtype, device)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        n, m = A.shape
        x0 = torch.randn(n, generator=gen, dtype=torch.float64) if x0 is None else as_tensor(x0, "x0")
        y0 = torch.randn(m, generator=gen, dtype=torch.float64) if y0 is None else as_tensor(y0, "y0")
        if x0.shape != (n,) or y0.shape != (m,):
            raise ValueError(f"x0 must have shape ({n},) and y0 shape ({m},) to match A, got {tuple(x0.shape)} and "
                             f"{tuple(y0.shape)}")
        self.A = A
        self.x = check_finite_tensor(x0.to(dtype=A.dtype, device=A.device), "x0").clone().requires_grad_(True)
        self.y = check_finite_tensor(y0.to(dtype=A.dtype, device=A.device), "y0").clone().requires_grad_(True)
        super().__init__([Player("x", [self.x]), Player("y", [self.y])], zero_sum=True)

    def losses(self):
        """The two players' losses :math:`(x^\\top A y, -x^\\top A y)`.

        Returns
        -------
        list of torch.Tensor
            Two 0-d tensors, in player order (``x``, ``y``).
        """
        value = self.x @ self.A @ self.y
        return [value, -value]

    def distance_to_equilibrium(self) -> float:
        """:math:`\\|x\\| + \\|y\\|` (the equilibrium is :math:`z^* = 0`)."""
        return float(self.x.detach().norm() + self.y.detach().norm())


def random_matrix(n: int, m: int | None = None, seed: int = 0, scale: float | None = None,
                  singular_values: tuple | None = None) -> np.ndarray:
    r"""A random n x m matrix: i.i.d. normal entries, or controlled singular values.

    With ``singular_values=(lo, hi)``: :math:`U \mathrm{diag}(s) V^\top` with Haar-random orthogonal U, V and s
    uniform in [lo, hi] (a controlled condition number, for convergence experiments that must finish).

    Parameters
    ----------
    n : int
        Number of rows (>= 1).
    m : int, optional
        Number of columns (>= 1). Default None: ``n`` (square).
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` (>= 0).
    scale : float, optional
        Standard deviation of the i.i.d. entries (> 0). Default None: :math:`1/\sqrt{n}`. Ignored with
        ``singular_values``.
    singular_values : tuple of float, optional
        ``(lo, hi)`` with :math:`0 < lo \le hi`: the interval of the uniform singular values. Default None:
        i.i.d. entries.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, m)``, float64.

    Raises
    ------
    ValueError
        If ``n`` or ``m`` is not a positive integer, ``seed`` is not a non-negative integer, ``scale`` is not a
        finite number > 0, or ``singular_values`` is not a pair of finite numbers with :math:`0 < lo \le hi`.
    """
    n = check_int(n, "n", low=1)
    m = n if m is None else check_int(m, "m", low=1)
    rng = np.random.default_rng(check_int(seed, "seed", low=0))
    if singular_values is None:
        scale = 1.0 / np.sqrt(n) if scale is None else check_positive(scale, "scale")
        return scale * rng.standard_normal((n, m))
    if isinstance(singular_values, (str, bytes)) or not hasattr(singular_values, "__len__") or \
            len(singular_values) != 2:
        raise ValueError(f"singular_values must be a pair (lo, hi) with 0 < lo <= hi, got {singular_values!r}")
    lo = check_positive(singular_values[0], "singular_values[0] (lo)")
    hi = check_positive(singular_values[1], "singular_values[1] (hi)")
    if lo > hi:
        raise ValueError(f"singular_values must be (lo, hi) with lo <= hi, got {singular_values!r}; swap them")
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((m, m)))
    s = np.zeros((n, m))
    np.fill_diagonal(s, rng.uniform(lo, hi, min(n, m)))
    return u @ s @ v.T


def bilinear_jacobian(A) -> np.ndarray:
    """The game Jacobian :math:`J = [[0, A], [-A^\\top, 0]]` of :class:`BilinearGame` (eq. (3.12) of the theory page).

    Parameters
    ----------
    A : array_like
        The coupling matrix, shape ``(n_x, n_y)``.

    Returns
    -------
    numpy.ndarray
        :math:`J`, shape ``(n_x + n_y, n_x + n_y)``, float64.

    Raises
    ------
    ValueError
        If ``A`` is not a non-empty finite 2-D matrix.
    """
    A = coupling_matrix(A).cpu().numpy()
    n, m = A.shape
    return np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((m, m))]])


def coupling_matrix(A, dtype=torch.float64, device=None) -> torch.Tensor:
    """``A`` as a finite, non-empty 2-D tensor of the floating ``dtype``; a ValueError naming ``A`` otherwise."""
    A = check_finite_tensor(as_tensor(A, "A", dtype=check_float_dtype(dtype), device=device).detach(), "A")
    if A.ndim != 2 or A.numel() == 0:
        raise ValueError(f"A must be a non-empty 2-D matrix (n_x, n_y), got shape {tuple(A.shape)}")
    return A
