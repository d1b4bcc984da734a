r"""Competitive gradient descent (Schaefer & Anandkumar 2019) for two players.

Player 1 (parameters :math:`x`) minimises :math:`f`, player 2 (:math:`y`)
minimises :math:`g`. Each step is the Nash equilibrium of the local bilinear
approximation of the game with quadratic regularisation :math:`1/(2\eta)`:

.. math::
    \Delta x = -\eta\,(I - \eta^2 D^2_{xy} f\, D^2_{yx} g)^{-1}
               (\nabla_x f - \eta\, D^2_{xy} f\, \nabla_y g), \qquad
    \Delta y = -\eta\,(\nabla_y g + D^2_{yx} g\, \Delta x).

The mixed Hessians are the off-diagonal blocks of the game Jacobian
:math:`J = \partial v/\partial (x, y)`, so their products with vectors are
:math:`J u` restricted to one block. The linear system is solved matrix-free by
``scipy.sparse.linalg.cg`` when the game is declared zero-sum
(:math:`D^2_{yx} g = -(D^2_{xy} f)^\top`: the matrix
:math:`I + \eta^2 D_{xy} D_{xy}^\top` is symmetric positive definite) and by
``scipy.sparse.linalg.gmres`` otherwise. :math:`\eta` is ``lr``; the update
:math:`-(\Delta x, \Delta y)/\eta` is handed to the base optimiser as its
gradient, so with plain SGD the step is exactly :math:`(\Delta x, \Delta y)`.
A failed linear solve is reported (status ``NUMERICAL_ERROR``) and the step is not applied.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla
import torch

from ...status import Status, StatusCode
from ._rowwise import matvec
from .base import OPTIMIZERS, GameOptimizer, NotBatchableError, StepRecord

__all__ = ["CompetitiveGD"]


@OPTIMIZERS.register("cgd", batchable=True, coefficient=None)
class CompetitiveGD(GameOptimizer):
    """Competitive gradient descent for two players (eq. (3.10) of the theory page).

    Parameters
    ----------
    lr : float, default 0.01
        Step size :math:`\\eta` (the base optimiser's learning rate), in
        parameter units per unit of field; must be > 0.
    base : str or callable, default "sgd"
        ``"sgd"`` (the plain update rule), ``"adam"``, ``"rmsprop"`` or a
        callable ``(params, lr, **kw) -> torch.optim.Optimizer`` that receives
        the adjusted field as its gradient.
    base_kwargs : dict, optional
        Extra keyword arguments of the base optimiser (e.g. ``{"alpha": 0.9}``
        for RMSProp). Default None: none.
    tol : float, default 1e-10
        Relative residual tolerance of the linear solver (conjugate gradients
        or GMRES); must be > 0.
    maxiter : int, optional
        Iteration cap of the linear solver. Default None: scipy's default.

    Raises
    ------
    ValueError
        If ``lr``, ``tol`` or ``maxiter`` is out of range or ``base`` is unknown.

    References
    ----------
    Florian Schäfer, Anima Anandkumar. "Competitive Gradient Descent." NeurIPS 2019.
    """

    needs_players = True

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs=None, tol: float = 1e-10, maxiter: int | None = None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        if not (float(tol) > 0):
            raise ValueError(f"tol must be > 0, got {tol!r}")
        if maxiter is not None and (not isinstance(maxiter, int) or maxiter < 1):
            raise ValueError(f"maxiter must be a positive integer or None, got {maxiter!r}")
        self.tol = float(tol)
        self.maxiter = maxiter

    def _bind(self, game):
        if len(game.players) != 2:
            raise ValueError(f"competitive gradient descent is defined for two players, the game has "
                             f"{len(game.players)}")

    def _batched_init(self, game, Z):
        """Refuse a game that is not two-player; no memory. See :meth:`GameOptimizer.batched_init`."""
        if len(game.player_sizes) != 2:
            raise NotBatchableError(f"competitive GD is defined for two players; game {game.name!r} has "
                                    f"{len(game.player_sizes)}")
        return None

    def _batched_step(self, point, lr, coefficient, move, memory):
        """One step of every cell, the linear system of eq. (3.10) solved densely (``torch.linalg.solve_ex``).

        Needs the dense Jacobian ``point.J``. A cell whose system or update is
        not finite is reported through ``finite``; see
        :meth:`GameOptimizer.batched_step` for the parameters and the returns.
        """
        J, V, H = point.J, point.v, lr
        sx, sy = point.game.player_slices
        Q, R = J[:, sx, sy], J[:, sy, sx]
        vx, vy = V[:, sx], V[:, sy]
        rhs = -H * (vx - H * matvec(Q, vy))
        B, nx = vx.shape
        eye = torch.eye(nx, dtype=V.dtype).expand(B, nx, nx)
        M = eye - (H * H).unsqueeze(2) * torch.bmm(Q, R)
        ok = torch.isfinite(M).all(dim=(1, 2)) & torch.isfinite(rhs).all(dim=1)
        M = torch.where(ok[:, None, None], M, eye)
        if nx == 1:
            dx = rhs / M[:, 0, :]
        else:
            dx = torch.linalg.solve_ex(M, torch.where(ok[:, None], rhs, 0.0))[0]
        dy = -H * (vy + matvec(R, dx))
        direction = -torch.cat([dx, dy], dim=1) / H
        finite = ok & torch.isfinite(direction).all(dim=1)
        return move(point.Z, direction, H), memory, finite

    def _step(self, game) -> StepRecord:
        eta = self.lr
        ev = game.evaluate(create_graph=True)
        field = [f.detach() for f in ev.field]
        bad = self._non_finite(field, ev.losses)
        if bad is not None:
            return bad
        sx, sy = game.player_slices
        jvp = game.jvp_operator(ev.field)
        zeros_x = [torch.zeros_like(p) for p in game.parameters[sx]]
        zeros_y = [torch.zeros_like(p) for p in game.parameters[sy]]

        def d_xy(w_y):   # D^2_{xy} f w: x-block of J (0, w)
            return jvp(zeros_x + list(w_y))[sx]

        def d_yx(w_x):   # D^2_{yx} g w: y-block of J (w, 0)
            return jvp(list(w_x) + zeros_y)[sy]

        vx, vy = field[sx], field[sy]
        rhs = [-eta * (a - eta * b) for a, b in zip(vx, d_xy(vy))]
        shapes_x = game.parameters[sx]

        def to_np(vec):
            return torch.cat([t.reshape(-1) for t in vec]).detach().cpu().double().numpy()

        def from_np(arr):
            out, start = [], 0
            for p in shapes_x:
                out.append(torch.as_tensor(arr[start:start + p.numel()]).reshape(p.shape).to(p.device, p.dtype))
                start += p.numel()
            return out

        n = sum(p.numel() for p in shapes_x)
        counter = {"matvecs": 0}

        def matvec(arr):
            counter["matvecs"] += 1
            u = from_np(np.asarray(arr).reshape(-1))
            out = [a - eta * eta * b for a, b in zip(u, d_xy(d_yx(u)))]
            return to_np(out)

        operator = spla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        b = to_np(rhs)
        maxiter = self.maxiter or max(10 * n, 50)
        if game.zero_sum:
            solution, info = spla.cg(operator, b, rtol=self.tol, atol=0.0, maxiter=maxiter)
        else:
            solution, info = spla.gmres(operator, b, rtol=self.tol, atol=0.0, maxiter=maxiter, restart=min(n, 50))
        if info != 0 or not np.all(np.isfinite(solution)):
            solver = "cg" if game.zero_sum else "gmres"
            why = f"info={info}" if info != 0 else "a non-finite solution"
            status = Status(StatusCode.NUMERICAL_ERROR, f"linear solve failed: scipy.sparse.linalg.{solver} gave "
                                                        f"{why} after {counter['matvecs']} matrix-vector products; "
                                                        f"step not applied")
            return self._record(field, ev.losses, field, status=status, inner_iterations=counter["matvecs"])
        delta_x = from_np(solution)
        delta_y = [-eta * (a + b) for a, b in zip(vy, d_yx(delta_x))]
        direction = [-d / eta for d in list(delta_x) + list(delta_y)]
        bad = self._non_finite(field, ev.losses, direction)
        if bad is not None:
            return bad
        self._apply(game, direction)
        return self._record(field, ev.losses, direction, inner_iterations=counter["matvecs"])
