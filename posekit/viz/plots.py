"""Matplotlib pieces shared by the figures: 2D stick figures of SMPL's 24 joints and atomic PNG saving."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import SMPL_PARENTS
from ..utils import atomic_path

__all__ = ["skeleton_segments", "draw_skeleton", "save_figure"]


def skeleton_segments(joints: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bone segments (parent, child) of one pose's 24 joints (24, 3)."""
    return [(joints[p], joints[c]) for c, p in enumerate(SMPL_PARENTS) if p >= 0]


def draw_skeleton(ax, joints: np.ndarray, color="k", lw: float = 2.0, offset=(0.0, 0.0), alpha: float = 1.0,
                  view: str = "front") -> None:
    """Stick figure of 24 joints (metres, y-up) on a 2D matplotlib axis (front view: x right, y up;
    side view: z right, y up)."""
    ix = 0 if view == "front" else 2
    for a, b in skeleton_segments(np.asarray(joints)):
        ax.plot([a[ix] + offset[0], b[ix] + offset[0]], [a[1] + offset[1], b[1] + offset[1]],
                color=color, lw=lw, alpha=alpha, solid_capstyle="round")


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + rename) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
