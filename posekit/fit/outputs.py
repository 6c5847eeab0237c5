"""The files of a photo fit, prepared in memory first, then each written atomically.

``DIR/fit.npz`` (arrays) and ``DIR/fit.json`` (the same numbers, readable): betas (10,), global_orient
(3,), body_pose (69,), transl (3,) (axis-angle, metres; the camera frame), camera focal_length (px),
center (cx, cy) and size (W, H), the LSP-14 keypoints and confidences, final energies, the prior;
``DIR/mesh.obj`` and ``DIR/mesh.ply``: the fitted mesh in the camera frame (OpenCV axes: x right,
**y down**, z forward; flip y and z to view it upright in a y-up viewer); ``DIR/overlay.png``: the mesh
over the photo with the keypoints.

Every file's bytes exist before the first one is written (an error while preparing leaves ``DIR``
untouched), and each is written through ``posekit.utils.atomic_path`` (never half a file). A fit with a NaN
or infinite number (parameters, vertices, projected keypoints, energies, camera) is refused with
:class:`~posekit.errors.NonFiniteError` naming it, and nothing is written.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..errors import check_finite, check_output_file
from ..utils import atomic_path

__all__ = ["FILES", "PEOPLE_FILES", "prepare_outputs", "write_outputs", "check_fit_finite", "composite_overlay",
           "people_figures", "plot_people", "plot_views", "prepare_people_outputs", "write_people_outputs", "person_dir"]

FILES = ("fit.npz", "fit.json", "mesh.obj", "mesh.ply", "overlay.png")


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _overlay_png(result: dict, faces: np.ndarray, dpi: int = 100) -> bytes:
    import matplotlib

    from ..skeleton import LIMB_PAIRS
    from ..viz.render import plot_overlay

    fig = matplotlib.figure.Figure(figsize=(6.4, 6.4 * result["photo"].size[1] / result["photo"].size[0] + 0.4))
    ax = fig.add_subplot(1, 1, 1)
    fit, cam = result["fit"], result["camera"]
    plot_overlay(ax, result["photo"].image, _np(fit["vertices"][0]), faces, cam["focal_length"], cam["center"],
                 keypoints=result["keypoints"], confidence=result["confidence"], projected=_np(fit["projected"][0]),
                 limbs=LIMB_PAIRS, title=f"SMPLify, prior: {result['prior']}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def check_fit_finite(result: dict) -> None:
    """Every number of a photo fit that goes into the files is finite, else NonFiniteError naming it."""
    fit, cam = result["fit"], result["camera"]
    for k in ("betas", "global_orient", "body_pose", "transl", "vertices", "projected"):
        check_finite(f"{k} of the fit", _np(fit[k][0]))
    for k, v in fit["energies"].items():
        check_finite(f"the {k} energy of the fit", _np(v[0]))
    check_finite("the camera's focal length", np.float64(cam["focal_length"]))
    check_finite("the camera's centre", np.asarray(cam["center"], float))
    check_finite("the keypoints", np.asarray(result["keypoints"], float))
    check_finite("the keypoint confidences", np.asarray(result["confidence"], float))


def prepare_outputs(result: dict, faces) -> dict[str, bytes]:
    """{file name: bytes} for every file in :data:`FILES` (nothing written; a non-finite fit is refused)."""
    import trimesh

    check_fit_finite(result)
    fit, cam = result["fit"], result["camera"]
    faces = np.asarray(faces, dtype=np.int64)
    params = {k: _np(fit[k][0]).astype(np.float64) for k in ("betas", "global_orient", "body_pose", "transl")}
    arrays = {**params, "focal_length": np.float64(cam["focal_length"]), "center": np.asarray(cam["center"], float),
              "size": np.asarray(cam["size"], np.int64), "keypoints": np.asarray(result["keypoints"], float),
              "confidence": np.asarray(result["confidence"], float), "projected": _np(fit["projected"][0]).astype(float)}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    info = {k: v.tolist() for k, v in arrays.items()}
    info.update({"camera_source": cam["source"], "prior": result["prior"], "image": result["photo"].source,
                 "image_scale": result["photo"].scale,
                 "energies": {k: float(v[0]) for k, v in fit["energies"].items()},
                 "flipped": bool(fit["flipped"][0]), "times_s": result["times"],
                 "frame": "camera (OpenCV: x right, y down, z forward), metres; axis-angle rotations"})
    mesh = trimesh.Trimesh(_np(fit["vertices"][0]), faces, process=False)
    return {"fit.npz": buf.getvalue(), "fit.json": (json.dumps(info, indent=1) + "\n").encode(),
            "mesh.obj": mesh.export(file_type="obj").encode(), "mesh.ply": mesh.export(file_type="ply"),
            "overlay.png": _overlay_png(result, faces)}


def write_outputs(result: dict, faces, out_dir) -> dict[str, Path]:
    """Write :data:`FILES` into ``out_dir`` (created when absent) -> {name: path}."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    blobs = prepare_outputs(result, faces)
    paths = {}
    for name, data in blobs.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(data)
        paths[name] = out / name
    return paths


# ------------------------------------------------------------------------------------------------ several people

#: files of a photo fit with one or more people: per person, ``person_K/`` holds :data:`FILES`
PEOPLE_FILES = ("overlay.png", "views.png", "people.json")
#: SMPL joints on the person's left and right (the views colour their vertices)
LEFT_JOINTS = (1, 4, 7, 10, 13, 16, 18, 20, 22)
RIGHT_JOINTS = (2, 5, 8, 11, 14, 17, 19, 21, 23)
LEFT_COLOR, RIGHT_COLOR, MIDDLE_COLOR = (0.25, 0.45, 0.90), (0.90, 0.30, 0.25), (0.60, 0.60, 0.60)
#: one colour per person in the combined overlay (cycled)
PERSON_COLORS = ((0.55, 0.70, 0.95), (0.95, 0.70, 0.45), (0.60, 0.85, 0.55), (0.85, 0.60, 0.85),
                 (0.95, 0.90, 0.50), (0.55, 0.85, 0.85))
#: opacity of the mesh over the photo: parts the photo shows, parts placed by the prior alone
ALPHA_OBSERVED, ALPHA_PRIOR_ONLY = 0.75, 0.3


def person_dir(k: int) -> str:
    return f"person_{k}"


def _owner(lbs_weights, n_vertices: int) -> np.ndarray | None:
    if lbs_weights is None:
        return None
    w = _np(lbs_weights)
    return w.argmax(1) if w.shape[0] == n_vertices else None


def _hidden_vertices(lbs_weights, confidence) -> np.ndarray:
    from ..photo.fit import prior_only_vertices

    return prior_only_vertices(lbs_weights, confidence)


def composite_overlay(image, vertices, faces, focal_length, center, colors=None, hidden=None) -> np.ndarray:
    """Every person's mesh over the photo in one z-buffer (the nearest surface wins per pixel, whoever it
    belongs to) -> uint8 (H,W,3). vertices (P,V,3) camera frame; ``colors`` one RGB per person; ``hidden``
    (P,V) bool: vertices drawn faint and grey (the parts only the prior placed)."""
    from ..viz.render import project_points, rasterize, vertex_normals

    img = np.asarray(image)
    H, W = img.shape[:2]
    verts = _np(vertices).astype(np.float64)
    P, V = verts.shape[:2]
    f = np.asarray(faces, dtype=np.int64)
    allv = verts.reshape(-1, 3)
    allf = np.concatenate([f + k * V for k in range(P)])
    uv, z = project_points(allv, focal_length, center)
    r = rasterize(uv, z, allf, (W, H))
    out = img.astype(np.float64) / 255.0
    mask = r["mask"]
    if not mask.any():
        return img.copy()
    normals = np.concatenate([vertex_normals(verts[k], f) for k in range(P)])
    tri = allf[r["face"][mask]]                                              # (M,3)
    n = (r["bary"][mask][..., None] * normals[tri]).sum(1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = np.array([0.3, -0.4, 1.0]) / np.linalg.norm([0.3, -0.4, 1.0])
    inten = 0.35 + 0.65 * np.abs(n @ light)                                  # (M,)
    who = r["face"][mask] // len(f)                                          # (M,) person of each pixel
    cols = np.asarray(colors if colors is not None else [PERSON_COLORS[k % len(PERSON_COLORS)] for k in range(P)])
    col = cols[who]
    alpha = np.full(len(who), ALPHA_OBSERVED)
    if hidden is not None:
        hv = np.asarray(hidden, bool).reshape(-1)                            # (P*V,)
        faint = (r["bary"][mask] * hv[tri]).sum(1) > 0.5                     # the pixel's surface is mostly hidden
        col = np.where(faint[:, None], 0.5 * col + 0.5 * np.array(MIDDLE_COLOR), col)
        alpha = np.where(faint, ALPHA_PRIOR_ONLY, alpha)
    out[mask] = (1 - alpha[:, None]) * out[mask] + alpha[:, None] * inten[:, None] * col
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def _draw_people_2d(ax, result, composite):
    """The composite overlay, each person's box, observed keypoints (dots) and unobserved ones (hollow rings at the
    fitted body's projection, where the prior put them)."""
    from matplotlib.patches import Rectangle

    from ..skeleton import LIMB_PAIRS

    W, H = result["photo"].size
    ax.imshow(composite, extent=(0, W, H, 0))
    proj = _np(result["fit"]["projected"])
    for k, p in enumerate(result["people"]):
        c = PERSON_COLORS[k % len(PERSON_COLORS)]
        x0, y0, x1, y1 = p["box"]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=c, lw=1.2, ls="--"))
        ax.text(x0, y0, f" {k}", color="k", fontsize=7, va="bottom", bbox={"fc": c, "ec": "none", "pad": 1})
        kp, conf = np.asarray(p["keypoints"]), np.asarray(p["confidence"])
        vis = conf > 0
        for a, b in LIMB_PAIRS:
            if vis[a] and vis[b]:
                ax.plot(kp[[a, b], 0], kp[[a, b], 1], color="#ff7f0e", lw=1.0, alpha=0.9)
        ax.scatter(kp[vis, 0], kp[vis, 1], s=10, c="#ff7f0e", edgecolors="k", linewidths=0.4, zorder=3,
                   label="detected keypoints" if k == 0 else None)
        if (~vis).any():
            ax.scatter(proj[k, ~vis, 0], proj[k, ~vis, 1], s=22, facecolors="none", edgecolors="#7f7f7f",
                       linewidths=0.9, zorder=3, label="not observed: placed by the prior" if k == 0 else None)
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")
    ax.legend(loc="lower right", fontsize=6)


def _draw_views(ax_side, ax_top, result, owners, hiddens):
    """Side (depth z → right, up ↑) and top (x → right, depth z ↑) views of every mesh in the camera frame,
    left/right coloured, with the camera at the origin and its field of view."""
    verts = _np(result["fit"]["vertices"])
    cam = result["camera"]
    W, H = cam["size"]
    f = cam["focal_length"]
    zmax = float(verts[..., 2].max()) * 1.15 if verts.size else 1.0
    for k in range(len(verts)):
        v = verts[k]
        own = owners[k] if owners is not None else None
        cols = np.tile(MIDDLE_COLOR, (len(v), 1))
        if own is not None:
            cols[np.isin(own, LEFT_JOINTS)] = LEFT_COLOR
            cols[np.isin(own, RIGHT_JOINTS)] = RIGHT_COLOR
        seen = ~hiddens[k] if hiddens is not None else np.ones(len(v), bool)
        for m, a in ((seen, 0.8), (~seen, 0.15)):
            ax_side.scatter(v[m, 2], -v[m, 1], s=1, c=cols[m], alpha=a, linewidths=0)
            ax_top.scatter(v[m, 0], v[m, 2], s=1, c=cols[m], alpha=a, linewidths=0)
        ax_top.annotate(str(k), (v[:, 0].mean(), v[:, 2].max()), fontsize=7, ha="center", va="bottom")
    # the camera at the origin and the rays through the image's edges
    for ax, (lo, hi), flip in ((ax_side, (-H / 2, H / 2), -1.0), (ax_top, (-W / 2, W / 2), 1.0)):
        for e in (lo, hi):
            d = e / f
            if ax is ax_side:
                ax.plot([0, zmax], [0, flip * d * zmax], color="k", lw=0.6, ls=":")
            else:
                ax.plot([0, d * zmax], [0, zmax], color="k", lw=0.6, ls=":")
        ax.plot([0], [0], marker="^" if ax is ax_top else ">", color="k", ms=7, ls="none", label="camera")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    ax_side.scatter([], [], c=[LEFT_COLOR], s=8, label="person's left")
    ax_side.scatter([], [], c=[RIGHT_COLOR], s=8, label="person's right")
    ax_side.set_title("side view (from the right)")
    ax_side.set_xlabel("depth z (m)")
    ax_side.set_ylabel("height −y (m)")
    ax_side.legend(loc="lower right", fontsize=6)
    ax_top.set_title("top view")
    ax_top.set_xlabel("x (m, image right)")
    ax_top.set_ylabel("depth z (m)")


def _views_inputs(result: dict, faces, lbs_weights=None):
    verts = _np(result["fit"]["vertices"])
    P, V = verts.shape[:2]
    owner = _owner(lbs_weights, V)
    owners = [owner] * P if owner is not None else None
    hiddens = ([_hidden_vertices(lbs_weights, p["confidence"]) for p in result["people"]] if owner is not None
               else None)
    cam = result["camera"]
    comp = composite_overlay(result["photo"].image, verts, faces, cam["focal_length"], cam["center"],
                             hidden=np.stack(hiddens) if hiddens is not None else None)
    return comp, owners, hiddens


def plot_people(ax, result: dict, faces, lbs_weights=None) -> None:
    """A :func:`posekit.photo.fit.fit_people` result on a matplotlib axis: every mesh over the photo (faint where
    only the prior placed it; needs ``lbs_weights``), the boxes, observed keypoints and unobserved ones."""
    comp, _, _ = _views_inputs(result, faces, lbs_weights)
    _draw_people_2d(ax, result, comp)


def plot_views(ax_side, ax_top, result: dict, lbs_weights=None) -> None:
    """Side and top views of every fitted mesh with the camera (``lbs_weights``: left/right colours)."""
    verts = _np(result["fit"]["vertices"])
    P, V = verts.shape[:2]
    owner = _owner(lbs_weights, V)
    hiddens = ([_hidden_vertices(lbs_weights, p["confidence"]) for p in result["people"]] if owner is not None
               else None)
    _draw_views(ax_side, ax_top, result, [owner] * P if owner is not None else None, hiddens)


def _figure_png(fig, dpi=100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def people_figures(result: dict, faces, lbs_weights=None) -> dict[str, bytes]:
    """{"overlay.png": every mesh over the photo, "views.png": the overlay beside a side and a top view}."""
    import matplotlib

    comp, owners, hiddens = _views_inputs(result, faces, lbs_weights)
    W, H = result["photo"].size
    n = len(result["people"])
    title = f"SMPLify, prior: {result['prior']}, {n} {'person' if n == 1 else 'people'}"
    fig = matplotlib.figure.Figure(figsize=(6.4, 6.4 * H / W + 0.5))
    ax = fig.add_subplot(1, 1, 1)
    _draw_people_2d(ax, result, comp)
    ax.set_title(title + (" (faint: parts only the prior placed)" if hiddens is not None and
                          any(p["prior_only"] for p in result["people"]) else ""), fontsize=9)
    fig.tight_layout()
    overlay = _figure_png(fig)
    fig = matplotlib.figure.Figure(figsize=(15, 5))
    axes = fig.subplots(1, 3)
    _draw_people_2d(axes[0], result, comp)
    axes[0].set_title("the fit over the photo (boxes: detections)")
    _draw_views(axes[1], axes[2], result, owners, hiddens)
    fig.suptitle(title + ": the overlay checks 2D only; the side and top views show depth")
    fig.tight_layout()
    return {"overlay.png": overlay, "views.png": _figure_png(fig)}


def _person_result(result: dict, k: int) -> dict:
    """Person ``k`` of a several-people result as a one-person result (batch of one)."""
    fit = result["fit"]
    one = {}
    for key, v in fit.items():
        if key == "energies":
            one[key] = {t: e[k:k + 1] for t, e in v.items()}
        elif hasattr(v, "shape") and getattr(v, "ndim", 0) >= 1 and v.shape[0] == len(result["people"]):
            one[key] = v[k:k + 1]
    p = result["people"][k]
    return {"photo": result["photo"], "camera": result["camera"], "keypoints": p["keypoints"],
            "confidence": p["confidence"], "fit": one, "prior": result["prior"], "times": result["times"]}


def prepare_people_outputs(result: dict, faces, lbs_weights=None) -> dict[str, bytes]:
    """{relative path: bytes}: ``person_K/`` + :data:`FILES` per person, then :data:`PEOPLE_FILES` (nothing
    written; a non-finite number anywhere is refused first)."""
    people = result["people"]
    singles = [_person_result(result, k) for k in range(len(people))]
    for s in singles:
        check_fit_finite(s)
    blobs: dict[str, bytes] = {}
    summary = []
    for k, (p, s) in enumerate(zip(people, singles)):
        files = prepare_outputs(s, faces)
        info = json.loads(files["fit.json"])
        extra = {"person": k, "box": [float(b) for b in p["box"]], "detection": p.get("source", ""),
                 "prior_only_parts": list(p.get("prior_only", [])),
                 "unobserved_keypoints": list(p.get("unobserved", []))}
        info.update(extra)
        files["fit.json"] = (json.dumps(info, indent=1) + "\n").encode()
        for name, data in files.items():
            blobs[f"{person_dir(k)}/{name}"] = data
        summary.append({**extra, "folder": person_dir(k), "depth_m": float(_np(s["fit"]["transl"][0])[2])})
    blobs.update(people_figures(result, faces, lbs_weights))
    cam = result["camera"]
    blobs["people.json"] = (json.dumps({
        "image": result["photo"].source, "size": list(cam["size"]), "image_scale": result["photo"].scale,
        "focal_length": float(cam["focal_length"]), "camera_source": cam["source"], "prior": result["prior"],
        "times_s": result["times"], "people": summary,
        "note": "boxes in pixels of the photo as fitted (divide by image_scale for the original photo)"},
        indent=1) + "\n").encode()
    return blobs


def write_people_outputs(result: dict, faces, out_dir, lbs_weights=None) -> dict[str, Path]:
    """Write :func:`prepare_people_outputs` into ``out_dir`` -> {relative path: path}; all bytes exist first."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    return write_blobs(prepare_people_outputs(result, faces, lbs_weights), out)


def write_blobs(blobs: dict[str, bytes], out: Path) -> dict[str, Path]:
    """Write {relative path: bytes} under ``out`` -> {relative path: path}: every path is checked before the first
    byte is written (a folder in the way of a later file is refused first), each file written atomically."""
    for name in blobs:
        check_output_file(out / name, "--out")
    paths = {}
    for name, data in blobs.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        paths[name] = path
    return paths
