r"""Constraint sets: one affine subspace, or a union of hyperplanes (eqs. (4.1), (4.3) and (4.8) of the theory page, docs/theory.md).

* :class:`AffineSubspace` ``{x : A x = b}`` with ``A`` (r x D) of full row rank.
  A thin QR factor of :math:`A^\top = Q R` is computed once in float64, so that

  .. math::

      P(x) = x - A^\top (A A^\top)^{-1}(A x - b) = x - Q\,(Q^\top x - c),
      \qquad c = R^{-\top} b,

  (using :math:`A A^\top = R^\top R` and :math:`A x = R^\top Q^\top x`): one
  product with an orthonormal ``Q`` instead of a solve with the possibly
  ill-conditioned Gram matrix. The Euclidean distance to the subspace is
  :math:`\|Q^\top x - c\| = \|R^{-\top}(A x - b)\|`.

* :class:`HyperplaneUnion` ``{x : a_k^T x = b_k for some k}``. Normals are
  scaled to unit length once (:math:`u_k = a_k/\|a_k\|`, :math:`c_k = b_k/\|a_k\|`),
  so :math:`d_k(x) = u_k^\top x - c_k` is the signed distance to hyperplane
  ``k``; the distance to the union is :math:`\min_k |d_k(x)|` and the
  projection moves ``x`` onto its nearest hyperplane.

Both report a batch's violation as a :class:`Violation` (mean and max
distance, mean and max residual norm :math:`\|A x - b\|`) computed in float64
on the samples' device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_finite_tensor, check_positive

__all__ = ["Violation", "AffineSubspace", "HyperplaneUnion", "as_constraint_set"]


@dataclass(frozen=True)
class Violation:
    r"""How far a batch lies from a constraint set.

    ``*_distance``: Euclidean distance to the set (to the nearest hyperplane
    for a union). ``*_residual``: the residual in the user's units,
    :math:`\|A x - b\|_2` for a subspace and :math:`\min_k |a_k^\top x - b_k|`
    for a union.

    Attributes
    ----------
    mean_distance : float
        Mean Euclidean distance of the batch to the set.
    max_distance : float
        Largest distance.
    mean_residual : float
        Mean residual in the user's units.
    max_residual : float
        Largest residual.
    """

    mean_distance: float
    max_distance: float
    mean_residual: float
    max_residual: float


class _LinearSet:
    """What both sets share: rows ``(rows, D)`` of linear equations in float64, their factors copied once per
    (device, dtype) of the batches they meet, and the batch summary of eq. (4.8)."""

    _rows_name: str           # the attribute holding the (rows, D) matrix as the user gave it: A, or normals
    _count_name: str          # what its rows count, in __repr__: r equations, K hyperplanes

    @property
    def dim(self) -> int:
        """Ambient dimension D."""
        return int(getattr(self, self._rows_name).shape[1])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._count_name}={int(getattr(self, self._rows_name).shape[0])}, D={self.dim})"

    def _factor(self, name: str, like: torch.Tensor) -> torch.Tensor:
        # every map of a batch reads its factors here: a batch of another width (a raw matmul error) or an
        # integer one (the cast would truncate the float64 factor: wrong, without error) is refused first
        _check_batch(like, self.dim)
        key = (name, like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = getattr(self, name).to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def _affine(self, x: torch.Tensor, matrix: str, offsets: str) -> torch.Tensor:
        # x M^T - v for every row of x (n, D) -> (n, rows), in x's dtype and device (differentiable)
        M, v = self._factor(matrix, x), self._factor(offsets, x)
        return x @ M.T - v

    def _violation(self, x: torch.Tensor, residual_norm) -> Violation:
        # distances of eq. (4.8) and the residual per row (residual_norm of the (n, rows) residual), float64
        _check_batch(x, self.dim)
        with torch.no_grad():
            x64 = x.detach().to(torch.float64)
            dist = self.distance(x64)
            res = residual_norm(self.residual(x64))
        return _summarise(dist, res)


class AffineSubspace(_LinearSet):
    r"""The affine subspace :math:`\{x \in R^D : A x = b\}`.

    Parameters
    ----------
    A : array_like or torch.Tensor
        ``(r, D)`` matrix of full row rank r <= D (numpy array, list or tensor).
        One equation may be passed as a 1-D vector of length D.
    b : array_like or torch.Tensor or float, optional
        Right-hand side of length r (default zeros). A scalar is accepted when r = 1.
    rtol : float, default 1e-10
        Relative tolerance of the rank test, which is scale-invariant: each
        equation is first divided by the norm of its row (the set is
        unchanged), then ``A`` has full row rank when every singular value of
        the row-scaled matrix exceeds ``rtol * max(r, D)`` times the largest;
        a dependent row is one whose distance to the span of the preceding
        independent (scaled) rows is at most that tolerance. Equations of
        scale 1e-200 or 1e8 count as those of scale 1.

    Raises
    ------
    ValueError
        For non-finite entries, wrong shapes, a ``b`` of the wrong length, and
        rank-deficient ``A`` (naming each dependent row, the combination of
        other rows it equals, and whether its equation is redundant or
        contradicts the others), or an equation whose set lies beyond float64
        (``b_i / ||a_i||`` overflows).

    Notes
    -----
    The set is eq. (4.1) of the theory page; :meth:`project` is eq. (4.2) and
    :meth:`distance` eq. (4.8).

    References
    ----------
    Gene H. Golub, Charles F. Van Loan. *Matrix Computations*, 4th ed. Johns
    Hopkins University Press, 2013 (section 5.2, the QR factorisation; section
    6.2, projections onto the range of a matrix).

    Examples
    --------
    >>> import torch
    >>> S = AffineSubspace([[1.0, 1.0, 1.0]], [1.0])   # x1 + x2 + x3 = 1
    >>> x = S.project(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))
    >>> round(float(x.sum()), 12)
    1.0
    """

    _rows_name, _count_name = "A", "r"

    def __init__(self, A, b=None, rtol: float = 1e-10):
        rtol = check_positive(rtol, "rtol")
        A, b = _equations(A, b, ("A", "b"), ("r", "row per equation", "row of A"))
        norms = _check_full_row_rank(A.numpy(), b.numpy(), rtol)
        self.A = A
        self.b = b
        # the factor of the row-scaled equations (the same set): rows of scale 1e-200 or 1e8 lose nothing to it
        norms = torch.as_tensor(norms, dtype=torch.float64)
        A, b = A / norms[:, None], b / norms
        _check_offsets_representable(b, self.b, "b")
        # A^T = Q R (thin QR, float64, once). Signs fixed so diag(R) > 0: the factor is unique.
        Q, R = torch.linalg.qr(A.T)
        signs = torch.sign(torch.diagonal(R))
        Q, R = Q * signs[None, :], R * signs[:, None]
        self.Q = Q                                                     # (D, r), orthonormal columns
        self.R = R                                                     # (r, r), upper triangular
        self.c = torch.linalg.solve_triangular(R.T, b[:, None], upper=False)[:, 0]  # R^{-T} b
        self._cache: dict = {}

    @property
    def n_equations(self) -> int:
        """Number of equations r (the codimension of the subspace)."""
        return int(self.A.shape[0])

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`A x - b` for every row of ``x`` (n, D) -> (n, r), in ``x``'s dtype (differentiable).

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n, r)``.
        """
        return self._affine(x, "A", "b")

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        r"""Euclidean distance of every row to the subspace, :math:`\|Q^\top x - c\|` (n,), differentiable.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n,)``, eq. (4.8) of the theory page.
        """
        Q, c = self._factor("Q", x), self._factor("c", x)
        return torch.linalg.vector_norm(x @ Q - c, dim=1)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        r"""Orthogonal projection :math:`P(x) = x - Q(Q^\top x - c)` of every row (differentiable).

        Computed in float64 and returned in ``x``'s dtype, so float32 output
        is off the subspace only by its final rounding.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n, D)``, eq. (4.2) of the theory page.
        """
        _check_batch(x, self.dim)
        x64 = x.to(torch.float64)
        Q, c = self._factor("Q", x64), self._factor("c", x64)
        return (x64 - (x64 @ Q - c) @ Q.T).to(x.dtype)

    def violation(self, x: torch.Tensor) -> Violation:
        """Mean and max distance and residual norm of a batch (float64, no gradient).

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        Violation
            Batch summary.
        """
        return self._violation(x, lambda res: torch.linalg.vector_norm(res, dim=1))

    def point(self) -> torch.Tensor:
        r"""The point of the subspace closest to the origin, :math:`Q c = A^\top (A A^\top)^{-1} b` (float64)."""
        return self.Q @ self.c

    def null_basis(self) -> torch.Tensor:
        """An orthonormal basis (D, D - r) of the directions inside the subspace (float64)."""
        # span(Q)'s complement: the left singular vectors of I - Q Q^T with singular value 1.
        P = torch.eye(self.dim, dtype=torch.float64) - self.Q @ self.Q.T
        U, _, _ = torch.linalg.svd(P)
        return U[:, : self.dim - self.n_equations]



class HyperplaneUnion(_LinearSet):
    r"""The union of hyperplanes :math:`\{x : a_k^\top x = b_k \text{ for some } k\}`.

    Parameters
    ----------
    normals : array_like or torch.Tensor
        ``(K, D)`` matrix, one non-zero normal :math:`a_k` per hyperplane.
    offsets : array_like or torch.Tensor, optional
        Length-K vector of offsets ``b_k`` (default zeros).

    Raises
    ------
    ValueError
        For non-finite entries, wrong shapes, ``offsets`` of the wrong length,
        a zero normal (exactly zero: a normal of any scale, 1e-200 or 1e200,
        defines its hyperplane), a hyperplane whose distance from the origin
        is beyond float64, or two rows describing the same hyperplane.

    Notes
    -----
    Hyperplanes may be parallel but not identical (a duplicate would make the
    nearest-hyperplane assignment ambiguous and the shares meaningless). The
    set is eq. (4.1) of the theory page.

    Examples
    --------
    >>> import torch
    >>> U = HyperplaneUnion([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])   # the two axes of the plane
    >>> U.project(torch.tensor([[0.1, 2.0]], dtype=torch.float64)).tolist()
    [[0.0, 2.0]]
    """

    _rows_name, _count_name = "normals", "K"

    def __init__(self, normals, offsets=None):
        N, off = _equations(normals, offsets, ("normals", "offsets"), ("K", "normal per hyperplane", "normal"))
        # any non-zero normal defines its hyperplane, whatever its scale (1e-200 or 1e200) and the other rows'
        norms = torch.as_tensor(_row_norms(N.numpy()), dtype=torch.float64)
        zero = torch.nonzero(norms == 0)[:, 0].tolist()
        if zero:
            raise ValueError(f"normals: row(s) {zero} are zero; a hyperplane needs a non-zero normal vector")
        _check_offsets_representable(off / norms, off, "offsets")
        self.normals = N
        self.offsets = off
        self.norms = norms
        self.U = N / norms[:, None]            # unit normals (K, D)
        self.c = off / norms                   # offsets of the unit-normal form
        # Duplicates: u_i = +-u_j with matching (signed) offsets, checked for all pairs at once.
        cos = self.U @ self.U.T
        sign = torch.sign(cos)
        same_normal = (cos.abs() >= 1 - 1e-12)
        same_offset = (self.c[:, None] * sign - self.c[None, :]).abs() <= 1e-12 * (1 + self.c.abs()[:, None])
        dup = torch.triu(same_normal & same_offset, diagonal=1).nonzero()
        if dup.shape[0]:
            i, j = (int(v) for v in dup[0])
            raise ValueError(f"normals/offsets: hyperplanes {i} and {j} are the same hyperplane; remove one of them")
        self._cache: dict = {}

    @property
    def n_hyperplanes(self) -> int:
        """Number of hyperplanes K."""
        return int(self.normals.shape[0])

    def signed_distances(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`d_k(x) = u_k^\top x - c_k` for every row and hyperplane, (n, K), differentiable.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n, K)``.
        """
        return self._affine(x, "U", "c")

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`a_k^\top x - b_k` (n, K) in the user's units, differentiable.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n, K)``.
        """
        return self._affine(x, "normals", "offsets")

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest hyperplane of every row (n,), ties to the lowest index.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            int64, shape ``(n,)``.
        """
        with torch.no_grad():
            return self.signed_distances(x.detach().to(torch.float64)).abs().argmin(dim=1)

    def shares(self, x: torch.Tensor) -> tuple[float, ...]:
        """Fraction of the rows whose nearest hyperplane is ``k``, for k = 0..K-1.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        tuple of float
            Length K, summing to 1.
        """
        _check_batch(x, self.dim)
        counts = torch.bincount(self.assign(x), minlength=self.n_hyperplanes)
        return tuple(float(v) / x.shape[0] for v in counts.tolist())

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        r"""Distance to the union, :math:`\min_k |d_k(x)|` (n,).

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n,)``, eq. (4.8) of the theory page.
        """
        return self.signed_distances(x).abs().min(dim=1).values

    def project(self, x: torch.Tensor) -> torch.Tensor:
        r"""Move every row onto its nearest hyperplane: :math:`x - d_{k^*}(x)\, u_{k^*}`, in float64.

        Differentiable wherever the nearest hyperplane is unique (the
        assignment is piecewise constant); returned in ``x``'s dtype.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        torch.Tensor
            Shape ``(n, D)``, eq. (4.3) of the theory page.
        """
        _check_batch(x, self.dim)
        x64 = x.to(torch.float64)
        U = self._factor("U", x64)
        d = self.signed_distances(x64)
        k = d.detach().abs().argmin(dim=1)
        dk = d.gather(1, k[:, None])
        return (x64 - dk * U[k]).to(x.dtype)

    def violation(self, x: torch.Tensor) -> Violation:
        r"""Mean and max distance to the union and residual :math:`\min_k |a_k^\top x - b_k|` (float64, no gradient).

        Parameters
        ----------
        x : torch.Tensor
            Points, shape ``(n, D)``, any float dtype and device.

        Returns
        -------
        Violation
            Batch summary; distances as in eq. (4.8) of the theory page.

        Raises
        ------
        ValueError
            If ``x`` is not a float tensor of shape ``(n, D)``.
        """
        return self._violation(x, lambda res: res.abs().min(dim=1).values)

def as_constraint_set(constraint):
    """Check that ``constraint`` is an :class:`AffineSubspace` or a :class:`HyperplaneUnion`."""
    if isinstance(constraint, (AffineSubspace, HyperplaneUnion)):
        return constraint
    raise ValueError(f"constraint must be an AffineSubspace(A, b) or a HyperplaneUnion(normals, offsets), "
                     f"got {type(constraint).__name__}")


# ------------------------------------------------------------------- helpers
def _equations(matrix, vector, names: tuple[str, str], rows: tuple[str, str, str]):
    """The (rows, D) matrix and the right-hand side of a set's equations, float64 on the CPU, checked.

    ``names``: the two arguments' names; ``rows``: the letter counting the
    rows, what one row is, and what the right-hand side has one entry per
    (for the messages). One row may be a 1-D vector, and its right-hand side
    a scalar; a missing right-hand side is zeros.
    """
    (m_name, v_name), (letter, one_row, per) = names, rows
    M = _as_float64(matrix, m_name)
    if M.ndim == 1:
        M = M[None, :]
    if M.ndim != 2 or M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"{m_name} must be a non-empty 2-D matrix of shape ({letter}, D) (one {one_row}), "
                         f"got shape {tuple(M.shape)}")
    check_finite_tensor(M, m_name)
    n = M.shape[0]
    if vector is None:
        vector = torch.zeros(n, dtype=torch.float64)
    v = _as_float64(vector, v_name).reshape(-1) if _numel(vector) == 1 and n == 1 else _as_float64(vector, v_name)
    if v.ndim != 1 or v.shape[0] != n:
        raise ValueError(f"{v_name} must be a vector with one entry per {per} (length {n}), got shape "
                         f"{tuple(v.shape)}; pass {v_name} with shape ({n},)")
    check_finite_tensor(v, v_name)
    return M, v


def _numel(x) -> int:
    return int(x.numel()) if isinstance(x, torch.Tensor) else int(np.size(x))


def _as_float64(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: could not convert to a float array ({exc}); pass a numpy array or a tensor") from exc
    return torch.from_numpy(arr.copy())


def _check_batch(x, dim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"samples must be a torch tensor of shape (n, {dim}), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"samples must have shape (n, {dim}) to match the constraint, got {tuple(x.shape)}; "
                         f"flatten each sample to a vector of length {dim}")
    if not torch.is_floating_point(x):
        raise ValueError(f"samples must be floating point, got dtype {x.dtype}; convert with x.double()")


def _summarise(dist: torch.Tensor, res: torch.Tensor) -> Violation:
    return Violation(float(dist.mean()), float(dist.max()), float(res.mean()), float(res.max()))


def _check_offsets_representable(scaled: torch.Tensor, given: torch.Tensor, name: str) -> None:
    """Refuse a set whose distance from the origin, ``b_i / ||a_i||``, is beyond float64 (no point of it is)."""
    bad = torch.nonzero(~torch.isfinite(scaled))[:, 0].tolist()
    if bad:
        i = bad[0]
        raise ValueError(f"{name}[{i}] = {float(given[i]):.3g} over the norm of its row puts the set at a distance "
                         f"beyond float64 from the origin (no float64 point satisfies it); rescale the equation or "
                         f"the samples")


def _row_norms(A: np.ndarray) -> np.ndarray:
    """The Euclidean norm of each row, without underflow or overflow (rows of 1e-200 have norm ~1e-200, not 0)."""
    scale = np.abs(A).max(axis=1)
    safe = np.where(scale > 0, scale, 1.0)
    return scale * np.linalg.norm(A / safe[:, None], axis=1)


def _check_full_row_rank(A: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Scale-invariant rank test that names every dependent row of ``A``; returns the row norms.

    Each equation is divided by its row's norm first (the set is unchanged),
    so the test does not depend on the scale of any equation; the rank is
    that of the row-scaled matrix by SVD with the tolerance ``rtol *
    max(r, D) * sigma_max``, and when it is short the dependent rows are
    named greedily (each against the span of the preceding independent rows).
    """
    r, D = A.shape
    norms = _row_norms(A)
    zero = norms == 0
    safe = np.where(zero, 1.0, norms)
    with np.errstate(over="ignore"):  # an offset beyond float64 is refused with its own message afterwards
        As, bs = A / safe[:, None], b / safe
    sv = np.linalg.svd(As[~zero], compute_uv=False) if (~zero).any() else np.zeros(0)
    tol = rtol * max(r, D) * (float(sv[0]) if sv.size else 1.0)
    if not zero.any() and r <= D and int((sv > tol).sum()) == r:
        return norms
    kept: list[int] = []
    problems: list[str] = []
    for i in range(r):
        if zero[i]:
            problems.append(f"row {i} is zero" + (f" but b[{i}] = {b[i]:.6g} != 0: no x satisfies A x = b"
                                                  if b[i] != 0 else " (0 = 0, redundant)"))
            continue
        if kept:
            basis = As[kept].T                                 # (D, |kept|)
            coef, *_ = np.linalg.lstsq(basis, As[i], rcond=None)
            gap = np.linalg.norm(As[i] - basis @ coef)
        else:
            coef, gap = np.zeros(0), 1.0
        if gap > tol:
            kept.append(i)
            continue
        # row i = sum_j coef_j (norms_i / norms_j) row j in the caller's units
        combo = " + ".join(f"{c * norms[i] / norms[j]:.6g}*row {j}" for c, j in zip(coef, kept)
                           if abs(c) > 1e-12) or "0"
        rhs = float(coef @ bs[kept])
        kind = ("a redundant copy of them (same right-hand side): drop it"
                if abs(rhs - bs[i]) <= 1e-9 * (1 + abs(bs[i]))
                else f"inconsistent with them (b[{i}] = {b[i]:.6g} but the combination gives "
                     f"{rhs * norms[i]:.6g}): no x satisfies A x = b")
        problems.append(f"row {i} = {combo}, {kind}")
    if not problems:  # the SVD sees a dependence that no single row shows at this tolerance
        problems.append(f"the smallest singular value of the row-scaled A, {float(sv[-1]):.3g}, is at most "
                        f"rtol * max(r, D) * sigma_max = {tol:.3g}")
    raise ValueError(f"A must have full row rank, but its {r} rows span only {len(kept)} dimensions"
                     f"{f' (at most D = {D})' if r > D else ''}: " + "; ".join(problems)
                     + ". Remove the dependent rows of A and the matching entries of b.")
