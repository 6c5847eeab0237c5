"""Launch links and the Colab install cell (posekit.course)."""
import subprocess
import sys
import types

import pytest

from posekit import course


def test_links_come_from_the_one_repository_url(monkeypatch):
    monkeypatch.setenv("POSEKIT_REPO_URL", "https://github.com/someone/my-course.git")
    monkeypatch.setenv("POSEKIT_REPO_BRANCH", "spring")
    assert course.colab_url("01_x.ipynb") == \
        "https://colab.research.google.com/github/someone/my-course/blob/spring/notebooks/01_x.ipynb"
    assert course.binder_url("01_x.ipynb") == \
        "https://mybinder.org/v2/gh/someone/my-course/spring?urlpath=lab/tree/notebooks/01_x.ipynb"
    md = course.launch_links_markdown("01_x.ipynb")
    assert "Open in Colab" in md and "Launch Binder" in md and "![" not in md     # no remote badge images


def test_non_github_url_is_refused(monkeypatch):
    monkeypatch.setenv("POSEKIT_REPO_URL", "https://gitlab.com/a/b")
    with pytest.raises(ValueError, match="GitHub"):
        course.colab_url("x.ipynb")


def _run_cell(monkeypatch, on_colab: bool) -> list[list[str]]:
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd) or 0)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(course.colab_install_source(), "<colab cell>", "exec"), {})
    return calls


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_cell(monkeypatch, on_colab=False) == []


def test_colab_cell_keeps_colabs_torch(monkeypatch):
    calls = _run_cell(monkeypatch, on_colab=True)
    assert len(calls) == 2
    deps, pk = calls
    assert not any(a.lower().startswith("torch") for a in deps + pk), calls
    assert {"smplx", "roma", "trimesh"} <= set(deps)
    assert "--no-deps" in pk and any(a.startswith("posekit @ git+https://github.com/") for a in pk)
    assert set(course.colab_requirements()) == set(deps[deps.index("--quiet") + 1:])


def test_course_cells_are_idempotent_and_convert_nbval_comments(capsys):
    import importlib.util
    from pathlib import Path

    import nbformat
    spec = importlib.util.spec_from_file_location(
        "course_cells", Path(__file__).resolve().parent.parent / "tools" / "course_cells.py")
    cc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cc)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Chapter 01 · Title"),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nx = 1"),
        nbformat.v4.new_code_cell("y = 2  # stays\n# NBVAL_SKIP"),
    ])
    cc.refresh(nb, "01_title.ipynb")
    once = nbformat.writes(nb)
    cc.refresh(nb, "01_title.ipynb")
    assert nbformat.writes(nb) == once
    roles = [c.metadata.get("posekit", {}).get("generated") for c in nb.cells]
    assert roles[:4] == [None, "launch", "colab-install", None]
    assert "Open in Colab" in nb.cells[1].source and "01_title.ipynb" in nb.cells[1].source
    code = [c for c in nb.cells if c.cell_type == "code" and not roles[nb.cells.index(c)]]
    assert code[0].source == "x = 1" and code[0].metadata["tags"] == ["nbval-ignore-output"]
    assert "NBVAL" not in code[1].source and code[1].metadata["tags"] == ["nbval-skip"]
    # the exercises of chapter 01 are appended, and an unfilled stub does not raise
    # (and its investigations after them: a prompt and an experiment cell each, which need the chapter's state)
    from posekit.exercises import INVESTIGATIONS
    ex_cells = [c for c in nb.cells if roles[nb.cells.index(c)] == "exercise"]
    n_inv = len(INVESTIGATIONS.get("01", []))
    assert ex_cells[0].source.startswith("## Exercises") and len(ex_cells) == 1 + 3 * 2 + 2 * n_inv
    assert all("investigation" in c.metadata["tags"] for c in ex_cells[len(ex_cells) - 2 * n_inv:])
    ns = {}
    for c in ex_cells:
        if c.cell_type == "code" and "investigation" not in c.metadata["tags"]:
            exec(c.source, ns)
    assert capsys.readouterr().out.count("not implemented yet") == 2
