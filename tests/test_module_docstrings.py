"""The module docstrings that open the API pages render as prose plus an Examples section.

mkdocstrings (numpy style) renders a ``>>>`` line outside an ``Examples``
section as a Markdown quotation, and ``>>> # text`` as a heading inside it;
every API module keeps its doctest lines in its Examples section, and those
examples run.
"""
import doctest
import importlib
import importlib.util
import pathlib
import re

import pytest

griffe = pytest.importorskip("griffe", reason="griffe parses the docstrings as the API pages do (extra 'dev')")

def _is_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:   # a function or class path: its parent is a module, not a package
        return False


ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = sorted({m for page in (ROOT / "docs" / "api").glob("*.md")
                  for m in re.findall(r"^::: (dualgan[\w.]*)", page.read_text(), flags=re.M)
                  if _is_module(m)})   # the pages' modules (not single objects)


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_has_no_doctest_lines_outside_examples(name):
    module = importlib.import_module(name)
    sections = griffe.Docstring(module.__doc__ or "").parse("numpy")
    for section in sections:
        if section.kind.value == "text":
            bad = [line for line in str(section.value).splitlines()
                   if line.startswith((">>>", "... ")) or line.startswith("#")]
            assert not bad, f"{name}: {bad[:2]} would render as a quotation/heading; move them under 'Examples'"


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples_run(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(module, name) if t.examples]
    for test in tests:
        result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=lambda s: None)
        assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
