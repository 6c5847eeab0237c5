"""A photo -> fitted bodies: load, camera, detect, SMPLify (``posekit.fitting.smplify``).

``fit_photo(image, prior=DEFAULT_POSE_PRIOR)`` (SMPLify's GMM) fits one person and returns a dict: ``photo``
(:class:`~posekit.photo.io.Photo`), ``camera`` ({"focal_length", "center", "size", "source"}), ``keypoints``
(14,2) px and ``confidence`` (14,) (LSP-14, from the detector unless given), ``fit`` (smplify's result, batch of
one), ``prior`` (its name), ``times`` ({"load", "detect", "fit"} s).

``fit_people(image, prior=DEFAULT_POSE_PRIOR, person="all")`` finds every person (``posekit.photo.people``), or takes their
detections (``people=``), and fits them in **one** batched SMPLify: each person is a row with its own optimiser
state (``posekit.fitting.rowwise``), so the batch costs little more than its slowest person alone. Its result has
``people`` (per person: keypoints, confidence, box, how it was found, ``prior_only`` and ``unobserved``) and a
``fit`` with one row per person; everyone shares the photo's camera.

**Parts placed by the prior alone.** A keypoint with confidence 0 (below the detector's visibility threshold, or
outside the photo: a portrait's knees) gives the data term nothing; the body part it ends
(:data:`BODY_PARTS`: e.g. the shin ends at the ankle) is then wherever the pose prior puts it.
:func:`prior_only_parts` names those parts, :func:`prior_only_vertices` marks their vertices (each vertex belongs
to the joint with its largest skinning weight), and the command line lists them in ``fit.json`` and draws them
faint.

``init="regressor"`` starts the fit from the keypoint regressor's body (``posekit.fitting.regress``: one pass,
then SMPLify's last stage only) instead of SMPLify's rest-pose start with its four annealed stages;
``benchmarks/photo.py`` prints the time it saves per photo. The default stays ``"rest"`` (:data:`INITS`).

The default optimisation budget (:data:`PHOTO_OPTIONS`) is smaller than SMPLify's (100 steps per stage) and its
annealing stages stop earlier (the experiments keep SMPLify's settings): ``benchmarks/photo.py`` measures the
time per person, alone and in a batch, and with ``--budget`` the accuracy and time of the photo budget against
the same budget with SMPLify's stopping tolerance in every stage, on rendered validation views.
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from ..priors import registry
from ..priors.registry import DEFAULT_POSE_PRIOR
from .camera import camera_for
from .errors import NoPersonError, PhotoError
from .io import MAX_SIDE, Photo, check_photo_size, load_image

__all__ = ["PRIOR_NAMES", "PHOTO_OPTIONS", "BODY_PARTS", "load_named_prior", "named_prior", "fit_photo", "fit_people", "detect_people",
           "lsp_people", "box_in_image", "prior_only_parts", "prior_only_vertices", "unobserved_keypoints", "single_as_people",
           "INITS"]



def __getattr__(name):
    # PRIOR_NAMES: "none" and the pose priors of posekit.priors.registry, read when asked
    if name == "PRIOR_NAMES":
        return registry.pose_methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: smplify options for photos: 4 stages × at most 40 L-BFGS iterations, 20 camera iterations; the three annealing
#: stages stop at a relative energy change of 1e-4 (``early_ftol``), the last one at SMPLify's 1e-7
#: (``benchmarks/photo.py --budget``, rendered validation views: no accuracy difference shown, the paired 95 % CIs
#: include 0; up to a third less time per person, less on a loaded machine)
PHOTO_OPTIONS = {"stage_iters": 40, "camera_iters": 20, "early_ftol": 1e-4}
#: where a photo fit starts: SMPLify's rest-pose start, or the keypoint regressor's output
INITS = ("rest", "regressor")


def _init_options(init: str, kp, conf, camera, body_model, regressor=None) -> dict:
    """smplify options for ``init`` ("rest": none; "regressor": the regressor's start, ``start_options``)."""
    if init not in INITS:
        raise InputError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "rest":
        return {}
    from ..fitting.regress import start_options

    return start_options(kp, conf, camera["focal_length"], camera["size"], body_model, regressor)


def load_named_prior(name: str | None, priors_dir=None, device=None):
    """``None``/"none" -> None; a pose prior's name (``posekit.priors.registry``) -> the prior from ``priors_dir``
    when it holds one, else the pretrained file shipped with posekit (never trained here)."""
    from ..priors.store import load_prior

    if name is None or name == "none":
        return None
    if name not in registry.pose_methods():
        raise InputError(f"unknown prior {name!r}; expected one of {registry.pose_methods()}")
    return load_prior(name, priors_dir, device=device)                # None: the shipped file


def named_prior(prior, priors_dir=None) -> tuple:
    """``prior`` as the photo fits take it (a registry name, None, or a prior object) -> (its name for the
    outputs, the prior object): a name or None loaded by :func:`load_named_prior`, an object kept as it is."""
    if isinstance(prior, str) or prior is None:
        return prior, load_named_prior(prior, priors_dir)
    return type(prior).__name__, prior


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



def _prepare(image, max_side, box, original_pixels: bool, focal_length):
    """The photo read and checked, the box in its pixels, the factor from original to working pixels
    (``original_pixels``: box, keypoints and focal length given in the original photo's pixels) and the camera
    -> (photo, box, scale, camera)."""
    photo = image if isinstance(image, Photo) else load_image(image, max_side=max_side)
    check_photo_size(photo)
    box = None if box is None else box_in_image(box, photo)
    scale = photo.scale if (original_pixels and photo.original_size[0]) else 1.0
    camera = camera_for(photo, None if focal_length is None else float(focal_length) * scale)
    return photo, box, scale, camera

def fit_photo(image, prior=DEFAULT_POSE_PRIOR, body_model=None, focal_length: float | None = None, box=None,
              keypoints=None, confidence=None, max_side: int = MAX_SIDE, priors_dir=None, detector=None,
              progress: bool = False, original_pixels: bool = False, init: str = "rest", regressor=None,
              **smplify_options) -> dict:
    """Fit the body model to the person in ``image`` (path, PIL image, (H,W,3) uint8 array or Photo).

    prior: a name in :data:`PRIOR_NAMES`, a prior object, or None. ``keypoints`` (14,2) px and
    ``confidence`` (14,) skip the detector (in the coordinates of the loaded, possibly downscaled image).
    ``box`` (x0, y0, x1, y1) in pixels of the ORIGINAL photo (full size, upright): detect inside it (several
    people); it is converted to the downscaled image here (:func:`box_in_image`). ``smplify_options`` override
    :data:`PHOTO_OPTIONS` / ``SMPLifyConfig``. A photo with a side under ``posekit.photo.io.MIN_SIDE`` px is
    refused (NotAnImageError), and so is a detection whose every keypoint is below ``min_visibility``.
    ``original_pixels=True``: ``keypoints`` and ``focal_length`` are in pixels of the original photo, like ``box``
    (what the command line reads), and are converted to the downscaled image here. ``init``: "rest" (SMPLify's
    start) or "regressor" (``regressor``: a ``KeypointRegressor``, None: the shipped one).
    """
    import torch

    from ..body import load_body_model
    from ..fitting.smplify import smplify

    t0 = time.perf_counter()
    photo, box, scale, camera = _prepare(image, max_side, box, original_pixels, focal_length)
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
    name, prior_obj = named_prior(prior, priors_dir)
    body_model = body_model if body_model is not None else load_body_model(device="cpu")
    kp_t, conf_t = torch.as_tensor(kp, dtype=torch.float32)[None], torch.as_tensor(conf, dtype=torch.float32)[None]
    options = {**PHOTO_OPTIONS, **_init_options(init, kp_t, conf_t, camera, body_model, regressor), **smplify_options}
    fit = smplify(kp_t, conf_t, camera["focal_length"], camera["size"], body_model, prior_obj, progress=progress, **options)
    t3 = time.perf_counter()
    return {"photo": photo, "camera": camera, "keypoints": kp, "confidence": conf, "fit": fit,
            "prior": name or "none", "times": {"load": t1 - t0, "detect": t2 - t1, "fit": t3 - t2}}


#: the body parts of the SMPL layout and the LSP-14 keypoints that fix each: a part whose keypoints are not all
#: observed (confidence 0: below the detector's visibility threshold, or outside the photo) is placed by the pose
#: prior alone. (name, SMPL joints whose skinned vertices make the part, LSP-14 indices)
BODY_PARTS = (("right thigh", (2,), (2, 1)), ("right shin", (5,), (1, 0)), ("right foot", (8, 11), (0,)),
              ("left thigh", (1,), (3, 4)), ("left shin", (4,), (4, 5)), ("left foot", (7, 10), (5,)),
              ("right upper arm", (17,), (8, 7)), ("right forearm", (19,), (7, 6)), ("right hand", (21, 23), (6,)),
              ("left upper arm", (16,), (9, 10)), ("left forearm", (18,), (10, 11)), ("left hand", (20, 22), (11,)),
              ("head", (12, 15), (12, 13)), ("pelvis", (0,), (2, 3)), ("chest", (3, 6, 9, 13, 14), (8, 9)))


def prior_only_parts(confidence) -> list[str]:
    """The names of :data:`BODY_PARTS` that the photo does not show: some keypoint fixing them has confidence 0."""
    conf = np.asarray(confidence, dtype=np.float64)
    return [name for name, _, kps in BODY_PARTS if not all(conf[k] > 0 for k in kps)]


def unobserved_keypoints(confidence) -> list[str]:
    """The LSP-14 names of the keypoints with confidence 0."""
    from ..fitting.keypoints import LSP14_NAMES

    return [LSP14_NAMES[i] for i, c in enumerate(np.asarray(confidence, dtype=np.float64)) if not c > 0]


def prior_only_vertices(lbs_weights, confidence) -> np.ndarray:
    """(V,) bool: the vertices of the parts in :func:`prior_only_parts` (each vertex belongs to the joint with its
    largest skinning weight; ``lbs_weights`` (V,24))."""
    w = lbs_weights.detach().cpu().numpy() if hasattr(lbs_weights, "detach") else np.asarray(lbs_weights)
    owner = w.argmax(1)
    hidden = set(prior_only_parts(confidence))
    joints = [j for name, js, _ in BODY_PARTS if name in hidden for j in js]
    return np.isin(owner, joints)


def _no_person_message(photo: Photo, what: str) -> str:
    W, H = photo.original_size if photo.original_size[0] else photo.size
    return (f"no person found in {photo.source} ({W}×{H} px){what}: the detector (which looks for a face first) "
            "misses people under about 80 px tall, people whose head is cut off by the frame or turned away, and "
            "people lying down; pass --box X0,Y0,X1,Y1 (pixels of the photo) around one person, or --keypoints FILE "
            "with their 14 keypoints")


def lsp_people(people, size, min_visibility: float = 0.2) -> list[dict]:
    """Detected people (``posekit.photo.people.Person``: 33 MediaPipe landmarks) -> the dicts :func:`fit_people`
    takes: {"keypoints" (14,2), "confidence" (14,), "landmarks", "visibility", "box", "source"}; people without
    a single keypoint above ``min_visibility`` inside the image ``size`` (W, H) are left out."""
    from .detect import mediapipe_to_lsp

    out = []
    for p in people:
        kp, conf = mediapipe_to_lsp(p.landmarks, p.visibility, min_visibility=min_visibility, image_size=size)
        if np.any(conf > 0):
            out.append({"keypoints": kp, "confidence": conf, "landmarks": p.landmarks, "visibility": p.visibility,
                        "box": tuple(float(b) for b in p.box), "source": p.source})
    return out


def detect_people(photo: Photo, person="all", box=None, detector=None, min_visibility: float = 0.2) -> list[dict]:
    """The people to fit in ``photo``: [{"keypoints" (14,2) px, "confidence" (14,), "landmarks" (33,2),
    "visibility" (33,), "box" (x0, y0, x1, y1) px of ``photo.image``, "source"}], largest first.

    ``box`` (pixels of ``photo.image``): only the person inside it. Otherwise every person
    (``posekit.photo.people.find_people``), then ``person`` ("all", "largest" or an index) picks among them.
    NoPersonError (naming ``--box`` and the photo's size) when nobody is found.
    """
    from .detect import _default_detector, _rgb, detect_landmarks
    from .people import Person, find_people, landmark_box, select_people

    rgb = _rgb(photo)
    W, H = rgb.shape[1], rgb.shape[0]
    det = detector or _default_detector()
    if box is not None:
        lm, vis = detect_landmarks(rgb, box=box, detector=det)
        people = [Person(lm, vis, landmark_box(lm, vis, (W, H)), float(np.mean(vis)), "--box")]
    else:
        people = find_people(rgb, det)
        if not people:
            raise NoPersonError(_no_person_message(photo, ""))
        people = select_people(people, person)
    out = lsp_people(people, (W, H), min_visibility)
    if not out:
        raise NoPersonError(f"the detector found a person in {photo.source} but saw none of its 14 keypoints "
                            "clearly (visibility below the threshold, or outside the image): nothing to fit; use "
                            "a photo where the whole person is visible")
    return out


def fit_people(image, prior=DEFAULT_POSE_PRIOR, body_model=None, focal_length: float | None = None, person="all", box=None,
               people=None, max_side: int = MAX_SIDE, priors_dir=None, detector=None, progress: bool = False,
               original_pixels: bool = False, init: str = "rest", regressor=None, **smplify_options) -> dict:
    """Fit the body model to every person in ``image`` (or those ``person`` picks) in one batched SMPLify.

    ``people``: detections given instead of the detector's ([{"keypoints" (14,2), "confidence" (14,), "box"
    optional}] in pixels of the loaded photo, or of the original one with ``original_pixels``). ``box``: the
    person inside it only (pixels of the ORIGINAL photo). -> {"photo", "camera", "people" (list of dicts:
    keypoints, confidence, box, source, prior_only (part names), unobserved (keypoint names)), "fit" (smplify's
    result, one row per person, in the order of "people"), "prior", "times" {"load", "detect", "fit"}}.
    Everyone shares the photo's camera, so their depths are comparable (up to each body's unknown size).
    ``init`` / ``regressor``: as in :func:`fit_photo`.
    """
    import torch

    from ..body import load_body_model
    from ..fitting.smplify import smplify

    t0 = time.perf_counter()
    photo, box, scale, camera = _prepare(image, max_side, box, original_pixels, focal_length)
    t1 = time.perf_counter()
    if people is None:
        people = detect_people(photo, person=person, box=box, detector=detector)
    else:
        given = []
        for p in people:
            kp = np.asarray(p["keypoints"], dtype=np.float64) * scale
            conf = np.ones(len(kp)) if p.get("confidence") is None else np.asarray(p["confidence"], dtype=np.float64)
            seen = kp[conf > 0] if (conf > 0).any() else kp
            bx = p.get("box")
            bx = tuple(float(b) * scale for b in bx) if bx is not None else (*seen.min(0), *seen.max(0))
            given.append({"keypoints": kp, "confidence": conf, "box": tuple(float(b) for b in bx),
                          "source": p.get("source", "given")})
        if not given:
            raise InputError("people is empty: give at least one person's keypoints")
        people = given
    for p in people:
        p["prior_only"] = prior_only_parts(p["confidence"])
        p["unobserved"] = unobserved_keypoints(p["confidence"])
    t2 = time.perf_counter()
    name, prior_obj = named_prior(prior, priors_dir)
    body_model = body_model if body_model is not None else load_body_model(device="cpu")
    kp = torch.as_tensor(np.stack([p["keypoints"] for p in people]), dtype=torch.float32)      # (P,14,2)
    conf = torch.as_tensor(np.stack([p["confidence"] for p in people]), dtype=torch.float32)   # (P,14)
    options = {**PHOTO_OPTIONS, **_init_options(init, kp, conf, camera, body_model, regressor), **smplify_options}
    fit = smplify(kp, conf, camera["focal_length"], camera["size"], body_model, prior_obj, progress=progress, **options)
    t3 = time.perf_counter()
    return {"photo": photo, "camera": camera, "people": people, "fit": fit, "prior": name or "none",
            "times": {"load": t1 - t0, "detect": t2 - t1, "fit": t3 - t2}}


def single_as_people(result: dict) -> dict:
    """A :func:`fit_photo` result (one person) in the layout of :func:`fit_people`."""
    conf = np.asarray(result["confidence"], dtype=np.float64)
    kp = np.asarray(result["keypoints"], dtype=np.float64)
    seen = kp[conf > 0] if (conf > 0).any() else kp
    box = result.get("box") or (*seen.min(0), *seen.max(0))
    person = {"keypoints": kp, "confidence": conf, "box": tuple(float(b) for b in box),
              "source": result.get("source", "given"), "prior_only": prior_only_parts(conf),
              "unobserved": unobserved_keypoints(conf)}
    return {**result, "people": [person]}
