"""A seeded corpus of linear-discriminator duals of the kinds research code produces.

``corpus(seed, count)`` yields :class:`CorpusProblem` records: features of
different magnitudes (1e-4 to 1e4), L2 weights C from 1e-10 to 1e2 (with
``||phi||^2 / C`` at most 1e16), N from 2 to 4096 with d << N, d ~ N and
d >> N, overlapping and separable classes, duplicated and all-zero rows,
unequal n and m, logistic and hinge losses, with and without bias, and the
start each problem is solved from (cold, a warm start from a perturbed
problem, or a start pinned near the wrong face of the box).

Used by ``benchmarks/dual_robustness.py`` and, on a small seeded grid, by the
tests of the dual solvers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CorpusProblem", "corpus", "make_problem"]

SHAPES = ("d<<N", "d~N", "d>>N")
STARTS = ("cold", "warm", "wrong_face")


@dataclass(frozen=True)
class CorpusProblem:
    """One problem of the corpus: the features, C, loss, bias and start."""

    index: int
    phi_real: np.ndarray
    phi_fake: np.ndarray
    C: float
    loss: str
    bias: bool
    start: str
    shape: str
    scale: float
    separable: bool
    lam0: np.ndarray | None

    @property
    def N(self) -> int:
        return self.phi_real.shape[0] + self.phi_fake.shape[0]

    @property
    def d(self) -> int:
        return self.phi_real.shape[1]

    def describe(self) -> str:
        return (f"#{self.index} n={self.phi_real.shape[0]} m={self.phi_fake.shape[0]} d={self.d} "
                f"({self.shape}) scale={self.scale:.1e} C={self.C:.1e} {self.loss}"
                f"{'+bias' if self.bias else ''} {'separable' if self.separable else 'overlapping'} "
                f"start={self.start}")


def make_problem(index: int, seed: int = 0, max_N: int = 4096) -> CorpusProblem:
    """The ``index``-th problem of the corpus drawn with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    shape = SHAPES[index % 3]
    loss = ("logistic", "hinge")[(index // 3) % 2]
    bias = bool((index // 6) % 2)
    start = STARTS[(index // 12) % 3]
    # N log-uniform in [2, max_N]; small N more often (cheap), a few large ones
    N = int(round(np.exp(rng.uniform(np.log(2), np.log(max_N)))))
    N = max(N, 2)
    if shape == "d<<N":
        d = int(max(1, round(N * rng.uniform(0.01, 0.2))))
        N = max(N, d + 2)
    elif shape == "d~N":
        d = int(max(1, round(N * rng.uniform(0.7, 1.3))))
    else:
        d = int(max(2, round(N * rng.uniform(2, 5))))
    d = min(d, 4096)
    frac = rng.uniform(0.15, 0.85)
    n = int(min(max(1, round(N * frac)), N - 1))
    m = N - n
    separable = bool(rng.random() < 0.4)
    mu = rng.normal(size=d)
    mu /= np.linalg.norm(mu)
    gapsize = rng.uniform(3, 10) if separable else rng.uniform(0.0, 1.0)
    real = rng.normal(size=(n, d)) + 0.5 * gapsize * mu
    fake = rng.normal(size=(m, d)) - 0.5 * gapsize * mu
    if rng.random() < 0.5:  # positive, RBF-like features of a network
        real, fake = np.abs(real), np.abs(fake) * rng.uniform(0.2, 1.0)
    if rng.random() < 0.3 and n > 1:  # duplicated rows
        k = rng.integers(1, n)
        real[rng.integers(0, n, k)] = real[0]
    if rng.random() < 0.2:  # all-zero rows
        real[rng.integers(0, n)] = 0.0
        fake[rng.integers(0, m)] = 0.0
    scale = float(np.exp(rng.uniform(np.log(1e-4), np.log(1e4))))
    real, fake = real * scale, fake * scale
    norm2 = max(float((real ** 2).sum(1).max()), float((fake ** 2).sum(1).max()), 1e-300)
    logC = rng.uniform(np.log(1e-10), np.log(1e2))
    C = float(np.exp(max(logC, np.log(norm2) - np.log(1e16))))
    lam0 = None
    a = np.r_[np.full(n, 1.0 / n), np.full(m, 1.0 / m)]
    if start == "warm":  # the optimum of a nearby problem: lambda_i = a_i sigma(-y_i w'^T phi_i) for a perturbed w'
        u = rng.uniform(0.05, 0.95, N)
        lam0 = a * u
    elif start == "wrong_face":  # every multiplier pinned at 1e-12 of the face opposite to a plausible optimum
        G = np.vstack([real, -fake])
        margins = G @ (G.T @ (0.5 * a))
        lam0 = np.where(margins > np.median(margins), a * (1 - 1e-12), a * 1e-12)
    return CorpusProblem(index, real, fake, C, loss, bias, start, shape, scale, separable, lam0)


def corpus(seed: int = 0, count: int = 540, max_N: int = 4096):
    """Yield ``count`` problems (a multiple of 36 covers every combination of shape, loss, bias, start)."""
    for i in range(count):
        yield make_problem(i, seed, max_N)
