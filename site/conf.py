"""Sphinx configuration of the course site (``make site``): the chapters, executed, as static HTML.

Offline by construction: MathJax comes from the ``sphinx-mathjax-offline`` package (copied into
``_static/mathjax``), plotly.js is inlined by plotly's ``notebook`` renderer, the theme is Sphinx's
own alabaster, and myst-nb's default widget scripts (require.js and the widget manager from a CDN)
are switched off. ``tools/check_site.py`` verifies the result in headless Chromium.

Environment: ``POSEKIT_SITE_EXECUTE`` = ``force`` (default: run every chapter), ``cache`` or ``off``;
the chapters run in fast mode when ``POSEKIT_FAST=1``.
"""
import os

os.environ.setdefault("POSEKIT_HTML_EXPORT", "1")   # plotly.js inlined: the pages draw figures offline

project = "posekit: learning the human pose distribution"
author = "posekit contributors"
extensions = ["myst_nb", "sphinx-mathjax-offline"]
root_doc = "index"
exclude_patterns = ["solutions/**", "**/.ipynb_checkpoints", "_build", "jupyter_execute"]
html_theme = "alabaster"
html_title = "posekit course"
html_theme_options = {"font_family": "sans-serif", "head_font_family": "sans-serif",
                      "page_width": "1200px", "sidebar_width": "260px"}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False

myst_enable_extensions = ["dollarmath", "amsmath"]
nb_execution_mode = os.environ.get("POSEKIT_SITE_EXECUTE", "force")
nb_execution_timeout = 1800
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js = {}                      # no CDN scripts: widgets show their saved text fallback
# MathJax 3, local; $...$ inside notebook outputs too
mathjax3_config = {"tex": {"inlineMath": [["$", "$"], ["\\(", "\\)"]],
                           "displayMath": [["$$", "$$"], ["\\[", "\\]"]]}}
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

# plotly's HTML output asks for its own MathJax from a CDN (``include_mathjax="cdn"``); the page
# already loads the local MathJax, so those script tags are removed from every built page.
import re
from pathlib import Path

_CDN_MATHJAX = re.compile(r'<script[^>]*src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"[^>]*>\s*</script>')


def _strip_cdn_scripts(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _CDN_MATHJAX.sub("", text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _strip_cdn_scripts)
