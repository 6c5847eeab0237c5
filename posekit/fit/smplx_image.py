"""``python -m posekit.fit image PHOTO --model smplx``: SMPLify-X on a photo (chapter 03b).

The whole-body keypoints come from MediaPipe Holistic (``posekit.photo.wholebody``, ``make photo``) or from
``--keypoints FILE`` (JSON: "keypoints", 118 [x, y] px of the original photo in
``posekit.fitting.wholebody.WHOLEBODY_NAMES`` order, and optional "confidence", 118 numbers); the fit is
``posekit.photo.fit_smplx.fit_photo_smplx`` with the open SMPL-X model and ``--prior`` on the body; the files are
``posekit.fit.outputs_smplx``'s (the SMPL fit's files plus hands, jaw and expression). One person: the one the
detector finds, or the one inside ``--box``. ``--person`` and ``--init regressor`` belong to the SMPL fit and are
refused, as is a keypoint file of another layout, before the photo is read.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

from ..errors import InputError

__all__ = ["validate_smplx_args", "read_wholebody_keypoints", "image_smplx"]


def read_wholebody_keypoints(path):
    """A JSON file {"keypoints": 118 × [x, y], "confidence": 118 numbers (optional)} -> (keypoints (118,2),
    confidence (118,)); InputError naming the file and the expected layout otherwise."""
    from ..photo.fit_smplx import check_wholebody_keypoints

    what = f"--keypoints {path}"
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{what}: expected a JSON object with \"keypoints\" (118 whole-body [x, y] px) ({e})") from e
    if not isinstance(d, dict) or "people" in d:
        raise InputError(f"{what}: --model smplx fits one person: expected one JSON object with \"keypoints\" "
                         "(118 whole-body [x, y] px) and optional \"confidence\", not a list of people")
    return check_wholebody_keypoints(d.get("keypoints", d.get("keypoints_2d")), d.get("confidence"), what)


def validate_smplx_args(args, validate_image_args):
    """Every argument of ``image --model smplx`` and its output paths, before the photo is read -> (keypoints,
    confidence) from ``--keypoints`` or (None, None); InputError naming the option otherwise.
    ``validate_image_args``: the SMPL fit's check of the shared arguments (``posekit.fit.__main__``)."""
    if args.person is not None:
        raise InputError("--person picks among the people of the SMPL fit; --model smplx fits one person (the one "
                         "the detector finds, or the one inside --box X0,Y0,X1,Y1)")
    if args.init != "rest":
        raise InputError(f"--init {args.init}: the keypoint regressor predicts SMPL bodies; --model smplx starts "
                         "from SMPLify-X's own start (leave --init out)")
    plain = copy.copy(args)
    plain.keypoints = None                              # the 14-point reader is the SMPL fit's
    validate_image_args(plain)
    return read_wholebody_keypoints(args.keypoints) if args.keypoints else (None, None)


def image_smplx(args, validate_image_args) -> int:
    kp, conf = validate_smplx_args(args, validate_image_args)
    from ..photo.fit import box_in_image
    from ..photo.io import MAX_SIDE, check_photo_size, load_image

    t0 = time.perf_counter()
    photo = load_image(args.photo, max_side=args.max_side or MAX_SIDE)     # a bad image: refused before the fit
    t_load = time.perf_counter() - t0
    check_photo_size(photo)
    if args.box is not None:
        box_in_image(args.box, photo)
    if kp is None:
        from ..photo.wholebody import _import_holistic

        _import_holistic()                   # DetectorUnavailable (naming `make photo`) before the body model
    from ..photo.fit_smplx import fit_photo_smplx, load_smplx_model
    from .outputs_smplx import write_smplx_outputs

    options = {} if args.iters is None else {"stage_iters": args.iters}
    body = load_smplx_model()
    result = fit_photo_smplx(photo, prior=args.prior, body_model=body, focal_length=args.focal, box=args.box,
                             keypoints=kp, confidence=conf, priors_dir=args.priors, original_pixels=True, **options)
    result["times"]["load"] += t_load
    paths = write_smplx_outputs(result, body, args.out)
    t, cam, seen = result["times"], result["camera"], result["people"][0]["parts_seen"]
    print(f"camera: f = {cam['focal_length']:.0f} px ({cam['source']}); image {cam['size'][0]}×{cam['size'][1]} px")
    print("keypoints seen: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in seen.items()))
    for hand in ("left_hand", "right_hand"):
        if not seen[hand]:
            print(f"the {hand.replace('_', ' ')} was not detected: SMPL-X's mean hand, placed by the hand prior alone")
    print(f"SMPL-X fitted; times: load {t['load']:.2f} s, detect {t['detect']:.2f} s, fit {t['fit']:.2f} s")
    for name, path in paths.items():
        print(f"wrote {path}")
    return 0
