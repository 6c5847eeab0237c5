"""The chapters' generated cells: exercise functions never replace a name the chapter uses, investigations
are there, and the Colab install cell is collapsed.

* an exercise's stub defines a function; if the chapter itself imports or defines the same name, running
  the stub replaces it and a later cell that uses it breaks (re-running a cell then raises a TypeError):
  every exercise function has a name of its own;
* every investigation of ``posekit.exercises.INVESTIGATIONS`` is in its chapter, as generated;
* the chapters whose course cells are up to date carry the collapsed Colab install cell.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import nbformat
import pytest

from posekit.exercises import EXERCISES, INVESTIGATIONS

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def _course_cells():
    spec = importlib.util.spec_from_file_location("course_cells", ROOT / "tools" / "course_cells.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def names_bound(source: str) -> set[str]:
    """Names a cell binds: imports, function and class definitions, assignments (magics skipped)."""
    code = "\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!")))
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_names_bound_sees_imports_definitions_and_assignments():
    src = "%matplotlib inline\nfrom posekit.rotations import geodesic_angle as ga, aa_to_quat\nimport numpy as np\n" \
          "def f(x):\n    y = 1\nclass C: pass\nz, w = 1, 2"
    assert names_bound(src) == {"ga", "aa_to_quat", "np", "f", "y", "C", "z", "w"}


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_exercise_functions_do_not_replace_a_name_the_chapter_uses(path):
    nb = nbformat.read(path, as_version=4)
    chapter = path.name.split("_", 1)[0]
    bound = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.metadata.get("posekit", {}).get("generated"):
            bound |= names_bound(cell.source)
    clash = [e["function"] for e in EXERCISES.get(chapter, []) if e["function"] in bound]
    assert not clash, f"{path.name}: the exercise stubs {clash} replace names the chapter uses; rename them (my_...)"


@pytest.mark.parametrize("chapter", sorted(INVESTIGATIONS))
def test_each_investigation_is_in_its_chapter(chapter):
    path = next(p for p in CHAPTERS if p.name.startswith(chapter + "_"))
    cells = nbformat.read(path, as_version=4).cells
    for inv in INVESTIGATIONS[chapter]:
        assert inv["code"] and inv["prompt"] and inv["title"]
        assert any(c.cell_type == "code" and c.source == inv["code"] for c in cells), \
            f"{path.name} lacks the investigation {inv['title']!r}: run python tools/course_cells.py {path.name}"


@pytest.mark.parametrize("name", ["00_human_pose_data.ipynb", "01_smpl_blend_shapes.ipynb", "06_humor.ipynb",
                                  "08_regression.ipynb"])
def test_colab_install_cell_is_collapsed(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    install = [c for c in nb.cells if "colab-install" in c.metadata.get("tags", [])]
    assert len(install) == 1
    want = _course_cells().colab_install_cell()
    assert install[0].source == want.source and install[0].metadata["jupyter"] == {"source_hidden": True}
    assert install[0].metadata["cellView"] == "form" and "remove-cell" in install[0].metadata["tags"]
