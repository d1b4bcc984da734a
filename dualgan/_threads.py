"""How many torch threads dualgan's training loops use: one by default (small models), overridable.

The models of this library's experiments are small (a generator of a few
thousand parameters, batches of a few hundred 2-d points). At that size torch's
intra-op thread pool costs more in hand-offs than it saves, and on a shared or
busy CPU far more: one simultaneous step of the ring GAN in the game harness
took 288 ms with torch's default threads against 6.7 ms with one thread.

So the trainers' ``fit`` (:class:`~dualgan.train.DualLinearGAN`,
:class:`~dualgan.train.StandardLinearGAN`,
:class:`~dualgan.trust_region.TrustRegionGAN`), the game harness
(:func:`dualgan.games.harness.run_optimizer`, hence
:func:`~dualgan.games.harness.compare_optimizers`) and the ``dualgan``
command line run with the count :func:`resolve_threads` gives, and restore the
previous count when they return:

1. the environment variable ``DUALGAN_NUM_THREADS``, when set: a positive
   integer is the count; ``0`` leaves torch's setting alone;
2. otherwise torch's setting is left alone when the user made a choice:
   ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set, or
   ``torch.set_num_threads`` was called after dualgan was imported (the count
   differs from the one at import);
3. otherwise 1 (:data:`DEFAULT_THREADS`).

For large models (conv-net features on big batches) set
``DUALGAN_NUM_THREADS`` to the number of cores, or to 0.
"""
from __future__ import annotations

import functools
import os
from contextlib import contextmanager

import torch

__all__ = ["ENV_VAR", "DEFAULT_THREADS", "resolve_threads", "small_model_threads", "with_small_model_threads"]

#: the environment variable that overrides the count (0: leave torch's setting alone)
ENV_VAR = "DUALGAN_NUM_THREADS"
#: the count used when nobody chose one
DEFAULT_THREADS = 1
_USER_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_AT_IMPORT = torch.get_num_threads()


def resolve_threads() -> int | None:
    """The torch intra-op thread count for a training loop, or None to leave torch's setting alone.

    Returns
    -------
    int or None
        ``DUALGAN_NUM_THREADS`` when set (None for 0); None when the user chose a
        count (``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` set, or
        ``torch.set_num_threads`` called since dualgan was imported); else
        :data:`DEFAULT_THREADS`.

    Raises
    ------
    ValueError
        When ``DUALGAN_NUM_THREADS`` is not a non-negative integer.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = -1
        if n < 0:
            raise ValueError(f"{ENV_VAR} must be a non-negative integer (threads for dualgan's training loops; "
                             f"0 leaves torch's setting alone), got {raw!r}")
        return n or None
    if any(os.environ.get(v, "").strip() for v in _USER_VARS) or torch.get_num_threads() != _AT_IMPORT:
        return None
    return DEFAULT_THREADS


@contextmanager
def small_model_threads():
    """Run the block with :func:`resolve_threads` torch threads; the previous count is restored after it."""
    n = resolve_threads()
    previous = torch.get_num_threads()
    if n is None or n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def with_small_model_threads(fn):
    """Decorator: call ``fn`` inside :func:`small_model_threads`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with small_model_threads():
            return fn(*args, **kwargs)
    return wrapper
