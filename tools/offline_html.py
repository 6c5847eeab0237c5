"""Export executed chapters as HTML pages that work offline, opened from disk (``make``'s HTML).

    python tools/offline_html.py build/notebooks/*.ipynb [--out build/notebooks]

nbconvert's own HTML loads MathJax, require.js and the widget manager from CDNs, so without internet
every equation stays raw ``$...$``. Here each page is exported with nbconvert's ``lab`` template and:

* **MathJax 3 from disk**: the copy shipped in the ``sphinx-mathjax-offline`` package (the one the course
  site uses, ``pip install --no-deps sphinx-mathjax-offline``) is copied once to ``OUT/_static/mathjax``
  and each page loads ``_static/mathjax/tex-chtml.js`` with ``$...$`` / ``$$...$$`` delimiters;
* **no CDN script at all**: require.js (nothing needs it: plotly.js is inlined by plotly's notebook
  renderer when the chapters run with ``POSEKIT_HTML_EXPORT=1``), the widget manager (the saved widget
  state is dropped; a widget output shows a one-line note instead, since nothing can drive it without
  a kernel), mermaid, and the CDN MathJax that plotly's HTML asks for are all left out;
* cells tagged ``colab-install`` or ``remove-cell`` are left out (the Colab install cell is for Colab).

The result is checked by ``tools/check_site.py OUT --pages "[0-9]*.html"`` in headless Chromium
(``make notebooks-check``): equations typeset, figures drawn, nothing requested but local files.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import nbformat

MATHJAX_PACKAGE = "sphinx-mathjax-offline"
REMOVE_TAGS = ("colab-install", "remove-cell")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "(an interactive widget: it needs a running kernel, so this page shows none)"

# The template: nbconvert's lab page with the CDN scripts replaced by the local MathJax 3.
TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true}
};
</script>
<script src="{{ resources.posekit_mathjax }}" id="MathJax-script"></script>
{%- endblock html_head_js_mathjax -%}
"""

_CDN_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>')
_MERMAID = re.compile(r'<script type="module">\s*import mermaid from [^<]*</script>')
_REMOTE = re.compile(r'(?:src|href)="(https?://[^"]*\.(?:js|css)(?:\?[^"]*)?)"')


def mathjax_dir() -> Path:
    """The MathJax 3 folder of the ``sphinx-mathjax-offline`` package (``static/mathjax``)."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"MathJax for offline pages is missing: pip install --no-deps {MATHJAX_PACKAGE}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    if not (folder / "tex-chtml.js").is_file():
        raise SystemExit(f"{folder}: no tex-chtml.js (reinstall {MATHJAX_PACKAGE})")
    return folder


def copy_mathjax(out: Path) -> Path:
    """Copy MathJax to ``out/_static/mathjax`` (once) and return that folder."""
    target = out / "_static" / "mathjax"
    if not (target / "tex-chtml.js").is_file():
        tmp = target.with_name("mathjax.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(mathjax_dir(), tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    return target


def prepare(nb) -> nbformat.NotebookNode:
    """A copy of ``nb`` for a static page: no Colab install cell, no widget state, notes for widgets."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    heading = next((c.source.lstrip("# ").splitlines()[0] for c in nb.cells
                    if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), None)
    if heading and "title" not in nb.metadata:
        nb.metadata["title"] = heading
    nb.cells = [c for c in nb.cells if not set(c.get("metadata", {}).get("tags", [])) & set(REMOVE_TAGS)]
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}):
                out["data"] = {"text/plain": WIDGET_NOTE}
    return nb


def strip_remote(body: str) -> str:
    """Remove CDN script tags (plotly's MathJax, nbconvert's mermaid) from an exported page."""
    return _MERMAID.sub("", _CDN_SCRIPT.sub("", body))


def export(path: Path, out: Path) -> Path:
    """Write ``out/<name>.html`` for the executed notebook ``path``; returns the page."""
    import jinja2
    from nbconvert import HTMLExporter

    copy_mathjax(out)
    exporter = HTMLExporter(template_name="lab", template_file="posekit_offline.html.j2",
                            extra_loaders=[jinja2.DictLoader({"posekit_offline.html.j2": TEMPLATE})])
    nb = prepare(nbformat.read(path, as_version=4))
    body, _ = exporter.from_notebook_node(nb, resources={"posekit_mathjax": "_static/mathjax/tex-chtml.js"})
    body = strip_remote(body)
    remote = _REMOTE.findall(body)
    if remote:
        raise SystemExit(f"{path.name}: the page still loads remote files: {remote[:3]}")
    target = out / f"{path.stem}.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path, help="executed .ipynb files")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: each notebook's own)")
    args = ap.parse_args(argv)
    for path in args.notebooks:
        out = args.out or path.parent
        out.mkdir(parents=True, exist_ok=True)
        print(f"{path} -> {export(path, out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
