"""SMPLify-X: fit an SMPL-X-layout body (body, hands, face) to whole-body 2D keypoints, batched over views.

The objective (Pavlakos et al. 2019, "Expressive Body Capture", https://arxiv.org/abs/1904.05866, Eq. 2):

    E(β, θ, ψ) = E_J + λθb E_θb + λθf E_θf + λmh E_mh + λα E_α + λβ E_β + λE E_E + λC E_C

- E_J: the robust (Geman–McClure) reprojection of the whole-body keypoints, each weighted by its
  detection confidence and its part's weight (``keypoint_energy``);
- E_θb: the body pose prior, ‖z‖² of VPoser's latent code, the body pose being VPoser's decoding of z
  (``body_pose_energy``; any prior of ``posekit.priors.base``'s protocol works, e.g. a GMM on the pose);
- E_θf: the face pose prior, an L2 prior on the jaw rotation, stiffer about the axes a jaw does not turn
  (``jaw_energy``);
- E_mh: the hand pose prior, ‖m_h‖² of both hands' PCA coefficients (``hand_pose_energy``; hands are posed
  in the model's hand-PCA space, ``hands_components``, 12 coefficients per hand as SMPLify-X);
- E_α: the elbow and knee bend prior (SMPLify's, ``losses.angle_prior``);
- E_β: the shape prior ‖β‖² (``losses.shape_prior``); E_E: the expression prior ‖ψ‖² (``expression_energy``);
- E_C: interpenetration. SMPLify-X penalises intersecting triangles (BVH search and distance fields);
  posekit uses SMPLify's Gaussian spheres on the body's capsules (``capsules.sphere_energy``) instead, their
  radii taken from the shape at the start of each stage and held fixed within it.

Staging (SMPLify-X's ``fit_smplx.yaml``, :data:`SMPLIFYX_STAGES`): five stages with the prior weights annealed
from high to low; the hand keypoints enter in stage 4 (weight 0.1) and, with the face keypoints, in stage 5
(weight 2); the collision weight grows from 0 to 1 (× ``collision_scale`` here, the spheres' units). Every
weight w enters the energy squared, as in SMPLify-X's code.

Pieces shared with ``smplify.py`` rather than copied: the input checks (``check_inputs``), SMPLify's camera
start (depth from the torso by similar triangles, then orientation + translation on the torso keypoints, with
the 180°-flipped hypothesis, ``camera.py``), the Geman–McClure data term (``losses.joint_energy``) and the
row-wise L-BFGS (``rowwise.minimise_rows``): every view and hypothesis is its own problem.

Models with fewer parts are emulated with the same SMPL-X-layout model (``model=``): ``"smpl"`` keeps hands
and face frozen at their mean (hand PCA coefficients 0 = the mean hand, expression and jaw 0), ``"smplh"``
frees the hands but keeps the face frozen, ``"smplx"`` frees all. The keypoints used are chosen by
``layout``: ``"body"`` (BODY_25), ``"body+hands"`` (+ 2 × 21), ``"body+hands+face"`` (+ 51 landmarks);
keypoints outside the layout get confidence 0.

Deviations from SMPLify-X: the collision term (above); the eyes are not fitted (SMPLify-X does not either);
the optimiser is posekit's row-wise L-BFGS with a strong-Wolfe line search (SMPLify-X: torch's L-BFGS on the
summed batch of one image); confidences multiply the robust cost once (SMPLify-X squares keypoint weights).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from smplx.lbs import blend_shapes, vertices2joints
from tqdm.auto import tqdm

from ..errors import InputError, check_finite
from ..priors.base import decode_latent, encode_latent, has_encoder, zero_latent
from .camera import estimate_depth, perspective_projection, principal_point
from .capsules import capsule_pairs, capsule_radii, sphere_energy
from .losses import angle_prior, is_latent_prior, joint_energy, pose_prior_energy, shape_prior
from .rowwise import ROW_METHODS, minimise_rows
from .smplify import check_inputs, choose_hypothesis, orientation_hypotheses, pick_hypothesis, torso_confidence
from .wholebody import GROUPS, WholeBodyForward, num_keypoints, wholebody_keypoints

__all__ = ["smplifyx", "SMPLifyXConfig", "SMPLifyXStage", "SMPLIFYX_STAGES", "LAYOUTS", "MODEL_PARTS", "TERMS",
           "JAW_AXIS_WEIGHTS", "layout_mask", "part_weights", "keypoint_energy", "body_pose_energy",
           "hand_pose_energy", "jaw_energy", "expression_energy", "TORSO_BODY25"]

#: keypoint layouts: the parts of ``wholebody.GROUPS`` each one uses
LAYOUTS = {"body": ("body",), "body+hands": ("body", "left_hand", "right_hand"),
           "body+hands+face": ("body", "left_hand", "right_hand", "face")}
#: the model emulated: which parts are free ("hands": both hands' PCA coefficients; "face": expression + jaw)
MODEL_PARTS = {"smpl": (), "smplh": ("hands",), "smplx": ("hands", "face")}
#: BODY_25 rows of the torso keypoints in ``camera.estimate_depth``'s order: right hip, left hip, right/left shoulder
TORSO_BODY25 = (9, 12, 2, 5)
#: the jaw prior's stiffness per axis relative to the opening (x) axis (SMPLify-X: 4.04e3, 4.04e4, 4.04e4)
JAW_AXIS_WEIGHTS = (1.0, 10.0, 10.0)
TERMS = ("data", "body_pose", "hand_pose", "jaw", "expression", "angle", "shape", "collision", "total")


@dataclass(frozen=True)
class SMPLifyXStage:
    """One stage's weights (each enters the energy squared): priors and the hand / face keypoints' weights."""

    body: float            # λθb = body²  (also the bend prior: λα = (angle_weight · body)²)
    hand: float            # λmh = hand²
    jaw: float             # λθf = jaw² (× JAW_AXIS_WEIGHTS² per axis)
    shape: float           # λβ = shape²
    expression: float      # λE = expression²
    hand_keypoints: float  # weight² of the hand keypoints in E_J (body keypoints: 1)
    face_keypoints: float  # weight² of the face keypoints in E_J
    collision: float       # λC = collision² × collision_scale


#: SMPLify-X's five stages (fit_smplx.yaml)
SMPLIFYX_STAGES = (
    SMPLifyXStage(404.0, 404.0, 4040.0, 100.0, 100.0, 0.0, 0.0, 0.0),
    SMPLifyXStage(404.0, 404.0, 4040.0, 50.0, 50.0, 0.0, 0.0, 0.0),
    SMPLifyXStage(57.4, 57.4, 574.0, 10.0, 10.0, 0.0, 0.0, 0.0),
    SMPLifyXStage(4.78, 4.78, 47.8, 5.0, 5.0, 0.1, 0.0, 0.01),
    SMPLifyXStage(4.78, 4.78, 47.8, 5.0, 5.0, 2.0, 2.0, 1.0),
)


@dataclass
class SMPLifyXConfig:
    """Knobs of :func:`smplifyx` (defaults = SMPLify-X's choices where it has one)."""

    stages: tuple = SMPLIFYX_STAGES
    sigma: float = 100.0               # Geman–McClure scale (px), SMPLify-X's rho
    angle_weight: float = 3.17         # λα = (angle_weight · body)²; 0 disables E_α
    prior_scale: float = 1.0           # multiplies λθb (the body prior's weight)
    collision: bool = True             # E_C on (SMPLify's spheres along the body's capsules)
    collision_scale: float = 1e3       # λC = collision² × this (posekit's SMPLify uses λsp = 1e3 on the spheres)
    init: str = "zero"                 # body start: "zero" (VPoser: z = 0, SMPLify-X) or "rest" (the code of the rest pose)
    depth_weight: float = 1e4          # camera stage: (z − z_guess)² weight
    camera_iters: int = 30
    stage_iters: int = 60
    optimizer: str = "lbfgs"
    lr: float | None = None
    ftol: float = 1e-7
    try_flip: bool = True
    fit_shape: bool = True
    prior_kwargs: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# the energy terms: pure functions, one value per view (B,)
# ------------------------------------------------------------------------------------------------

def keypoint_energy(projected: torch.Tensor, keypoints_2d: torch.Tensor, confidence: torch.Tensor,
                    weights: torch.Tensor, sigma: float = 100.0) -> torch.Tensor:
    """E_J = Σ_i γ_i w_i ρ_σ(Π(J_i) − J_est,i): projected (B,K,2) px, keypoints_2d (B,K,2) px, confidence w (B,K),
    part weights γ (K,) or (B,K) -> (B,). ρ is Geman–McClure (``losses.geman_mcclure``)."""
    return joint_energy(projected, keypoints_2d, confidence * weights, sigma)


def body_pose_energy(prior, body_pose: torch.Tensor, latent: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
    """E_θb: ‖z‖² of the latent code for a latent prior (VPoser), else the prior's energy of the pose (B,63) -> (B,)."""
    return pose_prior_energy(prior, body_pose, latent=latent, **kwargs)


def hand_pose_energy(left_hand: torch.Tensor, right_hand: torch.Tensor) -> torch.Tensor:
    """E_mh = ‖m_l‖² + ‖m_r‖² of the hand-PCA coefficients (B,C) each -> (B,)."""
    return (left_hand ** 2).sum(-1) + (right_hand ** 2).sum(-1)


def jaw_energy(jaw_pose: torch.Tensor, axis_weights=JAW_AXIS_WEIGHTS) -> torch.Tensor:
    """E_θf = Σ_k (a_k θ_jaw,k)²: jaw axis-angle (B,3), per-axis stiffness a (3,) -> (B,)."""
    a = torch.as_tensor(axis_weights, dtype=jaw_pose.dtype, device=jaw_pose.device)
    return ((a * jaw_pose) ** 2).sum(-1)


def expression_energy(expression: torch.Tensor) -> torch.Tensor:
    """E_E = ‖ψ‖²: expression coefficients (B,E) -> (B,)."""
    return (expression ** 2).sum(-1)


# ------------------------------------------------------------------------------------------------
# keypoint layouts
# ------------------------------------------------------------------------------------------------

def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def layout_mask(layout: str, contour: bool = False) -> torch.Tensor:
    """(K,) float: 1 for the keypoints of ``layout`` (``LAYOUTS``), 0 for the others; K = 118 or 135."""
    _check_choice("layout", layout, tuple(LAYOUTS))
    m = torch.zeros(num_keypoints(contour))
    for part in LAYOUTS[layout]:
        m[list(GROUPS[part])] = 1.0
    return m


def part_weights(stage: SMPLifyXStage, contour: bool = False) -> torch.Tensor:
    """(K,) per-keypoint weight γ of a stage in E_J: 1 on the body, hand_keypoints² / face_keypoints² on the parts."""
    w = torch.ones(num_keypoints(contour))
    for part in ("left_hand", "right_hand"):
        w[list(GROUPS[part])] = stage.hand_keypoints ** 2
    face = list(GROUPS["face"]) + (list(GROUPS["contour"]) if contour else [])
    w[face] = stage.face_keypoints ** 2
    return w


# ------------------------------------------------------------------------------------------------
# the fit
# ------------------------------------------------------------------------------------------------

def _check_model(body_model) -> tuple[int, int, bool]:
    """(hand PCA components, expression coefficients, face contour) of an smplx.SMPLX module with hand PCA."""
    if not hasattr(body_model, "expression") or not getattr(body_model, "use_pca", False):
        raise InputError("smplifyx needs an SMPL-X module with hand PCA: "
                         "load_body_model('open', model_type='smplx', use_pca=True, num_pca_comps=12)")
    return int(body_model.num_pca_comps), int(body_model.num_expression_coeffs), bool(body_model.use_face_contour)


def _forward(body_model, betas, orient, body_pose, lh, rh, jaw, expr, transl):
    """smplx forward -> (whole-body keypoints source joints (B,J,3), vertices (B,V,3))."""
    z3 = orient.new_zeros(orient.shape[0], 3)
    out = body_model(betas=betas, global_orient=orient, body_pose=body_pose, left_hand_pose=lh, right_hand_pose=rh,
                     jaw_pose=jaw, expression=expr, leye_pose=z3, reye_pose=z3, transl=transl)
    return out.joints, out.vertices


def _keypoint_forward(body_model, contour: bool):
    """(betas, orient, body_pose, lh, rh, jaw, expr, transl) -> (keypoints (B,K,3), joints (B,55,3)): the lean
    ``WholeBodyForward``, or smplx's whole forward for a module with the face contour (its dynamic landmarks)."""
    if not contour:
        return WholeBodyForward(body_model)

    def full(*args):
        j, _ = _forward(body_model, *args)
        return wholebody_keypoints(j, True), j[:, :55]
    return full


def _shaped_rest(body_model, betas):
    """Rest-pose shaped mesh (B,V,3) and joints (B,55,3) of the shape β (expression 0), for the capsules' radii."""
    nb = betas.shape[1]
    v = blend_shapes(betas, body_model.shapedirs[..., :nb]) + body_model.v_template
    return v, vertices2joints(body_model.J_regressor, v)


def smplifyx(keypoints_2d, confidence, focal_length, image_size, body_model, prior=None,
             layout: str = "body+hands+face", model: str = "smplx", config: SMPLifyXConfig | None = None,
             progress: bool = True, **overrides) -> dict:
    """Fit the SMPL-X-layout ``body_model`` to whole-body 2D keypoints (``wholebody.WHOLEBODY_NAMES`` order, px).

    keypoints_2d (B,K,2) with K = 118 (135 when the module has the face contour), confidence (B,K) ≥ 0,
    focal_length (scalar or (B,)) px, image_size (2,) or (B,2) as (width, height) px; body_model an
    ``smplx.SMPLX`` with hand PCA (``use_pca=True``); prior: VPoser (the body pose is its decoding of an
    optimised code z, E_θb = ‖z‖²), another pose prior (the pose is optimised, E_θb its energy) or None.
    ``layout``: the keypoints used (``LAYOUTS``); ``model``: the parts left free (``MODEL_PARTS``; the others
    stay at their mean). Keyword overrides set fields of :class:`SMPLifyXConfig`.

    Returns a dict: betas (B,NB), global_orient (B,3), body_pose (B,63), left_hand_pose / right_hand_pose
    (B,C) hand-PCA coefficients, jaw_pose (B,3), expression (B,E), transl (B,3) (camera frame), vertices
    (B,V,3), keypoints_3d (B,K,3), projected (B,K,2), energies {term: (B,)} at the end (last stage's
    weights), trace [{"stage", "total": (iters+1, B)}], flipped (B,) bool, time_s.
    """
    cfg = replace(config) if config is not None else SMPLifyXConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise TypeError(f"unknown smplifyx option {k!r}; see SMPLifyXConfig")
        setattr(cfg, k, v)
    _check_choice("layout", layout, tuple(LAYOUTS))
    _check_choice("model", model, tuple(MODEL_PARTS))
    _check_choice("optimizer", cfg.optimizer, ROW_METHODS)
    _check_choice("init", cfg.init, ("zero", "rest"))
    if cfg.stage_iters < 0 or cfg.camera_iters < 0 or not cfg.stages:
        raise InputError(f"stage_iters and camera_iters must be ≥ 0 and stages non-empty, got {cfg.stage_iters}, "
                         f"{cfg.camera_iters}, {cfg.stages!r}")
    nh, ne, contour = _check_model(body_model)
    t0 = time.perf_counter()
    K = num_keypoints(contour)
    device = body_model.v_template.device
    mask = layout_mask(layout, contour).to(device)
    kp, conf, f, size = check_inputs(keypoints_2d, confidence, focal_length, image_size, K, layout="whole-body")
    conf = conf * mask.cpu()                                                              # keypoints of the layout
    empty = torch.nonzero(conf.sum(-1) <= 0).flatten()
    if empty.numel():
        raise InputError(f"views {empty[:5].tolist()} have all-zero confidence on the {layout!r} keypoints: "
                         "nothing to fit")
    kp, conf, f, size = kp.to(device), conf.to(device), f.to(device), size.to(device)
    B = kp.shape[0]
    center = principal_point(size)
    latent = is_latent_prior(prior)
    free = MODEL_PARTS[model]
    nb = body_model.num_betas

    # ---- hypotheses: H = 1 or 2 copies of every view (the second with the flipped orientation)
    H = 2 if cfg.try_flip else 1
    rep = lambda x: x.repeat(H, *([1] * (x.dim() - 1)))                                   # (H*B, ...)
    kpH, confH, fH, cH = rep(kp), rep(conf), rep(f), rep(center)
    HB = H * B
    zeros = lambda *s: torch.zeros(HB, *s, device=device)                                # noqa: E731

    # ---- 1. start: body at the prior's start pose, hands at the mean, neutral face; depth from the torso
    if latent:
        with torch.no_grad():
            if cfg.init == "rest" and has_encoder(prior):
                z = encode_latent(prior, torch.zeros(HB, 21, 3, device=device)).to(device)
            else:
                z = zero_latent(prior, HB, device=device)
        pose_var = z.clone()
    else:
        pose_var = zeros(63)

    def body_pose_of(pv):
        if latent:
            return decode_latent(prior, pv).reshape(pv.shape[0], 63).to(device)
        return pv

    betas, lh, rh, jaw, expr = zeros(nb), zeros(nh), zeros(nh), zeros(3), zeros(ne)
    orient = orientation_hypotheses(H, B, device)
    fwd = _keypoint_forward(body_model, contour)
    with torch.no_grad():
        pose0 = body_pose_of(pose_var)
        k3, _ = fwd(betas, torch.zeros_like(orient), pose0, lh, rh, jaw, expr, zeros(3))    # (HB,K,3)
    tor = list(TORSO_BODY25)
    depth = estimate_depth(k3[:, tor], kpH[:, tor], confH[:, tor], fH)                      # (HB,)
    vis = confH[..., None] > 0
    c2d = (kpH * vis).sum(1) / vis.sum(1).clamp_min(1)                                     # (HB,2)
    transl = torch.cat([(c2d - cH) * depth[:, None] / fH[:, None], depth[:, None]], dim=1)

    # ---- 2. camera stage: orientation + translation on the torso keypoints (all when no torso is seen)
    torso_conf = torso_confidence(confH, TORSO_BODY25)

    def camera_energy(parts, rows):
        o, tr = parts
        k, _ = fwd(betas[rows], o, pose0[rows], lh[rows], rh[rows], jaw[rows], expr[rows], tr)
        proj = perspective_projection(k, fH[rows], cH[rows])
        return {"total": joint_energy(proj, kpH[rows], torso_conf[rows], cfg.sigma)
                + cfg.depth_weight * (tr[:, 2] - depth[rows]) ** 2}

    orient.requires_grad_(True)
    transl.requires_grad_(True)
    trace, cam = [], []
    minimise_rows([orient, transl], camera_energy, cfg.camera_iters, method=cfg.optimizer, lr=cfg.lr, ftol=cfg.ftol,
                  record=lambda e: cam.append(e["total"].detach().cpu()))
    trace.append({"stage": "camera", "total": torch.stack(cam)})

    # ---- 3. staged fit over (z or θb, orientation, translation, [β], [hands], [expression, jaw])
    names = ["pose", "orient", "transl"] + (["betas"] if cfg.fit_shape else []) + \
            (["lh", "rh"] if "hands" in free else []) + (["expr", "jaw"] if "face" in free else [])
    fixed = {"pose": pose_var, "orient": orient, "transl": transl, "betas": betas, "lh": lh, "rh": rh,
             "expr": expr, "jaw": jaw}
    params = [fixed[n].detach().clone().requires_grad_(True) for n in names]
    fixed.update(zip(names, params))
    pairs = capsule_pairs()
    lbs_w = body_model.lbs_weights

    def terms(stage: SMPLifyXStage, parts=None, rows=None):
        rows = torch.arange(HB, device=device) if rows is None else rows
        got = dict(zip(names, parts)) if parts is not None else {n: fixed[n] for n in names}
        var = {n: got[n] if n in got else fixed[n][rows] for n in fixed}
        bp = body_pose_of(var["pose"])
        k, j = fwd(var["betas"], var["orient"], bp, var["lh"], var["rh"], var["jaw"], var["expr"], var["transl"])
        proj = perspective_projection(k, fH[rows], cH[rows])
        zero = bp.new_zeros(bp.shape[0])
        gamma = part_weights(stage, contour).to(device)
        if cfg.collision and stage.collision > 0:
            e_c = stage.collision ** 2 * cfg.collision_scale * sphere_energy(j, radii[rows], pairs)
        else:
            e_c = zero
        out = {"data": keypoint_energy(proj, kpH[rows], confH[rows], gamma, cfg.sigma),
               "body_pose": cfg.prior_scale * stage.body ** 2 * body_pose_energy(
                   prior, bp, latent=var["pose"] if latent else None, **cfg.prior_kwargs),
               "hand_pose": stage.hand ** 2 * hand_pose_energy(var["lh"], var["rh"]) if "hands" in free else zero,
               "jaw": stage.jaw ** 2 * jaw_energy(var["jaw"]) if "face" in free else zero,
               "expression": stage.expression ** 2 * expression_energy(var["expr"]) if "face" in free else zero,
               "angle": (cfg.angle_weight * stage.body) ** 2 * angle_prior(bp) if cfg.angle_weight > 0 else zero,
               "shape": stage.shape ** 2 * shape_prior(var["betas"]),
               "collision": e_c}
        out["total"] = sum(out.values())
        return out

    bar = tqdm(cfg.stages, desc="SMPLify-X stages", disable=not progress, leave=False)
    for si, stage in enumerate(bar):
        rec = []
        if cfg.collision and stage.collision > 0:         # capsule radii of the stage's starting shape, held fixed
            with torch.no_grad():
                radii = capsule_radii(*_shaped_rest(body_model, fixed["betas"].detach()), lbs_w)   # (HB,S)
        minimise_rows(params, lambda parts, rows: terms(stage, parts, rows), cfg.stage_iters, method=cfg.optimizer,
                      lr=cfg.lr, ftol=cfg.ftol, record=lambda e: rec.append(e["total"].detach().cpu()))
        trace.append({"stage": f"stage {si + 1}", "weights": stage, "total": torch.stack(rec)})
        bar.set_postfix(energy=f"{rec[-1].mean():.1f}")

    # ---- 4. keep the better hypothesis per view (lower total energy)
    with torch.no_grad():
        final = {k: v.detach() for k, v in terms(cfg.stages[-1]).items()}
        body_pose = body_pose_of(fixed["pose"]).detach()
    flipped = choose_hypothesis(final, B, H)                                                # (B,)
    pick = lambda x: pick_hypothesis(x, flipped)                                            # noqa: E731
    res = {k: pick(fixed[n].detach()) for k, n in (("betas", "betas"), ("global_orient", "orient"),
                                                    ("transl", "transl"), ("left_hand_pose", "lh"),
                                                    ("right_hand_pose", "rh"), ("jaw_pose", "jaw"),
                                                    ("expression", "expr"))}
    res["body_pose"] = pick(body_pose)
    with torch.no_grad():
        joints, vertices = _forward(body_model, res["betas"], res["global_orient"], res["body_pose"],
                                    res["left_hand_pose"], res["right_hand_pose"], res["jaw_pose"], res["expression"],
                                    res["transl"])
        k3 = wholebody_keypoints(joints, contour)
        proj = perspective_projection(k3, f, center)
    for name in ("betas", "global_orient", "body_pose", "transl", "left_hand_pose", "right_hand_pose"):
        check_finite(f"SMPLify-X's fitted {name}", res[name])
    trace = [{k: (pick(v.transpose(0, 1)).transpose(0, 1) if torch.is_tensor(v) else v) for k, v in s.items()}
             for s in trace]
    return {**res, "vertices": vertices, "keypoints_3d": k3, "projected": proj,
            "energies": {k: pick(v) for k, v in final.items()}, "trace": trace, "flipped": flipped,
            "time_s": time.perf_counter() - t0}

