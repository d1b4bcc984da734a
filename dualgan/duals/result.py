"""The one result record every dual solver returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DualResult", "DualSolverWarning"]


class DualSolverWarning(RuntimeWarning):
    """Emitted when a dual solver stops without certifying ``gap <= tol``."""


@dataclass(frozen=True)
class DualResult:
    r"""Solution of the linear-discriminator dual (eqs. (1.3)-(1.5) of the theory page, docs/theory.md).

    ``lam_real`` and ``lam_fake`` are the dual variables of the real and the
    generated samples (numpy arrays for numpy input, tensors on the input's
    device otherwise); ``w = v(lambda)/C`` and ``b`` are the recovered primal
    discriminator (``b`` is None without bias). ``gap = primal_value -
    dual_value`` is the duality gap certificate, >= 0 up to rounding.

    ``status`` is ``"converged"`` when ``gap <= tol``; otherwise it says why the
    solver stopped (``"max_iter"``, ``"stalled"``, ``"failed: ..."``).
    ``slack`` holds ``a - lambda`` (real then fake), computed without
    cancellation, so that a warm start near the upper bound stays exact.
    """

    lam_real: Any
    lam_fake: Any
    w: Any
    b: float | None
    dual_value: float
    primal_value: float
    gap: float
    iterations: int
    seconds: float
    status: str
    method: str
    loss: str = "logistic"
    C: float = float("nan")
    tol: float = float("nan")
    slack: Any = field(default=None, repr=False)
    gap_trace: tuple[float, ...] = field(default=(), repr=False)

    @property
    def converged(self) -> bool:
        """True when the solver certified ``gap <= tol``."""
        return self.status == "converged"

    @property
    def lam(self):
        """All dual variables, real first then generated."""
        import numpy as np
        import torch

        if isinstance(self.lam_real, torch.Tensor):
            return torch.cat([self.lam_real, self.lam_fake])
        return np.concatenate([self.lam_real, self.lam_fake])
