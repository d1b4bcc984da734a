r"""Local analysis of a game at a point: the Jacobian, its spectrum (read by eq. (3.11) of the theory page), plots.

* :func:`jacobian`: the dense :math:`J` (rows :math:`J^\top e_i`, one backward pass each) of a small game;
* :func:`eigenvalues`: its exact spectrum (LAPACK through numpy);
* :func:`leading_eigenvalues`: the ``k`` leading eigenvalues of a large game by implicitly restarted Arnoldi
  (``scipy.sparse.linalg.eigs``) on the matrix-free product :math:`u \mapsto J u`, never forming :math:`J`;
* :func:`plot_vector_field`: a PNG of :math:`-v` on a 2-D slice with optimiser trajectories.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla
import torch

from .._checks import check_int, check_number
from .._io import save_figure
from ..status import Status, StatusCode
from .game import Game, check_game

__all__ = ["jacobian", "eigenvalues", "leading_eigenvalues", "SpectrumReport", "plot_vector_field"]

_MAX_DENSE = 5000
#: sort keys of the ``which`` criteria of ``scipy.sparse.linalg.eigs`` (the first value is the leading one)
_ORDER = {"LM": lambda z: -np.abs(z), "SM": np.abs, "LR": lambda z: -z.real, "SR": lambda z: z.real,
          "LI": lambda z: -z.imag, "SI": lambda z: z.imag}


def jacobian(game: Game) -> torch.Tensor:
    """The dense game Jacobian :math:`J_{ij} = \\partial v_i / \\partial x_j` of eq. (3.1) at the current point.

    Row :math:`i` is :math:`J^\\top e_i` (eq. (3.2) of the theory page), one backward pass each.

    Parameters
    ----------
    game : Game
        The game, at the point of interest (at most 5000 parameters).

    Returns
    -------
    torch.Tensor
        :math:`J` in flat parameter order, shape ``(n, n)`` with ``n = game.num_parameters``, the game's dtype
        and device (detached).

    Raises
    ------
    ValueError
        If the game has more than 5000 parameters (use :func:`leading_eigenvalues`).
    TypeError
        If ``game`` is not a :class:`~dualgan.games.Game`.
    """
    n = check_game(game).num_parameters
    if n > _MAX_DENSE:
        raise ValueError(f"the game has {n} parameters; a dense Jacobian is limited to {_MAX_DENSE}; use "
                         f"leading_eigenvalues (matrix-free Arnoldi) instead")
    return _dense_jacobian(game)


def _dense_jacobian(game: Game, field: list | None = None) -> torch.Tensor:
    """:func:`jacobian` without the size limit, from ``field`` (:math:`v` with its graph) when given."""
    field = game.vector_field(create_graph=True) if field is None else field
    eye = torch.eye(game.num_parameters, dtype=game.dtype, device=game.device)
    return torch.stack([game.flatten(game.vjp(game.unflatten(e), field=field)) for e in eye]).detach()


def eigenvalues(game: Game) -> np.ndarray:
    """All eigenvalues of :math:`J` at the current point, sorted by decreasing modulus (eq. (3.11), theory page).

    Parameters
    ----------
    game : Game
        As :func:`jacobian`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, complex128.

    Raises
    ------
    ValueError, TypeError
        As :func:`jacobian` (more than 5000 parameters; not a game).
    """
    values = np.linalg.eigvals(jacobian(game).cpu().double().numpy())
    return values[np.argsort(-np.abs(values), kind="stable")]


@dataclass(frozen=True)
class SpectrumReport:
    """Leading eigenvalues (sorted by the ``which`` criterion) and the number of :math:`J u` products used.

    Parameters
    ----------
    eigenvalues : numpy.ndarray
        Shape ``(k,)``, complex: the eigenvalues found, sorted by ``which``.
    which : str
        The selection criterion (``"LM"``, ``"SM"``, ``"LR"``, ``"SR"``, ``"LI"``, ``"SI"``).
    products : int
        Number of matrix-free products :math:`J u` used.
    status : dualgan.status.Status
        ``SUCCESS`` when Arnoldi converged for all ``k`` values; ``MAX_ITER`` with scipy's
        ``ArpackNoConvergence`` message otherwise (``eigenvalues`` then holds those that did, maybe fewer than ``k``).
    """

    eigenvalues: np.ndarray
    which: str
    products: int
    status: Status


def leading_eigenvalues(game: Game, k: int = 6, which: str = "LM", tol: float = 1e-8, maxiter: int | None = None,
                        seed: int = 0) -> SpectrumReport:
    """``k`` eigenvalues of :math:`J` by Arnoldi on the matrix-free :math:`u \\mapsto J u`.

    A non-converged Arnoldi run is reported in ``status`` with the values it found.

    Parameters
    ----------
    game : Game
        The game, at the point of interest.
    k : int, default 6
        Number of eigenvalues, :math:`1 \\le k < n - 1` for ``n`` parameters (:func:`eigenvalues` for tiny games).
    which : str, default "LM"
        ``"LM"`` (largest modulus: the step-size limit), ``"SR"`` (smallest real part: the least attracting
        directions), ``"LR"``, ``"SM"``, ``"LI"`` or ``"SI"``, as in ``scipy.sparse.linalg.eigs``.
    tol : float, default 1e-8
        Relative accuracy of the eigenvalues (ARPACK's ``tol``).
    maxiter : int, optional
        Maximum number of Arnoldi restarts. Default None: scipy's default.
    seed : int, default 0
        Seed of the random starting vector.

    Returns
    -------
    SpectrumReport
        The eigenvalues, the number of products and the status (``MAX_ITER`` when Arnoldi did not converge
        within ``maxiter`` restarts).

    Raises
    ------
    ValueError
        If ``k`` is not an integer in :math:`[1, n - 2]`, ``which`` is not one of the names above, ``tol`` is not
        a finite number >= 0 (0: machine precision, as ARPACK), ``maxiter`` is not None or a positive integer,
        or ``seed`` is not a non-negative integer (``bool`` and floats refused).
    TypeError
        If ``game`` is not a :class:`~dualgan.games.Game`.
    """
    n = check_game(game).num_parameters
    if n < 3:
        raise ValueError(f"k must be below n - 1 = {n - 1} and >= 1, impossible for a game with {n} parameters; use "
                         f"eigenvalues(game) for the full spectrum of a small game")
    try:
        k = check_int(k, "k", low=1, high=n - 2)
    except ValueError as exc:
        raise ValueError(f"{exc} (k < n - 1 for a game with n = {n} parameters); use eigenvalues(game) for the "
                         f"full spectrum of a small game") from None
    tol = check_number(tol, "tol", low=0.0)
    maxiter = check_int(maxiter, "maxiter", low=1, allow_none=True)
    seed = check_int(seed, "seed", low=0)
    if which not in _ORDER:
        raise ValueError(f"which must be one of {', '.join(_ORDER)}, got {which!r}")
    jvp = game.jvp_operator()
    count = {"products": 0}

    def matvec(arr):
        count["products"] += 1
        u = game.unflatten(torch.as_tensor(np.asarray(arr, dtype=np.float64).reshape(-1)))
        return game.flatten(jvp(u)).detach().cpu().double().numpy()

    operator = spla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    try:
        values = spla.eigs(operator, k=k, which=which, tol=tol, maxiter=maxiter, v0=v0, return_eigenvectors=False)
        status = Status(StatusCode.SUCCESS, f"{k} eigenvalues to tol {tol:g}")
    except spla.ArpackNoConvergence as exc:
        values, status = exc.eigenvalues, Status(StatusCode.MAX_ITER, str(exc))
    values = np.asarray(values)
    values = values[np.argsort(_ORDER[which](values), kind="stable")]
    return SpectrumReport(values, which, count["products"], status)


def plot_vector_field(game: Game, path, trajectories: dict | None = None, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0),
                      coords=(0, 1), labels=None, grid: int = 21, title: str | None = None) -> str:
    """Save a PNG of the flow :math:`-v` on the plane of flat coordinates ``coords`` with trajectories.

    The arrows are the field of eq. (3.1) of the theory page, negated; the other coordinates stay at their
    current values and the game's parameters are restored afterwards.

    Parameters
    ----------
    game : Game
        The game whose field is drawn.
    path : str or os.PathLike
        The PNG file to write (written atomically).
    trajectories : dict, optional
        Legend name -> array of shape ``(T, 2)`` or ``(T, n)`` (then the ``coords`` columns are plotted).
        Default None: no trajectories.
    xlim : tuple of float, default (-2.0, 2.0)
        Range of the first plotted coordinate (parameter units).
    ylim : tuple of float, default (-2.0, 2.0)
        Range of the second plotted coordinate (parameter units).
    coords : tuple of int, default (0, 1)
        The two distinct flat parameter indices spanning the plane.
    labels : tuple of str, optional
        Axis labels. Default None: ``("x[i]", "x[j]")``.
    grid : int, default 21
        Number of grid points per axis (>= 2).
    title : str, optional
        Plot title. Default None: none.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        If ``coords`` or ``grid`` is invalid or a trajectory has the wrong shape.
    TypeError
        If ``game`` is not a :class:`~dualgan.games.Game`.
    """
    from .._io import new_figure

    n = check_game(game).num_parameters
    if isinstance(coords, (str, bytes)) or not hasattr(coords, "__len__") or len(coords) != 2:
        raise ValueError(f"coords must be two distinct flat indices in [0, {n - 1}], got {coords!r}")
    i = check_int(coords[0], "coords[0] (flat parameter index)", low=0, high=n - 1)
    j = check_int(coords[1], "coords[1] (flat parameter index)", low=0, high=n - 1)
    if i == j:
        raise ValueError(f"coords must be two distinct flat indices in [0, {n - 1}], got {coords!r}")
    grid = check_int(grid, "grid", low=2)
    saved = game.get_flat()
    xs = np.linspace(*xlim, grid)
    ys = np.linspace(*ylim, grid)
    U = np.zeros((grid, grid))
    V = np.zeros((grid, grid))
    try:
        for a, xv in enumerate(xs):
            for b, yv in enumerate(ys):
                point = saved.clone()
                point[i], point[j] = xv, yv
                game.set_flat(point)
                field = game.flatten(game.vector_field()).detach().cpu().double().numpy()
                U[b, a], V[b, a] = -field[i], -field[j]
    finally:
        game.set_flat(saved)
    fig, ax = new_figure(figsize=(5.5, 5))
    ax.streamplot(xs, ys, U, V, color=np.hypot(U, V), cmap="Greys", density=1.0, linewidth=0.8)
    for name, traj in (trajectories or {}).items():
        traj = np.asarray(traj, dtype=float)
        if traj.ndim != 2 or traj.shape[1] not in (2, n):
            raise ValueError(f"trajectory {name!r} must have shape (T, 2) or (T, {n}), got {traj.shape}")
        pts = traj if traj.shape[1] == 2 else traj[:, [i, j]]
        ax.plot(pts[:, 0], pts[:, 1], lw=1.2, label=name)
        ax.plot(pts[0, 0], pts[0, 1], "k.", ms=6)
    names = labels or (f"x[{i}]", f"x[{j}]")
    ax.set(xlabel=names[0], ylabel=names[1], xlim=xlim, ylim=ylim, title=title or "")
    if trajectories:
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)  # atomic: temporary file, then rename
    return str(path)
