"""The two command lines: a bad --motions folder gives a message and exit code 2, not a traceback."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [
    ["-m", "posekit.train", "gmm", "--motions", "/nonexistent/motions", "--out", "OUT/gmm.npz"],
    ["-m", "posekit.experiments", "image-fit", "--motions", "/nonexistent/motions", "--priors", "OUT", "--out", "OUT"],
])
def test_missing_motion_folder_is_a_clean_error(tmp_path, argv):
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    r = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "motion folder not found" in r.stderr and "POSEKIT_DATA" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "results.csv").exists()


def test_unknown_subcommand_lists_choices():
    r = subprocess.run([sys.executable, "-m", "posekit.train", "nosuchprior"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "gmm" in r.stderr and "posendf" in r.stderr
