r"""The kernel dual GAN: an exact discriminator in a reproducing-kernel Hilbert space (eqs. (1.21)-(1.25) of the theory page, docs/theory.md).

:class:`KernelDualGAN` (registered as ``"kernel_dual"``) is
:class:`~dualgan.train.DualLinearGAN` with the feature map replaced by a
kernel: at every iteration the discriminator
:math:`f = \sum_j y_j\lambda_j k(x_j, \cdot)/C` is solved exactly through the
certified dual on the batch's Gram matrix (:class:`~dualgan.duals.KernelDual`),
and the generator ascends :math:`g(\theta) = \max_\lambda D(\lambda;\theta)` with
Danskin's gradient through the kernel (:func:`~dualgan.duals.kernel_dual_objective`).
``weights="mmd"`` fixes :math:`\lambda = a/2` instead of solving: the objective
is then :math:`-\mathrm{MMD}_b^2/(8C)` plus a constant (eq. (1.25)), the MMD GAN
of the same kernel, so the two settings isolate what solving the dual adds.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from .._checks import check_choice
from ..duals import DualResult, KernelDual
from ..duals.kernel import _kernel_by_name
from ..duals._backend import TorchOps
from ..duals._primal import kl_terms
from ..status import Status, StatusCode
from .base import TRAINERS
from .linear import DualLinearGAN

__all__ = ["KernelDualGAN", "DUAL_WEIGHTS"]

#: the multipliers of :class:`KernelDualGAN`: solved (``"optimal"``) or fixed at a/2 (``"mmd"``)
DUAL_WEIGHTS = ("optimal", "mmd")


class _KernelInputs(nn.Module):
    """The samples flattened to rows ``(B, d)``, holding the kernel (checkpoints fingerprint it; ``.to(device)``
    moves it). Images ``(B, C, H, W)`` of an image generator become rows of ``C*H*W`` pixels, the rows the
    kernels and :class:`~dualgan.duals.KernelDual` take (they refused 4-D batches before)."""

    def __init__(self, kernel: nn.Module):
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) if x.dim() > 2 else x


@TRAINERS.register("kernel_dual")
class KernelDualGAN(DualLinearGAN):
    r"""Dual GAN with a kernel discriminator solved exactly (eqs. (1.21)-(1.25) of the theory page).

    The trainer protocol, modes, history columns and fixed-batch monotone ascent
    are those of :class:`~dualgan.train.DualLinearGAN`; the discriminator is the
    kernel machine of :class:`~dualgan.duals.KernelDual` on the batch (n real and
    n generated samples), with ``objective`` the dual value on the Gram matrix. A
    ``"median"`` bandwidth is resolved on the real samples of each batch (once in
    fixed mode), so the objective of a fixed batch is one function of the generator.
    With ``weights="mmd"``, ``inner_iterations`` is 0 and ``inner_gap`` is the
    duality gap of the pair (:math:`\lambda = a/2`, its recovered discriminator):
    how far the MMD weights are from the optimal ones.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples ``(B, D)``; float64 recommended. Samples of more
        dimensions (images ``(B, C, H, W)`` of :func:`~dualgan.models.dcgan_generator`) are flattened to
        rows ``(B, C*H*W)`` for the kernel, real and generated alike; a
        :class:`~dualgan.kernels.DeepKernel` on images therefore takes a network that starts with
        ``torch.nn.Unflatten(1, (C, H, W))``.
    kernel : dualgan.kernels.Kernel or str
        The kernel (an instance, or a name of :data:`dualgan.kernels.KERNELS`
        built with its defaults); it is not trained.
    C : float, default 1e-4
        L2 weight of the discriminator's RKHS norm (> 0), eq. (1.21).
    latent_dim : int
        Dimension of the generator's input (>= 1).
    batch_size : int, default 200
        Real and generated samples per iteration (n = m).
    mode : str, default "minibatch"
        ``"fixed"`` (one batch, monotone ascent) or ``"minibatch"``.
    generator_lr : float, default 1e-2
        Adam step size of the generator.
    beta1 : float, default 0.5
        Adam's first-moment decay, in [0, 1).
    generator_optimizer : callable, optional
        ``params -> torch.optim.Optimizer`` replacing Adam (not with the fixed-batch L-BFGS ascent).
    noise : str, default "normal"
        ``"normal"`` or ``"uniform"`` generator input.
    constraint : ConstraintHandler, optional
        A handler of :mod:`dualgan.constraints`. Default None.
    seed : int, default 0
        Seeds the sampling of data and noise.
    loss : str, default "logistic"
        ``"logistic"`` or ``"hinge"``.
    tol : float, optional
        Duality-gap tolerance of every solve. Default None: 1e-10 (fixed), 1e-6 (minibatch).
    solver : str, default "newton"
        A method of :func:`dualgan.duals.solve` for ``loss``.
    max_backtracks : int, default 30
        Fixed mode with Adam: backtracking steps (see :class:`~dualgan.train.DualLinearGAN`).
    shrink : float, default 0.5
        The backtracking factor, in (0, 1).
    fixed_optimizer : str, default "lbfgs"
        Fixed mode: ``"lbfgs"`` or ``"adam"``.
    lbfgs_history : int, default 20
        Curvature pairs kept by L-BFGS (>= 1).
    w_rtol : float, default inf
        Relative bound on the discriminator's certified RKHS error (eq. (1.6)); ``inf``: the gap alone.
    solver_options : dict, optional
        The solver's own options. Default None.
    weights : str, default "optimal"
        ``"optimal"`` (solve the dual) or ``"mmd"`` (:math:`\lambda = a/2`: the MMD GAN).

    Raises
    ------
    ValueError
        As :class:`~dualgan.train.DualLinearGAN`, or for an unknown ``weights`` or kernel name.
    TypeError
        If ``kernel`` is not a :class:`~dualgan.kernels.Kernel` or a name.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing GANs.* NeurIPS 2017.
    Yujia Li, Kevin Swersky, Richard Zemel. *Generative Moment Matching Networks.* ICML 2015.
    Gintare Karolina Dziugaite, Daniel M. Roy, Zoubin Ghahramani. *Training Generative Neural Networks
    via Maximum Mean Discrepancy Optimization.* UAI 2015.

    Examples
    --------
    >>> import torch
    >>> from dualgan.data import ring
    >>> from dualgan.kernels import RBFKernel
    >>> from dualgan.train import KernelDualGAN, mlp_generator
    >>> gan = KernelDualGAN(mlp_generator(dtype=torch.float64), RBFKernel(sigma=(0.2, 1.0)), C=1e-2,
    ...                     latent_dim=2, batch_size=64, mode="fixed")
    >>> gan.fit(ring(5, std=0.1), iterations=3).is_monotone(tol=1e-9)
    True
    """

    kind = "kernel_dual"

    def __init__(self, generator: nn.Module, kernel, *, C: float = 1e-4, latent_dim: int, batch_size: int = 200,
                 mode: str = "minibatch", generator_lr: float = 1e-2, beta1: float = 0.5, generator_optimizer=None,
                 noise: str = "normal", constraint=None, seed: int = 0, loss: str = "logistic",
                 tol: float | None = None, solver: str = "newton", max_backtracks: int = 30, shrink: float = 0.5,
                 fixed_optimizer: str = "lbfgs", lbfgs_history: int = 20, w_rtol: float = float("inf"),
                 solver_options: dict | None = None, weights: str = "optimal"):
        from ..kernels import KERNELS, Kernel

        if isinstance(kernel, str):
            kernel = _kernel_by_name(kernel)
        if not isinstance(kernel, Kernel):
            raise TypeError(f"kernel must be a dualgan.kernels.Kernel or a name of {KERNELS.names()}, got "
                            f"{type(kernel).__name__}")
        self.weights = check_choice(weights, "weights", DUAL_WEIGHTS)
        self.kernel = kernel
        super().__init__(generator, _KernelInputs(kernel), C=C, latent_dim=latent_dim, batch_size=batch_size,
                         mode=mode, generator_lr=generator_lr, beta1=beta1, generator_optimizer=generator_optimizer,
                         noise=noise, constraint=constraint, seed=seed, loss=loss, tol=tol, solver=solver,
                         max_backtracks=max_backtracks, shrink=shrink, fixed_optimizer=fixed_optimizer,
                         lbfgs_history=lbfgs_history, w_rtol=w_rtol, solver_options=solver_options)
        self._resolved = None  # (real batch, kernel with its median resolved on it)
        self._real_now = None

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(kernel=" ".join(repr(self.kernel).split()), weights=self.weights)
        return meta

    def _kernel_for(self, x_real: torch.Tensor):
        """The kernel with its median bandwidth resolved on this real batch (cached while the batch is the same)."""
        if not self.kernel.needs_resolve:
            return self.kernel
        if self._resolved is None or self._resolved[0] is not x_real:
            self._resolved = (x_real, self.kernel.resolve(x_real.detach()))
        return self._resolved[1]

    def _solve(self, phi_real, phi_fake, warm):
        kernel = self._kernel_for(phi_real)
        self._real_now = phi_real.detach()
        if self.weights == "mmd":
            return self._mmd_result(phi_real.detach(), phi_fake.detach(), kernel)
        problem = KernelDual(phi_real.detach(), phi_fake.detach(), kernel, self.C, loss=self.loss)
        if isinstance(warm, DualResult):  # multipliers only: a w holds coordinates of another batch's factor
            warm = (warm.lam_real, warm.lam_fake) if warm.lam_real.shape[0] == problem.n else None
        return self._solve_problem(problem, warm)

    def _danskin_surrogate(self, phi_fake: torch.Tensor, res) -> torch.Tensor:
        r"""A scalar whose gradient is Danskin's :math:`\nabla_\theta D(\lambda^*;\theta)` through the kernel (eq. (1.24)).

        With :math:`\beta = y\odot\lambda` and the discriminator :math:`f = \sum_j \beta_j k(x_j, \cdot)/C`
        held fixed, :math:`\partial D/\partial\tilde x_j = \tilde\lambda_j\nabla f(\tilde x_j)` (k is symmetric,
        so both arguments of :math:`\beta^\top K\beta` contribute the same), hence
        :math:`\sum_j \tilde\lambda_j f(\tilde x_j)` has the gradient of
        :func:`~dualgan.duals.kernel_dual_objective` (the tests compare them) on the m generated rows of the
        Gram matrix instead of all N (a third of the cost with its backward pass). As for the linear
        discriminator, its value is not D: the trainer records the solver's certified ``dual_value``.
        """
        kernel = self._kernel_for(self._resolved[0]) if self._resolved is not None else self.kernel
        kw = dict(dtype=phi_fake.dtype, device=phi_fake.device)
        centres = torch.cat([self._real_now.to(**kw), phi_fake.detach()])
        lam_fake = res.lam_fake.detach().to(**kw)
        beta = torch.cat([res.lam_real.detach().to(**kw), -lam_fake])
        return lam_fake @ (kernel.gram(phi_fake, centres) @ beta) / self.C

    def _mmd_result(self, x_real: torch.Tensor, x_fake: torch.Tensor, kernel) -> DualResult:
        r"""The fixed multipliers :math:`\lambda = a/2` with their value and the gap of their pair (eq. (1.25))."""
        t0 = time.perf_counter()
        n, m = x_real.shape[0], x_fake.shape[0]
        x = torch.cat([x_real, x_fake]).to(torch.float64)
        with torch.no_grad():
            K = kernel.gram(x)
        kw = dict(dtype=torch.float64, device=x.device)
        y = torch.cat([torch.ones(n, **kw), -torch.ones(m, **kw)])
        a = torch.cat([torch.full((n,), 1.0 / n, **kw), torch.full((m,), 1.0 / m, **kw)])
        lam = 0.5 * a
        beta = y * lam
        Kb = K @ beta
        quadratic = float(beta @ Kb)
        margins = y * Kb / self.C  # of the recovered discriminator f = sum_j beta_j k(x_j, .) / C
        if self.loss == "hinge":
            hinge = torch.clamp(1.0 - margins, min=0.0)
            terms = hinge - 0.5 * (1.0 - margins)
            separable = float(lam.sum())
        else:
            terms = kl_terms(TorchOps, lam, a - lam, a, margins)
            separable = float(a.sum()) * math.log(2.0)
        gap = float(a @ terms)  # eq. (1.16) in its KL form: the recovered discriminator makes the residual 0
        dual = -quadratic / (2.0 * self.C) + separable
        status = Status(StatusCode.SUCCESS, "multipliers fixed at a/2 (the MMD objective; no inner problem solved)")
        return DualResult(lam_real=lam[:n], lam_fake=lam[n:], w=None, b=None, dual_value=dual,
                          primal_value=dual + gap, gap=gap, iterations=0, seconds=time.perf_counter() - t0,
                          status=status, method="mmd", loss=self.loss, C=self.C, slack=a - lam)

    def _load_extra_state(self, extra: dict) -> None:
        super()._load_extra_state(extra)
        self._resolved = None
