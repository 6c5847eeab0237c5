"""Matplotlib pieces shared by the figures: 2D stick figures of SMPL's 24 joints, a forest plot of differences
with confidence intervals, and atomic PNG saving."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import SMPL_PARENTS
from ..utils import atomic_path

__all__ = ["skeleton_segments", "draw_skeleton", "save_figure", "forest_plot"]


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


def forest_plot(ax, labels, means, lows, highs, colors=None, title: str = "", xlabel: str = "difference",
                zero_label: str = "no difference"):
    """Differences with their confidence intervals, one row per label (top to bottom), and the line at 0.

    labels: (n,) str; means, lows, highs: (n,) numbers (NaN bounds: the point alone); colors: (n,) or None.
    """
    n = len(labels)
    if not (len(means) == len(lows) == len(highs) == n):
        raise ValueError(f"forest_plot needs one mean, low and high per label, got {n} labels and "
                         f"{len(means)}, {len(lows)}, {len(highs)} numbers")
    y = np.arange(n)[::-1]
    colors = list(colors) if colors is not None else ["C0"] * n
    for yi, m, lo, hi, c in zip(y, means, lows, highs, colors):
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [yi, yi], color=c, lw=2.2, solid_capstyle="butt")
        ax.plot([m], [yi], "o", color=c, ms=5)
    ax.axvline(0.0, color="k", lw=0.8, ls="--", label=zero_label)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax
