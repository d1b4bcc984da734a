"""Conditional generator/discriminator wrappers and the conditional GAN losses."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_generator, check_int
from ..losses import get_loss

__all__ = ["LabelEmbedding", "ConditionalGenerator", "ConditionalDiscriminator", "ProjectionDiscriminator",
           "ConditionalLosses", "bind_labels", "conditional_losses", "sample_labels"]


class LabelEmbedding(nn.Module):
    """Label code :math:`e(y)`: one-hot (``dim=None``) or a learned ``nn.Embedding(n_classes, dim)``.

    Parameters
    ----------
    n_classes : int
        Number of classes :math:`K`, >= 1; labels are integers in ``[0, n_classes)``.
    dim : int or None, default None
        Width of a learned ``nn.Embedding``; ``None`` gives the fixed one-hot code of
        width ``n_classes``.
    """

    def __init__(self, n_classes: int, dim: int | None = None):
        super().__init__()
        n_classes = check_int(n_classes, "n_classes", low=1)
        dim = check_int(dim, "embedding dim (None: one-hot)", low=1, allow_none=True)
        self.n_classes = n_classes
        self.table = nn.Embedding(n_classes, dim) if dim is not None else None

    @property
    def dim(self) -> int:
        return self.n_classes if self.table is None else self.table.embedding_dim

    def forward(self, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Label codes :math:`e(y)`.

        Parameters
        ----------
        y : torch.Tensor
            Integer labels in ``[0, n_classes)``, shape ``(B,)``.
        like : torch.Tensor
            The batch the labels go with: its length must be ``B``, and the codes take its dtype and device.

        Returns
        -------
        torch.Tensor
            Codes of shape ``(B, n_classes)`` (one-hot) or ``(B, dim)`` (learned), in ``like``'s dtype.
        """
        y = check_labels(y, self.n_classes, like.shape[0], like.device)
        if self.table is None:
            return F.one_hot(y, self.n_classes).to(like.dtype)
        return self.table(y).to(like.dtype)


class _LabelConditioned(nn.Module):
    """A ``body`` network fed with a label embedding (shared by the concatenating G and D)."""

    def __init__(self, body: nn.Module, n_classes: int, embedding_dim: int | None = None):
        super().__init__()
        self.body = _check_module(body, "body")
        self.embed = LabelEmbedding(n_classes, embedding_dim)

    @property
    def n_classes(self) -> int:
        return self.embed.n_classes


class ConditionalGenerator(_LabelConditioned):
    r""":math:`G(z, y) = \mathrm{body}([z, e(y)])`, eq. (5.14) of the theory page.

    Parameters
    ----------
    body : torch.nn.Module
        The network; takes ``latent_dim + embedding dim`` inputs (``n_classes``
        for one-hot codes, ``embedding_dim`` for learned ones).
    n_classes : int
        Number of labels, >= 1.
    embedding_dim : int or None, default None
        ``None`` for one-hot codes; otherwise the width of a learned embedding.

    References
    ----------
    Mehdi Mirza, Simon Osindero. *Conditional Generative Adversarial Nets.*
    arXiv:1411.1784, 2014.
    """

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Samples :math:`G(z, y)`.

        Parameters
        ----------
        z : torch.Tensor
            Latent codes, shape ``(B, latent_dim)``.
        y : torch.Tensor
            Integer labels in ``[0, n_classes)``, shape ``(B,)``.

        Returns
        -------
        torch.Tensor
            ``body`` applied to ``[z, e(y)]``.
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 2:
            raise ValueError(f"z must be a (batch, z_dim) tensor, got {getattr(z, 'shape', type(z).__name__)}")
        return self.body(torch.cat([z, self.embed(y, z)], dim=1))


class ConditionalDiscriminator(_LabelConditioned):
    r""":math:`D(x, y) = \mathrm{body}([\mathrm{vec}(x), e(y)])` (input concatenation).

    ``body`` takes ``prod(x.shape[1:]) + embedding dim`` inputs and returns one score per sample;
    eq. (5.14) of the theory page.

    Parameters
    ----------
    body : torch.nn.Module
        The network; one score (logit) per sample.
    n_classes : int
        Number of labels, >= 1.
    embedding_dim : int or None, default None
        ``None`` for one-hot codes; otherwise the width of a learned embedding.

    References
    ----------
    Mehdi Mirza, Simon Osindero. *Conditional Generative Adversarial Nets.*
    arXiv:1411.1784, 2014.
    """

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores :math:`D(x, y)`.

        Parameters
        ----------
        x : torch.Tensor
            Samples, shape ``(B, ...)`` (flattened before concatenation).
        y : torch.Tensor
            Integer labels in ``[0, n_classes)``, shape ``(B,)``.

        Returns
        -------
        torch.Tensor
            One score per sample, as ``body`` returns it.
        """
        flat = x.flatten(1)
        return _squeeze_scores(self.body(torch.cat([flat, self.embed(y, flat)], dim=1)))


class ProjectionDiscriminator(nn.Module):
    r"""Projection discriminator :math:`D(x, y) = \psi(\phi(x)) + e(y)^\top \phi(x)`.

    ``features`` maps ``x`` to :math:`\phi(x)` of width ``feature_dim``; ``head``
    (default ``nn.Linear(feature_dim, 1)``) gives :math:`\psi`; the label
    embedding is learned with ``feature_dim`` columns.

    Parameters
    ----------
    features : torch.nn.Module
        Feature network :math:`\phi`, mapping a batch ``x`` to ``(B, feature_dim)``.
    feature_dim : int
        Width of :math:`\phi(x)`, >= 1; also the width of the learned label embedding.
    n_classes : int
        Number of classes, >= 1.
    head : torch.nn.Module or None, default None
        The unconditional score :math:`\psi`, ``(B, feature_dim) -> (B,)`` or ``(B, 1)``;
        ``None`` uses ``nn.Linear(feature_dim, 1)``.

    References
    ----------
    Eq. (5.14) of the theory page.

    Takeru Miyato, Masanori Koyama. *cGANs with Projection Discriminator.*
    ICLR 2018.
    """

    def __init__(self, features: nn.Module, feature_dim: int, n_classes: int, head: nn.Module | None = None):
        super().__init__()
        self.features = _check_module(features, "features")
        feature_dim = check_int(feature_dim, "feature_dim (width of features(x))", low=1)
        self.head = head if head is not None else nn.Linear(feature_dim, 1)
        self.embed = LabelEmbedding(n_classes, feature_dim)

    @property
    def n_classes(self) -> int:
        return self.embed.n_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Scores :math:`\psi(\phi(x)) + e(y)^\top \phi(x)`.

        Parameters
        ----------
        x : torch.Tensor
            Samples, shape ``(B, ...)`` as ``features`` expects.
        y : torch.Tensor
            Integer labels in ``[0, n_classes)``, shape ``(B,)``.

        Returns
        -------
        torch.Tensor
            Scores of shape ``(B,)``.
        """
        phi = self.features(x)
        return _squeeze_scores(self.head(phi)) + (self.embed(y, phi) * phi).sum(dim=1)


@dataclass(frozen=True)
class ConditionalLosses:
    """Both players' losses for one batch (tensors, ready for ``backward``) and the scores behind them.

    Attributes
    ----------
    discriminator_loss : torch.Tensor
        0-d tensor, the discriminator's loss :math:`-(E f + E g)` with the generated
        batch detached.
    generator_loss : torch.Tensor
        0-d tensor, the generator's loss :math:`E h`.
    score_real : torch.Tensor
        Scores :math:`D(x, y)` of the real batch, shape ``(B,)`` or ``(B, 1)``.
    score_fake : torch.Tensor
        Scores :math:`D(G(z, y'), y')` of the generated batch (with the generator's graph).
    """

    discriminator_loss: torch.Tensor
    generator_loss: torch.Tensor
    score_real: torch.Tensor
    score_fake: torch.Tensor


def conditional_losses(loss, generator, discriminator, x_real: torch.Tensor, y_real: torch.Tensor,
                       z: torch.Tensor, y_fake: torch.Tensor) -> ConditionalLosses:
    r"""Losses of a conditional GAN under any :class:`~dualgan.losses.GANLoss` (or its name).

    Discriminator: :math:`-(E[f(D(x, y))] + E[g(D(G(z, y'), y'))])` with the
    generated batch detached; generator: :math:`E[h(D(G(z, y'), y'))]`. Step the
    discriminator's optimiser on the first and the generator's on the second
    (``backward(inputs=...)`` keeps each loss's gradient to its own player).
    Both losses share one graph: take both gradients before stepping either
    optimiser (simultaneous update), or call again after the discriminator's
    step for alternating updates.

    Parameters
    ----------
    loss : GANLoss or str
        The objective (eq. (5.1) of the theory page, docs/theory.md), or its name
        for :func:`dualgan.losses.get_loss`.
    generator : callable
        Conditional generator ``(z, y) -> x``.
    discriminator : callable
        Conditional discriminator ``(x, y) -> scores`` of shape ``(B,)`` or ``(B, 1)``.
    x_real : torch.Tensor
        Real batch, shape ``(B, ...)``.
    y_real : torch.Tensor
        Integer labels of the real batch, shape ``(B,)``.
    z : torch.Tensor
        Latent codes of the generated batch, shape ``(B', latent_dim)``.
    y_fake : torch.Tensor
        Integer labels the generated batch is conditioned on, shape ``(B',)``.

    Returns
    -------
    ConditionalLosses
        Both losses and the scores behind them.
    """
    loss = get_loss(loss)
    x_fake = generator(z, y_fake)
    score_real = discriminator(x_real, y_real)
    score_fake_detached = discriminator(x_fake.detach(), y_fake)
    score_fake = discriminator(x_fake, y_fake)
    return ConditionalLosses(loss.discriminator_loss(score_real, score_fake_detached),
                             loss.generator_loss(score_fake), score_real, score_fake)


def bind_labels(discriminator, y: torch.Tensor):
    """The callable ``x -> discriminator(x, y)`` (for the regularisers, which see ``x -> scores``).

    With different labels for the real and generated batches, bind each and
    call the penalty on the batch it concerns, or pass ``torch.cat`` of both
    label sets when the penalty stacks the batches.

    Parameters
    ----------
    discriminator : callable
        Conditional discriminator ``(x, y) -> scores``.
    y : torch.Tensor
        Integer labels of shape ``(B,)`` matching the batch the bound callable will see.

    Returns
    -------
    callable
        ``x -> discriminator(x, y)``.

    Raises
    ------
    ValueError
        If ``discriminator`` is not callable, or (when called) the batch size differs
        from ``len(y)``.
    """
    if not callable(discriminator):
        raise ValueError(f"discriminator must be a callable (x, y) -> scores, got {type(discriminator).__name__}")

    def bound(x):
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"bound labels have {y.shape[0]} entries but the batch has {x.shape[0]} samples; "
                             f"bind labels matching the batch the penalty evaluates")
        return discriminator(x, y)

    return bound


def sample_labels(n: int, n_classes: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``n`` uniform class labels in ``[0, n_classes)`` (int64).

    Parameters
    ----------
    n : int
        Number of labels, >= 1.
    n_classes : int
        Number of classes, >= 1.
    generator : torch.Generator or None, default None
        Random generator for reproducible draws (``None``: torch's global one).
    device : torch.device or str or None, default None
        Device of the result (``None``: the CPU).

    Returns
    -------
    torch.Tensor
        int64 tensor of shape ``(n,)``.

    Raises
    ------
    ValueError
        If ``n`` or ``n_classes`` is not a positive integer.
    """
    n, n_classes = check_int(n, "n", low=1), check_int(n_classes, "n_classes", low=1)
    generator = check_generator(generator)
    labels = torch.randint(n_classes, (n,), generator=generator)
    return labels.to(device) if device is not None else labels


def check_labels(y, n_classes: int, batch: int, device) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"labels y must be an integer torch tensor of shape (batch,), got {type(y).__name__}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"labels y must be integer class indices, got dtype {y.dtype}; use y.long()")
    if y.shape != (batch,):
        raise ValueError(f"labels y must have shape ({batch},) to match the batch, got {tuple(y.shape)}")
    if batch and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels y must lie in [0, {n_classes}), got range [{int(y.min())}, {int(y.max())}]")
    return y.to(device=device, dtype=torch.long)


def _check_module(m, name):
    if not isinstance(m, nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    return m


def _squeeze_scores(s: torch.Tensor) -> torch.Tensor:
    return s[:, 0] if s.ndim == 2 and s.shape[1] == 1 else s
