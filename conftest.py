"""Test-run settings: fast mode for every notebook and test, headless matplotlib, plotly JSON not compared."""
import os
import warnings
from pathlib import Path

os.environ.setdefault("POSEKIT_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

ROOT = Path(__file__).resolve().parent
SHARED_CMU = ROOT.parent / "shared" / "data" / "cmu"

try:  # plotly figures embed random ids: never compare their JSON (see ../shared/TOOLCHAIN.md)
    from nbval.plugin import IPyNbFile

    _orig_setup = IPyNbFile.setup

    def _setup(self):
        _orig_setup(self)
        self.skip_compare = tuple(self.skip_compare) + ("application/vnd.plotly.v1+json", "text/html")

    IPyNbFile.setup = _setup
except ImportError:  # pragma: no cover
    warnings.warn("nbval is not installed: notebooks will not be tested")


@pytest.fixture(scope="session")
def cmu_dir() -> Path:
    """The shared CMU dev set (../shared/data/cmu); tests that need it skip when it is absent."""
    if not SHARED_CMU.is_dir():
        pytest.skip("../shared/data/cmu not present")
    return SHARED_CMU
