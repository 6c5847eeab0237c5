"""``python -m posekit.experiments image-fit``: SMPLify on 2D keypoints of held-out posed bodies.

Protocol (the seed's Table 5 / SMPLify-X Table 2, on our data): body poses of the held-out test
subjects of ``--motions`` (``pose_dataset(...).test``) on the body model with random plausible
shapes, random perspective cameras, LSP-14 keypoints with Gaussian pixel noise (2 px) and random
dropouts (10 %) (``posekit.fitting.synthetic_views``). Every prior setting fits the same views.

Settings (rows) per method (columns):
  ``prior-only``          E_J + λθ E_θ + λβ E_β (GMM: the max-mixture approximation);
  ``exact``               GMM only: the exact −log Σ_j g_j N_j instead of the max;
  ``+angle``              prior-only + λa E_a (elbow/knee bends);
  ``+interpenetration``   +angle + λsp E_sp (capsules): the full SMPLify objective.
Metrics (mm, mean over images with std): ``v2v_mm`` / ``mpjpe_mm`` after pelvis alignment,
``v2v_pa_mm`` / ``mpjpe_pa_mm`` after Procrustes; ``fit_ms_per_image`` (batched).

Priors come from ``--priors`` via ``posekit.priors.store.load_prior`` (trained there on the train
split of ``--motions`` when absent), or from ``args.prior_objects`` / ``args.body_model`` when the
caller (``experiments all``) already loaded them. ``--methods`` picks them (default: none, gmm, and vposer /
posendf when their files exist).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from ..utils import fast_mode, get_device, seed_everything

__all__ = ["run", "add_arguments", "SETTINGS", "settings_for", "test_poses", "evaluate_setting"]

EXPERIMENT = "image-fit"
METHODS = ("none", "gmm", "vposer", "posendf")
#: setting -> smplify options (on top of the method's prior)
SETTINGS = {
    "prior-only": {"angle_weight": 0.0, "sp_weight": 0.0},
    "exact": {"angle_weight": 0.0, "sp_weight": 0.0, "prior_kwargs": {"approx": None}},
    "+angle": {"sp_weight": 0.0},
    "+interpenetration": {},
}


def add_arguments(parser) -> None:
    parser.add_argument("--methods", default=None,
                        help="comma-separated priors among none,gmm,vposer,posendf (default: none,gmm + any "
                             "vposer/posendf file found in --priors)")
    parser.add_argument("--n-images", type=int, default=None, help="number of views (default 8 fast / 48 full)")
    parser.add_argument("--iters", type=int, default=None, help="optimiser steps per stage (default 40 fast / 100 full)")


def settings_for(method: str) -> list[str]:
    """The settings run for a method (``exact`` only exists for the GMM)."""
    return [s for s in SETTINGS if s != "exact" or method == "gmm"]


def test_poses(motions, n: int, seed: int = 0, fast: bool = False) -> torch.Tensor:
    """n body-21 poses (n,21,3) drawn from the held-out test subjects of ``motions``."""
    from ..data import pose_dataset

    ds = pose_dataset(motions, fps=30, thin=2.0, seed=seed, progress=False, max_files=12 if fast else None)
    for split in ("test", "val", "train"):
        x = ds.body21(split)
        if len(x):
            break
        warnings.warn(f"no {split} poses in {motions}; falling back to the next split")
    else:
        raise ValueError(f"no poses found in {motions}")
    if ds.synthetic:
        warnings.warn("image-fit runs on SYNTHETIC poses (no real motion data found)")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[:n]
    return x[idx]


def evaluate_setting(views: dict, body_model, prior, options: dict, progress: bool = False) -> dict:
    """Fit the views with one setting -> {"errors": {metric: (B,)}, "time_s": float, "fit": smplify result}."""
    from ..fitting import fit_errors, smplify

    t0 = time.perf_counter()
    fit = smplify(views["keypoints_2d"], views["confidence"], views["focal_length"], views["image_size"],
                  body_model, prior, progress=progress, **options)
    dt = time.perf_counter() - t0
    err = fit_errors(fit["vertices"].cpu(), fit["joints"].cpu(), views["vertices"], views["joints"])
    return {"errors": err, "time_s": dt, "fit": fit}


def _load_priors(args, methods, fast, device):
    """{method: prior}; priors already loaded by the caller (``args.prior_objects``, as ``all`` does)
    are reused, the others loaded (or trained) from ``--priors``."""
    from ..priors.store import load_prior, prior_path

    injected = getattr(args, "prior_objects", None) or {}
    priors = {}
    for m in methods:
        if m == "none":
            priors[m] = None
            continue
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; expected some of {METHODS}")
        if m in injected:
            priors[m] = injected[m]
            continue
        print(f"[image-fit] prior {m}: {prior_path(m, args.priors)}"
              + ("" if prior_path(m, args.priors).exists() else " (absent: training it now)"))
        priors[m] = load_prior(m, args.priors, motions=args.motions, fast=fast, seed=args.seed, device=device)
    return priors


def run(args) -> list[dict]:
    from ..body import load_body_model
    from ..fitting.synthetic_views import make_views
    from ..priors.store import prior_path

    fast = bool(getattr(args, "fast", False)) or fast_mode()
    device = get_device(getattr(args, "device", None))
    seed_everything(args.seed)
    if getattr(args, "methods", None):
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    else:
        methods = ["none", "gmm"] + [m for m in ("vposer", "posendf") if prior_path(m, args.priors).exists()]
    n = getattr(args, "n_images", None) or (8 if fast else 48)
    iters = getattr(args, "iters", None) or (40 if fast else 100)
    priors = _load_priors(args, methods, fast, device)
    body_model = getattr(args, "body_model", None)
    if body_model is None:
        body_model = load_body_model(device=device)
    poses = test_poses(args.motions, n, seed=args.seed, fast=fast)
    views = make_views(body_model, poses, seed=args.seed)
    base = {"stage_iters": iters, "camera_iters": 20 if fast else 30}
    rows = []
    for m in methods:
        for s in settings_for(m):
            res = evaluate_setting(views, body_model, priors[m], {**base, **SETTINGS[s]})
            for metric, v in res["errors"].items():
                rows.append({"experiment": EXPERIMENT, "setting": s, "method": m, "metric": metric,
                             "value": float(v.mean()), "std": float(v.std()) if len(v) > 1 else float("nan"),
                             "n": len(v)})
            rows.append({"experiment": EXPERIMENT, "setting": s, "method": m, "metric": "fit_ms_per_image",
                         "value": 1000 * res["time_s"] / len(poses), "std": float("nan"), "n": len(poses)})
            print(f"[image-fit] {m:8s} {s:18s} v2v {res['errors']['v2v_mm'].mean():6.1f} mm  "
                  f"PA {res['errors']['v2v_pa_mm'].mean():6.1f} mm  ({res['time_s']:.1f} s)")
    return rows
