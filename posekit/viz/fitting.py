"""Chapter 02 figures: 2D keypoints over the projected fitted mesh, energy curves per stage, side views."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import PolyCollection

from ..skeleton import LIMB_PAIRS

__all__ = ["draw_projected_mesh", "plot_keypoint_overlay", "plot_energy_curves", "plot_side_view",
           "plot_fit_grid"]

TERM_COLORS = {"data": "#1f77b4", "pose": "#ff7f0e", "angle": "#2ca02c", "shape": "#9467bd",
               "interpenetration": "#d62728", "total": "black"}


def _np(x):
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def draw_projected_mesh(ax, vertices, faces, focal_length: float, center, color=(0.75, 0.78, 0.85), alpha=0.9):
    """Perspective-project a camera-frame mesh (V,3) and draw it depth-sorted and shaded on ``ax``."""
    v, f = _np(vertices), _np(faces).astype(np.int64)
    z = np.maximum(v[:, 2], 1e-3)
    uv = focal_length * v[:, :2] / z[:, None] + _np(center)[None]
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    shade = 0.35 + 0.65 * np.abs(n[:, 2])
    rgba = np.tile(np.array([*color, alpha]), (len(f), 1))
    rgba[:, :3] *= shade[:, None]
    order = np.argsort(-z[f].mean(1))                                   # far first
    ax.add_collection(PolyCollection(uv[f[order]], facecolors=rgba[order], edgecolors="none"))
    return uv


def _skeleton(ax, kp, conf, color, label, marker):
    kp, conf = _np(kp), _np(conf)
    for a, b in LIMB_PAIRS:
        if conf[a] > 0 and conf[b] > 0:
            ax.plot(kp[[a, b], 0], kp[[a, b], 1], color=color, lw=1.5, alpha=0.8)
    vis = conf > 0
    ax.scatter(kp[vis, 0], kp[vis, 1], c=color, s=18, marker=marker, label=label, zorder=3)


def plot_keypoint_overlay(ax, fit: dict, views: dict, i: int, faces, title: str | None = None, show_truth=True,
                          fit_label: str = "fitted", crop: bool = True):
    """Image ``i``: the fitted mesh projected with the known camera, the observed keypoints (green),
    the fitted model's keypoints (red, labelled ``fit_label``) and, when given, the true positions of
    dropped keypoints (grey squares). ``crop``: zoom on the body (pixel coordinates are kept), else the
    whole image."""
    W, H = _np(views["image_size"][i])
    f = float(views["focal_length"][i])
    uv = draw_projected_mesh(ax, fit["vertices"][i], faces, f, (W / 2, H / 2))
    _skeleton(ax, views["keypoints_2d"][i], views["confidence"][i], "#2ca02c", "observed", "o")
    _skeleton(ax, fit["projected"][i], np.ones(len(fit["projected"][i])), "#d62728", fit_label, "x")
    hidden = _np(views["confidence"][i]) == 0
    if show_truth and "keypoints_clean" in views and hidden.any():
        kc = _np(views["keypoints_clean"][i])
        ax.scatter(kc[hidden, 0], kc[hidden, 1], c="grey", marker="s", s=20, label="dropped (truth)")
    if crop:                                   # square box around mesh and keypoints, 15 % margin
        conf = _np(views["confidence"][i]) > 0
        pts = np.concatenate([uv, _np(views["keypoints_2d"][i])[conf], _np(fit["projected"][i])])
        lo, hi = pts.min(0), pts.max(0)
        c, r = 0.5 * (lo + hi), 0.5 * 1.15 * (hi - lo).max() + 10.0
        ax.set_xlim(c[0] - r, c[0] + r)
        ax.set_ylim(c[1] + r, c[1] - r)
    else:
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")
    ax.set_title(title or f"image {i}")
    ax.legend(loc="lower right", fontsize=7)


def plot_energy_curves(trace, i: int = 0, ax=None, terms=("data", "pose", "angle", "shape", "interpenetration", "total"),
                       title: str = "SMPLify energy per term, stage by stage"):
    """Per-term energy of image ``i`` over the optimisation steps; stages separated by dotted lines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    x0 = 0
    for s in trace:
        if s["stage"] == "camera":
            continue
        n = s["total"].shape[0]
        xs = np.arange(x0, x0 + n)
        for t in terms:
            y = _np(s[t][:, i])
            if np.all(y <= 0):
                continue
            ax.plot(xs, np.maximum(y, 1e-2), color=TERM_COLORS[t], lw=2 if t == "total" else 1.2,
                    ls="--" if t == "total" else "-", label=t if x0 == 0 else None)   # dashed: terms show through
        ax.axvline(x0, color="grey", ls=":", lw=1)
        w = s.get("weights", {})
        ax.text(x0 + 1, 0.98, f"{s['stage']}\nw={w.get('pose', '')}", fontsize=7, va="top",
                transform=ax.get_xaxis_transform())
        x0 += n
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step (all stages)")
    ax.set_ylabel("energy (weighted term)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=3)
    return ax


def plot_side_view(ax, fits: dict, truth_joints, i: int = 0, parents=None, title="side view (camera looks along +z)"):
    """Skeletons of image ``i`` seen from the side: depth z (m) against height −y (m), pelvis-aligned,
    so that fits that agree in 2D but differ in depth show apart. ``fits``: {label: joints (B,24,3)}."""
    from ..skeleton import SMPL_PARENTS

    parents = parents or SMPL_PARENTS
    colors = ["black", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"]
    allj = {"truth": truth_joints, **fits}
    for c, (name, J) in zip(colors, allj.items()):
        j = _np(J[i])
        j = j - j[0]
        for k, p in enumerate(parents):
            if p >= 0:
                ax.plot([j[p, 2], j[k, 2]], [-j[p, 1], -j[k, 1]], color=c, lw=2 if name == "truth" else 1.3,
                        label=name if k == 1 else None)
    ax.set_aspect("equal")
    ax.set_xlabel("depth z relative to the pelvis (m)")
    ax.set_ylabel("height −y (m)")
    ax.set_title(title)
    ax.legend(fontsize=8)


def plot_fit_grid(fits: dict, views: dict, faces, images=(0, 1, 2), suptitle: str = "fits per setting"):
    """Rows: images; columns: settings ({label: smplify result}). Keypoint overlays."""
    fig, axes = plt.subplots(len(images), len(fits), figsize=(3.4 * len(fits), 3.4 * len(images)), squeeze=False)
    for r, i in enumerate(images):
        for c, (label, fit) in enumerate(fits.items()):
            plot_keypoint_overlay(axes[r, c], fit, views, i, faces, title=f"{label}\n(image {i})")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
