"""Array back ends for the Newton solvers: numpy/LAPACK on the CPU, torch on CUDA.

The solvers are written once against this small set of operations. On the CPU
numpy's per-call overhead is several times lower than torch's, which matters
for the small dense problems of GAN training (N ~ 200, d ~ 100), where each
Newton iteration costs well under a millisecond; on a GPU the torch back end
keeps everything on the device.
"""
from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg as sla
import torch
from scipy.special import expit, xlogy

from .._threads import thread_policy

__all__ = ["NumpyOps", "TorchOps", "ops_for"]

_potrf, _potrs = sla.lapack.dpotrf, sla.lapack.dpotrs


class NumpyOps:
    """Operations on float64 numpy arrays."""

    name = "numpy"

    @staticmethod
    def thread_limit(flops_per_iteration: float):
        """The library's thread policy (:func:`dualgan._threads.thread_policy`) for a solve on the CPU.

        One policy for every size: at N ~ 200, d ~ 100 a multi-threaded BLAS only adds
        synchronisation, and on a loaded machine its spinning threads can make a solve hundreds
        of times slower; at image scale (N ~ 256, d ~ 2e4) one thread was as fast as two with a
        competing process. A user's own setting wins (see :mod:`dualgan._threads`); inside a
        trainer's ``fit`` or :func:`dualgan.duals.solve` it changes nothing.
        ``flops_per_iteration`` is kept for the callers (the torch back end ignores it too).
        """
        return thread_policy()
    log, exp, sqrt, where = staticmethod(np.log), staticmethod(np.exp), staticmethod(np.sqrt), staticmethod(np.where)
    expm1, log1p, abs = staticmethod(np.expm1), staticmethod(np.log1p), staticmethod(np.abs)
    xlogy, sigmoid = staticmethod(xlogy), staticmethod(expit)
    zeros_like, ones_like, maximum = staticmethod(np.zeros_like), staticmethod(np.ones_like), staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)

    @staticmethod
    def softplus(x):
        return np.logaddexp(0.0, x)

    @staticmethod
    def stack_cols(cols):
        return np.stack(cols, axis=1)

    @staticmethod
    def all_finite(x) -> bool:
        return bool(np.isfinite(x).all())

    @staticmethod
    def copy(x):
        return x.copy()

    @staticmethod
    def gram_t(G, weights):
        """G^T diag(weights) G via a symmetric rank-k update (upper triangle filled)."""
        Gs = G * np.sqrt(weights)[:, None]
        return sla.blas.dsyrk(1.0, Gs, trans=1)

    @staticmethod
    def cholesky(M, shift: float = 0.0):
        """Upper Cholesky factor of M + shift I (uses M's upper triangle); None if not PD.

        LAPACK's dpotrf directly: scipy's cho_factor wrapper costs more than the
        factorisation itself at d ~ 100.
        """
        if shift:
            M.flat[:: M.shape[0] + 1] += shift
        U, info = _potrf(M, lower=0, clean=0, overwrite_a=1)
        return U if info == 0 else None

    @staticmethod
    def cho_solve(factor, rhs):
        x, info = _potrs(factor, rhs, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"dpotrs failed with info={info}")
        return x

    @staticmethod
    def diag_add(M, value):
        M.flat[:: M.shape[0] + 1] += value
        return M

    @staticmethod
    def to_backend(t: torch.Tensor):
        return t.detach().cpu().numpy()

    @staticmethod
    def to_torch(x, like: torch.Tensor):
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)


class TorchOps:
    """Operations on float64 torch tensors (any device)."""

    name = "torch"

    @staticmethod
    def thread_limit(flops_per_iteration: float):
        return contextlib.nullcontext()
    log, exp, sqrt, where = staticmethod(torch.log), staticmethod(torch.exp), staticmethod(torch.sqrt), staticmethod(torch.where)
    expm1, log1p, abs = staticmethod(torch.expm1), staticmethod(torch.log1p), staticmethod(torch.abs)
    xlogy, sigmoid = staticmethod(torch.xlogy), staticmethod(torch.sigmoid)
    zeros_like, ones_like, maximum = staticmethod(torch.zeros_like), staticmethod(torch.ones_like), staticmethod(torch.maximum)
    minimum = staticmethod(torch.minimum)

    @staticmethod
    def softplus(x):
        # log(1 + e^x) to full precision everywhere (torch's softplus returns x itself above 20, an
        # absolute error of up to 2e-9 per term, which the gap of eq. (1.16) would see)
        return torch.logaddexp(x, torch.zeros_like(x))

    @staticmethod
    def stack_cols(cols):
        return torch.stack(cols, dim=1)

    @staticmethod
    def all_finite(x) -> bool:
        return bool(torch.isfinite(x).all())

    @staticmethod
    def copy(x):
        return x.clone()

    @staticmethod
    def gram_t(G, weights):
        return G.T @ (G * weights[:, None])

    @staticmethod
    def cholesky(M, shift: float = 0.0):
        if shift:
            M = M + shift * torch.eye(M.shape[0], dtype=M.dtype, device=M.device)
        L, info = torch.linalg.cholesky_ex(M)
        return None if int(info) != 0 else L

    @staticmethod
    def cho_solve(factor, rhs):
        if rhs.ndim == 1:
            return torch.cholesky_solve(rhs[:, None], factor)[:, 0]
        return torch.cholesky_solve(rhs, factor)

    @staticmethod
    def diag_add(M, value):
        M.diagonal().add_(value)
        return M

    @staticmethod
    def to_backend(t: torch.Tensor):
        return t

    @staticmethod
    def to_torch(x, like: torch.Tensor):
        return x


def ops_for(device) -> type:
    """numpy on the CPU, torch elsewhere (CUDA)."""
    return NumpyOps if torch.device(device).type == "cpu" else TorchOps
