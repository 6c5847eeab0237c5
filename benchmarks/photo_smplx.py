"""SMPL-X photo fit benchmark (chapter 03b): Holistic detection and SMPLify-X per photo, alone and batched.

    OMP_NUM_THREADS=1 python benchmarks/photo_smplx.py [--repeats 5] [--iters 30] [--prior gmm]

On the packaged photographs astronaut.jpg and grace_hopper.jpg (``posekit/photo/sample/``, public domain), in one
process with the open SMPL-X model and the prior loaded: the whole-body detection per photo
(``posekit.photo.wholebody.detect_wholebody``, a fresh Holistic graph per call; needs ``make photo``, else the
astronaut's cached landmarks are used for both photos' fits and the detection is not timed), SMPLify-X per photo
(``posekit.photo.fit_smplx.fit_photo_smplx`` with the keypoints given: the fit only), and both photos fitted in one
batched ``smplifyx`` call (each row its own camera and optimiser state). Wall-clock seconds: median and range
over ``--repeats``; a shared machine's load moves them.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut.jpg", "grace_hopper.jpg")


def _median_range(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    return f"{np.median(xs):.2f} s (range {xs.min():.2f}–{xs.max():.2f}, n = {len(xs)})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iters", type=int, default=None, help="L-BFGS steps per SMPLify-X stage (default: the CLI's)")
    p.add_argument("--prior", default="gmm")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from posekit.fitting.smplifyx import smplifyx
    from posekit.photo import detector_available, load_image
    from posekit.photo.camera import camera_for
    from posekit.photo.fit import load_named_prior
    from posekit.photo.fit_smplx import SMPLX_PHOTO_OPTIONS, fit_photo_smplx, load_smplx_model
    from posekit.photo.wholebody import holistic_to_wholebody, load_cached_holistic

    options = {**SMPLX_PHOTO_OPTIONS, **({} if args.iters is None else {"stage_iters": args.iters})}
    sample = ROOT / "posekit" / "photo" / "sample"
    photos = [load_image(sample / name) for name in PHOTOS]
    print(f"torch threads: {torch.get_num_threads()}; prior {args.prior}; SMPLify-X options {options}")
    if detector_available():
        from posekit.photo.wholebody import detect_wholebody

        kps = []
        for name, photo in zip(PHOTOS, photos):
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                kp = detect_wholebody(photo)
                ts.append(time.perf_counter() - t0)
            kps.append(kp)
            print(f"detect {name}: {_median_range(ts)}")
    else:
        d = load_cached_holistic()
        kp = holistic_to_wholebody(d["pose"], d["visibility"], d["face"], d["left_hand"], d["right_hand"],
                                   image_size=d["size"])
        kps = [kp, kp]
        print("no detector (make photo): the astronaut's cached landmarks for both fits")
    body = load_smplx_model()
    prior = load_named_prior(args.prior)
    for name, photo, (kp, conf) in zip(PHOTOS, photos, kps):
        ts = []
        for _ in range(args.repeats):
            r = fit_photo_smplx(photo, prior=prior, body_model=body, keypoints=kp, confidence=conf, **options)
            ts.append(r["times"]["fit"])
        print(f"SMPLify-X alone, {name}: {_median_range(ts)}")
    cams = [camera_for(ph) for ph in photos]
    kp_t = torch.as_tensor(np.stack([k for k, _ in kps]), dtype=torch.float32)
    conf_t = torch.as_tensor(np.stack([c for _, c in kps]), dtype=torch.float32)
    f = torch.tensor([c["focal_length"] for c in cams], dtype=torch.float32)
    size = torch.tensor([c["size"] for c in cams], dtype=torch.float32)
    ts = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        smplifyx(kp_t, conf_t, f, size, body, prior, progress=False, **options)
        ts.append(time.perf_counter() - t0)
    print(f"SMPLify-X batch of both photos: {_median_range(ts)}; per photo {np.median(ts) / len(PHOTOS):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
