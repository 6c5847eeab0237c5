"""The course site and slides: a small site build checked in headless Chromium, and the slide rules.

The site test needs the ``site`` extra (``pip install -e ".[site]"``) and Debian's ``chromium``;
it is skipped, saying which is missing, otherwise.
"""
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
import slides  # noqa: E402

MINI = nbformat.v4.new_notebook(cells=[
    nbformat.v4.new_markdown_cell("# Mini chapter\n\nInline $a^2 + b^2 = c^2$ and a display\n\n$$\\sum_j w_j A_j$$"),
    nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nimport plotly.graph_objects as go\n"
        "from posekit.viz.mesh import setup_notebook\nsetup_notebook()\n"
        "fig, ax = plt.subplots(); ax.plot([0, 1], [0, 1]); ax.set_title('a line'); plt.show()\n"
        "go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1])).show()"),
], metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})


def _site_missing() -> str | None:
    for mod in ("sphinx", "myst_nb", "sphinx-mathjax-offline"):
        if importlib.util.find_spec(mod) is None:
            return f"the site extra is not installed ({mod} missing): pip install -e '.[site]'"
    if shutil.which("chromium") is None:
        return "Debian's chromium is not installed: apt-get install -y chromium"
    return None


@pytest.mark.skipif(_site_missing() is not None, reason=str(_site_missing()))
def test_small_site_builds_offline_and_passes_the_browser_checks(tmp_path):
    src, out = tmp_path / "src", tmp_path / "site"
    src.mkdir()
    shutil.copy(ROOT / "notebooks" / "index.md", src / "index.md")
    nbformat.write(MINI, src / "01_mini.ipynb")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", "-c", str(ROOT / "site"),
                            "-d", str(tmp_path / "doctrees"), str(src), str(out)],
                           capture_output=True, text=True, timeout=300, env={**os.environ, "POSEKIT_FAST": "1"})
    assert build.returncode == 0, build.stderr[-3000:]
    assert (out / "_static" / "mathjax" / "tex-chtml.js").exists()
    html = (out / "01_mini.html").read_text()
    assert not re.findall(r'(?:src|href)="https?://[^"]*\.(?:js|css)', html)      # no remote scripts or styles
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "check_site.py"), str(out)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok   01_mini.html" in check.stdout and "1/1 plotly" in check.stdout

    # the checker can fail: a raw $$ and a request to a remote URL are reported
    bad = html.replace("</head>", '<script src="http://example.com/x.js"></script></head>', 1)
    bad = bad.replace("<h1>", "<p>$$x$$ left raw</p><h1>", 1)
    (out / "02_bad.html").write_text(bad)
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "check_site.py"), str(out)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 1
    line = next(l for l in check.stdout.splitlines() if "02_bad.html" in l)
    assert line.startswith("FAIL") and "raw '$$'" in line and "http://example.com/x.js" in line


def test_slide_types_narrative_slides_figures_subslides_rest_skipped():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_markdown_cell("more narrative"),
        nbformat.v4.new_code_cell("import torch\nx = torch.zeros(3)"),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot(x)"),
        nbformat.v4.new_code_cell("fig.show()", metadata={"tags": ["slides-skip"]}),
        nbformat.v4.new_code_cell("y = 1", metadata={"tags": ["slides-show"]}),
        nbformat.v4.new_code_cell("%pip install posekit", metadata={"tags": ["colab-install"]}),
    ])
    slides.slide_types(nb)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert kinds == ["slide", "-", "skip", "subslide", "skip", "subslide", "skip"]


def test_slides_export_is_offline(tmp_path):
    lib = ROOT / "build" / "slides" / "lib" / "node_modules"
    if not (lib / "reveal.js" / "dist" / "reveal.js").exists():
        pytest.skip("reveal.js and friends are not installed in build/slides/lib (make slides installs them)")
    path = tmp_path / "01_mini.ipynb"
    nbformat.write(MINI, path)
    target = slides.export(path, tmp_path, lib, execute=False)
    html = target.read_text()
    assert not re.findall(r'(?:src|href)="https?://[^"]*\.(?:js|css)', html)
    assert "fonts.googleapis.com" not in html and "import mermaid" not in html
    assert "<title>Mini chapter" in html
