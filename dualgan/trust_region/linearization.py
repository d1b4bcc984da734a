r"""Score linearisation quantities from ``torch.func``: scores, the tangent Gram matrix and J w.

Eq. (2.5) of the theory page, docs/theory.md. For a discriminator score :math:`F(w, x)` with trainable
parameters :math:`w \in \mathbb R^P` and a batch :math:`x_1..x_N`, let
:math:`g_i = \partial F(w, x_i)/\partial w` (row i of the Jacobian J, N x P).
The score-linearisation dual needs only

.. math::

    F_i = F(w, x_i), \qquad G_{ij} = g_i^\top g_j \;(\text{the empirical neural tangent Gram}),
    \qquad (Jw)_i = g_i^\top w,

and the step itself is one vector-Jacobian product :math:`J^\top c`
(:func:`score_vjp`).

Two ways to get :math:`G` and :math:`Jw` (``method=``):

* ``"auto"`` (default): ``nn.Linear`` and ``nn.Conv2d`` layers that provably
  enter the score through one call get their Gram block and :math:`Jw` part in
  factorised form from one forward and one backward pass (per-sample gradients
  are outer products :math:`\delta_i u_i^\top`; see
  :mod:`dualgan.trust_region.factorised`), so an MLP costs
  :math:`O(N^2 \sum_l (d_\text{in} + d_\text{out}))` instead of :math:`O(N^2 P)`, and a
  conv layer gets the cheaper of the ghost form and its per-sample gradients
  (the weight gradient of the same convolution with one group per sample) and their Gram
  (:math:`O(NTd_\text{in}d_\text{out} + N^2 d_\text{in}d_\text{out})`
  for T output positions, no ``torch.func``);
  the remaining trainable parameters (other layer types, shared or reused
  layers) go through the ``torch.func`` path, restricted to them;
* ``"torch.func"``: the ``torch.func`` path for every parameter.

On the ``torch.func`` path the Jacobian is never materialised whole unless it fits in ``memory_mb``:
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
refuses random operations such as dropout in training mode). The factorised
path relies on the same independence (one backward pass of :math:`\sum_i F_i`
gives every :math:`\partial F_i/\partial z_i`). :func:`check_sample_independent`
enforces this before any forward pass: a BatchNorm layer in training mode (or
without running statistics) or an active dropout layer raises a ``ValueError``
naming the layer and the fix (``module.eval()`` for the linearisation, or
``nn.LayerNorm`` / ``nn.GroupNorm``, which normalise each sample alone), and
the module, its running statistics included, is left exactly as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from .._checks import check_int, check_positive
from .._threads import with_thread_policy
from ..registry import Registry
from .factorised import _aat, factorised_pass

__all__ = ["ScoreLinearization", "ScoreFunction", "score_linearization", "score_vjp", "LINEARIZATIONS",
           "check_sample_independent"]

#: the ways of computing the quantities of eq. (2.5), by name: ``fn(fn: ScoreFunction, inputs, chunk_size,
#: memory_mb) -> ScoreLinearization`` (inputs, chunk size and memory budget already checked)
LINEARIZATIONS = Registry("score linearization method")


@dataclass(frozen=True)
class ScoreLinearization:
    r"""Scores, tangent Gram and :math:`Jw` of one batch (tensors in the discriminator's dtype and device).

    ``gram[i, j]`` is :math:`g_i^\top g_j` (no labels: the dual's
    :math:`K = \mathrm{diag}(y)\,G\,\mathrm{diag}(y)`); ``method`` is
    ``"factorised"`` (every trainable parameter in a factorised layer),
    ``"jacobian"`` (``torch.func``, all rows fitted in memory, :math:`G = JJ^\top`),
    ``"jvp"`` (``torch.func``, chunked forward-mode columns), or
    ``"factorised+jacobian"`` / ``"factorised+jvp"`` (mixed); ``chunk_size`` is
    the number of ``torch.func`` Jacobian rows held at once (N when none are);
    ``n_factorised`` counts the parameters covered by factorised layers;
    ``pullback`` (factorised methods only) maps ``c`` to :math:`J^\top c` as a flat
    vector from this pass's stored factors (no new forward pass), valid until
    the parameters change. The quantities are those of eq. (2.5) of the theory page.

    Parameters
    ----------
    scores : torch.Tensor
        Shape ``(N,)``: the scores :math:`F_i = F(w, x_i)` (raw logits).
    gram : torch.Tensor
        Shape ``(N, N)``, symmetric positive semi-definite: :math:`G_{ij} = g_i^\top g_j`.
    jw : torch.Tensor
        Shape ``(N,)``: :math:`(Jw)_i = g_i^\top w`.
    n_params : int
        Number :math:`P` of trainable parameters (the length of :math:`w`).
    chunk_size : int
        ``torch.func`` Jacobian rows held at once (N when none were needed).
    method : str
        How the Gram matrix was computed (see above).
    n_factorised : int, default 0
        Number of parameters covered by factorised layers.
    pullback : callable, optional
        ``c (N,) -> J^T c (P,)`` from the stored factors (factorised methods
        only). Default None.
    """

    scores: torch.Tensor
    gram: torch.Tensor
    jw: torch.Tensor
    n_params: int
    chunk_size: int
    method: str
    n_factorised: int = 0
    pullback: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False, compare=False)


class ScoreFunction:
    """The discriminator as a pure function of its trainable parameters: ``F(params, x) -> (B,)``.

    ``params`` is a dict name -> tensor over the parameters with
    ``requires_grad=True``; frozen parameters and buffers are taken from the
    module as they are. :math:`F(w, x)` is the score of eq. (2.1) of the theory page.

    Parameters
    ----------
    module : torch.nn.Module
        The discriminator; maps a batch ``(B, ...)`` to one score per sample,
        shape ``(B,)`` or ``(B, 1)``.
    names : sequence of str, optional
        A non-empty subset of the trainable parameter names to treat as
        :math:`w` (the others are held fixed). Default None: every trainable parameter.

    Raises
    ------
    ValueError
        If ``module`` is not a module, has no trainable parameters, or
        ``names`` holds unknown names or is empty.
    """

    def __init__(self, module: nn.Module, names: Sequence[str] | None = None):
        if not isinstance(module, nn.Module):
            raise ValueError(f"discriminator must be a torch.nn.Module, got {type(module).__name__}")
        self.module = module
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the discriminator has no trainable parameters (all requires_grad=False); "
                             "give it a trainable head, e.g. nn.Linear on top of the feature map")
        if names is not None:
            # a subset of the trainable parameters (the others are held fixed): used for the
            # parameters that the factorised Gram does not cover
            wanted = set(names)
            unknown = wanted - {n for n, _ in named}
            if unknown or not wanted:
                raise ValueError(f"names must be a non-empty subset of the trainable parameter names; "
                                 f"unknown: {sorted(unknown)}")
            named = [(n, p) for n, p in named if n in wanted]
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.n_params = int(sum(self.numels))

    # ------------------------------------------------------------ parameters
    def params(self) -> dict[str, torch.Tensor]:
        """The current trainable parameters, detached.

        Every evaluation path starts here, so the module is checked first
        (:func:`check_sample_independent`): no forward pass of a BatchNorm in
        training mode or active dropout ever runs (nor changes running statistics).
        """
        check_sample_independent(self.module)
        live = dict(self.module.named_parameters())
        return {n: live[n].detach() for n in self.names}

    def flat(self, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Concatenate parameters (or per-parameter tensors with a leading batch dim) into one vector.

        Parameters
        ----------
        params : dict of str to torch.Tensor, optional
            Name -> tensor over :attr:`names`. Default None: the current
            parameters (:meth:`params`).

        Returns
        -------
        torch.Tensor
            Shape ``(P,)`` (entries in the order of :attr:`names`), the
            parameters' dtype and device.
        """
        params = self.params() if params is None else params
        return torch.cat([params[n].reshape(-1) for n in self.names])

    def unflat(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a length-P vector into a parameter dict.

        Parameters
        ----------
        vector : torch.Tensor
            Shape ``(P,)``, entries in the order of :attr:`names`.

        Returns
        -------
        dict of str to torch.Tensor
            Name -> view of ``vector`` shaped like that parameter.
        """
        out, start = {}, 0
        for n, shape, k in zip(self.names, self.shapes, self.numels):
            out[n] = vector[start:start + k].view(shape)
            start += k
        return out

    def add_(self, vector: torch.Tensor) -> None:
        """``w <- w + vector`` in place on the module's parameters.

        Parameters
        ----------
        vector : torch.Tensor
            Shape ``(P,)``: the step :math:`\\delta` (cast to each parameter's dtype).
        """
        live = dict(self.module.named_parameters())
        with torch.no_grad():
            for n, piece in self.unflat(vector).items():
                live[n].add_(piece.to(live[n].dtype))

    # ------------------------------------------------------------ scores
    def __call__(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        live = dict(self.module.named_parameters())
        # parameters not differentiated here are constants (detached: no autograd graph through them)
        frozen = {n: p.detach() for n, p in live.items() if n not in params}
        buffers = dict(self.module.named_buffers())
        out = functional_call(self.module, (params, frozen, buffers), (x,))
        if out.numel() != x.shape[0]:
            raise ValueError(f"the discriminator must return one score per sample, shape (B,) or (B, 1); "
                             f"got shape {tuple(out.shape)} for a batch of {x.shape[0]}")
        return out.reshape(x.shape[0])

    def single(self, params: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        """Score of one sample (no batch dimension), as a 0-d tensor.

        Parameters
        ----------
        params : dict of str to torch.Tensor
            Name -> tensor over :attr:`names` (the point :math:`w`).
        xi : torch.Tensor
            One sample, without the batch dimension.

        Returns
        -------
        torch.Tensor
            :math:`F(w, x_i)`, 0-d.
        """
        return self(params, xi.unsqueeze(0))[0]


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def score_linearization(module: nn.Module | ScoreFunction, inputs: torch.Tensor, *, method: str = "auto",
                        chunk_size: int | None = None, memory_mb: float = 512.0) -> ScoreLinearization:
    r"""Scores :math:`F_i`, Gram :math:`G = JJ^\top` and :math:`Jw` of ``inputs`` (N, ...) without a full Jacobian.

    The quantities of eq. (2.5) of the theory page.

    Parameters
    ----------
    module : torch.nn.Module or ScoreFunction
        The discriminator (or its :class:`ScoreFunction`).
    inputs : torch.Tensor
        Shape ``(N, ...)``: the batch, real and generated samples stacked.
    method : str, default "auto"
        A name of :data:`LINEARIZATIONS`. ``"auto"``: the factorised Gram blocks of
        :mod:`dualgan.trust_region.factorised` for the ``nn.Linear`` / ``nn.Conv2d``
        layers that qualify (one forward and one backward pass, no per-sample
        gradients for ``nn.Linear``), the ``torch.func`` path for every other
        trainable parameter; ``"torch.func"``: the ``torch.func`` path for all
        parameters. The record's ``method`` says what ran.
    chunk_size : int, optional
        Jacobian rows held at once on the ``torch.func`` path (>= 1).
        Default None: as many as fit in ``memory_mb``.
    memory_mb : float, default 512.0
        Budget for the Jacobian rows (or factorised blocks) held at once, in MiB (> 0).

    Returns
    -------
    ScoreLinearization
        Scores, Gram matrix and :math:`Jw`, in the discriminator's dtype and device.

    Raises
    ------
    ValueError
        If ``method`` is not a name of :data:`LINEARIZATIONS`, ``inputs`` is empty, ``memory_mb`` or
        ``chunk_size`` is out of range, or the discriminator is not
        sample-independent (:func:`check_sample_independent`).
    TypeError
        If ``inputs`` is wider than the discriminator's parameters (:func:`in_model_dtype`; a
        narrower dtype is widened exactly).

    References
    ----------
    Arthur Jacot, Franck Gabriel, Clément Hongler. "Neural Tangent Kernel:
    Convergence and Generalization in Neural Networks." NeurIPS 2018.
    """
    fn = module if isinstance(module, ScoreFunction) else ScoreFunction(module)
    check_sample_independent(fn.module)  # before any forward pass (the module may have changed mode since)
    compute = LINEARIZATIONS.get(method)
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 1 or inputs.shape[0] == 0:
        raise ValueError("inputs must be a non-empty tensor with the batch along dimension 0")
    inputs = in_model_dtype(fn.module, inputs, "inputs")
    memory_mb = check_positive(memory_mb, "memory_mb (MiB for Jacobian rows)")
    chunk_size = check_int(chunk_size, "chunk_size (Jacobian rows held at once)", low=1, allow_none=True)
    return compute(fn, inputs, chunk_size, memory_mb)


@LINEARIZATIONS.register("auto")
def factorised_then_torch_func(fn: ScoreFunction, inputs: torch.Tensor, chunk_size: int | None,
                               memory_mb: float) -> ScoreLinearization:
    """Factorised Gram blocks for the qualifying ``nn.Linear`` / ``nn.Conv2d`` layers, ``torch.func`` for the rest.

    Eq. (2.5) of the theory page. See :func:`score_linearization` for the parameters
    (already checked there) and :mod:`dualgan.trust_region.factorised` for the blocks.

    Parameters
    ----------
    fn : ScoreFunction
        The discriminator as a function of its trainable parameters.
    inputs : torch.Tensor
        Shape ``(N, ...)``: the batch.
    chunk_size : int or None
        ``torch.func`` Jacobian rows held at once (None: as many as fit in ``memory_mb``).
    memory_mb : float
        Memory budget, in MiB.

    Returns
    -------
    ScoreLinearization
        ``method`` is ``"factorised"``, ``"factorised+jacobian"``, ``"factorised+jvp"``, or
        ``"jacobian"`` / ``"jvp"`` when no layer qualifies.
    """
    N = int(inputs.shape[0])
    part = factorised_pass(fn.module, fn.names, inputs, memory_mb)
    if part is None:
        return torch_func_linearization(fn, inputs, chunk_size, memory_mb)
    rest = [n for n in fn.names if n not in set(part.covered)]
    if not rest:
        return ScoreLinearization(part.scores, part.gram, part.jw, fn.n_params, N, "factorised", part.n_covered,
                                  part.pullback)
    _, gram, jw, chunk, kind = _torch_func_gram(ScoreFunction(fn.module, rest), inputs, chunk_size, memory_mb)
    return ScoreLinearization(part.scores, part.gram + gram, part.jw + jw, fn.n_params, chunk, f"factorised+{kind}",
                              part.n_covered, part.pullback)


@LINEARIZATIONS.register("torch.func")
def torch_func_linearization(fn: ScoreFunction, inputs: torch.Tensor, chunk_size: int | None,
                             memory_mb: float) -> ScoreLinearization:
    """Per-sample gradients (``vmap`` of ``grad``) for every trainable parameter, in chunks.

    Eq. (2.5) of the theory page; :math:`G = JJ^\top` when all rows fit in
    ``memory_mb`` (``method="jacobian"``), else forward-mode columns (``method="jvp"``).

    Parameters
    ----------
    fn : ScoreFunction
        The discriminator as a function of its trainable parameters.
    inputs : torch.Tensor
        Shape ``(N, ...)``: the batch.
    chunk_size : int or None
        Jacobian rows held at once (None: as many as fit in ``memory_mb``).
    memory_mb : float
        Memory budget, in MiB.

    Returns
    -------
    ScoreLinearization
    """
    scores, gram, jw, chunk, kind = _torch_func_gram(fn, inputs, chunk_size, memory_mb)
    return ScoreLinearization(scores, gram, jw, fn.n_params, chunk, kind, 0)


def _torch_func_gram(fn: ScoreFunction, inputs: torch.Tensor, chunk_size: int | None, memory_mb: float):
    """The ``torch.func`` path over ``fn``'s parameters: (scores, gram, jw, chunk_size, "jacobian" | "jvp")."""
    N = int(inputs.shape[0])
    params = fn.params()
    itemsize = next(iter(params.values())).element_size()
    if chunk_size is None:
        chunk_size = max(1, int(memory_mb * 2 ** 20 // (fn.n_params * itemsize)))
    chunk_size = min(chunk_size, N)
    w = fn.flat(params)

    per_sample_grad = vmap(grad(fn.single), in_dims=(None, 0))
    with torch.no_grad():
        scores = fn(params, inputs).detach()

    if chunk_size >= N:
        # G = sum over parameter tensors of J_p J_p^T: no concatenated copy of J
        per_sample = per_sample_grad(params, inputs)
        gram = torch.zeros(N, N, dtype=w.dtype, device=w.device)
        jw = torch.zeros(N, dtype=w.dtype, device=w.device)
        for n in fn.names:
            Jp = per_sample.pop(n).reshape(N, -1)
            gram.add_(_aat(Jp))  # block-triangular J_p J_p^T, exactly symmetric
            jw.addmv_(Jp, params[n].reshape(-1))
            del Jp
        return scores, gram, jw, N, "jacobian"

    jw = torch.empty(N, dtype=w.dtype, device=w.device)
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
    return scores, gram, jw, chunk_size, "jvp"


def score_vjp(module: nn.Module | ScoreFunction, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r""":math:`J^\top c = \nabla_w \sum_i c_i F(w, x_i)`: one backward pass, returned as a flat vector.

    The step of eq. (2.8) of the theory page is one such product.

    Parameters
    ----------
    module : torch.nn.Module or ScoreFunction
        The discriminator (or its :class:`ScoreFunction`).
    inputs : torch.Tensor
        Shape ``(N, ...)``: the batch.
    weights : torch.Tensor
        Shape ``(N,)``: the coefficients :math:`c_i` (cast to the parameters' dtype).

    Returns
    -------
    torch.Tensor
        Shape ``(P,)``: :math:`J^\top c`, in the parameters' dtype and device.

    Raises
    ------
    ValueError
        If the discriminator is not sample-independent (:func:`check_sample_independent`).
    TypeError
        If ``inputs`` is wider than the discriminator's parameters (:func:`in_model_dtype`).
    """
    fn = module if isinstance(module, ScoreFunction) else ScoreFunction(module)
    check_sample_independent(fn.module)
    inputs = in_model_dtype(fn.module, inputs, "inputs")
    params = fn.params()
    _, pullback = vjp(lambda p: fn(p, inputs), params)
    (cotangent,) = pullback(weights.to(dtype=next(iter(params.values())).dtype))
    return fn.flat(cotangent)


def in_model_dtype(module: nn.Module, t: torch.Tensor, name: str) -> torch.Tensor:
    """``t`` in the dtype of ``module``'s trainable parameters when that is exact, else a TypeError.

    A narrower float (float32 samples for float64 parameters) or an integer tensor is
    widened exactly; a wider one would be rounded, so it is refused with the exact fix.

    Parameters
    ----------
    module : torch.nn.Module
        The discriminator (its first parameter with ``requires_grad=True`` gives the dtype).
    t : torch.Tensor
        Samples.
    name : str
        Their name in the message.

    Returns
    -------
    torch.Tensor
        ``t``, or its exact conversion.

    Raises
    ------
    TypeError
        If ``t`` is complex or wider than the parameters (float64 samples for float32 parameters).
    """
    dtype = next(p.dtype for p in module.parameters() if p.requires_grad)
    if t.dtype == dtype:
        return t
    exact = (not t.is_floating_point() and not t.is_complex()) or torch.finfo(t.dtype).bits < \
        torch.finfo(dtype).bits
    if exact and not t.is_complex():
        return t.to(dtype)
    raise TypeError(f"{name} has dtype {t.dtype} but the discriminator's parameters are {dtype}; a cast to "
                    f"{dtype} would round the samples: convert the discriminator (discriminator.to({t.dtype}), "
                    f"exact) or pass {name}.to({dtype})")


def _rows(fn: ScoreFunction, per_sample: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-sample gradient dict (each (c, *shape)) -> Jacobian rows (c, P)."""
    return torch.cat([per_sample[n].reshape(per_sample[n].shape[0], -1) for n in fn.names], dim=1)


def check_sample_independent(module: nn.Module) -> nn.Module:
    """Refuse, before any forward pass, a module whose score of one sample depends on the others or on chance.

    Parameters
    ----------
    module : nn.Module
        The discriminator.

    Returns
    -------
    nn.Module
        ``module``, unchanged.

    Raises
    ------
    ValueError
        Naming the first offending layer (BatchNorm in training mode or without
        running statistics: batch statistics couple the samples and the forward
        pass would update the running statistics; dropout with ``p > 0`` in
        training mode: random) and the fix.
    """
    for name, m in module.named_modules():
        label = f"{name or '<root>'} ({type(m).__name__})"
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not m.track_running_stats):
            why = "is in training mode" if m.training else "has no running statistics (track_running_stats=False)"
            raise ValueError(f"layer {label} {why}: its output for one sample depends on the whole batch, so the "
                             f"score linearisation (per-sample gradients) is undefined. Call discriminator.eval() "
                             f"around trust-region steps (the running statistics are then used and not updated), "
                             f"or use nn.LayerNorm / nn.GroupNorm, which normalise each sample alone")
        if isinstance(m, (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)) and \
                m.training and m.p > 0:
            raise ValueError(f"layer {label} is active dropout (p={m.p}) in training mode: the score is random, "
                             f"so the linearisation is undefined. Call discriminator.eval() for trust-region steps "
                             f"(dropout off) or drop the layer")
    return module
