r"""Distances between sample sets in a feature space (eqs. (6.5) and (6.6) of the theory page, docs/theory.md).

* :func:`frechet_distance`: the Frechet distance between Gaussians fitted to
  the two feature sets (FID with the library's digits classifier instead of
  Inception),

  .. math:: \mathrm{FD} = \|\mu_x - \mu_y\|^2 + \mathrm{tr}\big(\Sigma_x + \Sigma_y - 2(\Sigma_x^{1/2}\Sigma_y\Sigma_x^{1/2})^{1/2}\big);

* :func:`kernel_mmd`: squared maximum mean discrepancy,

  .. math:: \mathrm{MMD}^2 = E k(x, x') + E k(y, y') - 2 E k(x, y),

  unbiased (U-statistic, diagonal terms left out; may be slightly negative)
  or biased (V-statistic, >= 0). Kernels: ``"polynomial"``
  :math:`(x^\top y / d + c)^p` (KID's cubic kernel with ``degree=3, coef0=1``),
  ``"rbf"`` :math:`\exp(-\|x-y\|^2 / (2\sigma^2))` (median heuristic for
  :math:`\sigma` by default) and ``"linear"`` :math:`x^\top y` (then the biased
  estimate is exactly :math:`\|\mu_x - \mu_y\|^2`).

``features`` chooses the feature map: ``"default"`` (or ``None``) uses the last hidden
layer (128 units) of :func:`dualgan.features.digits_classifier` for (B, 1, 8, 8)
or (B, 64) digit images in [0, 1]; ``"identity"`` uses the flattened samples;
any callable ``(B, ...) -> (B, d)`` (an ``nn.Module``) is applied in batches
without gradients; an ``nn.Module`` is evaluated in eval mode (dropout off,
BatchNorm on its running statistics, which do not move) and its sub-modules'
train/eval state is put back afterwards, so the features are one fixed
function of the samples, whatever ``batch_size`` is (eq. (7.1)). All
arithmetic is float64; the RBF kernel is evaluated as
:math:`\exp(-\tfrac12(\|x-y\|/\sigma)^2)`, finite for every bandwidth
(it tends to :math:`1[x = y]` as :math:`\sigma \to 0` and to 1 as
:math:`\sigma \to \infty`).

Both distances are symmetric in ``x`` and ``y``, exactly: the two feature sets
are put in a canonical order (by size, then by content) before any
arithmetic, so swapping the arguments gives the same float at every sample
size (the median heuristic's subsample included). ``batch_size`` must be a
positive integer.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch

from .._checks import (as_tensor, check_bool, check_choice, check_finite_tensor, check_int, check_number,
                       check_positive, detached)
from ..kernels.base import _power_of_two_scale
from ._evaluate import evaluate_in_batches

__all__ = ["FrechetResult", "MMDResult", "frechet_distance", "kernel_mmd", "embed", "default_digits_features"]


@dataclass(frozen=True)
class FrechetResult:
    """Frechet distance and its two parts (``distance = mean_term + covariance_term``).

    Attributes
    ----------
    distance : float
        The Frechet distance, eq. (6.5) of the theory page.
    mean_term : float
        :math:`\\|\\mu_x - \\mu_y\\|^2`.
    covariance_term : float
        The trace term.
    n_x : int
        Number of samples of ``x``.
    n_y : int
        Number of samples of ``y``.
    feature_dim : int
        Width of the feature space.
    """

    distance: float
    mean_term: float
    covariance_term: float
    n_x: int
    n_y: int
    feature_dim: int


@dataclass(frozen=True)
class MMDResult:
    """Squared MMD and the kernel that produced it.

    Attributes
    ----------
    mmd2 : float
        Squared MMD, eq. (6.6) of the theory page (the unbiased estimate may be slightly negative).
    kernel : str
        ``"polynomial"``, ``"rbf"`` or ``"linear"``.
    unbiased : bool
        Whether the U-statistic (True) or the V-statistic was computed.
    bandwidth : float or None
        RBF bandwidth :math:`\\sigma` used (None for the other kernels).
    n_x : int
        Number of samples of ``x``.
    n_y : int
        Number of samples of ``y``.
    feature_dim : int
        Width of the feature space.
    """

    mmd2: float
    kernel: str
    unbiased: bool
    bandwidth: float | None
    n_x: int
    n_y: int
    feature_dim: int

    @property
    def mmd(self) -> float:
        """:math:`\\sqrt{\\max(\\mathrm{MMD}^2, 0)}`."""
        return math.sqrt(max(self.mmd2, 0.0))


def frechet_distance(x, y, features="default", batch_size: int = 1024) -> FrechetResult:
    """Frechet distance between the feature sets of ``x`` and ``y`` (each needs >= 2 samples).

    Parameters
    ----------
    x : array_like or torch.Tensor
        First sample set, shape ``(n_x, ...)``, ``n_x >= 2``.
    y : array_like or torch.Tensor
        Second sample set, shape ``(n_y, ...)``, ``n_y >= 2``.
    features : str or callable, default "default"
        ``"default"`` (or None): the digits classifier's last hidden layer; ``"identity"``;
        or any ``(B, ...) -> (B, d)`` callable.
    batch_size : int, default 1024
        Samples per feature-map call.

    Returns
    -------
    FrechetResult
        The distance and its two terms (float64 arithmetic, computed at unit
        scale and scaled back, so features of magnitude 1e-150 or 1e150 lose
        no precision).

    Raises
    ------
    ValueError
        If a set has fewer than 2 samples, the feature widths differ, the
        samples or features are not finite, or the distance itself is beyond
        float64 (features of magnitude about 1e200: refused, never NaN).

    References
    ----------
    Eq. (6.5) of the theory page.

    Martin Heusel, Hubert Ramsauer, Thomas Unterthiner, Bernhard Nessler, Sepp
    Hochreiter. *GANs Trained by a Two Time-Scale Update Rule Converge to a
    Local Nash Equilibrium.* NeurIPS 2017.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    fx, fy, n_x, n_y = _feature_sets(x, y, features, batch_size)
    for n, name in ((n_x, "x"), (n_y, "y")):
        if n < 2:
            raise ValueError(f"{name} needs at least 2 samples to estimate a covariance, got {n}")
    # FD is homogeneous of degree 2: computed on the features divided by a power of two (exact), then scaled
    # back, so features of magnitude 1e200 (whose squares overflow) or 1e-200 (underflow) lose nothing
    scale = _power_of_two_scale(fx, fy)
    fx, fy = fx / scale, fy / scale
    mu_x, mu_y = fx.mean(0), fy.mean(0)
    cov_x, cov_y = torch.cov(fx.T).reshape(fx.shape[1], -1), torch.cov(fy.T).reshape(fy.shape[1], -1)
    mean_term = float(((mu_x - mu_y) ** 2).sum())
    # tr (S_x^{1/2} S_y S_x^{1/2})^{1/2} from symmetric eigendecompositions: no complex sqrtm round-off
    root_x = _psd_sqrt(cov_x)
    middle = root_x @ cov_y @ root_x
    eig = torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp(min=0.0)
    cov_term = float(torch.trace(cov_x) + torch.trace(cov_y) - 2.0 * eig.sqrt().sum())
    cov_term = max(cov_term, 0.0)   # it is >= 0 mathematically; clip round-off of order 1e-13
    mean_term, cov_term = mean_term * scale * scale, cov_term * scale * scale
    _check_representable(mean_term + cov_term, "the Frechet distance", scale)
    return FrechetResult(mean_term + cov_term, mean_term, cov_term, n_x, n_y, fx.shape[1])


def kernel_mmd(x, y, features="default", kernel: str = "polynomial", unbiased: bool = True,
               bandwidth: float | None = None, degree: int = 3, coef0: float = 1.0,
               batch_size: int = 1024) -> MMDResult:
    """Squared MMD between the feature sets of ``x`` and ``y`` (see the module docstring).

    Parameters
    ----------
    x : array_like or torch.Tensor
        First sample set, shape ``(n_x, ...)``.
    y : array_like or torch.Tensor
        Second sample set, shape ``(n_y, ...)``.
    features : str or callable, default "default"
        Feature map, as in :func:`frechet_distance`.
    kernel : str, default "polynomial"
        ``"polynomial"`` :math:`(x^\\top y/d + c_0)^p`, ``"rbf"`` or ``"linear"``.
    unbiased : bool, default True
        U-statistic (diagonal terms left out) if True, V-statistic otherwise.
    bandwidth : float or None, default None
        RBF bandwidth :math:`\\sigma`; None uses the median heuristic.
    degree : int, default 3
        Degree :math:`p` of the polynomial kernel.
    coef0 : float, default 1.0
        Constant :math:`c_0` of the polynomial kernel.
    batch_size : int, default 1024
        Samples per feature-map call.

    Returns
    -------
    MMDResult
        The squared MMD and the kernel's settings.

    Raises
    ------
    ValueError
        If an argument is out of range, the feature widths differ, the
        samples or features are not finite, or the squared MMD is beyond
        float64 (the polynomial or linear kernel of features of magnitude
        about 1e200: refused, never NaN; the RBF kernel is finite at every
        scale and bandwidth).

    References
    ----------
    Eq. (6.6) of the theory page.

    Arthur Gretton, Karsten M. Borgwardt, Malte J. Rasch, Bernhard Schölkopf,
    Alexander Smola. *A Kernel Two-Sample Test.* JMLR 13, 2012.

    Mikołaj Bińkowski, Danica J. Sutherland, Michael Arbel, Arthur Gretton.
    *Demystifying MMD GANs.* ICLR 2018 (the kernel inception distance).
    """
    check_choice(kernel, "kernel", ("polynomial", "rbf", "linear"))
    batch_size = check_int(batch_size, "batch_size", low=1)
    unbiased = check_bool(unbiased, "unbiased")
    coef0 = check_number(coef0, "coef0")
    fx, fy, n_x, n_y = _feature_sets(x, y, features, batch_size)
    n, m, d = fx.shape[0], fy.shape[0], fx.shape[1]
    if unbiased and (n < 2 or m < 2):
        raise ValueError(f"the unbiased MMD needs at least 2 samples per set, got {n} and {m}; "
                         f"pass unbiased=False for single samples")
    if kernel == "rbf":
        bandwidth = _median_bandwidth(torch.cat([fx, fy])) if bandwidth is None else check_positive(bandwidth, "bandwidth")
        scale = _power_of_two_scale(fx, fy)
        k = lambda a, b: _rbf_kernel(a, b, bandwidth, scale)
    elif kernel == "polynomial":
        degree = check_int(degree, "degree", low=1)
        k = lambda a, b: (a @ b.T / d + coef0) ** degree
        bandwidth = None
    else:
        bandwidth = None
    # the linear kernel is homogeneous of degree 2: its sums are taken at unit scale (a power of two, exact)
    unit = _power_of_two_scale(fx, fy) if kernel == "linear" else 1.0
    if kernel == "linear":
        fx, fy = fx / unit, fy / unit
        k = lambda a, b: a @ b.T
    sum_xx, diag_xx = _kernel_sums(k, fx, fx, batch_size, diagonal=True)
    sum_yy, diag_yy = _kernel_sums(k, fy, fy, batch_size, diagonal=True)
    sum_xy, _ = _kernel_sums(k, fx, fy, batch_size, diagonal=False)
    if unbiased:
        mmd2 = (sum_xx - diag_xx) / (n * (n - 1)) + (sum_yy - diag_yy) / (m * (m - 1)) - 2.0 * sum_xy / (n * m)
    else:
        mmd2 = sum_xx / n ** 2 + sum_yy / m ** 2 - 2.0 * sum_xy / (n * m)
    mmd2 = float(mmd2) * unit * unit
    _check_representable(mmd2, f"the squared MMD with the {kernel} kernel", _power_of_two_scale(fx, fy) * unit,
                         inputs_finite=all(math.isfinite(v) for v in (sum_xx, sum_yy, sum_xy)))
    return MMDResult(mmd2, kernel, bool(unbiased), bandwidth, n_x, n_y, d)


def embed(samples, features="default", name: str = "samples", batch_size: int = 1024) -> torch.Tensor:
    """Feature rows (float64, (B, d)) of ``samples`` under ``features`` (see the module docstring)."""
    batch_size = check_int(batch_size, "batch_size", low=1)
    t = as_tensor(detached(samples), name)
    if t.ndim < 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must have shape (batch, ...) with at least one sample, got {tuple(t.shape)}")
    check_finite_tensor(t, name)
    if features is None:
        features = "default"
    if isinstance(features, str):
        check_choice(features, "features", ("default", "identity"))
        if features == "identity":
            return t.flatten(1).to(torch.float64)
        features = default_digits_features()
        if t.ndim == 2 and t.shape[1] == 64:
            t = t.reshape(-1, 1, 8, 8)
    elif not callable(features):
        raise ValueError(f"features must be 'default', 'identity' or a callable (B, ...) -> (B, d), got {features!r}")

    def rows(chunk, out) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or out.shape[0] != chunk.shape[0]:
            raise ValueError(f"features must map a batch of B samples to a (B, d) tensor; got "
                             f"{getattr(out, 'shape', type(out).__name__)}")
        return out.flatten(1).to(torch.float64)

    # a feature network is a fixed function of the samples (eq. (7.1) of the theory page), so the features, and
    # the distance, do not depend on batch_size
    f = torch.cat(evaluate_in_batches(features, t, batch_size, rows))
    return check_finite_tensor(f, f"features({name})")


_DEFAULT_FEATURES = None


def default_digits_features():
    """Last hidden layer (``relu3``, 128 units) of the library's digits classifier (seed 0), loaded once."""
    global _DEFAULT_FEATURES
    if _DEFAULT_FEATURES is None:
        try:
            from ..features import ClassifierFeatures, digits_classifier
        except ImportError as exc:  # pragma: no cover - the features family ships with the package
            raise ValueError("the default features need dualgan.features.digits_classifier; pass features="
                             "'identity' or a callable feature map") from exc
        _DEFAULT_FEATURES = ClassifierFeatures(digits_classifier(seed=0), ["relu3"])
    return _DEFAULT_FEATURES


def _canonical(fx: torch.Tensor, fy: torch.Tensor):
    """``(fx, fy)`` or ``(fy, fx)``, the same pair whichever order they came in (size, then content hash)."""
    def key(f):
        return f.shape[0], hashlib.sha256(f.detach().cpu().contiguous().numpy().tobytes()).hexdigest()

    return (fx, fy) if key(fx) <= key(fy) else (fy, fx)


def _feature_sets(x, y, features, batch_size: int):
    """The feature rows of ``x`` and ``y`` (float64, one width) in :func:`_canonical` order, then ``n_x``, ``n_y``."""
    fx = embed(x, features, "x", batch_size)
    fy = embed(y, features, "y", batch_size)
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(f"x and y have different feature widths ({fx.shape[1]} and {fy.shape[1]}); "
                         f"pass samples of the same shape")
    n_x, n_y = fx.shape[0], fy.shape[0]
    return (*_canonical(fx, fy), n_x, n_y)


def _psd_sqrt(a: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(0.5 * (a + a.T))
    return (vecs * vals.clamp(min=0.0).sqrt()) @ vecs.T


def _check_representable(value: float, what: str, scale: float, inputs_finite: bool = True) -> None:
    """Refuse a distance that float64 cannot hold (an overflow, or inf - inf = NaN), naming the scale and the fix."""
    if math.isfinite(value) and inputs_finite:
        return
    raise ValueError(f"{what} of these samples is beyond float64 (features of magnitude about {scale:.3g}: "
                     f"the kernel values or the squared distances overflow); rescale the samples or the feature "
                     f"map (the RBF kernel is scale-free with its bandwidth scaled alike)")


def _rbf_kernel(a: torch.Tensor, b: torch.Tensor, bandwidth: float, scale: float) -> torch.Tensor:
    """:math:`\\exp(-\\tfrac12 (\\|a_i - b_j\\| / \\sigma)^2)` without underflow or overflow at any scale.

    ``d^2 / sigma^2`` fails both ways: squares of distances below 1e-154 underflow (a set of points at
    scale 1e-200 has every distance 0) and sigma^2 underflows to 0 (0 / 0 = NaN on the diagonal). Here the
    distances are taken at unit scale, ``d = scale * d_unit``, and ``d / sigma = d_unit * (scale / sigma)``,
    with ``scale / sigma = inf`` (sigma far below the points' scale) giving the limit ``1[a_i = b_j]``.
    """
    unit = torch.cdist(a / scale, b / scale)
    ratio = scale / bandwidth
    t = unit * ratio if math.isfinite(ratio) else torch.where(unit > 0, math.inf, 0.0).to(unit.dtype)
    return torch.exp(-0.5 * t * t)


def _median_bandwidth(f: torch.Tensor, max_points: int = 2000) -> float:
    sub = f[:max_points]
    scale = _power_of_two_scale(sub, sub)
    dist = torch.pdist(sub / scale) * scale  # at unit scale: no squares underflow for points of scale 1e-200
    med = float(dist.median()) if dist.numel() else 0.0
    if med <= 0:
        raise ValueError("the median heuristic found zero pairwise distance (identical samples); pass bandwidth=")
    return med


def _kernel_sums(k, a, b, batch_size, diagonal: bool):
    total, diag = 0.0, 0.0
    for i in range(0, a.shape[0], batch_size):
        block_a = a[i:i + batch_size]
        for j in range(0, b.shape[0], batch_size):
            block = k(block_a, b[j:j + batch_size])
            total += float(block.sum())
            if diagonal and i == j:
                diag += float(torch.diagonal(block).sum())
    return total, diag
