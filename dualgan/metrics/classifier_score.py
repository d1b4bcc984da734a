r"""The 'internal classifier' inception score of the Dualing GANs paper (eq. (6.4) of the theory page, docs/theory.md).

.. math::

    \mathrm{score} = \exp\Big(\mathbb E_x\, \mathrm{KL}\big(p(y|x)\,\|\,p(y)\big)\Big),
    \qquad p(y) = \mathbb E_x\, p(y|x),

computed from log-softmax outputs (stable), with the digits classifier of
:func:`dualgan.features.digits_classifier` as the default. The score lies in
[1, K] for K classes: 1 when every sample gets the same prediction, K when
predictions are confident and the classes balanced. With ``splits > 1`` the
samples are cut into that many parts and the mean and standard deviation of
the per-part scores are reported (Salimans et al.'s protocol).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_finite_tensor, check_int
from ._evaluate import evaluate_in_batches

__all__ = ["ClassifierScore", "classifier_score"]


@dataclass(frozen=True)
class ClassifierScore:
    """Score (mean over splits), its standard deviation over splits, and sizes.

    Attributes
    ----------
    score : float
        Mean of the per-split scores, in [1, n_classes].
    std : float
        Standard deviation of the per-split scores (0 with one split).
    n_samples : int
        Number of samples scored.
    n_splits : int
        Number of splits.
    n_classes : int
        Number of classes of the classifier.
    """

    score: float
    std: float
    n_samples: int
    n_splits: int
    n_classes: int

    def __float__(self) -> float:
        """The score, so that ``float(result)`` works."""
        return self.score


def classifier_score(images, classifier: nn.Module | None = None, splits: int = 1,
                     batch_size: int = 512) -> ClassifierScore:
    r"""The classifier score of ``images``, eq. (6.4) of the theory page.

    Parameters
    ----------
    images : array_like or torch.Tensor
        Samples, shape ``(N, ...)`` as ``classifier`` takes them (``(N, 1, 8, 8)``,
        float, values in [0, 1] for the default digits classifier); finite.
    classifier : torch.nn.Module or None, default None
        Any network returning logits of shape ``(N, K)``; ``None`` uses
        :func:`dualgan.features.digits_classifier` (``K = 10``). Evaluated in
        eval mode without gradients, its training mode restored afterwards.
    splits : int, default 1
        Number of parts the samples are cut into (``1 <= splits <= N``); the
        score is computed per part, and the mean and standard deviation are reported.
    batch_size : int, default 512
        Samples per forward pass (memory only; the result does not depend on it).

    Returns
    -------
    ClassifierScore
        Mean and standard deviation over the splits, in :math:`[1, K]`.

    Raises
    ------
    ValueError
        If ``images`` has fewer than ``splits`` samples or non-finite values,
        ``splits`` or ``batch_size`` is not a positive integer, ``classifier``
        is not a module, or it does not return logits of shape ``(N, K)``.

    References
    ----------
    Tim Salimans, Ian Goodfellow, Wojciech Zaremba, Vicki Cheung, Alec
    Radford, Xi Chen. *Improved Techniques for Training GANs.* NeurIPS 2016
    (the inception score and its split protocol).

    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (the score with an internal classifier).
    """
    splits = check_int(splits, "splits", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(images)
    x = x.detach()
    if x.ndim < 2 or x.shape[0] < splits:
        raise ValueError(f"images must have shape (N, ...) with N >= splits = {splits}, got {tuple(x.shape)}")
    check_finite_tensor(x, "images")
    if classifier is None:
        from ..features.classifier import digits_classifier

        classifier = digits_classifier()
    if not isinstance(classifier, nn.Module):
        raise ValueError(f"classifier must be a torch.nn.Module returning logits, got {type(classifier).__name__}")
    # a fixed function of the images (eq. (7.1) of the theory page), in the classifier's dtype and device
    logp = torch.cat(evaluate_in_batches(classifier, x, batch_size,
                                         lambda chunk, logits: torch.log_softmax(logits.double(), dim=1)))
    if logp.ndim != 2:
        raise ValueError(f"classifier must return logits of shape (N, classes), got {tuple(logp.shape)}")
    scores = [_score(part) for part in torch.tensor_split(logp, splits)]
    mean = sum(scores) / splits
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)
    return ClassifierScore(mean, std, int(x.shape[0]), splits, int(logp.shape[1]))


def _score(logp: torch.Tensor) -> float:
    # log p(y) = log mean_x p(y|x), by logsumexp for stability
    log_py = torch.logsumexp(logp, dim=0) - math.log(logp.shape[0])
    kl = (logp.exp() * (logp - log_py)).sum(1)
    return float(torch.exp(kl.mean()))
