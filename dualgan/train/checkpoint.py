"""The trainers' checkpoint format: the file (a SHA-256 header, then a torch archive), its settings text, its state checks.

* :func:`write_checkpoint` / :func:`read_checkpoint`: the one file format of
  every checkpoint of the library (trainers, game runs, feature classifiers),
  written atomically and refused when damaged;
* :func:`settings_string`: the canonical JSON text of an object's settings,
  which a checkpoint must match to be restored;
* the checks of a saved module or optimiser state against the live one, used
  by every trainer's ``load_checkpoint`` before anything changes.

What a checkpoint holds (a header, then the collection of its parts' states)
is :class:`~dualgan.train.loop.Loop`'s: the same for trainers and game runs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import numbers
import re
import warnings
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .._io import atomic_path, clean_stale_temporaries

__all__ = ["CheckpointError", "read_checkpoint", "write_checkpoint", "settings_string"]


#: the first line of a checkpoint file; the second is ``sha256 <hex digest> <length>`` of the torch archive after it
_FILE_MAGIC = b"dualgan checkpoint 2\n"
_HASH_LINE = re.compile(rb"sha256 ([0-9a-f]{64}) ([0-9]{1,15})\n")
#: torch optimisers whose per-parameter state tensors have the parameter's shape (LBFGS, Adafactor do not)
_ELEMENTWISE_OPTIMIZERS = tuple(getattr(torch.optim, n) for n in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SGD",
                                                                  "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD")
                                if hasattr(torch.optim, n))


class CheckpointError(ValueError):
    """A checkpoint file that cannot be restored; the message names the file, what is wrong and what to do."""

# ---------------------------------------------------------------------- settings
def settings_string(obj) -> str:
    """A canonical JSON text of an object's settings, for a checkpoint's settings check.

    Numbers, strings and None are themselves; sequences and mappings are
    converted entry by entry; a torch optimiser is its class and its
    hyperparameters (every ``param_groups`` entry but ``params``); a
    ``torch.Generator`` is its initial seed; a tensor its values (or, above
    64 entries, a SHA-256 of its bytes); any other object its class and its
    public attributes (a dataclass: its fields). Two objects with equal
    settings strings steer a trainer alike.

    Parameters
    ----------
    obj : object
        The setting (an optimiser, a radius policy, a regulariser, a dict of options, ...).

    Returns
    -------
    str
        ``json.dumps`` of the converted object with sorted keys.
    """
    return json.dumps(_settings_of(obj, 0), sort_keys=True)


def _settings_of(obj, depth: int):
    if depth > 8:
        return repr(obj)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        v = float(obj)
        return v if math.isfinite(v) else repr(v)  # JSON has no inf or NaN
    if isinstance(obj, (list, tuple)):
        return [_settings_of(o, depth + 1) for o in obj]
    if isinstance(obj, Mapping):
        return {str(k): _settings_of(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, torch.Generator):
        return f"torch.Generator(initial_seed={obj.initial_seed()})"
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        if t.numel() <= 64:
            return {"tensor": _settings_of(t.tolist(), depth + 1), "dtype": str(t.dtype)}
        return {"tensor_sha256": hashlib.sha256(t.view(torch.uint8).numpy().tobytes()).hexdigest(),
                "shape": list(t.shape), "dtype": str(t.dtype)}
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if isinstance(obj, torch.optim.Optimizer):
        groups = [{k: v for k, v in g.items() if k != "params"} for g in obj.param_groups]
        return {"class": name, "param_groups": _settings_of(groups, depth + 1)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif hasattr(obj, "__dict__"):
        fields = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    else:
        return repr(obj)
    return {"class": name, **{k: _settings_of(v, depth + 1) for k, v in fields.items()}}


# ---------------------------------------------------------------------- checkpoints
def _check_module_state(name: str, module: nn.Module, saved) -> None:
    own = module.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(own):
        got = sorted(saved)[:6] if isinstance(saved, dict) else type(saved).__name__
        raise CheckpointError(f"its {name} has other parameters ({got}...) than this one ({sorted(own)[:6]}...); "
                              f"construct the trainer with the checkpoint's {name} architecture")
    for k, v in own.items():
        s = saved[k]
        if not isinstance(s, torch.Tensor) or s.shape != v.shape or s.dtype != v.dtype:
            raise CheckpointError(f"{name} parameter {k!r} is {getattr(s, 'shape', s)} ({getattr(s, 'dtype', '')}) "
                                  f"in the checkpoint but {tuple(v.shape)} ({v.dtype}) here; construct the trainer "
                                  f"with the checkpoint's {name} architecture")


def _check_optimizer_state(name: str, optimizer, saved) -> None:
    if optimizer is None:
        if saved is not None:
            raise CheckpointError(f"it holds a {name} state but this trainer has none")
        return
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    own = optimizer.state_dict()
    own_groups = own["param_groups"]
    if (not isinstance(groups, list) or len(groups) != len(own_groups)
            or any(not isinstance(g, dict) or not isinstance(g.get("params"), list)
                   or len(g["params"]) != len(o["params"]) for g, o in zip(groups, own_groups))):
        raise CheckpointError(f"its {name} state does not match this trainer's {type(optimizer).__name__} over "
                              f"{sum(len(o['params']) for o in own_groups)} tensors")
    _check_optimizer_tensors(name, optimizer, own, groups, saved.get("state"))


def _check_optimizer_tensors(name: str, optimizer, own: dict, groups: list, state) -> None:
    """Every per-parameter state tensor has the shape torch will use it with (else ``fit`` fails in torch)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"its {name} state has no per-parameter 'state' dict (got {type(state).__name__})")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    saved_ids = [i for g in groups for i in g["params"]]
    position = {i: k for k, i in enumerate(saved_ids)}
    own_ids = [i for g in own["param_groups"] for i in g["params"]]
    elementwise = isinstance(optimizer, _ELEMENTWISE_OPTIMIZERS)
    for key, entry in state.items():
        if key not in position:
            raise CheckpointError(f"its {name} state holds an entry for parameter {key!r}, which none of its "
                                  f"parameter groups lists; the file is inconsistent: use an earlier copy")
        if not isinstance(entry, dict):
            raise CheckpointError(f"its {name} state of parameter {position[key]} is {type(entry).__name__}, not a dict")
        k = position[key]
        param = params[k]
        own_entry = own["state"].get(own_ids[k], {})
        for field, value in entry.items():
            if not isinstance(value, torch.Tensor) or value.ndim == 0:
                continue
            if elementwise:
                expected = tuple(param.shape)
            elif isinstance(own_entry.get(field), torch.Tensor):
                expected = tuple(own_entry[field].shape)
            else:
                continue
            if tuple(value.shape) != expected:
                raise CheckpointError(f"its {name} state {field!r} of parameter {k} has shape {tuple(value.shape)}, "
                                      f"but this {type(optimizer).__name__} needs {expected} (the parameter is "
                                      f"{tuple(param.shape)}); the file is inconsistent: use an earlier copy")


def write_checkpoint(path, payload) -> Path:
    """Write ``payload`` as a checkpoint file: a header with the SHA-256 of its content, then a torch archive.

    The file is ``dualgan checkpoint 2``, a line ``sha256 <hex digest>
    <length>``, then the bytes of ``torch.save(payload)``; it is written
    atomically (a temporary file, then a rename). :func:`read_checkpoint`
    checks the digest and the length before anything is unpickled, so any
    change of the file after it was written (a flipped bit, a zeroed block,
    a truncation) is refused instead of loaded.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    payload : dict
        Tensors, numbers, strings and containers only (what
        ``torch.load(weights_only=True)`` reads back).

    Returns
    -------
    pathlib.Path
        ``Path(path)``.

    Raises
    ------
    OSError
        If the file cannot be written (a full disk, a read-only folder); the
        message names ``path``, which keeps its previous content.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)  # in memory: a full disk is an OSError of the write below, not a torch error
    body = buffer.getbuffer()
    header = _FILE_MAGIC + f"sha256 {hashlib.sha256(body).hexdigest()} {len(body)}\n".encode("ascii")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(body)
    return Path(path)


def read_checkpoint(path, device=None):
    """Read a checkpoint file: check its SHA-256, then ``torch.load(weights_only=True)``; every failure a :class:`CheckpointError`.

    A file of :func:`write_checkpoint` is refused when its content does not
    match the digest in its header (a flipped bit, a zeroed block, a
    truncation), before anything is unpickled. A bare torch archive (written
    before checkpoints carried a digest) is read with a warning that damage
    to it cannot be detected. Stale temporaries of killed saves of ``path``
    are removed (:func:`dualgan._io.clean_stale_temporaries`).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    device : torch.device or str, optional
        Where tensors are mapped. Default None: where they were saved.

    Returns
    -------
    object
        The saved payload (tensors, numbers, strings and containers only).

    Raises
    ------
    CheckpointError
        If the file does not exist, is empty, truncated or corrupt (its
        content does not match its SHA-256), or holds objects other than
        tensors and plain data (refused: loading them could run code).
    """
    import pickle
    import zipfile

    where = str(path)
    p = Path(path)
    clean_stale_temporaries(p)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {where!r} does not exist (or is not a file); check the path")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {where!r} cannot be read ({exc}); check its permissions") from exc
    if not data:
        raise CheckpointError(f"checkpoint {where!r} is empty (0 bytes), e.g. from a process killed while writing "
                              f"it with an older version; use an earlier copy or train from the start")
    body = _verified_body(data, where)
    try:
        # weights_only=True: tensors, numbers, strings and containers only; never arbitrary objects
        return torch.load(io.BytesIO(body), map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"checkpoint {where!r} holds objects other than tensors and plain data, or is not a "
                              f"checkpoint at all; it is refused (loading it could run arbitrary code): use a "
                              f"checkpoint written by save_checkpoint") from exc
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError, IndexError,
            AttributeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {where!r} cannot be read ({type(exc).__name__}: {exc}); it is "
                              f"truncated or corrupt: use an earlier copy or train from the start") from exc


def _verified_body(data: bytes, where: str):
    """The torch archive of a checkpoint file, after its length and SHA-256 are checked against its header."""
    if not data.startswith(_FILE_MAGIC):
        if data.startswith(b"PK\x03\x04"):  # a bare torch archive: a checkpoint of an older version
            warnings.warn(f"checkpoint {where!r} has no content digest (written by an older version of dualgan), so "
                          f"damage to it cannot be detected; save it again to add one", UserWarning, stacklevel=4)
            return data
        raise CheckpointError(f"checkpoint {where!r} is not a checkpoint written by dualgan (it does not start with the "
                              f"line {_FILE_MAGIC.decode().strip()!r}), or it is corrupt there; use a file written "
                              f"by save_checkpoint, or an earlier copy")
    end = data.find(b"\n", len(_FILE_MAGIC), len(_FILE_MAGIC) + 100)
    match = _HASH_LINE.fullmatch(data, len(_FILE_MAGIC), end + 1) if end >= 0 else None
    if match is None:
        raise CheckpointError(f"checkpoint {where!r} is truncated or corrupt: its digest line is damaged; use an "
                              f"earlier copy or train from the start")
    body = memoryview(data)[end + 1:]
    if len(body) != int(match.group(2)):
        raise CheckpointError(f"checkpoint {where!r} is truncated or corrupt: it holds {len(body)} bytes after its "
                              f"header, which says {int(match.group(2))}; use an earlier copy or train from the start")
    if hashlib.sha256(body).hexdigest() != match.group(1).decode("ascii"):
        raise CheckpointError(f"checkpoint {where!r} is truncated or corrupt: its content does not match the SHA-256 "
                              f"in its header (changed after it was written, e.g. a flipped bit or a damaged block); "
                              f"nothing was loaded: use an earlier copy or train from the start")
    return body
