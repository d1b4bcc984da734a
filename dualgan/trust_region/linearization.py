r"""Score linearisation quantities from ``torch.func``: scores, the tangent Gram matrix and J w.

SPEC.md section 2(B). For a discriminator score :math:`F(w, x)` with trainable
parameters :math:`w \in \mathbb R^P` and a batch :math:`x_1..x_N`, let
:math:`g_i = \partial F(w, x_i)/\partial w` (row i of the Jacobian J, N x P).
The score-linearisation dual needs only

.. math::

    F_i = F(w, x_i), \qquad G_{ij} = g_i^\top g_j \;(\text{the empirical neural tangent Gram}),
    \qquad (Jw)_i = g_i^\top w,

and the step itself is one vector-Jacobian product :math:`J^\top c`
(:func:`score_vjp`).

The Jacobian is never materialised whole unless it fits in ``memory_mb``:
rows are computed in chunks of ``chunk_size`` samples as per-sample gradients
(``vmap`` of ``grad``). When all N rows fit, :math:`G = JJ^\top` is one matrix
product (``method="jacobian"``). Otherwise each chunk :math:`J_c` (c x P) is
pushed forward through the whole batch with ``vmap`` of ``jvp``, giving the
columns :math:`G_{:,c} = J J_c^\top` (``method="jvp"``); the memory is then
O(c P + c N h) with h the activation size, whatever N and P are.

Parameters with ``requires_grad=False`` (a frozen feature map, say) are
constants: only the trainable ones form :math:`w`. The discriminator must
score each sample independently (no batch statistics: put BatchNorm in eval
mode or use another normalisation) and must be deterministic (``vmap``
refuses random operations such as dropout in training mode).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

__all__ = ["ScoreLinearization", "ScoreFunction", "score_linearization", "score_vjp"]


@dataclass(frozen=True)
class ScoreLinearization:
    r"""Scores, tangent Gram and :math:`Jw` of one batch (tensors in the discriminator's dtype and device).

    ``gram[i, j]`` is :math:`g_i^\top g_j` (no labels: the dual's
    :math:`K = \mathrm{diag}(y)\,G\,\mathrm{diag}(y)`); ``method`` is
    ``"jacobian"`` (all rows fitted in memory, :math:`G = JJ^\top`) or ``"jvp"``
    (chunked forward-mode columns); ``chunk_size`` is the number of Jacobian
    rows held at once.
    """

    scores: torch.Tensor
    gram: torch.Tensor
    jw: torch.Tensor
    n_params: int
    chunk_size: int
    method: str


class ScoreFunction:
    """The discriminator as a pure function of its trainable parameters: ``F(params, x) -> (B,)``.

    ``params`` is a dict name -> tensor over the parameters with
    ``requires_grad=True``; frozen parameters and buffers are taken from the
    module as they are.
    """

    def __init__(self, module: nn.Module):
        if not isinstance(module, nn.Module):
            raise ValueError(f"discriminator must be a torch.nn.Module, got {type(module).__name__}")
        self.module = module
        named = list(module.named_parameters())
        self.names = [n for n, p in named if p.requires_grad]
        if not self.names:
            raise ValueError("the discriminator has no trainable parameters (all requires_grad=False); "
                             "give it a trainable head, e.g. nn.Linear on top of the feature map")
        self.shapes = [p.shape for n, p in named if p.requires_grad]
        self.numels = [p.numel() for n, p in named if p.requires_grad]
        self.n_params = int(sum(self.numels))

    # ------------------------------------------------------------ parameters
    def params(self) -> dict[str, torch.Tensor]:
        """The current trainable parameters, detached."""
        live = dict(self.module.named_parameters())
        return {n: live[n].detach() for n in self.names}

    def flat(self, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Concatenate parameters (or per-parameter tensors with a leading batch dim) into one vector."""
        params = self.params() if params is None else params
        return torch.cat([params[n].reshape(-1) for n in self.names])

    def unflat(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a length-P vector into a parameter dict."""
        out, start = {}, 0
        for n, shape, k in zip(self.names, self.shapes, self.numels):
            out[n] = vector[start:start + k].view(shape)
            start += k
        return out

    def add_(self, vector: torch.Tensor) -> None:
        """``w <- w + vector`` in place on the module's parameters."""
        live = dict(self.module.named_parameters())
        with torch.no_grad():
            for n, piece in self.unflat(vector).items():
                live[n].add_(piece.to(live[n].dtype))

    # ------------------------------------------------------------ scores
    def __call__(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        live = dict(self.module.named_parameters())
        frozen = {n: p for n, p in live.items() if n not in params}
        buffers = dict(self.module.named_buffers())
        out = functional_call(self.module, (params, frozen, buffers), (x,))
        if out.numel() != x.shape[0]:
            raise ValueError(f"the discriminator must return one score per sample, shape (B,) or (B, 1); "
                             f"got shape {tuple(out.shape)} for a batch of {x.shape[0]}")
        return out.reshape(x.shape[0])

    def single(self, params: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        """Score of one sample (no batch dimension), as a 0-d tensor."""
        return self(params, xi.unsqueeze(0))[0]


def score_linearization(module: nn.Module | ScoreFunction, inputs: torch.Tensor, *,
                        chunk_size: int | None = None, memory_mb: float = 512.0) -> ScoreLinearization:
    r"""Scores :math:`F_i`, Gram :math:`G = JJ^\top` and :math:`Jw` of ``inputs`` (N, ...) without a full Jacobian.

    Parameters
    ----------
    module: the discriminator (or its :class:`ScoreFunction`).
    inputs: the batch, real and generated samples stacked.
    chunk_size: Jacobian rows held at once; default: as many as fit in ``memory_mb``.
    memory_mb: budget for the Jacobian rows held at once (MiB).
    """
    fn = module if isinstance(module, ScoreFunction) else ScoreFunction(module)
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 1 or inputs.shape[0] == 0:
        raise ValueError("inputs must be a non-empty tensor with the batch along dimension 0")
    if not math.isfinite(float(memory_mb)) or memory_mb <= 0:
        raise ValueError(f"memory_mb must be a positive number of MiB, got {memory_mb!r}")
    N = int(inputs.shape[0])
    params = fn.params()
    itemsize = next(iter(params.values())).element_size()
    if chunk_size is None:
        chunk_size = max(1, int(memory_mb * 2 ** 20 // (fn.n_params * itemsize)))
    elif not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer (Jacobian rows held at once), got {chunk_size!r}")
    chunk_size = min(chunk_size, N)
    w = fn.flat(params)

    per_sample_grad = vmap(grad(fn.single), in_dims=(None, 0))
    with torch.no_grad():
        scores = fn(params, inputs).detach()
    jw = torch.empty(N, dtype=w.dtype, device=w.device)

    if chunk_size >= N:
        # G = sum over parameter tensors of J_p J_p^T: no concatenated copy of J
        per_sample = per_sample_grad(params, inputs)
        gram = torch.zeros(N, N, dtype=w.dtype, device=w.device)
        jw = torch.zeros(N, dtype=w.dtype, device=w.device)
        for n in fn.names:
            Jp = per_sample.pop(n).reshape(N, -1)
            gram.addmm_(Jp, Jp.T)
            jw.addmv_(Jp, params[n].reshape(-1))
            del Jp
        return ScoreLinearization(scores, gram, jw, fn.n_params, N, "jacobian")

    gram = torch.empty(N, N, dtype=w.dtype, device=w.device)

    def push_forward(tangent_flat):
        _, out = jvp(lambda p: fn(p, inputs), (params,), (fn.unflat(tangent_flat),))
        return out

    columns = vmap(push_forward)
    for start in range(0, N, chunk_size):
        stop = min(start + chunk_size, N)
        Jc = _rows(fn, per_sample_grad(params, inputs[start:stop]))  # (c, P)
        jw[start:stop] = Jc @ w
        gram[:, start:stop] = columns(Jc).T  # G[:, c] = J J_c^T
        del Jc
    # forward-mode columns agree with their transposes only up to rounding: symmetrise
    gram = 0.5 * (gram + gram.T)
    return ScoreLinearization(scores, gram, jw, fn.n_params, chunk_size, "jvp")


def score_vjp(module: nn.Module | ScoreFunction, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r""":math:`J^\top c = \nabla_w \sum_i c_i F(w, x_i)`: one backward pass, returned as a flat vector."""
    fn = module if isinstance(module, ScoreFunction) else ScoreFunction(module)
    params = fn.params()
    _, pullback = vjp(lambda p: fn(p, inputs), params)
    (cotangent,) = pullback(weights.to(dtype=next(iter(params.values())).dtype))
    return fn.flat(cotangent)


def _rows(fn: ScoreFunction, per_sample: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-sample gradient dict (each (c, *shape)) -> Jacobian rows (c, P)."""
    return torch.cat([per_sample[n].reshape(per_sample[n].shape[0], -1) for n in fn.names], dim=1)
