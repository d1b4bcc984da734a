"""Seeded initialisation: build modules under a seed without moving the caller's random stream.

Every builder of the library that takes ``seed`` (the image models, the MLP
generators, the random features, the digits classifier) initialises its
layers with torch's default initialisation, which draws from torch's global
generator: :func:`seeded` seeds it for the block and puts its state back, so
that the same seed gives the same weights and the caller's draws after the
build are the ones it would have had without it.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ._checks import check_int

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int | None, name: str = "seed") -> Iterator[None]:
    """Seed torch's global generator with ``seed`` for the block, then restore its state (None: leave it alone).

    Parameters
    ----------
    seed : int or None
        A non-negative integer; None draws from the global generator as it
        is, advancing it.
    name : str, default "seed"
        The argument's name in the error message.

    Raises
    ------
    ValueError
        If ``seed`` is neither None nor a non-negative integer (checked on entering the block).
    """
    if seed is None:
        yield
        return
    seed = check_int(seed, name, low=0)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)
