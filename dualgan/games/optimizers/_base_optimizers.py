"""The base optimisers under every game optimiser, each written once as a pure rule on flat tensors.

:func:`functional_base` is a rule on a batch of cells, :class:`BoundBase` on an object game's flat
parameters (a batch of one); only a callable base, or a torch-only option, runs torch's optimiser itself.
"""
from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ...registry import Registry
from ...train.checkpoint import _check_optimizer_state

__all__ = ["BASE_OPTIMIZERS", "NotBatchableError", "make_base_optimizer", "functional_base", "FunctionalBase"]

#: the base torch optimisers that receive the adjusted field, by (lower-case) name: ``(params, lr, **kwargs) ->
#: torch.optim.Optimizer``; ``names(batchable=True)`` also have their pure rule (info ``defaults``,
#: ``batched_init``, ``batched_step``, ``torch_state``: torch's state names to the rule's)
BASE_OPTIMIZERS = Registry("base optimiser")


class NotBatchableError(ValueError):
    """An optimiser, base optimiser or game the batched runner cannot batch; :func:`dualgan.games.run_optimizer` can."""


# A pure rule is torch.optim's single-tensor CPU arithmetic per coordinate, on Z of shape (B, n) (one row per
# cell) with one step size per cell (lr (B, 1)). ``batched_init(Z, options)`` returns the zero state tensors;
# ``batched_step(Z, G, lr, state, count, options)`` the new iterate and the state tensors it changed (the caller
# keeps the old values of coordinates that do not move); ``count`` (n,) is each coordinate's step count
# including this step. Weight decay and ``maximize`` are applied to G by the caller (FunctionalBase.step).
_SGD_DEFAULTS = {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0, "maximize": False}
_ADAM_DEFAULTS = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "maximize": False}
_RMSPROP_DEFAULTS = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False,
                     "maximize": False}


def _sgd_step(Z, G, lr, state, count, o):
    d, new = G, {}
    if o["momentum"] != 0:
        first = (count == 1).unsqueeze(0)        # torch: buf = grad.clone() on a parameter's first step
        buf = torch.where(first, G, state["buf"] * o["momentum"] + (1 - o["dampening"]) * G)
        new["buf"] = buf
        d = G + o["momentum"] * buf if o["nesterov"] else buf
    return Z - lr * d, new


def _adam_step(Z, G, lr, state, count, o):
    b1, b2 = (float(b) for b in o["betas"])
    m = torch.lerp(state["m"], G, 1 - b1)
    v = state["v"] * b2 + (1 - b2) * G * G
    bc1 = _per_count(count, lambda c: 1 - b1 ** c, Z)
    bc2s = _per_count(count, lambda c: (1 - b2 ** c) ** 0.5, Z)
    step_size = lr / bc1
    new = {"m": m, "v": v}
    if o["amsgrad"]:
        vmax = torch.maximum(state["vmax"], v)
        new["vmax"] = vmax
        denom = vmax.sqrt() / bc2s + o["eps"]
    else:
        denom = v.sqrt() / bc2s + o["eps"]
    return Z + ((-step_size) * m) / denom, new         # addcdiv's order: self + (value * t1) / t2


def _rmsprop_step(Z, G, lr, state, count, o):
    a = o["alpha"]
    sq = state["sq"] * a + (1 - a) * G * G
    new = {"sq": sq}
    if o["centered"]:
        gavg = torch.lerp(state["gavg"], G, 1 - a)
        avg = (sq - gavg * gavg).sqrt() + o["eps"]
        new["gavg"] = gavg
    else:
        avg = sq.sqrt() + o["eps"]
    if o["momentum"] > 0:
        buf = state["buf"] * o["momentum"] + G / avg
        new["buf"] = buf
        return Z - lr * buf, new
    return Z + ((-lr) * G) / avg, new


def _per_count(count, fn, like):
    """fn(c) as Python floats (torch.optim's arithmetic) for each coordinate's step count c; shape (1, n)."""
    counts, where = torch.unique(count, return_inverse=True)     # a few distinct counts, many coordinates
    values = torch.tensor([fn(int(c)) if int(c) > 0 else 1.0 for c in counts], dtype=like.dtype, device=like.device)
    return values[where].unsqueeze(0)


def _register(name, factory, defaults, step, torch_state, hint, used_if):
    """Register torch's optimiser with its pure rule, whose initial state is zeros under ``torch_state``'s names.

    ``used_if`` maps a state the rule reads only under an option to that option: it is allocated only then.
    """
    def init(Z, options):
        return {k: torch.zeros_like(Z) for k in torch_state.values() if k not in used_if or options[used_if[k]]}

    BASE_OPTIMIZERS.register(name, factory, batchable=True, defaults=defaults, batched_step=step, batched_init=init,
                             torch_state=torch_state, hint=hint)


# hint: the valid ranges of the usual options, for the error of a refused value
_register("sgd", torch.optim.SGD, _SGD_DEFAULTS, _sgd_step, {"momentum_buffer": "buf"},
          "SGD takes momentum >= 0, dampening, weight_decay >= 0, nesterov (with momentum > 0 and dampening 0)",
          {"buf": "momentum"})
_register("adam", torch.optim.Adam, _ADAM_DEFAULTS, _adam_step,
          {"exp_avg": "m", "exp_avg_sq": "v", "max_exp_avg_sq": "vmax"},
          "Adam takes betas=(beta1, beta2) with 0 <= beta1, beta2 < 1 (default (0.9, 0.999)), eps >= 0, "
          "weight_decay >= 0", {"vmax": "amsgrad"})
_register("rmsprop", torch.optim.RMSprop, _RMSPROP_DEFAULTS, _rmsprop_step,
          {"square_avg": "sq", "grad_avg": "gavg", "momentum_buffer": "buf"},
          "RMSprop takes alpha >= 0 (the decay, e.g. 0.9), eps >= 0, momentum >= 0, weight_decay >= 0",
          {"gavg": "centered", "buf": "momentum"})


def check_base_kwargs(base_kwargs) -> dict:
    """``base_kwargs`` as a new dict (None: ``{}``); TypeError unless a mapping with str keys, ValueError for a
    non-finite number (torch takes some, e.g. SGD's ``momentum=nan``)."""
    if base_kwargs is None:
        return {}
    if not isinstance(base_kwargs, Mapping) or not all(isinstance(k, str) for k in base_kwargs):
        raise TypeError(f"base_kwargs must be a dict of keyword options (str names) of the base optimiser (e.g. "
                        f"{{'betas': (0.5, 0.999)}} for Adam), got {type(base_kwargs).__name__} {base_kwargs!r}")
    for key, value in base_kwargs.items():
        for number in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(number, numbers.Real) and not math.isfinite(number):
                raise ValueError(f"base_kwargs[{key!r}] = {value!r} is not finite; pass finite numbers")
    return dict(base_kwargs)


def make_base_optimizer(base, params, lr: float, base_kwargs: dict | None = None) -> torch.optim.Optimizer:
    """Build ``base`` (``"sgd"``, ``"adam"``, ``"rmsprop"`` or a callable ``(params, lr, **kw) -> Optimizer``).

    Parameters
    ----------
    base : str or callable
        A name of :data:`BASE_OPTIMIZERS` (case-insensitive) or a callable ``(params, lr, **kw) -> Optimizer``.
    params : list of torch.Tensor
        The parameter tensors the optimiser updates.
    lr : float
        Learning rate (the step size :math:`h`).
    base_kwargs : dict, optional
        Extra keyword arguments of the optimiser. Default None: none.

    Returns
    -------
    torch.optim.Optimizer
        The base optimiser over ``params``.

    Raises
    ------
    ValueError
        If the name is unknown, the named optimiser refuses ``base_kwargs`` (an option it does not take or
        a value such as ``betas=(2.0, 0.9)``: the message names the valid ranges), ``base`` is neither a
        name nor a callable, or the callable does not return a torch optimiser.
    TypeError
        If ``base_kwargs`` is not a dict of options (e.g. ``[0.9]``).
    """
    kwargs = check_base_kwargs(base_kwargs)
    if isinstance(base, str):
        name = base.lower()
        if name not in BASE_OPTIMIZERS:
            raise ValueError(f"unknown base optimiser {base!r}; choose one of {BASE_OPTIMIZERS.names()} or pass a "
                             f"callable (params, lr, **kwargs) -> torch.optim.Optimizer")
        try:
            return BASE_OPTIMIZERS.get(name)(params, lr, **kwargs)
        except (TypeError, ValueError) as exc:  # an option it does not take, a value it refuses (betas >= 1, ...)
            hint = BASE_OPTIMIZERS.entry(name).info.get("hint", "see the torch optimiser for the valid ranges")
            raise ValueError(f"base_kwargs={kwargs!r} are refused by base optimiser {base!r}: {exc}; {hint}") from exc
    if not callable(base):
        raise ValueError(f"base must be a name {BASE_OPTIMIZERS.names()} or a callable, got {type(base).__name__}")
    opt = base(params, lr, **kwargs)
    if not isinstance(opt, torch.optim.Optimizer):
        raise ValueError(f"base callable must return a torch.optim.Optimizer, got {type(opt).__name__}")
    return opt


@dataclass(frozen=True)
class FunctionalBase:
    """A base optimiser's pure rule: ``init(Z) -> state``, ``step(Z, G, lr, state, mask) -> (Z, state)``.

    ``name`` is a name of ``BASE_OPTIMIZERS.names(batchable=True)``, ``options`` its keyword arguments with
    torch's defaults filled in. ``Z`` and ``G`` are ``(B, n)`` (one row per cell), ``lr`` ``(B, 1)`` or
    0-dim, ``mask`` an ``(n,)`` bool of the coordinates that move (None: all; the others keep their values
    and state). Step counts are per coordinate, shared by the batch; the state is never changed in place.
    """

    name: str
    options: dict

    @property
    def is_plain_sgd(self) -> bool:
        """True for SGD without momentum, weight decay or maximize: the base of the exact local maps."""
        o = self.options
        return self.name == "sgd" and o["momentum"] == 0 and o["weight_decay"] == 0 and not o["maximize"]

    def init(self, Z: torch.Tensor) -> dict:
        """The zero state for ``Z``: the rule's tensors and each coordinate's step count ``count`` (``(n,)``)."""
        state = dict(BASE_OPTIMIZERS.entry(self.name).batched_init(Z, self.options))
        state["count"] = torch.zeros(Z.shape[1], dtype=torch.long, device=Z.device)
        return state

    def step(self, Z, G, lr, state, mask=None):
        """One step of every row of ``Z`` along the gradients ``G``: the new iterates and the new state."""
        o = self.options
        sel = None if mask is None else mask.unsqueeze(0)
        count = state["count"] + (1 if mask is None else mask.long())
        if o.get("maximize", False):
            G = -G
        if o.get("weight_decay", 0) != 0:
            G = G + o["weight_decay"] * Z
        Zn, changed = BASE_OPTIMIZERS.entry(self.name).batched_step(Z, G, lr, state, count, o)
        new = dict(state, count=count)
        for key, value in changed.items():
            new[key] = value if sel is None else torch.where(sel, value, state[key])
        if sel is not None:
            Zn = torch.where(sel, Zn, Z)
        return Zn, new


def functional_base(base="sgd", base_kwargs: dict | None = None) -> FunctionalBase:
    """The batched form of a base optimiser, or a :class:`NotBatchableError` naming it.

    Parameters
    ----------
    base : str, default "sgd"
        A name of ``BASE_OPTIMIZERS.names(batchable=True)`` (case-insensitive): ``"sgd"``, ``"adam"``, ``"rmsprop"``.
    base_kwargs : dict, optional
        Keyword arguments of torch's optimiser of that name that the rule implements (its entry's
        ``defaults``: e.g. no ``foreach``). Default None: none.

    Returns
    -------
    FunctionalBase
        The rule with ``base_kwargs`` and torch's defaults.

    Raises
    ------
    NotBatchableError
        A callable base, a name without a batched rule, or a keyword the batched rule does not implement.
    ValueError
        A keyword value the torch optimiser refuses.
    """
    kwargs, batchable = check_base_kwargs(base_kwargs), BASE_OPTIMIZERS.names(batchable=True)
    if not isinstance(base, str) or base.lower() not in batchable:
        label = base if isinstance(base, str) or not callable(base) else getattr(base, "__name__", type(base).__name__)
        raise NotBatchableError(f"base optimiser {label!r} cannot be batched: only {batchable} are written on batched "
                                f"tensors (no callable); choose one of them or use dualgan.games.run_optimizer")
    name = base.lower()
    known = sorted(BASE_OPTIMIZERS.entry(name).defaults)
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise NotBatchableError(f"base optimiser {name!r}: keyword(s) {unknown} are not implemented on batched "
                                f"tensors (known: {known}); use dualgan.games.run_optimizer")
    make_base_optimizer(name, [torch.zeros(1, requires_grad=True)], 0.1, kwargs)  # torch validates values
    return FunctionalBase(name, dict(BASE_OPTIMIZERS.entry(name).defaults, **kwargs))


class BoundBase:
    """An object game's base optimiser: its pure rule on the flat parameters, else (a callable, a torch-only
    keyword such as ``foreach``) the torch optimiser it builds; :meth:`state_dict` is in torch's layout either way."""

    def __init__(self, base, base_kwargs: dict, parameters, lr: float, game=None):
        self.game, self.parameters, self._state = game, list(parameters), {}
        self._base_kwargs, self._lr = base_kwargs, lr
        self._build = lambda: make_base_optimizer(base, self.parameters, lr, base_kwargs)
        try:
            self.rule = functional_base(base, base_kwargs)
        except NotBatchableError:              # a callable, or a keyword its pure rule lacks: torch's optimiser
            self.rule = None
        self.torch = None if self.rule is not None else self._build()

    @property
    def state(self):
        """The optimiser's running state; empty before its first step."""
        return self._state if self.torch is None else self.torch.state

    def move(self, Z, D, lr, mask=None):
        """One base step from the flat ``Z`` (shape ``(1, n)``) along ``D`` on the coordinates of ``mask``."""
        if self.torch is None:
            Z, self._state = self.rule.step(Z, D, lr, self._state or self.rule.init(Z), mask)
            return Z
        game = self.game
        game.set_flat(Z[0])
        moving = None if mask is None else game.unflatten(mask.to(D.dtype))
        for group in self.torch.param_groups:
            group["lr"] = float(lr.reshape(-1)[0])
        try:
            for i, (param, d) in enumerate(zip(game.parameters, game.unflatten(D[0]))):
                param.grad = d.detach().clone() if moving is None or bool(moving[i].any()) else None
            self.torch.step()
        finally:
            for param in game.parameters:
                param.grad = None
        return game.get_flat().unsqueeze(0)

    def snapshot(self):
        """What :meth:`restore` takes to undo the steps after it (the pure state is never changed in place)."""
        return self._state if self.torch is None else copy.deepcopy(self.torch.state_dict())

    def restore(self, snapshot) -> None:
        """Undo the steps since :meth:`snapshot`; None forgets every step (a fresh optimiser)."""
        if self.torch is None:
            self._state = dict(snapshot or {})
        elif snapshot is None:
            self.torch = self._build()
        else:
            self.torch.load_state_dict(snapshot)

    def state_dict(self):
        """The state in torch's ``state_dict`` layout whichever implementation ran (None before a step)."""
        if not self.state:
            return None
        if self.torch is not None:
            return self.torch.state_dict()
        trial = self._trial()
        for param in trial.param_groups[0]["params"]:      # one step on zero gradients: torch's fields, shapes
            param.grad = torch.zeros_like(param)
        trial.step()
        saved, names = trial.state_dict(), self._names()
        for index, (param, span) in enumerate(_spans(self.parameters)):
            entry = saved["state"].get(index)
            if entry is not None and int(self._state["count"][span.start]) == 0:
                del saved["state"][index]                  # a parameter that has not moved yet has no state in torch
            elif entry is not None:
                for field, value in entry.items():
                    entry[field] = (value.new_tensor(float(self._state["count"][span.start])) if field == "step" else
                                    self._state[names[field]][0, span].reshape(param.shape).clone())
        return saved

    def load_state_dict(self, saved) -> None:
        """Restore :meth:`state_dict`'s output (None: a fresh optimiser)."""
        if self.torch is not None:
            self.restore(None)
            if saved is not None:
                self.torch.load_state_dict(saved)
            return
        self._state = {} if saved is None else self._from_torch(saved)

    def check_state_dict(self, saved, what: str) -> None:
        """Raise CheckpointError unless ``saved`` fits these parameters (nothing changes)."""
        if saved is not None:
            _check_optimizer_state(what, self.torch or self._trial(), saved)

    def _trial(self):
        """The torch optimiser of the pure rule's name over zero tensors shaped like the parameters."""
        zeros = [torch.zeros_like(p, requires_grad=True) for p in self.parameters]
        return BASE_OPTIMIZERS.get(self.rule.name)(zeros, self._lr, **self._base_kwargs)

    def _names(self) -> dict:
        return BASE_OPTIMIZERS.entry(self.rule.name).info.get("torch_state", {})

    def _from_torch(self, saved) -> dict:
        """A torch optimiser's state_dict over these parameters as the pure rule's flat state tensors."""
        state = self.rule.init(torch.cat([p.detach().reshape(-1) for p in self.parameters]).unsqueeze(0))
        indices = [i for group in saved["param_groups"] for i in group["params"]]
        for index, (param, span) in zip(indices, _spans(self.parameters)):
            entry = saved["state"].get(index, {})
            for theirs, ours in self._names().items():
                if entry.get(theirs) is not None:
                    state[ours][0, span] = entry[theirs].reshape(-1).to(state[ours])
            # torch's SGD counts no steps: a momentum buffer means at least one was taken
            state["count"][span] = int(entry["step"]) if "step" in entry else int(bool(entry))
        return state


def _spans(parameters):
    """Each parameter with its slice of the flat parameter vector."""
    start = 0
    for param in parameters:
        yield param, slice(start, start + param.numel())
        start += param.numel()
