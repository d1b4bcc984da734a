r"""Gradient penalties on the discriminator (eqs. (5.7)-(5.11) of the theory page, docs/theory.md).

Each penalty is :math:`w \, E_{x \sim p_x}[R(\nabla_x D(x))]` for a sampling
distribution :math:`p_x` and a function :math:`R` of the input gradient; it is
added to the discriminator's loss (which the discriminator minimises):

* :class:`CoupledGradientPenalty` (WGAN-GP): :math:`p_x` = interpolates
  :math:`\epsilon x + (1-\epsilon)\tilde x`, :math:`\epsilon \sim U(0,1)`;
  term :math:`\lambda (\|\nabla D\| - k)^2`, one-sided :math:`\lambda \max(\|\nabla D\| - k, 0)^2`;
* :class:`LocalGradientPenalty` (DRAGAN): :math:`p_x` = :math:`x + c\,\xi`,
  :math:`\xi \sim N(0, I)`; term as the coupled penalty;
* :class:`R1`: real :math:`x`, :math:`\tfrac{\gamma}{2} \|\nabla D\|^2`;
* :class:`R2`: generated :math:`\tilde x`, :math:`\tfrac{\gamma}{2} \|\nabla D\|^2`;
* :class:`JSRegularizer`: both, :math:`\tfrac{\gamma}{2}\,\Omega` (below).

Roth et al.'s Jensen-Shannon regulariser in logit form (``s`` the logit,
:math:`D = \sigma(s)`):

.. math::
    \Omega = E_{p_d}[(1 - \sigma(s(x)))^2 \|\nabla_x s(x)\|^2]
           + E_{p_g}[\sigma(s(\tilde x))^2 \|\nabla_x s(\tilde x)\|^2].

The input gradient is taken with ``create_graph=True`` so the penalty can be
differentiated with respect to the discriminator's parameters (double
backward). Inputs that already require grad (e.g. ``G(z)`` not detached) keep
their graph, so a game optimiser that differentiates the discriminator's loss
with respect to the generator too (consensus optimisation, SGA) sees the
penalty's full dependence; pass ``x_fake.detach()`` in an ordinary
discriminator step.

Non-finite values are propagated, never masked: a discriminator whose
weights or scores are NaN gives a NaN penalty (and NaN gradients), which
trainers report as a non-finite status; no penalty maps NaN to a finite
number.

Per-sample gradients come from one backward pass of ``scores.sum()``; that is
exact only when the discriminator treats samples independently (no batch
normalisation in training mode, no minibatch discrimination).
"""
from __future__ import annotations

import torch

from .._checks import check_bool, check_generator, check_number
from .schedules import Schedule, as_schedule

__all__ = [
    "GradientPenalty",
    "CoupledGradientPenalty",
    "LocalGradientPenalty",
    "R1",
    "R2",
    "JSRegularizer",
    "input_gradient",
]


def input_gradient(discriminator, x: torch.Tensor, create_graph: bool = True):
    r"""Scores :math:`s(x_i)` (shape ``(B,)``) and input gradients :math:`\nabla_x s(x_i)` (shape of ``x``).

    ``discriminator`` is any callable mapping a batch to one score per sample.

    Parameters
    ----------
    discriminator : callable
        ``x -> scores``, one score per sample.
    x : torch.Tensor
        Batch, shape ``(B, ...)``; if it already requires grad its graph is kept.
    create_graph : bool, default True
        Keep the graph of the gradient, so that a penalty on it can be differentiated.

    Returns
    -------
    tuple of torch.Tensor
        Scores ``(B,)`` and input gradients of the shape of ``x``.
    """
    x = _check_batch(x, "x")
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    scores = _as_scores(discriminator(x), x.shape[0])
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
    return scores, grad


class GradientPenalty:
    """Base class: ``weight`` is a float or a :class:`~dualgan.regularizers.Schedule`.

    A subclass names the two parts of eq. (5.7): the points the gradient is
    taken at (the sampling distribution :math:`p_x`, hook ``_points``) and,
    unless it is the squared norm, the function :math:`R` of each input
    gradient (hook ``_mean_term``). :meth:`unweighted` is then the mean of
    :math:`R` over those points, and calling the object returns
    ``weight_at(step) * unweighted(...)`` where the weight is read from the
    schedule at ``step`` (default: the schedule's own counter).

    Parameters
    ----------
    weight : float or Schedule
        Non-negative weight :math:`w` of eq. (5.7) of the theory page, or a schedule of it.
    """

    weight_name = "weight"
    _weight_factor = 1.0  # the constant in front of the schedule's weight (R1's gamma / 2)

    def __init__(self, weight):
        self.schedule: Schedule = as_schedule(weight, self.weight_name)

    def weight_at(self, step: int | None = None) -> float:
        """The weight at a step.

        Parameters
        ----------
        step : int or None, default None
            Step count at which to read a schedule (None: the schedule's own counter).

        Returns
        -------
        float
            The factor in front of the mean of :math:`R` in eq. (5.7): the
            schedule's weight (half of it for :class:`R1`, :class:`R2` and
            :class:`JSRegularizer`, whose weight is :math:`\\gamma` of
            :math:`\\tfrac{\\gamma}{2}\\|\\nabla D\\|^2`).
        """
        return self._weight_factor * self.schedule(step)

    def state_dict(self) -> dict:
        """Training state for checkpoints: the schedule's counter and, if any, the random generator's state."""
        gen = getattr(self, "generator", None)
        return {"schedule": self.schedule.state_dict(), "generator": None if gen is None else gen.get_state()}

    def check_state_dict(self, state: dict) -> None:
        """Check that ``state`` has this penalty's layout (nothing changes): what :meth:`load_state_dict` checks first.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`: ``{"schedule", "generator"}``.

        Raises
        ------
        ValueError
            If ``state`` does not come from a penalty of this kind: other keys,
            a random generator state where this penalty has none (or the
            reverse) or one that is not this generator's (a uint8 tensor of its
            state's length), or a schedule state its schedule refuses.
        """
        if not isinstance(state, dict) or set(state) != {"schedule", "generator"}:
            raise ValueError(f"a penalty state is {{'schedule': ..., 'generator': ...}}, got {state!r}")
        gen = getattr(self, "generator", None)
        if (gen is None) != (state["generator"] is None):
            raise ValueError("the saved penalty and this one differ in having a torch.Generator; construct it "
                             "with the checkpoint's settings")
        saved = state["generator"]
        if gen is not None and (not isinstance(saved, torch.Tensor) or saved.dtype != torch.uint8
                                or saved.shape != gen.get_state().shape):
            raise ValueError(f"the saved random generator state is not a state of this penalty's "
                             f"{gen.device.type} torch.Generator (a uint8 tensor of shape "
                             f"{tuple(gen.get_state().shape)}), got {getattr(saved, 'dtype', type(saved).__name__)} "
                             f"{tuple(getattr(saved, 'shape', ()))}; construct it with the checkpoint's settings")
        self.schedule.check_state_dict(state["schedule"])  # the schedule checks its own part

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output once :meth:`check_state_dict` accepts it (nothing changes otherwise).

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`.

        Raises
        ------
        ValueError
            If :meth:`check_state_dict` refuses ``state``.
        """
        self.check_state_dict(state)
        self.schedule.load_state_dict(state["schedule"])
        gen = getattr(self, "generator", None)
        if gen is not None:
            gen.set_state(state["generator"])

    def unweighted(self, discriminator, x_real: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:
        """The penalty without its weight: the mean of :math:`R(\\nabla_x D)` over the points of :math:`p_x`, eq. (5.7).

        Parameters
        ----------
        discriminator : callable
            ``x -> scores``, one score (logit) per sample: shape ``(B,)`` or ``(B, 1)``.
        x_real : torch.Tensor
            Real batch, shape ``(B, ...)``.
        x_fake : torch.Tensor
            Generated batch, shape ``(B', ...)`` (``x_fake.detach()`` in an ordinary discriminator step).

        Returns
        -------
        torch.Tensor
            0-d tensor, the penalty before its weight.
        """
        scores, grad = input_gradient(discriminator, self._points(x_real, x_fake))
        return self._mean_term(scores, grad.flatten(1), x_real.shape[0])

    def _points(self, x_real: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _mean_term(self, scores: torch.Tensor, grad: torch.Tensor, n_real: int) -> torch.Tensor:
        # the mean of R over the points, from their scores (P,) and flattened input gradients (P, n); n_real:
        # how many of the points come first from the real batch. R is the squared norm unless a subclass says
        return grad.pow(2).sum(dim=1).mean()

    def __call__(self, discriminator, x_real: torch.Tensor, x_fake: torch.Tensor, *, step: int | None = None) -> torch.Tensor:
        if not callable(discriminator):
            raise ValueError(f"discriminator must be a callable x -> scores (an nn.Module), got {type(discriminator).__name__}")
        x_real = _check_batch(x_real, "x_real")
        x_fake = _check_batch(x_fake, "x_fake")
        if x_real.shape[1:] != x_fake.shape[1:]:
            raise ValueError(f"x_real and x_fake must share the sample shape, got {tuple(x_real.shape[1:])} and "
                             f"{tuple(x_fake.shape[1:])}")
        return self.weight_at(step) * self.unweighted(discriminator, x_real, x_fake)


class _NormTargetPenalty(GradientPenalty):
    def __init__(self, weight, target: float, one_sided: bool, generator):
        super().__init__(weight)
        target = check_number(target, "target (the gradient-norm target k)", low=0.0)
        self.target = target
        self.one_sided = check_bool(one_sided, "one_sided")  # bool('no') was True
        self.generator = check_generator(generator)

    def _mean_term(self, scores, grad, n_real):
        # eqs. (5.8) and (5.9): the mean of (||grad|| - k)^2, or of its one-sided form
        excess = _safe_norm(grad) - self.target
        if self.one_sided:
            excess = torch.clamp(excess, min=0.0)
        return (excess ** 2).mean()


class CoupledGradientPenalty(_NormTargetPenalty):
    r"""WGAN-GP: :math:`\lambda E[(\|\nabla D(\hat x)\| - k)^2]` at :math:`\hat x = \epsilon x + (1-\epsilon)\tilde x`.

    One :math:`\epsilon \sim U(0, 1)` per sample pair (real and fake batches
    must have the same size). ``one_sided=True`` penalises only norms above
    ``target``. ``generator``: optional ``torch.Generator`` (on the data's
    device) for reproducible interpolation weights.

    Parameters
    ----------
    weight : float or Schedule, default 10.0
        Weight :math:`\lambda`, >= 0.
    target : float, default 1.0
        Target gradient norm :math:`k`.
    one_sided : bool, default False
        Penalise only norms above ``target``.
    generator : torch.Generator or None, default None
        Random generator for the interpolation weights.

    References
    ----------
    Eq. (5.8) of the theory page.

    Ishaan Gulrajani, Faruk Ahmed, Martin Arjovsky, Vincent Dumoulin, Aaron
    Courville. *Improved Training of Wasserstein GANs.* NeurIPS 2017.
    """

    def __init__(self, weight: float = 10.0, target: float = 1.0, one_sided: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__(weight, target, one_sided, generator)

    def interpolates(self, x_real: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:
        r"""Random interpolates of the two batches, one weight per pair.

        Parameters
        ----------
        x_real : torch.Tensor
            Real batch, shape ``(B, ...)``.
        x_fake : torch.Tensor
            Generated batch of the same shape.

        Returns
        -------
        torch.Tensor
            :math:`\epsilon x + (1 - \epsilon)\tilde x`, shape ``(B, ...)``.
        """
        if x_real.shape[0] != x_fake.shape[0]:
            raise ValueError(f"the coupled penalty pairs real and fake samples: x_real has {x_real.shape[0]} rows "
                             f"and x_fake {x_fake.shape[0]}; pass batches of equal size")
        eps_shape = (x_real.shape[0],) + (1,) * (x_real.ndim - 1)
        eps = torch.rand(eps_shape, generator=self.generator, dtype=x_real.dtype, device=x_real.device)
        return eps * x_real + (1.0 - eps) * x_fake

    def _points(self, x_real, x_fake):
        return self.interpolates(x_real, x_fake)


class LocalGradientPenalty(_NormTargetPenalty):
    r"""DRAGAN: :math:`\lambda E[(\|\nabla D(x + c\xi)\| - k)^2]`, :math:`\xi \sim N(0, I)`, around real data.

    Parameters
    ----------
    weight : float or Schedule, default 10.0
        Weight :math:`\lambda`, >= 0.
    target : float, default 1.0
        Target gradient norm :math:`k`.
    scale : float, default 0.5
        Perturbation scale :math:`c`, in data units.
    one_sided : bool, default False
        Penalise only norms above ``target``.
    generator : torch.Generator or None, default None
        Random generator for the perturbations.

    References
    ----------
    Eq. (5.9) of the theory page.

    Naveen Kodali, Jacob Abernethy, James Hays, Zsolt Kira. *On Convergence
    and Stability of GANs.* arXiv:1705.07215, 2017.
    """

    def __init__(self, weight: float = 10.0, target: float = 1.0, scale: float = 0.5, one_sided: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__(weight, target, one_sided, generator)
        scale = check_number(scale, "scale (the perturbation size c)", low=0.0)
        self.scale = scale

    def perturbed(self, x_real: torch.Tensor) -> torch.Tensor:
        r"""Real samples moved by Gaussian noise of scale ``scale``.

        Parameters
        ----------
        x_real : torch.Tensor
            Real batch, shape ``(B, ...)``.

        Returns
        -------
        torch.Tensor
            :math:`x + c\,\xi`, :math:`\xi \sim N(0, I)`.
        """
        noise = torch.randn(x_real.shape, generator=self.generator, dtype=x_real.dtype, device=x_real.device)
        return x_real + self.scale * noise

    def _points(self, x_real, x_fake):
        return self.perturbed(x_real)


class R1(GradientPenalty):
    r"""Mescheder et al.'s R1: :math:`\tfrac{\gamma}{2} E_{p_d}[\|\nabla_x D(x)\|^2]` on real data.

    Parameters
    ----------
    gamma : float or Schedule, default 10.0
        Weight :math:`\gamma`, >= 0 (the penalty is :math:`\gamma/2` times the mean squared norm).

    References
    ----------
    Eq. (5.10) of the theory page.

    Lars Mescheder, Andreas Geiger, Sebastian Nowozin. *Which Training Methods
    for GANs do actually Converge?* ICML 2018.
    """

    weight_name = "gamma"
    _weight_factor = 0.5  # gamma / 2 in front of the squared norm, eq. (5.10)

    def __init__(self, gamma=10.0):
        super().__init__(gamma)

    def _points(self, x_real, x_fake):
        return x_real


class R2(R1):
    r"""R2: :math:`\tfrac{\gamma}{2} E_{p_g}[\|\nabla_x D(\tilde x)\|^2]` on generated data, eq. (5.10) of the theory page.

    Parameters
    ----------
    gamma : float or Schedule, default 10.0
        Weight :math:`\gamma`, >= 0 (as :class:`R1`).

    References
    ----------
    Lars Mescheder, Andreas Geiger, Sebastian Nowozin. *Which Training Methods
    for GANs do actually Converge?* ICML 2018.
    """

    def _points(self, x_real, x_fake):
        return x_fake


class JSRegularizer(R1):
    r"""Roth et al.'s Jensen-Shannon regulariser, logit form: :math:`\tfrac{\gamma}{2}\,\Omega`.

    :math:`\Omega = E_{p_d}[\sigma(-s)^2 \|\nabla s\|^2] + E_{p_g}[\sigma(s)^2 \|\nabla s\|^2]`
    (:math:`1 - \sigma(s) = \sigma(-s)`, the stable form). ``gamma`` is a float
    or a schedule; Roth et al. anneal it with
    ``ExponentialAnnealing(gamma0, total_steps, final_ratio=0.01)``. Pair it with
    the non-saturating generator loss, as they recommend.

    Parameters
    ----------
    gamma : float or Schedule, default 0.1
        Weight :math:`\gamma`, >= 0, or a schedule such as :class:`ExponentialAnnealing`.

    References
    ----------
    Eqs. (5.11) and (5.12) of the theory page.

    Kevin Roth, Aurelien Lucchi, Sebastian Nowozin, Thomas Hofmann.
    *Stabilizing Training of Generative Adversarial Networks through
    Regularization.* NeurIPS 2017.
    """

    def __init__(self, gamma=0.1):
        super().__init__(gamma)

    def _points(self, x_real, x_fake):
        # one pass over the stacked batch: half the calls of two separate passes, same numbers
        return torch.cat([x_real, x_fake], dim=0)

    def _mean_term(self, scores, grad, n_real):
        return self._omega(scores[:n_real], grad[:n_real], scores[n_real:], grad[n_real:])

    def from_gradients(self, score_real, grad_real, score_fake, grad_fake, *, step: int | None = None):
        r""":math:`\tfrac{\gamma}{2}\Omega` from scores and input gradients the caller computed.

        Lets a training step use one forward pass for both the loss and the
        penalty: stack the batches, make them require grad, score them, take
        the input gradient of ``scores.sum()`` with ``create_graph=True`` and
        pass the real and generated halves here.

        Parameters
        ----------
        score_real : torch.Tensor
            Logits of the real batch, shape ``(B,)``.
        grad_real : torch.Tensor
            Their input gradients, shape ``(B, ...)``, taken with ``create_graph=True``.
        score_fake : torch.Tensor
            Logits of the generated batch, shape ``(B',)``.
        grad_fake : torch.Tensor
            Their input gradients, shape ``(B', ...)``.
        step : int or None, default None
            Step at which to read a scheduled weight (None: the schedule's own counter).

        Returns
        -------
        torch.Tensor
            0-d tensor :math:`\tfrac{\gamma}{2}\Omega`.
        """
        return self.weight_at(step) * self._omega(score_real, grad_real, score_fake, grad_fake)

    @staticmethod
    def _omega(score_real, grad_real, score_fake, grad_fake):
        term_real = torch.sigmoid(-score_real.reshape(-1)).pow(2) * grad_real.flatten(1).pow(2).sum(dim=1)
        term_fake = torch.sigmoid(score_fake.reshape(-1)).pow(2) * grad_fake.flatten(1).pow(2).sum(dim=1)
        return term_real.mean() + term_fake.mean()


def _safe_norm(v: torch.Tensor) -> torch.Tensor:
    # sqrt has an infinite derivative at 0; a zero gradient row gets derivative 0 instead of NaN.
    # Only exact zeros take that branch: a NaN row stays NaN (``sq > 0`` is False for NaN, so the
    # test is ``sq == 0``), never a finite norm.
    sq = v.pow(2).sum(dim=1)
    zero = sq == 0
    safe = torch.where(zero, torch.ones_like(sq), sq)
    return torch.where(zero, torch.zeros_like(sq), safe.sqrt())


def _check_batch(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of shape (batch, ...), got {type(x).__name__}; "
                         f"convert with torch.as_tensor")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (batch, ...) with batch >= 1, got {tuple(x.shape)}; "
                         f"use x.reshape(-1, 1) for scalar samples")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor to be differentiated, got {x.dtype}")
    return x


def _as_scores(scores, batch: int) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        raise ValueError(f"the discriminator must return a tensor of scores, got {type(scores).__name__}")
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (batch,):
        raise ValueError(f"the discriminator must return one score per sample, shape ({batch},) or ({batch}, 1); "
                         f"got {tuple(scores.shape)}")
    return scores
