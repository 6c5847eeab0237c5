"""Where real motion data is found.

Search order (first folder that exists wins):

1. ``$POSEKIT_DATA/cmu`` (``posekit.utils.data_home() / "cmu"``; ``download_cmu`` writes there),
2. ``../shared/data/cmu`` beside the repository root (the team's read-only CMU dev set),
3. nothing: ``None`` -- callers then fall back to the *synthetic* sampler (``posekit.data.synthetic``).

Real data is never copied into the repository.
"""
from __future__ import annotations

from pathlib import Path

from posekit.utils import data_home, repo_root

__all__ = ["find_motion_dir", "cmu_dev_dir", "shared_cmu_dir", "MOTION_SUFFIXES", "HOW_TO_GET_DATA"]

#: File endings ``posekit.data.load_motion`` reads (an ``.amc`` needs its ``.asf`` skeleton beside it).
MOTION_SUFFIXES = (".bvh", ".amc", ".npz")

HOW_TO_GET_DATA = (
    "To use real motion capture: set POSEKIT_DATA to a folder holding a 'cmu' sub-folder of "
    ".bvh / .amc+.asf / AMASS .npz files, or download CMU trials with "
    "posekit.data.download_cmu(['02_01', ...]) (writes to $POSEKIT_DATA/cmu/asfamc), or place the "
    "shared dev set at ../shared/data/cmu beside the repository.")


def shared_cmu_dir() -> Path:
    """``../shared/data/cmu`` next to the repository root (may not exist)."""
    return repo_root().parent / "shared" / "data" / "cmu"


def _has_motion_files(folder: Path) -> bool:
    return any(p.suffix.lower() in MOTION_SUFFIXES for p in folder.rglob("*") if p.is_file())


def find_motion_dir() -> Path | None:
    """The first folder of real motion files: ``$POSEKIT_DATA/cmu``, then ``../shared/data/cmu``, else None."""
    for cand in (data_home() / "cmu", shared_cmu_dir()):
        if cand.is_dir() and _has_motion_files(cand):
            return cand
    return None


def cmu_dev_dir() -> Path | None:
    """The CMU dev set folder (same search as :func:`find_motion_dir`); ``None`` when there is none."""
    return find_motion_dir()
