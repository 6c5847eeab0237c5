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

from ..errors import InputError
from .camera import camera_for
from .errors import NoPersonError, PhotoError
from .io import MAX_SIDE, Photo, check_photo_size, load_image

__all__ = ["PRIOR_NAMES", "PHOTO_OPTIONS", "load_named_prior", "fit_photo", "box_in_image"]

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
        raise InputError(f"unknown prior {name!r}; expected one of {PRIOR_NAMES}")
    if priors_dir is not None:
        return load_prior(name, priors_dir, device=device, train_if_missing=False)
    with tempfile.TemporaryDirectory() as empty:                      # no file there: the shipped one is used
        return load_prior(name, empty, device=device, train_if_missing=False)


def box_in_image(box, photo: Photo) -> tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) in pixels of the ORIGINAL photo (upright, as a viewer shows it, full size) ->
    the same box in pixels of ``photo.image`` (downscaled by ``photo.scale``). PhotoError when it is not
    four finite numbers with x0 < x1, y0 < y1, or when it lies outside the photo."""
    try:
        x0, y0, x1, y1 = (float(b) for b in box)
        ok = bool(np.isfinite((x0, y0, x1, y1)).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise PhotoError(f"box must be X0,Y0,X1,Y1: four finite numbers of pixels of the photo, got {box!r}")
    W, H = photo.original_size if photo.original_size[0] else photo.size
    if x1 <= x0 or y1 <= y0:
        raise PhotoError(f"box {x0:g},{y0:g},{x1:g},{y1:g}: expected x0 < x1 and y0 < y1 (left, top, right, bottom "
                         "in pixels of the photo)")
    if x1 <= 0 or y1 <= 0 or x0 >= W or y0 >= H:
        raise PhotoError(f"box {x0:g},{y0:g},{x1:g},{y1:g} lies outside the {W}×{H} px photo (the box is in pixels of "
                         "the original photo, upright as a viewer shows it)")
    s = photo.scale if photo.original_size[0] else 1.0
    return x0 * s, y0 * s, x1 * s, y1 * s


def fit_photo(image, prior="gmm", body_model=None, focal_length: float | None = None, box=None,
              keypoints=None, confidence=None, max_side: int = MAX_SIDE, priors_dir=None, detector=None,
              progress: bool = False, original_pixels: bool = False, **smplify_options) -> dict:
    """Fit the body model to the person in ``image`` (path, PIL image, (H,W,3) uint8 array or Photo).

    prior: a name in :data:`PRIOR_NAMES`, a prior object, or None. ``keypoints`` (14,2) px and
    ``confidence`` (14,) skip the detector (in the coordinates of the loaded, possibly downscaled image).
    ``box`` (x0, y0, x1, y1) in pixels of the ORIGINAL photo (full size, upright): detect inside it (several
    people); it is converted to the downscaled image here (:func:`box_in_image`). ``smplify_options`` override
    :data:`PHOTO_OPTIONS` / ``SMPLifyConfig``. A photo with a side under ``posekit.photo.io.MIN_SIDE`` px is
    refused (NotAnImageError), and so is a detection whose every keypoint is below ``min_visibility``.
    ``original_pixels=True``: ``keypoints`` and ``focal_length`` are in pixels of the original photo, like ``box``
    (what the command line reads), and are converted to the downscaled image here.
    """
    from ..body import load_body_model
    from ..fitting.smplify import smplify

    t0 = time.perf_counter()
    photo = image if isinstance(image, Photo) else load_image(image, max_side=max_side)
    check_photo_size(photo)
    box = None if box is None else box_in_image(box, photo)
    scale = photo.scale if (original_pixels and photo.original_size[0]) else 1.0
    camera = camera_for(photo, None if focal_length is None else float(focal_length) * scale)
    t1 = time.perf_counter()
    if keypoints is None:
        from .detect import detect_keypoints

        kp, conf = detect_keypoints(photo, box=box, detector=detector)
        if not np.any(conf > 0):
            raise NoPersonError(f"the detector found a person in {photo.source} but saw none of its 14 keypoints "
                                "clearly (visibility below the threshold, or outside the image): nothing to fit; use "
                                "a photo where the whole person is visible")
    else:
        kp = np.asarray(keypoints, dtype=np.float64) * scale
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
