// MathJax 3 for pymdownx.arithmatex (generic mode), as Material for MkDocs documents it: typeset
// only the spans and blocks arithmatex marks (\( … \) inline, \[ … \] display), also on instant
// navigation. MathJax itself is the local copy in assets/vendor/mathjax (no CDN needed).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    // an unknown macro is an error the browser check sees, not silently red text
    packages: {"[-]": ["noundefined"]}
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};

document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
