"""What the feature maps of R^D with one feature per row of a ``(k, D)`` buffer share (eq. (6.2) of the theory page)."""
from __future__ import annotations

import torch
from torch import nn


class RowFeatures(nn.Module):
    """Base of :class:`~dualgan.features.RBF` and :class:`~dualgan.features.RandomFourierFeatures`.

    A subclass registers its ``(k, D)`` buffer (RBF anchors, Fourier
    frequencies), names it in ``rows_buffer`` and computes the features of a
    checked batch in ``_features``.
    """

    rows_buffer: str  # the name of the (k, D) buffer: one feature per row, D the input dimension

    @property
    def out_features(self) -> int:
        """Number of features k (the rows of the buffer)."""
        return int(getattr(self, self.rows_buffer).shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The features of a batch, eq. (6.2) of the theory page.

        Parameters
        ----------
        x : torch.Tensor
            Batch, shape ``(B, D)``.

        Returns
        -------
        torch.Tensor
            Features, shape ``(B, out_features)``, differentiable in ``x``.

        Raises
        ------
        ValueError
            If ``x`` is not a floating-point tensor of shape ``(B, D)``.
        """
        D = getattr(self, self.rows_buffer).shape[1]
        check_float_input(self, x, f"(batch, {D})")
        if x.ndim != 2 or x.shape[1] != D:
            raise ValueError(f"{type(self).__name__} input must have shape (batch, {D}), got {tuple(x.shape)}")
        return self._features(x)

    def _features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def check_float_input(module: nn.Module, x, shape: str) -> None:
    """Refuse what a feature map would compute wrongly: not a tensor, or an integer tensor.

    The maps cast their float64 buffers and weights to the input's dtype: an
    integer input would truncate them (RBF anchors of 0.7 to 0, random
    weights to 0) and return wrong features without an error.
    """
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        got = f"a tensor of dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{type(module).__name__} input must be a floating-point torch tensor of shape {shape}, "
                         f"got {got}; convert with torch.as_tensor(x, dtype=torch.float64)")
