"""Where real motion data is found.

Search order (the first folder holding motion files wins):

1. ``$POSEKIT_DATA/cmu`` (``posekit.utils.data_home() / "cmu"``; ``download_cmu`` writes there),
2. ``../shared/data/cmu`` beside the repository root (the team's read-only CMU set),
3. the **embedded sample** shipped inside the package (``posekit/data/sample/cmu``): a few dozen short
   CMU clips retargeted to SMPL, stored as AMASS-layout ``.npz`` (see its README for the CMU terms),
4. nothing: ``None`` -- callers then fall back to the *synthetic* sampler (``posekit.data.synthetic``).

Raw mocap files (.bvh/.amc/.asf) are never copied into the repository.
"""
from __future__ import annotations

from pathlib import Path

from posekit.utils import data_home, repo_root

__all__ = ["find_motion_dir", "cmu_dev_dir", "shared_cmu_dir", "embedded_sample_dir", "data_source",
           "MOTION_SUFFIXES", "HOW_TO_GET_DATA"]

#: File endings ``posekit.data.load_motion`` reads (an ``.amc`` needs its ``.asf`` skeleton beside it).
MOTION_SUFFIXES = (".bvh", ".amc", ".npz")

HOW_TO_GET_DATA = (
    "To use more real motion capture: set POSEKIT_DATA to a folder holding a 'cmu' sub-folder of "
    ".bvh / .amc+.asf / AMASS .npz files, or download the CMU trials of the full set with "
    "posekit.data.download_cmu('shared') (writes to $POSEKIT_DATA/cmu/asfamc), or place the "
    "shared set at ../shared/data/cmu beside the repository.")


def shared_cmu_dir() -> Path:
    """``../shared/data/cmu`` next to the repository root (may not exist)."""
    return repo_root().parent / "shared" / "data" / "cmu"


def embedded_sample_dir() -> Path:
    """The small real-motion sample shipped with posekit (AMASS-layout ``.npz`` clips)."""
    return Path(__file__).resolve().parent / "sample" / "cmu"


def _has_motion_files(folder: Path) -> bool:
    return any(p.suffix.lower() in MOTION_SUFFIXES for p in folder.rglob("*") if p.is_file())


def _candidates() -> list[tuple[str, Path]]:
    return [("POSEKIT_DATA", data_home() / "cmu"), ("shared", shared_cmu_dir()),
            ("embedded sample", embedded_sample_dir())]


def find_motion_dir() -> Path | None:
    """The first folder of real motion files: ``$POSEKIT_DATA/cmu``, ``../shared/data/cmu``, the embedded
    sample; ``None`` when there is none (then the synthetic sampler is the fallback)."""
    for _, cand in _candidates():
        if cand.is_dir() and _has_motion_files(cand):
            return cand
    return None


def data_source(folder: str | Path | None = None) -> str:
    """A label for where motion comes from: "POSEKIT_DATA", "shared", "embedded sample", "other" or
    "SYNTHETIC" (``folder`` None: the folder :func:`find_motion_dir` picks)."""
    folder = find_motion_dir() if folder is None else Path(folder)
    if folder is None:
        return "SYNTHETIC"
    for name, cand in _candidates():
        if cand.is_dir() and folder.resolve() == cand.resolve():
            return name
    return "other"


def cmu_dev_dir() -> Path | None:
    """The CMU motion folder (same search as :func:`find_motion_dir`); ``None`` when there is none."""
    return find_motion_dir()
