"""What the two linear-discriminator trainers share (:mod:`dualgan.train.linear`): the feature map and its checks, C, the mode and the fixed batch.

:func:`feature_fingerprint` identifies a feature map in checkpoints; the
feature map is checked against the generator at construction, and in fixed
mode the generator must be one fixed function (eq. (1.15) of the theory page,
docs/theory.md).
"""
from __future__ import annotations

import hashlib
import warnings

import torch
from torch import nn

from .._checks import check_choice, check_positive
from .._modes import active_dropout, eval_mode, spectral_norm_layers
from .base import CheckpointError, Trainer, _Batch

__all__ = ["MODES", "feature_fingerprint"]

MODES = ("fixed", "minibatch")

_RESTORED = object()  # the fixed batch came from a checkpoint: its data object is not known


class _LinearTrainer(Trainer):
    """What the two linear-discriminator trainers share: the feature map, C, the mode and the fixed batch."""

    def __init__(self, generator: nn.Module, features: nn.Module, *, C: float, mode: str, latent_dim: int,
                 batch_size: int, noise: str, generator_lr: float, beta1: float, generator_optimizer, constraint,
                 seed: int):
        if not isinstance(features, nn.Module):
            raise TypeError(f"features must be a torch.nn.Module (e.g. dualgan.features.RBF), "
                            f"got {type(features).__name__}")
        self.C = check_positive(C, "C")
        self.mode = check_choice(mode, "mode", MODES)
        super().__init__(generator, latent_dim=latent_dim, batch_size=batch_size, noise=noise,
                         generator_lr=generator_lr, beta1=beta1, generator_optimizer=generator_optimizer,
                         constraint=constraint, seed=seed)
        self.features = features
        self.features.to(self.device)
        _check_features(features, generator, self.latent_dim, self.dtype, self.device)
        self._fixed: _Batch | None = None
        self._fixed_source = None

    def _meta(self) -> dict:
        meta = super()._meta()
        meta.update(mode=self.mode, C=self.C)
        return meta

    @property
    def fixed_batch(self) -> _Batch | None:
        """The fixed batch of ``mode="fixed"`` (copies, read-only): ``.real`` and ``.noise``, ``(batch_size, ...)``.

        ``None`` in minibatch mode and before the first iteration. Drawn once,
        at the first iteration; from a data array with at least ``batch_size``
        rows the real samples are distinct rows (drawn without replacement).
        """
        if self._fixed is None:
            return None
        return _Batch(self._fixed.real.detach().clone(), self._fixed.noise.detach().clone())

    def _batch(self) -> _Batch:
        if self.mode == "fixed":
            if self._fixed is None:
                self._fixed = self._draw_fixed()
            return self._fixed
        return self._draw(self.batch_size)

    def _draw_fixed(self) -> _Batch:
        """The fixed batch: distinct rows of a data array that has enough of them, else an ordinary draw."""
        table = getattr(self._sampler, "rows", None)
        if table is None or table.shape[0] < self.batch_size:
            return self._draw(self.batch_size)
        rows = torch.randperm(table.shape[0], generator=self._rng)[: self.batch_size]
        real = torch.as_tensor(table[rows.to(table.device)]).to(dtype=self.dtype, device=self.device)
        return _Batch(real, self._noise(self.batch_size, self._rng))

    def fit(self, data, iterations: int, **kwargs):
        """:meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`; in fixed mode the batch is drawn once, at the first iteration.

        The feature map is evaluated in eval mode during the fit (dropout off,
        BatchNorm on its running statistics, which do not move; eq. (7.1) of
        the theory page), and every sub-module's train/eval state is put back
        afterwards: the discriminator is certified on one fixed function of
        the samples. In fixed mode the generator must itself be a fixed
        function (no active dropout, no BatchNorm or spectral normalisation in
        training mode), or the
        monotone ascent would compare values of different random problems.

        A later ``fit`` of a fixed-batch trainer keeps training on that batch
        (the objective is a function of it), so ``data`` is then not sampled:
        a ``UserWarning`` says so when ``data`` is not the object the batch was
        drawn from (a trainer restored from a checkpoint takes the ``data`` of
        its first ``fit`` as that object). Construct a new trainer to train on other data.

        Parameters
        ----------
        data, iterations, **kwargs
            As :meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`.

        Returns
        -------
        History
            The trainer's history.

        Raises
        ------
        ValueError, TypeError
            As :meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`; a ``ValueError`` in fixed
            mode for a generator with active dropout, BatchNorm or spectral normalisation in training mode.
        """
        if self.mode == "fixed" and self._fixed is not None and self._fixed_source is _RESTORED:
            self._fixed_source = data  # rerunning the script after a restart: the data the batch came from
        if self.mode == "fixed" and self._fixed is not None and data is not self._fixed_source:
            warnings.warn(f"{type(self).__name__} in fixed mode trains on the batch of {self.batch_size} samples "
                          f"drawn at its first iteration; the data passed to this fit are not sampled (construct "
                          f"a new trainer to train on other data)", UserWarning, stacklevel=2)
        if self.mode == "fixed" and self._fixed is None:
            self._fixed_source = data
        if self.mode == "fixed":
            _check_fixed_generator(self.generator)
        # the feature map is a fixed function of the solve (eq. (7.1) of the theory page): evaluated in eval
        # mode (dropout off, BatchNorm on its running statistics, which do not move), the user's modes put back
        with eval_mode(self.features):
            return super().fit(data, iterations, **kwargs)

    def _extra_state(self) -> dict:
        return {"features": feature_fingerprint(self.features),
                "fixed": None if self._fixed is None else [self._fixed.real, self._fixed.noise]}

    def _validate_extra_state(self, extra: dict) -> None:
        if extra.get("features") != feature_fingerprint(self.features):
            raise CheckpointError("it was written with another feature map (other class, anchors, buffers or "
                                  "settings); construct the trainer with the checkpoint's feature map")
        fixed = extra.get("fixed", "missing")
        if fixed is None:
            return
        if (not isinstance(fixed, list) or len(fixed) != 2 or not all(isinstance(t, torch.Tensor) for t in fixed)
                or fixed[0].shape[0] != self.batch_size
                or tuple(fixed[1].shape) != (self.batch_size, self.latent_dim)):
            raise CheckpointError(f"its fixed batch does not hold {self.batch_size} samples and "
                                  f"({self.batch_size}, {self.latent_dim}) noise")

    def _load_extra_state(self, extra: dict) -> None:
        fixed = extra["fixed"]
        self._fixed = None if fixed is None else _Batch(fixed[0], fixed[1])
        self._fixed_source = _RESTORED


# ---------------------------------------------------------------------- feature maps
def _check_features(features: nn.Module, generator: nn.Module, latent_dim: int, dtype, device) -> None:
    """The feature map must take the generator's samples: same floating dtype, one ``(d,)`` row per sample.

    Checked at construction with one eval-mode forward on two generated
    samples (no statistics move), so a float32 feature map under a float64
    generator fails with the fix instead of torch's dtype error inside ``fit``.
    """
    wrong = sorted({str(p.dtype) for p in features.parameters() if p.is_floating_point() and p.dtype != dtype})
    if wrong:
        raise TypeError(f"the feature map's parameters are {', '.join(wrong)} but the generator's samples are "
                        f"{dtype}; convert the feature map, e.g. features.to({dtype}) (exact for float32 -> "
                        f"float64), or use a generator of the feature map's dtype")
    with eval_mode(generator, features), torch.no_grad():
        samples = generator(torch.zeros(2, latent_dim, dtype=dtype, device=device))
        try:
            phi = features(samples)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"the feature map cannot take the generator's samples of shape "
                             f"{tuple(samples.shape)} and dtype {samples.dtype} ({exc}); give the generator the "
                             f"output shape and dtype the feature map expects") from exc
    if not isinstance(phi, torch.Tensor) or phi.ndim != 2 or phi.shape[0] != 2:
        raise ValueError(f"the feature map must return (B, d) features, one row per sample, but it returned "
                         f"{tuple(phi.shape) if isinstance(phi, torch.Tensor) else type(phi).__name__} for 2 samples")


def _check_fixed_generator(generator: nn.Module) -> None:
    """Fixed mode ascends a fixed function of the generator: refuse what changes it between two evaluations.

    Active dropout (a new mask each time), BatchNorm in training mode (its
    output depends on the batch and its statistics move) and spectral
    normalisation in training mode (a power iteration at every forward pass).
    """
    names = {m: f"{name or '<root>'} ({type(m).__name__})" for name, m in generator.named_modules()}
    dropout = active_dropout(generator)
    batchnorm = [names[m] for m in names if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    spectral = [names[m] for m in spectral_norm_layers(generator) if m.training]
    for found, what in ((dropout, "active dropout"), (batchnorm, "BatchNorm in training mode"),
                        (spectral, "spectral normalisation in training mode (a power iteration at every forward "
                                   "pass)")):
        if found:
            raise ValueError(f"mode='fixed' ascends one fixed function of the generator on one batch, but "
                             f"generator layer {found[0]} is {what}, so every evaluation would be a different "
                             f"problem and the monotone ascent would compare them; call generator.eval() before "
                             f"fit (dropout off, BatchNorm on its running statistics, spectral norm on its stored "
                             f"vectors) or use mode='minibatch'")


def feature_fingerprint(features: nn.Module) -> str:
    """A hash of a feature map's identity: its class, every tensor of its ``state_dict`` and its scalar settings.

    Two feature maps with the same fingerprint compute the same features
    (same anchors, projections, bandwidths); a checkpoint records it so that
    resuming with another feature map is refused.

    Parameters
    ----------
    features : torch.nn.Module
        The feature map (any module).

    Returns
    -------
    str
        A SHA-256 hex digest (64 characters).
    """
    h = hashlib.sha256(f"{type(features).__module__}.{type(features).__qualname__}".encode())
    for name, t in sorted(features.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for module_name, module in features.named_modules():
        for key, value in sorted(vars(module).items()):
            if key.startswith("_") or key == "training":
                continue
            if isinstance(value, (bool, int, float, str)) or value is None:
                h.update(f"{module_name}.{key}={value!r}".encode())
    return h.hexdigest()


