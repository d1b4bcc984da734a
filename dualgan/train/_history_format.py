"""The file format of a :class:`~dualgan.train.History`: standard JSON with a SHA-256 digest, or a numpy archive.

Both hold the same three parts, read back as ``(meta, columns, arrays)``:
the settings (JSON scalars), the columns (flat lists of floats, one length)
and the named arrays (float64). The JSON is standard (RFC 8259, no ``NaN`` or
``Infinity`` tokens): a NaN entry is ``null``, an infinite one ``"inf"`` or
``"-inf"``, a non-finite float setting ``{"float": "inf"}``; the file carries
the SHA-256 of its canonical text (key ``sha256``), checked when read. An
``.npz`` holds the columns as ``col:<name>``, the arrays as ``arr:<name>`` and
a JSON header ``__meta__``, with no pickled objects (its zip members carry CRC-32s).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np

from .._io import atomic_write_text, atomic_write_with, json_float

#: the format tag of every saved History
FORMAT = "dualgan.History/1"

_NON_FINITE_TEXT = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_JSON_KEYS = {"format", "meta", "columns", "arrays", "sha256"}
#: the largest integer a float64 holds (a larger JSON integer, e.g. 10**400, raised OverflowError)
_MAX_INT = int(np.finfo(np.float64).max)

Parts = tuple[dict, dict, dict]  # (meta, columns: name -> list of float, arrays: name -> float64 array)


def to_plain(meta: Mapping, columns: Mapping, arrays: Mapping) -> dict:
    """The parts as plain JSON data: NaN written as None, +-inf as ``"inf"`` / ``"-inf"``."""
    return {
        "format": FORMAT,
        "meta": {k: _encode_meta(v) for k, v in meta.items()},
        "columns": {k: [json_float(v) for v in col] for k, col in columns.items()},
        "arrays": {k: {"shape": list(a.shape), "data": [json_float(v) for v in a.ravel()]}
                   for k, a in arrays.items()},
    }


def from_plain(data) -> Parts:
    """The parts of :func:`to_plain`'s output, decoded and checked (a ``ValueError`` names what is wrong)."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValueError(f"not a saved dualgan History (expected format {FORMAT!r})")
    meta = data.get("meta", {})
    if not isinstance(meta, Mapping):
        raise ValueError(f"corrupt History: its meta is {type(meta).__name__}, not a mapping")
    meta = _decode_meta_mapping(meta)
    cols = data.get("columns")
    if not isinstance(cols, Mapping):
        raise ValueError(f"corrupt History: its columns are {type(cols).__name__}, not a mapping of name to list")
    columns = {k: _decode_column(k, col) for k, col in cols.items()}
    arrays = data.get("arrays", {})
    if not isinstance(arrays, Mapping):
        raise ValueError(f"corrupt History: its arrays are {type(arrays).__name__}, not a mapping")
    decoded = {}
    for k, spec in arrays.items():
        if not isinstance(spec, Mapping) or "shape" not in spec or "data" not in spec:
            raise ValueError(f"corrupt History: array {k!r} is not a {{'shape': [...], 'data': [...]}} record")
        flat = np.array(_decode_column(f"array {k}", spec["data"]), dtype=np.float64)
        decoded[k] = flat.reshape(_check_shape(k, spec["shape"], flat.size))
    return meta, columns, decoded


def write_json(path: Path, plain: dict) -> None:
    """Write :func:`to_plain`'s data as standard JSON with the SHA-256 of its canonical text (atomically)."""
    plain = dict(plain, sha256=hashlib.sha256(_canonical_json(plain).encode("utf-8")).hexdigest())
    atomic_write_text(path, json.dumps(plain, allow_nan=False))


def read_json(path: Path):
    """The plain data of a JSON History, after its SHA-256 (when it has one: older files do not) is checked."""
    data = json.loads(path.read_bytes().decode("utf-8"))
    if not isinstance(data, dict):
        return data  # from_plain says what is wrong
    unknown = sorted(set(data) - _JSON_KEYS)
    if unknown:
        raise ValueError(f"corrupt History: unknown keys {unknown} (expected some of {sorted(_JSON_KEYS)})")
    if "sha256" not in data:
        return data
    body = {k: v for k, v in data.items() if k != "sha256"}
    if hashlib.sha256(_canonical_json(body).encode("utf-8")).hexdigest() != data["sha256"]:
        raise ValueError("corrupt History: its content does not match the SHA-256 it was saved with (changed after "
                         "it was written, e.g. a flipped bit)")
    return body


def write_npz(path: Path, meta: Mapping, columns: Mapping, arrays: Mapping) -> None:
    """Write the parts as a numpy archive (no pickled objects), atomically."""
    payload = {f"col:{k}": np.asarray(col, dtype=np.float64) for k, col in columns.items()}
    payload.update({f"arr:{k}": v for k, v in arrays.items()})
    header = {"format": FORMAT, "meta": {k: _encode_meta(v) for k, v in meta.items()}, "columns": list(columns)}
    payload["__meta__"] = np.array(json.dumps(header, allow_nan=False))

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)

    atomic_write_with(path, write)


def read_npz(path: Path) -> Parts:
    """The parts of a numpy-archive History, checked (a ``ValueError`` names what is wrong)."""
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["__meta__"]))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError("not a saved dualgan History")
        if (not isinstance(header.get("meta"), dict) or not isinstance(header.get("columns"), list)
                or not all(isinstance(k, str) for k in header["columns"])):
            raise ValueError("its header has no meta mapping or no list of column names (strings)")
        columns = {}
        for k in header["columns"]:
            col = data[f"col:{k}"]
            if col.ndim != 1 or col.dtype.kind not in "fiu":
                raise ValueError(f"column {k!r} has shape {list(col.shape)} and dtype {col.dtype}; a "
                                 f"column is a flat list of numbers (shape [rows])")
            columns[k] = col.astype(np.float64).tolist()
        arrays = {}
        for key in data.files:
            if key.startswith("arr:"):
                if data[key].dtype.kind not in "fiu":
                    raise ValueError(f"array {key[4:]!r} has dtype {data[key].dtype}, not a number type")
                arrays[key[4:]] = data[key].astype(np.float64)
    return _decode_meta_mapping(header["meta"]), columns, arrays


def _canonical_json(data) -> str:
    """The text a JSON History's digest is taken of: sorted keys, no spaces (floats are written exactly)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _encode_meta(v):
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    return v


def _decode_meta_mapping(meta: Mapping) -> dict:
    out = {}
    for key, v in meta.items():
        if isinstance(v, Mapping):
            if set(v) != {"float"} or v["float"] not in _NON_FINITE_TEXT:
                raise ValueError(f"corrupt History: meta[{key!r}] is {v!r}; a setting is a str, int, float, bool "
                                 f"or None")
            v = _NON_FINITE_TEXT[v["float"]]
        out[key] = v
    return out


def _decode_column(name: str, values) -> list[float]:
    """A column (or an array's data) read back: a flat list of numbers, None (NaN) and "inf" / "-inf" / "nan"."""
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"corrupt History: column {name!r} is {type(values).__name__}, not a flat list of numbers")
    out = []
    for row, v in enumerate(values):
        if v is None:
            out.append(math.nan)
        elif isinstance(v, str) and v in _NON_FINITE_TEXT:
            out.append(_NON_FINITE_TEXT[v])
        elif isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and abs(v) <= _MAX_INT):
            out.append(float(v))
        else:
            raise ValueError(f"corrupt History: column {name!r} holds {v!r} in row {row}; a column is a flat list of "
                             f"numbers (null for NaN, \"inf\" / \"-inf\" for infinities)")
    return out


def _check_shape(name: str, shape, size: int) -> tuple[int, ...]:
    if (not isinstance(shape, (list, tuple))
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or math.prod(shape) != size):
        raise ValueError(f"corrupt History: array {name!r} has shape {shape!r} for {size} values; a shape is a list "
                         f"of non-negative integers whose product is the number of values")
    return tuple(shape)
