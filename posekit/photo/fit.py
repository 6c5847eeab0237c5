"""One photo -> one fitted body: load, camera, detect, SMPLify (``posekit.fitting.smplify``).

``fit_photo(image, prior="gmm")`` returns a dict: ``photo`` (:class:`~posekit.photo.io.Photo`),
``camera`` ({"focal_length", "center", "size", "source"}), ``keypoints`` (14,2) px and ``confidence`` (14,)
(LSP-14, from the detector unless given), ``fit`` (smplify's result, batch of one), ``prior`` (its name),
``times`` ({"load", "detect", "fit"} s).

The default optimisation budget (:data:`PHOTO_OPTIONS`) is smaller than SMPLify's (100 steps per stage):
one photo is fitted in a few seconds on a laptop CPU (``benchmarks/photo.py`` measures it).
"""
from __future__ import annotations

import tempfile
import time

import numpy as np
import torch

from .camera import camera_for
from .io import MAX_SIDE, Photo, load_image

__all__ = ["PRIOR_NAMES", "PHOTO_OPTIONS", "load_named_prior", "fit_photo"]

PRIOR_NAMES = ("none", "gmm", "vposer", "posendf")
#: smplify options for photos: 4 stages × 40 L-BFGS iterations, 20 camera iterations
PHOTO_OPTIONS = {"stage_iters": 40, "camera_iters": 20}


def load_named_prior(name: str | None, priors_dir=None, device=None):
    """``None``/"none" -> None; "gmm", "vposer", "posendf" -> the prior from ``priors_dir`` when it holds
    one, else the pretrained file shipped with posekit (never trained here)."""
    from ..priors.store import load_prior

    if name is None or name == "none":
        return None
    if name not in PRIOR_NAMES:
        raise ValueError(f"unknown prior {name!r}; expected one of {PRIOR_NAMES}")
    if priors_dir is not None:
        return load_prior(name, priors_dir, device=device, train_if_missing=False)
    with tempfile.TemporaryDirectory() as empty:                      # no file there: the shipped one is used
        return load_prior(name, empty, device=device, train_if_missing=False)


def fit_photo(image, prior="gmm", body_model=None, focal_length: float | None = None, box=None,
              keypoints=None, confidence=None, max_side: int = MAX_SIDE, priors_dir=None, detector=None,
              progress: bool = False, **smplify_options) -> dict:
    """Fit the body model to the person in ``image`` (path, PIL image, (H,W,3) uint8 array or Photo).

    prior: a name in :data:`PRIOR_NAMES`, a prior object, or None. ``keypoints`` (14,2) px and
    ``confidence`` (14,) skip the detector (in the coordinates of the loaded, possibly downscaled image).
    ``box`` (x0, y0, x1, y1) px: detect inside it (several people). ``smplify_options`` override
    :data:`PHOTO_OPTIONS` / ``SMPLifyConfig``.
    """
    from ..body import load_body_model
    from ..fitting.smplify import smplify

    t0 = time.perf_counter()
    photo = image if isinstance(image, Photo) else load_image(image, max_side=max_side)
    camera = camera_for(photo, focal_length)
    t1 = time.perf_counter()
    if keypoints is None:
        from .detect import detect_keypoints

        kp, conf = detect_keypoints(photo, box=box, detector=detector)
    else:
        kp = np.asarray(keypoints, dtype=np.float64)
        conf = np.ones(len(kp)) if confidence is None else np.asarray(confidence, dtype=np.float64)
    t2 = time.perf_counter()
    name = prior if isinstance(prior, str) or prior is None else type(prior).__name__
    prior_obj = load_named_prior(prior, priors_dir) if isinstance(prior, str) or prior is None else prior
    body_model = body_model if body_model is not None else load_body_model(device="cpu")
    options = {**PHOTO_OPTIONS, **smplify_options}
    fit = smplify(torch.as_tensor(kp, dtype=torch.float32)[None], torch.as_tensor(conf, dtype=torch.float32)[None],
                  camera["focal_length"], camera["size"], body_model, prior_obj, progress=progress, **options)
    t3 = time.perf_counter()
    return {"photo": photo, "camera": camera, "keypoints": kp, "confidence": conf, "fit": fit,
            "prior": name or "none", "times": {"load": t1 - t0, "detect": t2 - t1, "fit": t3 - t2}}
