"""The built documentation site, looked at in a headless browser with no network access.

The site is built with ``mkdocs build --strict`` into a temporary directory
and served from ``http.server`` on 127.0.0.1. One headless Chromium process
opens a driver page (added by this test's server, not part of the site) that
loads every page of the site in turn in an iframe, waits for MathJax to
finish, and records per page

* how many math elements (``.arithmatex``, produced by pymdownx.arithmatex
  from ``$...$`` / ``$$...$$`` and from the docstrings' reST math) there are,
  and which of them hold no typeset ``mjx-container``;
* MathJax errors (``mjx-merror``: unknown macros, bad TeX);
* TeX left as raw text outside code (``\\(``, ``\\[``, ``$$``, ``:math:``);
* every ``<img>`` and its ``naturalWidth`` (0 = the image did not load);
* every resource the page fetched (``performance`` entries).

Chromium runs with every host name resolving to nothing except 127.0.0.1,
and the test also asserts that no page references an external script,
stylesheet, image or frame, that every fetched resource came from the local
server, and that the server answered no request with 404 (a missing vendored
file, e.g. a MathJax extension loaded on demand, would show up there).

Without Chromium (Debian's ``chromium``, installed by ``.ci/run``) the test is
skipped with the reason; with ``CI=true`` in the environment it fails instead.
"""
from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DRIVER = "/__dualgan_site_check__.html"
RESULTS = "/__dualgan_site_check_results__"
BROWSER_TIMEOUT_S = 120
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` outside CI; fail in CI, where the docs site must be checked."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    _require(False, "no headless Chromium found (apt-get install -y chromium); the built docs site is not "
                    "checked in a browser")
    raise AssertionError("unreachable")


_DRIVER_JS = r"""
const results = {};
function textOutsideCode(doc) {
  const clone = doc.body.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, mjx-container, .arithmatex").forEach(e => e.remove());
  return clone.textContent;
}
async function checkPage(url) {
  const frame = document.createElement("iframe");
  frame.style.width = "1200px"; frame.style.height = "900px";
  const loaded = new Promise(resolve => { frame.onload = resolve; });
  frame.src = url;
  document.body.appendChild(frame);
  await loaded;
  const w = frame.contentWindow, d = frame.contentDocument;
  const mathjax = !!(w.MathJax && w.MathJax.startup && w.MathJax.startup.promise);
  if (mathjax) { await w.MathJax.startup.promise; }
  await Promise.all([...d.images].map(img => img.complete ? null :
    new Promise(resolve => { img.onload = resolve; img.onerror = resolve; })));
  const math = [...d.querySelectorAll(".arithmatex")];
  const text = textOutsideCode(d);
  const raw = ["\\(", "\\[", "$$", ":math:`", ".. math::"].filter(t => text.includes(t));
  results[url] = {
    mathjax: mathjax,
    math: math.length,
    typeset: d.querySelectorAll("mjx-container").length,
    untypeset: math.filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.trim().slice(0, 120)),
    errors: [...d.querySelectorAll("mjx-merror")].map(e => (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 120)),
    raw: raw,
    images: [...d.images].map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth})),
    resources: w.performance.getEntriesByType("resource").map(e => e.name),
  };
  frame.remove();
}
(async () => {
  for (const url of PAGES) {
    try { await checkPage(url); } catch (err) { results[url] = {error: String(err)}; }
  }
  await fetch(RESULTS, {method: "POST", body: JSON.stringify(results)});
})();
"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site, the driver page, and records every request's path and status."""

    pages: list[str] = []
    log: list[tuple[str, int]] = []
    results: dict = {}
    done: threading.Event

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == DRIVER:
            body = ("<!doctype html><html><body><script>const PAGES = " + json.dumps(self.pages) + ";\n"
                    + f"const RESULTS = {json.dumps(RESULTS)};\n" + _DRIVER_JS + "</script></body></html>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def do_POST(self):  # noqa: N802 - the driver page reports its results here
        if self.path != RESULTS:
            self.send_error(404)
            return
        self.results.update(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()
        self.done.set()

    def log_request(self, code="-", size="-"):
        self.log.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    have_mkdocs = all(importlib.util.find_spec(m) is not None for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers"))
    _require(have_mkdocs, "mkdocs and mkdocstrings-python are not installed; the docs site cannot be built")
    out = tmp_path_factory.mktemp("site") / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _pages(site: Path) -> list[str]:
    pages = sorted(site.rglob("index.html"))
    assert len(pages) >= 20, f"expected every page of the site, found {len(pages)}"
    return ["/" + str(p.parent.relative_to(site)).replace(".", "").strip("/") + ("/" if p.parent != site else "")
            for p in pages]


_EXTERNAL = re.compile(r"<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//"
                       r"|<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I)


def test_pages_reference_no_external_resource(site):
    """Nothing the browser would fetch lives on another host (links to other sites are fine)."""
    offenders = []
    for page in site.rglob("*.html"):
        for m in _EXTERNAL.finditer(page.read_text(encoding="utf-8")):
            offenders.append(f"{page.relative_to(site)}: {m.group(0)[:120]}")
    assert not offenders, "pages load external resources:\n" + "\n".join(offenders)
    assert (site / "js" / "mathjax" / "tex-svg.js").is_file(), "the vendored MathJax is missing from the site"


def test_every_page_typesets_its_math_and_loads_its_images_offline(site):
    browser = _browser()
    pages = _pages(site)
    handler = type("Handler", (_Handler,), {"pages": pages, "log": [], "results": {}, "done": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    profile = tempfile.mkdtemp(prefix="dualgan-chromium-")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--no-default-browser-check", "--disable-extensions",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--mute-audio", f"--user-data-dir={profile}",
           # every host name but 127.0.0.1 resolves to nothing: no request can leave the machine
           "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
           f"http://127.0.0.1:{port}{DRIVER}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        finished = handler.done.wait(timeout=BROWSER_TIMEOUT_S)
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        server.shutdown()
        server.server_close()
        shutil.rmtree(profile, ignore_errors=True)
    assert finished, (f"the driver page reported no results within {BROWSER_TIMEOUT_S} s; pages served: "
                      f"{[p for p, _ in handler.log]}\nchromium stderr:\n{(stderr or '')[-3000:]}")
    results = handler.results

    problems = []
    total_math = total_images = 0
    for url in pages:
        r = results.get(url)
        if r is None or "error" in r:
            problems.append(f"{url}: not checked ({r})")
            continue
        total_math += r["math"]
        total_images += len(r["images"])
        if r["math"] and not r["mathjax"]:
            problems.append(f"{url}: {r['math']} math elements but MathJax did not start")
        for tex in r["untypeset"]:
            problems.append(f"{url}: math not typeset: {tex}")
        for err in r["errors"]:
            problems.append(f"{url}: MathJax error: {err}")
        for raw in r["raw"]:
            problems.append(f"{url}: raw TeX delimiter {raw!r} left in the text")
        for img in r["images"]:
            if img["width"] <= 0:
                problems.append(f"{url}: image did not load: {img['src']}")
        for res in r["resources"]:
            if not res.startswith(f"http://127.0.0.1:{port}/"):
                problems.append(f"{url}: fetched a resource from elsewhere: {res}")
    for path, status in handler.log:
        if status >= 400 and path != "/favicon.ico":  # the browser's own guess for the driver page
            problems.append(f"server answered {status} for {path}")
    assert not problems, "\n".join(problems)
    print(f"{len(pages)} pages, {total_math} math elements typeset, {total_images} images loaded")
    # The check saw what it is meant to check: the theory page's numbered math, the report's figures.
    assert results["/theory/"]["math"] >= 50, results["/theory/"]["math"]
    assert total_math >= 300 and total_images >= 3, (total_math, total_images)
