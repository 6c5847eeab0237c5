"""pyproject.toml, environment.yml and binder/environment.yml must carry the same dependencies."""
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower().replace("_", "-")


def _pyproject_deps() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(d) for d in meta["dependencies"] + meta["optional-dependencies"]["dev"]}


def _conda_pip_deps(path: Path) -> set[str]:
    env = yaml.safe_load(path.read_text())
    pips = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    if len(pips) != 1:
        raise AssertionError(f"{path}: expected exactly one 'pip:' block, found {len(pips)}")
    return {_norm(d) for d in pips[0]["pip"] if not d.startswith("-")}      # pip options (index URLs) are not deps


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_conda_env_matches_pyproject(env_file):
    conda = _conda_pip_deps(ROOT / env_file)
    py = _pyproject_deps()
    assert conda == py, (f"{env_file} and pyproject.toml disagree: only in {env_file}: {sorted(conda - py)}; "
                         f"only in pyproject.toml: {sorted(py - conda)}")


def test_torch_is_pinned_everywhere():
    assert "torch==2.13.0" in _pyproject_deps()
    for env_file in ("environment.yml", "binder/environment.yml"):
        assert "torch==2.13.0" in _conda_pip_deps(ROOT / env_file)


def test_python_version_in_conda_envs():
    for env_file in ("environment.yml", "binder/environment.yml"):
        env = yaml.safe_load((ROOT / env_file).read_text())
        assert any(isinstance(d, str) and d.startswith("python") for d in env["dependencies"]), env_file


def test_mismatch_is_detected(tmp_path):
    """The comparison itself can fail: a dropped dependency is reported."""
    text = (ROOT / "environment.yml").read_text().replace("    - trimesh\n", "")
    bad = tmp_path / "environment.yml"
    bad.write_text(text)
    assert _conda_pip_deps(bad) != _pyproject_deps()
    assert "trimesh" in _pyproject_deps() - _conda_pip_deps(bad)
