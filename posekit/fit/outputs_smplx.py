"""The files of an SMPL-X photo fit (``python -m posekit.fit image PHOTO --model smplx``).

The same files as the SMPL fit (``posekit.fit.outputs``): ``DIR/person_0/`` holds fit.npz, fit.json, mesh.obj,
mesh.ply and overlay.png; ``DIR`` holds overlay.png, views.png and people.json. fit.npz / fit.json add to
SMPL's numbers: ``body_pose`` (63,) (SMPL-X's 21 body joints), ``left_hand_pose`` / ``right_hand_pose`` (12,)
hand-PCA coefficients and ``left_hand_pose_full`` / ``right_hand_pose_full`` (45,) the 15 finger joints'
axis-angle they give (the model's mean hand added, as smplx does), ``jaw_pose`` (3,), ``expression`` (10,), and
the 118 whole-body ``keypoints`` / ``confidence`` / ``projected`` (``posekit.fitting.wholebody.WHOLEBODY_NAMES``
order, listed in fit.json as ``keypoint_names``). The overlay draws the mesh with the detected body skeleton,
hand and face points (a part the detector did not find is left out and listed as "not detected" in the legend)
beside a close-up of the head and hands.

As in ``posekit.fit.outputs``: every file's bytes exist before the first is written, each is written atomically,
and a non-finite number is refused (NonFiniteError) with nothing written.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..errors import check_finite
from .outputs import _draw_views, _figure_png, _np, composite_overlay, person_dir, write_blobs

__all__ = ["PARAMS", "BODY25_LIMBS", "HAND_BONES", "PART_COLORS", "prepare_smplx_outputs", "write_smplx_outputs",
           "plot_wholebody_points", "plot_smplx_overlay"]

#: the fitted parameters written (batch row 0 of smplifyx's result)
PARAMS = ("betas", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression",
          "transl")
#: BODY_25 limbs drawn (indices of the body part of the whole-body layout)
BODY25_LIMBS = ((0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (10, 11),
                (8, 12), (12, 13), (13, 14), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (14, 21), (11, 22),
                (11, 24))
#: a hand's bones (21-point order: wrist, then each finger base to tip)
HAND_BONES = tuple((0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4))
#: colour of each part's points
PART_COLORS = {"body": "#ff7f0e", "left_hand": "#1f77b4", "right_hand": "#d62728", "face": "#2ca02c"}


def _full_hand(coeffs, components, mean) -> np.ndarray:
    """hand-PCA coefficients (C,) -> the 15 finger joints' axis-angle (45,), smplx's mean hand added."""
    return _np(coeffs).astype(np.float64) @ _np(components).astype(np.float64) + _np(mean).astype(np.float64)


def _smpl_owner(body_model) -> np.ndarray:
    """(V,) the SMPL joint each SMPL-X vertex belongs to (largest skinning weight; fingers -> their wrist, jaw and
    eyes -> the head), so that ``posekit.fit.outputs``' left/right colours apply."""
    own = _np(body_model.lbs_weights).argmax(1)
    own = np.where((own >= 25) & (own < 40), 20, own)              # left fingers -> left wrist
    own = np.where(own >= 40, 21, own)                             # right fingers -> right wrist
    return np.where((own >= 22) & (own <= 24), 15, own)            # jaw, eyes -> head


def plot_wholebody_points(ax, keypoints, confidence, projected=None, size: float = 12.0) -> None:
    """The whole-body keypoints on a matplotlib axis: body skeleton, hand bones and face landmarks, one colour per
    part; points with confidence 0 are left out; ``projected`` (the fitted body's) as small crosses."""
    from ..fitting.wholebody import GROUPS

    kp, conf = np.asarray(keypoints, dtype=np.float64), np.asarray(confidence, dtype=np.float64)
    seen = conf > 0
    for part, color in PART_COLORS.items():
        rows = np.asarray(list(GROUPS[part]))
        bones = BODY25_LIMBS if part == "body" else HAND_BONES if part.endswith("hand") else ()
        for a, b in bones:
            if seen[rows[a]] and seen[rows[b]]:
                ax.plot(kp[rows[[a, b]], 0], kp[rows[[a, b]], 1], color=color, lw=1.0, alpha=0.9)
        m = rows[seen[rows]]
        label = f"detected {part.replace('_', ' ')} ({len(m)})" if len(m) else f"{part.replace('_', ' ')}: not detected"
        ax.scatter(kp[m, 0], kp[m, 1], s=size if part == "body" else size / 3, c=color, edgecolors="k",
                   linewidths=0.3, zorder=3, label=label)
    if projected is not None:
        pr = np.asarray(projected, dtype=np.float64)
        ax.scatter(pr[:, 0], pr[:, 1], s=size / 2, c="#9467bd", marker="x", linewidths=0.6, zorder=4,
                   label="fitted SMPL-X keypoints")


def plot_smplx_overlay(ax, zoom, result: dict, faces, comp: np.ndarray | None = None) -> None:
    """An SMPL-X photo fit on two matplotlib axes: ``ax`` the mesh over the photo with the detected and fitted
    keypoints, ``zoom`` (or None) a close-up of the face and hands on the bare photo. ``comp``: the mesh already
    blended over the photo (``posekit.fit.outputs.composite_overlay``), computed when None."""
    from ..fitting.wholebody import GROUPS

    p, cam = result["people"][0], result["camera"]
    kp, conf = np.asarray(p["keypoints"]), np.asarray(p["confidence"])
    proj = _np(result["fit"]["projected"][0])
    W, H = result["photo"].size
    if comp is None:
        comp = composite_overlay(result["photo"].image, _np(result["fit"]["vertices"]), faces, cam["focal_length"],
                                 cam["center"])
    panels = [(ax, comp, 12.0)] + ([(zoom, result["photo"].image, 60.0)] if zoom is not None else [])
    for a, image, size in panels:
        a.imshow(image, extent=(0, W, H, 0))
        plot_wholebody_points(a, kp, conf, proj, size=size)
        a.set_xlabel("u (px)")
        a.set_ylabel("v (px)")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_title(f"SMPLify-X, prior: {result['prior']}: mesh, detected and fitted keypoints", fontsize=9)
    ax.legend(loc="lower right", fontsize=6)
    if zoom is None:
        return
    # close-up: the face and the hands the detector found (the head's body points when it found no face)
    rows = [r for part in ("face", "left_hand", "right_hand") for r in GROUPS[part] if conf[r] > 0]
    rows = rows or [r for r in (0, 15, 16, 17, 18) if conf[r] > 0] or list(range(len(kp)))
    pts = np.concatenate([kp[rows], proj[rows]])
    lo, hi = pts.min(0), pts.max(0)
    c, half = 0.5 * (lo + hi), 0.6 * max(hi[0] - lo[0], hi[1] - lo[1], 20.0)
    zoom.set_xlim(c[0] - half, c[0] + half)
    zoom.set_ylim(c[1] + half, c[1] - half)
    zoom.set_title("close-up on the photo: face and hands (dots: detected, crosses: fitted)", fontsize=9)


def _overlay_png(result: dict, faces, comp: np.ndarray) -> bytes:
    """:func:`plot_smplx_overlay` as PNG bytes."""
    import matplotlib

    W, H = result["photo"].size
    fig = matplotlib.figure.Figure(figsize=(11, 5.5 * H / W + 0.6))
    ax, zoom = fig.subplots(1, 2)
    plot_smplx_overlay(ax, zoom, result, faces, comp)
    fig.tight_layout()
    return _figure_png(fig)


def _check_finite(result: dict) -> None:
    fit, cam = result["fit"], result["camera"]
    for k in (*PARAMS, "vertices", "projected"):
        check_finite(f"{k} of the SMPL-X fit", _np(fit[k][0]))
    for k, v in fit["energies"].items():
        check_finite(f"the {k} energy of the SMPL-X fit", _np(v[0]))
    check_finite("the camera's focal length", np.float64(cam["focal_length"]))
    p = result["people"][0]
    check_finite("the keypoints", np.asarray(p["keypoints"], float))
    check_finite("the keypoint confidences", np.asarray(p["confidence"], float))


def prepare_smplx_outputs(result: dict, body_model) -> dict[str, bytes]:
    """{relative path: bytes} of every file (``person_0/`` + ``posekit.fit.outputs.FILES``, then
    ``PEOPLE_FILES``) for a :func:`posekit.photo.fit_smplx.fit_photo_smplx` result; nothing written."""
    import matplotlib
    import trimesh

    from ..fitting.wholebody import WHOLEBODY_NAMES

    _check_finite(result)
    fit, cam, p = result["fit"], result["camera"], result["people"][0]
    faces = np.asarray(_np(body_model.faces_tensor) if hasattr(body_model, "faces_tensor") else body_model.faces,
                       dtype=np.int64)
    arrays = {k: _np(fit[k][0]).astype(np.float64) for k in PARAMS}
    arrays["left_hand_pose_full"] = _full_hand(fit["left_hand_pose"][0], body_model.left_hand_components,
                                               body_model.left_hand_mean)
    arrays["right_hand_pose_full"] = _full_hand(fit["right_hand_pose"][0], body_model.right_hand_components,
                                                body_model.right_hand_mean)
    arrays.update({"focal_length": np.float64(cam["focal_length"]), "center": np.asarray(cam["center"], float),
                   "size": np.asarray(cam["size"], np.int64), "keypoints": np.asarray(p["keypoints"], float),
                   "confidence": np.asarray(p["confidence"], float), "projected": _np(fit["projected"][0]).astype(float)})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    info = {k: v.tolist() for k, v in arrays.items()}
    info.update({"model": "smplx (posekit's open SMPL-X model, hand PCA: 12 coefficients per hand)",
                 "keypoint_names": list(WHOLEBODY_NAMES), "parts_seen": p["parts_seen"],
                 "camera_source": cam["source"], "prior": result["prior"], "image": result["photo"].source,
                 "image_scale": result["photo"].scale, "energies": {k: float(v[0]) for k, v in fit["energies"].items()},
                 "flipped": bool(fit["flipped"][0]), "times_s": result["times"], "person": 0,
                 "box": [float(b) for b in p["box"]], "detection": p["source"],
                 "frame": "camera (OpenCV: x right, y down, z forward), metres; axis-angle rotations"})
    verts = _np(fit["vertices"])
    mesh = trimesh.Trimesh(verts[0], faces, process=False)
    comp = composite_overlay(result["photo"].image, verts, faces, cam["focal_length"], cam["center"])
    overlay = _overlay_png(result, faces, comp)
    d = person_dir(0)
    blobs = {f"{d}/fit.npz": buf.getvalue(), f"{d}/fit.json": (json.dumps(info, indent=1) + "\n").encode(),
             f"{d}/mesh.obj": mesh.export(file_type="obj").encode(), f"{d}/mesh.ply": mesh.export(file_type="ply"),
             f"{d}/overlay.png": overlay, "overlay.png": overlay}
    fig = matplotlib.figure.Figure(figsize=(15, 5))
    axes = fig.subplots(1, 3)
    W, H = result["photo"].size
    axes[0].imshow(comp, extent=(0, W, H, 0))
    plot_wholebody_points(axes[0], p["keypoints"], p["confidence"])
    axes[0].set_xlim(0, W)
    axes[0].set_ylim(H, 0)
    axes[0].set_xlabel("u (px)")
    axes[0].set_ylabel("v (px)")
    axes[0].set_title("the SMPL-X fit over the photo")
    _draw_views(axes[1], axes[2], result, [_smpl_owner(body_model)], None)
    fig.suptitle(f"SMPLify-X, prior: {result['prior']}: the overlay checks 2D only; the side and top views show depth")
    fig.tight_layout()
    blobs["views.png"] = _figure_png(fig)
    blobs["people.json"] = (json.dumps({
        "image": result["photo"].source, "size": list(cam["size"]), "image_scale": result["photo"].scale,
        "focal_length": float(cam["focal_length"]), "camera_source": cam["source"], "prior": result["prior"],
        "model": "smplx", "times_s": result["times"],
        "people": [{"person": 0, "folder": d, "box": info["box"], "detection": p["source"],
                    "parts_seen": p["parts_seen"], "depth_m": float(arrays["transl"][2])}],
        "note": "boxes in pixels of the photo as fitted (divide by image_scale for the original photo)"},
        indent=1) + "\n").encode()
    return blobs


def write_smplx_outputs(result: dict, body_model, out_dir) -> dict[str, Path]:
    """Write :func:`prepare_smplx_outputs` into ``out_dir`` -> {relative path: path}; all bytes exist first."""
    return write_blobs(prepare_smplx_outputs(result, body_model), Path(out_dir))
