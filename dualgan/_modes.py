r"""The library's one policy for modules whose output could change between two evaluations.

A solve, a step or a measurement evaluates a module several times and
compares the values (a duality gap, an acceptance ratio :math:`\rho`, a
monotone objective, a distance). Each of those comparisons needs the module
to be *one fixed function* for its duration; the policy (section "Fixed
functions" of docs/theory.md, eqs. (7.1)-(7.2)) is:

* a module the library only evaluates (a feature map of a linear
  discriminator, the feature network of a metric) is evaluated in eval mode
  (:func:`eval_mode`): dropout off, BatchNorm on its running statistics, which
  do not move, spectral-norm vectors not iterated; the user's train/eval
  state of every sub-module is put back afterwards;
* a module the library trains (the trust-region discriminator) is held fixed
  *within* a step (:func:`fixed_within_step`): its spectral-norm power
  iteration advances once at the start of the step and is frozen for the rest
  of it, and every buffer (BatchNorm running statistics included) is put back
  after each evaluation, so two evaluations at the same parameters agree
  exactly and a step is judged on the function it was solved for;
* what cannot be held fixed (dropout active in a module that is trained by
  comparing values) is refused with a message saying why and what to do.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

__all__ = ["eval_mode", "fixed_within_step", "spectral_norm_layers", "active_dropout"]

_DROPOUT = (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Evaluate ``modules`` in eval mode inside the block; every sub-module's own mode is put back after it.

    The flags are set on each sub-module directly (not through ``train()``),
    so a module whose ``train()`` is overridden, or a mix of train and eval
    sub-modules, comes back exactly as it was, also after an exception.
    """
    modes = {m: m.training for module in modules for m in module.modules()}
    for m in modes:
        m.training = False
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


def spectral_norm_layers(module: nn.Module) -> list[nn.Module]:
    """The sub-modules whose training flag makes a forward pass iterate spectral-norm vectors.

    Both forms of torch's spectral normalisation: the parametrisation
    (``torch.nn.utils.parametrizations.spectral_norm``, what
    :func:`dualgan.regularizers.apply_spectral_norm` uses; the flag is the
    parametrisation module's) and the older forward pre-hook
    (``torch.nn.utils.spectral_norm``; the flag is the layer's).
    """
    from torch.nn.utils.parametrizations import _SpectralNorm
    from torch.nn.utils.spectral_norm import SpectralNorm

    layers = []
    for m in module.modules():
        if isinstance(m, _SpectralNorm):
            layers.append(m)
        elif any(isinstance(h, SpectralNorm) for h in m._forward_pre_hooks.values()):
            layers.append(m)
    return layers


def active_dropout(module: nn.Module) -> list[str]:
    """Names (``"name (Type)"``) of the dropout layers of ``module`` that are active (training mode, p > 0)."""
    return [f"{name or '<root>'} ({type(m).__name__})" for name, m in module.named_modules()
            if isinstance(m, _DROPOUT) and m.training and m.p > 0]


def _original_weights(module: nn.Module) -> dict:
    """Map each spectral-norm parametrisation module to the original tensor it normalises."""
    from torch.nn.utils.parametrizations import _SpectralNorm

    out = {}
    for m in module.modules():
        params = getattr(m, "parametrizations", None)
        if params is None:
            continue
        for name, plist in params.items():
            for p in plist:
                if isinstance(p, _SpectralNorm):
                    out[p] = plist.original
    return out


@contextlib.contextmanager
def fixed_within_step(module: nn.Module, *, advance_on: torch.Tensor | None = None) -> Iterator[None]:
    """Hold ``module`` to one fixed function inside the block (the trust-region policy of eq. (7.2)).

    With ``advance_on`` (the inputs of a step, given at its start) the
    module's state first takes the one update a training forward pass makes:
    the spectral-norm vectors of layers in training mode one power iteration,
    and, when a BatchNorm layer is in training mode, its running statistics
    one update on ``advance_on`` (a forward pass without graph). Inside the
    block the spectral-norm layers evaluate with the stored vectors (no
    iteration); on exit every buffer of ``module`` is put back to its value
    at the start of the block (after the advance) and every flag to the
    user's. Two evaluations inside the block at the same parameters give the
    same value.
    """
    layers = spectral_norm_layers(module)
    if advance_on is not None:
        with torch.no_grad():
            if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in module.modules()):
                module(advance_on)  # the running statistics and the power iteration advance as in training
            else:
                _advance_spectral_norm(module, layers)
    saved = {name: b.detach().clone() for name, b in module.named_buffers()}
    with eval_mode(*layers):
        try:
            yield
        finally:
            live = dict(module.named_buffers())
            with torch.no_grad():
                for name, value in saved.items():
                    if name in live and live[name].shape == value.shape:
                        live[name].copy_(value)


def _advance_spectral_norm(module: nn.Module, layers: list[nn.Module]) -> None:
    """One power iteration of every spectral-norm layer in training mode, as one training forward pass makes."""
    from torch.nn.utils.parametrizations import _SpectralNorm
    from torch.nn.utils.spectral_norm import SpectralNorm

    originals = _original_weights(module)
    for m in layers:
        if not m.training:
            continue
        if isinstance(m, _SpectralNorm):
            if m in originals:
                m(originals[m].detach())  # the parametrisation's forward iterates its vectors in place
        else:
            for hook in m._forward_pre_hooks.values():
                if isinstance(hook, SpectralNorm):
                    hook(m, None)
