"""Export the chapters as reveal.js slides for the seminar (``make slides``).

    python tools/slides.py [notebooks/NN_x.ipynb ...] --out build/slides --lib build/slides/lib [--execute]

Each chapter is copied, its cells given ``slideshow`` metadata by :func:`slide_types` (never by hand):
a markdown cell that opens with a heading starts a slide, further narrative continues it, a code
cell that draws a figure becomes a sub-slide with its output only (code hidden), and every other
code cell (imports, computation, exercises, the Colab install cell) is skipped; cells tagged
``slides-skip`` are skipped, ``slides-show`` shown. With ``--execute`` the copies run first
(``POSEKIT_FAST=1`` for fast mode), so the figures are in the slides.

Offline: reveal.js, MathJax 2, require.js and jQuery are read from ``--lib``, a folder holding the
npm packages ``reveal.js@4``, ``mathjax@2``, ``requirejs`` and ``jquery@2`` (``make slides``
installs them there with npm); plotly.js is inlined by plotly's notebook renderer.
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FIGURE_CALL = re.compile(r"\b(plt\.|fig\b|fig\.|\.show\(|plot_\w*\(|imshow|render_\w*\(|display\()")
_CDN_MATHJAX = re.compile(r'<script[^>]*src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"[^>]*>\s*</script>')
# nbconvert always imports mermaid from a CDN; the chapters draw no mermaid diagrams
_MERMAID = re.compile(r'<script type="module">\s*import mermaid from [^<]*</script>')


def slide_types(nb) -> None:
    """Set ``metadata.slideshow.slide_type`` on every cell of ``nb`` (in place)."""
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        src = cell.source.lstrip()
        if "slides-skip" in tags or "colab-install" in tags or "exercise" in tags:
            kind = "skip"
        elif cell.cell_type == "markdown":
            kind = "slide" if src.startswith("#") else "-"
        elif cell.cell_type == "code" and ("slides-show" in tags or FIGURE_CALL.search(cell.source)):
            kind = "subslide"
        else:
            kind = "skip"
        cell.metadata["slideshow"] = {"slide_type": kind}


def export(path: Path, out: Path, lib: Path, execute: bool) -> Path:
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    nb = copy.deepcopy(nb)
    if execute:
        ExecutePreprocessor(timeout=3600, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(path.parent)}})
    slide_types(nb)
    nb.metadata.pop("widgets", None)              # saved widget state would pull the widget manager from a CDN
    heading = next((c.source.lstrip("# ").splitlines()[0] for c in nb.cells
                    if c.cell_type == "markdown" and c.source.lstrip().startswith("#")), path.stem)
    nb.metadata["title"] = heading
    rel = os.path.relpath(lib, out)
    exporter = SlidesExporter(
        reveal_url_prefix=f"{rel}/reveal.js", reveal_theme="white", exclude_input=True,
        mathjax_url=f"{rel}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        require_js_url=f"{rel}/requirejs/require.js", jquery_url=f"{rel}/jquery/dist/jquery.min.js",
        font_awesome_url="",
    )
    body, _ = exporter.from_notebook_node(nb)
    body = _MERMAID.sub("", _CDN_MATHJAX.sub("", body))
    target = out / f"{path.stem}.slides.html"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "slides")
    ap.add_argument("--lib", type=Path, default=None, help="folder with the npm packages (default OUT/lib/node_modules)")
    ap.add_argument("--execute", action="store_true", help="run each chapter first so the figures show")
    args = ap.parse_args(argv)
    lib = args.lib or args.out / "lib" / "node_modules"
    missing = [p for p in ("reveal.js/dist/reveal.js", "mathjax/MathJax.js", "requirejs/require.js",
                           "jquery/dist/jquery.min.js") if not (lib / p).exists()]
    if missing:
        raise SystemExit(f"{lib}: missing {missing}; install with: npm install --prefix {lib.parent} "
                         "reveal.js@4 mathjax@2 requirejs@2 jquery@2")
    args.out.mkdir(parents=True, exist_ok=True)
    nbs = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    for nb in nbs:
        print(f"{nb.name} -> {export(nb, args.out, lib, args.execute)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
