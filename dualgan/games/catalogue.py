r"""Built-in functional games (bilinear, Dirac-GAN, mixture GAN) and the functional form of object games.

:func:`as_functional` turns a built-in object game into its closed-form functional game, and runs a
custom deterministic :class:`~dualgan.games.Game` that declares its ``equilibrium`` as it is (row by row);
what cannot be batched raises a :class:`~dualgan.games.NotBatchableError` naming it.
"""
from __future__ import annotations

import numpy as np
import torch

from .._checks import check_int, check_number, check_positive
from ..regularizers import clip_weights
from .functional import FunctionalGame
from .game import Game
from .gan import DiracGAN, regularizer_list
from .optimizers.base import NotBatchableError

__all__ = ["bilinear_functional", "dirac_functional", "mixture_functional", "as_functional", "ClippedDiracGAN"]


# ============================================================================================ built-in games
def bilinear_functional(A, seed_scale: float = 1.0, dtype=torch.float64) -> FunctionalGame:
    r"""The bilinear game :math:`\min_x \max_y x^\top A y` as a :class:`FunctionalGame` (closed forms, linear field).

    Parameters
    ----------
    A : array-like of shape (n_x, n_y)
        The coupling matrix (finite).
    seed_scale : float, default 1.0
        Initial points are ``seed_scale`` times the standard normal draws of
        ``BilinearGame(A, seed=seed)`` (x then y from ``torch.Generator().manual_seed(seed)``),
        so ``seed_scale=1`` starts exactly where the object game of that seed starts.
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        Players ``x`` (n_x) and ``y`` (n_y), :math:`v = J z` with
        :math:`J = [[0, A], [-A^\top, 0]]`, equilibrium 0, zero-sum;
        ``make_game(z)`` builds the :class:`~dualgan.games.BilinearGame` at ``z``.

    Raises
    ------
    ValueError
        If ``A`` is not a finite, non-empty 2-D matrix or ``seed_scale`` is not
        a finite number > 0 (``bool`` refused).
    """
    from .bilinear import BilinearGame, bilinear_jacobian

    A = torch.as_tensor(np.asarray(A, dtype=np.float64), dtype=dtype)
    if A.ndim != 2 or A.numel() == 0 or not bool(torch.isfinite(A).all()):
        raise ValueError(f"A must be a finite, non-empty 2-D matrix (n_x, n_y), got shape {tuple(A.shape)}")
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

    def initial_point(seed):
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        x0 = torch.randn(nx, generator=gen, dtype=torch.float64)
        y0 = torch.randn(ny, generator=gen, dtype=torch.float64)
        return seed_scale * torch.cat([x0, y0]).to(dtype)

    def make_game(z):
        z = torch.as_tensor(z, dtype=dtype)
        return BilinearGame(A, x0=z[:nx].clone(), y0=z[nx:].clone(), dtype=dtype)

    return FunctionalGame(losses, (nx, ny), name=f"bilinear {nx}x{ny}", player_names=("x", "y"),
                          equilibrium=torch.zeros(nx + ny, dtype=dtype), zero_sum=True, n_tensors=2,
                          initial_point=initial_point, make_game=make_game, fast_field=fast_field,
                          fast_jacobian=fast_jacobian, dtype=dtype)


# ------------------------------------------------------------------ Dirac-GAN closed forms
def _sig(s):
    return torch.sigmoid(s)


# (g', g'', h', h'') of each library loss as functions of the fake score s (g: discriminator's fake term, h: generator)
def _loss_derivatives(name):
    if name == "minimax":        # g = h = log(1 - sigma(s)): g' = -sigma(s), g'' = -sigma(s) sigma(-s)
        d1 = lambda s: -_sig(s)
        d2 = lambda s: -_sig(s) * _sig(-s)
        return d1, d2, d1, d2
    if name == "non_saturating":  # h = -log sigma(s): h' = -sigma(-s), h'' = sigma(s) sigma(-s)
        return (lambda s: -_sig(s), lambda s: -_sig(s) * _sig(-s), lambda s: -_sig(-s), lambda s: _sig(s) * _sig(-s))
    if name == "wasserstein":     # g = h = -s
        one = lambda s: -torch.ones_like(s)
        zero = lambda s: torch.zeros_like(s)
        return one, zero, one, zero
    if name == "hinge":           # g = -relu(1 + s) (relu'(0) = 0, as autograd), h = -s
        return (lambda s: -(s > -1).to(s.dtype), lambda s: torch.zeros_like(s), lambda s: -torch.ones_like(s),
                lambda s: torch.zeros_like(s))
    if name == "least_squares":   # g = -s^2, h = (s - 1)^2
        return (lambda s: -2 * s, lambda s: -2 * torch.ones_like(s), lambda s: 2 * (s - 1), lambda s: 2 * torch.ones_like(s))
    return None


def _constant_weight(reg, name):
    from ..regularizers.schedules import ConstantSchedule

    if type(reg.schedule) is not ConstantSchedule:
        raise NotBatchableError(f"regulariser {name} has the schedule {reg.schedule!r}: a weight that changes with "
                                f"the step cannot be batched; use a constant weight, or dualgan.games.run_optimizer")
    return float(reg.schedule.weight)


def _dirac_regularizer_terms(regularizers):
    r"""For each regulariser of a Dirac-GAN: (R'(psi), R''(psi)) closed forms (all depend on psi only there).

    On the Dirac-GAN :math:`\nabla_x D(x) = \psi` at every x, so R1 and R2 are
    :math:`\tfrac{\gamma}{2}\psi^2` and the WGAN-GP / DRAGAN penalties are
    :math:`\lambda(|\psi| - k)^2` (one-sided: :math:`\lambda\max(|\psi| - k, 0)^2`),
    whatever points they sample; :math:`|\psi|` has derivative 0 at
    :math:`\psi = 0` (the library's safe norm). JS regulariser: no closed form here (None).
    """
    from ..regularizers import R1, R2, CoupledGradientPenalty, LocalGradientPenalty

    terms = []
    for reg in regularizers:
        kind = type(reg)
        if kind in (R1, R2):
            gamma = _constant_weight(reg, kind.__name__)
            terms.append((lambda p, g=gamma: g * p, lambda p, g=gamma: g * torch.ones_like(p)))
        elif kind in (CoupledGradientPenalty, LocalGradientPenalty):
            lam = _constant_weight(reg, kind.__name__)
            k, one_sided = reg.target, reg.one_sided

            def d1(p, lam=lam, k=k, one_sided=one_sided):
                excess = p.abs() - k
                if one_sided:
                    excess = excess.clamp(min=0.0)
                return 2 * lam * excess * torch.sign(p)

            def d2(p, lam=lam, k=k, one_sided=one_sided):
                active = (p != 0) & ((p.abs() > k) if one_sided else torch.ones_like(p, dtype=torch.bool))
                return torch.where(active, 2 * lam * torch.ones_like(p), torch.zeros_like(p))

            terms.append((d1, d2))
        else:
            return None
    return terms


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
    r"""The Dirac-GAN family as a :class:`FunctionalGame` (Mescheder, Geiger, Nowozin, ICML 2018).

    Data: a point mass at 0; generator: a point mass at :math:`\theta`;
    discriminator :math:`D(x) = \psi x`; :math:`z = (\theta, \psi)`, the order
    of :class:`~dualgan.games.DiracGAN`'s parameters. With the fake score
    :math:`s = \psi\theta` and the loss components (g, h) of
    :mod:`dualgan.losses` and regularisers :math:`R(\psi)`:

    .. math::
        v = \big(h'(s)\,\psi,\; -g'(s)\,\theta + R'(\psi)\big), \qquad
        J = \begin{pmatrix} h''(s)\psi^2 & h'(s) + h''(s) s \\
                            -g'(s) - g''(s) s & -g''(s)\theta^2 + R''(\psi) \end{pmatrix}.

    Parameters
    ----------
    loss : str or GANLoss, default "minimax"
        ``minimax``, ``non_saturating``, ``wasserstein``, ``hinge``,
        ``least_squares`` have closed forms; another :class:`~dualgan.losses.GANLoss`
        is handled by ``torch.func`` alone (slower).
    regularizers : sequence, default ()
        :class:`~dualgan.regularizers.R1`, :class:`~dualgan.regularizers.R2`,
        :class:`~dualgan.regularizers.CoupledGradientPenalty` (WGAN-GP),
        :class:`~dualgan.regularizers.LocalGradientPenalty` (DRAGAN) with
        constant weights (closed forms), :class:`~dualgan.regularizers.JSRegularizer`
        (``torch.func`` only). On the Dirac-GAN :math:`\nabla_x D = \psi`
        everywhere, so the penalties do not depend on the points they sample.
        WGAN-GP and DRAGAN with a target k > 0 are not differentiable at
        :math:`\psi = 0`: the game then sets ``no_local_analysis`` (no exact rate).
    clip : float, optional
        WGAN's weight clipping: :math:`\psi` is clipped to ``[-clip, clip]``
        after every step (object game: :class:`ClippedDiracGAN`).
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
        A regulariser the functional form does not know, or one with a
        weight schedule that changes with the step.
    ValueError
        If ``clip`` is not None or a finite number > 0, or ``init_low`` /
        ``init_high`` are not finite numbers with ``init_low <= init_high``.
    """
    from ..losses import LOSSES, get_loss
    from ..regularizers import JSRegularizer

    loss_obj = get_loss(loss)
    regularizers = regularizer_list(regularizers)
    clip = check_number(clip, "clip (WGAN's clipping bound)", low=0.0, low_open=True, allow_none=True)
    init_low = check_number(init_low, "init_low")
    init_high = check_number(init_high, "init_high")
    if init_low > init_high:
        raise ValueError(f"init_low must be <= init_high, got {init_low!r} > {init_high!r}; swap them")
    for reg in regularizers:
        if type(reg) is JSRegularizer:
            _constant_weight(reg, "JSRegularizer")
    terms = _dirac_regularizer_terms(regularizers)
    unknown = [type(r).__name__ for r in regularizers
               if type(r).__name__ not in ("R1", "R2", "CoupledGradientPenalty", "LocalGradientPenalty", "JSRegularizer")]
    if unknown:
        raise NotBatchableError(f"regulariser(s) {unknown} have no functional form; the batched runner knows R1, R2, "
                                f"CoupledGradientPenalty, LocalGradientPenalty and JSRegularizer; use "
                                f"dualgan.games.run_optimizer for the others")
    derivs = (_loss_derivatives(loss_obj.name) if loss_obj.name in LOSSES and LOSSES.get(loss_obj.name) is loss_obj
              else None)
    probe = DiracGAN(loss_obj, 1.0, 1.0, regularizers=regularizers, dtype=dtype)
    zero_sum = probe.zero_sum
    module_losses = _module_losses(probe, loss_obj, regularizers)

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
        c = float(clip)

        def project(Z):
            return torch.cat([Z[:, :1], Z[:, 1:].clamp(-c, c)], dim=1)

    lo, hi = float(init_low), float(init_high)

    def initial_point(seed):
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        return (u * (hi - lo) + lo).to(dtype)

    def make_game(z):
        z = [float(t) for t in torch.as_tensor(z).reshape(-1)]
        if clip is None:
            return DiracGAN(loss_obj, theta0=z[0], psi0=z[1], regularizers=regularizers, dtype=dtype)
        return ClippedDiracGAN(loss_obj, theta0=z[0], psi0=z[1], regularizers=regularizers, dtype=dtype,
                                      clip_value=float(clip))

    nonsmooth = [type(r).__name__ for r in regularizers
                 if type(r).__name__ in ("CoupledGradientPenalty", "LocalGradientPenalty") and r.target > 0]
    no_local = (f"{'+'.join(nonsmooth)} penalises (|psi| - k)^2, not differentiable at psi = 0: the origin is "
                f"stationary only by the safe norm's derivative 0 there" if nonsmooth else None)
    reg_names = "+".join(type(r).__name__ for r in regularizers)
    name = f"dirac {loss_obj.name}" + (f" + {reg_names}" if reg_names else "") + (f" clip {clip:g}" if clip else "")
    return FunctionalGame(losses, (1, 1), name=name, player_names=("generator", "discriminator"),
                          equilibrium=torch.zeros(2, dtype=dtype), zero_sum=zero_sum, n_tensors=2,
                          initial_point=initial_point, make_game=make_game, fast_field=fast_field,
                          fast_jacobian=fast_jacobian, project=project, dtype=dtype, no_local_analysis=no_local)


def _module_losses(game, loss_obj, regularizers):
    """``losses(z, x_real, latent)`` of a GAN game, its modules called with their parameters read from ``z``.

    The functional form of an object :class:`~dualgan.games.GANGame` (``torch.func.functional_call``;
    the generator's parameters first, each module's in ``named_parameters`` order, as :attr:`Game.parameters`).
    """
    modules = (game.generator, game.discriminator)
    items = [[(name, tuple(p.shape), p.numel()) for name, p in m.named_parameters()] for m in modules]
    n_g = sum(k for _, _, k in items[0])

    def params(flat, entries):
        out, start = {}, 0
        for name, shape, k in entries:
            out[name] = flat[start:start + k].reshape(shape)
            start += k
        return out

    def losses(z, x_real, latent):
        x_fake = torch.func.functional_call(modules[0], params(z[:n_g], items[0]), (latent,))
        disc = params(z[n_g:], items[1])
        return _gan_losses(loss_obj, regularizers, lambda x: torch.func.functional_call(modules[1], disc, (x,)),
                           x_real, x_fake)

    return losses


def _gan_losses(loss_obj, regularizers, score, x_real, x_fake):
    """(L_generator, L_discriminator) of a GAN with the discriminator ``score`` and its penalties, stacked."""
    s_real, s_fake = score(x_real), score(x_fake)
    loss_d = loss_obj.discriminator_loss(s_real, s_fake)
    for reg in regularizers:
        loss_d = loss_d + _functional_penalty(reg, score, x_real, x_fake)
    return torch.stack([loss_obj.generator_loss(s_fake).reshape(()), loss_d.reshape(())])


def _functional_penalty(reg, score, x_real, x_fake):
    r"""A penalty of :mod:`dualgan.regularizers` as a pure function (input gradients by ``torch.func.grad``).

    Only for the Dirac-GAN: :math:`\nabla_x D` does not depend on x there, so
    the sampled points of WGAN-GP and DRAGAN are replaced by the real point.
    """
    from ..regularizers import R1, R2, CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty

    def input_grad(x):
        return torch.func.grad(lambda xx: score(xx).sum())(x)

    kind = type(reg)
    if kind is JSRegularizer:
        w = 0.5 * _constant_weight(reg, "JSRegularizer")
        gr, gf = input_grad(x_real), input_grad(x_fake)
        sr, sf = score(x_real), score(x_fake)
        term_r = torch.sigmoid(-sr).pow(2) * gr.flatten(1).pow(2).sum(dim=1)
        term_f = torch.sigmoid(sf).pow(2) * gf.flatten(1).pow(2).sum(dim=1)
        return w * (term_r.mean() + term_f.mean())
    if kind in (R1, R2):
        w = 0.5 * _constant_weight(reg, kind.__name__)
        g = input_grad(x_real if kind is R1 else x_fake)
        return w * g.flatten(1).pow(2).sum(dim=1).mean()
    if kind in (CoupledGradientPenalty, LocalGradientPenalty):
        w = _constant_weight(reg, kind.__name__)
        g = input_grad(x_real).flatten(1)
        sq = g.pow(2).sum(dim=1)
        zero = sq == 0
        norm = torch.where(zero, torch.zeros_like(sq), torch.where(zero, torch.ones_like(sq), sq).sqrt())
        excess = norm - reg.target
        if reg.one_sided:
            excess = excess.clamp(min=0.0)
        return w * (excess ** 2).mean()
    raise NotBatchableError(f"regulariser {kind.__name__} has no functional form")  # pragma: no cover


def mixture_functional(mixture, loss="minimax", hidden: int = 8, depth: int = 2, latent_dim: int = 2,
                       batch_size: int = 32, regularizers=(), dtype=torch.float64) -> FunctionalGame:
    r"""A small :class:`~dualgan.games.MixtureGAN` as a :class:`FunctionalGame` (``torch.func.functional_call``).

    The losses are those of :class:`~dualgan.games.GANGame` on one batch,
    computed by ``torch.func.functional_call`` of the MixtureGAN's own
    generator and discriminator with the parameters taken from the flat
    vector (generator first, in ``named_parameters`` order). Every step draws
    a batch (real samples, then latent codes) from each seed's
    ``torch.Generator().manual_seed(seed)``, exactly as ``MixtureGAN(seed=seed)``
    resamples before every step of the per-run harness; seed ``s`` starts at
    that game's initial weights. Meant for small widths: every cell carries
    its own copy of the weights and CGD forms the dense Jacobian (at most 256 parameters).

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
        :class:`~dualgan.regularizers.JSRegularizer` with constant weights
        (input gradients by ``torch.func.grad``).
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        With :attr:`FunctionalGame.sample_batch`, no equilibrium (distances and
        rates are NaN; the map reports :math:`\|v\|` and divergence), and
        ``make_game(z, seed=0)`` building the ``MixtureGAN(seed=seed)`` at ``z``.

    Raises
    ------
    NotBatchableError
        WGAN-GP, DRAGAN (they draw random points every step) or any other regulariser.
    """
    from ..losses import get_loss
    from ..regularizers import R1, R2, JSRegularizer
    from .gan import MixtureGAN

    loss_obj = get_loss(loss)
    regularizers = regularizer_list(regularizers)
    for reg in regularizers:
        if type(reg) not in (R1, R2, JSRegularizer):
            raise NotBatchableError(f"regulariser {type(reg).__name__} cannot be batched on a MixtureGAN (the batched "
                                    f"runner knows R1, R2 and JSRegularizer there); use dualgan.games.run_optimizer")
        _constant_weight(reg, type(reg).__name__)

    def build(seed):
        return MixtureGAN(mixture, loss_obj, hidden=hidden, depth=depth, latent_dim=latent_dim,
                          batch_size=batch_size, regularizers=regularizers, seed=seed, dtype=dtype)

    probe = build(0)
    losses = _module_losses(probe, loss_obj, regularizers)
    n_g = sum(p.numel() for p in probe.players[0].parameters)

    def sample_batch(gen):
        x = mixture.sample(batch_size, generator=gen, dtype=torch.float64)
        zl = torch.randn(batch_size, latent_dim, generator=gen, dtype=torch.float64)
        return x, zl

    def make_game(z, seed=0):
        game = build(seed)
        game.set_flat(torch.as_tensor(z, dtype=dtype))
        return game

    reg_names = "+".join(type(r).__name__ for r in regularizers)
    name = f"mixture GAN {loss_obj.name} width {hidden} depth {depth}" + (f" + {reg_names}" if reg_names else "")
    return FunctionalGame(losses, (n_g, probe.num_parameters - n_g), name=name, player_names=("generator", "discriminator"),
                          zero_sum=probe.zero_sum, n_tensors=len(probe.parameters),
                          initial_point=lambda seed: build(seed).get_flat(), make_game=make_game, dtype=dtype,
                          sample_batch=sample_batch)


def as_functional(game) -> FunctionalGame:
    """The functional form of a built-in object game, or a :class:`NotBatchableError` naming what blocks it.

    Parameters
    ----------
    game : dualgan.games.Game or FunctionalGame
        :class:`~dualgan.games.BilinearGame` (its A; its current point is
        seed 0's start only if it was built with seed 0) or
        :class:`~dualgan.games.DiracGAN` (its loss and regularisers). A
        :class:`FunctionalGame` is returned as it is.

    Returns
    -------
    FunctionalGame

    Raises
    ------
    NotBatchableError
        Any other game (a GAN with a changing batch such as
        :class:`~dualgan.games.MixtureGAN`, a constraint handler, a custom
        :class:`~dualgan.games.Game`): write its losses as a pure function and
        build a :class:`FunctionalGame`, or run it with :func:`dualgan.games.run_optimizer`.
    """
    from .bilinear import BilinearGame
    from .gan import MixtureGAN

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
    """A custom deterministic :class:`~dualgan.games.Game` that declares ``equilibrium``, evaluated row by row.

    Each cell is the object game at that cell's parameters (set, evaluated, put back): its field by
    autograd, its Jacobian by one vector-Jacobian product per coordinate.
    """
    from .optimizers.base import _ObjectPoint

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

    sizes = tuple(sum(t.numel() for t in p.parameters) for p in game.players)
    return _ObjectFunctionalGame(losses, sizes, name=type(game).__name__,
                                 player_names=tuple(p.name for p in game.players),
                                 equilibrium=torch.as_tensor(game.equilibrium, dtype=game.dtype).reshape(-1),
                                 zero_sum=game.zero_sum, n_tensors=len(game.parameters), dtype=game.dtype,
                                 fast_field=lambda Z: rows(Z, lambda point: point.v[0]),
                                 fast_jacobian=lambda Z: rows(Z, lambda point: point.J[0]))
