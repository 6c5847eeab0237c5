"""Photo fit benchmark (chapter 02b): the detector and SMPLify on renders of the open body model.

    OMP_NUM_THREADS=1 python benchmarks/photo.py [--n 8] [--iters 40] [--seed 5]

Renders ``--n`` held-out poses of the embedded CMU sample from known cameras
(``posekit.fit.synthetic.rendered_views``), then prints: the render time; the detector's time per
image and its LSP-14 keypoint error against the projected true joints (px, with the error of the raw
landmarks without the hip/neck/head-top mapping); per prior (none, gmm, vposer, posendf: the shipped
pretrained ones) the fit time per image and PA-MPJPE / MPJPE (mm) on detected keypoints, and the whole
photo -> mesh time (load + detect + fit) of the packaged sample JPEG. Timings depend on machine load.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch


def main(argv=None) -> int:
    from posekit.body import load_body_model
    from posekit.fit.synthetic import SAMPLE_PATH, held_out_poses, rendered_views
    from posekit.fitting import fit_errors
    from posekit.photo import detector_available
    from posekit.photo.detect import PoseDetector, mediapipe_to_lsp
    from posekit.photo.fit import PHOTO_OPTIONS, PRIOR_NAMES, fit_photo, load_named_prior

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8, help="number of rendered views")
    p.add_argument("--iters", type=int, default=PHOTO_OPTIONS["stage_iters"], help="L-BFGS iterations per SMPLify stage")
    p.add_argument("--seed", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__} (shared machine: timings are indicative)")
    if not detector_available():
        print("the detector is not installed: run `make photo` first")
        return 1
    body = load_body_model(device="cpu")
    t = time.perf_counter()
    views = rendered_views(body, held_out_poses(a.n, seed=a.seed), seed=a.seed)
    print(f"render: {1000 * (time.perf_counter() - t) / a.n:.0f} ms/image ({views['image_size'][0].int().tolist()} px)")

    det = PoseDetector()
    det.landmarks(views["images"][0])                                      # model load, not counted
    kps, confs, err, raw, times = [], [], [], [], []
    for i, img in enumerate(views["images"]):
        t = time.perf_counter()
        lm, vis = det.landmarks(img)
        kp, conf = mediapipe_to_lsp(lm, vis)
        times.append(time.perf_counter() - t)
        truth = views["keypoints_clean"][i].numpy()
        kps.append(kp)
        confs.append(conf)
        err.append(np.linalg.norm(kp - truth, axis=1))
        raw.append(np.linalg.norm(mediapipe_to_lsp(lm, vis, hip_width=1, hip_drop=0, neck_up=0, head_up=0.5)[0]
                                  - truth, axis=1))
    err, raw = np.array(err), np.array(raw)
    height = float((views["keypoints_clean"][:, :, 1].amax(1) - views["keypoints_clean"][:, :, 1].amin(1)).mean())
    print(f"detector: {1000 * np.mean(times):.0f} ms/image; keypoint error mean {err.mean():.1f} px, median "
          f"{np.median(err):.1f} px (bodies {height:.0f} px tall); raw landmarks {raw.mean():.1f} px")
    print("  per keypoint (px): " + " ".join(f"{e:.0f}" for e in err.mean(0)))

    print(f"\nSMPLify, {a.iters} steps/stage, on detected keypoints ({a.n} views, true focal length):")
    print(f"{'prior':8s} {'fit s/image':>11s} {'PA-MPJPE mm':>12s} {'MPJPE mm':>9s}")
    for name in PRIOR_NAMES:
        prior = load_named_prior(name)
        pa, mp, ts = [], [], []
        for i, img in enumerate(views["images"]):
            r = fit_photo(img, prior=prior, body_model=body, focal_length=float(views["focal_length"][i]),
                          keypoints=kps[i], confidence=confs[i], stage_iters=a.iters)
            e = fit_errors(r["fit"]["vertices"], r["fit"]["joints"], views["vertices"][i:i + 1], views["joints"][i:i + 1])
            pa.append(float(e["mpjpe_pa_mm"][0]))
            mp.append(float(e["mpjpe_mm"][0]))
            ts.append(r["times"]["fit"])
        print(f"{name:8s} {np.mean(ts):11.2f} {np.mean(pa):7.1f} ± {np.std(pa):3.0f} {np.mean(mp):9.1f}")

    t = time.perf_counter()
    r = fit_photo(SAMPLE_PATH, prior="gmm", body_model=body, detector=det, stage_iters=a.iters)
    total = time.perf_counter() - t
    print(f"\nwhole photo -> mesh ({SAMPLE_PATH.name}, gmm): {total:.2f} s (load {r['times']['load']:.2f}, "
          f"detect {r['times']['detect']:.2f}, fit {r['times']['fit']:.2f}; body model already loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
