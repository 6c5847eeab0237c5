"""Photo fit benchmark (chapter 02b): start-up, the people search, SMPLify per person, and accuracy on renders.

    OMP_NUM_THREADS=1 python benchmarks/photo.py [--repeats 5] [--iters 40] [--n 8] [--seed 5] [--no-renders]
                                                 [--budget 100 [--motions DIR]] [--small 10]

Prints, on the packaged real photographs (``posekit/photo/sample/``, public domain / CC0):

1. **cold start** (fresh processes, median of ``--repeats``): the command line failing on a file that is not
   an image; the imports the command line makes before it reads a photo, plus reading it ("first pixel");
   the whole command line on the astronaut photo (one person, every output file written);
2. **the people search** (``posekit.photo.people.find_people``; needs ``make photo``): time per photo and
   people found on each photograph and on a frame of the three side by side;
3. **warm SMPLify per person** (the GMM prior, ``--iters`` steps per stage, one process, body model and prior
   loaded): one person (the astronaut's cached MediaPipe keypoints), then several people fitted in one batch
   against the same people one at a time (the frame's detections, or without the detector copies of the
   astronaut's keypoints shifted and scaled); one person again started from the keypoint regressor
   (``init="regressor"``: one pass, then SMPLify's last stage only) and the time that saves per photo;
4. unless ``--no-renders``: the detector's keypoint error and each prior's PA-MPJPE on ``--n`` renders of the
   open body model in held-out poses from known cameras (``posekit.fit.synthetic.rendered_views``);
5. with ``--budget N``: the photo budget (:data:`posekit.photo.fit.PHOTO_OPTIONS`: its annealing stages stop at
   a relative energy change of ``early_ftol``) against the same budget with SMPLifyConfig's ``ftol`` in every
   stage (what the experiments use), one person at a time on N renders of VALIDATION subjects with the
   detector's keypoints: v2v and PA-MPJPE, the paired difference with its 95 % bootstrap CI, the time per person;
6. with ``--small N``: recall of the people search, with and without its finer second search, on N frames of
   1280 × 720 px holding the three photographs, each scaled so that its person is 60 to 120 px tall: people with
   a detection mostly (> 50 %) inside their photograph, people with a detection whose box matches theirs
   (IoU > 0.5 with the box found on the full-size photograph, scaled), the other detections (false ones, or a
   box too unlike the person's), and the time per frame.

Times are wall-clock seconds on this machine: median and the range over repeats; a shared machine's load
moves them.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _median_range(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    return f"{np.median(xs):.2f} s (range {xs.min():.2f}–{xs.max():.2f}, n = {len(xs)})"


def _wall(cmd, repeats: int, env=None) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        out.append(time.perf_counter() - t)
    return out


def cold_start(repeats: int, photo: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "not_a_photo.jpg"
        bad.write_text("this is not an image\n")
        print("cold start (fresh processes):")
        print(f"  python itself:                     {_median_range(_wall([py, '-c', 'pass'], repeats, env))}")
        print(f"  a bad file refused (exit 2):        "
              f"{_median_range(_wall([py, '-m', 'posekit.fit', 'image', str(bad), '--out', tmp + '/o'], repeats, env))}")
        first = ("import posekit.fit.__main__; from posekit.photo.io import load_image; "
                 f"load_image({str(photo)!r})")
        print(f"  command-line imports + first pixel: {_median_range(_wall([py, '-c', first], repeats, env))}")
        whole = [py, "-m", "posekit.fit", "image", str(photo), "--out", tmp + "/fit"]
        print(f"  whole command line, 1 person:       {_median_range(_wall(whole, max(1, repeats // 2), env))}")


def search(photos: dict) -> dict:
    from posekit.photo.detect import PoseDetector
    from posekit.photo.people import find_people

    det = PoseDetector()
    found = {}
    print("\npeople search (find, mask, repeat; tiles; one crop per person):")
    for name, rgb in photos.items():
        find_people(rgb, det)                                          # warm
        t = time.perf_counter()
        people = find_people(rgb, det)
        dt = time.perf_counter() - t
        found[name] = people
        print(f"  {name:28s} {rgb.shape[1]:5d}×{rgb.shape[0]:<5d} {dt:5.2f} s  {len(people)} found, boxes "
              + ", ".join(f"{p.box[3] - p.box[1]:.0f} px tall" for p in people))
    return found


def warm_fits(body, prior, photo, people, iters: int, repeats: int) -> None:
    from posekit.photo.fit import fit_people

    def timed(ps, init="rest"):
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fit_people(photo, prior=prior, body_model=body, people=ps, stage_iters=iters, init=init)
            ts.append(time.perf_counter() - t)
        return ts

    P = len(people)
    one = timed(people[:1])
    print(f"\nwarm SMPLify, GMM prior, {iters} steps/stage, torch threads {__import__('torch').get_num_threads()}:")
    print(f"  1 person:                           {_median_range(one)}")
    from posekit.fitting.regress import pretrained_regressor_path

    if pretrained_regressor_path() is not None:
        fast = timed(people[:1], init="regressor")
        print(f"  1 person, from the regressor:       {_median_range(fast)}: saves "
              f"{np.median(one) - np.median(fast):.2f} s per photo (medians)")
    if P == 1:
        return
    batched = timed(people)
    alone = [float(np.median(timed([p]))) for p in people]
    print(f"  {P} people in one batch:             {_median_range(batched)} = "
          f"{np.median(batched) / P:.2f} s per person")
    print(f"  the same {P} one at a time (medians): " + ", ".join(f"{a:.2f}" for a in alone)
          + f" s, total {sum(alone):.2f} s")


def renders(body, n: int, iters: int, seed: int) -> None:
    import torch

    from posekit.fit.synthetic import held_out_poses, rendered_views
    from posekit.fitting import fit_errors
    from posekit.photo import detector_available
    from posekit.photo.detect import PoseDetector, mediapipe_to_lsp
    from posekit.photo.fit import PRIOR_NAMES, fit_photo, load_named_prior

    t = time.perf_counter()
    views = rendered_views(body, held_out_poses(n, seed=seed), seed=seed)
    print(f"\nrenders of the open body model: {1000 * (time.perf_counter() - t) / n:.0f} ms/image "
          f"({views['image_size'][0].int().tolist()} px)")
    if detector_available():
        det = PoseDetector()
        det.landmarks(views["images"][0])
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
        source = "detected"
    else:
        kps = [v.numpy() for v in views["keypoints_clean"]]
        confs = [np.ones(14)] * n
        source = "true (the detector is not installed)"
    print(f"SMPLify, {iters} steps/stage, on {source} keypoints ({n} views, true focal length):")
    print(f"{'prior':8s} {'fit s/image':>11s} {'PA-MPJPE mm':>14s} {'MPJPE mm':>9s}")
    for name in PRIOR_NAMES:
        prior = load_named_prior(name)
        pa, mp, ts = [], [], []
        for i, img in enumerate(views["images"]):
            r = fit_photo(img, prior=prior, body_model=body, focal_length=float(views["focal_length"][i]),
                          keypoints=kps[i], confidence=confs[i], stage_iters=iters)
            e = fit_errors(r["fit"]["vertices"], r["fit"]["joints"], views["vertices"][i:i + 1], views["joints"][i:i + 1])
            pa.append(float(e["mpjpe_pa_mm"][0]))
            mp.append(float(e["mpjpe_mm"][0]))
            ts.append(r["times"]["fit"])
        print(f"{name:8s} {np.mean(ts):11.2f} {np.mean(pa):8.1f} ± {np.std(pa):3.0f} {np.mean(mp):9.1f}")
    torch.manual_seed(0)


def budget(body, prior, n: int, motions=None) -> None:
    import torch

    from posekit.data.paths import embedded_sample_dir, find_motion_dir
    from posekit.experiments.image_fit import test_poses
    from posekit.experiments.verdicts import paired_difference
    from posekit.fit.synthetic import rendered_views
    from posekit.fitting import SMPLifyConfig, fit_errors, smplify
    from posekit.photo import detector_available
    from posekit.photo.detect import PoseDetector, mediapipe_to_lsp
    from posekit.photo.fit import PHOTO_OPTIONS

    motions = motions or find_motion_dir() or embedded_sample_dir()
    views = rendered_views(body, test_poses(motions, n, seed=2, split="val"), seed=2)
    if detector_available():
        det = PoseDetector()
        got = [mediapipe_to_lsp(*det.landmarks(img)) for img in views["images"]]
        kp = torch.tensor(np.stack([g[0] for g in got]), dtype=torch.float32)      # (n,14,2)
        conf = torch.tensor(np.stack([g[1] for g in got]), dtype=torch.float32)    # (n,14)
        source = "detected"
    else:
        kp, conf, source = views["keypoints_clean"], torch.ones(n, 14), "true"
    settings = {"photo": dict(PHOTO_OPTIONS), "smplify ftol": {**PHOTO_OPTIONS, "early_ftol": None}}
    res = {}
    print(f"\nthe photo budget on {n} renders of validation subjects of {motions} ({source} keypoints):")
    for name, opts in settings.items():
        errs, ts = {"v2v_mm": [], "mpjpe_pa_mm": []}, []
        for i in range(n):                                             # one person at a time, as a photo is fitted
            t = time.perf_counter()
            fit = smplify(kp[i:i + 1], conf[i:i + 1], views["focal_length"][i:i + 1], views["image_size"][i:i + 1],
                          body, prior, progress=False, **opts)
            ts.append(time.perf_counter() - t)
            e = fit_errors(fit["vertices"], fit["joints"], views["vertices"][i:i + 1], views["joints"][i:i + 1],
                           faces=body.faces)
            for k in errs:
                errs[k].append(float(e[k][0]))
        res[name] = errs
        early = opts.get("early_ftol") or SMPLifyConfig().ftol
        print(f"  {name:13s} (annealing stages stop at {early:.0e}): v2v {np.mean(errs['v2v_mm']):6.1f} mm, PA-MPJPE "
              f"{np.mean(errs['mpjpe_pa_mm']):5.1f} mm, {_median_range(ts)} per person")
    for k in ("v2v_mm", "mpjpe_pa_mm"):
        print(f"  photo − smplify ftol, {k}: {paired_difference(res['photo'][k], res['smplify ftol'][k])}")


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def small_people(n: int) -> None:
    from PIL import Image

    from posekit.photo.detect import PoseDetector
    from posekit.photo.people import SAMPLE_DIR, find_people, overlap

    det = PoseDetector()
    ims = [Image.open(SAMPLE_DIR / name).convert("RGB") for name in ("astronaut.jpg", "camera_grey.png", "grace_hopper.jpg")]
    full = [find_people(np.asarray(im), det)[0].box for im in ims]        # each photograph's person, full size
    res = {fine: {"in photo": 0, "person box": 0, "other": 0, "times": []} for fine in (False, True)}
    total = 0
    for seed in range(n):
        g = np.random.default_rng(seed)
        canvas = np.full((720, 1280, 3), 128, np.uint8)
        rects, truth = [], []
        for im, b in zip(ims, full):
            s = g.uniform(60, 120) / (b[3] - b[1])
            sm = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
            for _ in range(200):                                       # apart from the others by 10 px
                x, y = int(g.integers(0, 1280 - sm.width)), int(g.integers(0, 720 - sm.height))
                r = (x, y, x + sm.width, y + sm.height)
                if all(r[2] + 10 < q[0] or q[2] + 10 < r[0] or r[3] + 10 < q[1] or q[3] + 10 < r[1] for q in rects):
                    break
            canvas[r[1]:r[3], r[0]:r[2]] = np.asarray(sm)
            rects.append(r)
            truth.append((x + b[0] * sm.width / im.width, y + b[1] * sm.height / im.height,
                          x + b[2] * sm.width / im.width, y + b[3] * sm.height / im.height))
        total += len(rects)
        for fine, out in res.items():
            t = time.perf_counter()
            people = find_people(canvas, det, fine=fine)
            out["times"].append(time.perf_counter() - t)
            out["in photo"] += sum(any(overlap(p.box, r) > 0.5 for p in people) for r in rects)
            out["person box"] += sum(any(_iou(p.box, tb) > 0.5 for p in people) for tb in truth)
            out["other"] += sum(not any(_iou(p.box, tb) > 0.5 for tb in truth) for p in people)
    print(f"\nsmall people (60–120 px tall, 3 per 1280×720 frame, {n} frames, {total} people):")
    for fine, out in res.items():
        print(f"  {'with the finer search' if fine else 'first search only':22s} someone in the photograph "
              f"{out['in photo']}/{total}, the person's box (IoU > 0.5) {out['person box']}/{total}, other "
              f"detections {out['other']}; {_median_range(out['times'])} per frame")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="fresh processes / fits per timing")
    p.add_argument("--iters", type=int, default=None, help="L-BFGS iterations per SMPLify stage (default: the photo default)")
    p.add_argument("--n", type=int, default=8, help="number of rendered views")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--no-renders", action="store_true", help="skip the accuracy part on renders")
    p.add_argument("--budget", type=int, default=0, help="renders of validation subjects for the budget comparison")
    p.add_argument("--small", type=int, default=0, help="frames of small people for the search's recall")
    p.add_argument("--motions", default=None, help="motion folder for --budget (default: the shared CMU set, else the sample)")
    p.add_argument("--only", choices=("budget", "small"), default=None, help="run only that part")
    a = p.parse_args(argv)

    import torch
    from PIL import Image

    from posekit.body import load_body_model
    from posekit.photo import detector_available, load_image
    from posekit.photo.fit import PHOTO_OPTIONS, load_named_prior, lsp_people
    from posekit.photo.people import SAMPLE_DIR, load_cached_people

    iters = a.iters or PHOTO_OPTIONS["stage_iters"]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} "
          "(a shared machine: timings are indicative)")
    if a.only == "budget" or (a.only is None and a.budget):
        budget(load_body_model(device="cpu"), load_named_prior("gmm"), a.budget or 100, a.motions)
    if (a.only == "small" or (a.only is None and a.small)) and detector_available():
        small_people(a.small or 10)
    if a.only:
        return 0
    cold_start(a.repeats, SAMPLE_DIR / "astronaut.jpg")

    names = ("astronaut.jpg", "camera_grey.png", "grace_hopper.jpg")
    ims = [Image.open(SAMPLE_DIR / n).convert("RGB") for n in names]
    half = [im.resize((im.width // 2, im.height // 2), Image.LANCZOS) for im in ims]
    frame = Image.new("RGB", (sum(im.width for im in half) + 20, max(im.height for im in half)), (128, 128, 128))
    x = 0
    for im in half:
        frame.paste(im, (x, frame.height - im.height))
        x += im.width + 10
    photos = {n: np.asarray(im) for n, im in zip(names, ims)}
    photos["frame of the three, half size"] = np.asarray(frame)

    body = load_body_model(device="cpu")
    gmm = load_named_prior("gmm")
    astro = load_image(SAMPLE_DIR / "astronaut.jpg")
    cached = lsp_people(load_cached_people(SAMPLE_DIR / "astronaut_mediapipe.json"), astro.size)
    if detector_available():
        found = search(photos)
        multi_photo = load_image(photos["frame of the three, half size"])
        multi = lsp_people(found["frame of the three, half size"], multi_photo.size)
    else:
        print("\npeople search: the detector is not installed (`make photo`); fits below use cached detections")
        multi_photo = astro
        kp = cached[0]["keypoints"]
        multi = [{**cached[0], "keypoints": c + s * (kp - kp.mean(0))} for c, s in
                 ((np.array([120.0, 200.0]), 0.5), (np.array([260.0, 220.0]), 0.45), (kp.mean(0), 1.0))]
    warm_fits(body, gmm, astro, cached, iters, a.repeats)
    if len(multi) > 1:
        warm_fits(body, gmm, multi_photo, multi, iters, max(1, a.repeats // 2))
    if not a.no_renders:
        renders(body, a.n, iters, a.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
