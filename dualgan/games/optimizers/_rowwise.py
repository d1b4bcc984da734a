"""Row-wise products of batched tensors, shared by the batched steps and the batched runner.

Unrolled for small games: torch's reductions over an inner dimension of 2 cost more than a few elementwise
operations.
"""
from __future__ import annotations

import torch

_UNROLL = 8


def rowdot(a, b):
    """Row-wise inner products of (B, n) tensors: (B,)."""
    if a.shape[1] <= _UNROLL:
        out = a[:, 0] * b[:, 0]
        for j in range(1, a.shape[1]):
            out = out + a[:, j] * b[:, j]
        return out
    return (a * b).sum(dim=1)


def rownorm(a):
    """Row-wise Euclidean norms of a (B, n) tensor: (B,)."""
    return rowdot(a, a).sqrt() if a.shape[1] <= _UNROLL else torch.linalg.vector_norm(a, dim=1)


def matvec(J, U):
    """Row-wise J u for J (B, n, m), U (B, m): (B, n)."""
    if J.shape[2] <= _UNROLL:
        out = J[:, :, 0] * U[:, 0:1]
        for j in range(1, J.shape[2]):
            out = out + J[:, :, j] * U[:, j:j + 1]
        return out
    return torch.einsum("bij,bj->bi", J, U)


def rmatvec(J, U):
    """Row-wise J^T u for J (B, n, m), U (B, n): (B, m)."""
    return matvec(J.transpose(1, 2), U)
