"""The docstrings as the API reference reads them: griffe, the parser mkdocstrings uses, numpy style.

For every public module of the API reference (the ``::: dualgan.x`` pages
under docs/api/), every object in its ``__all__`` and every public method of
those classes:

* each parameter of the signature has a description in a parsed
  ``Parameters`` section (``name : type`` then an indented description); a
  class documents its constructor's parameters (the site merges ``__init__``
  into the class), and a dataclass record may document its fields under
  ``Attributes`` instead;
* the docstring parses without griffe warnings (a ``name: text`` line that
  griffe cannot split, a documented parameter that is not in the signature);
* every cross-reference resolves to an existing object of the package:
  reST roles (``:class:`~dualgan.x.Y```, ``:func:`name```, ``:meth:``,
  ``:attr:``, ``:mod:``, ...), which the docs build turns into links
  (docs/_hooks/rst_math.py), and Markdown ``[text][dualgan.x.Y]`` references.
  Targets in other packages (torch, numpy, scipy, ...) are not linked and not
  checked;
* every Markdown reference ``[text][dualgan.x.Y]`` (or ``[dualgan.x.Y][]``) of
  the pages under docs/ names an object the API reference renders, under the
  path it renders it (``dualgan.constraints.Projection``, not the defining
  module's ``dualgan.constraints.projection.Projection``), so that the site
  turns it into a link (``mkdocs build --strict`` fails on a reference it
  cannot resolve; tests/test_docs.py checks a rendered link).
"""
from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe", reason="griffe (installed with mkdocstrings-python) is needed to parse "
                                              "the docstrings as the docs build does")

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))
MODULES = sorted({m.group(1).split(".")[0] + "." + m.group(1).split(".")[1]
                  for page in API_PAGES for m in re.finditer(r"^:::\s*(dualgan\.\w+)", page.read_text(), re.M)})


def _hook():
    spec = importlib.util.spec_from_file_location("rst_math", ROOT / "docs" / "_hooks" / "rst_math.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


HOOK = _hook()


@pytest.fixture(scope="module")
def package():
    return griffe.load("dualgan", search_paths=[str(ROOT)], docstring_parser="numpy",
                       resolve_aliases=True, resolve_external=False)


def _target(obj):
    return obj.final_target if obj.is_alias else obj


def _export(module, name):
    """The object ``module.__all__`` names: a member, or (a lazy ``__getattr__`` export) one of a submodule.

    None when there is none, or when it is an import whose target griffe cannot find (reported as a problem).
    """
    if name in module.members:
        try:
            return _target(module.members[name])
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    for sub in module.modules.values():
        if name in sub.members and not sub.members[name].is_alias:
            return sub.members[name]
    return None


def _public_objects(package):
    """(path, object) for every object of the API reference whose docstring is checked."""
    seen = {}
    for name in MODULES:
        module = package[name.split(".", 1)[1]]
        exports = module.exports or []
        assert exports, f"{name} has no __all__: the API reference would have no public list"
        for export in exports:
            export = export if isinstance(export, str) else export.name
            obj = _export(module, export)
            if obj is None:
                seen.setdefault(f"{name}.{export}", (f"{name}.{export}", None))
                continue
            seen.setdefault(obj.path, (f"{name}.{export}", obj))
            if obj.is_class:
                for member_name, member in obj.members.items():
                    try:
                        member = _target(member)
                    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                        continue  # a base class's member imported from elsewhere: checked where it is defined
                    if member_name.startswith("_") or not member.is_function:
                        continue
                    if "property" in member.labels:
                        continue
                    seen.setdefault(member.path, (f"{name}.{export}.{member_name}", member))
    return list(seen.values())


def _signature(obj):
    """Parameter names a reader must be told about (``self``/``cls`` left out; a class's ``__init__``)."""
    if not (obj.is_class or obj.is_function):
        return []  # modules, constants: nothing to call
    func = obj
    if obj.is_class:
        init = obj.members.get("__init__")
        if init is None:
            return []
        func = _target(init)
    names = []
    for i, p in enumerate(func.parameters):
        if i == 0 and p.name in {"self", "cls"} and (obj.is_class or obj.parent is not None and obj.parent.is_class):
            continue
        names.append(p.name)
    return names


def _documented(obj, warnings):
    """Parameter name -> description from the parsed Parameters (and, for records, Attributes) sections."""
    if obj.docstring is None:
        return {}, False
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("griffe")
    logger.addHandler(handler)
    try:
        sections = griffe.parse_numpy(obj.docstring, warn_unknown_params=True, warn_missing_types=False)
    finally:
        logger.removeHandler(handler)
    params, attrs = {}, {}
    for section in sections:
        kind = section.kind.value
        if kind in {"parameters", "other parameters"}:
            params.update({p.name.lstrip("*"): p.description for p in section.value})
        elif kind == "attributes":
            attrs.update({a.name: a.description for a in section.value})
    is_record = obj.is_class and "dataclass" in obj.labels
    return ({**attrs, **params} if is_record else params), True


def _docstring_problems(package):
    problems = []
    for shown, obj in _public_objects(package):
        if obj is None:
            problems.append(f"{shown}: in __all__ but not found by griffe")
            continue
        if not (obj.is_class or obj.is_function):
            continue  # constants and modules: no parameters
        warnings: list[str] = []
        documented, has_doc = _documented(obj, warnings)
        if not has_doc:
            problems.append(f"{shown}: no docstring")
            continue
        for w in warnings:
            problems.append(f"{shown}: griffe: {w}")
        for name in _signature(obj):
            description = documented.get(name.lstrip("*"))
            if not (description and description.strip()):
                problems.append(f"{shown}: parameter {name!r} has no parsed description")
    return problems


def _references(package):
    """(object path, target as written, resolved path or None) for every cross-reference of every docstring."""
    out = []

    def visit(obj):
        if obj.is_alias:
            return
        if obj.docstring is not None:
            for role, target in HOOK.roles(obj.docstring.value):
                if HOOK.is_external(target):
                    continue
                out.append((obj.path, f":{role}:`{target}`", HOOK.resolve(obj, target)))
            for target in re.findall(r"\]\[(dualgan\.[\w.]+)\]", obj.docstring.value):
                out.append((obj.path, f"[...][{target}]", HOOK.resolve(obj, target)))
        for member in obj.members.values():
            visit(member)

    visit(package)
    return out


def test_api_modules_found():
    # every public subpackage and module of the library has a page of the API reference
    import pkgutil

    import dualgan

    public = {f"dualgan.{m.name}" for m in pkgutil.iter_modules(dualgan.__path__) if not m.name.startswith("_")}
    assert public - {"dualgan.cli"} <= set(MODULES), sorted(public - set(MODULES))


def test_every_public_parameter_has_a_parsed_description(package):
    problems = [p for p in _docstring_problems(package) if p.startswith(tuple(m + "." for m in MODULES))]
    assert not problems, f"{len(problems)} docstring problems:\n" + "\n".join(problems)


def test_every_cross_reference_resolves(package):
    refs = _references(package)
    assert len(refs) > 50, f"expected the docstrings' cross-references, found {len(refs)}"
    unresolved = [f"{path}: {written}" for path, written, resolved in refs if resolved is None]
    assert not unresolved, f"{len(unresolved)} cross-references do not resolve:\n" + "\n".join(unresolved)


_MD_REF = re.compile(r"\]\[(dualgan(?:\.\w+)+)\]|\[`?(dualgan(?:\.\w+)+)`?\]\[\]")
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def _page_references():
    """(page:line, target) of every Markdown cross-reference to the package in the documentation pages."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in _MD_REF.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{page.relative_to(ROOT)}:{line}", m.group(1) or m.group(2)))
    return out


def test_markdown_page_references_name_rendered_objects(package):
    refs = _page_references()
    assert len(refs) >= 5, f"expected the pages' links into the API reference, found {refs}"
    shown = HOOK.public_paths(package)
    rendered = set(shown.values())
    problems = []
    for where, target in refs:
        if target in rendered:
            continue
        found = HOOK.resolve(package, target)
        hint = (f"; the reference renders it as {shown[found]}" if found in shown else
                "; it is not shown in the API reference" if found else "; no such object")
        problems.append(f"{where}: [{target}]{hint}")
    assert not problems, f"{len(problems)} page references would not become links:\n" + "\n".join(problems)
