"""A photo -> a fitted SMPL-X body (body, hands, face): load, camera, whole-body keypoints, SMPLify-X.

``fit_photo_smplx(image, prior=DEFAULT_POSE_PRIOR)`` fits one person (the one MediaPipe Holistic finds, or the
one inside ``box``) with ``posekit.fitting.smplifyx.smplifyx`` and the open SMPL-X model
(:func:`load_smplx_model`). It returns a dict in the layout of ``posekit.photo.fit.fit_people`` (one person):
``photo``, ``camera``, ``people`` ([{"keypoints" (118,2), "confidence" (118,), "box", "source", "parts_seen"}]),
``fit`` (smplifyx's result, batch of one: betas, global_orient, body_pose (63), left/right_hand_pose (hand-PCA
coefficients), jaw_pose, expression, transl, vertices, projected ...), ``prior``, ``times`` {"load", "detect",
"fit"}. Parts the photo does not show (a hand Holistic did not find: confidence 0) are placed by their priors
alone: the hand at the model's mean hand, the face's expression at 0.

Hands and face enter SMPLify-X's last stages only (``posekit.fitting.smplifyx.SMPLIFYX_STAGES``); the default
budget here (:data:`SMPLX_PHOTO_OPTIONS`) is smaller than SMPLify-X's, as ``posekit.photo.fit.PHOTO_OPTIONS``
is for SMPL; ``benchmarks/photo_smplx.py`` times it.
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from ..priors.registry import DEFAULT_POSE_PRIOR
from .fit import _prepare, named_prior
from .io import MAX_SIDE

__all__ = ["SMPLX_PHOTO_OPTIONS", "HAND_PCA", "load_smplx_model", "check_wholebody_keypoints", "fit_photo_smplx"]

#: smplifyx options for photos: 5 stages × 30 L-BFGS iterations, 20 camera iterations
SMPLX_PHOTO_OPTIONS = {"stage_iters": 30, "camera_iters": 20}
#: hand-PCA coefficients per hand (SMPLify-X's 12)
HAND_PCA = 12


def load_smplx_model(device: str = "cpu"):
    """The open SMPL-X model with hand PCA, as SMPLify-X fits it (``smplx.SMPLX``, 12 components per hand)."""
    from ..body import load_body_model

    return load_body_model("open", model_type="smplx", device=device, use_pca=True, num_pca_comps=HAND_PCA)


def check_wholebody_keypoints(keypoints, confidence=None, what: str = "keypoints"):
    """Whole-body keypoints (118,2) px and confidences (118,) (ones when None) -> float arrays; InputError saying
    what was expected (the layout of ``posekit.fitting.wholebody.WHOLEBODY_NAMES``) otherwise."""
    from ..fitting.wholebody import num_keypoints

    K = num_keypoints()
    try:
        kp = np.asarray(keypoints, dtype=np.float64)
        conf = np.ones(len(kp)) if confidence is None else np.asarray(confidence, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what}: expected {K} whole-body [x, y] keypoints and {K} confidences ({e})") from e
    if kp.shape != (K, 2) or conf.shape != (K,):
        raise InputError(f"{what}: expected the SMPL-X whole-body layout, {K} [x, y] keypoints (25 body, 2 × 21 "
                         f"hands, 51 face; posekit.fitting.wholebody.WHOLEBODY_NAMES) and {K} confidences, got "
                         f"{kp.shape}, {conf.shape}")
    if not np.isfinite(kp).all():
        raise InputError(f"{what}: keypoints must be finite numbers; give a missing keypoint any finite value with "
                         "confidence 0")
    if not np.isfinite(conf).all() or (conf < 0).any() or not (conf[:25] > 0).any():
        raise InputError(f"{what}: confidences must be finite numbers ≥ 0, at least one body keypoint's > 0")
    return kp, conf


def fit_photo_smplx(image, prior=DEFAULT_POSE_PRIOR, body_model=None, focal_length: float | None = None, box=None,
                    keypoints=None, confidence=None, max_side: int = MAX_SIDE, priors_dir=None, detector=None,
                    progress: bool = False, original_pixels: bool = False, min_visibility: float = 0.2,
                    **smplifyx_options) -> dict:
    """Fit the open SMPL-X model (or ``body_model``, an ``smplx.SMPLX`` with hand PCA) to the person in ``image``.

    prior: a pose prior's name (``posekit.priors.registry``), a prior object or None. ``keypoints`` (118,2) /
    ``confidence`` (118,): skip the detector (pixels of the loaded photo, or of the original one with
    ``original_pixels``, like ``box`` and ``focal_length``). ``smplifyx_options`` override
    :data:`SMPLX_PHOTO_OPTIONS` / ``SMPLifyXConfig``. See the module docstring for the result.
    """
    import torch

    from ..fitting.smplifyx import smplifyx
    from .wholebody import detect_wholebody, parts_seen

    t0 = time.perf_counter()
    photo, box, scale, camera = _prepare(image, max_side, box, original_pixels, focal_length)
    t1 = time.perf_counter()
    if keypoints is None:
        kp, conf = detect_wholebody(photo, box=box, min_visibility=min_visibility, detector=detector)
        source = "MediaPipe Holistic" + (" in --box" if box is not None else "")
        if not (conf[:25] > 0).any():
            from .errors import NoPersonError

            raise NoPersonError(f"the detector found a person in {photo.source} but saw none of their body keypoints "
                                "clearly: nothing to fit; use a photo where the person's body is visible")
    else:
        kp, conf = check_wholebody_keypoints(keypoints, confidence)
        kp, source = kp * scale, "given"
    t2 = time.perf_counter()
    name, prior_obj = named_prior(prior, priors_dir)
    body_model = body_model if body_model is not None else load_smplx_model()
    kp_t = torch.as_tensor(kp, dtype=torch.float32)[None]                          # (1,118,2)
    conf_t = torch.as_tensor(conf, dtype=torch.float32)[None]                      # (1,118)
    options = {**SMPLX_PHOTO_OPTIONS, **smplifyx_options}
    fit = smplifyx(kp_t, conf_t, camera["focal_length"], camera["size"], body_model, prior_obj, progress=progress,
                   **options)
    t3 = time.perf_counter()
    seen = kp[conf > 0] if (conf > 0).any() else kp
    person = {"keypoints": kp, "confidence": conf, "box": tuple(float(b) for b in (*seen.min(0), *seen.max(0))),
              "source": source, "parts_seen": parts_seen(conf)}
    return {"photo": photo, "camera": camera, "people": [person], "fit": fit, "prior": name or "none",
            "model": "smplx", "times": {"load": t1 - t0, "detect": t2 - t1, "fit": t3 - t2}}
