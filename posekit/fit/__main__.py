"""``python -m posekit.fit``: SMPLify on a photo, from the command line.

    python -m posekit.fit image PHOTO.jpg --prior {none,<a pose prior of posekit.priors.registry>} --out DIR
        [--person all|largest|INDEX] [--focal PX] [--box X0,Y0,X1,Y1] [--keypoints JSON] [--iters N]
        [--priors DIR] [--max-side PX] [--model smpl|smplx]
    python -m posekit.fit sample [--out PNG]      # re-render the packaged sample photo

``image`` finds every person in the photo (``posekit.photo.people``), fits them in one batched SMPLify and
writes, per person, DIR/person_K/fit.npz, fit.json, mesh.obj, mesh.ply, overlay.png (K = 0 the largest), and
for the whole photo DIR/overlay.png (every mesh, depth-sorted per pixel), DIR/views.png (the overlay beside a
side and a top view of the meshes and the camera) and DIR/people.json (``posekit.fit.outputs``). ``--person``
picks who is fitted (default all); ``--box`` fits the one person inside the box; ``--keypoints`` skips the
detector (one person's "keypoints", or "people": [{"keypoints", "confidence"}, ...]). A bad argument or output
path, a bad image, no person, a missing detector or a fit that is not finite exit with status 2 and a one-line
reason, with nothing written (arguments and paths are checked before the photo is read). ``--box``,
``--keypoints`` and ``--focal`` are in pixels of the original photo (as a viewer shows it), whatever
``--max-side`` downscales it to. The detector needs ``make photo``. ``--model smplx`` fits SMPL-X (hands, face)
with SMPLify-X to whole-body keypoints instead, one person (``posekit.fit.smplx_image``).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from ..errors import InputError, check_output_dir, check_output_file, check_positive, run_cli
from ..priors import registry

__all__ = ["main", "build_parser", "parse_box", "validate_image_args"]


def parse_box(text: str | None):
    if text is None:
        return None
    parts = text.split(",")
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"--box must be X0,Y0,X1,Y1 in pixels, got {text!r}")
    return box


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posekit.fit", description="SMPLify on a photo (chapter 02b).")
    sub = p.add_subparsers(dest="command", required=True)
    im = sub.add_parser("image", help="fit the body model to the person in a photo")
    im.add_argument("photo", help="a JPEG/PNG/... photo of one or more people")
    im.add_argument("--prior", choices=registry.pose_methods(), default=registry.DEFAULT_POSE_PRIOR,
                    help=f"pose prior (default {registry.DEFAULT_POSE_PRIOR})")
    im.add_argument("--out", required=True, help="output folder (created when absent)")
    im.add_argument("--focal", type=float, default=None,
                    help="focal length in px of the original photo (default: EXIF, else the image diagonal)")
    im.add_argument("--box", type=parse_box, default=None,
                    help="X0,Y0,X1,Y1 in pixels of the original photo: detect the person inside this box")
    im.add_argument("--keypoints", default=None,
                    help="JSON file with LSP-14 \"keypoints\" (14 [x, y] px of the original photo) and optional "
                         "\"confidence\": skip the detector")
    im.add_argument("--person", default=None,
                    help="who to fit: all (default), largest, or an index (0 = the largest person found)")
    im.add_argument("--iters", type=int, default=None, help="optimiser steps per SMPLify stage (default 40; per SMPLify-X stage with --model smplx: 30)")
    im.add_argument("--init", choices=("rest", "regressor"), default="rest",
                    help="start of the fit: rest (SMPLify's four stages from the rest pose; the default, since on "
                         "rendered validation views with the detector's keypoints the regressor start was not clearly "
                         "more accurate, benchmarks/regressor.py) or regressor (the keypoint regressor's body, then "
                         "SMPLify's last stage: about 3x faster)")
    im.add_argument("--model", choices=("smpl", "smplx"), default="smpl",
                    help="smpl (default: SMPLify, LSP-14 keypoints) or smplx (SMPLify-X with hands and face on "
                         "MediaPipe Holistic's whole-body keypoints; one person; --keypoints then holds 118 points)")
    im.add_argument("--priors", default=None, help="folder of trained priors (default: the shipped pretrained ones)")
    im.add_argument("--max-side", type=int, default=None, help="downscale so the longest side is at most this (default 1600)")
    sm = sub.add_parser("sample", help="re-render the packaged sample photo (open body model, held-out pose)")
    sm.add_argument("--out", default=None, help="PNG path (default: posekit/photo/sample/open_model_sample.png)")
    return p


def validate_image_args(args):
    """Every argument of ``image`` and its output paths, before the photo is read -> (keypoints, confidence)
    from ``--keypoints`` (or (None, None)); InputError naming the option otherwise. The photo itself (readable,
    size, ``--box`` inside it) and the detector are checked next, before the body model is loaded."""
    from ..photo.io import MIN_SIDE
    from ..photo.people import parse_person
    from .outputs import FILES, PEOPLE_FILES, person_dir

    if args.iters is not None:
        check_positive("--iters", args.iters, integer=True)
    if args.focal is not None:
        check_positive("--focal", args.focal)
    if args.max_side is not None:
        check_positive("--max-side", args.max_side, integer=True)
        if args.max_side < MIN_SIDE:
            raise InputError(f"--max-side must be at least {MIN_SIDE} px, got {args.max_side}")
    if args.box is not None:
        x0, y0, x1, y1 = args.box
        if not all(math.isfinite(b) for b in args.box) or x1 <= x0 or y1 <= y0:
            raise InputError(f"--box {','.join(f'{b:g}' for b in args.box)}: expected X0,Y0,X1,Y1 with X0 < X1 and "
                             "Y0 < Y1, finite pixels of the original photo")
    if args.person is not None:
        parse_person(args.person)
        if args.box is not None or args.keypoints is not None:
            raise InputError("--person picks among the people the detector finds; it cannot be combined with --box "
                             "or --keypoints (which give the person)")
    photo = Path(args.photo).expanduser()
    if photo.is_dir():
        raise InputError(f"{photo}: is a folder; expected an image file (JPEG, PNG, ...)")
    if not photo.is_file():
        raise InputError(f"{photo}: no such image file")
    out = check_output_dir(args.out, "--out")
    for name in PEOPLE_FILES:
        check_output_file(out / name, "--out")
    for name in FILES:
        check_output_file(out / person_dir(0) / name, "--out")
    if args.priors is not None:
        priors = Path(args.priors).expanduser()
        if not priors.is_dir():
            what = ("is a file; expected a folder of trained priors" if priors.exists()
                    else "no such folder (of trained priors)")
            raise InputError(f"--priors {priors}: {what}")
    return _read_keypoints(args.keypoints) if args.keypoints else (None, None)


def _image(args) -> int:
    if args.model == "smplx":
        from .smplx_image import image_smplx

        return image_smplx(args, validate_image_args)
    kp, conf = validate_image_args(args)
    from ..photo.io import MAX_SIDE, check_photo_size, load_image

    t0 = time.perf_counter()
    photo = load_image(args.photo, max_side=args.max_side or MAX_SIDE)     # a bad image: refused before the fit
    t_load = time.perf_counter() - t0
    check_photo_size(photo)                                   # too small, or a box outside it: before the fit
    from ..photo.fit import box_in_image

    if args.box is not None:
        box_in_image(args.box, photo)
    if kp is None:
        from ..photo.detect import _import_mediapipe

        _import_mediapipe()                   # DetectorUnavailable (naming `make photo`) before the body model
    from ..body import load_body_model
    from ..photo import fit as photo_fit
    from .outputs import write_people_outputs

    options = {} if args.iters is None else {"stage_iters": args.iters}
    body = load_body_model(device="cpu")
    common = {"prior": args.prior, "body_model": body, "focal_length": args.focal, "priors_dir": args.priors,
              "original_pixels": True, "init": args.init, **options}
    if kp is not None and not isinstance(kp, list):           # one person's keypoints: the one-person fit
        result = photo_fit.single_as_people(photo_fit.fit_photo(photo, keypoints=kp, confidence=conf, **common))
    else:
        result = photo_fit.fit_people(photo, person=args.person or "all", box=args.box, people=kp, **common)
    result["times"]["load"] += t_load
    paths = write_people_outputs(result, body.faces, args.out, getattr(body, "lbs_weights", None))
    t = result["times"]
    n = len(result["people"])
    print(f"camera: f = {result['camera']['focal_length']:.0f} px ({result['camera']['source']}); "
          f"image {result['camera']['size'][0]}×{result['camera']['size'][1]} px")
    print(f"{n} {'person' if n == 1 else 'people'} fitted; times: load {t['load']:.2f} s, detect {t['detect']:.2f} s, "
          f"fit {t['fit']:.2f} s ({t['fit'] / n:.2f} s per person)")
    for k, p in enumerate(result["people"]):
        if p["prior_only"]:
            print(f"person {k}: not seen in the photo, placed by the prior alone: {', '.join(p['prior_only'])}")
    for name, path in paths.items():
        print(f"wrote {path}")
    return 0


def _read_keypoints(path):
    """A JSON file {"keypoints" or "keypoints_2d": 14 × [x, y], "confidence": 14 numbers (optional)}, or
    {"people": [such objects, ...]} -> (keypoints (14,2), confidence (14,)) or ([{"keypoints", "confidence"}], None)."""
    import json

    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"--keypoints {path}: expected a JSON object with \"keypoints\" (14 [x, y] px) ({e})") from e
    if isinstance(d, dict) and "people" in d:
        if not isinstance(d["people"], list) or not d["people"]:
            raise InputError(f"--keypoints {path}: \"people\" must be a non-empty list of objects with \"keypoints\"")
        people = []
        for i, p in enumerate(d["people"]):
            kp, conf = _one_person(p, f"--keypoints {path}, person {i}")
            people.append({"keypoints": kp, "confidence": conf, "source": "--keypoints"})
        return people, None
    return _one_person(d, f"--keypoints {path}")


def _one_person(d, what):
    import numpy as np

    try:
        kp = np.asarray(d.get("keypoints", d.get("keypoints_2d")), dtype=float)
        conf = np.asarray(d["confidence"], dtype=float) if "confidence" in d else np.ones(len(kp))
    except (ValueError, TypeError, AttributeError) as e:
        raise InputError(f"{what}: expected a JSON object with \"keypoints\" (14 [x, y] px) ({e})") from e
    if kp.shape != (14, 2) or conf.shape != (14,):
        raise InputError(f"{what}: expected 14 [x, y] keypoints (LSP-14) and 14 confidences, "
                         f"got {kp.shape}, {conf.shape}")
    if not np.isfinite(kp).all():
        bad = sorted({int(i) for i in np.nonzero(~np.isfinite(kp))[0]})
        raise InputError(f"{what}: keypoints {bad} are not finite numbers; give a missing keypoint any "
                         "finite value with confidence 0")
    if not np.isfinite(conf).all() or (conf < 0).any() or not (conf > 0).any():
        raise InputError(f"{what}: confidences must be finite numbers ≥ 0, at least one of them > 0")
    return kp, conf


def _sample(args) -> int:
    from .synthetic import SAMPLE_PATH, write_sample

    if args.out is not None:
        check_output_file(args.out, "--out")
    path = write_sample(Path(args.out) if args.out else SAMPLE_PATH)
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    from ..photo.errors import DetectorUnavailable

    args = build_parser().parse_args(argv)
    return run_cli(lambda: _image(args) if args.command == "image" else _sample(args),
                   user_errors=(DetectorUnavailable,))


if __name__ == "__main__":
    sys.exit(main())
