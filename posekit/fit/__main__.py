"""``python -m posekit.fit``: SMPLify on a photo, from the command line.

    python -m posekit.fit image PHOTO.jpg --prior {none,gmm,vposer,posendf} --out DIR
        [--focal PX] [--box X0,Y0,X1,Y1] [--keypoints JSON] [--iters N] [--priors DIR] [--max-side PX]
    python -m posekit.fit sample [--out PNG]      # re-render the packaged sample photo

``image`` writes DIR/fit.npz, fit.json, mesh.obj, mesh.ply, overlay.png (``posekit.fit.outputs``) and
prints where; a bad image, no person or a missing detector exit with status 2 and a one-line reason,
with nothing written. The detector needs ``make photo``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..photo.fit import PRIOR_NAMES

__all__ = ["main", "build_parser", "parse_box"]


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
    im.add_argument("photo", help="a JPEG/PNG/... photo of one person")
    im.add_argument("--prior", choices=PRIOR_NAMES, default="gmm", help="pose prior (default gmm)")
    im.add_argument("--out", required=True, help="output folder (created when absent)")
    im.add_argument("--focal", type=float, default=None,
                    help="focal length in px of the (downscaled) image (default: EXIF, else the image diagonal)")
    im.add_argument("--box", type=parse_box, default=None, help="X0,Y0,X1,Y1: detect the person inside this box")
    im.add_argument("--keypoints", default=None,
                    help="JSON file with LSP-14 \"keypoints\" (14 [x, y] px) and optional \"confidence\": skip the detector")
    im.add_argument("--iters", type=int, default=None, help="optimiser steps per SMPLify stage (default 40)")
    im.add_argument("--priors", default=None, help="folder of trained priors (default: the shipped pretrained ones)")
    im.add_argument("--max-side", type=int, default=None, help="downscale so the longest side is at most this (default 1600)")
    sm = sub.add_parser("sample", help="re-render the packaged sample photo (open body model, held-out pose)")
    sm.add_argument("--out", default=None, help="PNG path (default: posekit/photo/sample/open_model_sample.png)")
    return p


def _image(args) -> int:
    from ..body import load_body_model
    from ..photo import DetectorUnavailable, PhotoError
    from ..photo.fit import fit_photo
    from ..photo.io import MAX_SIDE
    from .outputs import write_outputs

    if args.iters is not None and args.iters < 1:
        print("error: --iters must be at least 1", file=sys.stderr)
        return 2
    options = {} if args.iters is None else {"stage_iters": args.iters}
    body = load_body_model(device="cpu")
    try:
        kp, conf = _read_keypoints(args.keypoints) if args.keypoints else (None, None)
        result = fit_photo(args.photo, prior=args.prior, body_model=body, focal_length=args.focal, box=args.box,
                           keypoints=kp, confidence=conf, max_side=args.max_side or MAX_SIDE,
                           priors_dir=args.priors, **options)
    except (PhotoError, DetectorUnavailable, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = write_outputs(result, body.faces, args.out)
    t = result["times"]
    print(f"camera: f = {result['camera']['focal_length']:.0f} px ({result['camera']['source']}); "
          f"image {result['camera']['size'][0]}×{result['camera']['size'][1]} px")
    print(f"times: load {t['load']:.2f} s, detect {t['detect']:.2f} s, fit {t['fit']:.2f} s")
    for name, path in paths.items():
        print(f"wrote {path}")
    return 0


def _read_keypoints(path):
    """A JSON file {"keypoints" or "keypoints_2d": 14 × [x, y], "confidence": 14 numbers (optional)}."""
    import json

    import numpy as np

    try:
        d = json.loads(Path(path).read_text())
        kp = np.asarray(d.get("keypoints", d.get("keypoints_2d")), dtype=float)
        conf = np.asarray(d["confidence"], dtype=float) if "confidence" in d else np.ones(len(kp))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"--keypoints {path}: expected a JSON object with \"keypoints\" (14 [x, y] px) ({e})") from e
    if kp.shape != (14, 2) or conf.shape != (14,):
        raise ValueError(f"--keypoints {path}: expected 14 [x, y] keypoints (LSP-14) and 14 confidences, "
                         f"got {kp.shape}, {conf.shape}")
    return kp, conf


def _sample(args) -> int:
    from .synthetic import SAMPLE_PATH, write_sample

    path = write_sample(Path(args.out) if args.out else SAMPLE_PATH)
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return _image(args) if args.command == "image" else _sample(args)


if __name__ == "__main__":
    sys.exit(main())
