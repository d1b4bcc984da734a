r"""Constraints on the discriminator's weights (eq. (5.13) of the theory page, docs/theory.md).

* :func:`apply_spectral_norm` wraps the weight of every linear/convolutional
  layer with ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al.
  2018): :math:`W \mapsto W / \sigma_{\max}(W)`, :math:`\sigma_{\max}` estimated
  by power iteration (one step per forward pass in training mode). With
  1-Lipschitz activations the network is then (approximately) 1-Lipschitz.
* :func:`clip_weights` / :class:`WeightClipper`: WGAN's clipping of every
  parameter to :math:`[-c, c]` after each optimiser step.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from .._checks import check_int, check_number, check_positive

__all__ = ["apply_spectral_norm", "remove_spectral_norm", "clip_weights", "WeightClipper"]

DEFAULT_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
                       nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def apply_spectral_norm(module: nn.Module, layer_types=DEFAULT_LAYER_TYPES, n_power_iterations: int = 1,
                        eps: float = 1e-12) -> nn.Module:
    """Spectral-normalise the ``weight`` of every sub-module of ``layer_types`` (in place); returns ``module``.

    Layers already carrying a spectral-norm parametrisation are left alone, so
    calling twice is harmless. Raises if no layer matched (a silent no-op would
    leave the discriminator unconstrained).

    Parameters
    ----------
    module : torch.nn.Module
        The discriminator (changed in place).
    layer_types : tuple of type, default linear and (transposed) convolution layers
        Sub-module types whose ``weight`` is normalised.
    n_power_iterations : int, default 1
        Power iterations per training forward pass, >= 1.
    eps : float, default 1e-12
        Numerical floor of the power iteration.

    Returns
    -------
    torch.nn.Module
        ``module``.

    Raises
    ------
    ValueError
        If ``module`` is not an ``nn.Module``, ``n_power_iterations < 1``, or no layer matched.

    References
    ----------
    Eq. (5.13) of the theory page.

    Takeru Miyato, Toshiki Kataoka, Masanori Koyama, Yuichi Yoshida.
    *Spectral Normalization for Generative Adversarial Networks.* ICLR 2018.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    n_power_iterations = check_int(n_power_iterations, "n_power_iterations", low=1)
    eps = check_number(eps, "eps", low=0.0, low_open=True)
    matched = 0
    for layer in list(module.modules()):
        if isinstance(layer, tuple(layer_types)) and getattr(layer, "weight", None) is not None:
            matched += 1
            if not _has_spectral_norm(layer):
                spectral_norm(layer, n_power_iterations=n_power_iterations, eps=eps)
    if matched == 0:
        raise ValueError(f"no layer of types {[t.__name__ for t in layer_types]} found in the module; "
                         f"pass layer_types= naming the layers to normalise")
    return module


def remove_spectral_norm(module: nn.Module) -> nn.Module:
    """Undo :func:`apply_spectral_norm`, keeping the current normalised weights.

    Parameters
    ----------
    module : torch.nn.Module
        A module passed to :func:`apply_spectral_norm` (changed in place).

    Returns
    -------
    torch.nn.Module
        ``module``.
    """
    for layer in module.modules():
        if _has_spectral_norm(layer):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return module


def clip_weights(module: nn.Module, clip_value: float = 0.01) -> nn.Module:
    """Clamp every parameter of ``module`` to ``[-clip_value, clip_value]`` in place (WGAN); returns ``module``.

    Parameters
    ----------
    module : torch.nn.Module
        The discriminator (changed in place).
    clip_value : float, default 0.01
        Bound :math:`c` > 0 of eq. (5.13) of the theory page.

    Returns
    -------
    torch.nn.Module
        ``module``.

    References
    ----------
    Eq. (5.13) of the theory page.

    Martin Arjovsky, Soumith Chintala, Léon Bottou. *Wasserstein Generative
    Adversarial Networks.* ICML 2017.
    """
    c = check_positive(clip_value, "clip_value")
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)
    return module


class WeightClipper:
    """Callable ``clipper(module)`` applying :func:`clip_weights`; call it after every discriminator step.

    Parameters
    ----------
    clip_value : float, default 0.01
        Bound :math:`c` > 0.
    """

    def __init__(self, clip_value: float = 0.01):
        self.clip_value = check_positive(clip_value, "clip_value")

    def __call__(self, module: nn.Module) -> nn.Module:
        return clip_weights(module, self.clip_value)

    def __repr__(self):
        return f"WeightClipper({self.clip_value!r})"


def _has_spectral_norm(layer: nn.Module) -> bool:
    if not parametrize.is_parametrized(layer, "weight"):
        return False
    return any(type(p).__name__ == "_SpectralNorm" for p in layer.parametrizations.weight)
