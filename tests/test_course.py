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
