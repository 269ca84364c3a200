#!/usr/bin/env bash
# Refresh the local copies of MathJax and mermaid that the documentation site serves, so that the
# site typesets its formulas and draws its diagrams without any CDN (offline, and in CI).
# Kept: MathJax's combined TeX component, its CHTML fonts and the TeX extensions it may autoload;
# mermaid's single-file build (Material for MkDocs uses a global `mermaid` when one is loaded).
# Usage: bash docs/assets/vendor/update.sh   (needs npm and the npm registry)
set -euo pipefail
MATHJAX_VERSION=3.2.2
MERMAID_VERSION=11.17.2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm install --prefix "$work" --no-audit --no-fund --silent "mathjax@$MATHJAX_VERSION" "mermaid@$MERMAID_VERSION"
m="$work/node_modules"
rm -rf "$here/mathjax" "$here/mermaid"
mkdir -p "$here/mathjax/output/chtml/fonts" "$here/mathjax/input/tex" "$here/mermaid"
cp "$m/mathjax/es5/tex-mml-chtml.js" "$m/mathjax/LICENSE" "$here/mathjax/"
cp -r "$m/mathjax/es5/output/chtml/fonts/woff-v2" "$here/mathjax/output/chtml/fonts/"
cp -r "$m/mathjax/es5/input/tex/extensions" "$here/mathjax/input/tex/"
cp "$m/mermaid/dist/mermaid.min.js" "$m/mermaid/LICENSE" "$here/mermaid/"
echo "MathJax $MATHJAX_VERSION and mermaid $MERMAID_VERSION copied into $here"
