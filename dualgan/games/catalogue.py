r"""Built-in functional games (bilinear, Dirac-GAN, mixture GAN) and the functional form of object games.

:func:`as_functional` turns a built-in object game into its closed-form functional game, and runs a
custom deterministic :class:`~dualgan.games.Game` that declares its ``equilibrium`` as it is (row by row);
what cannot be batched raises a :class:`~dualgan.games.NotBatchableError` naming it.
"""
from __future__ import annotations

import torch

from .._checks import check_int, check_number, check_positive
from ..losses import LOSSES, get_loss
from ..regularizers import (R1, R2, ConstantSchedule, CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty,
                            clip_weights)
from .bilinear import BilinearGame, bilinear_jacobian, coupling_matrix
from .functional import FunctionalGame
from .game import Game
from .gan import DiracGAN, MixtureGAN, _gan_losses, regularizer_list
from .optimizers.base import NotBatchableError, _ObjectPoint

__all__ = ["bilinear_functional", "dirac_functional", "mixture_functional", "as_functional", "ClippedDiracGAN"]


# ============================================================================================ built-in games
def bilinear_functional(A, seed_scale: float = 1.0, dtype=torch.float64) -> FunctionalGame:
    r"""The bilinear game of eq. (3.12) of the theory page as a :class:`FunctionalGame` (closed forms).

    Parameters
    ----------
    A : array-like of shape (n_x, n_y)
        The coupling matrix (finite).
    seed_scale : float, default 1.0
        Seed ``s`` starts at ``seed_scale`` times the start of ``BilinearGame(A, seed=s)``
        (``1``: exactly where that object game starts).
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        Players ``x`` (n_x) and ``y`` (n_y), equilibrium 0, zero-sum; ``make_game(z)`` builds the
        :class:`~dualgan.games.BilinearGame` at ``z``.

    Raises
    ------
    ValueError
        If ``A`` is not a finite, non-empty 2-D matrix, ``seed_scale`` is not
        a finite number > 0 (``bool`` refused) or ``dtype`` is not a floating dtype.
    """
    A = coupling_matrix(A, dtype)
    seed_scale = check_positive(seed_scale, "seed_scale")
    nx, ny = A.shape
    J = torch.as_tensor(bilinear_jacobian(A.double().numpy()), dtype=dtype)   # entries of A exactly, in dtype

    def losses(z):
        value = z[:nx] @ A @ z[nx:]
        return torch.stack([value, -value])

    def fast_field(Z):          # v_x = A y, v_y = -A^T x, as the object game's autograd computes them
        return torch.cat([Z[:, nx:] @ A.T, -(Z[:, :nx] @ A)], dim=1)

    def fast_jacobian(Z):
        return J.expand(Z.shape[0], nx + ny, nx + ny)

    def make_game(z):
        z = torch.as_tensor(z, dtype=dtype)
        return BilinearGame(A, x0=z[:nx].clone(), y0=z[nx:].clone(), dtype=dtype)

    return FunctionalGame(losses, (nx, ny), name=f"bilinear {nx}x{ny}", player_names=("x", "y"),
                          equilibrium=torch.zeros(nx + ny, dtype=dtype), zero_sum=True, n_tensors=2,
                          initial_point=lambda seed: seed_scale * BilinearGame(A, seed=seed, dtype=dtype).get_flat(),
                          make_game=make_game, fast_field=fast_field, fast_jacobian=fast_jacobian, dtype=dtype)


# ------------------------------------------------------------------ Dirac-GAN closed forms
def _minus_one(s):
    return -torch.ones_like(s)


# (g', g'', h', h'') of each library loss in the fake score s (g: the discriminator's fake term, h: the generator's)
_LOGISTIC_G = (lambda s: -torch.sigmoid(s), lambda s: -torch.sigmoid(s) * torch.sigmoid(-s))  # g = log(1 - sigma(s))
_LOSS_DERIVATIVES = {
    "minimax": _LOGISTIC_G * 2,                                   # h = g
    "non_saturating": _LOGISTIC_G + (lambda s: -torch.sigmoid(-s),
                                     lambda s: torch.sigmoid(s) * torch.sigmoid(-s)),  # h = -log sigma(s)
    "wasserstein": (_minus_one, torch.zeros_like) * 2,            # g = h = -s
    # hinge: g = -relu(1 + s) (relu'(0) = 0, as autograd), h = -s
    "hinge": (lambda s: -(s > -1).to(s.dtype), torch.zeros_like, _minus_one, torch.zeros_like),
    "least_squares": (lambda s: -2 * s, lambda s: -2 * torch.ones_like(s), lambda s: 2 * (s - 1),
                      lambda s: 2 * torch.ones_like(s)),          # g = -s^2, h = (s - 1)^2
}


def _batchable_regularizers(regularizers, known, game: str) -> list:
    """The regularisers as a list; NotBatchableError unless each is of a type in ``known`` with a constant weight."""
    regularizers = regularizer_list(regularizers)
    unknown = [type(r).__name__ for r in regularizers if type(r) not in known]
    if unknown:
        raise NotBatchableError(f"regulariser(s) {unknown} cannot be batched on a {game} (the batched runner knows "
                                f"{', '.join(k.__name__ for k in known)} there); use dualgan.games.run_optimizer")
    for reg in regularizers:
        if type(reg.schedule) is not ConstantSchedule:
            raise NotBatchableError(f"regulariser {type(reg).__name__} has the schedule {reg.schedule!r}: a weight "
                                    f"that changes with the step cannot be batched; use a constant weight, or "
                                    f"dualgan.games.run_optimizer")
    return regularizers


def _dirac_regularizer_terms(regularizers):
    r"""(R'(psi), R''(psi)) of each regulariser on the Dirac-GAN in closed form; None if there is a JSRegularizer.

    There :math:`\nabla_x D(x) = \psi` at every x, so R1 and R2 are :math:`\tfrac{\gamma}{2}\psi^2` and WGAN-GP /
    DRAGAN :math:`\lambda(|\psi| - k)^2` (one-sided: :math:`\lambda\max(|\psi| - k, 0)^2`) whatever points they
    sample; :math:`|\psi|` has derivative 0 at :math:`\psi = 0` (the library's safe norm).
    """
    terms = []
    for reg in regularizers:
        w = float(reg.schedule.weight)
        if type(reg) is JSRegularizer:
            return None
        if type(reg) in (R1, R2):
            terms.append((lambda p, g=w: g * p, lambda p, g=w: g * torch.ones_like(p)))
            continue
        k, one_sided = reg.target, reg.one_sided

        def d1(p, lam=w, k=k, one_sided=one_sided):
            excess = p.abs() - k
            if one_sided:
                excess = excess.clamp(min=0.0)
            return 2 * lam * excess * torch.sign(p)

        def d2(p, lam=w, k=k, one_sided=one_sided):
            active = (p != 0) & ((p.abs() > k) if one_sided else torch.ones_like(p, dtype=torch.bool))
            return torch.where(active, 2 * lam * torch.ones_like(p), torch.zeros_like(p))

        terms.append((d1, d2))
    return terms


def _with_regularizers(name: str, regularizers) -> str:
    """``name``, then `` + `` and the regularisers' class names joined by ``+`` if there are any."""
    names = "+".join(type(r).__name__ for r in regularizers)
    return f"{name} + {names}" if names else name


class ClippedDiracGAN(DiracGAN):
    """A :class:`~dualgan.games.DiracGAN` whose discriminator weight is clipped to [-c, c] after every step (WGAN).

    Parameters
    ----------
    *args, **kwargs
        As :class:`~dualgan.games.DiracGAN`.
    clip_value : float
        The bound c > 0; :func:`dualgan.regularizers.clip_weights` is applied
        to the discriminator in :meth:`after_step`, which every optimiser calls
        after a complete step.
    """

    def __init__(self, *args, clip_value: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.clip_value = check_positive(clip_value, "clip_value")

    def after_step(self) -> None:
        """Clip the discriminator's weight to ``[-clip_value, clip_value]`` (after the parent's hook)."""
        super().after_step()
        clip_weights(self.discriminator, self.clip_value)


def dirac_functional(loss="minimax", regularizers=(), clip: float | None = None, init_low: float = 0.5,
                     init_high: float = 1.5, dtype=torch.float64) -> FunctionalGame:
    r"""The Dirac-GAN family (eq. (3.13) of the theory page) as a :class:`FunctionalGame`.

    :math:`z = (\theta, \psi)`, the order of :class:`~dualgan.games.DiracGAN`'s parameters. With the fake
    score :math:`s = \psi\theta`, the loss components (g, h) of eq. (5.1) and regularisers :math:`R(\psi)`,
    the closed forms are

    .. math::
        v = \big(h'(s)\,\psi,\; -g'(s)\,\theta + R'(\psi)\big), \qquad
        J = \begin{pmatrix} h''(s)\psi^2 & h'(s) + h''(s) s \\
                            -g'(s) - g''(s) s & -g''(s)\theta^2 + R''(\psi) \end{pmatrix}.

    Parameters
    ----------
    loss : str or GANLoss, default "minimax"
        ``minimax``, ``non_saturating``, ``wasserstein``, ``hinge``, ``least_squares`` have closed
        forms; another :class:`~dualgan.losses.GANLoss` is handled by ``torch.func`` alone (slower).
    regularizers : sequence, default ()
        With constant weights: :class:`~dualgan.regularizers.R1`, :class:`~dualgan.regularizers.R2`,
        :class:`~dualgan.regularizers.CoupledGradientPenalty` (WGAN-GP),
        :class:`~dualgan.regularizers.LocalGradientPenalty` (DRAGAN) (closed forms),
        :class:`~dualgan.regularizers.JSRegularizer` (``torch.func`` only). WGAN-GP and DRAGAN with a
        target k > 0 are not differentiable at :math:`\psi = 0`: the game then sets ``no_local_analysis``.
    clip : float, optional
        WGAN's weight clipping: :math:`\psi` is clipped to ``[-clip, clip]`` after every step
        (object game: :class:`ClippedDiracGAN`).
    init_low, init_high : float, default 0.5, 1.5
        Seed ``s`` starts at ``init_low + (init_high - init_low) * U`` with
        ``U = torch.rand(2, generator=torch.Generator().manual_seed(s))``
        (the defaults are ``dualgan compare-optimizers --game dirac*``'s starts).
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        With equilibrium (0, 0), ``zero_sum`` as the object game declares it,
        ``make_game(z)`` building the :class:`~dualgan.games.DiracGAN` at ``z``.

    Raises
    ------
    NotBatchableError
        A regulariser the functional form does not know, or one with a weight schedule that changes with the step.
    ValueError
        If ``clip`` is not None or a finite number > 0, ``init_low`` / ``init_high`` are not finite
        numbers with ``init_low <= init_high``, or ``dtype`` is not a floating dtype.
    """
    loss_obj = get_loss(loss)
    clip = check_number(clip, "clip (WGAN's clipping bound)", low=0.0, low_open=True, allow_none=True)
    init_low = check_number(init_low, "init_low")
    init_high = check_number(init_high, "init_high")
    if init_low > init_high:
        raise ValueError(f"init_low must be <= init_high, got {init_low!r} > {init_high!r}; swap them")
    regularizers = _batchable_regularizers(
        regularizers, (R1, R2, CoupledGradientPenalty, LocalGradientPenalty, JSRegularizer), "DiracGAN")
    terms = _dirac_regularizer_terms(regularizers)
    library_loss = loss_obj.name in LOSSES and LOSSES.get(loss_obj.name) is loss_obj
    derivs = _LOSS_DERIVATIVES.get(loss_obj.name) if library_loss else None
    probe = DiracGAN(loss_obj, 1.0, 1.0, regularizers=regularizers, dtype=dtype)
    module_losses = _module_losses(probe)

    def losses(z):          # the object game's own modules on its one batch: data at 0, the latent code unused
        zero = torch.zeros(1, 1, dtype=z.dtype)
        return module_losses(z, zero, zero)

    fast_field = fast_jacobian = None
    if derivs is not None and terms is not None:
        g1, g2, h1, h2 = derivs

        def fast_field(Z):
            theta, psi = Z[:, 0], Z[:, 1]
            s = psi * theta
            v_psi = -g1(s) * theta
            for d1, _ in terms:
                v_psi = v_psi + d1(psi)
            return torch.stack([h1(s) * psi, v_psi], dim=1)

        def fast_jacobian(Z):
            theta, psi = Z[:, 0], Z[:, 1]
            s = psi * theta
            hs1, hs2, gs1, gs2 = h1(s), h2(s), g1(s), g2(s)
            j_pp = -gs2 * theta * theta
            for _, d2 in terms:
                j_pp = j_pp + d2(psi)
            row0 = torch.stack([hs2 * psi * psi, hs1 + hs2 * s], dim=1)
            row1 = torch.stack([-gs1 - gs2 * s, j_pp], dim=1)
            return torch.stack([row0, row1], dim=1)

    project = None
    if clip is not None:

        def project(Z):
            return torch.cat([Z[:, :1], Z[:, 1:].clamp(-clip, clip)], dim=1)

    def initial_point(seed):
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        return (u * (init_high - init_low) + init_low).to(dtype)

    def make_game(z):
        z = [float(t) for t in torch.as_tensor(z).reshape(-1)]
        if clip is None:
            return DiracGAN(loss_obj, theta0=z[0], psi0=z[1], regularizers=regularizers, dtype=dtype)
        return ClippedDiracGAN(loss_obj, theta0=z[0], psi0=z[1], regularizers=regularizers, dtype=dtype,
                               clip_value=clip)

    nonsmooth = [type(r).__name__ for r in regularizers
                 if type(r) in (CoupledGradientPenalty, LocalGradientPenalty) and r.target > 0]
    no_local = (f"{'+'.join(nonsmooth)} penalises (|psi| - k)^2, not differentiable at psi = 0: the origin is "
                f"stationary only by the safe norm's derivative 0 there" if nonsmooth else None)
    name = _with_regularizers(f"dirac {loss_obj.name}", regularizers) + (f" clip {clip:g}" if clip else "")
    return FunctionalGame(losses, (1, 1), name=name, player_names=("generator", "discriminator"),
                          equilibrium=torch.zeros(2, dtype=dtype), zero_sum=probe.zero_sum, n_tensors=2,
                          initial_point=initial_point, make_game=make_game, fast_field=fast_field,
                          fast_jacobian=fast_jacobian, project=project, dtype=dtype, no_local_analysis=no_local)


def _module_losses(game):
    """``losses(z, x_real, latent)`` of a :class:`~dualgan.games.GANGame`: its own modules, by
    ``torch.func.functional_call``, at the parameters read from ``z`` in :attr:`Game.parameters` order."""
    modules = (game.generator, game.discriminator)
    names = [[name for name, _ in m.named_parameters()] for m in modules]
    n_g = len(names[0])

    def losses(z, x_real, latent):
        values = game.unflatten(z)
        x_fake = torch.func.functional_call(modules[0], dict(zip(names[0], values[:n_g])), (latent,))
        disc = dict(zip(names[1], values[n_g:]))
        loss_g, loss_d = _gan_losses(game.loss, lambda x: torch.func.functional_call(modules[1], disc, (x,)),
                                     game.regularizers, x_real, x_fake, penalty=_functional_penalty)
        return torch.stack([loss_g.reshape(()), loss_d.reshape(())])

    return losses


def _functional_penalty(reg, score, x_real, x_fake):
    """The regulariser's own weight and mean term, input gradients by ``torch.func.grad``.

    WGAN-GP and DRAGAN (Dirac-GAN only, where the input gradient is the same everywhere) take the real point.
    """
    input_grad = torch.func.grad(lambda x: score(x).sum())
    if type(reg) is JSRegularizer:
        # real and fake apart, scores after the gradients: stacking them changes the order in which autograd
        # sums J's terms (last bits of J^T u, which RMSProp amplifies)
        grad_real, grad_fake = input_grad(x_real), input_grad(x_fake)
        return reg.weight_at() * reg._omega(score(x_real), grad_real, score(x_fake), grad_fake)
    grads = input_grad(x_fake if type(reg) is R2 else x_real).flatten(1)
    return reg.weight_at() * reg._mean_term(None, grads, x_real.shape[0])


def _player_sizes(game) -> tuple:
    """Parameters per player of an object game."""
    return tuple(sum(t.numel() for t in p.parameters) for p in game.players)


def mixture_functional(mixture, loss="minimax", hidden: int = 8, depth: int = 2, latent_dim: int = 2,
                       batch_size: int = 32, regularizers=(), dtype=torch.float64) -> FunctionalGame:
    r"""A small :class:`~dualgan.games.MixtureGAN` as a :class:`FunctionalGame` (``torch.func.functional_call``).

    The losses are the MixtureGAN's own modules on one batch, the parameters read from the flat vector
    (generator first). Every step draws each seed's batch (real samples, then latent codes) from its
    ``torch.Generator().manual_seed(seed)``, as ``MixtureGAN(seed=seed)`` resamples before every step
    of the per-run harness; seed ``s`` starts at that game's initial weights. Meant for small widths:
    every cell carries its own weights and CGD forms the dense Jacobian (at most 256 parameters).

    Parameters
    ----------
    mixture : dualgan.data.GaussianMixture
        The data (e.g. ``dualgan.data.ring(4)``).
    loss : str or GANLoss, default "minimax"
        The GAN loss (:func:`dualgan.losses.get_loss`).
    hidden, depth, latent_dim, batch_size : int, default 8, 2, 2, 32
        As :class:`~dualgan.games.MixtureGAN`.
    regularizers : sequence, default ()
        :class:`~dualgan.regularizers.R1`, :class:`~dualgan.regularizers.R2`,
        :class:`~dualgan.regularizers.JSRegularizer` with constant weights.
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        With :attr:`FunctionalGame.sample_batch`, no equilibrium (distances and rates are NaN; the
        map reports :math:`\|v\|` and divergence), and ``make_game(z, seed=0)`` building the
        ``MixtureGAN(seed=seed)`` at ``z``.

    Raises
    ------
    NotBatchableError
        WGAN-GP, DRAGAN (they draw random points every step), any other regulariser, or a weight
        schedule that changes with the step.
    """
    loss_obj = get_loss(loss)
    regularizers = _batchable_regularizers(regularizers, (R1, R2, JSRegularizer), "MixtureGAN")

    def build(seed):
        return MixtureGAN(mixture, loss_obj, hidden=hidden, depth=depth, latent_dim=latent_dim,
                          batch_size=batch_size, regularizers=regularizers, seed=seed, dtype=dtype)

    def make_game(z, seed=0):
        game = build(seed)
        game.set_flat(torch.as_tensor(z, dtype=dtype))
        return game

    probe = build(0)

    def sample_batch(gen):          # what probe.resample draws: real samples, then latent codes
        return probe.sample_real(probe.batch_size, gen), probe.sample_latent(probe.batch_size, gen)

    name = _with_regularizers(f"mixture GAN {loss_obj.name} width {hidden} depth {depth}", regularizers)
    return FunctionalGame(_module_losses(probe), _player_sizes(probe), name=name,
                          player_names=("generator", "discriminator"), zero_sum=probe.zero_sum,
                          n_tensors=len(probe.parameters), initial_point=lambda seed: build(seed).get_flat(),
                          make_game=make_game, dtype=dtype, sample_batch=sample_batch)


def as_functional(game) -> FunctionalGame:
    """The functional form of a built-in object game, or a :class:`NotBatchableError` naming what blocks it.

    Parameters
    ----------
    game : dualgan.games.Game or FunctionalGame
        :class:`~dualgan.games.BilinearGame` (its A; its current point is seed 0's start only if it was
        built with seed 0), :class:`~dualgan.games.DiracGAN` (its loss and regularisers), a deterministic
        :class:`~dualgan.games.Game` that declares ``equilibrium`` (run as it is, row by row), or a
        :class:`FunctionalGame` (returned as it is).

    Returns
    -------
    FunctionalGame

    Raises
    ------
    NotBatchableError
        Any other game (a changing batch such as :class:`~dualgan.games.MixtureGAN`, a constraint handler):
        build a :class:`FunctionalGame` from its losses, or use :func:`dualgan.games.run_optimizer`.
    """
    if isinstance(game, FunctionalGame):
        return game
    if type(game) is BilinearGame:
        return bilinear_functional(game.A.detach().cpu().numpy(), dtype=game.A.dtype)
    if type(game) in (DiracGAN, ClippedDiracGAN):
        if game.constraint is not None:
            raise NotBatchableError("a DiracGAN with a constraint handler cannot be batched (its penalty and update "
                                    "are object code); use dualgan.games.run_optimizer")
        return dirac_functional(game.loss, game.regularizers, clip=getattr(game, "clip_value", None),
                                dtype=game.dtype)
    if isinstance(game, MixtureGAN):
        raise NotBatchableError("MixtureGAN: its widths and depth are not recorded on the object; build its "
                                "functional form with dualgan.games.mixture_functional(mixture, hidden=..., "
                                "depth=..., ...) (small widths), or use dualgan.games.run_optimizer")

    if isinstance(game, Game) and type(game).after_step is Game.after_step and getattr(game, "equilibrium", None) \
            is not None:
        return _object_functional(game)
    raise NotBatchableError(f"game {type(game).__name__} has no functional form: declare its equilibrium (the "
                            f"attribute equilibrium, a flat tensor with v = 0) on a game without after_step to run "
                            f"it as it is, build a dualgan.games.FunctionalGame(losses, player_sizes) from its "
                            f"losses as a pure function of the stacked parameters, or use dualgan.games.run_optimizer")


class _ObjectFunctionalGame(FunctionalGame):
    """An object game behind the FunctionalGame interface: the Jacobian at a point is the object game's."""

    def jacobian_at(self, z=None):
        z = self.equilibrium if z is None else torch.as_tensor(z, dtype=self.dtype).reshape(-1)
        return self.fast_jacobian(z.unsqueeze(0))[0]


def _object_functional(game) -> FunctionalGame:
    """A deterministic object game that declares ``equilibrium``, evaluated row by row (set, read, put back)."""
    def rows(Z, read):
        saved = game.get_values()
        try:
            out = []
            for z in Z:
                game.set_flat(z)
                out.append(read(_ObjectPoint(game)))
            return torch.stack(out)
        finally:
            game.set_values(saved)

    def losses(z):          # not differentiable by torch.func: the fast forms above serve every batched read
        return rows(z.unsqueeze(0), lambda point: torch.tensor(point.losses, dtype=z.dtype))[0]

    return _ObjectFunctionalGame(losses, _player_sizes(game), name=type(game).__name__,
                                 player_names=tuple(p.name for p in game.players),
                                 equilibrium=torch.as_tensor(game.equilibrium, dtype=game.dtype).reshape(-1),
                                 zero_sum=game.zero_sum, n_tensors=len(game.parameters), dtype=game.dtype,
                                 fast_field=lambda Z: rows(Z, lambda point: point.v[0]),
                                 fast_jacobian=lambda Z: rows(Z, lambda point: point.J[0]))
