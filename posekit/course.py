"""Where the course lives: the repository URL (one place), launch links and the Colab install cell.

Change :data:`REPO_URL` / :data:`BRANCH` here when you fork the course (or set ``POSEKIT_REPO_URL`` /
``POSEKIT_REPO_BRANCH`` when running ``tools/course_cells.py``); the notebooks' "Open in Colab" and
"Launch Binder" links and their Colab install cell are generated from them.
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

__all__ = ["REPO_URL", "BRANCH", "repo_url", "github_slug", "colab_url", "binder_url", "launch_links_markdown",
           "colab_requirements", "colab_install_source"]

#: the course's git repository (GitHub: Colab and Binder open notebooks from GitHub)
REPO_URL = "https://github.com/posekit/posekit"
#: the branch the links open
BRANCH = "main"


def repo_url() -> tuple[str, str]:
    """(repository URL, branch): :data:`REPO_URL`/:data:`BRANCH` unless overridden by the environment."""
    return os.environ.get("POSEKIT_REPO_URL", REPO_URL).rstrip("/"), os.environ.get("POSEKIT_REPO_BRANCH", BRANCH)


def github_slug(url: str) -> str:
    """``owner/name`` of a GitHub URL (``https://github.com/owner/name[.git]``)."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url)
    if not m:
        raise ValueError(f"expected a GitHub repository URL https://github.com/OWNER/NAME, got {url!r}")
    return f"{m.group(1)}/{m.group(2)}"


def colab_url(notebook: str) -> str:
    """Colab link for ``notebooks/<notebook>`` on the course's branch."""
    url, branch = repo_url()
    return f"https://colab.research.google.com/github/{github_slug(url)}/blob/{branch}/notebooks/{notebook}"


def binder_url(notebook: str) -> str:
    """mybinder.org link that builds the repository (binder/) and opens ``notebooks/<notebook>`` in JupyterLab."""
    url, branch = repo_url()
    return f"https://mybinder.org/v2/gh/{github_slug(url)}/{branch}?urlpath=lab/tree/notebooks/{notebook}"


def launch_links_markdown(notebook: str) -> str:
    """The markdown of a notebook's launch cell (text links, no remote badge images)."""
    return (f"[Open in Colab]({colab_url(notebook)}) · [Launch Binder]({binder_url(notebook)}) · "
            "on your own machine: see the README (`make setup`).")


def colab_requirements(pyproject: str | os.PathLike | None = None) -> list[str]:
    """posekit's runtime dependencies without torch (Colab ships its own torch; keep it)."""
    path = Path(pyproject) if pyproject else Path(__file__).resolve().parent.parent / "pyproject.toml"
    deps = tomllib.loads(path.read_text())["project"]["dependencies"]
    return [d for d in deps if re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() != "torch"]


def colab_install_source(pyproject: str | os.PathLike | None = None) -> str:
    """Source of the first code cell: on Colab, install posekit without touching Colab's torch; elsewhere nothing.

    posekit itself goes in with ``--no-deps`` (its ``torch==2.13.0`` pin would replace Colab's torch by
    a multi-GB download); its other dependencies are installed normally (none of them pins torch).
    """
    url, branch = repo_url()
    reqs = ", ".join(repr(r) for r in colab_requirements(pyproject))
    return (
        "# On Google Colab: install posekit, keeping Colab's own torch. Does nothing anywhere else.\n"
        "import subprocess, sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", {reqs}])\n"
        "    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", \"--no-deps\",\n"
        f"                           \"posekit @ git+{url}@{branch}\"])"
    )
