"""make's HTML pages work offline (tools/offline_html.py), checked in headless Chromium with the network off.

* without a browser: an exported page references no remote script or style, carries the local MathJax,
  leaves the Colab install cell out and shows a note instead of an undrivable widget;
* with Debian's ``chromium`` (and MathJax from ``sphinx-mathjax-offline``): a small chapter (equations,
  a matplotlib and a plotly figure) executed as ``make`` does passes ``tools/check_site.py``, and a page
  whose MathJax is missing fails it; chapter 01 itself, executed in fast mode, passes too.

Skipped, saying what is missing, when MathJax's package or chromium is not installed.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import course_cells  # noqa: E402
import offline_html  # noqa: E402

REMOTE = re.compile(r'(?:src|href)="https?://[^"]*\.(?:js|css)')
KERNEL = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}


def _mini() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Mini chapter\n\nInline $a^2 + b^2 = c^2$ and a display\n\n"
                                      "$$\\sum_j w_j A_j$$"),
        nbformat.v4.new_markdown_cell("## Section $B_S(\\vec\\beta)$\n\nsome text"),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\nimport plotly.graph_objects as go\n"
            "from posekit.viz.mesh import setup_notebook\nsetup_notebook()\n"
            "fig, ax = plt.subplots(); ax.plot([0, 1], [0, 1]); ax.set_title('a line'); plt.show()\n"
            "go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1])).show()"),
    ], metadata=dict(KERNEL))
    course_cells.refresh(nb, "09_mini.ipynb")              # launch links, the Colab install cell, exercises
    return nb


def _execute(nb, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    env = {"POSEKIT_FAST": "1", "POSEKIT_HTML_EXPORT": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _missing() -> str | None:
    if importlib.util.find_spec(offline_html.MATHJAX_PACKAGE) is None:
        return f"MathJax for offline pages is not installed: pip install --no-deps {offline_html.MATHJAX_PACKAGE}"
    if shutil.which("chromium") is None:
        return "Debian's chromium is not installed: apt-get install -y chromium"
    if importlib.util.find_spec("tornado") is None:
        return "tornado is not installed"
    return None


def _check(folder: Path, pattern: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "check_site.py"), str(folder), "--pages", pattern],
                          capture_output=True, text=True, timeout=600)


def test_colab_install_cell_is_collapsed_and_left_out_of_the_page():
    nb = _mini()
    install = next(c for c in nb.cells if "colab-install" in c.metadata.get("tags", []))
    assert install.metadata["jupyter"]["source_hidden"] is True and install.metadata["cellView"] == "form"
    assert install.source.startswith("# @title ") and "remove-cell" in install.metadata["tags"]
    # the cell still does nothing outside Colab
    exec(compile(install.source, "<colab cell>", "exec"), {})
    nb.cells.append(nbformat.v4.new_code_cell("w", outputs=[nbformat.v4.new_output(
        "display_data", data={offline_html.WIDGET_VIEW: {"model_id": "x"}, "text/plain": "VBox()"})]))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    page = offline_html.prepare(nb)
    assert not any("colab-install" in c.metadata.get("tags", []) for c in page.cells)
    assert "widgets" not in page.metadata and page.metadata["title"] == "Mini chapter"
    assert page.cells[-1].outputs[0]["data"] == {"text/plain": offline_html.WIDGET_NOTE}
    assert any("colab-install" in c.metadata.get("tags", []) for c in nb.cells)     # the original is untouched


def test_strip_remote_removes_cdn_scripts_only():
    body = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.5/MathJax.js?config=x"></script>'
            '<script src="_static/mathjax/tex-chtml.js" id="MathJax-script"></script>'
            '<script type="module">\nimport mermaid from "https://cdn.jsdelivr.net/npm/mermaid/dist/m.mjs";\n</script>')
    out = offline_html.strip_remote(body)
    assert out == '<script src="_static/mathjax/tex-chtml.js" id="MathJax-script"></script>'


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_small_chapter_page_is_offline_and_passes_the_browser_check(tmp_path):
    nb = _execute(_mini(), tmp_path)
    nbformat.write(nb, tmp_path / "09_mini.ipynb")
    page = offline_html.export(tmp_path / "09_mini.ipynb", tmp_path)
    html = page.read_text()
    assert not REMOTE.findall(html), REMOTE.findall(html)
    assert (tmp_path / "_static" / "mathjax" / "tex-chtml.js").is_file() and "_static/mathjax/tex-chtml.js" in html
    assert "google.colab" not in html                           # the install cell is not on the page
    check = _check(tmp_path, "09_*.html")
    assert check.returncode == 0, check.stdout + check.stderr
    line = next(l for l in check.stdout.splitlines() if "09_mini.html" in l)
    assert line.startswith("ok") and "1/1 plotly" in line and "1 images" in line, line
    n_math = int(re.search(r"; (\d+) equations", line).group(1))
    assert n_math >= 3, line                                    # inline, display and the heading's

    # the check can fail: without MathJax the equations stay raw
    (tmp_path / "08_nomath.html").write_text(html.replace("_static/mathjax/tex-chtml.js", "_static/none.js"))
    check = _check(tmp_path, "08_*.html")
    assert check.returncode == 1
    line = next(l for l in check.stdout.splitlines() if "08_nomath.html" in l)
    assert line.startswith("FAIL") and "raw '$" in line, line


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_chapter_01_page_typesets_its_math_and_draws_its_figures(tmp_path):
    nb = _execute(nbformat.read(ROOT / "notebooks" / "01_smpl_blend_shapes.ipynb", as_version=4),
                  ROOT / "notebooks")
    nbformat.write(nb, tmp_path / "01_smpl_blend_shapes.ipynb")
    offline_html.export(tmp_path / "01_smpl_blend_shapes.ipynb", tmp_path)
    check = _check(tmp_path, "01_*.html")
    assert check.returncode == 0, check.stdout + check.stderr
    line = check.stdout.strip().splitlines()[-1]
    plotly = re.search(r"(\d+)/(\d+) plotly", line)
    assert int(plotly.group(2)) >= 3 and plotly.group(1) == plotly.group(2), line   # the explorer's figure too
    assert int(re.search(r"; (\d+) equations", line).group(1)) >= 20, line
