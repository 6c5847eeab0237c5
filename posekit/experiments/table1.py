"""``python -m posekit.experiments table1``: what hands and face buy (SMPLify-X's Table 1, on our data).

Table 1 of Pavlakos et al. 2019 ("Expressive Body Capture", https://arxiv.org/abs/1904.05866) fits SMPL, SMPL+H
and SMPL-X with SMPLify-X to OpenPose's keypoints on the EHF images and reports the vertex-to-vertex error of
the whole body: SMPL with body keypoints 57.6 mm, SMPL with body + hands + face keypoints 64.5 mm, SMPL+H with
body + hands 54.2 mm, SMPL-X with all 52.9 mm (``paper_numbers.TABLE1``).

Protocol here: body poses of the held-out test subjects of ``--motions`` (``image_fit.test_poses``) on posekit's
open SMPL-X-layout model with random shapes, random hand poses drawn in the model's hand-PCA space (12
coefficients ~ N(0, 1), ``HAND_SCALE``), random
expressions and jaw openings, random perspective cameras (``fitting.wholebody.make_wholebody_views``); the
118 whole-body keypoints projected with detector-like noise (2 px Gaussian, 10 % of the points dropped).
Every row fits the same views with :func:`posekit.fitting.smplifyx.smplifyx` (VPoser's latent for the body):

  ``smpl-body``          an SMPL-like model (hands and face frozen at their mean) on the 25 body keypoints;
  ``smpl-all``           the same model on body + hands + face keypoints;
  ``smplh-body+hands``   an SMPL+H-like model (hands free, face frozen) on body + hand keypoints;
  ``smplx-all``          SMPL-X (hands and face free) on all keypoints.

Table 2's "gender neutral model" row (58.0 mm against 52.9 mm for SMPLify-X with the gender-specific model,
``paper_numbers.TABLE2_GENDER``) on its own views, setting ``GENDER_SETTING``: the true bodies are gendered (the
first half of the views male, the rest female, shapes drawn in the open male / female SMPL-X-layout model's shape
space), and SMPL-X's full model is fitted on all keypoints

  ``smplx-gendered``            with the matching gendered model (male views with the male model, ...);
  ``smplx-neutral-on-gendered`` with the gender-neutral model.

SMPL and SMPL+H are emulated with the one SMPL-X-layout model by freezing parts at their mean: the models
share mesh, joints and shape space, so the rows differ only in what each can move and what it is shown.
Ground-truth hands lie in the fitted 12-dimensional hand-PCA space (real hands do not).

Metrics per view (mm): ``v2v_pa_mm`` whole-body vertex error after Procrustes alignment (the Table's
quantity), ``v2v_mm`` after aligning the pelvis, ``hands_pa_mm`` and ``face_pa_mm`` the error of the hand
and face vertices (dominant skinning joint: wrists and fingers; head, jaw and eyes), each part aligned by its
own Procrustes transform (what the hand and face parameters fit, apart from the arm's and neck's pose); and
``fit_s_per_view``. Each view is a unit, so rows compare by paired differences (``verdicts.py``).

Weights: SMPLify-X's staged schedule; the body prior's scale and the bend weight are the ones the image-fit
record chose for VPoser on validation views (``--prior-scale``, ``--angle-weight``); nothing is tuned on the
test subjects.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..utils import fast_mode, get_device, seed_everything
from .common import ResultRow, Settings

__all__ = ["run", "run_table1", "Table1Settings", "add_arguments", "settings_from_args", "CONFIGS", "SETTING", "HAND_JOINTS", "FACE_JOINTS",
           "view_errors", "GENDER_CONFIGS", "GENDER_SETTING", "gendered_views"]

EXPERIMENT = "table1"
SETTING = "whole-body views"
#: row -> (model emulated, keypoint layout)
CONFIGS = {"smpl-body": ("smpl", "body"), "smpl-all": ("smpl", "body+hands+face"),
           "smplh-body+hands": ("smplh", "body+hands"), "smplx-all": ("smplx", "body+hands+face")}
#: Table 2's gender row: row -> the model fitted to views of gendered bodies (SMPL-X's full model, all keypoints)
GENDER_CONFIGS = {"smplx-gendered": "gendered", "smplx-neutral-on-gendered": "neutral"}
GENDER_SETTING = "gendered whole-body views"
#: the sexes of the gendered views: the first half male, the rest female
SEXES = ("male", "female")
#: SMPL-X joints whose vertices make the hands (wrists, fingers) and the face (head, jaw, eyes)
HAND_JOINTS = (20, 21, *range(25, 55))
FACE_JOINTS = (15, 22, 23, 24)
#: std of the true hands' PCA coefficients (radians along unit 45-d directions; a full grasp is several)
HAND_SCALE = 1.0


def add_arguments(parser) -> None:
    parser.add_argument("--n-views", type=int, default=None, help="number of views (default 4 fast / 32 full)")
    parser.add_argument("--iters", type=int, default=None, help="L-BFGS iterations per stage (default 10 fast / 30 full)")
    parser.add_argument("--prior-scale", type=float, default=None,
                        help="scale of SMPLify-X's body prior weight (default 0.1, the image-fit record's for VPoser)")
    parser.add_argument("--angle-weight", type=float, default=None,
                        help="bend prior weight (default 1.0, the image-fit record's for VPoser; SMPLify-X: 3.17)")
    parser.add_argument("--configs", default=None,
                        help=f"comma-separated rows among {','.join([*CONFIGS, *GENDER_CONFIGS])} (default all)")


@dataclass(frozen=True)
class Table1Settings(Settings):
    """Everything a Table 1 run depends on besides the body prior: motions (their test subjects' body poses),
    n_views, iters (L-BFGS iterations per SMPLify-X stage), prior_scale and angle_weight (SMPLify-X's body prior
    and bend weights), configs (the rows: ``CONFIGS`` and ``GENDER_CONFIGS``), fast, seed."""

    motions: str | None = None
    n_views: int = 32
    iters: int = 30
    prior_scale: float = 0.1
    angle_weight: float = 1.0
    configs: tuple = (*CONFIGS, *GENDER_CONFIGS)
    fast: bool = False
    seed: int = 0

    @classmethod
    def quick(cls, **changes) -> "Table1Settings":
        """The fast variant's defaults (``--fast``): 4 views, 10 iterations per stage."""
        return cls(**{"n_views": 4, "iters": 10, "fast": True, **changes})


def settings_from_args(args) -> Table1Settings:
    """The run's options, each checked (InputError: one line naming the option)."""
    from ..errors import InputError
    from .common import option_number, parse_methods

    fast = bool(getattr(args, "fast", False)) or fast_mode()
    st = Table1Settings(
        motions=getattr(args, "motions", None),
        n_views=option_number(args, "n_views", 4 if fast else 32),
        iters=option_number(args, "iters", 10 if fast else 30),
        prior_scale=option_number(args, "prior_scale", 0.1, integer=False),
        angle_weight=option_number(args, "angle_weight", 1.0, integer=False, allow_zero=True),
        configs=tuple(parse_methods(getattr(args, "configs", None), allowed=(*CONFIGS, *GENDER_CONFIGS),
                                    option="--configs")),
        fast=fast,
        seed=int(getattr(args, "seed", 0) or 0))
    if st.n_views < 2:
        raise InputError(f"--n-views must be at least 2 (paired differences need views), got {st.n_views}")
    return st


def _part_error(pred, gt, mask):
    """Mean vertex error (mm) of the masked vertices after their own Procrustes alignment: (B,V,3) ×2 -> (B,)."""
    from ..fitting.metrics import mean_point_error, procrustes_align

    p, g = pred[:, mask], gt[:, mask]
    return 1000 * mean_point_error(procrustes_align(p, g), g)


def view_errors(pred_vertices, gt_vertices, pred_pelvis, gt_pelvis, lbs_weights) -> dict:
    """Per-view errors (mm) of a fit: {v2v_pa_mm, v2v_mm, hands_pa_mm, face_pa_mm: (B,)}; vertices (B,V,3) m."""
    from ..fitting.metrics import mean_point_error, part_vertex_mask, procrustes_align, root_align

    hands = part_vertex_mask(lbs_weights, HAND_JOINTS)
    face = part_vertex_mask(lbs_weights, FACE_JOINTS)
    dom = lbs_weights.argmax(-1)                                                # (V,) each hand aligned on its own
    is_left = torch.isin(dom, torch.tensor([20, *range(25, 40)], device=dom.device))
    return {"v2v_pa_mm": 1000 * mean_point_error(procrustes_align(pred_vertices, gt_vertices), gt_vertices),
            "v2v_mm": 1000 * mean_point_error(root_align(pred_vertices, gt_vertices, pred_pelvis, gt_pelvis),
                                              gt_vertices),
            "hands_pa_mm": 0.5 * (_part_error(pred_vertices, gt_vertices, hands & is_left)
                                  + _part_error(pred_vertices, gt_vertices, hands & ~is_left)),
            "face_pa_mm": _part_error(pred_vertices, gt_vertices, face)}


def _cat(parts: list[dict]) -> dict:
    """Per-view dicts of tensors (N_i, ...) -> one dict, concatenated along the views."""
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0] if torch.is_tensor(parts[0][k])}


def gendered_views(models: dict, poses: torch.Tensor, seed: int, hand_scale: float = HAND_SCALE) -> dict:
    """Whole-body views of gendered bodies: poses (N, 63); the first N // 2 views are ``models["male"]``'s
    bodies, the rest ``models["female"]``'s (``make_wholebody_views``, betas drawn in each model's own shape
    space, seed + i for sex i). Returns the views concatenated, plus ``sex`` (N,) 0 male / 1 female."""
    from ..fitting.wholebody import make_wholebody_views

    n = poses.shape[0]
    cuts = (0, n // 2, n)
    parts = [make_wholebody_views(models[s], poses[cuts[i]:cuts[i + 1]], seed=seed + i, hand_scale=hand_scale)
             for i, s in enumerate(SEXES)]
    out = _cat(parts)
    out["sex"] = torch.cat([torch.full((cuts[i + 1] - cuts[i],), i) for i in range(len(SEXES))])
    return out


def _fit(views: dict, body_model, prior, st, model: str = "smplx", layout: str = "body+hands+face",
         select: torch.Tensor | None = None) -> dict:
    """SMPLify-X on the views (``select``: a boolean mask of the views to fit) -> its output dict."""
    from ..fitting.smplifyx import smplifyx

    sel = (lambda x: x) if select is None else (lambda x: x[select])  # noqa: E731
    return smplifyx(sel(views["keypoints_2d"]), sel(views["confidence"]), sel(views["focal_length"]),
                    sel(views["image_size"]), body_model, prior, layout=layout, model=model,
                    stage_iters=st["iters"], camera_iters=10 if st["fast"] else 30, prior_scale=st["prior_scale"],
                    angle_weight=st["angle_weight"], progress=False)


def _rows(name: str, setting: str, err: dict, dt: float, n: int, log=print) -> list[ResultRow]:
    rows = [{"experiment": EXPERIMENT, "setting": setting, "method": name, "metric": metric,
             "value": float(v.mean()), "std": float(v.std()), "n": len(v),
             "units": [f"view {i}" for i in range(len(v))], "values": [float(x) for x in v]}
            for metric, v in err.items()]
    rows.append({"experiment": EXPERIMENT, "setting": setting, "method": name, "metric": "fit_s_per_view",
                 "value": dt / n, "std": float("nan"), "n": n})
    log(f"[table1] {name:17s} v2v PA {err['v2v_pa_mm'].mean():6.1f} mm  hands {err['hands_pa_mm'].mean():5.1f} "
        f"face {err['face_pa_mm'].mean():5.1f} mm  ({dt:.0f} s, {dt / n:.1f} s per view)")
    return rows


def _gender_rows(configs: list[str], poses: torch.Tensor, prior, st, seed: int, device, log=print) -> list[ResultRow]:
    """Table 2's gender row: the ``GENDER_CONFIGS`` among ``configs`` on views of gendered bodies."""
    from ..body import load_body_model

    models = {g: load_body_model("open", model_type="smplx", gender=g, device=device, use_pca=True, num_pca_comps=12)
              for g in ("neutral", *SEXES)}
    views = gendered_views(models, poses, seed=seed)
    gt_v, gt_pelvis = views["vertices"], views["keypoints_3d"][:, 8]             # BODY_25 mid hip = the pelvis
    n = gt_v.shape[0]
    rows = []
    for name in configs:
        t0 = time.perf_counter()
        if GENDER_CONFIGS[name] == "neutral":
            fit = _fit(views, models["neutral"], prior, st)
            pred_v, pred_pelvis = fit["vertices"].cpu(), fit["keypoints_3d"][:, 8].cpu()
        else:                                                      # each view with the model of its own sex
            pred_v, pred_pelvis = torch.empty_like(gt_v), torch.empty_like(gt_pelvis)
            for i, s in enumerate(SEXES):
                mask = views["sex"] == i
                fit = _fit(views, models[s], prior, st, select=mask)
                pred_v[mask], pred_pelvis[mask] = fit["vertices"].cpu(), fit["keypoints_3d"][:, 8].cpu()
        dt = time.perf_counter() - t0
        err = view_errors(pred_v, gt_v, pred_pelvis, gt_pelvis, models["neutral"].lbs_weights.cpu())
        rows += _rows(name, GENDER_SETTING, err, dt, n, log)
    return rows


def run(args) -> list[dict]:
    """The command line's ``table1``: its options parsed into :class:`Table1Settings`, SMPLify-X's body prior
    (VPoser) loaded (or reused from ``args.prior_objects``, as ``experiments all`` passes it), then
    :func:`run_table1`."""
    from ..train import load_or_train
    from .paper_numbers import method_of

    st = settings_from_args(args)
    device = get_device(getattr(args, "device", None))
    seed_everything(args.seed)
    name = method_of("VPoser")
    prior = (getattr(args, "prior_objects", None) or {}).get(name)
    if prior is None:
        prior = load_or_train(name, args.priors, motions=args.motions, fast=st.fast, seed=args.seed, device=device)
    return run_table1(st, prior, device=device)


def run_table1(settings: Table1Settings, prior, device=None, log=print) -> list[ResultRow]:
    """Table 1 (and Table 2's gender row): whole-body views of test poses fitted by SMPLify-X with ``prior`` as
    the body prior, one row per config and metric -> result rows."""
    from ..body import load_body_model
    from ..fitting.wholebody import make_wholebody_views
    from .image_fit import test_poses
    from .report import check_finite_rows

    from ..errors import InputError

    st = settings
    unknown = [c for c in st.configs if c not in CONFIGS and c not in GENDER_CONFIGS]
    if unknown or not st.configs:
        raise InputError(f"Table1Settings.configs: expected rows among {[*CONFIGS, *GENDER_CONFIGS]}, "
                         f"got {list(st.configs)}")
    device = get_device(device)
    body_model = load_body_model("open", model_type="smplx", device=device, use_pca=True, num_pca_comps=12)
    n = st.n_views
    poses = test_poses(st.motions, n, seed=st.seed, fast=st.fast).reshape(n, 63)
    views = make_wholebody_views(body_model, poses, seed=st.seed, hand_scale=HAND_SCALE)
    gt_v = views["vertices"]
    with torch.no_grad():
        gt_pelvis = views["keypoints_3d"][:, 8]                                  # BODY_25 mid hip = the pelvis
    rows = []
    for name in tqdm([c for c in st.configs if c in CONFIGS], desc="Table 1 rows", leave=False):
        model, layout = CONFIGS[name]
        t0 = time.perf_counter()
        fit = _fit(views, body_model, prior, st, model=model, layout=layout)
        dt = time.perf_counter() - t0
        pred_pelvis = fit["keypoints_3d"][:, 8].cpu()
        err = view_errors(fit["vertices"].cpu(), gt_v, pred_pelvis, gt_pelvis, body_model.lbs_weights.cpu())
        rows += _rows(name, SETTING, err, dt, n, log)
    gender = [c for c in st.configs if c in GENDER_CONFIGS]
    if gender:
        rows += _gender_rows(gender, poses, prior, st, st.seed, device, log)
    check_finite_rows(rows)
    return rows
