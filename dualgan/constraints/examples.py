r"""Worked examples: Gaussian mixtures on known hyperplanes and a plain constrained GAN loop.

* :func:`subspace_mixture`: k Gaussians inside an affine subspace
  ``A x = b`` of :math:`R^D` (noise drawn inside the subspace, so every
  real sample satisfies the equations to rounding);
* :func:`two_hyperplanes`: Gaussians on two hyperplanes of :math:`R^D`, with
  unequal shares (the modes of each hyperplane lie away from the other);
* :func:`train_constrained`: a small MLP generator trained against an MLP
  discriminator with any :mod:`dualgan.losses` loss (or by kernel moment
  matching, ``loss="mmd"``) with a constraint handler, following the handler
  protocol of :mod:`dualgan.constraints.base` exactly as the library's
  trainers do. It returns a :class:`ConstrainedRun`.

``benchmarks/constraints_compare.py`` compares the handlers on both examples.
"""
from __future__ import annotations


from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_choice, check_float_dtype, check_generator, check_int, check_positive
from ..data.toy import ModeCenters
from ..losses import LOSSES, get_loss
from ..metrics import CoverageReport, mode_coverage
from ..regularizers import R1
from ..status import Status, StatusCode
from ..train.base import Trainer
from ..train.generators import mlp as build_mlp
from .base import ConstraintState, NoConstraint, handler_penalty, handler_state
from .features import ResidualFeatures
from .projection import state_of
from .sets import AffineSubspace, HyperplaneUnion, Violation

LR_FLOOR = 0.01

__all__ = ["ConstrainedMixture", "subspace_mixture", "two_hyperplanes", "ConstrainedRun", "train_constrained",
           "mlp"]


@dataclass(frozen=True)
class ConstrainedMixture(ModeCenters):
    """Equal-weight Gaussian modes, each lying inside a known affine set.

    Mode ``i`` has centre ``centers[i]`` and noise ``std * bases[i] @ eps``
    with ``eps ~ N(0, I_p)``, where the orthonormal columns of ``bases[i]``
    (D, p) span the directions of the constraint piece the mode lies on.
    ``plane_of_mode[i]`` is that piece's index (0 for a subspace).
    """

    centers: torch.Tensor
    std: float
    bases: torch.Tensor
    plane_of_mode: tuple[int, ...]
    constraint: AffineSubspace | HyperplaneUnion
    name: str

    def plane_shares(self) -> tuple[float, ...]:
        """Each piece's share of the data (equal mode weights)."""
        K = max(self.plane_of_mode) + 1
        return tuple(self.plane_of_mode.count(k) / self.n_modes for k in range(K))

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32, device=None):
        """Draw ``n`` samples (float64 arithmetic, then cast)."""
        n, generator = check_int(n, "n", low=1), check_generator(generator)
        dtype = check_float_dtype(dtype)  # an integer dtype would truncate the samples
        labels = torch.randint(self.n_modes, (n,), generator=generator)
        eps = torch.randn(n, self.bases.shape[2], 1, generator=generator, dtype=torch.float64)
        x = self.centers[labels] + self.std * (self.bases[labels] @ eps)[..., 0]
        return x.to(dtype=dtype, device=device)


def subspace_mixture(dim: int = 5, n_equations: int = 2, k: int = 6, radius: float = 2.0, std: float = 0.1,
                     seed: int = 0) -> ConstrainedMixture:
    """k Gaussians at ``+-radius`` along the axes of a random (D - r)-dimensional affine subspace of R^D.

    ``A`` has standard normal entries and ``b`` too (seeded), so the subspace
    is generic (not aligned with the coordinates and not through the origin).
    """
    dim = check_int(dim, "dim", low=2)
    n_equations = check_int(n_equations, "n_equations (1 <= n_equations < dim)", low=1, high=dim - 1)
    p = dim - n_equations
    try:
        k = check_int(k, "k", low=1, high=2 * p)
    except ValueError:  # the range in the subspace's words
        raise ValueError(f"k must be an integer in [1, {2 * p}] (two modes per direction of the subspace), "
                         f"got {k!r}") from None
    gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    A = torch.randn(n_equations, dim, generator=gen, dtype=torch.float64)
    b = torch.randn(n_equations, generator=gen, dtype=torch.float64)
    S = AffineSubspace(A, b)
    N = S.null_basis()                                                        # (D, p)
    coords = torch.cat([torch.eye(p), -torch.eye(p)], dim=0)[:k].to(torch.float64) * radius
    centers = S.point() + coords @ N.T
    return ConstrainedMixture(centers, float(std), N.expand(k, dim, p).clone(), (0,) * k, S,
                              f"subspace{k}-R{dim}")


def two_hyperplanes(dim: int = 5, modes_per_plane: tuple[int, int] = (2, 4), radius: float = 2.0,
                    std: float = 0.1, separation: float = 2.0, seed: int = 0) -> ConstrainedMixture:
    """Gaussians on two random hyperplanes of R^D, ``modes_per_plane[k]`` on hyperplane k.

    On hyperplane k the modes sit at ``+-radius`` along in-plane directions
    orthogonal to the other plane's normal, all at distance ``separation``
    from the other hyperplane, so no mode lies near the intersection. With
    equal mode weights, hyperplane k holds ``modes_per_plane[k] / total`` of
    the data.
    """
    dim = check_int(dim, "dim (>= 3: two hyperplanes with modes away from their intersection)", low=3)
    if len(modes_per_plane) != 2:
        raise ValueError(f"modes_per_plane must be two integers in [1, {2 * (dim - 2)}], got {modes_per_plane!r}")
    modes_per_plane = tuple(check_int(m, "modes_per_plane entries", low=1, high=2 * (dim - 2)) for m in modes_per_plane)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    normals = torch.randn(2, dim, generator=gen, dtype=torch.float64)
    offsets = torch.randn(2, generator=gen, dtype=torch.float64)
    union = HyperplaneUnion(normals, offsets)
    centers, bases, planes = [], [], []
    for kk in range(2):
        other = 1 - kk
        u, c = union.U[kk], union.c[kk]
        v = union.U[other] - (union.U[other] @ u) * u                         # other normal, in-plane part
        v = v / torch.linalg.vector_norm(v)
        # Orthonormal in-plane directions: first v, then D-2 directions orthogonal to u and v.
        basis, _ = torch.linalg.qr(torch.cat([torch.stack([u, v], 1), torch.eye(dim, dtype=torch.float64)], 1))
        ortho = basis[:, 2:dim]                                               # (D, D-2), orthogonal to u and v
        base = c * u                                                          # a point of hyperplane kk
        d_other = union.U[other] @ base - union.c[other]
        t = (separation - d_other) / (union.U[other] @ v)                     # move along v to distance `separation`
        base = base + t * v
        plane_basis = torch.cat([v[:, None], ortho], dim=1)                   # (D, D-1), spans hyperplane kk
        dirs = torch.cat([ortho.T, -ortho.T], dim=0)[: modes_per_plane[kk]] * radius
        for d in dirs:
            centers.append(base + d)
            bases.append(plane_basis)
            planes.append(kk)
    return ConstrainedMixture(torch.stack(centers), float(std), torch.stack(bases), tuple(planes), union,
                              f"two-hyperplanes{modes_per_plane[0]}+{modes_per_plane[1]}-R{dim}")


@dataclass(frozen=True)
class ConstrainedRun:
    """Outcome of :func:`train_constrained` on held-out samples of the final generator.

    Parameters
    ----------
    handler : str
        The run's name (``name`` of :func:`train_constrained`, else the handler's class name).
    steps : int
        Generator steps taken (fewer than requested when the loss became non-finite).
    seconds_per_iteration : float
        Wall time per step, in seconds.
    violation : Violation
        Distance of the held-out samples to the constraint set.
    coverage : CoverageReport
        Modes covered by the held-out samples (a non-finite sample lies in no mode).
    shares : tuple of float
        For a union of hyperplanes, the fraction of samples nearest to each; empty otherwise.
    final_state : ConstraintState
        The handler's state on the held-out samples.
    history : tuple of ConstraintState
        The handler's state on a generated batch every ``record_every`` steps.
    history_steps : tuple of int
        The steps of ``history``.
    samples : torch.Tensor, shape (n_eval, D)
        The held-out samples, on the CPU, in the training dtype.
    status : dualgan.status.Status
        ``SUCCESS`` when every step ran and every held-out sample is finite;
        ``NON_FINITE`` with the step (non-finite generator loss) or "non-finite
        samples" in the message otherwise.
    """

    handler: str
    steps: int
    seconds_per_iteration: float
    violation: Violation
    coverage: CoverageReport
    shares: tuple[float, ...]
    final_state: ConstraintState
    history: tuple[ConstraintState, ...]
    history_steps: tuple[int, ...]
    samples: torch.Tensor
    status: Status


def mlp(sizes: list[int], activation=nn.LeakyReLU) -> nn.Sequential:
    """The library's one builder, :func:`dualgan.train.generators.mlp`, with the examples' LeakyReLU(0.2) by default."""
    return build_mlp(sizes, (lambda: nn.LeakyReLU(0.2)) if activation is nn.LeakyReLU else activation)


def train_constrained(data: ConstrainedMixture, handler=None, steps: int = 2000, batch_size: int = 256,
                      loss: str = "non_saturating", noise_dim: int = 8, hidden: int = 128, lr: float = 1e-3,
                      residual_features: bool = False, r1: float = 0.0, lr_decay: bool = True,
                      n_eval: int = 2000, record_every: int = 50,
                      seed: int = 0, dtype=torch.float32, device=None, progress: bool = False,
                      name: str | None = None) -> ConstrainedRun:
    r"""Train a fresh MLP generator on ``data`` with ``handler`` and evaluate it.

    ``loss``: a name of :data:`dualgan.losses.LOSSES` (alternating Adam steps
    of an MLP discriminator and the generator) or ``"mmd"`` (the generator
    minimises a Gaussian-kernel MMD^2 to the real batch, bandwidths 0.05..2,
    no discriminator). ``residual_features=True`` feeds the discriminator
    :class:`ResidualFeatures` of its input; ``r1 > 0`` adds the R1 gradient
    penalty :math:`\tfrac{\gamma}{2} E_{p_d}\|\nabla_x D\|^2` (:class:`dualgan.regularizers.R1`)
    to the discriminator's loss. ``lr_decay`` decays both learning rates
    linearly to 1% over the second half of training, so that Adam's
    parameter noise (about ``lr`` per step) does not limit how close the
    samples settle to the constraint. The run is a :class:`~dualgan.train.base.Trainer`
    (its ``fit`` is the loop), so the handler is used exactly as the trainers
    use it: ``wrap_generator`` once, ``penalty`` in every generator loss,
    ``update`` after every generator step, ``state`` for the history.
    """
    check_choice(loss, "loss", tuple(LOSSES) + ("mmd",))
    check_positive(lr, "lr")
    for arg, val in (("steps", steps), ("batch_size", batch_size), ("noise_dim", noise_dim), ("hidden", hidden),
                     ("n_eval", n_eval), ("record_every", record_every)):
        check_int(val, arg, low=1)
    seed = check_int(seed, "seed", low=0)
    handler = NoConstraint() if handler is None else handler
    torch.manual_seed(seed)
    D = data.dim
    generator = mlp([noise_dim, hidden, hidden, D]).to(device=device, dtype=dtype)
    disc_net = feat = None
    if loss != "mmd":
        feat = ResidualFeatures(data.constraint) if residual_features else None
        d_in = D + (feat.n_appended if feat is not None else 0)
        disc_net = mlp([d_in, hidden, hidden, 1]).to(device=device, dtype=dtype)
    # seed + 1 seeds the trainer's data draws (the noise comes from the global generator seeded above)
    run = _ConstrainedExample(generator, disc_net, feat, handler=handler, data=data, loss=loss, lr=lr, r1=r1,
                              lr_decay=lr_decay, steps=steps, record_every=record_every, noise_dim=noise_dim,
                              batch_size=batch_size, seed=seed + 1)
    run.fit(data, steps, progress=progress)
    generator = run.generator
    # a step that stopped at a non-finite generator loss had taken its discriminator step: it counts
    step = run.iteration + (0 if run.status.success else 1)
    seconds = run._elapsed / max(step, 1)
    with torch.no_grad():
        eval_gen = torch.Generator(device="cpu").manual_seed(seed + 2)
        z = torch.randn(n_eval, noise_dim, generator=eval_gen, dtype=torch.float64).to(dtype=dtype, device=device)
        samples = generator(z).detach()
    status = run.status
    finite = bool(torch.isfinite(samples).all())
    covered_input = samples
    if not finite:
        found = f"non-finite held-out samples ({int((~torch.isfinite(samples)).any(dim=1).sum())} of {n_eval})"
        status = Status(StatusCode.NON_FINITE, found if status.success else f"{status.message}; {found}")
        # only for mode counting: a non-finite sample lies in no mode (it still counts in the total);
        # the violation and the handler's state are computed on the real samples and stay NaN
        covered_input = torch.nan_to_num(samples, nan=1e6, posinf=1e6, neginf=-1e6)
    violation = data.constraint.violation(samples)
    coverage = mode_coverage(covered_input.double().cpu(), data.centers, data.std)
    shares = data.constraint.shares(covered_input) if isinstance(data.constraint, HyperplaneUnion) else ()
    final = run.constraint_state(samples)
    return ConstrainedRun(name or type(handler).__name__, step, seconds, violation, coverage, shares, final,
                          tuple(run.states), tuple(run.state_steps), samples.cpu(), status)


class _ConstrainedExample(Trainer):
    """The example's training on the one trainer protocol: an MLP discriminator (or MMD) and the generator, alternating Adam steps.

    ``Trainer.fit`` runs it; :meth:`_step` is one discriminator step and one
    generator step. The data come from the trainer's generator (``seed``),
    the noise from torch's global generator, as the example has always drawn
    them.
    """

    kind = "constrained_example"

    def __init__(self, generator, disc_net, feat, *, handler, data, loss, lr, r1, lr_decay, steps, record_every,
                 noise_dim, batch_size, seed):
        super().__init__(generator, latent_dim=noise_dim, batch_size=batch_size, generator_lr=lr,
                         beta1=0.5, constraint=handler, seed=seed)
        self.data, self.lr, self.lr_decay, self.steps, self.record_every = data, lr, lr_decay, steps, record_every
        self.gan_loss = None if loss == "mmd" else get_loss(loss)
        self.discriminator = None
        optimisers = [self.gen_optimizer]
        if disc_net is not None:
            self.discriminator = ((lambda x: disc_net(feat(x))[:, 0]) if feat is not None
                                  else (lambda x: disc_net(x)[:, 0]))
            self.d_opt = torch.optim.Adam(disc_net.parameters(), lr=lr, betas=(0.5, 0.999))
            optimisers.append(self.d_opt)
        self.optimisers = optimisers
        self.r1_penalty = R1(gamma=r1) if r1 > 0 and disc_net is not None else None
        self.states: list[ConstraintState] = []
        self.state_steps: list[int] = []

    def constraint_state(self, samples: torch.Tensor) -> ConstraintState:
        # without a handler, the violation against the data's constraint all the same
        if isinstance(self.constraint, NoConstraint):
            return state_of(self.data.constraint, samples)
        return handler_state(self.constraint, samples)

    def _final_status(self, iterations: int) -> Status:
        return Status(StatusCode.SUCCESS, f"{iterations} steps")

    def _step(self) -> dict | None:
        step, steps = self.iteration + 1, self.steps
        if self.lr_decay and step > steps // 2:
            for opt in self.optimisers:
                for group in opt.param_groups:
                    group["lr"] = self.lr * max(LR_FLOOR, 1.0 - (step - steps // 2) / (steps - steps // 2))
        real = self._real(self.batch_size)
        z = torch.randn(self.batch_size, self.latent_dim, dtype=self.dtype, device=self.device)
        if self.gan_loss is not None:
            disc = self.discriminator
            with torch.no_grad():
                fake_d = self.generator(z)
            d_loss = self.gan_loss.discriminator_loss(disc(real), disc(fake_d))
            if self.r1_penalty is not None:
                d_loss = d_loss + self.r1_penalty(disc, real, fake_d)
            self.d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_opt.step()
            z = torch.randn(self.batch_size, self.latent_dim, dtype=self.dtype, device=self.device)
        fake = self.generator(z)
        g_loss = self.gan_loss.generator_loss(self.discriminator(fake)) if self.gan_loss is not None \
            else _mmd2(real, fake)
        total = g_loss + handler_penalty(self.constraint, fake)
        if not bool(torch.isfinite(total)):
            self.status = Status(StatusCode.NON_FINITE, f"non-finite generator loss at step {step}")
            return None
        self.gen_optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.gen_optimizer.step()
        self.constraint.update(fake.detach())
        if step % self.record_every == 0 or step == steps:
            self.states.append(self.constraint_state(fake.detach()))
            self.state_steps.append(step)
        return {"objective": float(g_loss.detach()), "generator_loss": float(total.detach())}


def _mmd2(x: torch.Tensor, y: torch.Tensor, bandwidths=(0.05, 0.2, 0.5, 2.0)) -> torch.Tensor:
    r"""Biased MMD^2 with a sum of Gaussian kernels :math:`e^{-\|x-y\|^2/(2h^2)}`."""
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).square()
    K = sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)
    n = x.shape[0]
    return K[:n, :n].mean() + K[n:, n:].mean() - 2 * K[:n, n:].mean()
