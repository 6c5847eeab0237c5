"""``python -m posekit.experiments image-fit``: SMPLify on 2D keypoints of held-out posed bodies.

Protocol (Pose-NDF Table 5 / SMPLify-X Table 2, on our data): body poses of the held-out test
subjects of ``--motions`` (``pose_dataset(...).test``) on the body model with random plausible
shapes, random perspective cameras, LSP-14 keypoints with Gaussian pixel noise (2 px) and random
dropouts (10 %) (``posekit.fitting.synthetic_views``). Every prior setting fits the same views.

Settings (rows) per method (columns):
  ``prior-only``          E_J + λθ E_θ + λβ E_β (GMM: the max-mixture approximation);
  ``exact``               GMM only: the exact −log Σ_j g_j N_j instead of the max;
  ``+angle``              prior-only + λa E_a (elbow/knee bends), λa calibrated per prior (below);
  ``+interpenetration``   +angle + λsp E_sp (SMPLify's Gaussian spheres): the full SMPLify objective;
  ``+adaptive``           Pose-NDF only: the full objective with Pose-NDF's adaptive weight λθ = w·f(θ).
Every method starts from the same rest pose (``init="rest"``; VPoser from the code of the rest pose) and is
minimised with L-BFGS (strong Wolfe). The prior's weight is calibrated per prior: SMPLify's λθ schedule times a
scale chosen on views of the validation subjects (``PRIOR_SCALE_GRID``; the energies differ in size: Pose-NDF's
distance has a gradient ~190× smaller than the GMM's at equal λ), never on the test subjects. The bend weight is
calibrated the same way, per prior at its chosen λθ (``ANGLE_WEIGHT_GRID``, 0 included: SMPLify's absolute λa
folds limbs against a calibrated λθ, ``benchmarks/angle_prior.py``), and every setting with E_a uses it. How
stable each choice is: the share of bootstrap resamples of the validation views that pick the same value
(``posekit.fitting.tune.choice_stability``), written with the weights.
Metrics (mm, mean over images with std): ``v2v_mm`` / ``surface_mm`` / ``mpjpe_mm`` after pelvis alignment,
``v2v_pa_mm`` / ``surface_pa_mm`` / ``mpjpe_pa_mm`` after Procrustes (``surface``: the area-weighted surface
error, ``posekit.fitting.metrics.surface_samples``); ``fit_ms_per_image`` (batched).

``--init regressor`` runs Table 5's right half instead (Pose-NDF's "optimisation from ExPose's output"): the
learned keypoint regressor alone (``posekit.fitting.regress``, method ``regressor``), then every method's fit
started from the regressor's body (betas, orientation, pose, translation; one hypothesis, no flip) with the
objective of ``+angle`` and SMPLify's last stage weights (a refinement, not the annealing from a rest pose); each
λθ scale and bend weight calibrated as above on the validation views, also started from the regressor. These rows
have the setting ``regressor-start`` (:data:`REGRESSOR_SETTING`) and the same test views (same seed), so they
pair with the fixed-start rows of the same record.

Priors come from ``--priors`` via ``posekit.train.load_or_train`` (trained there on the train
split of ``--motions`` when absent), or from ``args.prior_objects`` / ``args.body_model`` when the
caller (``experiments all``) already loaded them. ``--methods`` picks them (default: none and every pose prior
of ``posekit.priors.registry`` whose file is in ``--priors`` or ships pretrained).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InputError
from ..priors import registry
from ..utils import fast_mode, get_device, seed_everything
from .common import ResultRow, Settings
from .report import check_finite_rows

__all__ = ["run", "run_image_fit", "ImageFitSettings", "available_methods", "add_arguments", "settings_from_args", "SETTINGS", "settings_for", "test_poses",
           "evaluate_setting", "tune_prior_scale", "tune_option", "PRIOR_SCALE_GRID", "PRIOR_SCALE_GRID_FAST",
           "ANGLE_WEIGHT_GRID", "ANGLE_WEIGHT_GRID_FAST", "COMMON_OPTIONS", "REGRESSOR_SETTING", "INITS",
           "regressor_start"]

EXPERIMENT = "image-fit"


def __getattr__(name):
    # METHODS: "none" and the pose priors of posekit.priors.registry, read when asked
    if name == "METHODS":
        return registry.pose_methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: setting -> smplify options (on top of the method's prior)
SETTINGS = {
    "prior-only": {"angle_weight": 0.0, "sp_weight": 0.0},
    "exact": {"angle_weight": 0.0, "sp_weight": 0.0, "prior_kwargs": {"approx": None}},
    "+angle": {"sp_weight": 0.0},
    "+interpenetration": {},
    "+adaptive": {"prior_adaptive": True},
}
#: scales of SMPLify's λθ searched on validation views, per prior (fast: the coarse grid), multiplied by the prior's
#: ``image_scale`` (``posekit.priors.registry``)
PRIOR_SCALE_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
PRIOR_SCALE_GRID_FAST = (1.0, 100.0)
#: bend weights ``angle_weight`` (λa = (aw·w)²; SMPLify's is 3.17) searched on validation views, per prior
ANGLE_WEIGHT_GRID = (0.0, 0.32, 1.0, 3.17)
ANGLE_WEIGHT_GRID_FAST = (0.0, 3.17)
#: the start pose and optimiser every method shares
COMMON_OPTIONS = {"init": "rest", "optimizer": "lbfgs"}
#: ``--init``: the fixed start (Table 5's left half) or the regressor's output (its right half)
INITS = ("rest", "regressor")
#: the setting of the rows started from the regressor (and of the regressor alone)
REGRESSOR_SETTING = "regressor-start"


def add_arguments(parser) -> None:
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated methods among {','.join(registry.pose_methods())} (default: none and "
                             "every pose prior that --priors holds or posekit ships pretrained)")
    parser.add_argument("--n-images", type=int, default=None, help="number of views (default 8 fast / 48 full)")
    parser.add_argument("--n-val-images", type=int, default=None,
                        help="validation views for the calibration (default: a third of --n-images, at least 8; fast 4)")
    parser.add_argument("--iters", type=int, default=None, help="L-BFGS iterations per stage (default 30 fast / 100 full)")
    parser.add_argument("--prior-scales", default=None,
                        help="fix the λθ scale per prior instead of calibrating it on validation views, e.g. "
                             + ",".join(f"{m}=1" for m in registry.pose_prior_names()))
    parser.add_argument("--angle-weights", default=None,
                        help="fix the bend weight per method instead of calibrating it, e.g. none=3.17 (SMPLify: 3.17)")
    parser.add_argument("--init", default="rest",
                        help="rest: every fit starts from the rest pose (Table 5, left); regressor: the keypoint "
                             "regressor alone and every fit started from its output (Table 5, right)")
    parser.add_argument("--regressor", default=None,
                        help="regressor file for --init regressor (default: the one shipped with posekit)")


@dataclass(frozen=True)
class ImageFitSettings(Settings):
    """Everything an image-fit run depends on besides the body model and the priors (the command line parses its
    options into one; :meth:`quick` gives the fast defaults).

    motions: the folder of motion files (its test subjects are posed, its validation subjects calibrate);
    methods: None for ``none`` and every prior given; n_images / n_val_images: test and validation views;
    iters: L-BFGS iterations per SMPLify stage; prior_scales / angle_weights: {method: value} fixed instead of
    calibrated; init: "rest" (Table 5's left half) or "regressor" (its right half; ``regressor`` a file, None for
    the shipped one); seed: poses, views and cameras."""

    motions: str | None = None
    methods: tuple | None = None
    n_images: int = 48
    n_val_images: int = 16
    iters: int = 100
    prior_scales: dict = field(default_factory=dict)
    angle_weights: dict = field(default_factory=dict)
    init: str = "rest"
    regressor: str | None = None
    fast: bool = False
    seed: int = 0

    @classmethod
    def quick(cls, **changes) -> "ImageFitSettings":
        """The fast variant's defaults (``--fast``): 8 views, 4 validation views, 30 iterations per stage."""
        return cls(**{"n_images": 8, "n_val_images": 4, "iters": 30, "fast": True, **changes})

    @property
    def camera_iters(self) -> int:
        return 20 if self.fast else 30


def settings_from_args(args) -> ImageFitSettings:
    """The run's settings from ``args``, every option checked (InputError: one line naming the option).

    ``methods`` is None when ``--methods`` is not given (chosen by which priors exist, in :func:`run`).
    """
    from .common import option_number, parse_method_values, parse_methods

    fast = bool(getattr(args, "fast", False)) or fast_mode()
    text = getattr(args, "methods", None)
    n_images = option_number(args, "n_images", 8 if fast else 48)
    methods = registry.pose_methods()
    return ImageFitSettings(
        motions=getattr(args, "motions", None),
        methods=None if text is None else tuple(parse_methods(text, allowed=methods)),
        n_images=n_images,
        n_val_images=option_number(args, "n_val_images", max(4, n_images // 4) if fast else max(8, n_images // 3)),
        iters=option_number(args, "iters", 30 if fast else 100),
        prior_scales=parse_method_values(getattr(args, "prior_scales", None), "--prior-scales",
                                         list(registry.pose_prior_names())),
        angle_weights=parse_method_values(getattr(args, "angle_weights", None), "--angle-weights", methods),
        init=_parse_init(getattr(args, "init", None), getattr(args, "regressor", None)),
        regressor=getattr(args, "regressor", None),
        fast=fast,
        seed=int(getattr(args, "seed", 0) or 0))


def _centred(grid, method: str) -> tuple:
    """The λθ-scale grid multiplied by the prior's ``image_scale`` (``posekit.priors.registry``)."""
    centre = registry.PRIORS[method].image_scale if method in registry.PRIORS else 1.0
    return tuple(float(f"{centre * g:.6g}") for g in grid)


def _parse_init(text, regressor=None) -> str:
    """``--init`` (and ``--regressor``, a file that exists, only with ``--init regressor``)."""
    text = "rest" if text is None else str(text)
    if text not in INITS:
        raise InputError(f"--init must be one of {', '.join(INITS)}, got {text!r}")
    if regressor is not None:
        if text != "regressor":
            raise InputError("--regressor is used with --init regressor only")
        if not Path(regressor).expanduser().is_file():
            raise InputError(f"--regressor {regressor}: no such file (a regressor written by python -m posekit.train "
                             "regressor)")
    return text


def regressor_start(views: dict, body_model, regressor) -> tuple[dict, float]:
    """The regressor's body for every view (boxes around the visible keypoints) and the seconds it took ->
    ({betas, global_orient, body_pose, transl} (B,·), seconds): the start of a fit (``smplify(start=...)``)."""
    from ..fitting.regress import keypoint_boxes, regress

    t0 = time.perf_counter()
    boxes = keypoint_boxes(views["keypoints_2d"], views["confidence"])
    out = regress(views["keypoints_2d"], views["confidence"], boxes, regressor, focal_length=views["focal_length"],
                  image_size=views["image_size"], body_model=body_model)
    dt = time.perf_counter() - t0
    return {k: out[k] for k in ("betas", "global_orient", "body_pose", "transl")}, dt


#: settings only the priors that name them in their registry entry run (``image_fit_settings``)
PRIOR_SETTINGS = ("exact", "+adaptive")


def settings_for(method: str) -> list[str]:
    """The settings run for a method: the common ones, plus those its registry entry names (``exact``: the GMM's
    exact max-mixture energy; ``+adaptive``: Pose-NDF's adaptive weight)."""
    own = registry.PRIORS[method].image_fit_settings if method in registry.PRIORS else ()
    return [s for s in SETTINGS if s not in PRIOR_SETTINGS or s in own]


def test_poses(motions, n: int, seed: int = 0, fast: bool = False, split: str = "test") -> torch.Tensor:
    """n body-21 poses (n,21,3) drawn from the held-out ``split`` subjects of ``motions`` (``test``; ``val``
    for calibrating weights). A folder without them is an error, not a silent fallback to other subjects."""
    from ..data import pose_dataset

    ds = pose_dataset(motions, fps=30, thin=2.0, seed=seed, progress=False, max_files=12 if fast else None)
    x = ds.body21(split)
    if not len(x):
        if not ds.synthetic:
            raise InputError(f"no poses of a {split} subject in {motions} (subjects are split by "
                             "posekit.data.subject_split); image-fit needs held-out subjects of both kinds")
        x = ds.body21("train")
    if ds.synthetic:
        warnings.warn("image-fit runs on SYNTHETIC poses (no real motion data found)")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[:n]
    return x[idx]


def evaluate_setting(views: dict, body_model, prior, options: dict, progress: bool = False) -> dict:
    """Fit the views with one setting -> {"errors": {metric: (B,)}, "time_s": float, "fit": smplify result}."""
    from ..fitting import fit_errors, smplify

    options = {**COMMON_OPTIONS, **options}
    t0 = time.perf_counter()
    fit = smplify(views["keypoints_2d"], views["confidence"], views["focal_length"], views["image_size"],
                  body_model, prior, progress=progress, **options)
    dt = time.perf_counter() - t0
    err = fit_errors(fit["vertices"].cpu(), fit["joints"].cpu(), views["vertices"], views["joints"],
                     faces=body_model.faces)
    return {"errors": err, "time_s": dt, "fit": fit}


def tune_option(views: dict, body_model, prior, base: dict, option: str, grid, metric: str = "v2v_pa_mm",
                log=print, name: str = "") -> tuple[float, dict, dict]:
    """The value of the smplify option ``option`` among ``grid`` minimising the mean ``metric`` on validation
    ``views`` -> (best, {value: mean error}, {value: share of bootstrap resamples of the views that pick it})."""
    from ..fitting.tune import choice_stability

    per_view = {}
    for value in grid:
        res = evaluate_setting(views, body_model, prior, {**base, option: value})
        per_view[value] = res["errors"][metric].double().cpu().numpy()
    errs = {k: float(v.mean()) for k, v in per_view.items()}
    best = min(errs, key=errs.get)
    stability = choice_stability(per_view)
    log(f"[image-fit] calibrating {option} of {name} on {len(views['keypoints_2d'])} validation views ({metric}): "
        + ", ".join(f"{k:g}: {v:.1f}" for k, v in errs.items())
        + f" -> {best:g} (picked by {100 * stability[best]:.0f} % of bootstrap resamples)")
    return best, errs, stability


def tune_prior_scale(views: dict, body_model, prior, base: dict, grid, metric: str = "v2v_pa_mm", log=print,
                     name: str = "") -> tuple[float, dict]:
    """The λθ scale of one prior minimising ``metric`` on validation ``views`` -> (best scale, {scale: error})."""
    best, errs, _ = tune_option(views, body_model, prior, base, "prior_scale", grid, metric, log=log, name=name)
    return best, errs


def _load_priors(args, methods, fast, device):
    """{method: prior}; priors already loaded by the caller (``args.prior_objects``, as ``all`` does)
    are reused, the others loaded (or trained) from ``--priors``."""
    from ..priors.store import prior_path
    from ..train import load_or_train

    injected = getattr(args, "prior_objects", None) or {}
    priors = {}
    for m in methods:
        if m == "none":
            priors[m] = None
            continue
        if m not in registry.pose_methods():
            raise InputError(f"unknown method {m!r}; expected some of {registry.pose_methods()}")
        if m in injected:
            priors[m] = injected[m]
            continue
        if registry.PRIORS[m].build is None and args.priors is not None:
            print(f"[image-fit] prior {m}: {prior_path(m, args.priors)}"
                  + ("" if prior_path(m, args.priors).exists() else " (absent: the pretrained one, else trained there)"))
        priors[m] = load_or_train(m, args.priors, motions=args.motions, fast=fast, seed=args.seed, device=device)
    return priors


def available_methods(priors_dir=None) -> list[str]:
    """``none`` and every pose prior of the registry that can be had without training: built in code, in
    ``priors_dir`` (None: no folder, the shipped files only), or shipped pretrained."""
    from ..priors.store import pretrained_path, prior_path

    def in_folder(m: str) -> bool:
        return priors_dir is not None and prior_path(m, priors_dir).exists()

    return [registry.NO_PRIOR] + [m for m in registry.pose_prior_names()
                                  if registry.PRIORS[m].build is not None or in_folder(m)
                                  or pretrained_path(m, verify=False)]


def run(args) -> list[dict]:
    """The command line's ``image-fit``: its options parsed into :class:`ImageFitSettings`, the priors loaded
    (or reused from ``args.prior_objects``), then :func:`run_image_fit`."""
    from ..body import load_body_model

    st = settings_from_args(args)
    device = get_device(getattr(args, "device", None))
    seed_everything(args.seed)
    methods = list(st.methods) if st.methods is not None else available_methods(args.priors)
    priors = _load_priors(args, methods, st.fast, device)
    body_model = getattr(args, "body_model", None)
    if body_model is None:
        body_model = load_body_model(device=device)
    return run_image_fit(st.replace(methods=tuple(methods)), body_model, priors, out=getattr(args, "out", None))


def run_image_fit(settings: ImageFitSettings, body_model, priors: dict, out: str | Path | None = None,
                  log=print) -> list[ResultRow]:
    """The image-fit experiment: views of test poses, each prior's λθ scale and bend weight calibrated on
    validation views, every method and setting fitted -> result rows. ``priors``: {method: prior or None}
    (``methods`` None: all of them). ``out``: also write the chosen weights (``weights_image_fit.json``)."""
    from ..fitting.synthetic_views import make_views

    st = settings
    methods = list(st.methods) if st.methods is not None else list(priors)
    missing = [m for m in methods if m not in priors]
    if missing:
        raise InputError(f"no prior given for method(s) {missing}; priors holds {sorted(priors)}")
    fast = st.fast
    n, iters = st.n_images, st.iters
    poses = test_poses(st.motions, n, seed=st.seed, fast=fast)
    views = make_views(body_model, poses, seed=st.seed)
    base = {"stage_iters": iters, "camera_iters": st.camera_iters}
    if st.init == "regressor":
        return _regressor_rows(st, methods, priors, body_model, views, base, out, log)
    fixed, fixed_aw = st.prior_scales, st.angle_weights
    needs_val = any((m != "none" and (m not in fixed or "+adaptive" in settings_for(m))) or m not in fixed_aw
                    for m in methods)
    if needs_val:
        val_views = make_views(body_model, test_poses(st.motions, st.n_val_images, seed=st.seed + 1, fast=fast,
                                                      split="val"), seed=st.seed + 1)
    grid = PRIOR_SCALE_GRID_FAST if fast else PRIOR_SCALE_GRID
    aw_grid = ANGLE_WEIGHT_GRID_FAST if fast else ANGLE_WEIGHT_GRID
    scales: dict = {}
    angle: dict = {}
    stability: dict = {}
    rows = []
    for m in methods:
        for s in settings_for(m):
            opts = {**base, **SETTINGS[s]}
            if m != "none":
                key = f"{m}{'+adaptive' if s == '+adaptive' else ''}"
                if key not in scales:
                    if m in fixed and s != "+adaptive":
                        scales[key] = fixed[m]
                    else:
                        scales[key], _, stability[f"prior_scale {key}"] = tune_option(
                            val_views, body_model, priors[m], opts, "prior_scale", _centred(grid, m), name=key,
                            log=log)
                opts["prior_scale"] = scales[key]
            if "angle_weight" not in SETTINGS[s]:                 # a setting with E_a: the calibrated bend weight
                if m not in angle:
                    if m in fixed_aw:
                        angle[m] = fixed_aw[m]
                    else:
                        angle[m], _, stability[f"angle_weight {m}"] = tune_option(
                            val_views, body_model, priors[m], opts, "angle_weight", aw_grid, name=m, log=log)
                opts["angle_weight"] = angle[m]
            res = evaluate_setting(views, body_model, priors[m], opts)
            rows += _result_rows(s, m, res["errors"], res["time_s"], len(poses), log)
    check_finite_rows(rows)
    if out is not None and (scales or angle):
        _save_choices(out, {"prior_scale": scales, "angle_weight": angle,
                            "validation_views": st.n_val_images if needs_val else 0}, stability)
    return rows


def _save_choices(out, chosen: dict, stability: dict) -> None:
    """``weights_image_fit.json`` in ``out``: the chosen weights and how stable each choice is."""
    from .common import save_weights

    Path(out).mkdir(parents=True, exist_ok=True)
    save_weights(Path(out) / "weights_image_fit.json",
                 {**chosen, "choice_stability": {k: {f"{v:g}": round(p, 3) for v, p in d.items()}
                                                 for k, d in stability.items()}})


def _result_rows(setting: str, method: str, errors: dict, seconds: float, n: int, log=print) -> list[ResultRow]:
    """One row per metric with every view's value (units "view i"), and the time per image."""
    rows = [{"experiment": EXPERIMENT, "setting": setting, "method": method, "metric": metric,
             "value": float(v.mean()), "std": float(v.std()) if len(v) > 1 else float("nan"), "n": len(v),
             "units": [f"view {i}" for i in range(len(v))], "values": [float(x) for x in v]}
            for metric, v in errors.items()]
    rows.append({"experiment": EXPERIMENT, "setting": setting, "method": method, "metric": "fit_ms_per_image",
                 "value": 1000 * seconds / n, "std": float("nan"), "n": n})
    log(f"[image-fit] {method:9s} {setting:18s} v2v {errors['v2v_mm'].mean():6.1f} mm  "
        f"PA {errors['v2v_pa_mm'].mean():6.1f} mm  ({seconds:.1f} s)")
    return rows


def _regressor_rows(st: ImageFitSettings, methods, priors, body_model, views: dict, base: dict, out=None,
                   log=print) -> list[ResultRow]:
    """``init="regressor"``: the regressor alone, then every method started from its output (see the module
    docstring); λθ scales and bend weights calibrated on validation views started from the regressor too."""
    from ..fitting import fit_errors, full_forward
    from ..fitting.regress import load_regressor
    from ..fitting.smplify import SMPLIFY_STAGES
    from ..fitting.synthetic_views import make_views

    device = body_model.v_template.device
    regressor = load_regressor(st.regressor, device=device)
    start, dt = regressor_start(views, body_model, regressor)
    with torch.no_grad():
        v, j = full_forward(body_model, *(start[k].to(device) for k in ("betas", "global_orient", "body_pose",
                                                                          "transl")))
    n = len(views["keypoints_2d"])
    rows = _result_rows(REGRESSOR_SETTING, "regressor",
                        fit_errors(v.cpu(), j.cpu(), views["vertices"], views["joints"], faces=body_model.faces), dt, n,
                        log)
    fixed, fixed_aw = st.prior_scales, st.angle_weights
    refine = {**base, **SETTINGS["+angle"], "stages": SMPLIFY_STAGES[-1:]}
    needs_val = any((m != "none" and m not in fixed) or m not in fixed_aw for m in methods)
    if needs_val:
        val_views = make_views(body_model, test_poses(st.motions, st.n_val_images, seed=st.seed + 1,
                                                      fast=st.fast, split="val"), seed=st.seed + 1)
        val_start, _ = regressor_start(val_views, body_model, regressor)
    grid = PRIOR_SCALE_GRID_FAST if st.fast else PRIOR_SCALE_GRID
    aw_grid = ANGLE_WEIGHT_GRID_FAST if st.fast else ANGLE_WEIGHT_GRID
    scales, angle, stability = {}, {}, {}
    for m in methods:
        opts = dict(refine)
        if m != "none":
            if m in fixed:
                scales[m] = fixed[m]
            else:
                scales[m], _, stability[f"prior_scale {m}"] = tune_option(
                    val_views, body_model, priors[m], {**opts, "start": val_start}, "prior_scale",
                    _centred(grid, m), name=m, log=log)
            opts["prior_scale"] = scales[m]
        if m in fixed_aw:
            angle[m] = fixed_aw[m]
        else:
            angle[m], _, stability[f"angle_weight {m}"] = tune_option(
                val_views, body_model, priors[m], {**opts, "start": val_start}, "angle_weight", aw_grid, name=m,
                log=log)
        opts["angle_weight"] = angle[m]
        res = evaluate_setting(views, body_model, priors[m], {**opts, "start": start})
        rows += _result_rows(REGRESSOR_SETTING, m, res["errors"], res["time_s"] + dt, n, log)
    check_finite_rows(rows)
    if out is not None:
        _save_choices(out, {"init": "regressor", "prior_scale": scales, "angle_weight": angle,
                            "validation_views": st.n_val_images if needs_val else 0,
                            "regressor_train_poses": regressor.history.get("n_train_poses")}, stability)
    return rows
