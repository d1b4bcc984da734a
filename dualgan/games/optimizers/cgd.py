r"""Competitive gradient descent (Schaefer & Anandkumar 2019) for two players: eq. (3.10) of the theory page.

The mixed Hessians are :math:`J u` restricted to one block: on a batch of cells the linear system is solved
densely, on an object game matrix-free (``scipy.sparse.linalg.cg`` when the game is zero-sum, ``gmres``
otherwise). The base optimiser receives :math:`-(\Delta x, \Delta y)/\eta` (:math:`\eta` = ``lr``) as its
gradient, so with plain SGD the step is :math:`(\Delta x, \Delta y)`. A failed linear solve is reported
(status ``NUMERICAL_ERROR``) and the step is not applied.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla
import torch

from ..._checks import check_int, check_positive
from ...status import Status, StatusCode
from ._rowwise import matvec
from .base import OPTIMIZERS, GameOptimizer, NotBatchableError

__all__ = ["CompetitiveGD"]


@OPTIMIZERS.register("cgd", batchable=True, coefficient=None)
class CompetitiveGD(GameOptimizer):
    """Competitive gradient descent for two players (eq. (3.10) of the theory page).

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    tol : float, default 1e-10
        Relative residual tolerance of the linear solver (CG or GMRES); > 0.
    maxiter : int, optional
        Iteration cap of the linear solver. Default None: :math:`\\max(10 n_x, 50)`.

    Raises
    ------
    ValueError
        If ``lr``, ``tol`` or ``maxiter`` is out of range or ``base`` is unknown.

    References
    ----------
    Florian Schäfer, Anima Anandkumar. "Competitive Gradient Descent." NeurIPS 2019.
    """

    needs_players = True
    field_graph = True     # J products

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs=None, tol: float = 1e-10, maxiter: int | None = None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self.tol = check_positive(tol, "tol")
        self.maxiter = check_int(maxiter, "maxiter", low=1, allow_none=True)

    def _batched_init(self, game, Z):
        """Refuse a game that is not two-player; no memory."""
        if len(game.player_sizes) != 2:
            raise NotBatchableError(f"competitive GD is defined for two players; game {game.name!r} has "
                                    f"{len(game.player_sizes)}")
        return None

    def _batched_step(self, point, lr, coefficient, move, memory):
        """Eq. (3.10), dense or matrix-free; a cell whose system, update or solve fails is not ``finite``."""
        V, H = point.v, lr
        sx, sy = point.game.player_slices
        vx, vy = V[:, sx], V[:, sy]
        matrix_free = getattr(point, "matrix_free", False)
        if matrix_free:
            zx, zy = torch.zeros_like(vx), torch.zeros_like(vy)

            def d_xy(w):    # D^2_{xy} f w: the x-block of J (0, w)
                return point.jvp(torch.cat([zx, w], dim=1))[:, sx]

            def d_yx(w):    # D^2_{yx} g w: the y-block of J (w, 0)
                return point.jvp(torch.cat([w, zy], dim=1))[:, sy]
        else:
            Q, R = point.J[:, sx, sy], point.J[:, sy, sx]
            d_xy, d_yx = (lambda w: matvec(Q, w)), (lambda w: matvec(R, w))
        rhs = -H * (vx - H * d_xy(vy))
        if matrix_free:
            dx, ok = self._solve_iteratively(point.game.zero_sum, float(H), d_xy, d_yx, rhs)
        else:
            dx, ok = _solve_densely(Q, R, H, rhs)
        dy = -H * (vy + d_yx(dx))
        direction = -torch.cat([dx, dy], dim=1) / H
        finite = ok & torch.isfinite(direction).all(dim=1)
        return move(point.Z, direction, H), memory, finite

    def _solve_iteratively(self, zero_sum, eta, d_xy, d_yx, rhs):
        """(I - eta^2 D_xy D_yx) dx = rhs for one cell by scipy's CG or GMRES; a failure is noted with its solver."""
        n, counter = rhs.shape[1], [0]

        def product(arr):
            counter[0] += 1
            u = torch.as_tensor(np.asarray(arr).reshape(1, -1)).to(rhs)
            return (u - eta * eta * d_xy(d_yx(u))).detach().cpu().double().numpy().reshape(-1)

        operator = spla.LinearOperator((n, n), matvec=product, dtype=np.float64)
        b = rhs.detach().cpu().double().numpy().reshape(-1)
        maxiter = self.maxiter or max(10 * n, 50)
        if zero_sum:
            solution, info = spla.cg(operator, b, rtol=self.tol, atol=0.0, maxiter=maxiter)
        else:
            solution, info = spla.gmres(operator, b, rtol=self.tol, atol=0.0, maxiter=maxiter, restart=min(n, 50))
        self._note(inner_iterations=counter[0])
        if info != 0 or not np.all(np.isfinite(solution)):
            why = f"info={info}" if info != 0 else "a non-finite solution"
            self._note(status=Status(StatusCode.NUMERICAL_ERROR, f"linear solve failed: scipy.sparse.linalg."
                                     f"{'cg' if zero_sum else 'gmres'} gave {why} after {counter[0]} matrix-vector "
                                     f"products; step not applied"))
            return torch.zeros_like(rhs), torch.zeros(1, dtype=torch.bool, device=rhs.device)
        return torch.as_tensor(solution).reshape(1, -1).to(rhs), torch.ones(1, dtype=torch.bool, device=rhs.device)


def _solve_densely(Q, R, H, rhs):
    """(I - H^2 Q R) dx = rhs for every cell; cells whose system is not finite are marked (and solved with I)."""
    B, nx = rhs.shape
    eye = torch.eye(nx, dtype=rhs.dtype).expand(B, nx, nx)
    M = eye - (H * H).unsqueeze(2) * torch.bmm(Q, R)
    ok = torch.isfinite(M).all(dim=(1, 2)) & torch.isfinite(rhs).all(dim=1)
    M = torch.where(ok[:, None, None], M, eye)
    if nx == 1:
        return rhs / M[:, 0, :], ok
    return torch.linalg.solve_ex(M, torch.where(ok[:, None], rhs, 0.0))[0], ok
