// MathJax for pymdownx.arithmatex (generic mode): math arrives as \( \) and \[ \]
// inside elements of class "arithmatex"; nothing else on a page is scanned.
// The MathJax build is vendored (js/mathjax/tex-svg.js): SVG output needs no
// font files, and nothing is fetched from the network.
window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, tags: "none"},
  svg: {fontCache: "global"},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
