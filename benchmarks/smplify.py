"""SMPLify fit benchmark: errors per prior setting on held-out CMU subjects, and fit time per image.

    OMP_NUM_THREADS=1 python benchmarks/smplify.py [--motions DIR] [--priors DIR] [--n 32] [--iters 100] [--fast]

Prints a table (mean ± std over images, mm) of v2v / PA-v2v / MPJPE / PA-MPJPE for: no prior,
GMM max-mixture, GMM exact, GMM + angle prior, GMM + angle + interpenetration, and the fit time per
image when images are fitted one by one versus in one batch. Timings depend on machine load.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    from posekit.body import load_body_model
    from posekit.experiments.image_fit import SETTINGS, evaluate_setting, test_poses
    from posekit.fitting import make_views
    from posekit.priors.store import load_prior
    from posekit.utils import cache_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", default="/work/shared/data/cmu" if Path("/work/shared/data/cmu").is_dir() else None)
    p.add_argument("--priors", default=str(cache_dir() / "priors" / "full"))
    p.add_argument("--n", type=int, default=32, help="number of test views")
    p.add_argument("--iters", type=int, default=100, help="L-BFGS iterations per stage (SMPLify's default optimiser)")
    p.add_argument("--n-single", type=int, default=4, help="views fitted one by one for the timing")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.fast:
        a.n, a.iters, a.n_single = 8, 40, 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__} (shared machine: timings are indicative)")
    gmm = load_prior("gmm", a.priors, motions=a.motions, fast=a.fast, seed=a.seed)
    body_model = load_body_model()
    poses = test_poses(a.motions, a.n, seed=a.seed, fast=a.fast)
    views = make_views(body_model, poses, seed=a.seed)
    print(f"{len(poses)} views of held-out test-subject poses; 2 px noise, 10 % dropouts; {a.iters} steps/stage")
    base = {"stage_iters": a.iters, "camera_iters": 30}
    runs = [("no prior", None, {"angle_weight": 0.0, "sp_weight": 0.0}),
            ("GMM max-mixture", gmm, SETTINGS["prior-only"]),
            ("GMM exact", gmm, SETTINGS["exact"]),
            ("GMM + angle", gmm, SETTINGS["+angle"]),
            ("GMM + angle + interpenetration", gmm, SETTINGS["+interpenetration"])]
    cols = ("v2v_mm", "v2v_pa_mm", "mpjpe_mm", "mpjpe_pa_mm")
    print(f"\n| setting | {' | '.join(cols)} | batched s/image |")
    print("|---|" + "---|" * (len(cols) + 1))
    for name, prior, opts in runs:
        r = evaluate_setting(views, body_model, prior, {**base, **opts})
        cells = [f"{r['errors'][c].mean():.1f} ± {r['errors'][c].std():.1f}" for c in cols]
        print(f"| {name} | {' | '.join(cells)} | {r['time_s'] / len(poses):.3f} |", flush=True)

    # single vs batched timing, full SMPLify objective
    opts = {**base, **SETTINGS["+interpenetration"]}
    k = min(a.n_single, len(poses))
    t0 = time.perf_counter()
    for i in range(k):
        evaluate_setting({key: v[i:i + 1] for key, v in views.items()}, body_model, gmm, opts)
    single = (time.perf_counter() - t0) / k
    r = evaluate_setting(views, body_model, gmm, opts)
    print(f"\nfit time per image (full objective, both flip hypotheses, {a.iters} steps/stage): "
          f"one at a time {single:.2f} s; batched ×{len(poses)} {r['time_s'] / len(poses):.3f} s "
          f"({single / (r['time_s'] / len(poses)):.1f}× faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
