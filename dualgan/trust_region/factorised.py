r"""Factorised ("ghost") Gram blocks and :math:`Jw` for layers whose per-sample gradients are outer products.

Used by :func:`~dualgan.trust_region.score_linearization` with ``method="auto"``.
For a layer :math:`z = W u + b` applied at positions :math:`t = 1..T` of
sample i (``nn.Linear``: T = 1, or the extra dimensions of its input;
``nn.Conv2d``: the output pixels, :math:`u_{it}` the unfolded input patch), write
:math:`\delta_{it} = \partial F_i/\partial z_{it}` (from ONE backward pass of
:math:`\sum_i F_i`, valid because sample i's score depends on sample i only).
Then the per-sample gradients are

.. math::

    \partial F_i/\partial W = \sum_t \delta_{it} u_{it}^\top, \qquad
    \partial F_i/\partial b = \sum_t \delta_{it},

so the layer's block of the Gram matrix and its part of :math:`Jw` are

.. math::

    G_{ij} \mathrel{+}= \sum_{t,s} (\delta_{it}^\top\delta_{js})(u_{it}^\top u_{js})
        + \Big(\sum_t \delta_{it}\Big)^\top\Big(\sum_s \delta_{js}\Big), \qquad
    (Jw)_i \mathrel{+}= \sum_t \delta_{it}^\top (W u_{it} + b) = \sum_t \delta_{it}^\top z_{it}.

For T = 1 the weight block is the elementwise product
:math:`(DD^\top)\circ(UU^\top)`: :math:`O(N^2(d_\text{in}+d_\text{out}))` instead of
the :math:`O(N^2 d_\text{in} d_\text{out})` of per-sample gradients. For T > 1 each layer
gets the cheaper exact form by multiply-add count (:func:`_choose_form`): the ghost form
(:math:`N^2 T^2 (d_\text{in} + d_\text{out})`, chunked), or the materialised per-sample
gradients :math:`R_i = \sum_t \delta_{it} u_{it}^\top` (:math:`N T d_\text{in} d_\text{out}`: for a conv
layer the weight gradient of the same convolution with one group per sample, no unfolded patches) followed by
:math:`RR^\top` (block-triangular, about :math:`\tfrac58 N^2 d_\text{in} d_\text{out}` at N = 256).
At image scale (3x3 convolutions on 28x28 inputs) the ghost form is hundreds of times dearer
and the per-sample gradients win; for ``nn.Linear`` on vectors the outer-product form does.
Every product runs in torch, in the discriminator's dtype, under torch's thread setting (no
second BLAS thread pool: on a busy machine one took 10x longer).

Safety: a layer is factorised only when it provably enters the score through
one call: exact type ``nn.Linear`` or ``nn.Conv2d`` (zero padding given as
integers, one group), its trainable parameters held directly in the module,
not shared with another module, called exactly once in the forward pass with
the batch along dimension 0, and, in the autograd graph of the scores, each of
its parameters consumed by exactly one operation (so no other code reads
``layer.weight``). Layer outputs modified in place afterwards (``ReLU(inplace=True)``)
are handled by re-running the forward pass with a copy. Everything else goes
through the ``torch.func`` path. Models with batch coupling that we can
recognise (BatchNorm in training mode or without running statistics, active
dropout) are left entirely to the ``torch.func`` path, which refuses them as before.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FactorisedPass", "factorised_pass"]


@dataclass
class _Layer:
    name: str
    module: nn.Module
    weight: str | None  # full parameter names (None when frozen)
    bias: str | None
    calls: int = 0
    inputs: torch.Tensor | None = None
    output: torch.Tensor | None = None
    versions: tuple[int, int] = (0, 0)


@dataclass
class _LayerFactors:
    """What the pullback keeps of one factorised layer: inputs U (N, d_in, T), output gradients
    D (N, d_out, T) and their sum over positions (N, d_out); or, where the per-sample weight
    gradients were materialised for the Gram matrix, those rows R (N, d_out * d_in) instead of U and D."""

    layer: _Layer
    inputs: torch.Tensor | None
    output_grads: torch.Tensor | None
    output_grad_sum: torch.Tensor
    rows: torch.Tensor | None = None
    form: str = "bias"  # how the weight block was formed: "outer", "ghost", "rows" ("bias": no trainable weight)


@dataclass
class FactorisedPass:
    """Result of the hooked forward/backward: scores, Gram and Jw over the covered parameters."""

    scores: torch.Tensor
    gram: torch.Tensor
    jw: torch.Tensor
    covered: tuple[str, ...]  # trainable parameter names whose contribution is included
    n_covered: int = 0
    layers: tuple[str, ...] = field(default_factory=tuple)
    pullback: Callable[[torch.Tensor], torch.Tensor] | None = None  # c -> J^T c over all trainable parameters
    forms: dict[str, str] = field(default_factory=dict)  # layer name -> "outer", "ghost" or "rows" (weight block)


def factorised_pass(module: nn.Module, trainable: list[str], inputs: torch.Tensor,
                    memory_mb: float, forms: dict[str, str] | None = None) -> FactorisedPass | None:
    """Hooked forward pass and one backward pass; ``None`` when no layer can be factorised safely.

    ``forms`` (for tests) forces a layer's weight-block form by layer name (``"ghost"`` or ``"rows"``,
    layers with T > 1); the others get :func:`_choose_form`'s.
    """
    if _batch_coupled(module):
        return None
    layers = _candidates(module, set(trainable))
    if not layers:
        return None
    N = int(inputs.shape[0])
    copy: set[str] = set()
    for attempt in range(2):  # a second pass only when some layer's input or output was changed in place
        scores = _hooked_forward(module, layers, inputs, copy)
        changed = {layer.name for layer in layers
                   if layer.calls == 1 and (layer.inputs._version, layer.output._version) != layer.versions}
        if not changed or attempt == 1:
            break
        copy |= changed
    layers = [layer for layer in layers if layer.name not in changed]
    if scores.numel() != N:
        raise ValueError(f"the discriminator must return one score per sample, shape (B,) or (B, 1); "
                         f"got shape {tuple(scores.shape)} for a batch of {N}")
    scores = scores.reshape(N)
    uses = _parameter_uses(scores)
    params = dict(module.named_parameters())
    ok = []
    for layer in layers:
        if layer.calls != 1 or layer.inputs.ndim < 2 or layer.inputs.shape[0] != N or layer.output.shape[0] != N:
            continue
        if any(uses.get(id(params[n]), 0) != 1 for n in (layer.weight, layer.bias) if n is not None):
            continue
        ok.append(layer)
    if not ok:
        return None
    covered_names = {n for layer in ok for n in (layer.weight, layer.bias) if n is not None}
    rest = [n for n in trainable if n not in covered_names]
    # the graph is kept only when the parameters outside the factorised layers need J^T c from it
    deltas = torch.autograd.grad(scores.sum(), [layer.output for layer in ok], allow_unused=True,
                                 retain_graph=bool(rest))
    dtype, device = scores.dtype, scores.device
    gram = torch.zeros(N, N, dtype=dtype, device=device)
    jw = torch.zeros(N, dtype=dtype, device=device)
    budget = max(1, int(memory_mb * 2 ** 20))
    covered, factors, chosen = [], {}, {}
    deltas = list(deltas)
    for i, layer in enumerate(ok):
        delta, deltas[i] = deltas[i], None  # each layer's output gradients freed once used (peak memory)
        if delta is None:  # the layer does not reach the score: zero gradients
            delta = torch.zeros_like(layer.output)
        factors[layer.name] = _accumulate(layer, params, delta.detach(), gram, jw, budget,
                                          (forms or {}).get(layer.name))
        del delta
        layer.inputs = layer.output = None  # what the pullback needs is in factors
        chosen[layer.name] = factors[layer.name].form
        covered += [n for n in (layer.weight, layer.bias) if n is not None]
    # exactly symmetric whatever the summation order of each block (the sub-problem factorises one matrix)
    gram = 0.5 * (gram + gram.T)
    # release the hooked tensors
    for layer in layers:
        layer.inputs = layer.output = None
    n_covered = int(sum(params[n].numel() for n in covered))
    pullback = _make_pullback(trainable, params, factors, rest, scores)
    return FactorisedPass(scores.detach(), gram, jw, tuple(covered), n_covered, tuple(layer.name for layer in ok),
                          pullback, chosen)


def _make_pullback(trainable, params, factors, rest, scores):
    r""":math:`J^\top c`: factorised layers from their stored :math:`(U, D)`,
    :math:`\sum_i c_i \sum_t \delta_{it} u_{it}^\top`, or as :math:`c^\top R` where the per-sample
    weight gradients :math:`R` (N x P_layer) were materialised for the Gram matrix anyway;
    other parameters by autograd on the kept graph."""
    rest_params = [params[n] for n in rest]

    def pullback(c: torch.Tensor) -> torch.Tensor:
        c = c.to(dtype=scores.dtype, device=scores.device)
        out = {}
        for f in factors.values():
            layer = f.layer
            if layer.weight is not None:
                if f.rows is not None:
                    gW = c @ f.rows
                else:
                    # sum_i c_i sum_t delta_it u_it^T from D (N, d_out, T) and U (N, d_in, T)
                    D, U = f.output_grads, f.inputs
                    if D.shape[2] == 1:  # one position: one matrix product, no permuted copies
                        gW = (D[:, :, 0] * c[:, None]).T @ U[:, :, 0]
                    else:
                        gW = torch.tensordot(D * c[:, None, None], U, dims=([0, 2], [0, 2]))
                out[layer.weight] = gW.reshape(params[layer.weight].shape)
            if layer.bias is not None:
                out[layer.bias] = c @ f.output_grad_sum
        if rest_params:
            grads = torch.autograd.grad(scores, rest_params, grad_outputs=c, retain_graph=True, allow_unused=True)
            for n, p, g in zip(rest, rest_params, grads):
                out[n] = torch.zeros_like(p) if g is None else g
        return torch.cat([out[n].detach().reshape(-1) for n in trainable])
    return pullback


# ---------------------------------------------------------------- helpers
def _batch_coupled(module: nn.Module) -> bool:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not m.track_running_stats):
            return True
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0:
            return True
    return False


def _candidates(module: nn.Module, trainable: set[str]) -> list[_Layer]:
    # a parameter reachable under two names (tied weights) is never factorised
    owners: dict[int, int] = {}
    for _, p in module.named_parameters(remove_duplicate=False):
        owners[id(p)] = owners.get(id(p), 0) + 1
    out, seen_modules = [], set()
    for name, m in module.named_modules(remove_duplicate=False):
        if id(m) in seen_modules:  # a module registered twice may be called twice: not factorised
            out = [layer for layer in out if layer.module is not m]
            continue
        seen_modules.add(id(m))
        if type(m) is nn.Conv2d:
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str) and m.padding != "valid":
                continue
        elif type(m) is not nn.Linear:
            continue
        prefix = f"{name}." if name else ""
        names = []
        for attr in ("weight", "bias"):
            p = m._parameters.get(attr)
            full = prefix + attr
            ok = p is not None and full in trainable and owners.get(id(p), 0) == 1
            names.append(full if ok else None)
        if names == [None, None]:
            continue
        # a trainable parameter of this layer that cannot be covered keeps the whole layer on the generic path
        if any(m._parameters.get(attr) is not None and m._parameters[attr].requires_grad and n is None
               for attr, n in zip(("weight", "bias"), names)):
            continue
        out.append(_Layer(name, m, names[0], names[1]))
    return out


def _hooked_forward(module, layers, inputs, copy):
    handles = []

    def make_hook(layer):
        def hook(mod, args, output):
            layer.calls += 1
            x = args[0] if args else None
            if layer.calls > 1 or not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor):
                layer.calls = max(layer.calls, 2)  # not a plain single call: not factorised
                return None
            if layer.name in copy:
                layer.inputs = x.detach().clone()
                layer.output = output
                layer.versions = (layer.inputs._version, output._version)
                return output.clone()  # in-place changes downstream hit the copy, not the tensor we differentiate
            layer.inputs, layer.output = x.detach(), output
            layer.versions = (x._version, output._version)
            return None
        return hook

    for layer in layers:
        layer.calls, layer.inputs, layer.output = 0, None, None
        handles.append(layer.module.register_forward_hook(make_hook(layer), prepend=True))
    try:
        with torch.enable_grad():
            scores = module(inputs)
    finally:
        for h in handles:
            h.remove()
    if not isinstance(scores, torch.Tensor):
        raise ValueError(f"the discriminator must return a tensor of scores, got {type(scores).__name__}")
    return scores


def _parameter_uses(scores: torch.Tensor) -> dict[int, int]:
    """Number of autograd edges into each leaf tensor's gradient accumulator (keyed by id of the tensor)."""
    uses: dict[int, int] = {}
    if scores.grad_fn is None:
        return uses
    seen, stack = set(), [scores.grad_fn]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            variable = getattr(nxt, "variable", None)
            if variable is not None:
                uses[id(variable)] = uses.get(id(variable), 0) + 1
            stack.append(nxt)
    return uses


#: bytes of the operands and result (output gradients, layer inputs, rows) of one grouped convolution
#: call: the convolution library reorders them into copies, so whole-batch calls at 28x28 raised the
#: step's peak memory by about 75 MiB
_CHUNK_BYTES = 2 * 2 ** 20


def _choose_form(N: int, T: int, d_in: int, d_out: int) -> str:
    r"""The cheaper exact form of one layer's weight block of the Gram matrix, by multiply-add count.

    ``"outer"`` when T = 1: :math:`(DD^\top)\circ(UU^\top)`, about :math:`N^2(d_\text{in}+d_\text{out})/2`;
    otherwise the cheaper of ``"ghost"``, :math:`\sum_{t,s}(\delta_{it}^\top\delta_{js})(u_{it}^\top u_{js})`
    (about :math:`N^2T^2(d_\text{in}+d_\text{out})`), and ``"rows"``, the per-sample gradients
    :math:`R_i = \sum_t \delta_{it}u_{it}^\top` (:math:`NTd_\text{in}d_\text{out}`) then :math:`RR^\top`
    (about :math:`\tfrac34 N^2 d_\text{in}d_\text{out}` with the block-triangular product of :func:`_aat`).
    """
    if T == 1:
        return "outer"
    ghost = N * N * T * T * (d_in + d_out)
    rows = N * T * d_in * d_out + 0.75 * N * N * d_in * d_out
    return "ghost" if ghost < rows else "rows"


def _layout(layer: _Layer, delta: torch.Tensor):
    """(D, T, d_in, d_out): output gradients as (N, d_out, T), positions, fan-in, fan-out.

    For ``nn.Conv2d`` (N, C_out, H, W) this is the tensor's own memory order (no copy);
    for ``nn.Linear`` on (N, ..., d_out) a transposed view.
    """
    m = layer.module
    N = delta.shape[0]
    if isinstance(m, nn.Linear):
        D = delta.reshape(N, -1, m.out_features).transpose(1, 2)
        return D, D.shape[2], m.in_features, m.out_features
    D = delta.reshape(N, m.out_channels, -1)
    return D, D.shape[2], m.in_channels * m.kernel_size[0] * m.kernel_size[1], m.out_channels


def _patches(layer: _Layer, lo: int, hi: int) -> torch.Tensor:
    """The inputs u_it of samples lo..hi-1 at every position, shape (hi - lo, d_in, T) (a view for nn.Linear)."""
    m, x = layer.module, layer.inputs[lo:hi]
    if isinstance(m, nn.Linear):
        return x.reshape(hi - lo, -1, m.in_features).transpose(1, 2)
    padding = (0, 0) if m.padding == "valid" else m.padding
    return F.unfold(x, m.kernel_size, dilation=m.dilation, padding=padding, stride=m.stride)


def _accumulate(layer, params, delta, gram, jw, budget, form=None):
    """Add one layer's Gram block to ``gram`` and its part of Jw to ``jw``; return what the pullback needs.

    ``form`` (tests only) overrides :func:`_choose_form` with ``"ghost"`` or ``"rows"`` (T > 1).
    """
    D, T, d_in, d_out = _layout(layer, delta)
    N, itemsize = D.shape[0], D.element_size()
    bias = layer.module.bias
    Dsum = D.sum(2)  # (N, d_out): the bias gradients
    result = _LayerFactors(layer, None, None, Dsum)
    if layer.weight is None:
        jw.add_(Dsum @ bias.detach())
        gram.add_(_aat(Dsum))
        return result
    form = form or _choose_form(N, T, d_in, d_out)
    if form not in ("outer", "ghost", "rows") or (form == "outer" and T != 1):
        raise ValueError(f"form must be 'ghost' or 'rows' (or 'outer' for one position), got {form!r} with T = {T}")
    result.form = form
    if form == "outer":
        # one position (nn.Linear on a batch of vectors): weight part (D D^T) * (U U^T), bias part D D^T
        U = _patches(layer, 0, N)[:, :, 0]
        DDt, UUt = _aat(D[:, :, 0]), _aat(U)
        if layer.bias is not None:
            UUt.add_(1.0)
        gram.add_(DDt * UUt)
        result.inputs, result.output_grads = U[:, :, None], D
        _jw_from_outputs(layer, D, delta, jw)
        return result
    if layer.bias is not None:
        gram.add_(_aat(Dsum))
    if form == "ghost":
        # G_ij += sum_{t,s} (u_it . u_js)(delta_it . delta_js), rows in chunks of c samples (two c T x N T matrices)
        U = _patches(layer, 0, N)
        Uf, Df = U.transpose(1, 2).reshape(N * T, d_in), D.transpose(1, 2).reshape(N * T, d_out)
        c = max(1, min(N, budget // max(1, 2 * T * N * T * itemsize)))
        for lo in range(0, N, c):
            hi = min(N, lo + c)
            block = (Uf[lo * T:hi * T] @ Uf.T) * (Df[lo * T:hi * T] @ Df.T)
            gram[lo:hi] += block.reshape(hi - lo, T, N, T).sum((1, 3))
        result.inputs, result.output_grads = U, D
        _jw_from_outputs(layer, D, delta, jw)
        return result
    # materialised per-sample weight gradients R_i = sum_t delta_it u_it^T (the layout of the weight)
    def rows(lo, hi):  # (hi - lo, d_out * d_in)
        return _rows(layer, delta, lo, hi)

    c = max(1, min(N, budget // max(1, 2 * d_in * d_out * itemsize)))
    if c >= N:
        R = rows(0, N)
        gram.add_(_aat(R))
        # Jw from the rows, R_i . vec(W) (+ delta_i . b): reads R, not the layer's whole output twice
        jw.add_(R @ params[layer.weight].detach().reshape(-1))
        if layer.bias is not None:
            jw.add_(Dsum @ bias.detach())
        # kept for the pullback: c^T R is one matrix-vector product; U and D are no longer needed
        result.rows = R
        return result
    for lo in range(0, N, c):
        hi = min(N, lo + c)
        Ja = rows(lo, hi)
        gram[lo:hi, lo:hi] += _aat(Ja)
        for lo2 in range(hi, N, c):
            hi2 = min(N, lo2 + c)
            block = Ja @ rows(lo2, hi2).T
            gram[lo:hi, lo2:hi2] += block
            gram[lo2:hi2, lo:hi] += block.T
    # the pullback needs the patches of every sample: unfolded once more, whole (the budget was exceeded anyway)
    result.inputs, result.output_grads = _patches(layer, 0, N), D
    _jw_from_outputs(layer, D, delta, jw)
    return result


def _rows(layer: _Layer, delta: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    r"""The per-sample weight gradients :math:`R_i = \sum_t \delta_{it} u_{it}^\top` of samples lo..hi-1,
    shape (hi - lo, d_out * d_in) in the layout of the weight.

    ``nn.Conv2d``: the weight gradient of the same convolution with one group per sample (the batch
    folded into the channels), ``convolution_backward`` calls on about 2 MiB of operands each: no
    unfolded patches (``F.unfold`` of a whole batch is several times the layer's input and, with two
    threads on a busy machine, took seconds), and the convolution library's own weight-gradient
    kernel. ``nn.Linear`` over T positions: one batched product.
    """
    m, x, c = layer.module, layer.inputs[lo:hi], hi - lo
    if isinstance(m, nn.Linear):
        D = delta[lo:hi].reshape(c, -1, m.out_features)
        return torch.bmm(D.transpose(1, 2), x.reshape(c, -1, m.in_features)).reshape(c, -1)
    padding = [0, 0] if m.padding == "valid" else list(m.padding)
    # samples per call: the library's reordered copies of the call's operands and result stay within _CHUNK_BYTES
    row = m.out_channels * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
    per_sample = (delta[0].numel() + x[0].numel() + row) * x.element_size()
    step = max(1, min(c, _CHUNK_BYTES // max(1, per_sample)))

    def grouped(a, b):  # (b - a, row): samples lo + a .. lo + b - 1, one group each
        k = b - a
        weight = x.new_empty(k * m.out_channels, m.in_channels, *m.kernel_size)  # its shape only: never read
        _, grads, _ = torch.ops.aten.convolution_backward(
            delta[lo + a:lo + b].reshape(1, k * m.out_channels, *delta.shape[2:]),
            x[a:b].reshape(1, k * m.in_channels, *x.shape[2:]), weight, None, list(m.stride), padding,
            list(m.dilation), False, [0, 0], k, [False, True, False])
        return grads.reshape(k, row)

    if step >= c:
        return grouped(0, c)
    out = x.new_empty(c, row)
    for a in range(0, c, step):
        out[a:min(c, a + step)] = grouped(a, min(c, a + step))
    return out


def _jw_from_outputs(layer, D, delta, jw):
    """The layer's part of Jw from its outputs: sum_t delta_it^T (W u_it) (+ delta_it^T b when b is trainable),
    with W u + b = z."""
    z, bias = layer.output.detach(), layer.module.bias
    if layer.bias is None and bias is not None:  # frozen bias: only W u counts
        jw.add_((D * (_layout(layer, z)[0] - bias.detach()[:, None])).sum((1, 2)))
    else:
        jw.add_((delta * z).reshape(z.shape[0], -1).sum(1))


def _aat(A: torch.Tensor) -> torch.Tensor:
    r""":math:`AA^\top`, exactly symmetric, in torch (whose thread setting it follows).

    Large products go block-triangular, recursively: :math:`A_1A_1^\top`, :math:`A_1A_2^\top`,
    :math:`A_2A_2^\top` for the two halves of the rows, so :math:`N^2k` multiply-adds fall to about
    :math:`\tfrac58 N^2 k` at N = 256 (a ``syrk`` without a second BLAS thread pool).
    """
    n = A.shape[0]
    if n < 128 or A.shape[1] < 256:
        G = A @ A.T
        return 0.5 * (G + G.T)
    h = n // 2
    A1, A2 = A[:h], A[h:]
    G = A.new_empty(n, n)
    G[:h, :h] = _aat(A1)
    G[h:, h:] = _aat(A2)
    G[:h, h:] = A1 @ A2.T
    G[h:, :h] = G[:h, h:].T
    return G
