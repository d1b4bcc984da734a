r"""``TrustRegionGAN``: generator steps alternating with trust-region discriminator steps.

Each iteration (the Dualing GANs algorithm for non-linear discriminators, eqs. (2.1)-(2.13) of the theory page):

1. draw a real batch and a generated batch :math:`G_\theta(z)`;
2. one trust-region step of the discriminator on the cost
   :math:`f(w) = \tfrac C2\|w\|^2 + \sum_i a_i\ell(y_iF(w,x_i))`
   (:class:`~dualgan.trust_region.TrustRegionDiscriminator`, ``model="score"`` or ``"cost"``);
   ``model="adam"`` replaces it by one plain Adam step on the same cost (the
   standard-training baseline, with the same records where they make sense);
3. ``generator_steps`` generator updates on the loss ``generator_loss``
   (a :mod:`dualgan.losses` name; default ``"non_saturating"``) plus the
   constraint handler's penalty, then ``handler.update(samples)``.

The :class:`~dualgan.train.History` gets one row per iteration with
``objective`` (the discriminator cost after its step, the minibatch estimate
of :math:`\min_w f`, which the generator drives up), ``cost_before``, ``rho``,
``radius`` (after the step), ``radius_before``, ``accepted`` (1/0),
``step_norm``, ``predicted_decrease``, ``actual_decrease``, ``attempts``,
``mu``, ``inner_iterations``, ``inner_gap``, ``generator_loss``, ``seconds``
and, with a constraint, ``constraint_mean_violation``, ``constraint_max_violation``,
``penalty_weight``.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .._checks import check_int, check_positive
from .._io import atomic_write_with, check_writable_path
from .._threads import with_small_model_threads
from ..constraints.base import NoConstraint, handler_load_state_dict, handler_state_dict
from ..losses import get_loss
from ..status import Status, StatusCode
from ..train.history import History
from .step import TrustRegionDiscriminator, discriminator_cost

_CHECKPOINT_FORMAT = "dualgan.TrustRegionGANCheckpoint/1"
_CHECKPOINT_KEYS = ("format", "iteration", "generator", "discriminator", "g_opt", "d_opt", "radius", "warm", "rng",
                    "history", "constraint", "status", "settings")

__all__ = ["TrustRegionGAN", "TrustRegionResult", "TRAINER_MODELS"]

TRAINER_MODELS = ("score", "cost", "adam")


@dataclass(frozen=True)
class TrustRegionResult:
    """Outcome of :meth:`TrustRegionGAN.fit`: the history, final radius, share of accepted steps, status.

    ``status`` is a :class:`~dualgan.status.Status`: ``SUCCESS`` when every
    round ran, ``NON_FINITE`` (message ``"non-finite samples at iteration k"``
    and the like) when a NaN or inf appeared; the history keeps every finite row.

    Parameters
    ----------
    history : History
        One row per iteration (columns listed in the module docstring).
    final_radius : float
        The discriminator's trust radius after the last step.
    accepted_fraction : float
        Share of discriminator steps that were accepted, in [0, 1].
    status : Status
        How the run ended (``SUCCESS`` or ``NON_FINITE`` with a message).
    """

    history: History
    final_radius: float
    accepted_fraction: float
    status: Status


class TrustRegionGAN:
    r"""Train a generator against a discriminator updated by trust-region steps.

    The discriminator minimises the cost of eq. (2.1) of the theory page by
    the trust-region steps of eqs. (2.2)-(2.13); the generator minimises its
    loss (eqs. (5.2)-(5.6)) on the discriminator's scores.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples ``(B, ...)``.
    discriminator : torch.nn.Module
        Maps samples to one score each: an MLP, a conv net, or a feature map
        followed by a linear head (``nn.Sequential(RBF(anchors), nn.Linear(k, 1))``;
        frozen parameters stay fixed).
    latent_dim : int
        Noise dimension (>= 1); the noise is standard normal.
    model : str, default "score"
        ``"score"`` (score linearisation, eq. (2.4)), ``"cost"`` (cost
        linearisation, eq. (2.3)) or ``"adam"`` (plain Adam baseline, see the module docstring).
    C : float, default 1e-3
        L2 weight of the discriminator cost (> 0), passed to
        :class:`~dualgan.trust_region.TrustRegionDiscriminator`.
    radius : float, default 0.1
        Initial trust radius :math:`\Delta_0 > 0`, passed to the trust-region discriminator.
    policy : RadiusPolicy or str, optional
        Radius policy or its name (``"standard"``, ``"symmetric"``,
        ``"fixed"``), passed to the trust-region discriminator. Default None: ``"standard"``.
    inner : str, default "newton"
        Inner solver of the score dual (``"newton"``, ``"ipopt"``,
        ``"casadi"``), passed to the trust-region discriminator.
    max_attempts : int, default 4
        Solves per discriminator step, passed to the trust-region discriminator.
    memory_mb : float, default 512.0
        Memory budget of the score linearisation in MiB, passed to the trust-region discriminator.
    generator_loss : str or GANLoss, default "non_saturating"
        A :mod:`dualgan.losses` name or ``GANLoss``.
    generator_lr : float, default 1e-3
        Adam step size of the generator (betas (0.5, 0.999)); ignored when
        ``generator_optimizer`` is given.
    generator_optimizer : callable, optional
        ``params -> torch.optim.Optimizer`` for the generator. Default None: Adam.
    discriminator_lr : float, default 1e-3
        Adam step size of the ``"adam"`` baseline (> 0).
    generator_steps : int, default 1
        Generator updates per iteration (>= 1).
    constraint : object, optional
        A handler following :mod:`dualgan.constraints.base`. Default None: no constraint.
    seed : int, default 0
        Seeds the noise and minibatch draws (0 <= seed < 2**63).

    Raises
    ------
    ValueError
        If ``model`` is unknown, a number is out of range, the generator is not
        a module or has no trainable parameters, or the constraint handler is incomplete.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, latent_dim: int, model: str = "score",
                 C: float = 1e-3, radius: float = 0.1, policy=None, inner: str = "newton", max_attempts: int = 4,
                 memory_mb: float = 512.0, generator_loss="non_saturating", generator_lr: float = 1e-3,
                 generator_optimizer: Callable | None = None, discriminator_lr: float = 1e-3,
                 generator_steps: int = 1, constraint=None, seed: int = 0):
        if model not in TRAINER_MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {list(TRAINER_MODELS)}")
        latent_dim = check_int(latent_dim, "latent_dim", low=1)
        generator_steps = check_int(generator_steps, "generator_steps", low=1)
        seed = check_int(seed, "seed", low=0, high=2 ** 63 - 1)
        C = check_positive(C, "C")
        generator_lr = check_positive(generator_lr, "generator_lr")
        discriminator_lr = check_positive(discriminator_lr, "discriminator_lr")
        if not isinstance(generator, nn.Module):
            raise ValueError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
        self.constraint = NoConstraint() if constraint is None else constraint
        for method in ("wrap_generator", "penalty", "update", "state"):
            if not callable(getattr(self.constraint, method, None)):
                raise ValueError(f"constraint must follow dualgan.constraints.base.ConstraintHandler "
                                 f"(missing {method}); pass None for no constraint")
        self.generator = self.constraint.wrap_generator(generator)
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.model = model
        self.C = C
        self.loss = get_loss(generator_loss)
        self.generator_steps = generator_steps
        self.seed = int(seed)
        self._gen_params = [p for p in self.generator.parameters() if p.requires_grad]
        if not self._gen_params:
            raise ValueError("the generator has no trainable parameters")
        self.g_opt = (generator_optimizer(self._gen_params) if generator_optimizer is not None
                      else torch.optim.Adam(self._gen_params, lr=generator_lr, betas=(0.5, 0.999)))
        self.tr = TrustRegionDiscriminator(discriminator, model="cost" if model == "adam" else model, C=C,
                                           radius=radius, policy=policy, inner=inner, max_attempts=max_attempts,
                                           memory_mb=memory_mb)
        self.d_opt = (torch.optim.Adam(self.tr.fn.module.parameters(), lr=discriminator_lr, betas=(0.5, 0.999))
                      if model == "adam" else None)
        p0 = self._gen_params[0]
        self.device, self.dtype = p0.device, p0.dtype
        self._gen = torch.Generator(device="cpu").manual_seed(self.seed)
        self.history: History | None = None
        self.status = Status(StatusCode.RUNNING, "not started")

    # ------------------------------------------------------------ public
    def noise(self, n: int) -> torch.Tensor:
        """Standard normal noise from the trainer's own seeded generator.

        Parameters
        ----------
        n : int
            Number of noise vectors.

        Returns
        -------
        torch.Tensor
            Shape ``(n, latent_dim)``, in the generator's dtype and device.
        """
        return torch.randn(n, self.latent_dim, generator=self._gen, dtype=self.dtype).to(self.device)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` generated samples (no gradient).

        Parameters
        ----------
        n : int
            Number of samples; the noise comes from the trainer's generator
            (so sampling advances its random state).

        Returns
        -------
        torch.Tensor
            Shape ``(n, ...)``, the generator's output without graph.
        """
        return self.generator(self.noise(n))

    @with_small_model_threads  # one torch thread unless chosen otherwise (dualgan/_threads.py)
    def fit(self, data, iterations: int, batch_size: int = 64, progress: bool = False,
            history: History | None = None, checkpoint_path=None, checkpoint_every: int = 0,
            callback=None) -> TrustRegionResult:
        """Run ``iterations`` discriminator/generator rounds on minibatches of ``data``.

        Parameters
        ----------
        data : tensor, object with ``sample(n, generator=...)`` or callable
            A tensor of samples (minibatches drawn with replacement), an object
            such as :func:`dualgan.data.ring`, or a callable ``(n, generator) -> tensor``.
        iterations : int
            Rounds to run now (a resumed or re-fitted trainer continues its history).
        batch_size : int
            Real and generated samples per round.
        progress : bool
            Show a tqdm bar.
        history : History or None
            Rows are appended here; default the trainer's own history
            (``self.history``, restored by :meth:`load_checkpoint`).
        checkpoint_path : path or None
            Where :meth:`save_checkpoint` writes every ``checkpoint_every``
            rounds and at the end (also after a failure); its folder is checked
            before training.
        checkpoint_every : int
            0: only at the end.
        callback : callable or None
            ``callback(trainer, iteration)`` after each round's history row is
            appended (``iteration`` = rows so far), as in the linear trainers'
            ``fit``; e.g. :class:`dualgan.train.tensorboard.TensorBoardCallback`.

        Returns
        -------
        TrustRegionResult
            Non-finite samples, scores or losses end the run with status
            ``NON_FINITE`` (the history keeps every finite row); an exception
            records status ``ERROR``, writes the checkpoint and is re-raised.
        """
        iterations = check_int(iterations, "iterations", low=1)
        batch_size = check_int(batch_size, "batch_size", low=1)
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=0)
        if checkpoint_every and checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be a callable (trainer, iteration) or None, got {type(callback).__name__}")
        if checkpoint_path is not None:
            checkpoint_path = check_writable_path(checkpoint_path, "checkpoint_path")
            handler_state_dict(self.constraint)  # a handler that cannot be checkpointed fails now
        draw = self._sampler(data)
        if history is None:
            if self.history is None:
                self.history = History(meta=self._meta())
            history = self.history
        hist = self.history = history
        start_row = len(hist)
        t0 = time.perf_counter()
        iterator = range(iterations)
        if progress:
            from tqdm.auto import tqdm
            iterator = tqdm(iterator, desc=f"TrustRegionGAN[{self.model}]")
        self.status = Status(StatusCode.RUNNING, f"running from iteration {start_row}")
        status, raised = Status(StatusCode.SUCCESS, f"completed {iterations} rounds"), None
        mid_round = False  # an exception inside a round leaves weights half-updated: not checkpointed
        try:
            for it in iterator:
                k = start_row + it
                mid_round = True
                real = draw(batch_size).to(device=self.device, dtype=self.dtype)
                if not bool(torch.isfinite(real).all()):
                    status = Status(StatusCode.NON_FINITE, f"non-finite data samples at iteration {k}")
                    break
                with torch.no_grad():
                    fake = self.generator(self.noise(batch_size))
                if not bool(torch.isfinite(fake).all()):
                    status = Status(StatusCode.NON_FINITE, f"non-finite samples at iteration {k}")
                    break
                backup = self._weights()
                row = self._discriminator_round(real, fake)
                if not math.isfinite(row["objective"]):
                    self._restore_weights(backup)
                    status = Status(StatusCode.NON_FINITE, f"non-finite discriminator cost at iteration {k}")
                    break
                gen_loss, samples = self._generator_round(batch_size)
                if samples is None:
                    self._restore_weights(backup)
                    status = Status(StatusCode.NON_FINITE, f"non-finite {gen_loss} at iteration {k}")
                    break
                row.update(iteration=k, generator_loss=gen_loss, seconds=time.perf_counter() - t0)
                if not isinstance(self.constraint, NoConstraint):
                    state = self.constraint.state(samples.detach())
                    row.update(constraint_mean_violation=state.mean_violation,
                               constraint_max_violation=state.max_violation, penalty_weight=state.penalty_weight)
                hist.append(**row)
                mid_round = False
                if callback is not None:
                    callback(self, len(hist))
                if progress:
                    iterator.set_postfix(cost=f"{row['objective']:.4f}", radius=f"{row['radius']:.3g}")
                if checkpoint_every and (it + 1) % checkpoint_every == 0:
                    self.status = Status(StatusCode.RUNNING, f"at iteration {len(hist)}")
                    self.save_checkpoint(checkpoint_path)
        except KeyboardInterrupt as exc:
            status, raised = Status(StatusCode.INTERRUPTED, f"interrupted at iteration {len(hist)}"), exc
        except Exception as exc:  # noqa: BLE001 - recorded, checkpointed (between rounds), re-raised
            status = Status(StatusCode.ERROR, f"{type(exc).__name__} at iteration {len(hist)}: {exc}")
            raised = exc
        self.status = status
        hist.set_meta("status", str(status))
        if checkpoint_path is not None and not (raised is not None and mid_round):
            # after an exception inside a round the last periodic checkpoint (a consistent state) is kept
            self.save_checkpoint(checkpoint_path)
        if raised is not None:
            raise raised
        acc = hist.column("accepted")[start_row:] if "accepted" in hist else []
        acc = [a for a in acc if a == a]  # drop NaN
        return TrustRegionResult(history=hist, final_radius=float(self.tr.radius),
                                 accepted_fraction=float(sum(acc) / len(acc)) if acc else math.nan,
                                 status=status)

    # ------------------------------------------------------------ checkpoints
    def _meta(self) -> dict:
        return {"trainer": "TrustRegionGAN", "model": self.model, "C": float(self.C), "seed": self.seed,
                "policy": type(self.tr.policy).__name__, "inner": self.tr.inner,
                "generator_loss": self.loss.name}

    def _weights(self):
        params = list(self.generator.parameters()) + list(self.discriminator.parameters())
        return [p.detach().clone() for p in params]

    def _restore_weights(self, backup) -> None:
        params = list(self.generator.parameters()) + list(self.discriminator.parameters())
        with torch.no_grad():
            for p, b in zip(params, backup):
                p.copy_(b)

    def _state(self) -> dict:
        warm = self.tr._warm
        return {
            "format": _CHECKPOINT_FORMAT,
            "iteration": 0 if self.history is None else len(self.history),
            "generator": {k: v.detach().clone() for k, v in self.generator.state_dict().items()},
            "discriminator": {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()},
            "g_opt": copy.deepcopy(self.g_opt.state_dict()),
            "d_opt": None if self.d_opt is None else copy.deepcopy(self.d_opt.state_dict()),
            "radius": float(self.tr.radius),
            "warm": None if warm is None else [warm[0].detach().clone(), warm[1].detach().clone(), float(warm[2])],
            "rng": self._gen.get_state(),
            "history": None if self.history is None else self.history.to_dict(),
            "constraint": handler_state_dict(self.constraint),
            "status": [self.status.code.value, self.status.message],
            "settings": self._meta(),
        }

    def save_checkpoint(self, path) -> Path:
        """Write everything needed to continue bit for bit (atomically: temporary file, then rename).

        Generator and discriminator weights and buffers, both optimisers, the
        trust radius and the inner solver's warm start, the noise/minibatch
        random generator, the history, the constraint handler's state and the status.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (its directory must be writable).

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        ValueError
            If ``path`` is not writable.
        """
        path = check_writable_path(path, "path")
        payload = self._state()
        atomic_write_with(path, lambda tmp: torch.save(payload, tmp))
        return path

    def load_checkpoint(self, path) -> "TrustRegionGAN":
        """Restore :meth:`save_checkpoint`'s file into a trainer built with the same settings; returns ``self``.

        Everything is validated before the trainer changes; on a failure half-way
        the previous state is put back.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save_checkpoint`.

        Returns
        -------
        TrustRegionGAN
            ``self``, restored.

        Raises
        ------
        CheckpointError
            (a ``ValueError``) naming the file, what is wrong and what to do.
        """
        from ..train.linear import CheckpointError, _read_checkpoint, _validate_handler_state

        payload = _read_checkpoint(path, self.device)
        where = str(path)

        def fail(msg):
            raise CheckpointError(f"checkpoint {where!r}: {msg}")

        if not isinstance(payload, dict) or payload.get("format") != _CHECKPOINT_FORMAT:
            fail(f"not a {_CHECKPOINT_FORMAT} checkpoint; it was written by something else")
        missing = [k for k in _CHECKPOINT_KEYS if k not in payload]
        if missing:
            fail(f"missing {missing}; it is incomplete: use an earlier copy")
        if payload["settings"] != self._meta():
            fail(f"written with settings {payload['settings']} but this trainer has {self._meta()}; construct the "
                 f"trainer with the checkpoint's settings")
        try:
            history = None if payload["history"] is None else History.from_dict(payload["history"])
        except (ValueError, KeyError, TypeError) as exc:
            fail(f"its history is corrupt ({exc})")
        rows = 0 if history is None else len(history)
        if payload["iteration"] != rows:
            fail(f"claims iteration {payload['iteration']!r} but holds {rows} history rows; use an earlier copy")
        for name, module in (("generator", self.generator), ("discriminator", self.discriminator)):
            own, saved = module.state_dict(), payload[name]
            if not isinstance(saved, dict) or set(saved) != set(own) or any(
                    not isinstance(saved[k], torch.Tensor) or saved[k].shape != v.shape for k, v in own.items()):
                fail(f"its {name} has another architecture; construct the trainer with the checkpoint's {name}")
        if (payload["d_opt"] is None) != (self.d_opt is None):
            fail("written for another model (with/without the Adam baseline's optimiser)")
        rng = payload["rng"]
        if not isinstance(rng, torch.Tensor) or rng.shape != self._gen.get_state().shape:
            fail("its random generator state is not a CPU torch.Generator state")
        radius = payload["radius"]
        if not isinstance(radius, float) or not (math.isfinite(radius) and radius > 0):
            fail(f"its trust radius {radius!r} is not a finite positive number")
        StatusCode(payload["status"][0])
        _validate_handler_state(self.constraint, payload["constraint"])
        backup = self._state()
        try:
            self._apply(payload, history)
        except Exception as exc:
            self._apply(backup, None if backup["history"] is None else History.from_dict(backup["history"]))
            raise CheckpointError(f"checkpoint {where!r} could not be restored ({type(exc).__name__}: {exc}); "
                                  f"the trainer is unchanged") from exc
        return self

    def _apply(self, payload, history) -> None:
        self.generator.load_state_dict(payload["generator"])
        self.discriminator.load_state_dict(payload["discriminator"])
        self.g_opt.load_state_dict(payload["g_opt"])
        if self.d_opt is not None:
            self.d_opt.load_state_dict(payload["d_opt"])
        self.tr.radius = payload["radius"]
        warm = payload["warm"]
        self.tr._warm = None if warm is None else (warm[0], warm[1], float(warm[2]))
        self._gen.set_state(payload["rng"])
        self.history = history
        handler_load_state_dict(self.constraint, payload["constraint"])
        code, message = payload["status"]
        self.status = Status(StatusCode(code), message)

    # ------------------------------------------------------------ internals
    def _discriminator_round(self, real, fake) -> dict:
        if self.d_opt is None:
            rec = self.tr.step(real, fake)
            inner = rec.inner
            return dict(objective=rec.cost_after, cost_before=rec.cost_before, rho=rec.rho,
                        radius=rec.radius_after, radius_before=rec.radius_before, accepted=float(rec.accepted),
                        step_norm=rec.step_norm, predicted_decrease=rec.predicted_decrease,
                        actual_decrease=rec.actual_decrease, attempts=rec.attempts,
                        mu=inner.mu if inner is not None else math.nan,
                        inner_iterations=inner.inner_iterations if inner is not None else math.nan,
                        inner_gap=inner.gap if inner is not None else math.nan)
        # standard training: one Adam step on the same cost f
        x, y, a = self.tr.batch(real, fake)
        params = [p for p in self.tr.fn.module.parameters() if p.requires_grad]
        w_before = torch.cat([p.detach().reshape(-1) for p in params])
        self.d_opt.zero_grad(set_to_none=True)
        cost = discriminator_cost(self.tr.fn.module(x).reshape(-1), y, a, self.C,
                                  sum((p.to(torch.float64) ** 2).sum() for p in params))
        cost.backward()
        self.d_opt.step()
        w_after = torch.cat([p.detach().reshape(-1) for p in params])
        after = self.tr.cost(real, fake)
        return dict(objective=after, cost_before=float(cost.detach()), rho=math.nan, radius=math.nan,
                    radius_before=math.nan, accepted=math.nan,
                    step_norm=float((w_after - w_before).double().norm()), predicted_decrease=math.nan,
                    actual_decrease=float(cost.detach()) - after, attempts=1, mu=math.nan,
                    inner_iterations=math.nan, inner_gap=math.nan)

    def _generator_round(self, batch_size):
        """``generator_steps`` updates; returns (loss, samples), or (what, None) when something is not finite."""
        loss_value, samples = math.nan, None
        for _ in range(self.generator_steps):
            samples = self.generator(self.noise(batch_size))
            if not bool(torch.isfinite(samples).all()):
                return "samples", None
            scores = self.discriminator(samples).reshape(-1)
            loss = self.loss.generator_loss(scores) + self.constraint.penalty(samples)
            if not math.isfinite(float(loss.detach())):
                return "generator loss", None
            grads = torch.autograd.grad(loss, self._gen_params)
            if not all(bool(torch.isfinite(g).all()) for g in grads):
                return "generator gradient", None
            for p, g in zip(self._gen_params, grads):
                p.grad = g
            self.g_opt.step()
            self.constraint.update(samples.detach())
            loss_value = float(loss.detach())
        return loss_value, samples

    def _sampler(self, data):
        gen = self._gen
        if isinstance(data, torch.Tensor):
            if data.ndim < 1 or data.shape[0] == 0:
                raise ValueError("data tensor must hold at least one sample along dimension 0")
            return lambda n: data[torch.randint(data.shape[0], (n,), generator=gen).to(data.device)]
        if hasattr(data, "sample") and callable(data.sample):
            return lambda n: data.sample(n, generator=gen)
        if callable(data):
            return lambda n: data(n, gen)
        raise ValueError(f"data must be a tensor of samples, an object with sample(n, generator=...) or a callable "
                         f"(n, generator) -> tensor; got {type(data).__name__}")
