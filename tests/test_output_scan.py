"""The scan of executed chapters' outputs (tools/output_scan.py and the nbval hook in notebooks/conftest.py).

The hook itself scans every chapter cell that ``make test`` runs; here: what the scan flags and what it
leaves alone, and that the hook fails a cell (naming it) whose output shows a machine path.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import output_scan as scan  # noqa: E402

ROOTS = scan.GENERIC_ROOTS + ("/srv/course/repo/",)


@pytest.mark.parametrize("text, kind", [
    ("humor: using the prior in /root/.cache/posekit/priors/vposer.pt", "machine path"),
    ("wrote '/tmp/tmpab12/fit.npz'", "machine path"),
    ("pose dataset: /home/ana/data/cmu  fps=30", "machine path"),
    ("data in /srv/course/repo/posekit/data", "machine path"),
    ("[tune] lambda=0.1 -> 12.3 mm", "log line"),
    ("  [train] epoch 3/10 loss 0.2", "log line"),
    ("INFO:posekit.fitting:fitted 12 frames", "log line"),
    ("<posekit.priors.gmm.GMMPrior object at 0x7f3a2c1d5e10>", "object repr"),
    ("(<function mpjpe at 0x7fb0c0de1234>, 3)", "object repr"),
])
def test_scan_flags_what_a_student_should_not_see(text, kind):
    found = scan.scan_text(text, ROOTS)
    assert [f.kind for f in found] == [kind], found
    assert found[0].text == text.strip()


@pytest.mark.parametrize("text", [
    "motion data: shared (../shared/data/cmu)",
    "asfamc/01_01.amc -> (120, 24, 3) poses",
    "[0, 1, 2] frames",
    "[ 0.12 -0.3   1.2 ]",
    "[True False]",
    "see posekit/data/sample/cmu for the clips; a/tmp/b is not a path of this machine",
    "GMMPrior(8 components)",
    "<Figure size 640x480 with 1 Axes>",
    "x = 0x1F is hexadecimal",
])
def test_scan_leaves_ordinary_output_alone(text):
    assert scan.scan_text(text, ROOTS) == []


def test_only_what_is_shown_is_scanned():
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="ok\n"),
        nbformat.v4.new_output("display_data", data={               # a figure: its repr is not shown
            "image/png": "iVBORw0KGgo=", "text/plain": "<Figure at 0x7f00>"}),
        nbformat.v4.new_output("display_data", data={               # plotly: the script is not text
            "text/html": "<div id='x'></div><script>var p = '/root/x'; f(0x7f)</script><p>a figure</p>",
            "text/plain": "<plotly Figure at 0x7f00>"}),
        nbformat.v4.new_output("execute_result", execution_count=1, data={
            "text/html": "<b>/home/ana/x.npz</b>", "text/plain": "x"}),
    ]
    found = scan.scan_outputs(outputs, ROOTS)
    assert [(f.kind, f.text) for f in found] == [("machine path", "/home/ana/x.npz")]


def test_scan_notebook_names_the_cell_and_the_cli_fails(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("x")])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="[tune] w=1\n")]
    path = tmp_path / "00_t.ipynb"
    nbformat.write(nb, path)
    found = scan.scan_notebook(path, ROOTS)
    assert [str(f) for f in found] == ["00_t.ipynb cell 1: log line: [tune] w=1"]
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "output_scan.py"), str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "00_t.ipynb cell 1: log line" in run.stdout
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="fine\n")]
    nbformat.write(nb, path)
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "output_scan.py"), str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "clean" in run.stdout


def test_machine_roots_include_this_repository_and_the_generic_folders():
    roots = scan.machine_roots()
    assert str(ROOT) + "/" in roots and "/root/" in roots and "/tmp/" in roots


@pytest.mark.skipif(importlib.util.find_spec("nbval") is None, reason="nbval is not installed")
def test_nbval_hook_fails_the_cell_that_prints_a_machine_path(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "tools" / "output_scan.py", tmp_path / "tools")
    shutil.copy(ROOT / "notebooks" / "conftest.py", tmp_path / "notebooks")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("print('clean output')"),
        nbformat.v4.new_code_cell("import os\nprint('cache in', os.path.expanduser('~') + '/.cache/x.pt')"),
        nbformat.v4.new_code_cell("print('[tune] w=0.1')"),
    ], metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
    nbformat.write(nb, tmp_path / "notebooks" / "09_t.ipynb")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-current-env", "-o", "addopts=", "notebooks/09_t.ipynb"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ""})
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 passed" in out and "2 failed" in out, out
    assert "09_t.ipynb cell 2 (code cell 1)" in out and "machine path" in out, out
    assert "09_t.ipynb cell 3 (code cell 2)" in out and "log line: [tune] w=0.1" in out, out
