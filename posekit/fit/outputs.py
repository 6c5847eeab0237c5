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

from ..errors import check_finite
from ..utils import atomic_path

__all__ = ["FILES", "prepare_outputs", "write_outputs", "check_fit_finite"]

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
