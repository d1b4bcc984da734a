"""Griffe extension for the API reference: reST math in docstrings -> arithmatex math.

The library's docstrings write math as reST (``:math:`x``` and ``.. math::``
blocks), which reads well in ``help()`` and in the source. mkdocstrings renders
Markdown, where those directives would show up verbatim; this extension
rewrites them into ``$x$`` and ``$$ ... $$`` blocks, which
``pymdownx.arithmatex`` (generic mode) turns into ``\\( \\)`` / ``\\[ \\]`` for
MathJax. Docstrings in the package itself are left untouched.
"""
from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":math:`([^`]+)`")
_BLOCK = re.compile(r"^(\s*)\.\. math::\s*(.*)$")


def convert(text: str) -> str:
    """Rewrite reST math roles and blocks of a docstring as dollar-delimited math."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _BLOCK.match(lines[i])
        if m is None:
            out.append(_ROLE.sub(lambda r: "$" + r.group(1).strip() + "$", lines[i]))
            i += 1
            continue
        indent, first = m.group(1), m.group(2).strip()
        body = [first] if first else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        body = [b for b in body if b]
        out += [indent + "$$", *(indent + b for b in body), indent + "$$", ""]
    return "\n".join(out)


class RstMath(griffe.Extension):
    """Convert each object's docstring when griffe loads it."""

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
