"""The documentation: every ```python block of docs/*.md and README.md runs, and the site builds with --strict.

A block that is illustrative only (undefined names such as ``A, b``, or a
run of minutes) is preceded by ``<!-- skip-test: reason -->`` on the line just
above its opening fence; it is reported as skipped with that reason. Each
block runs in a fresh namespace, in a temporary working directory.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*skip-test:\s*(.*?)\s*-->")


def _blocks():
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in _FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            previous = [ln for ln in text[: m.start()].splitlines() if ln.strip()][-1:] or [""]
            skip = _SKIP.fullmatch(previous[0].strip())
            out.append(pytest.param(page, line, m.group(1), skip.group(1) if skip else None,
                                    id=f"{page.relative_to(ROOT)}:{line}"))
    return out


BLOCKS = _blocks()


def test_docs_have_python_examples():
    assert len(BLOCKS) >= 5, f"expected the pages' Python examples, found {len(BLOCKS)} blocks"


@pytest.mark.parametrize("page, line, code, skip_reason", BLOCKS)
def test_python_block_runs(page, line, code, skip_reason, tmp_path, monkeypatch):
    if skip_reason is not None:
        if not skip_reason:
            pytest.fail(f"{page.name}:{line}: a skip-test marker needs a reason: <!-- skip-test: why -->")
        pytest.skip(f"{page.name}:{line}: {skip_reason}")
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_block_{page.stem}_{line}"}
    exec(compile(code, f"{page}:{line}", "exec"), namespace)


def test_skip_markers_precede_python_blocks():
    """A marker that does not sit right above a ```python fence would silently skip nothing."""
    for page in PAGES:
        lines = page.read_text().splitlines()
        for i, ln in enumerate(lines):
            if _SKIP.search(ln):
                following = [x for x in lines[i + 1:] if x.strip()][:1]
                assert following and following[0].startswith("```python"), \
                    f"{page.name}:{i + 1}: skip-test marker is not followed by a ```python block"


_HAS_MKDOCS = all(importlib.util.find_spec(m) is not None for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers"))


@pytest.mark.skipif(not _HAS_MKDOCS, reason="mkdocs and mkdocstrings-python are not installed "
                                            "(pip install mkdocs mkdocstrings-python); the site build is not checked")
def test_site_builds_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    for page in ["index.html", "sweeps/index.html", "api/duals/index.html", "api/sweep/index.html"]:
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "api" / "duals" / "index.html").read_text()
    assert "dualgan.duals.solve" in api and "dualgan.duals.LinearDual" in api  # generated from docstrings
    for html in (tmp_path / "site" / "api").glob("*/index.html"):  # docstring math is typeset, not verbatim reST
        text = html.read_text()
        assert ".. math::" not in text and ":math:`" not in text, html
    assert 'class="arithmatex"' in api
    # Markdown references [text][dualgan.x.Y] of the pages became links to the object's anchor
    index = (tmp_path / "site" / "index.html").read_text()
    assert re.search(r'href="api/constraints/#dualgan\.constraints\.Projection"', index), \
        "the home page's reference to dualgan.constraints.Projection is not a link"


def test_api_reference_converts_rest_math():
    """The griffe extension of the docs build turns reST math into arithmatex input (and nothing else)."""
    spec = importlib.util.spec_from_file_location("rst_math", ROOT / "docs" / "_hooks" / "rst_math.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = ("Solve :math:`\\max_x f(x)` here.\n\n    .. math::\n\n        a = b\n\n        c = d\n\n"
            "    after the block, ``code`` stays.")
    assert mod.convert(text) == ("Solve $\\max_x f(x)$ here.\n\n    $$\n    a = b\n    c = d\n    $$\n\n"
                                 "    after the block, ``code`` stays.")
    assert mod.convert("no math") == "no math"


_REMOVED_SPEC = "SPEC" + ".md"   # built so that this file does not name it literally


def _project_files():
    """Tracked files plus untracked ones git does not ignore (a plain walk outside a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
        return [ROOT / p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "site", "__pycache__", "node_modules"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)]


def test_no_file_cites_the_old_spec_file():
    """The math lives on docs/theory.md; nothing may cite a specification file the project does not ship."""
    offenders = []
    for path in _project_files():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, archives)
        for number, line in enumerate(text.splitlines(), 1):
            if _REMOVED_SPEC.lower() in line.lower():
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, ("cite the equation numbers of docs/theory.md instead of " + _REMOVED_SPEC + ":\n"
                           + "\n".join(offenders))


def test_theory_page_numbers_its_equations():
    """Docstrings and pages cite eq. (s.k) of the theory page: every cited number must exist there."""
    theory = (ROOT / "docs" / "theory.md").read_text()
    defined = set(re.findall(r"\\tag\{(\d+\.\d+)\}", theory))
    assert {f"{s}.1" for s in range(1, 7)} <= defined, sorted(defined)
    cited = re.compile(r"(?:eqs?\.|equations?)\s*((?:\(\d+\.\d+\)(?:\s*(?:-|,|and|to)\s*)?)+)", re.I)
    missing = []
    for path in _project_files():
        if path.suffix not in {".py", ".md"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for m in cited.finditer(text):
            for number in re.findall(r"\((\d+\.\d+)\)", m.group(1)):
                if number not in defined:
                    missing.append(f"{path.relative_to(ROOT)}: ({number})")
    assert not missing, "cited equations that docs/theory.md does not define:\n" + "\n".join(missing)


# Formulas are typeset ($...$, $$...$$ for the vendored MathJax), not written as ASCII or Unicode art in code.
# A formula token: a norm bar pair, a caret power or transpose (x^2, A^T, e^{...}), sqrt( exp( sum_ argmin,
# an arrow <-, or a Unicode math sign. Python's own operators (**, x ^ y with spaces) are not tokens.
_MATH_TOKEN = re.compile(r"\|\||\w\^[\w{(]|\bsqrt\(|\bexp\(|\bsum_\w|\bargmin|<-|[‖∑Σ∏≤≥ᵀ⁻²³½∘←∇]")
_CODE_LANGS = {"python", "bash", "sh", "console", "toml", "json", "yaml", "ini"}
_ANY_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def _ascii_math(text: str) -> list[tuple[int, str]]:
    """(line, snippet) of every formula written as code: in a fenced block that is not a program or a
    configuration (no language, ``text``, ``math``, ...), in an indented code block, or in an inline code span.
    Blocks of a programming or configuration language and ``$...$`` math are left alone."""
    found = []
    blanked = text
    for m in _ANY_FENCE.finditer(text):
        lang = m.group(1).strip().split()[0].lower() if m.group(1).strip() else ""
        if lang not in _CODE_LANGS and _MATH_TOKEN.search(m.group(2)):
            found.append((text.count("\n", 0, m.start()) + 1, m.group(2).strip().splitlines()[0][:80]))
        blanked = blanked[:m.start()] + "\n" * m.group(0).count("\n") + blanked[m.end():]
    lines = blanked.split("\n")
    in_indented, previous_text = False, ""
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith("    ") and (in_indented or not lines[i - 2].strip()) and not previous_text.lstrip().startswith(
                ("* ", "- ", "1.", "|")) and not previous_text.startswith(" "):
            in_indented = True
            if _MATH_TOKEN.search(line):
                found.append((i, line.strip()[:80]))
            continue
        in_indented, previous_text = False, line
        for code in _INLINE_CODE.findall(re.sub(r"\$[^$\n]*\$", "", line)):
            if _MATH_TOKEN.search(code):
                found.append((i, f"`{code}`"))
    return found


def test_ascii_math_detector():
    """The check below finds formulas written as code and nothing else (it must be able to fail)."""
    assert _ascii_math("```\nphi_j(x) = exp(-||x - c_j||^2 / (2 sigma^2))\n```\n")
    assert _ascii_math("text\n\n    min_w 1/2 ||w||^2 + C sum_i l(y_i w^T x_i)\n\nmore\n")
    assert _ascii_math("the bound `sqrt(2 gap / C) >= ||w - w*||` holds\n")
    assert _ascii_math("the form `∏_k r_k²`\n")
    assert not _ascii_math("```python\ny = x ** 2 ^ mask\nprint(a or b)\n```\n")
    assert not _ascii_math("```bash\nls || true\n```\n")
    assert not _ascii_math("typeset $\\|w\\|^2 \\le C$ and `max_radius = 10`, `RBF(anchors, sigma=0.2)`\n")
    assert not _ascii_math("* a list item\n\n    continued with `code`\n")


def test_formulas_are_typeset_not_written_as_code():
    offenders = [f"{page.relative_to(ROOT)}:{line}: {snippet}"
                 for page in PAGES for line, snippet in _ascii_math(page.read_text())]
    assert not offenders, ("formulas written as code; typeset them as $...$ or $$...$$ (see docs/theory.md):\n"
                           + "\n".join(offenders))
