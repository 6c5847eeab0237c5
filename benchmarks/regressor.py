"""The keypoint regressor (chapter 08): milliseconds per image, and whether a photo fit should start from it.

    OMP_NUM_THREADS=1 python benchmarks/regressor.py [--n 64] [--repeats 20] [--regressor FILE] [--no-compare]

Prints, on one torch thread:

1. **speed**: ``posekit.fitting.regress.regress`` on one view at a time (median and interquartile range over
   ``--n`` views × ``--repeats``) and on a batch of ``--n`` views (per image; median and range over repeats);
   SMPLify with the photo's budget (``posekit.photo.fit.PHOTO_OPTIONS``) beside it for scale;
2. unless ``--no-compare``: **the photo default**: on views of the VALIDATION subjects (never the test ones) the
   photo fit's options with the GMM prior, started from the rest pose (SMPLify's four stages) or from the
   regressor (its last stage), v2v error (mm, pelvis-aligned) with the paired difference and its 95 % bootstrap
   CI, and the fit time per view; then the same on ``--n-renders`` RENDERED views of validation subjects
   (``posekit.fit.synthetic.rendered_views``) with the photo detector's keypoints (MediaPipe mapped to LSP-14:
   the keypoints a photo gives, not the ones the regressor was trained on), when the detector is installed.
   The command line ``python -m posekit.fit image`` starts from the regressor by default only if both show it
   more accurate; the library's ``fit_photo`` / ``fit_people`` keep ``init="rest"``.

Times are wall-clock on this machine (a shared machine's load moves them).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def _stats_ms(xs) -> str:
    xs = 1000 * np.asarray(xs, dtype=float)
    q1, q3 = np.percentile(xs, [25, 75])
    return f"{np.median(xs):.2f} ms (IQR {q1:.2f}–{q3:.2f}, range {xs.min():.2f}–{xs.max():.2f}, n = {len(xs)})"


def speed(model, views, repeats: int) -> None:
    from posekit.fitting.regress import keypoint_boxes, regress

    kp, conf = views["keypoints_2d"], views["confidence"]
    boxes = keypoint_boxes(kp, conf)
    n = len(kp)
    regress(kp[:1], conf[:1], boxes[:1], model)                              # warm up
    single = []
    for _ in range(repeats):
        for i in range(n):
            t = time.perf_counter()
            regress(kp[i:i + 1], conf[i:i + 1], boxes[i:i + 1], model)
            single.append(time.perf_counter() - t)
    batched = []
    for _ in range(repeats):
        t = time.perf_counter()
        regress(kp, conf, boxes, model)
        batched.append((time.perf_counter() - t) / n)
    print(f"regressor, one image at a time:   {_stats_ms(single)}")
    print(f"regressor, batch of {n} (per image): {_stats_ms(batched)}")


def compare(body, model, views, prior) -> None:
    import torch

    from posekit.experiments.verdicts import paired_difference
    from posekit.fitting import fit_errors, smplify
    from posekit.fitting.regress import start_options
    from posekit.photo.fit import PHOTO_OPTIONS

    n = len(views["keypoints_2d"])
    res = {}
    for init in ("rest", "regressor"):
        t = time.perf_counter()
        opts = dict(PHOTO_OPTIONS)
        if init == "regressor":
            opts.update(start_options(views["keypoints_2d"], views["confidence"], views["focal_length"],
                                      views["image_size"], body, model))
        fit = smplify(views["keypoints_2d"], views["confidence"], views["focal_length"], views["image_size"], body,
                      prior, progress=False, **opts)
        dt = (time.perf_counter() - t) / n
        e = fit_errors(fit["vertices"], fit["joints"], views["vertices"], views["joints"], faces=body.faces)
        res[init] = (e["v2v_mm"].double().numpy(), dt)
        print(f"photo fit from {init:9s}: v2v {res[init][0].mean():6.1f} ± {res[init][0].std():5.1f} mm, "
              f"{1000 * dt:6.0f} ms per view (batch of {n})")
    d = paired_difference(res["regressor"][0], res["rest"][0])
    print(f"regressor start − rest start: {d} mm; time saved {1000 * (res['rest'][1] - res['regressor'][1]):.0f} ms "
          "per view")
    better = d.hi < 0
    print("-> the regressor start is " + ("more accurate: it could be the photo default" if better else
                                          "not clearly more accurate: the photo default stays init='rest'"))
    torch.manual_seed(0)


def compare_renders(body, model, motions, n: int, prior) -> None:
    from posekit.experiments.verdicts import paired_difference
    from posekit.fit.synthetic import rendered_views
    from posekit.fitting import fit_errors
    from posekit.photo import detector_available
    from posekit.photo.fit import fit_photo

    if not detector_available():
        print("renders: the detector is not installed (`make photo`); skipped")
        return
    from posekit.experiments.image_fit import test_poses
    from posekit.photo.detect import PoseDetector, mediapipe_to_lsp

    views = rendered_views(body, test_poses(motions, n, seed=2, split="val"), seed=2)
    det = PoseDetector()
    res = {"rest": [], "regressor": []}
    times = {"rest": [], "regressor": []}
    for i, img in enumerate(views["images"]):
        kp, conf = mediapipe_to_lsp(*det.landmarks(img))
        for init in res:
            r = fit_photo(img, prior=prior, body_model=body, focal_length=float(views["focal_length"][i]), keypoints=kp,
                          confidence=conf, init=init, regressor=model)
            e = fit_errors(r["fit"]["vertices"], r["fit"]["joints"], views["vertices"][i:i + 1], views["joints"][i:i + 1],
                           faces=body.faces)
            res[init].append(float(e["v2v_mm"][0]))
            times[init].append(r["times"]["fit"])
    for init, v in res.items():
        print(f"renders, detector keypoints, from {init:9s}: v2v {np.mean(v):6.1f} ± {np.std(v):5.1f} mm, "
              f"{1000 * np.median(times[init]):6.0f} ms per photo (median)")
    d = paired_difference(res["regressor"], res["rest"])
    print(f"renders: regressor start − rest start: {d} mm; time saved "
          f"{1000 * (np.median(times['rest']) - np.median(times['regressor'])):.0f} ms per photo (medians)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=64, help="number of views")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--regressor", default=None, help="regressor file (default: the shipped one)")
    p.add_argument("--motions", default=None, help="motion folder (default: the shared CMU set, else the sample)")
    p.add_argument("--no-compare", action="store_true", help="only the speed")
    p.add_argument("--n-renders", type=int, default=16, help="rendered views for the photo comparison (0: none)")
    a = p.parse_args(argv)

    import torch

    from posekit.body import load_body_model
    from posekit.data.paths import embedded_sample_dir, find_motion_dir
    from posekit.experiments.image_fit import test_poses
    from posekit.fitting.regress import load_regressor
    from posekit.fitting.synthetic_views import make_views
    from posekit.photo.fit import load_named_prior

    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} "
          "(a shared machine: timings are indicative)")
    motions = a.motions or find_motion_dir() or embedded_sample_dir()
    body = load_body_model(device="cpu")
    model = load_regressor(a.regressor)
    views = make_views(body, test_poses(motions, a.n, seed=1, split="val"), seed=1)
    print(f"{len(views['keypoints_2d'])} views of validation subjects of {motions}")
    speed(model, views, a.repeats)
    if not a.no_compare:
        compare(body, model, views, load_named_prior("gmm"))
        if a.n_renders:
            compare_renders(body, model, motions, a.n_renders, load_named_prior("gmm"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
