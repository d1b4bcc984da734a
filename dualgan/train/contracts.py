"""What a trainer requires of its data and models, checked once before a run can fail half-way.

* the data adapter: a sampler object, an array of samples or a callable,
  turned into one ``draw(n, generator)`` (``_make_sampler``);
* the first-batch contracts of the generator (a tensor, one sample per noise
  row, its parameters' dtype, a function of its parameters) and of a
  discriminator (one score per sample), checked by one eval-mode forward at
  construction;
* the callbacks of ``fit`` (a sequence of callables).
"""
from __future__ import annotations

import inspect
from typing import Callable, Sequence

import torch
from torch import nn


#: integer sample dtypes that the generator's floating dtype holds exactly (pixel values, counts)
_EXACT_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)


def _check_latent_dim(generator: nn.Module, latent_dim: int, dtype, device) -> tuple:
    """One forward of ``generator`` on two zero noise vectors, in eval mode (no batch-norm statistics move).

    A ``latent_dim`` that does not fit the generator's input fails here with a
    ValueError naming it, not as a raw torch error inside ``fit``; so does a
    generator that breaks the contract every trainer relies on: it must return
    a tensor (not a tuple), one sample per noise row, in a floating dtype, and
    its samples must depend on its trainable parameters (a ``.detach()`` in
    ``forward`` would leave the generator untrained while a run reports
    success). Returns the shape of one sample.
    """
    from .._modes import eval_mode

    with eval_mode(generator), torch.enable_grad():
        try:
            out = generator(torch.zeros(2, latent_dim, dtype=dtype, device=device))
        except RuntimeError as exc:
            raise ValueError(f"latent_dim={latent_dim} does not fit the generator: its forward on noise of shape "
                             f"(2, {latent_dim}) failed ({exc}); pass the generator's input dimension as "
                             f"latent_dim") from exc
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the generator must return a tensor of samples (B, ...), but it returned a "
                        f"{type(out).__name__} for noise of shape (2, {latent_dim}); return the samples alone "
                        f"(e.g. the first element of the tuple)")
    if out.ndim < 1 or out.shape[0] != 2:
        raise ValueError(f"the generator must return one sample per noise row, but it returned shape "
                         f"{tuple(out.shape)} for noise of shape (2, {latent_dim}); return a (B, ...) tensor "
                         f"with B the number of noise rows")
    if out.dtype != dtype:
        raise TypeError(f"the generator returned samples of dtype {out.dtype} but its parameters are {dtype}; "
                        f"return samples in the parameters' dtype (no .float() / .double() in its forward), or "
                        f"convert the generator with generator.to({out.dtype})")
    if not out.requires_grad:
        raise ValueError("the generator's samples do not depend on its trainable parameters (no autograd graph: "
                         "a .detach(), torch.no_grad() or .data in its forward?); the trainer could not change "
                         "them. Return samples computed from the parameters without detaching them")
    return tuple(out.shape[1:])


def _check_discriminator(discriminator: nn.Module, generator: nn.Module, latent_dim: int, dtype, device) -> None:
    """One eval-mode forward of ``discriminator`` on two generated samples: it must give one score per sample.

    A discriminator with two outputs per sample (``nn.Linear(d, 2)``) would
    otherwise be read as twice as many scores, and a dtype that differs from
    the generator's fails here with the fix instead of inside ``fit``.
    """
    from .._modes import eval_mode

    params = [p for p in discriminator.parameters() if p.is_floating_point()]
    if params and params[0].dtype != dtype:
        raise TypeError(f"the discriminator's parameters are {params[0].dtype} but the generator's samples are "
                        f"{dtype}; convert one of them (e.g. discriminator.to({dtype}) or generator.to("
                        f"{params[0].dtype}))")
    with eval_mode(generator, discriminator), torch.no_grad():
        samples = generator(torch.zeros(2, latent_dim, dtype=dtype, device=device))
        scores = discriminator(samples)
    if not isinstance(scores, torch.Tensor) or scores.numel() != 2 or scores.shape[0] != 2:
        raise ValueError(f"the discriminator must return one score per sample, shape (B,) or (B, 1), but it "
                         f"returned {tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__} for 2 samples of shape "
                         f"{tuple(samples.shape[1:])}; give it a single output (e.g. nn.Linear(k, 1) as its last layer)")


def _make_sampler(data) -> Callable[[int, torch.Generator], torch.Tensor]:
    if hasattr(data, "sample") and callable(data.sample):
        try:
            takes_dtype = "dtype" in inspect.signature(data.sample).parameters
        except (TypeError, ValueError):
            takes_dtype = False
        if takes_dtype:
            return lambda n, gen: data.sample(n, generator=gen, dtype=torch.float64)
        return lambda n, gen: data.sample(n, generator=gen)
    if isinstance(data, torch.Tensor) or hasattr(data, "__array__"):
        table = data if isinstance(data, torch.Tensor) else torch.as_tensor(data)
        if table.ndim < 2 or table.shape[0] < 1:
            raise ValueError(f"data given as an array must have shape (N, ...) with N >= 1, got {tuple(table.shape)}")
        if not bool(torch.isfinite(table).all()):
            raise ValueError("data contains NaN or inf; clean the data set first")
        table = table.detach()

        def draw(n, gen):
            return table[torch.randint(table.shape[0], (n,), generator=gen).to(table.device)]

        draw.rows = table  # the table itself: a fixed batch is drawn from it without replacement
        return draw
    if callable(data):
        return lambda n, gen: data(n, gen)
    raise ValueError(f"data must have a sample(n, generator=...) method (e.g. dualgan.data.ring(5)), be an array "
                     f"of samples or a callable (n, generator) -> tensor; got {type(data).__name__}")


def _check_callbacks(callbacks) -> list:
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a sequence of callables (trainer, iteration), got "
                        f"{type(callbacks).__name__}; pass one callback as callbacks=[cb]")
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"every entry of callbacks must be a callable (trainer, iteration), got "
                            f"{type(cb).__name__}")
    return list(callbacks)
