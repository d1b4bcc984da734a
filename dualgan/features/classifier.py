r"""Features from a trained classifier, and the library's small digits classifier.

:class:`ClassifierFeatures` concatenates the flattened outputs of chosen
sub-modules of any ``nn.Module`` (read with forward hooks), the Dualing GANs
paper's "pretrained CNN" features. :func:`digits_classifier` trains a small CNN
on scikit-learn's bundled 8x8 digits (no downloads) and caches its weights.

Cache directory: ``$DUALGAN_CACHE`` when set, else ``$XDG_CACHE_HOME/dualgan``,
else ``~/.cache/dualgan``; ``cache_dir=`` overrides both. The file name carries
the seed and an architecture version, so a stale cache is never reused.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .._checks import check_int

__all__ = ["ClassifierFeatures", "DigitsCNN", "digits_classifier", "digits_features", "default_cache_dir"]

_ARCH_VERSION = 1


class ClassifierFeatures(nn.Module):
    """Concatenated, flattened activations of ``layers`` (names from ``model.named_modules()``).

    The model is frozen (``requires_grad=False``, eval mode); gradients flow to
    the input, so the features can drive a generator. The forward pass stops
    being useful after the last requested layer but runs the whole model.

    Parameters
    ----------
    model : torch.nn.Module
        A trained network (frozen here, in place).
    layers : sequence of str
        Names of the modules whose outputs form the features, in order.

    Raises
    ------
    ValueError
        If ``model`` is not a module, ``layers`` is empty or a string, or a
        layer name is not a module of ``model``.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (features of a pretrained classifier).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(layers, str) or not layers:
            raise ValueError(f"layers must be a non-empty list of sub-module names, got {layers!r}")
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise ValueError(f"layers {missing} are not sub-modules of the model; choose from "
                             f"{[n for n in modules if n]}")
        self.model = model
        self.layers = tuple(layers)
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        self._captured: dict[str, torch.Tensor] = {}
        for name in self.layers:
            modules[name].register_forward_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, inputs, output):
            self._captured[name] = output
        return hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The requested layers' activations, flattened and concatenated.

        Parameters
        ----------
        x : torch.Tensor
            Batch, shape ``(B, ...)`` as the model expects.

        Returns
        -------
        torch.Tensor
            Features, shape ``(B, out_features)``, differentiable in ``x``.
        """
        self._captured = {}
        self.model(x)
        feats = [self._captured[name].flatten(1) for name in self.layers]
        self._captured = {}
        return torch.cat(feats, dim=1)

    def train(self, mode: bool = True):
        """Keep the wrapped model in eval mode whatever ``mode`` says (the features are fixed).

        Parameters
        ----------
        mode : bool, default True
            Ignored for the wrapped model (torch's ``train`` signature).

        Returns
        -------
        ClassifierFeatures
            ``self``.
        """
        super().train(mode)
        self.model.eval()  # features must not depend on batch statistics
        return self


class DigitsCNN(nn.Module):
    """Small CNN for (B, 1, 8, 8) digits in [0, 1] -> 10 logits.

    ``conv1 (16x3x3) -> relu1 -> conv2 (32x3x3) -> relu2 -> pool (2x2) -> fc1 (128) -> relu3 -> fc2 (10)``.
    ``hidden_layers`` names the activations used as features (1024, 2048 and
    128 values per image). ``held_out_accuracy`` is set by
    :func:`digits_classifier` (NaN for an untrained network). No parameters.

    References
    ----------
    E. Alpaydin, C. Kaynak. *Optical Recognition of Handwritten Digits.* UCI
    Machine Learning Repository, 1998 (the 8x8 digits bundled with scikit-learn).
    """

    hidden_layers = ("relu1", "relu2", "relu3")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)
        self.held_out_accuracy = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of a batch of digits.

        Parameters
        ----------
        x : torch.Tensor
            Images, shape ``(B, 1, 8, 8)``, float, values in [0, 1].

        Returns
        -------
        torch.Tensor
            Logits, shape ``(B, 10)``.

        Raises
        ------
        ValueError
            If ``x`` does not have shape ``(B, 1, 8, 8)``.
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"DigitsCNN takes images of shape (batch, 1, 8, 8) in [0, 1], got {tuple(x.shape)}")
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        h = self.relu3(self.fc1(self.pool(h).flatten(1)))
        return self.fc2(h)


def default_cache_dir() -> Path:
    """Where :func:`digits_classifier` caches its weights.

    Returns
    -------
    pathlib.Path
        ``$DUALGAN_CACHE`` when set, else ``$XDG_CACHE_HOME/dualgan``, else
        ``~/.cache/dualgan`` (not created here).
    """
    env = os.environ.get("DUALGAN_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "dualgan"


def digits_classifier(seed: int = 0, cache_dir=None, epochs: int = 15, retrain: bool = False) -> DigitsCNN:
    """A :class:`DigitsCNN` trained on the bundled digits (fixed ``seed``), in eval mode on the CPU.

    Trained on a stratified 80% split (:func:`dualgan.data.digits.digits_split`
    with the same seed) with Adam; ``held_out_accuracy`` holds its accuracy on
    the other 20% (>= 0.95 is checked in the tests). The weights are cached in
    ``cache_dir`` (default :func:`default_cache_dir`) after the first call and
    loaded from there afterwards (``retrain=True`` ignores the cache).

    Parameters
    ----------
    seed : int, default 0
        Seed of the split, the initialisation and the training.
    cache_dir : str or os.PathLike or None, default None
        Directory of the cached weights (None: :func:`default_cache_dir`).
    epochs : int, default 15
        Training epochs when the weights are not cached.
    retrain : bool, default False
        Train even if cached weights exist.

    Returns
    -------
    DigitsCNN
        The trained network, in eval mode on the CPU.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer or ``epochs`` not a positive integer.

    Warns
    -----
    RuntimeWarning
        When the cached file is unreadable; the network is trained again and the file replaced.

    References
    ----------
    Diederik P. Kingma, Jimmy Ba. *Adam: A Method for Stochastic
    Optimization.* ICLR 2015.
    """
    # seed=True was read as 1 (and cached as 'seedTrue'); a numpy integer was refused
    seed, epochs = check_int(seed, "seed", low=0), check_int(epochs, "epochs", low=1)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = directory / f"digits_cnn_v{_ARCH_VERSION}_seed{seed}_ep{epochs}.pt"
    model = DigitsCNN()
    if path.exists() and not retrain:
        try:
            from ..train.base import read_checkpoint

            payload = read_checkpoint(path, "cpu")  # its SHA-256 checked: a damaged cache is rebuilt, not used
            model.load_state_dict(payload["state_dict"])
            model.held_out_accuracy = float(payload["held_out_accuracy"])
            return model.eval()
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            import warnings

            warnings.warn(f"the cached digits classifier {str(path)!r} is unreadable ({type(exc).__name__}: "
                          f"{exc}); training it again and replacing the file", RuntimeWarning, stacklevel=2)
            model = DigitsCNN()
    _train_digits(model, seed, epochs)
    directory.mkdir(parents=True, exist_ok=True)
    # write-then-rename (fsync-ed): concurrent first calls and kills never leave a half-written file
    from ..train.base import write_checkpoint

    payload = {"state_dict": model.state_dict(), "held_out_accuracy": model.held_out_accuracy}
    write_checkpoint(path, payload)
    return model.eval()


def digits_features(seed: int = 0, cache_dir=None) -> ClassifierFeatures:
    """All hidden activations of :func:`digits_classifier` as a feature map (1024 + 2048 + 128 = 3200 features).

    Parameters
    ----------
    seed : int, default 0
        Seed passed to :func:`digits_classifier`.
    cache_dir : str or os.PathLike or None, default None
        Directory of the cached weights.

    Returns
    -------
    ClassifierFeatures
        The feature map, ``(B, 1, 8, 8) -> (B, 3200)``.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (features of a pretrained classifier).
    """
    return ClassifierFeatures(digits_classifier(seed=seed, cache_dir=cache_dir), DigitsCNN.hidden_layers)


def _train_digits(model: DigitsCNN, seed: int, epochs: int) -> None:
    from ..data.digits import digits_split

    split = digits_split(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model.__init__()  # re-initialise under the fixed seed
    finally:
        torch.random.set_rng_state(state)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    n = split.train_images.shape[0]
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, 64):
            idx = perm[start:start + 64]
            loss = nn.functional.cross_entropy(model(split.train_images[idx]), split.train_labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(split.test_images).argmax(1)
    model.held_out_accuracy = float((pred == split.test_labels).double().mean())
