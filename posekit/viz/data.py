"""Figures for chapter 00 (the human pose distribution): pose galleries on the body model,
joint-angle histograms and per-joint ranges, rotation-distance plots.

Angles: a joint's local rotation is shown as intrinsic Euler angles in degrees about SMPL's T-pose
axes (x = flexion axis of hips/knees/spine, y = the vertical / elbow axis, z = the frontal-plane axis),
decomposed with the joint's main axis first (:func:`euler_order`), and as its total angle |θ|.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from posekit.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS

from .mesh import plot_gallery

__all__ = ["pose_gallery", "euler_angles", "joint_angle_ranges", "format_ranges", "joint_angle_histograms",
           "plot_joint_ranges", "euler_order", "DEFAULT_HIST_JOINTS", "plot_data_card", "plot_retarget_quality"]

DEFAULT_HIST_JOINTS = ("left_hip", "left_knee", "left_ankle", "spine1", "neck", "left_shoulder", "left_elbow",
                       "left_wrist")


def _poses24(poses) -> np.ndarray:
    p = poses.detach().cpu().numpy() if isinstance(poses, torch.Tensor) else np.asarray(poses)
    p = p.astype(np.float64)
    if p.ndim == 2 and p.shape[1] == 72:
        p = p.reshape(-1, 24, 3)
    if p.ndim != 3 or p.shape[1:] != (24, 3):
        raise ValueError(f"expected SMPL poses (N, 24, 3) or (N, 72) axis-angle, got {p.shape}")
    return p


def pose_gallery(poses, body_model=None, titles: Sequence[str] | None = None, keep_global_orient: bool = False,
                 view: str = "front", ncols: int | None = None, suptitle: str | None = None, color="#8fb3d9",
                 skeleton: bool = False):
    """Static renders of SMPL poses (N, 24, 3) on the body model -> matplotlib Figure.

    The global orientation is zeroed by default (every body faces the camera) so the panels compare
    body poses; ``body_model`` defaults to ``posekit.body.load_body_model()`` (the open model).
    """
    from posekit.body import forward, load_body_model
    p = torch.as_tensor(_poses24(poses), dtype=torch.float32)
    if body_model is None:
        body_model = load_body_model(device="cpu")
    go = p[:, 0] if keep_global_orient else torch.zeros(len(p), 3)
    with torch.no_grad():
        out = forward(body_model, global_orient=go, body_pose=p[:, 1:].reshape(len(p), 69))
    verts = out.vertices.cpu().numpy()
    joints = out.joints[:, :24].cpu().numpy() if skeleton else None
    return plot_gallery(list(verts), body_model.faces, titles=titles, view=view, ncols=ncols, colors=color,
                        joints_list=None if joints is None else list(joints),
                        parents=SMPL_PARENTS if skeleton else None,
                        suptitle=suptitle or f"{len(p)} poses on the body model")


def euler_order(joint: str) -> str:
    """Intrinsic Euler order whose FIRST axis is the joint's main motion axis in SMPL's T-pose frame
    (elbows: y; shoulders and collars: z; all others: x), so that the main motion is read on the axis
    with the full (-180, 180] range and the middle-axis ambiguity (at ±90°) hits only the small motions."""
    first = "Y" if joint.endswith("elbow") else "Z" if joint.endswith(("shoulder", "collar")) else "X"
    return first + "".join(a for a in "XYZ" if a != first)


def euler_angles(poses, joints: Sequence[str] = DEFAULT_HIST_JOINTS) -> dict[str, np.ndarray]:
    """{joint: (N, 3) Euler angles in degrees, columns (x, y, z)} of the local joint rotations, decomposed
    in the order :func:`euler_order` picks for the joint."""
    p = _poses24(poses)
    out = {}
    for j in joints:
        order = euler_order(j)
        e = Rotation.from_rotvec(p[:, SMPL_JOINT_NAMES.index(j)]).as_euler(order, degrees=True)
        out[j] = e[:, [order.index(a) for a in "XYZ"]]
    return out


def joint_angle_ranges(poses, joints: Sequence[str] = SMPL_JOINT_NAMES[1:22], q: float = 1.0) -> list[dict]:
    """Per joint: the [q, 100 - q] percentile range of each Euler angle and of |θ| (degrees)."""
    p = _poses24(poses)
    rows = []
    eul = euler_angles(p, joints)
    for j in joints:
        aa = p[:, SMPL_JOINT_NAMES.index(j)]
        e = eul[j]
        lo, hi = np.percentile(e, q, axis=0), np.percentile(e, 100 - q, axis=0)
        ang = np.rad2deg(np.linalg.norm(aa, axis=1))
        rows.append({"joint": j, "x": (lo[0], hi[0]), "y": (lo[1], hi[1]), "z": (lo[2], hi[2]),
                     "angle_median": float(np.median(ang)), "angle_p99": float(np.percentile(ang, 100 - q))})
    return rows


def format_ranges(rows: list[dict]) -> str:
    """A text table of :func:`joint_angle_ranges` rows."""
    lines = [f"{'joint':<15} {'x range (deg)':>16} {'y range (deg)':>16} {'z range (deg)':>16} {'|θ| median':>10} {'|θ| p99':>8}"]
    for r in rows:
        f = lambda t: f"[{t[0]:6.1f},{t[1]:6.1f}]"
        lines.append(f"{r['joint']:<15} {f(r['x']):>16} {f(r['y']):>16} {f(r['z']):>16} "
                     f"{r['angle_median']:>10.1f} {r['angle_p99']:>8.1f}")
    return "\n".join(lines)


def joint_angle_histograms(datasets: dict, joints: Sequence[str] = DEFAULT_HIST_JOINTS, bins: int = 60,
                           ncols: int = 4, title: str = "Joint-angle histograms (local Euler angles, degrees)"):
    """Histograms of the x / y / z Euler angles of selected joints, one panel per joint and axis
    colour; ``datasets``: {label: poses (N, 24, 3)} (several labels are overlaid, e.g. real vs SYNTHETIC)."""
    if not datasets:
        raise ValueError("joint_angle_histograms needs at least one dataset {label: poses}")
    eul = {k: euler_angles(v, joints) for k, v in datasets.items()}
    nrows = int(np.ceil(len(joints) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c")
    styles = ("stepfilled", "step")
    for i, ax in enumerate(axes.ravel()):
        if i >= len(joints):
            ax.axis("off")
            continue
        j = joints[i]
        top, top_spread = 0.0, 0.0   # highest bar / of the first dataset's angles that vary (10-90% > 10°)
        for d, (label, e) in enumerate(eul.items()):
            for a in range(3):
                h, _, _ = ax.hist(e[j][:, a], bins=bins, range=(-180, 180), density=True, histtype=styles[d % 2],
                                  alpha=0.45 if d % 2 == 0 else 0.9, color=colors[a], linewidth=1.2,
                                  label=f"{'xyz'[a]} {label}" if i == 0 else None)
                top = max(top, float(np.max(h)))
                if d == 0 and np.subtract(*np.percentile(e[j][:, a], [90, 10])) > 10.0:
                    top_spread = max(top_spread, float(np.max(h)))
        panel_title = j
        if top_spread > 0 and top > 2.5 * top_spread:   # near-constant angles are tall spikes: clip them
            ax.set_ylim(0, 1.3 * top_spread)
            panel_title += " (spikes clipped)"
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel("angle (deg)", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.legend(loc="lower center", ncol=3 * len(eul), fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_joint_ranges(datasets: dict, joints: Sequence[str] = SMPL_JOINT_NAMES[1:22], q: float = 1.0,
                      title: str = "Range of the total joint rotation |θ| per joint"):
    """Horizontal bars: the median and the [q, 100-q] percentile range of |θ| per joint, per dataset."""
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(joints) + 1.2))
    n = len(datasets)
    for d, (label, poses) in enumerate(datasets.items()):
        p = _poses24(poses)
        ang = np.rad2deg(np.linalg.norm(p[:, [SMPL_JOINT_NAMES.index(j) for j in joints]], axis=-1))  # (N, J)
        lo, med, hi = (np.percentile(ang, s, axis=0) for s in (q, 50, 100 - q))
        y = np.arange(len(joints)) + (d - (n - 1) / 2) * 0.8 / max(n, 1)
        ax.hlines(y, lo, hi, linewidth=4, alpha=0.6, color=f"C{d}", label=f"{label} ({q:g}-{100 - q:g}%)")
        ax.plot(med, y, "|", color="k", markersize=8)
    ax.set_yticks(np.arange(len(joints)))
    ax.set_yticklabels(joints, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("total rotation angle |θ| (deg)")
    ax.set_ylabel("joint")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


SPLIT_COLORS = {"train": "C0", "val": "C1", "test": "C3"}


def plot_data_card(subject_rows: Sequence[dict], activity_rows: Sequence[dict], top: int = 20,
                   title: str = "What the motion data holds"):
    """Two panels from a data card (``posekit.data.report``): minutes per subject coloured by split, and
    poses (frames at 30 fps) of the ``top`` most frequent activities.

    subject_rows: {"subject", "minutes", "splits"}; activity_rows: {"activity", "frames"}.
    """
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
    subj = list(subject_rows)
    colors = [SPLIT_COLORS.get(r["splits"][0], "C7") for r in subj]
    a0.bar(range(len(subj)), [r["minutes"] for r in subj], color=colors)
    a0.set_xticks(range(len(subj)))
    a0.set_xticklabels([r["subject"] for r in subj], rotation=70, fontsize=8)
    a0.set_xlabel("subject (CMU id or clip name)")
    a0.set_ylabel("minutes of motion (distinct trials)")
    a0.set_title("minutes per subject")
    from matplotlib.patches import Patch
    a0.legend(handles=[Patch(color=c, label=split) for split, c in SPLIT_COLORS.items()], title="split", fontsize=8)
    acts = sorted(activity_rows, key=lambda r: -r["frames"])[:top]
    a1.barh(range(len(acts)), [r["frames"] for r in acts], color="C2")
    a1.set_yticks(range(len(acts)))
    a1.set_yticklabels([str(r["activity"])[:38] for r in acts], fontsize=7)
    a1.invert_yaxis()
    a1.set_xlabel("poses (frames at 30 fps)")
    a1.set_ylabel("activity (CMU index)")
    a1.set_title(f"poses per activity (top {len(acts)})")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_retarget_quality(rows: Sequence[dict], title: str = "Retargeting quality per source format"):
    """Per-file mean bone-direction angle (degrees, log scale) between source skeleton and SMPL, one row
    per format: after the rest alignment alone ("rest", ``quality_rest_mean_deg``) and with posekit's
    per-frame direction correction (``quality_mean_deg``). Files without a measurement are left out."""
    rows = [r for r in rows if r.get("quality_mean_deg") is not None]
    formats = sorted({r["format"] for r in rows})
    fig, ax = plt.subplots(figsize=(8, 0.8 * len(formats) + 1.4))
    rng = np.random.default_rng(0)
    for key, marker, dy, label in (("quality_rest_mean_deg", "o", 0.17, "rest alignment only"),
                                   ("quality_mean_deg", "^", -0.17, "with direction correction")):
        for i, f in enumerate(formats):
            v = np.array([r[key] for r in rows if r["format"] == f and r.get(key) is not None])
            if not len(v):
                continue
            ax.scatter(np.maximum(v, 1e-4), i + dy + rng.uniform(-0.08, 0.08, len(v)), s=10, alpha=0.6,
                       marker=marker, color=f"C{i}", label=label if i == 0 else None)
            ax.text(max(v.max(), 1e-4) * 1.4, i + dy, f"mean {v.mean():.3f}° ({len(v)} files)", va="center",
                    fontsize=7)
    ax.set_xscale("log")
    ax.set_yticks(range(len(formats)))
    ax.set_yticklabels(formats)
    ax.set_xlabel("mean bone-direction angle per file (degrees, log scale)")
    ax.set_ylabel("source format")
    ax.set_title(title)
    ax.set_xlim(right=ax.get_xlim()[1] * 40)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
