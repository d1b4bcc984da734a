"""The measurement of a fixed function of the samples, shared by the metrics (eq. (7.1) of the theory page).

A feature network, a discriminator or a classifier under measurement is one
fixed function: a module is evaluated in eval mode (dropout off, batch norm
on its running statistics, which do not move) with every sub-module's own
train/eval flag put back afterwards, without gradients, on samples moved to
its device and floating dtype (float64 samples on a float32 network raised
torch's dtype error), in chunks of ``batch_size`` so that the result does
not depend on the chunking.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import torch

from .._modes import eval_mode

T = TypeVar("T")


def evaluate_in_batches(fn: Callable, x: torch.Tensor, batch_size: int,
                        each: Callable[[torch.Tensor, object], T]) -> list[T]:
    """``[each(chunk, fn(chunk)) for chunk in x.split(batch_size)]`` under the measurement policy above.

    ``each`` checks one chunk's output and returns what the caller keeps of it
    (a refusal raised there leaves the module's modes restored).
    """
    modules = ()
    if isinstance(fn, torch.nn.Module):
        modules = (fn,)
        ref = next(iter(fn.parameters()), None)
        if ref is not None:
            x = x.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else x.dtype)
    with torch.no_grad(), eval_mode(*modules):
        return [each(chunk, fn(chunk)) for chunk in x.split(batch_size)]
