"""The examples of the pages this package documents (docs/trust_region.md, docs/constraints.md and the README's
constraints block) are honest: a block skipped as illustrative lacks exactly the names its skip reason lists (every
other name it uses is imported or assigned in the block, e.g. ``dualgan`` and ``DualLinearGAN``), and its imports
run. The executed blocks themselves run in tests/test_docs.py."""
from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*skip-test:\s*(.*?)\s*-->")
PAGES = {"docs/trust_region.md": None, "docs/constraints.md": None, "README.md": "dualgan.constraints import"}


def _skipped_blocks():
    out = []
    for name, must_contain in PAGES.items():
        text = (ROOT / name).read_text()
        for m in _FENCE.finditer(text):
            if must_contain is not None and must_contain not in m.group(1):
                continue
            previous = [ln for ln in text[: m.start()].splitlines() if ln.strip()][-1:] or [""]
            skip = _SKIP.fullmatch(previous[0].strip())
            if skip:
                line = text.count("\n", 0, m.start()) + 1
                out.append(pytest.param(skip.group(1), m.group(1), id=f"{name}:{line}"))
    return out


def free_names(code: str) -> set[str]:
    """Names a flat snippet reads but never binds (imports, assignments, loop targets, definitions), builtins aside."""
    tree = ast.parse(code)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound - set(dir(builtins))


def listed_names(reason: str) -> set[str]:
    """The names of "illustrative only (a, b and c are not defined here ...)"."""
    m = re.search(r"\(([^()]*?)\s+(?:is|are) not defined here", reason)
    assert m, f"skip reason {reason!r} does not list the names the block lacks ('(x and y are not defined here)')"
    return set(re.findall(r"[A-Za-z_]\w*", m.group(1).replace(" and ", ", "))) - {"and"}


def test_free_name_detector():
    """The check below can fail: it finds an unimported module and ignores bound names."""
    assert free_names("import torch\nx = dualgan.data.ring(8)\nfor i in range(3):\n    y = x + i\n") == {"dualgan"}
    assert free_names("from m import f\ngan = DualLinearGAN(f, A)\n") == {"DualLinearGAN", "A"}
    assert listed_names("illustrative only (A, b, generator and features are not defined here)") == \
        {"A", "b", "generator", "features"}


BLOCKS = _skipped_blocks()


def test_the_pages_have_skipped_blocks():
    assert len(BLOCKS) >= 3, [p.id for p in BLOCKS]


@pytest.mark.parametrize("reason, code", BLOCKS)
def test_skipped_block_lacks_only_the_listed_names(reason, code):
    assert free_names(code) == listed_names(reason)


@pytest.mark.parametrize("reason, code", BLOCKS)
def test_skipped_block_imports_run(reason, code):
    tree = ast.parse(code)
    imports = ast.Module([n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    exec(compile(imports, "<imports>", "exec"), {})
