r"""The base optimisers under every game optimiser: torch's optimisers, and their rules on batched tensors.

A game optimiser hands its adjusted field to a base torch optimiser (:func:`make_base_optimizer`); the
batched runner applies the same rule to a batch of cells (:func:`functional_base`). Each base optimiser
is registered once in :data:`BASE_OPTIMIZERS` with its torch factory and, for the batched runner, its
rule on batched tensors (info ``batchable``, ``defaults``, ``batched_init``, ``batched_step``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ...registry import Registry

__all__ = ["BASE_OPTIMIZERS", "NotBatchableError", "make_base_optimizer", "functional_base", "FunctionalBase"]

#: the base torch optimisers that receive the adjusted field, by (lower-case) name:
#: ``(params, lr, **kwargs) -> torch.optim.Optimizer``; ``BASE_OPTIMIZERS.names(batchable=True)``
#: also have their rule on batched tensors (info ``defaults``, ``batched_init``, ``batched_step``)
BASE_OPTIMIZERS = Registry("base optimiser")


class NotBatchableError(ValueError):
    """An optimiser, base optimiser or game that the batched runner cannot batch (the message names it).

    The per-run harness (:func:`dualgan.games.run_optimizer`) still runs it.
    """


# ------------------------------------------------------------------ base optimisers, per parameter and batched
# Each base optimiser is its torch factory plus its update on batched tensors (the batched runner's): the
# arithmetic of torch.optim's single-tensor CPU implementation, per parameter coordinate, on Z of shape (B, n)
# (one row per cell) with one step size per cell (lr of shape (B, 1)). ``batched_init(Z, options)`` returns the
# zero state tensors; ``batched_step(Z, G, lr, state, count, options)`` returns the new iterate and the state
# tensors it changed (the runner keeps the old values of coordinates that do not move); ``count`` (n,) is each
# coordinate's step count including this step. Weight decay and ``maximize`` are applied to G by the runner.
_SGD_DEFAULTS = {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0, "maximize": False}
_ADAM_DEFAULTS = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "maximize": False}
_RMSPROP_DEFAULTS = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False,
                     "maximize": False}


def _sgd_init(Z, options):
    return {"buf": torch.zeros_like(Z)}


def _sgd_step(Z, G, lr, state, count, o):
    d, new = G, {}
    if o["momentum"] != 0:
        first = (count == 1).unsqueeze(0)        # torch: buf = grad.clone() on a parameter's first step
        buf = torch.where(first, G, state["buf"] * o["momentum"] + (1 - o["dampening"]) * G)
        new["buf"] = buf
        d = G + o["momentum"] * buf if o["nesterov"] else buf
    return Z - lr * d, new


def _adam_init(Z, options):
    state = {"m": torch.zeros_like(Z), "v": torch.zeros_like(Z)}
    if options["amsgrad"]:
        state["vmax"] = torch.zeros_like(Z)
    return state


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


def _rmsprop_init(Z, options):
    return {"sq": torch.zeros_like(Z), "gavg": torch.zeros_like(Z), "buf": torch.zeros_like(Z)}


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
    values = {int(c): fn(int(c)) if int(c) > 0 else 1.0 for c in torch.unique(count)}
    return torch.tensor([values[int(c)] for c in count], dtype=like.dtype).unsqueeze(0)


@BASE_OPTIMIZERS.register("sgd", batchable=True, defaults=_SGD_DEFAULTS, batched_init=_sgd_init,
                          batched_step=_sgd_step)
def _sgd(params, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, **kwargs)


@BASE_OPTIMIZERS.register("adam", batchable=True, defaults=_ADAM_DEFAULTS, batched_init=_adam_init,
                          batched_step=_adam_step)
def _adam(params, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, **kwargs)


@BASE_OPTIMIZERS.register("rmsprop", batchable=True, defaults=_RMSPROP_DEFAULTS, batched_init=_rmsprop_init,
                          batched_step=_rmsprop_step)
def _rmsprop(params, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, **kwargs)


#: the valid ranges of the usual options of each named base optimiser, for the error of a refused value
_BASE_KWARGS_HINT = {
    "adam": "Adam takes betas=(beta1, beta2) with 0 <= beta1, beta2 < 1 (default (0.9, 0.999)), eps >= 0, "
            "weight_decay >= 0",
    "rmsprop": "RMSprop takes alpha >= 0 (the decay, e.g. 0.9), eps >= 0, momentum >= 0, weight_decay >= 0",
    "sgd": "SGD takes momentum >= 0, dampening, weight_decay >= 0, nesterov (with momentum > 0 and dampening 0)",
}


def check_base_kwargs(base_kwargs) -> dict:
    """``base_kwargs`` as a new dict of keyword options: None gives ``{}``; anything but a mapping with str keys is refused.

    Parameters
    ----------
    base_kwargs : dict or None
        Extra keyword options of a base optimiser, e.g. ``{"betas": (0.5, 0.999)}``.

    Returns
    -------
    dict
        A copy of the options.

    Raises
    ------
    TypeError
        If ``base_kwargs`` is not a mapping (a list such as ``[0.9]``, a
        number) or a key is not a string.
    """
    if base_kwargs is None:
        return {}
    if not isinstance(base_kwargs, Mapping):
        raise TypeError(f"base_kwargs must be a dict of keyword options of the base optimiser (e.g. "
                        f"{{'betas': (0.5, 0.999)}} for Adam), got {type(base_kwargs).__name__} {base_kwargs!r}")
    bad = [k for k in base_kwargs if not isinstance(k, str)]
    if bad:
        raise TypeError(f"base_kwargs keys must be option names (str), got {bad!r}")
    return dict(base_kwargs)


def make_base_optimizer(base, params, lr: float, base_kwargs: dict | None = None) -> torch.optim.Optimizer:
    """Build ``base`` (``"sgd"``, ``"adam"``, ``"rmsprop"`` or a callable ``(params, lr, **kw) -> Optimizer``).

    Parameters
    ----------
    base : str or callable
        A name of :data:`BASE_OPTIMIZERS` (case-insensitive) or a callable
        ``(params, lr, **kw) -> torch.optim.Optimizer``.
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
        If the name is unknown, ``base_kwargs`` do not fit the named optimiser
        (an option it does not take, or a value it refuses such as
        ``betas=(2.0, 0.9)``: the message names the valid ranges), ``base`` is
        neither a name nor a callable, or the callable does not return a torch optimiser.
    TypeError
        If ``base_kwargs`` is not a dict of options (e.g. ``[0.9]``).
    """
    kwargs = check_base_kwargs(base_kwargs)
    if isinstance(base, str):
        if base.lower() not in BASE_OPTIMIZERS:
            raise ValueError(f"unknown base optimiser {base!r}; choose one of {BASE_OPTIMIZERS.names()} or pass a "
                             f"callable (params, lr, **kwargs) -> torch.optim.Optimizer")
        build = BASE_OPTIMIZERS.get(base.lower())
        try:
            return build(params, lr, **kwargs)
        except TypeError as exc:  # an option the torch optimiser does not take
            raise ValueError(f"base_kwargs {sorted(kwargs)} do not fit base optimiser {base!r}: {exc}") from exc
        except ValueError as exc:  # a value the torch optimiser refuses (betas outside [0, 1), a negative eps, ...)
            raise ValueError(f"base_kwargs={kwargs!r} are refused by base optimiser {base!r}: {exc}; "
                             f"{_BASE_KWARGS_HINT.get(base.lower(), 'see the torch optimiser for the valid ranges')}"
                             ) from exc
    if callable(base):
        opt = base(params, lr, **kwargs)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(f"base callable must return a torch.optim.Optimizer, got {type(opt).__name__}")
        return opt
    raise ValueError(f"base must be a name {BASE_OPTIMIZERS.names()} or a callable, got {type(base).__name__}")


@dataclass(frozen=True)
class FunctionalBase:
    """A base optimiser on batched tensors: ``init(Z) -> state``, ``step(Z, G, lr, state, mask) -> (Z, state)``.

    Built by :func:`functional_base`; its update rule is the one registered
    with the base optimiser in :data:`~dualgan.games.optimizers.BASE_OPTIMIZERS`.

    Parameters
    ----------
    name : str
        A name of ``BASE_OPTIMIZERS.names(batchable=True)`` (``"sgd"``, ``"adam"``, ``"rmsprop"``).
    options : dict
        Its keyword arguments with the torch defaults filled in.

    Notes
    -----
    ``lr`` is a ``(B, 1)`` tensor (one step size per cell); ``mask`` a
    ``(n,)`` boolean tensor of the coordinates that move (None: all). State
    counters (Adam's step) are per coordinate and shared by the batch: every
    cell takes the same sequence of masks.
    """

    name: str
    options: dict

    @property
    def is_plain_sgd(self) -> bool:
        """True for SGD without momentum, weight decay or maximize: the base of the exact local maps."""
        o = self.options
        return self.name == "sgd" and o["momentum"] == 0 and o["weight_decay"] == 0 and not o["maximize"]

    def init(self, Z: torch.Tensor) -> dict:
        """The zero state for iterates ``Z`` of shape ``(B, n)``: the rule's tensors and each coordinate's step count.

        Parameters
        ----------
        Z : torch.Tensor
            The initial iterates, shape ``(B, n)``.

        Returns
        -------
        dict
            Tensors of ``Z``'s shape and ``"count"`` (``(n,)`` int64 zeros).
        """
        state = dict(BASE_OPTIMIZERS.entry(self.name).batched_init(Z, self.options))
        state["count"] = torch.zeros(Z.shape[1], dtype=torch.long)
        return state

    def step(self, Z, G, lr, state, mask=None):
        """One step of the base optimiser on every row of ``Z`` along the gradients ``G``.

        Parameters
        ----------
        Z, G : torch.Tensor
            Iterates and the gradients handed to the optimiser, shape ``(B, n)``.
        lr : torch.Tensor
            Step sizes, shape ``(B, 1)``.
        state : dict
            The state of :meth:`init` or of the previous call.
        mask : torch.Tensor, optional
            ``(n,)`` bool: the coordinates that move; the others keep their
            values and their state. Default None: all move.

        Returns
        -------
        tuple of (torch.Tensor, dict)
            The new iterates and the new state.
        """
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
        A name of ``BASE_OPTIMIZERS.names(batchable=True)``: ``"sgd"`` (plain,
        momentum, Nesterov), ``"adam"``, ``"rmsprop"`` (case-insensitive). A
        callable base (any ``torch.optim.Optimizer`` factory) cannot be batched.
    base_kwargs : dict, optional
        Keyword arguments as for ``torch.optim.SGD`` / ``Adam`` / ``RMSprop``:
        sgd ``momentum, dampening, nesterov, weight_decay, maximize``; adam
        ``betas, eps, weight_decay, amsgrad, maximize``; rmsprop ``alpha, eps,
        weight_decay, momentum, centered, maximize``. Default None: none.

    Returns
    -------
    FunctionalBase

    Raises
    ------
    NotBatchableError
        A callable base, a name without a batched rule, or a keyword the batched rule does not implement.
    ValueError
        A keyword value the torch optimiser refuses.
    """
    if callable(base) and not isinstance(base, str):
        raise NotBatchableError(f"base optimiser {getattr(base, '__name__', type(base).__name__)!r} is a callable; "
                                f"only {BASE_OPTIMIZERS.names(batchable=True)} are written on batched tensors. Use "
                                f"dualgan.games.run_optimizer for it")
    batchable = BASE_OPTIMIZERS.names(batchable=True)
    if not isinstance(base, str) or base.lower() not in batchable:
        raise NotBatchableError(f"base optimiser {base!r} cannot be batched; choose one of {batchable}")
    name = base.lower()
    defaults = BASE_OPTIMIZERS.entry(name).defaults
    kwargs = dict(base_kwargs or {})
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise NotBatchableError(f"base optimiser {name!r}: keyword(s) {unknown} are not implemented on batched "
                                f"tensors (known: {sorted(defaults)}); use dualgan.games.run_optimizer")
    BASE_OPTIMIZERS.get(name)([torch.zeros(1, requires_grad=True)], 0.1, **kwargs)     # torch validates the values
    return FunctionalBase(name, dict(defaults, **kwargs))
