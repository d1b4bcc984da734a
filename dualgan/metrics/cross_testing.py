r"""Roth et al.'s cross-testing protocol (eq. (6.7) of the theory page, docs/theory.md; Roth et al. 2017, section 5.5).

Two trained GANs, A and B. Each discriminator classifies held-out real
samples against generated ones; "positive" means *classified as real*
(score above ``threshold``, 0 for a logit, i.e. :math:`\sigma(s) > 1/2`):

* false-positive rate (type I): share of generated samples classified real;
* false-negative rate (type II): share of real samples classified fake;
  with :math:`\mathrm{TPR} + \mathrm{FNR} = 1` and :math:`\mathrm{FPR} + \mathrm{TNR} = 1`.

:func:`cross_test` reports four confusion records: each model on its own
samples, and each discriminator on the *other* model's samples. Roth et al.
read the cross rows: the discriminator with the lower false-positive rate on
the other's samples is not fooled by it, and belongs to the better model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_finite_tensor, check_int, check_number
from ._evaluate import evaluate_in_batches

__all__ = ["ConfusionRates", "CrossTestReport", "confusion_rates", "cross_test"]


@dataclass(frozen=True)
class ConfusionRates:
    """A discriminator's confusion rates on ``n_real`` real and ``n_fake`` generated samples.

    Attributes
    ----------
    true_positive_rate : float
        Share of real samples classified real.
    false_negative_rate : float
        Share of real samples classified generated (``1 - true_positive_rate``).
    false_positive_rate : float
        Share of generated samples classified real, eq. (6.7) of the theory page.
    true_negative_rate : float
        Share of generated samples classified generated.
    n_real : int
        Number of real samples.
    n_fake : int
        Number of generated samples.
    threshold : float
        Score above which a sample counts as real.
    """

    true_positive_rate: float
    false_negative_rate: float
    false_positive_rate: float
    true_negative_rate: float
    n_real: int
    n_fake: int
    threshold: float

    @property
    def accuracy(self) -> float:
        """Balanced accuracy: the mean of the true-positive and true-negative rates."""
        return 0.5 * (self.true_positive_rate + self.true_negative_rate)


@dataclass(frozen=True)
class CrossTestReport:
    """``own_a``: D_A on real vs G_A; ``a_on_b``: D_A on real vs G_B; likewise for B.

    Attributes
    ----------
    own_a : ConfusionRates
        D_A on real samples vs G_A's samples.
    own_b : ConfusionRates
        D_B on real samples vs G_B's samples.
    a_on_b : ConfusionRates
        D_A on real samples vs G_B's samples.
    b_on_a : ConfusionRates
        D_B on real samples vs G_A's samples.
    name_a : str, default "A"
        Label of model A in the table.
    name_b : str, default "B"
        Label of model B in the table.
    """

    own_a: ConfusionRates
    own_b: ConfusionRates
    a_on_b: ConfusionRates
    b_on_a: ConfusionRates
    name_a: str = "A"
    name_b: str = "B"

    def table(self) -> str:
        """A plain-text table of the four rows."""
        rows = [(f"D_{self.name_a} vs G_{self.name_a}", self.own_a), (f"D_{self.name_b} vs G_{self.name_b}", self.own_b),
                (f"D_{self.name_a} vs G_{self.name_b}", self.a_on_b), (f"D_{self.name_b} vs G_{self.name_a}", self.b_on_a)]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'test':<{width}}  {'TPR':>6} {'FNR':>6} {'FPR':>6} {'TNR':>6}"]
        for name, r in rows:
            lines.append(f"{name:<{width}}  {r.true_positive_rate:6.3f} {r.false_negative_rate:6.3f} "
                         f"{r.false_positive_rate:6.3f} {r.true_negative_rate:6.3f}")
        return "\n".join(lines)


def confusion_rates(discriminator, real: torch.Tensor, fake: torch.Tensor, threshold: float = 0.0,
                    batch_size: int = 4096) -> ConfusionRates:
    """Classify ``real`` and ``fake`` with ``discriminator`` (score > ``threshold`` means real).

    Parameters
    ----------
    discriminator : callable
        ``x -> scores``, evaluated without gradients.
    real : torch.Tensor
        Real samples, shape ``(n_real, ...)``.
    fake : torch.Tensor
        Generated samples, shape ``(n_fake, ...)``.
    threshold : float, default 0.0
        Score above which a sample counts as real (0 for logits).
    batch_size : int, default 4096
        Samples per discriminator call.

    Returns
    -------
    ConfusionRates
        The four rates and the sample counts.
    """
    threshold = check_number(threshold, "threshold")
    batch_size = check_int(batch_size, "batch_size", low=1)
    real_pos = _count_positive(discriminator, real, "real", threshold, batch_size)
    fake_pos = _count_positive(discriminator, fake, "fake", threshold, batch_size)
    n_real, n_fake = real.shape[0], fake.shape[0]
    tpr = real_pos / n_real
    fpr = fake_pos / n_fake
    return ConfusionRates(tpr, (n_real - real_pos) / n_real, fpr, (n_fake - fake_pos) / n_fake,
                          n_real, n_fake, threshold)


def cross_test(discriminator_a, samples_a: torch.Tensor, discriminator_b, samples_b: torch.Tensor,
               real: torch.Tensor, threshold: float = 0.0, name_a: str = "A", name_b: str = "B") -> CrossTestReport:
    """Roth et al.'s cross-test of models A and B on held-out ``real`` samples.

    ``samples_a``/``samples_b`` are generated by the two generators (Roth et
    al. use 10k of each and 10k test images). Discriminators are callables
    ``x -> scores`` (logits for the logistic losses; choose ``threshold`` for
    others), evaluated without gradients; put batch-norm modules in eval mode first.

    Parameters
    ----------
    discriminator_a : callable
        Model A's discriminator, ``x -> scores``.
    samples_a : torch.Tensor
        Samples of model A's generator, shape ``(n_a, ...)``.
    discriminator_b : callable
        Model B's discriminator.
    samples_b : torch.Tensor
        Samples of model B's generator, shape ``(n_b, ...)``.
    real : torch.Tensor
        Held-out real samples, shape ``(n, ...)``.
    threshold : float, default 0.0
        Score above which a sample counts as real.
    name_a : str, default "A"
        Label of model A.
    name_b : str, default "B"
        Label of model B.

    Returns
    -------
    CrossTestReport
        Each discriminator's rates on its own and on the other generator's samples.

    References
    ----------
    Eq. (6.7) of the theory page.

    Kevin Roth, Aurelien Lucchi, Sebastian Nowozin, Thomas Hofmann.
    *Stabilizing Training of Generative Adversarial Networks through
    Regularization.* NeurIPS 2017, section 5.5.
    """
    return CrossTestReport(
        own_a=confusion_rates(discriminator_a, real, samples_a, threshold),
        own_b=confusion_rates(discriminator_b, real, samples_b, threshold),
        a_on_b=confusion_rates(discriminator_a, real, samples_b, threshold),
        b_on_a=confusion_rates(discriminator_b, real, samples_a, threshold),
        name_a=name_a, name_b=name_b)


def _count_positive(discriminator, x, name, threshold, batch_size) -> int:
    if not callable(discriminator):
        raise ValueError(f"discriminator must be a callable x -> scores, got {type(discriminator).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        got = f"a tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else \
            f"{type(x).__name__} (convert with torch.as_tensor)"  # an ndarray's fine shape alone hid its type
        raise ValueError(f"{name} samples must be a torch tensor of shape (batch, ...) with batch >= 1, got {got}")

    def count(chunk, scores) -> int:
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.shape != (chunk.shape[0],):
            raise ValueError(f"the discriminator must return one score per sample, got shape {tuple(scores.shape)}")
        check_finite_tensor(scores, f"discriminator scores on the {name} samples")
        return int((scores > threshold).sum())

    # a measurement of a fixed function (eq. (7.1) of the theory page), in the discriminator's dtype and device
    return sum(evaluate_in_batches(discriminator, x, batch_size, count))
