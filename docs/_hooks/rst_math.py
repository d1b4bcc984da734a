"""Griffe extension for the API reference: reST math and cross-reference roles -> Markdown.

The library's docstrings write math as reST (``:math:`x``` and ``.. math::``
blocks) and name other objects with reST roles (``:class:`~dualgan.x.Y```,
``:func:`solve```, ``:meth:`Game.vjp```), which read well in ``help()`` and in
the source. mkdocstrings renders Markdown, where those would show up verbatim;
this extension rewrites

* math into ``$x$`` and ``$$ ... $$`` blocks, which ``pymdownx.arithmatex``
  (generic mode) turns into ``\\( \\)`` / ``\\[ \\]`` for MathJax;
* roles into autorefs links ``[`Y`][dualgan.x.Y]`` to the object's anchor in
  the API reference, the target resolved in the scope of the docstring's
  object (its members, its parents', its module's imports). A target that
  exists but is not shown in the reference (a private helper module) becomes
  plain code; targets in other packages (torch, numpy, ...) too.

``tests/test_docstrings.py`` uses :func:`roles`, :func:`is_external` and
:func:`resolve` to check that every reference resolves. Docstrings in the
package itself are left untouched.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

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


API_MODULES = frozenset(m.group(1) for page in (Path(__file__).resolve().parents[1] / "api").glob("*.md")
                        for m in re.finditer(r"^:::\s*(dualgan\.\w+)\s*$", page.read_text(), re.M))
_XREF = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|exc|obj|const):`([^`]+)`")
EXTERNAL = frozenset({"torch", "numpy", "np", "scipy", "sklearn", "casadi", "cyipopt", "ray", "matplotlib",
                      "numba", "math", "json", "typing", "collections", "dataclasses", "pathlib", "functools",
                      "concurrent", "multiprocessing", "logging", "os", "sys", "warnings", "enum", "abc"})


def _split(written: str) -> tuple[str, str]:
    """(display text, target path) of a role's content: ``~a.b.C`` -> (``C``, ``a.b.C``); ``title <a.b>``."""
    m = re.fullmatch(r"\s*(.*?)\s*<([^>]+)>\s*", written)
    if m:
        return m.group(1), m.group(2).strip().lstrip("~.").removesuffix("()")
    target = written.strip()
    short = target.startswith("~")
    target = target.lstrip("~.").removesuffix("()")
    return (target.rsplit(".", 1)[-1] if short else target), target


def roles(text: str) -> list[tuple[str, str]]:
    """(role, target) of every cross-reference role of a docstring (``:math:`` is not one)."""
    return [(m.group(1), _split(m.group(2))[1]) for m in _XREF.finditer(text)]


def is_external(target: str) -> bool:
    """Whether a role names an object of another package (not linked, not checked): the third-party
    packages of :data:`EXTERNAL` and every module of the standard library."""
    head = target.lstrip("~.").split(".", 1)[0]
    return head in EXTERNAL or head in sys.stdlib_module_names


def _lookup(root, path: str):
    """The object at an absolute dotted path below the package ``root``, or None."""
    parts = path.split(".")
    if parts[0] != root.name:
        return None
    obj = root
    for part in parts[1:]:
        try:
            obj = obj.final_target if obj.is_alias else obj
            obj = obj.members[part]
        except (KeyError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    try:
        return obj.final_target if obj.is_alias else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def resolve(obj, target: str) -> str | None:
    """Absolute path of the object ``target`` names in the scope of ``obj``, or None if there is none."""
    target = target.lstrip("~.").removesuffix("()")
    root = obj.package
    if target.split(".", 1)[0] == root.name:
        found = _lookup(root, target)
        return found.path if found is not None else None
    head, _, rest = target.partition(".")
    scope = obj
    while scope is not None:  # members of the object, then of each parent (a method names its siblings)
        if head in scope.members:
            found = _lookup(root, f"{scope.path}.{target}")
            if found is not None:
                return found.path
        scope = scope.parent
    try:
        start = obj.resolve(head)  # the module's imports
    except Exception:  # griffe.NameResolutionError and friends
        return None
    found = _lookup(root, start + ("." + rest if rest else ""))
    return found.path if found is not None else None


def public_paths(root) -> dict[str, str]:
    """Canonical path -> path shown in the API reference, for every object the reference renders.

    The reference renders each module of the pages under docs/api/ (``::: dualgan.x``) with the
    objects of its ``__all__`` and their public members that have a docstring (mkdocstrings leaves
    out members without one).
    """
    shown: dict[str, str] = {}
    for sub_name, sub in root.members.items():
        if sub.path not in API_MODULES or sub.is_alias or not sub.is_module:
            continue
        shown.setdefault(sub.path, sub.path)
        for export in sub.exports or []:
            name = export if isinstance(export, str) else export.name
            try:
                member = sub.members[name]
                target = member.final_target if member.is_alias else member
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            if target.docstring is None:
                continue
            shown.setdefault(target.path, f"{sub.path}.{name}")
            for child_name, child in target.members.items():
                if not child_name.startswith("_") and not child.is_alias and child.docstring is not None:
                    shown.setdefault(child.path, f"{sub.path}.{name}.{child_name}")
    return shown


def link_roles(text: str, obj, shown: dict[str, str]) -> str:
    """Rewrite the cross-reference roles of one docstring as autorefs links (or code when not shown)."""
    def replace(m):
        display, target = _split(m.group(2))
        if not is_external(target):
            path = resolve(obj, target)
            if path is not None and path in shown:
                return f"[`{display}`][{shown[path]}]"
        return f"`{display}`"
    return _XREF.sub(replace, text)


class RstMath(griffe.Extension):
    """Convert each object's math when griffe loads it, and its cross-references once the package is loaded."""

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)

    def on_package(self, *, pkg, **kwargs) -> None:  # noqa: D102
        shown = public_paths(pkg)

        def visit(obj):
            if obj.is_alias:
                return
            if obj.docstring is not None:
                obj.docstring.value = link_roles(obj.docstring.value, obj, shown)
            for member in list(obj.members.values()):
                visit(member)

        visit(pkg)
