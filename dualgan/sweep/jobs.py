r"""The jobs a sweep can run, and the data sets they run on.

A job is a function registered in :data:`JOBS`::

    from dualgan.status import Status
    from dualgan.sweep import JOBS, JobResult

    @JOBS.register("my_job")
    def my_job(*, dataset: str, iterations: int, seed: int, lr: float = 1e-3) -> JobResult:
        ...
        return JobResult(metrics={"score": 1.0}, status=Status.ok())

It receives the run's ``dataset`` name (a key of :data:`DATASETS`),
``iterations`` and ``seed`` plus its own keyword-only settings (every one with
a default; the sweep file may set any of them, and a name the function does
not take is rejected when the sweep is loaded). It returns a
:class:`JobResult`: float metrics and a :class:`~dualgan.status.Status` (the
trainer's own status for the library's jobs: ``SUCCESS``, or ``NON_FINITE``,
``NUMERICAL_ERROR``, ...). Adding a job is adding a registered function.

Jobs on the Gaussian mixtures (:data:`DATASETS`) report mode coverage
(:func:`dualgan.metrics.mode_coverage`, 3 standard deviations, a fifth of a
mode's fair share) on ``eval_samples`` generated samples:

``modes_covered``, ``all_covered`` (1.0 or 0.0), ``high_quality_fraction``,
``final_objective`` (the last history row's ``objective``). The wall time of
the whole job is the run record's ``seconds`` (kept out of the metrics, which
are deterministic under a seed).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

from ..registry import Choices, Registry
from ..status import Status, StatusCode, check_status

__all__ = ["JobResult", "JOBS", "DATASETS", "dual_gan", "standard_gan", "trust_region_gan", "PARAM_CHECKS",
           "check_job_kwargs"]

#: the sweep jobs by name (``@JOBS.register(name)``); user modules named in ``$DUALGAN_JOB_MODULES`` add theirs
JOBS = Registry("sweep job")
#: the data sets by name, factories without arguments (``@DATASETS.register(name)``)
DATASETS = Registry("data set")

#: the floating dtypes of the linear jobs, by name
DTYPES = ("float64", "float32")

# The settings of the ring experiments in docs/dual_gan.md (the paper's covariance was lost).
RING_STD = 0.3
RING_RADIUS = 2.0


@dataclass(frozen=True)
class JobResult:
    """What a job returns: float metrics and how the run ended.

    Parameters
    ----------
    metrics : dict of str to float, default {}
        The run's results (deterministic under its seed; wall time is kept out).
    status : Status, default ``Status(StatusCode.SUCCESS)``
        How the run ended, e.g. the ``status`` of the :class:`~dualgan.train.Trainer` that ran it.

    Raises
    ------
    TypeError
        If ``status`` is not a :class:`~dualgan.status.Status`, or ``metrics`` is not a
        mapping of names to real numbers (a string metric failed the run with
        ``could not convert string to float``).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    status: Status = field(default_factory=lambda: Status(StatusCode.SUCCESS))

    def __post_init__(self):
        check_status(self.status, "JobResult.status")
        if not isinstance(self.metrics, Mapping):
            raise TypeError(f"JobResult.metrics must be a dict of metric names to numbers, got "
                            f"{type(self.metrics).__name__}")
        metrics = {}
        for key, value in self.metrics.items():
            try:  # a Python, numpy or 0-d torch number; not a string (float('high') failed the run)
                if not isinstance(key, str) or isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
                    raise TypeError
                metrics[key] = float(value)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(f"JobResult.metrics[{key!r}] must be a real number under a str name, got {value!r} "
                                f"({type(value).__name__}); a sweep averages its metrics") from None
        object.__setattr__(self, "metrics", metrics)


# ---------------------------------------------------------------------- argument checks
def _pos_int(name, v):
    from .._checks import check_int

    check_int(v, name, low=1)


def _pos_real(name, v):
    from .._checks import check_positive

    check_positive(v, name)


def _choice_of(module: str, attr: str):
    """A check against the choices a library module defines (:class:`~dualgan.registry.Choices`).

    They are read when a value is checked, not when this module is imported,
    so that loading a sweep file imports no trainer unless a setting names
    one of its choices.
    """
    choices = Choices(module, attr)
    return lambda name, v: choices.check(v, name)


def _beta(name, v):
    from .._checks import check_number

    check_number(v, name, low=0.0, high=1.0, high_open=True)


#: value checks of the jobs' settings, applied to every run when a sweep is loaded
#: (a value that would fail every run at run time fails the sweep file instead)
PARAM_CHECKS: dict[str, Callable[[str, object], None]] = {
    **{n: _pos_int for n in ("batch_size", "anchors", "eval_samples", "discriminator_steps", "hidden")},
    **{n: _pos_real for n in ("C", "gain", "sigma", "radius", "generator_lr", "discriminator_lr")},
    "tol": lambda name, v: None if v is None else _pos_real(name, v),
    "beta1": _beta,
    # each choice read from the table the trainers check it against (by its public path), never listed twice
    "size": _choice_of("dualgan.train", "GENERATOR_SIZES"),
    "mode": _choice_of("dualgan.train", "MODES"),
    "loss": _choice_of("dualgan.duals", "DISCRIMINATOR_LOSSES"),
    "gan_loss": _choice_of("dualgan.train.linear", "GAN_LOSSES"),
    "model": _choice_of("dualgan.trust_region", "TRAINER_MODELS"),
    "dtype": _choice_of("dualgan.sweep.jobs", "DTYPES"),
}


def check_job_kwargs(job_name: str, kwargs: dict) -> None:
    """Check one run's settings against :data:`PARAM_CHECKS` and the job's defaults' types.

    Parameters
    ----------
    job_name : str
        A name of :data:`JOBS`.
    kwargs : dict
        The run's own settings (keyword arguments of the job).

    Raises
    ------
    ValueError
        Naming the job, the setting, the bad value and what is accepted.
    """
    import inspect

    params = inspect.signature(JOBS.get(job_name)).parameters
    for name, value in kwargs.items():
        try:
            check = PARAM_CHECKS.get(name)
            if check is not None:
                check(name, value)
            elif name in params and params[name].default is not inspect.Parameter.empty:
                default = params[name].default
                ok = (isinstance(value, type(default)) and not (isinstance(value, bool) and
                                                                 not isinstance(default, bool)))
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    ok = True
                if default is not None and not ok:
                    raise ValueError(f"{name} must be a {type(default).__name__} like its default {default!r}, "
                                     f"got {value!r}")
        except ValueError as exc:
            raise ValueError(f"job {job_name!r}: {exc}") from None


# ---------------------------------------------------------------------- data sets
@DATASETS.register("ring5")
def _ring5():
    from ..data import ring

    return ring(5, radius=RING_RADIUS, std=RING_STD)


@DATASETS.register("ring8")
def _ring8():
    from ..data import ring

    return ring(8, radius=RING_RADIUS, std=RING_STD)


@DATASETS.register("grid25")
def _grid25():
    from ..data import grid

    return grid(5, spacing=2.0, std=0.2)


# ---------------------------------------------------------------------- jobs
@JOBS.register("dual_gan")
def dual_gan(*, dataset: str, iterations: int, seed: int, batch_size: int = 100, generator_lr: float = 1e-3,
             beta1: float = 0.5, C: float = 1e-4, size: str = "small", mode: str = "minibatch", gain: float = 3.0,
             anchors: int = 100, sigma: float = 0.2, tol: float | None = None, loss: str = "logistic",
             eval_samples: int = 2000, dtype: str = "float64") -> JobResult:
    """:class:`~dualgan.train.DualLinearGAN` with RBF features on ``anchors`` data points (eq. (6.2) of the theory page).

    Parameters
    ----------
    dataset : str
        A name of :data:`DATASETS`.
    iterations : int
        Training iterations.
    seed : int
        Seeds the anchors, the generator's initialisation, the data and the noise.
    batch_size : int, default 100
        The trainer's ``batch_size``.
    generator_lr : float, default 1e-3
        The trainer's ``generator_lr``.
    beta1 : float, default 0.5
        The trainer's ``beta1``.
    C : float, default 1e-4
        The discriminator's L2 weight.
    size : str, default "small"
        A key of :data:`dualgan.train.GENERATOR_SIZES` (the sizes of :func:`dualgan.train.mlp_generator`).
    mode : str, default "minibatch"
        A name of :data:`dualgan.train.MODES` (the trainer's ``mode``).
    gain : float, default 3.0
        The generator's ``output_gain``.
    anchors : int, default 100
        Data points used as RBF anchors.
    sigma : float, default 0.2
        RBF bandwidth.
    tol : float, optional
        Duality-gap tolerance. Default None: the trainer's.
    loss : str, default "logistic"
        A name of :data:`dualgan.duals.DISCRIMINATOR_LOSSES` (the trainer's ``loss``).
    eval_samples : int, default 2000
        Generated samples scored for mode coverage.
    dtype : str, default "float64"
        A name of :data:`DTYPES` (the dtype of the features, generator and data).

    Returns
    -------
    JobResult
        Coverage metrics and ``final_objective``; the trainer's status.
    """
    from ..train import DualLinearGAN

    return _linear_gan(DualLinearGAN, dict(tol=tol, loss=loss), dataset=dataset, iterations=iterations, seed=seed,
                       batch_size=batch_size, generator_lr=generator_lr, beta1=beta1, C=C, size=size, mode=mode, gain=gain,
                       anchors=anchors, sigma=sigma, eval_samples=eval_samples, dtype=dtype)


@JOBS.register("standard_gan")
def standard_gan(*, dataset: str, iterations: int, seed: int, batch_size: int = 100, generator_lr: float = 1e-3,
                 beta1: float = 0.5, C: float = 1e-4, size: str = "small", mode: str = "minibatch",
                 gain: float = 3.0, anchors: int = 100, sigma: float = 0.2, discriminator_lr: float = 1e-2,
                 discriminator_steps: int = 1, gan_loss: str = "minimax", eval_samples: int = 2000,
                 dtype: str = "float64") -> JobResult:
    """:class:`~dualgan.train.StandardLinearGAN`: the same features and discriminator, alternating Adam steps.

    Parameters
    ----------
    dataset : str
        A name of :data:`DATASETS`.
    iterations : int
        Training iterations.
    seed : int
        Seeds the anchors, the generator's initialisation, the data and the noise.
    batch_size : int, default 100
        The trainer's ``batch_size``.
    generator_lr : float, default 1e-3
        The trainer's ``generator_lr``.
    beta1 : float, default 0.5
        The trainer's ``beta1``.
    C : float, default 1e-4
        The discriminator's L2 weight.
    size : str, default "small"
        A key of :data:`dualgan.train.GENERATOR_SIZES` (the sizes of :func:`dualgan.train.mlp_generator`).
    mode : str, default "minibatch"
        A name of :data:`dualgan.train.MODES` (the trainer's ``mode``).
    gain : float, default 3.0
        The generator's ``output_gain``.
    anchors : int, default 100
        Data points used as RBF anchors.
    sigma : float, default 0.2
        RBF bandwidth.
    discriminator_lr : float, default 1e-2
        Adam step size of the discriminator.
    discriminator_steps : int, default 1
        Discriminator steps per generator step.
    gan_loss : str, default "minimax"
        A name of :data:`dualgan.train.linear.GAN_LOSSES` (the trainer's ``gan_loss``).
    eval_samples : int, default 2000
        Generated samples scored for mode coverage.
    dtype : str, default "float64"
        A name of :data:`DTYPES` (the dtype of the features, generator and data).

    Returns
    -------
    JobResult
        Coverage metrics and ``final_objective``; the trainer's status.
    """
    from ..train import StandardLinearGAN

    return _linear_gan(StandardLinearGAN, dict(discriminator_lr=discriminator_lr,
                                               discriminator_steps=discriminator_steps,
                                               gan_loss=gan_loss),
                       dataset=dataset, iterations=iterations, seed=seed, batch_size=batch_size,
                       generator_lr=generator_lr, beta1=beta1,
                       C=C, size=size, mode=mode, gain=gain, anchors=anchors, sigma=sigma, eval_samples=eval_samples,
                       dtype=dtype)


@JOBS.register("trust_region_gan")
def trust_region_gan(*, dataset: str, iterations: int, seed: int, batch_size: int = 64, model: str = "score",
                     hidden: int = 32, C: float = 1e-3, radius: float = 0.1, generator_lr: float = 1e-3,
                     discriminator_lr: float = 1e-3, size: str = "small", gain: float = 3.0,
                     eval_samples: int = 2000) -> JobResult:
    """:class:`~dualgan.trust_region.TrustRegionGAN` with a one-hidden-layer tanh MLP discriminator.

    Parameters
    ----------
    dataset : str
        A name of :data:`DATASETS`.
    iterations : int
        Training iterations.
    seed : int
        Seeds the models' initialisation, the data and the noise.
    batch_size : int, default 64
        The trainer's ``batch_size``.
    model : str, default "score"
        A name of :data:`dualgan.trust_region.TRAINER_MODELS` (the trainer's ``model``: trust-region steps, or
        the Adam baseline).
    hidden : int, default 32
        Hidden units of the discriminator.
    C : float, default 1e-3
        The discriminator's L2 weight.
    radius : float, default 0.1
        Initial trust radius.
    generator_lr : float, default 1e-3
        The trainer's ``generator_lr``.
    discriminator_lr : float, default 1e-3
        Adam step size of the ``"adam"`` baseline.
    size : str, default "small"
        A key of :data:`dualgan.train.GENERATOR_SIZES` (the sizes of :func:`dualgan.train.mlp_generator`).
    gain : float, default 3.0
        The generator's ``output_gain``.
    eval_samples : int, default 2000
        Generated samples scored for mode coverage.

    Returns
    -------
    JobResult
        Coverage metrics, ``final_objective`` (the last history row's
        ``objective``, NaN without rows) and ``accepted_fraction``; the trainer's status.
    """
    import torch
    from torch import nn

    from ..train import mlp, mlp_generator
    from ..trust_region import TrustRegionGAN

    data = DATASETS.get(dataset)()
    torch.manual_seed(seed)
    disc = mlp([data.dim, hidden, 1], activation=nn.Tanh).to(torch.float64)
    gen = mlp_generator(out_dim=data.dim, size=size, seed=seed, output_gain=gain, dtype=torch.float64)
    gan = TrustRegionGAN(gen, disc, latent_dim=2, batch_size=batch_size, model=model, C=C, radius=radius,
                         generator_lr=generator_lr, discriminator_lr=discriminator_lr, seed=seed)
    objective = _fit(gan, data, iterations)
    return _coverage_result(gan.sample(eval_samples), data, gan.status,
                            final_objective=objective, accepted_fraction=gan.accepted_fraction)


# ---------------------------------------------------------------------- shared
def _linear_gan(cls, extra: dict, *, dataset, iterations, seed, batch_size, generator_lr, beta1, C, size, mode, gain,
                anchors, sigma, eval_samples, dtype) -> JobResult:
    import torch

    from ..features import RBF
    from ..train import mlp_generator

    PARAM_CHECKS["dtype"]("dtype", dtype)
    dtypes = {name: getattr(torch, name) for name in DTYPES}
    data = DATASETS.get(dataset)()
    # the same anchors, generator initialisation, data and noise for every job under one seed: paired comparisons
    anchor_points = data.sample(anchors, generator=torch.Generator().manual_seed(seed + 1000), dtype=dtypes[dtype])
    gen = mlp_generator(out_dim=data.dim, size=size, seed=seed, output_gain=gain, dtype=dtypes[dtype])
    gan = cls(gen, RBF(anchor_points, sigma=sigma), C=C, latent_dim=2, batch_size=batch_size, mode=mode,
              generator_lr=generator_lr, beta1=beta1, seed=seed, **extra)
    objective = _fit(gan, data, iterations)
    return _coverage_result(gan.sample(eval_samples, seed=seed + 7), data, gan.status, final_objective=objective)


def _fit(gan, data, iterations: int) -> float:
    """Train ``gan`` with :meth:`~dualgan.train.Trainer.fit`, the library's one loop (it starts, records,
    checkpoints and ends the run and sets the status); the last history row's ``objective``, NaN without rows."""
    hist = gan.fit(data, iterations)
    return float(hist["objective"][-1]) if len(hist) else math.nan


def _coverage_result(samples, data, status: Status, **metrics: float) -> JobResult:
    import torch

    from ..metrics import mode_coverage

    if not bool(torch.isfinite(samples).all()):
        return JobResult({"modes_covered": 0.0, "all_covered": 0.0, "high_quality_fraction": 0.0, **metrics},
                         status if not status.success else Status(StatusCode.NON_FINITE,
                                                                   "non-finite samples at the evaluation"))
    cov = mode_coverage(samples, data.centers, data.std)
    return JobResult({"modes_covered": float(cov.modes_covered), "all_covered": float(cov.all_covered),
                      "high_quality_fraction": cov.high_quality_fraction, **metrics}, status)
