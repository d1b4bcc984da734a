r"""The certified dual of a discriminator in a reproducing-kernel Hilbert space, on its Gram matrix.

Eqs. (1.19)-(1.24) of the theory page, docs/theory.md. The dual (1.3)/(1.12)
needs the features only through :math:`\Phi\Phi^\top`, so with the Gram matrix
:math:`K_{ij} = k(x_i, x_j)` of a positive semi-definite kernel in its place
(eq. (1.21)) it is the dual of the kernel machine
:math:`f(x) = \sum_j y_j\lambda_j k(x_j, x)/C\,(+\,b)` (eq. (1.22)), a
discriminator with infinitely many features solved exactly.

:class:`KernelDual` is a :class:`~dualgan.duals.LinearDual` on the rows of a
pivoted Cholesky factor :math:`F` of :math:`K` (:math:`K \approx FF^\top`, rank
:math:`r` truncated where the remaining pivots fall below ``factor_rtol`` of the
largest diagonal entry), so every method of :func:`~dualgan.duals.solve` runs on
it unchanged, with the same statuses and tolerances (``newton`` iterates on the
primal side, in :math:`r` unknowns, when :math:`r < N`). The certificate is taken
on :math:`K` itself (eq. (1.23)): the factor's gap (1.16) plus the part of the
quadratic the truncation left out, :math:`\beta^\top(K - FF^\top)\beta/(2C)`, a
non-negative term that is zero without truncation.
:func:`kernel_dual_objective` is the generator's differentiable objective (Danskin, eq. (1.24)).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla
import torch

from .._checks import NonFiniteError, check_int, check_matrix, check_number, detached
from ._backend import TorchOps, ops_for
from .objective import _fixed_multipliers, separable_term
from .problem import LinearDual
from .result import DualResult

__all__ = ["KernelDual", "kernel_dual_objective", "pivoted_cholesky"]

#: default truncation of the pivoted Cholesky factor, relative to the largest diagonal entry of K
DEFAULT_FACTOR_RTOL = 1e-14


class KernelDual(LinearDual):
    r"""The certified dual of a kernel discriminator on its Gram matrix (eqs. (1.21)-(1.23) of the theory page).

    The primal is eq. (1.21): :math:`\min_{f \in \mathcal H, b}\ \tfrac C2\|f\|_{\mathcal H}^2 +
    \sum_i a_i\ell(y_i(f(x_i) + b))`; its dual is (1.3) (logistic) or (1.12) (hinge)
    with :math:`\|v(\lambda)\|^2 = \beta^\top K\beta`, :math:`\beta = y\odot\lambda`.
    Solve it with :func:`dualgan.duals.solve`; evaluate the discriminator with
    :meth:`decision_function`.

    Parameters
    ----------
    x_real : numpy.ndarray or torch.Tensor
        Real samples, shape ``(n, D)``; copied to float64 (detached).
    x_fake : numpy.ndarray or torch.Tensor
        Generated samples, shape ``(m, D)``, same ``D``.
    kernel : dualgan.kernels.Kernel or str
        The kernel (an instance, or a name of :data:`dualgan.kernels.KERNELS` built
        with its defaults). A ``"median"`` bandwidth is resolved on the ``n + m`` samples.
    C : float
        L2 weight of the primal (the RKHS norm's weight), > 0.
    loss : str, default "logistic"
        ``"logistic"`` or ``"hinge"``.
    bias : bool, default False
        Adds a free bias ``b`` (the dual equality (1.11)).
    weights : tuple of array_like, optional
        Per-sample loss weights ``(weights_real, weights_fake)``, finite and > 0.
        Default None: :math:`a_i = 1/n` (real), :math:`1/m` (generated).
    factor_rtol : float, default 1e-14
        Truncation of the pivoted Cholesky factor: pivots at most
        ``factor_rtol * max(diag K)`` are left out (their part of the quadratic
        enters the certificate, eq. (1.23)); in (0, 1).
    chunk_size : int, optional
        Rows per chunk of the Gram matrix (:meth:`dualgan.kernels.Kernel.gram`). Default None: automatic.

    Raises
    ------
    ValueError
        As :class:`LinearDual`, or for samples with different numbers of columns,
        an unknown kernel name, a Gram matrix that is not symmetric or has a negative diagonal.
    TypeError
        If ``kernel`` is not a :class:`~dualgan.kernels.Kernel` or a name (as
        :class:`~dualgan.train.KernelDualGAN`).

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing GANs.* NeurIPS 2017.
    Bernhard Schölkopf, Alexander J. Smola. *Learning with Kernels.* MIT Press, 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from dualgan.duals import KernelDual, solve
    >>> from dualgan.kernels import RBFKernel
    >>> rng = np.random.default_rng(0)
    >>> prob = KernelDual(rng.normal(1, 1, (50, 2)), rng.normal(0, 1, (40, 2)), RBFKernel(sigma=1.0), C=0.1)
    >>> res = solve(prob)
    >>> res.success and res.gap <= 1e-10
    True
    """

    def __init__(self, x_real, x_fake, kernel, C, loss: str = "logistic", bias: bool = False, weights=None,
                 factor_rtol: float = DEFAULT_FACTOR_RTOL, chunk_size: int | None = None):
        kernel = _checked_kernel(kernel)
        device = x_real.device if isinstance(x_real, torch.Tensor) else (
            x_fake.device if isinstance(x_fake, torch.Tensor) else torch.device("cpu"))
        xr = check_matrix(detached(x_real), "x_real", dtype=torch.float64, device=device)
        xf = check_matrix(detached(x_fake), "x_fake", dtype=torch.float64, device=device)
        if xr.shape[1] != xf.shape[1]:
            raise ValueError(f"x_real and x_fake must have the same number of columns, got {xr.shape[1]} and "
                             f"{xf.shape[1]}")
        x = torch.cat([xr, xf])
        self.kernel = kernel.resolve(x)
        with torch.no_grad():
            K = self.kernel.gram(x, chunk_size=chunk_size).to(torch.float64)
            # a Gram formed here is symmetric up to the rounding of its products (samples of 1e4 leave 1e-8 of
            # k(x, x) = 1 between K_ij and K_ji): its symmetric part, not the check of a given Gram matrix
            K = 0.5 * (K + K.T)
        # finite samples, a Gram beyond float64 (was "phi_real contains inf"); max |K| is NaN or inf exactly when an
        # entry is (torch's max propagates NaN), in a fifth of isfinite(K).all()'s time
        if not math.isfinite(float(K.abs().max())):
            raise NonFiniteError(f"the Gram matrix of these samples under {self.kernel!r} is beyond float64 (largest "
                             f"sample entry {float(x.abs().max()):.3g}); rescale the samples (or use a "
                             f"scale-free kernel such as RBFKernel with its bandwidth scaled alike)")
        self.x = x
        self._setup(K, xr.shape[0], C, loss, bias, weights, factor_rtol, symmetric=True,
                    numpy_input=not (isinstance(x_real, torch.Tensor) or isinstance(x_fake, torch.Tensor)))

    @classmethod
    def from_gram(cls, K, n_real: int, C, loss: str = "logistic", bias: bool = False, weights=None,
                  factor_rtol: float = DEFAULT_FACTOR_RTOL) -> "KernelDual":
        r"""The problem on a given Gram matrix (real rows first), eq. (1.21) of the theory page.

        Parameters
        ----------
        K : numpy.ndarray or torch.Tensor
            Shape ``(N, N)``, ``N = n + m``: :math:`K_{ij} = k(x_i, x_j)`, the ``n_real``
            real samples first; symmetric and positive semi-definite, finite.
        n_real : int
            The number ``n`` of real samples, 1 <= n <= N - 1.
        C : float
            L2 weight of the primal, > 0.
        loss : str, default "logistic"
            ``"logistic"`` or ``"hinge"``.
        bias : bool, default False
            Adds a free bias (eq. (1.11)).
        weights : tuple of array_like, optional
            ``(weights_real, weights_fake)``, finite and > 0. Default None: ``1/n``, ``1/m``.
        factor_rtol : float, default 1e-14
            Truncation of the pivoted Cholesky factor (see :class:`KernelDual`).

        Returns
        -------
        KernelDual
            The problem; without a kernel, :meth:`decision_function` takes cross-Gram rows.

        Raises
        ------
        ValueError
            If ``K`` is not a finite square matrix, not symmetric (to 1e-10 relative), has a
            negative diagonal entry, or ``n_real`` is out of range.
        """
        self = cls.__new__(cls)
        self.kernel, self.x = None, None
        numpy_input = not isinstance(K, torch.Tensor)
        K = check_matrix(detached(K), "K", dtype=torch.float64)
        self._setup(K, n_real, C, loss, bias, weights, factor_rtol, numpy_input=numpy_input)
        return self

    def _setup(self, K: torch.Tensor, n_real, C, loss, bias, weights, factor_rtol, numpy_input: bool,
               symmetric: bool = False) -> None:
        # symmetric: K is (K0 + K0^T) / 2, exactly symmetric (IEEE addition commutes), so the check and the
        # symmetrisation of a given Gram matrix below would change nothing
        N = K.shape[0]
        if K.shape[1] != N:
            raise ValueError(f"K must be a square (N, N) Gram matrix, got shape {tuple(K.shape)}")
        n = check_int(n_real, "n_real", low=1, high=N - 1) if N >= 2 else None
        if n is None:
            raise ValueError(f"K must hold at least one real and one generated sample (N >= 2), got N = {N}")
        rtol = check_number(factor_rtol, "factor_rtol", low=0.0, high=1.0, low_open=True, high_open=True)
        scale = float(K.abs().max())
        asym = 0.0 if symmetric else float((K - K.T).abs().max())
        if asym > 1e-10 * scale:
            raise ValueError(f"K is not symmetric: max |K - K^T| = {asym:.3g} (max |K| = {scale:.3g}); pass the Gram "
                             f"matrix of a symmetric kernel (or (K + K.T) / 2)")
        if not symmetric:
            K = 0.5 * (K + K.T)
        diag = torch.diagonal(K)
        if float(diag.min()) < -1e-12 * max(scale, 1e-300):
            i = int(diag.argmin())
            raise ValueError(f"K is not positive semi-definite: K[{i}, {i}] = {float(diag[i]):.3g} < 0; pass the Gram "
                             f"matrix of a positive semi-definite kernel")
        F, pivots, rank = pivoted_cholesky(K.cpu().numpy(), rtol)
        Ft = torch.from_numpy(F).to(K.device)
        super().__init__(Ft[:n], Ft[n:], C, loss=loss, bias=bias, weights=weights)
        self.numpy_input = numpy_input
        self.K = K
        self.rank = rank
        self.pivots = torch.from_numpy(pivots[:rank].astype(np.int64)).to(K.device)
        self.factor_rtol = rtol
        self.truncated = rank < N
        self._abs_K = None
        self._pivot_factor = Ft[self.pivots, :rank] if rank else None  # lower triangular, (r, r)

    def __repr__(self) -> str:
        return (f"KernelDual(n={self.n}, m={self.m}, rank={self.rank}, C={self.C:g}, loss={self.loss!r}, "
                f"bias={self.bias}, kernel={self.kernel!r}, device={self.device})")

    # ------------------------------------------------------------------ certificate on K
    def certificate(self, lam, slack=None, ops=TorchOps, w=None, b: float | None = None):
        r"""``(primal_value, dual_value, gap, w, b)`` of a pair, on the Gram matrix (eq. (1.23) of the theory page).

        The pair is the multipliers ``lam`` and the discriminator
        :math:`f = \sum_{p} \alpha_p k(x_p, \cdot) + b` on the factor's pivots with
        factor coordinates ``w`` (:math:`\|f\|_{\mathcal H} = \|w\|`,
        :math:`f(x_i) = (Fw)_i`); default ``w`` the dual recovery :math:`F^\top\beta/C`.
        The gap is eq. (1.16) on the factor (for the dual recovery its first term
        vanishes: the KL form) plus :math:`\beta^\top(K - FF^\top)\beta/(2C) \ge 0`, the
        part of :math:`\beta^\top K\beta` the truncated factor leaves out; each term is
        non-negative, so nothing cancels.

        Parameters
        ----------
        lam : torch.Tensor or numpy.ndarray, shape (N,), float64
            Dual feasible multipliers.
        slack : torch.Tensor or numpy.ndarray, shape (N,), optional
            ``a - lam`` without cancellation. Default None: formed here.
        ops : type, default TorchOps
            The arithmetic back end.
        w : torch.Tensor or numpy.ndarray, shape (rank,), optional
            Factor coordinates of the discriminator. Default None: the dual recovery.
        b : float, optional
            The bias paired with ``w``. Default None: the best bias.

        Returns
        -------
        tuple
            ``(primal_value, dual_value, gap, w, b)``: :math:`P` of eq. (1.21) at ``f``,
            :math:`D(\lambda)` on ``K``, their gap, ``w`` (a tensor) and ``b``.
        """
        primal, dual, gap, w, b = super().certificate(lam, slack, ops=ops, w=w, b=b)
        if self.truncated:
            dual = dual - self._left_out(lam)[0] / (2.0 * self.C)
            gap = gap + self.gap_extra(lam)
        return primal, dual, gap, w, b

    def gap_function(self, ops):
        """``gap(lam, slack)`` on the back end's arrays: :meth:`certificate`'s gap (used inside the solvers' loops).

        Parameters
        ----------
        ops : object
            The array back end of the solver.

        Returns
        -------
        callable
            ``gap(lam, slack) -> float``, eq. (1.23) of the theory page.
        """
        base = super().gap_function(ops)
        if not self.truncated:
            return base

        def gap(lam, slack):
            return base(lam, slack) + self.gap_extra(ops.to_torch(lam, self.a))
        return gap

    def gap_extra(self, lam) -> float:
        r"""An upper bound on :math:`\beta^\top(K - FF^\top)\beta/(2C)`, the truncation's part of the gap (eq. (1.23)).

        Zero without truncation. The quadratic form is computed as
        :math:`\beta^\top K\beta - \|F^\top\beta\|^2` and its rounding bound
        :math:`8u\,|\beta|^\top|K||\beta|` is added (it is non-negative in exact
        arithmetic, so a negative rounding is never subtracted).

        Parameters
        ----------
        lam : torch.Tensor or numpy.ndarray
            Shape ``(N,)``, float64: the multipliers.

        Returns
        -------
        float
            The bound, >= 0.
        """
        if not self.truncated:
            return 0.0
        q, size = self._left_out(lam)
        return (max(q, 0.0) + 8 * 2.0 ** -53 * size) / (2.0 * self.C)

    def _left_out(self, lam) -> tuple[float, float]:
        r""":math:`\beta^\top(K - FF^\top)\beta` (:math:`\beta = y\odot\lambda`) and :math:`|\beta|^\top|K||\beta|`."""
        lam = torch.as_tensor(lam, dtype=torch.float64).to(self.device)
        beta = self.y * lam
        v = self.G.T @ lam
        Kb = self.K @ beta
        if self._abs_K is None:  # |K| once per problem (K itself for kernels with non-negative values)
            self._abs_K = self.K if bool((self.K >= 0).all()) else self.K.abs()
        return float(beta @ Kb - v @ v), float(beta.abs() @ (self._abs_K @ beta.abs()) + v @ v)

    def scaled(self, s: float, t: float = 1.0) -> "KernelDual":
        """The same problem in other units (:meth:`LinearDual.scaled`); the Gram matrix is scaled by ``t**2``.

        Parameters
        ----------
        s : float
            The factor of the weights, > 0.
        t : float, default 1.0
            The factor of the features (the Gram matrix takes ``t**2``), > 0.

        Returns
        -------
        KernelDual
            The rescaled problem.
        """
        other = super().scaled(s, t)
        if t != 1.0:
            other.K = self.K * (t * t)
        return other

    # ------------------------------------------------------------------ the discriminator
    def coefficients(self, result: DualResult) -> tuple[torch.Tensor, float | None]:
        r"""The expansion :math:`f = \sum_j \alpha_j k(x_j, \cdot) + b` of a result's discriminator (eq. (1.22)).

        :math:`\alpha` is supported on the factor's pivots,
        :math:`\alpha_p = L_p^{-\top} w` (:math:`L_p` the pivot rows of the factor);
        without truncation it is the dual recovery :math:`\alpha = y\odot\lambda/C`
        (to rounding).

        Parameters
        ----------
        result : DualResult
            A result of :func:`~dualgan.duals.solve` on this problem.

        Returns
        -------
        tuple of (torch.Tensor, float or None)
            :math:`\alpha`, shape ``(N,)``, float64 (zero off the pivots), and the bias.

        Raises
        ------
        ValueError
            If ``result.w`` does not have ``rank`` entries (a result of another problem).
        """
        w = torch.as_tensor(result.w, dtype=torch.float64).to(self.device).reshape(-1)
        alpha = torch.zeros(self.N, dtype=torch.float64, device=self.device)
        if self.rank == 0:
            return alpha, result.b
        if w.shape[0] != self.rank:
            raise ValueError(f"result.w has {w.shape[0]} entries but this problem's factor has rank {self.rank}; "
                             f"pass a result of this problem")
        alpha[self.pivots] = torch.linalg.solve_triangular(self._pivot_factor.T, w[:, None], upper=True)[:, 0]
        return alpha, result.b

    def decision_function(self, result: DualResult, x=None, gram=None) -> torch.Tensor:
        r"""The discriminator :math:`f(x) = \sum_j \alpha_j k(x_j, x) + b` of a result (eq. (1.22) of the theory page).

        Parameters
        ----------
        result : DualResult
            A result of :func:`~dualgan.duals.solve` on this problem.
        x : array_like or torch.Tensor, optional
            New samples, shape ``(B, D)`` (needs the problem's kernel).
        gram : array_like or torch.Tensor, optional
            Instead of ``x``: the cross-Gram rows :math:`k(x, x_j)`, shape ``(B, N)``.
            Default (neither given): the ``N`` samples of the problem, :math:`(Fw)_i + b`.

        Returns
        -------
        torch.Tensor
            Shape ``(B,)``, float64: the scores (positive: real).

        Raises
        ------
        ValueError
            If both ``x`` and ``gram`` are given, ``x`` is given to a problem built
            from a Gram matrix, or a shape does not match.
        """
        if x is not None and gram is not None:
            raise ValueError("give x (new samples) or gram (their cross-Gram rows), not both")
        b = 0.0 if result.b is None else float(result.b)
        if x is None and gram is None:
            w = torch.as_tensor(result.w, dtype=torch.float64).to(self.device)
            return (self.y * (self.G @ w) if self.rank else torch.zeros(self.N, dtype=torch.float64)) + b
        if x is not None:
            if self.kernel is None:
                raise ValueError("this problem was built from a Gram matrix and has no kernel; pass gram= (rows "
                                 "k(x, x_j), shape (B, N))")
            xs = check_matrix(detached(x), "x", dtype=torch.float64, device=self.device)
            if xs.shape[1] != self.x.shape[1]:
                raise ValueError(f"x must have D = {self.x.shape[1]} columns, as the problem's samples, got "
                                 f"{xs.shape[1]}")
            with torch.no_grad():
                gram = self.kernel.gram(xs, self.x)
        gram = check_matrix(detached(gram), "gram", dtype=torch.float64, device=self.device)
        if gram.shape[1] != self.N:
            raise ValueError(f"gram must have N = {self.N} columns (one per sample of the problem), got "
                             f"{gram.shape[1]}")
        alpha, _ = self.coefficients(result)
        return gram @ alpha + b

    def initial_point(self, lam0=None):
        """A strictly feasible start (as :meth:`LinearDual.initial_point`), never from another problem's ``w``.

        A :class:`DualResult` starts from its multipliers (its ``w`` holds factor
        coordinates, which mean nothing on another Gram matrix).

        Parameters
        ----------
        lam0 : DualResult or array_like or tuple, optional
            The warm start. Default None: :math:`a/2`.

        Returns
        -------
        tuple of torch.Tensor
            ``(lam, slack)``, each ``(N,)`` float64, strictly inside the box.

        Raises
        ------
        ValueError
            As :meth:`LinearDual.initial_point`.
        """
        if isinstance(lam0, DualResult):
            if lam0.lam_real.shape[0] + lam0.lam_fake.shape[0] != self.N:
                return super().initial_point(None)
            lam0 = (lam0.lam_real, lam0.lam_fake)
        return super().initial_point(lam0)


def kernel_dual_objective(x_real: torch.Tensor, x_fake: torch.Tensor, lam_real, lam_fake, kernel, C: float,
                          loss: str = "logistic", weights=None) -> torch.Tensor:
    r"""Differentiable :math:`D(\lambda;\theta) = -\beta^\top K\beta/(2C) + S(\lambda)` at fixed multipliers (eq. (1.24)).

    The kernel counterpart of :func:`~dualgan.duals.dual_objective`: gradients
    flow into ``x_fake`` (and ``x_real``) through the kernel; at the optimal
    multipliers its gradient is that of the optimal value (Danskin). With
    :math:`\lambda = a/2` it is :math:`-\mathrm{MMD}_b^2/(8C)` plus a constant, the
    (biased) squared MMD of the kernel.

    Parameters
    ----------
    x_real : torch.Tensor
        Shape ``(n, D)``: real samples.
    x_fake : torch.Tensor
        Shape ``(m, D)``: generated samples (gradients flow into them).
    lam_real : numpy.ndarray or torch.Tensor
        Shape ``(n,)``: multipliers of the real samples, in ``[0, a_i]`` (constants).
    lam_fake : numpy.ndarray or torch.Tensor
        Shape ``(m,)``: multipliers of the generated samples (constants).
    kernel : dualgan.kernels.Kernel or str
        The kernel, with numeric bandwidths (a ``"median"`` one is resolved on the
        detached samples, so no gradient flows through the bandwidth), or the name of
        one in :data:`~dualgan.kernels.KERNELS`, built with its defaults.
    C : float
        L2 weight of the primal, > 0.
    loss : str, default "logistic"
        ``"logistic"`` or ``"hinge"``.
    weights : tuple of array_like, optional
        ``(weights_real, weights_fake)``. Default None: ``1/n``, ``1/m``.

    Returns
    -------
    torch.Tensor
        0-d, in the dtype and device of ``x_fake``.

    Raises
    ------
    ValueError
        If ``C`` is not > 0, ``loss`` is unknown, the shapes do not match, a
        multiplier is not finite or outside its box ``[0, a_i]``, or ``weights`` is
        not a pair of finite positive vectors of lengths n and m.
    TypeError
        If a batch is not a floating-point torch tensor, or ``kernel`` is neither a kernel nor a registered name.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing GANs.* NeurIPS 2017.
    John M. Danskin. *The Theory of Max-Min.* Springer, 1967.
    """
    C, lam, a = _fixed_multipliers(x_real, x_fake, lam_real, lam_fake, C, loss, weights,
                                   names=("x_real", "x_fake", "D"))
    kernel = _checked_kernel(kernel)  # a name, as KernelDual takes it (was AttributeError on 'needs_resolve')
    n, dtype = x_real.shape[0], x_fake.dtype
    x = torch.cat([x_real.to(dtype), x_fake])
    kern = kernel.resolve(x.detach()) if kernel.needs_resolve else kernel
    beta = torch.cat([lam[:n], -lam[n:]]).to(dtype)
    quadratic = beta @ (kern(x, x) @ beta)
    ops = ops_for(x_fake.device)
    lam_, a_ = ops.to_backend(lam), ops.to_backend(a)
    return -quadratic / (2.0 * C) + separable_term(ops, lam_, a_ - lam_, a_, loss)


def pivoted_cholesky(K: np.ndarray, rtol: float = DEFAULT_FACTOR_RTOL) -> tuple[np.ndarray, np.ndarray, int]:
    r"""Rank-revealing factor :math:`K \approx FF^\top` by LAPACK's pivoted Cholesky (``dpstrf``).

    The factor is exact on the pivot rows and columns; the remainder
    :math:`K - FF^\top` is the positive semi-definite Schur complement whose
    diagonal is at most ``rtol * max(diag K)`` (eq. (1.23) of the theory page).

    Parameters
    ----------
    K : numpy.ndarray
        Shape ``(N, N)``, float64, symmetric positive semi-definite.
    rtol : float, default 1e-14
        Pivots at most ``rtol * max(diag K)`` are left out; in (0, 1).

    Returns
    -------
    tuple
        ``F`` of shape ``(N, max(rank, 1))`` (one zero column for a zero ``K``),
        the pivot order (0-based, length N) and the rank.
    """
    N = K.shape[0]
    top = float(np.max(np.diag(K))) if N else 0.0
    if not top > 0:
        return np.zeros((N, 1)), np.arange(N), 0
    c, piv, rank, info = sla.lapack.dpstrf(np.array(K, dtype=np.float64, order="F"), tol=rtol * top, lower=1,
                                           overwrite_a=True)  # the copy above is its own: no second copy
    if info < 0:  # pragma: no cover - an argument error of the call above
        raise ValueError(f"dpstrf refused its argument {-info}")
    piv = piv - 1
    L = np.tril(c[:, :rank])
    F = np.empty((N, rank))
    F[piv] = L
    return F, piv, int(rank)


def _checked_kernel(kernel):
    """``kernel`` itself, or the kernel registered under that name built with its defaults (``"deep"`` has none:
    the error says so); anything else is a TypeError naming the choices."""
    from ..kernels import KERNELS, Kernel

    if isinstance(kernel, str):
        cls = KERNELS.get(kernel)
        try:
            kernel = cls()
        except TypeError as exc:
            raise ValueError(f"kernel {kernel!r} cannot be built from its name alone ({exc}); pass an instance, "
                             f"e.g. DeepKernel(features, RBFKernel()) for 'deep'") from exc
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a dualgan.kernels.Kernel or a name of {KERNELS.names()}, got "
                        f"{type(kernel).__name__}")
    return kernel


#: the name train/kernel.py imports (a name given there is checked the same way)
_kernel_by_name = _checked_kernel
