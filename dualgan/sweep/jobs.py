r"""The jobs a sweep can run, and the data sets they run on.

A job is a function decorated with :func:`job`::

    @job("my_job")
    def my_job(*, dataset: str, iterations: int, seed: int, lr: float = 1e-3) -> JobResult:
        ...
        return JobResult(metrics={"score": 1.0}, status="ok")

It receives the run's ``dataset`` name, ``iterations`` and ``seed`` plus its
own keyword-only settings (every one with a default; the sweep file may set
any of them, and a name the function does not take is rejected when the
sweep is loaded). It returns a :class:`JobResult`: float metrics and a
status (``"ok"``, or what went wrong: a trainer that stopped early, non-finite
samples). Adding a job is adding a function here.

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
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["JobResult", "JOBS", "DATASETS", "job", "dataset", "dual_gan", "standard_gan", "trust_region_gan",
           "PARAM_CHECKS", "check_job_kwargs"]

JOBS: dict[str, Callable[..., "JobResult"]] = {}
DATASETS: dict[str, Callable[[], object]] = {}

# The settings of the ring experiments in docs/dual_gan.md (the paper's covariance was lost).
RING_STD = 0.3
RING_RADIUS = 2.0


@dataclass(frozen=True)
class JobResult:
    """What a job returns: float metrics and a status (``"ok"`` or a description of the failure)."""

    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "ok"


def job(name: str):
    """Register a job function under ``name`` (its keyword-only parameters are the sweepable settings)."""

    def register(fn):
        if name in JOBS:
            raise ValueError(f"a job named {name!r} is already registered")
        JOBS[name] = fn
        return fn

    return register


def dataset(name: str):
    """Register a data-set factory (no arguments) under ``name``."""

    def register(fn):
        DATASETS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------------- argument checks
def _pos_int(name, v):
    from .._checks import check_int

    check_int(v, name, low=1)


def _pos_real(name, v):
    from .._checks import check_positive

    check_positive(v, name)


def _choice(*choices):
    def check(name, v):
        if v not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, got {v!r}")
    return check


def _beta(name, v):
    from .._checks import check_number

    check_number(v, name, low=0.0, high=1.0, high_open=True)


#: value checks of the jobs' settings, applied to every run when a sweep is loaded
#: (a value that would fail every run at run time fails the sweep file instead)
PARAM_CHECKS: dict[str, Callable[[str, object], None]] = {
    **{n: _pos_int for n in ("batch_size", "anchors", "eval_samples", "disc_steps", "hidden")},
    **{n: _pos_real for n in ("lr", "C", "gain", "sigma", "disc_lr", "radius", "generator_lr",
                              "discriminator_lr")},
    "tol": lambda name, v: None if v is None else _pos_real(name, v),
    "beta1": _beta,
    "size": _choice("small", "large"),
    "mode": _choice("fixed", "minibatch"),
    "loss": _choice("logistic", "hinge"),
    "generator_loss": _choice("minimax", "non_saturating"),
    "model": _choice("score", "cost", "adam"),
    "dtype": _choice("float64", "float32"),
}


def check_job_kwargs(job_name: str, kwargs: dict) -> None:
    """Check one run's settings against :data:`PARAM_CHECKS` and the job's defaults' types.

    Raises
    ------
    ValueError
        Naming the job, the setting, the bad value and what is accepted.
    """
    import inspect

    params = inspect.signature(JOBS[job_name]).parameters
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
@dataset("ring5")
def _ring5():
    from ..data import ring

    return ring(5, radius=RING_RADIUS, std=RING_STD)


@dataset("ring8")
def _ring8():
    from ..data import ring

    return ring(8, radius=RING_RADIUS, std=RING_STD)


@dataset("grid25")
def _grid25():
    from ..data import grid

    return grid(5, spacing=2.0, std=0.2)


# ---------------------------------------------------------------------- jobs
@job("dual_gan")
def dual_gan(*, dataset: str, iterations: int, seed: int, batch_size: int = 100, lr: float = 1e-3,
             beta1: float = 0.5, C: float = 1e-4, size: str = "small", mode: str = "minibatch", gain: float = 3.0,
             anchors: int = 100, sigma: float = 0.2, tol: float | None = None, loss: str = "logistic",
             eval_samples: int = 2000, dtype: str = "float64") -> JobResult:
    """:class:`~dualgan.train.DualLinearGAN` with RBF features on ``anchors`` data points (eq. (6.2) of the theory page)."""
    from ..train import DualLinearGAN

    return _linear_gan(DualLinearGAN, dict(tol=tol, loss=loss), dataset=dataset, iterations=iterations, seed=seed,
                       batch_size=batch_size, lr=lr, beta1=beta1, C=C, size=size, mode=mode, gain=gain,
                       anchors=anchors, sigma=sigma, eval_samples=eval_samples, dtype=dtype)


@job("standard_gan")
def standard_gan(*, dataset: str, iterations: int, seed: int, batch_size: int = 100, lr: float = 1e-3,
                 beta1: float = 0.5, C: float = 1e-4, size: str = "small", mode: str = "minibatch",
                 gain: float = 3.0, anchors: int = 100, sigma: float = 0.2, disc_lr: float = 1e-2,
                 disc_steps: int = 1, generator_loss: str = "minimax", eval_samples: int = 2000,
                 dtype: str = "float64") -> JobResult:
    """:class:`~dualgan.train.StandardLinearGAN`: the same features and discriminator, alternating Adam steps."""
    from ..train import StandardLinearGAN

    return _linear_gan(StandardLinearGAN, dict(disc_lr=disc_lr, disc_steps=disc_steps,
                                               generator_loss=generator_loss),
                       dataset=dataset, iterations=iterations, seed=seed, batch_size=batch_size, lr=lr, beta1=beta1,
                       C=C, size=size, mode=mode, gain=gain, anchors=anchors, sigma=sigma, eval_samples=eval_samples,
                       dtype=dtype)


@job("trust_region_gan")
def trust_region_gan(*, dataset: str, iterations: int, seed: int, batch_size: int = 64, model: str = "score",
                     hidden: int = 32, C: float = 1e-3, radius: float = 0.1, generator_lr: float = 1e-3,
                     discriminator_lr: float = 1e-3, size: str = "small", gain: float = 3.0,
                     eval_samples: int = 2000) -> JobResult:
    """:class:`~dualgan.trust_region.TrustRegionGAN` with a one-hidden-layer tanh MLP discriminator.

    ``model``: ``"score"``, ``"cost"`` (trust-region steps) or ``"adam"`` (the baseline).
    ``final_objective`` is the last history row's ``objective`` column (NaN if the trainer records none).
    """
    import torch
    from torch import nn

    from ..train import mlp_generator
    from ..trust_region import TrustRegionGAN

    data = DATASETS[dataset]()
    torch.manual_seed(seed)
    disc = nn.Sequential(nn.Linear(data.dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)).to(torch.float64)
    gen = mlp_generator(out_dim=data.dim, size=size, seed=seed, output_gain=gain, dtype=torch.float64)
    gan = TrustRegionGAN(gen, disc, latent_dim=2, model=model, C=C, radius=radius, generator_lr=generator_lr,
                         discriminator_lr=discriminator_lr, seed=seed)
    result = gan.fit(data, iterations, batch_size=batch_size)
    hist = result.history
    objective = float(hist["objective"][-1]) if "objective" in hist and len(hist) else math.nan
    status = "ok" if result.status.success else f"trainer status: {result.status}"
    return _coverage_result(gan.sample(eval_samples), data, status,
                            final_objective=objective, accepted_fraction=float(result.accepted_fraction))


# ---------------------------------------------------------------------- shared
def _linear_gan(cls, extra: dict, *, dataset, iterations, seed, batch_size, lr, beta1, C, size, mode, gain, anchors,
                sigma, eval_samples, dtype) -> JobResult:
    import torch

    from ..features import RBF
    from ..train import mlp_generator

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; available: {', '.join(sorted(DATASETS))}")
    dtypes = {"float64": torch.float64, "float32": torch.float32}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    data = DATASETS[dataset]()
    # the same anchors, generator initialisation, data and noise for every job under one seed: paired comparisons
    anchor_points = data.sample(anchors, generator=torch.Generator().manual_seed(seed + 1000), dtype=dtypes[dtype])
    gen = mlp_generator(out_dim=data.dim, size=size, seed=seed, output_gain=gain, dtype=dtypes[dtype])
    gan = cls(gen, RBF(anchor_points, sigma=sigma), C=C, noise_dim=2, batch_size=batch_size, mode=mode, lr=lr,
              beta1=beta1, seed=seed, **extra)
    hist = gan.fit(data, iterations)
    status = "ok" if gan.status.success else f"trainer status: {gan.status}"
    objective = float(hist["objective"][-1]) if len(hist) else math.nan
    return _coverage_result(gan.sample(eval_samples, seed=seed + 7), data, status, final_objective=objective)


def _coverage_result(samples, data, status: str, **metrics: float) -> JobResult:
    import torch

    from ..metrics import mode_coverage

    if not bool(torch.isfinite(samples).all()):
        return JobResult({"modes_covered": 0.0, "all_covered": 0.0, "high_quality_fraction": 0.0, **metrics},
                         status if status != "ok" else "non-finite samples")
    cov = mode_coverage(samples, data.centers, data.std)
    return JobResult({"modes_covered": float(cov.modes_covered), "all_covered": float(cov.all_covered),
                      "high_quality_fraction": cov.high_quality_fraction, **metrics}, status)
