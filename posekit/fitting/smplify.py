"""SMPLify: fit an SMPL-layout body to 2D keypoints, batched over many images.

Steps (Bogo et al. 2016, Sec. 3):

1. depth guess from the ratio of 3D to 2D torso length (similar triangles);
2. fit translation + global orientation on the torso keypoints (body pose at the prior's mean),
   with a term keeping the depth near the guess; the same from the orientation flipped by 180°;
3. four stages minimising E = E_J + λθ E_θ + λa E_a + λsp E_sp + λβ E_β over (β, θ, global
   orientation, translation) with λθ and λβ annealed from high to low (SMPLify's schedule);
4. per image, the better of the two orientation hypotheses (lower final energy) is kept.

Optimiser: SMPLify (Bogo et al. 2016, https://arxiv.org/abs/1607.08128) minimised with chumpy's dogleg
(Powell) method; posekit uses L-BFGS with a strong-Wolfe line search, SMPLify-X's choice (Pavlakos et al.
2019, https://arxiv.org/abs/1904.05866), by default: its iterates depend on the energy's values, so the
prior weights mean what they say also on pose coordinates that no keypoint constrains (bone twists). Adam
(``optimizer="adam"``, lr 0.02) normalises each coordinate's step and is kept for comparison.

All images of a batch are independent: one batched forward pass evaluates them together, but every
image (and each of its two orientation hypotheses) has its own L-BFGS memory, line search and stopping
test (``rowwise.minimise_rows``), so a batched fit equals fitting each image alone and no image's energy
rises during a stage.

Remaining deviations from SMPLify: translation is optimised in every stage (SMPLify fixes it after the
camera stage only in spirit: it too keeps it free); the orientation flip is chosen by the lower final
total energy (``flip_select``); the robust cost is applied to the norm of each keypoint's 2D residual, not
to each coordinate as SMPLify's code does; confidences multiply the cost once (not squared); the hips carry the same weight as the other
keypoints; E_sp uses SMPLify's Gaussian spheres but on posekit's own capsules (``capsules.py``) and a
weight chosen for our units (λsp = 1e3: on real held-out poses E_sp stays below ~1% of a typical data
term); the start pose is SMPLify's (the GMM's mean) by default, or the rest pose for every prior
(``init="rest"``, what the experiments use so that every prior starts alike).

Weights follow SMPLify's ``fit_3d.py``: it minimises a sum of squared residuals, so its weights
enter squared: pose weights w = 404, 404, 57.4, 4.78 -> λθ = w²; shape weights 100, 50, 10, 5 ->
λβ = wβ²; the bend residual 0.317·w·alpha·exp(sθ), alpha = 10 -> λa = (3.17 w)² on Σ exp(2sθ); Geman–McClure σ = 100 px with unit
data weight; E_sp: see the deviations above (the capsule hinge, ``interpenetration="capsules"``, uses λsp = 1e6 per m²).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from tqdm.auto import tqdm

from ..errors import InputError, check_finite
from ..skeleton import body21_to_body_pose
from .camera import FACING_CAMERA, estimate_depth, flip_orient, perspective_projection, principal_point
from .capsules import CapsuleRadii, capsule_pairs, interpenetration_energy, sphere_energy
from .forward import JointsForward, full_forward
from .keypoints import TORSO, KeypointMap
from .losses import angle_prior, joint_energy, pose_prior_energy, shape_prior
from .rowwise import ROW_METHODS, minimise_rows
from ..priors.base import decode_latent, encode_latent, has_encoder, is_latent_prior, prior_mean_pose, zero_latent

__all__ = ["smplify", "SMPLIFY_STAGES", "SMPLifyConfig", "check_inputs", "TERMS", "Problem", "resolve_config",
           "start_pose", "start_from_body", "orientation_hypotheses", "depth_guess", "torso_confidence",
           "camera_energy", "term_energies", "camera_stage", "run_stage", "choose_hypothesis", "pick_hypothesis",
           "body_pose_of"]

#: (pose-prior weight w, shape weight wβ) per stage, SMPLify's fit_3d.py (energies use w², wβ²)
SMPLIFY_STAGES = ((404.0, 100.0), (404.0, 50.0), (57.4, 10.0), (4.78, 5.0))
TERMS = ("data", "pose", "angle", "shape", "interpenetration", "total")


@dataclass
class SMPLifyConfig:
    """Knobs of :func:`smplify` (defaults = SMPLify's choices where it has one)."""

    stages: tuple = SMPLIFY_STAGES
    sigma: float = 100.0                 # Geman–McClure scale (px)
    angle_weight: float = 3.17           # λa = (angle_weight · w)² on Σ exp(2sθ): SMPLify's 0.317 · alpha(10); 0 disables E_a
    sp_weight: float | None = None       # λsp (None: 1e3 for spheres, 1e6 per m² for capsules); 0 disables E_sp
    interpenetration: str = "spheres"    # E_sp as SMPLify: Gaussian spheres along the capsules; or "capsules" (hinge)
    prior_scale: float = 1.0             # multiplies λθ of the pose prior (calibrated per prior on validation views)
    prior_adaptive: bool = False         # λθ = w · E_θ(θ) (Pose-NDF's adaptive weight), the factor held fixed in the gradient
    init: str = "prior_mean"             # start pose: "prior_mean" (SMPLify: the GMM's mean) or "rest" (the same for every prior)
    start: dict | None = None            # a start body {betas, global_orient, body_pose, transl} (B,·) (e.g. the regressor's):
                                         # used instead of ``init``, one hypothesis (no flip), the depth guess its transl's
    depth_weight: float = 1e4            # camera stage: (z − z_guess)² weight (SMPLify: residual 1e2)
    camera_iters: int = 30
    stage_iters: int = 100
    optimizer: str = "lbfgs"             # "lbfgs" (strong Wolfe, SMPLify-X) or "adam"
    lr: float | None = None              # 1.0 for L-BFGS, 0.02 for Adam
    lr_floor: float = 1.0                # Adam: cosine decay to lr * lr_floor per stage (1 = constant; decay did not help)
    try_flip: bool = True
    flip_select: str = "total"           # keep the hypothesis with the lower "total" energy or "data" term
    fit_shape: bool = True
    ftol: float = 1e-7                   # stop a stage when the relative energy change is below this
    early_ftol: float | None = None      # ftol of every stage but the last (the annealing ones); None: ftol
    prior_kwargs: dict = field(default_factory=dict)   # e.g. {"approx": None} for the exact GMM


def check_inputs(keypoints_2d, confidence, focal_length, image_size, n_keypoints: int, layout: str = "LSP-14"):
    """Validate and batch the inputs -> (kp (B,N,2), conf (B,N), f (B,), size (B,2)) as float tensors.
    ``layout`` names the keypoint order in the error messages."""
    kp = torch.as_tensor(keypoints_2d)
    conf = torch.as_tensor(confidence)
    if kp.dim() == 2:
        kp = kp[None]
    if conf.dim() == 1:
        conf = conf[None]
    if kp.dim() != 3 or kp.shape[1:] != (n_keypoints, 2):
        raise InputError(f"keypoints_2d must have shape (B, {n_keypoints}, 2) in pixels ({layout} order), "
                         f"got {tuple(torch.as_tensor(keypoints_2d).shape)}")
    if conf.shape != kp.shape[:2]:
        raise InputError(f"confidence must have shape (B, {n_keypoints}) matching keypoints_2d {tuple(kp.shape)}, "
                         f"got {tuple(torch.as_tensor(confidence).shape)}")
    kp, conf = kp.float(), conf.float()
    if not torch.isfinite(kp).all():
        bad = torch.nonzero(~torch.isfinite(kp).all(-1))[:3].tolist()
        raise InputError(f"keypoints_2d contain NaN/inf at (image, keypoint) {bad}...: give missing keypoints "
                         "any finite value (e.g. 0) with confidence 0")
    if not torch.isfinite(conf).all() or (conf < 0).any():
        raise InputError("confidence must be finite and >= 0")
    empty = torch.nonzero(conf.sum(-1) <= 0).flatten()
    if empty.numel():
        raise InputError(f"images {empty[:5].tolist()} have all-zero confidence: nothing to fit")
    B = kp.shape[0]
    f = torch.as_tensor(focal_length, dtype=torch.float32).flatten()
    if f.numel() == 1:
        f = f.expand(B)
    if f.shape != (B,) or not torch.isfinite(f).all() or (f <= 0).any():
        raise InputError(f"focal_length must be a positive finite number of pixels (scalar or (B,)), got {focal_length}")
    size = torch.as_tensor(image_size, dtype=torch.float32)
    if size.dim() == 1:
        size = size[None].expand(B, -1)
    if size.shape != (B, 2) or not torch.isfinite(size).all() or (size <= 0).any():
        raise InputError(f"image_size must be (width, height) > 0 px, shape (2,) or (B, 2), got {image_size}")
    if (size < MIN_IMAGE_PX).any():
        raise InputError(f"image_size {size[size.min(-1).values < MIN_IMAGE_PX][0].tolist()} px is degenerate: "
                         f"expected an image of at least {MIN_IMAGE_PX}×{MIN_IMAGE_PX} px")
    fov_ratio = f / size.max(-1).values                               # f / longer side: 0.05 ~ 169°, 100 ~ 0.6°
    odd = torch.nonzero((fov_ratio < FOCAL_RATIO[0]) | (fov_ratio > FOCAL_RATIO[1])).flatten()
    if odd.numel():
        i = int(odd[0])
        raise InputError(f"focal_length {float(f[i]):g} px is degenerate for a {size[i, 0]:.0f}×{size[i, 1]:.0f} px "
                         f"image (image {i}): expected {FOCAL_RATIO[0]:g} to {FOCAL_RATIO[1]:g} times its longer side "
                         "(a field of view between about 0.6° and 169°)")
    _check_spread(kp, conf, size, layout)
    return kp, conf, f.clone(), size.clone()


#: smallest image side (px) and the focal lengths accepted, as multiples of the image's longer side
MIN_IMAGE_PX = 16
FOCAL_RATIO = (0.05, 100.0)
#: confident keypoints must span at least this many pixels, and lie within one image size of the image
MIN_SPREAD_PX = 2.0


def _check_spread(kp, conf, size, layout: str = "LSP-14"):
    """Degenerate keypoints: every confident keypoint at one point, or far outside the image -> InputError."""
    seen = conf > 0                                                    # (B,N)
    big = float("inf")
    lo = torch.where(seen[..., None], kp, big).amin(1)                 # (B,2)
    hi = torch.where(seen[..., None], kp, -big).amax(1)
    spread = (hi - lo).norm(dim=-1)                                    # (B,) diagonal of their box
    flat = torch.nonzero(spread < MIN_SPREAD_PX).flatten()
    if flat.numel():
        i = int(flat[0])
        raise InputError(f"keypoints of image {i} are degenerate: every keypoint with confidence > 0 lies at "
                         f"({lo[i, 0]:.1f}, {lo[i, 1]:.1f}) px (within {MIN_SPREAD_PX:g} px); expected a person's "
                         f"keypoints spread over the image ({layout} order, pixels)")
    outside = seen & ((kp < -size[:, None]) | (kp > 2 * size[:, None])).any(-1)
    far = torch.nonzero(outside.any(-1)).flatten()
    if far.numel():
        i = int(far[0])
        j = int(torch.nonzero(outside[i]).flatten()[0])
        raise InputError(f"keypoint {j} of image {i} at ({kp[i, j, 0]:.0f}, {kp[i, j, 1]:.0f}) px lies far outside "
                         f"the {size[i, 0]:.0f}×{size[i, 1]:.0f} px image: expected pixel coordinates of this image "
                         "(give keypoints you do not have confidence 0)")


def _check_config(cfg: SMPLifyConfig):
    """Every choice of the config is known, before any work."""
    for name, value, allowed in (("optimizer", cfg.optimizer, ROW_METHODS), ("init", cfg.init, ("prior_mean", "rest")),
                                 ("interpenetration", cfg.interpenetration, ("spheres", "capsules")),
                                 ("flip_select", cfg.flip_select, ("total", "data"))):
        if value not in allowed:
            raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if cfg.early_ftol is not None and not cfg.early_ftol >= 0:
        raise InputError(f"early_ftol must be a tolerance ≥ 0 or None, got {cfg.early_ftol!r}")
    if cfg.stage_iters < 0 or cfg.camera_iters < 0 or not cfg.stages:
        raise InputError(f"stage_iters and camera_iters must be ≥ 0 and stages non-empty, got {cfg.stage_iters}, "
                         f"{cfg.camera_iters}, {cfg.stages!r}")


def _check_start(start, B: int, nb: int, device) -> dict:
    """A start body {betas (B,≤NB), global_orient (B,3), body_pose (B,69), transl (B,3)} -> float tensors on
    ``device`` (betas zero-padded to NB); InputError naming what is missing or misshapen."""
    shapes = {"global_orient": (B, 3), "body_pose": (B, 69), "transl": (B, 3)}
    missing = [k for k in (*shapes, "betas") if k not in start]
    if missing:
        raise InputError(f"start must hold betas, global_orient, body_pose and transl; missing {missing}")
    out = {k: torch.as_tensor(start[k], dtype=torch.float32).to(device) for k in (*shapes, "betas")}
    for k, shape in shapes.items():
        if tuple(out[k].shape) != shape:
            raise InputError(f"start[{k!r}] must have shape {shape}, got {tuple(out[k].shape)}")
    b = out["betas"]
    if b.dim() != 2 or b.shape[0] != B or b.shape[1] > nb:
        raise InputError(f"start['betas'] must have shape ({B}, ≤{nb}), got {tuple(b.shape)}")
    out["betas"] = torch.cat([b, b.new_zeros(B, nb - b.shape[1])], 1)
    for k, v in out.items():
        check_finite(f"start[{k!r}]", v)
    return out


def _initial_body_pose(prior, B, device):
    """SMPLify starts from the prior's mean pose (GMM: weighted mean of the means), else zeros. -> (B,69)."""
    mean = prior_mean_pose(prior)
    if mean is not None:
        mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
        return body21_to_body_pose(mean.reshape(1, 21, 3)).expand(B, -1).clone()
    return torch.zeros(B, 69, device=device)


def _minimise(params, energy, iters: int, cfg: SMPLifyConfig, record=None, ftol: float | None = None):
    """Minimise every image's (every hypothesis's) energy on its own: see ``rowwise.minimise_rows``."""
    if cfg.optimizer not in ROW_METHODS:
        raise InputError(f"optimizer must be 'lbfgs' or 'adam', got {cfg.optimizer!r}")
    minimise_rows(params, energy, iters, method=cfg.optimizer, lr=cfg.lr, ftol=cfg.ftol if ftol is None else ftol,
                  lr_floor=cfg.lr_floor, record=record)


def resolve_config(config: SMPLifyConfig | None = None, **overrides) -> SMPLifyConfig:
    """The config of one fit: ``config`` (default :class:`SMPLifyConfig`) with ``overrides`` set, checked.
    The caller's config object is not changed."""
    cfg = replace(config) if config is not None else SMPLifyConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise TypeError(f"unknown smplify option {k!r}; see SMPLifyConfig")
        setattr(cfg, k, v)
    _check_config(cfg)
    return cfg


# ----------------------------------------------------------------------------------------------
# the problem: what every energy evaluation of one fit reads
# ----------------------------------------------------------------------------------------------


@dataclass
class Problem:
    """The fixed data of one fit of R = H·B rows (H orientation hypotheses of B images)."""

    fwd: JointsForward               # joints (+ keypoint vertices) of the body model
    kmap: KeypointMap                # joints/vertices -> LSP-14 keypoints
    keypoints: torch.Tensor          # (R,14,2) px
    confidence: torch.Tensor         # (R,14)
    focal: torch.Tensor              # (R,)
    center: torch.Tensor             # (R,2) principal point
    prior: object                    # the pose prior (None: no prior)
    cfg: SMPLifyConfig
    radii: CapsuleRadii              # the capsule radii of E_sp for a shape (2 vertices per capsule)
    pairs: list = field(default_factory=capsule_pairs)   # segment pairs that E_sp keeps apart

    @property
    def latent(self) -> bool:
        """Optimise the prior's latent code (VPoser) instead of the pose itself."""
        return is_latent_prior(self.prior)

    @property
    def rows(self) -> int:
        return self.keypoints.shape[0]

    @property
    def sp_weight(self) -> float:
        """λsp: the config's, or 1e3 for spheres, 1e6 per m² for capsules."""
        cfg = self.cfg
        if cfg.sp_weight is not None:
            return cfg.sp_weight
        return 1e3 if cfg.interpenetration == "spheres" else 1e6

    def project(self, betas, orient, body_pose, transl, rows):
        """Keypoints in pixels (R',14,2) of the rows ``rows``; also joints (R',24,3) -> (proj, joints)."""
        j, v = self.fwd(betas, orient, body_pose, transl)
        return perspective_projection(self.kmap(j, v), self.focal[rows], self.center[rows]), j


def body_pose_of(prior, pose_var: torch.Tensor) -> torch.Tensor:
    """The body pose (R,69) of the optimised variable: the pose itself, or a latent prior's decoded code (R,D)."""
    if is_latent_prior(prior):
        return body21_to_body_pose(decode_latent(prior, pose_var))
    return pose_var


# ----------------------------------------------------------------------------------------------
# 1. the start: pose, depth guess and orientation hypotheses
# ----------------------------------------------------------------------------------------------


def start_pose(prior, cfg: SMPLifyConfig, n: int, device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The start pose (n,69) and, for a latent prior, its code (n,D) (else None).

    SMPLify starts from the GMM's mean; ``init="rest"`` starts every prior from the rest pose (a latent prior
    from the code of the rest pose when it has an encoder); a latent prior without an encoder starts at z = 0
    (SMPLify-X)."""
    if not is_latent_prior(prior):
        return _initial_body_pose(None if cfg.init == "rest" else prior, n, device), None
    with torch.no_grad():
        if cfg.init == "rest" and has_encoder(prior):          # the code of the rest pose: the same start as the others
            z = encode_latent(prior, torch.zeros(n, 21, 3, device=device)).to(device)
        else:                                                  # SMPLify-X: z = 0
            z = zero_latent(prior, n, device=device)
        pose0 = body21_to_body_pose(decode_latent(prior, z).to(device))
    return pose0, z


def start_from_body(prior, start: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The start pose (B,69) of a given start body (e.g. the regressor's) and, for a latent prior, its code:
    the encoder's code of the pose, and the pose the decoder makes of it."""
    pose0 = start["body_pose"].clone()
    if not is_latent_prior(prior):
        return pose0, None
    B = pose0.shape[0]
    with torch.no_grad():
        z = encode_latent(prior, pose0[:, :63].reshape(B, 21, 3)).to(pose0.device)
        pose0 = body21_to_body_pose(decode_latent(prior, z).to(pose0.device))
    return pose0, z


def orientation_hypotheses(H: int, B: int, device) -> torch.Tensor:
    """Global orientations (H·B,3): facing the camera, and (H = 2) the same flipped by 180° for rows B..2B."""
    orient = torch.tensor(FACING_CAMERA, device=device).expand(H * B, 3).clone()
    if H == 2:
        orient[B:] = flip_orient(orient[B:])
    return orient


def depth_guess(problem: Problem, betas, pose0) -> tuple[torch.Tensor, torch.Tensor]:
    """SMPLify's camera start: depth from the ratio of 3D to 2D torso lengths (similar triangles), the root
    on the ray through the keypoints' centroid -> (transl (R,3), depth (R,))."""
    kp, conf, f, c = problem.keypoints, problem.confidence, problem.focal, problem.center
    R = problem.rows
    with torch.no_grad():
        j0, v0 = problem.fwd(betas, torch.zeros(R, 3, device=kp.device), pose0, torch.zeros(R, 3, device=kp.device))
        k3 = problem.kmap(j0, v0)                                                # (R,14,3)
    tor = list(TORSO)
    depth = estimate_depth(k3[:, tor], kp[:, tor], conf[:, tor], f)             # (R,)
    vis = conf[..., None] > 0
    c2d = (kp * vis).sum(1) / vis.sum(1).clamp_min(1)                           # (R,2) keypoint centroid
    xy = (c2d - c) * depth[:, None] / f[:, None]
    return torch.cat([xy, depth[:, None]], dim=1), depth                        # root near the centroid ray


def torso_confidence(confidence: torch.Tensor, torso=TORSO) -> torch.Tensor:
    """Confidences (R,N) of the ``torso`` keypoints only (LSP-14's by default; all keypoints for a row without a
    visible torso)."""
    tor = list(torso)
    out = torch.zeros_like(confidence)
    out[:, tor] = confidence[:, tor]
    none = out.sum(-1) <= 0
    out[none] = confidence[none]
    return out


# ----------------------------------------------------------------------------------------------
# 2. the energies
# ----------------------------------------------------------------------------------------------


def camera_energy(problem: Problem, betas, pose0, depth, torso_conf, orient, transl, rows) -> dict:
    """The camera stage's energy of rows ``rows``: E_J on the torso + depth_weight (z − z_guess)² -> {"total": (R',)}."""
    cfg = problem.cfg
    proj, _ = problem.project(betas[rows], orient, pose0[rows], transl, rows)
    return {"total": joint_energy(proj, problem.keypoints[rows], torso_conf[rows], cfg.sigma)
            + cfg.depth_weight * (transl[:, 2] - depth[rows]) ** 2}


def term_energies(problem: Problem, weights: tuple[float, float], pose_var, orient, transl, betas, rows) -> dict:
    """SMPLify's energy terms {term: (R',)} of the rows ``rows`` at one stage's weights (w, wβ):

    E_J (data), λθ E_θ (pose, λθ = prior_scale · w²), λa E_a (angle, λa = (angle_weight · w)²),
    λβ E_β (shape, λβ = wβ²), λsp E_sp (interpenetration), and their sum (total)."""
    cfg, prior = problem.cfg, problem.prior
    wθ, wβ = weights
    latent = problem.latent
    bp = body_pose_of(prior, pose_var)                                         # (R',69)
    proj, j = problem.project(betas, orient, bp, transl, rows)
    e_pose = pose_prior_energy(prior, bp, latent=pose_var if latent else None, **cfg.prior_kwargs)
    if cfg.prior_adaptive:
        e_pose = e_pose.detach() * e_pose
    zero = bp.new_zeros(bp.shape[0])
    sp_weight = problem.sp_weight
    if sp_weight > 0:                                              # radii of the current shape: E_sp depends on β
        collide = sphere_energy if cfg.interpenetration == "spheres" else interpenetration_energy
        e_sp = sp_weight * collide(j, problem.radii(betas), problem.pairs)
    else:
        e_sp = zero
    out = {"data": joint_energy(proj, problem.keypoints[rows], problem.confidence[rows], cfg.sigma),
           "pose": cfg.prior_scale * wθ ** 2 * e_pose,
           "angle": (cfg.angle_weight * wθ) ** 2 * angle_prior(bp) if cfg.angle_weight > 0 else zero,
           "shape": wβ ** 2 * shape_prior(betas),
           "interpenetration": e_sp}
    out["total"] = sum(out.values())
    return out


# ----------------------------------------------------------------------------------------------
# 3. the stages
# ----------------------------------------------------------------------------------------------


def camera_stage(problem: Problem, betas, pose0, depth, orient, transl) -> dict:
    """Fit translation + orientation (in place) on the torso keypoints -> the stage's trace {"total": (iters+1, R)}."""
    torso_conf = torso_confidence(problem.confidence)
    orient.requires_grad_(True)
    transl.requires_grad_(True)

    def energy(parts, rows):
        return camera_energy(problem, betas, pose0, depth, torso_conf, *parts, rows)

    cam_trace = []
    _minimise([orient, transl], energy, problem.cfg.camera_iters, problem.cfg,
              lambda t: cam_trace.append(t["total"].cpu()))
    return {"stage": "camera", "weights": {}, "total": torch.stack(cam_trace)}


def run_stage(problem: Problem, weights: tuple[float, float], pose_var, orient, transl, betas,
              ftol: float | None = None) -> dict:
    """One annealing stage: minimise the total energy at the weights (w, wβ) over the pose (or its code),
    orientation, translation and (``fit_shape``) shape, in place -> its trace {term: (iters+1, R)}.
    ``ftol``: this stage's stopping tolerance (None: the config's ``ftol``)."""
    cfg = problem.cfg
    rec = {k: [] for k in TERMS}

    def record(e):
        for k in TERMS:
            rec[k].append(e[k].cpu())

    def energy(parts, rows):
        bt = parts[3] if cfg.fit_shape else betas[rows]
        return term_energies(problem, weights, parts[0], parts[1], parts[2], bt, rows)

    params = [pose_var, orient, transl] + ([betas] if cfg.fit_shape else [])
    _minimise(params, energy, cfg.stage_iters, cfg, record, ftol)
    return {"weights": {"pose": weights[0], "shape": weights[1]}, **{k: torch.stack(v) for k, v in rec.items()}}


# ----------------------------------------------------------------------------------------------
# 4. the choice of hypothesis
# ----------------------------------------------------------------------------------------------


def choose_hypothesis(final: dict, B: int, H: int, flip_select: str = "total") -> torch.Tensor:
    """Per image, whether the flipped hypothesis (rows B..2B) ends with the lower ``flip_select`` energy -> (B,) bool
    (all False with one hypothesis)."""
    if H == 1:
        return torch.zeros(B, dtype=torch.bool, device=final["total"].device)
    crit = final[flip_select]
    return crit[B:] < crit[:B]


def pick_hypothesis(x: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """The chosen hypothesis's rows (B,...) of ``x`` (H·B,...): row B+i where ``flipped[i]``, else row i."""
    B = flipped.shape[0]
    if x.shape[0] == B:
        return x
    return torch.where(flipped.reshape(-1, *([1] * (x.dim() - 1))), x[B:], x[:B])


# ----------------------------------------------------------------------------------------------
# SMPLify
# ----------------------------------------------------------------------------------------------


def smplify(keypoints_2d, confidence, focal_length, image_size, body_model, prior=None,
            config: SMPLifyConfig | None = None, progress: bool = True, **overrides) -> dict:
    """Fit the body model to batches of 2D keypoints (LSP-14 layout, pixels).

    keypoints_2d (B,14,2), confidence (B,14) ≥ 0, focal_length (scalar or (B,)) px,
    image_size (2,) or (B,2) as (width, height) px; body_model an ``smplx.SMPL`` built with any
    batch size; prior: None, a GMMPrior, or any object following the prior protocol (see
    ``losses.pose_prior_energy``). Keyword overrides set fields of :class:`SMPLifyConfig`.

    Returns a dict: betas (B,NB), global_orient (B,3), body_pose (B,69), transl (B,3) (camera
    frame), vertices (B,V,3), joints (B,24,3), keypoints_3d (B,14,3), projected (B,14,2),
    energies {term: (B,)} at the end, trace [{"stage", "weights", term: (iters+1, B)} per stage,
    the camera stage first], flipped (B,) bool (the 180°-flipped hypothesis won), time_s.
    """
    cfg = resolve_config(config, **overrides)
    t0 = time.perf_counter()
    kmap = KeypointMap(body_model)
    kp, conf, f, size = check_inputs(keypoints_2d, confidence, focal_length, image_size, kmap.n)
    device = body_model.v_template.device
    kp, conf, f, size = kp.to(device), conf.to(device), f.to(device), size.to(device)
    B = kp.shape[0]
    fwd = JointsForward(body_model, kmap.vertex_ids)
    center = principal_point(size)
    start = _check_start(cfg.start, B, fwd.num_betas, device) if cfg.start is not None else None

    # ---- hypotheses: H = 1 or 2 copies of every image (the second with the flipped orientation)
    H = 2 if cfg.try_flip and start is None else 1
    rep = lambda x: x.repeat(H, *([1] * (x.dim() - 1)))                         # (H*B, ...)
    problem = Problem(fwd, kmap, rep(kp), rep(conf), rep(f), rep(center), prior, cfg, CapsuleRadii(body_model))

    # ---- 1. start pose, depth guess and orientations (or the given start body)
    if start is None:
        betas = torch.zeros(H * B, fwd.num_betas, device=device)
        pose0, z = start_pose(prior, cfg, H * B, device)
        orient = orientation_hypotheses(H, B, device)
        transl, depth = depth_guess(problem, betas, pose0)
    else:
        betas = start["betas"].clone()
        pose0, z = start_from_body(prior, start)
        orient = start["global_orient"].clone()
        transl, depth = start["transl"].clone(), start["transl"][:, 2].clone()

    # ---- 2. camera stage: translation + orientation on the torso keypoints
    trace = [camera_stage(problem, betas, pose0, depth, orient, transl)]

    # ---- 3. staged fit, λθ and λβ annealed
    pose_var = (z if z is not None else pose0).clone().requires_grad_(True)
    betas.requires_grad_(cfg.fit_shape)
    stage_bar = tqdm(cfg.stages, desc="SMPLify stages", disable=not progress, leave=False)
    for si, weights in enumerate(stage_bar):
        early = cfg.early_ftol is not None and si < len(cfg.stages) - 1     # the annealing stages' own tolerance
        trace.append({"stage": f"stage {si + 1}", **run_stage(problem, weights, pose_var, orient, transl, betas,
                                                              cfg.early_ftol if early else None)})
        stage_bar.set_postfix(energy=f"{trace[-1]['total'][-1].mean():.1f}")

    # ---- 4. keep the better hypothesis per image
    rows = torch.arange(H * B, device=device)
    with torch.no_grad():
        final = {k: v.detach() for k, v in
                 term_energies(problem, cfg.stages[-1], pose_var, orient, transl, betas, rows).items()}
        body_pose = body_pose_of(prior, pose_var).detach()
    flipped = choose_hypothesis(final, B, H, cfg.flip_select)
    pick = lambda x: pick_hypothesis(x, flipped)
    betas_o, orient_o, pose_o, transl_o = (pick(x.detach()) for x in (betas, orient, body_pose, transl))
    with torch.no_grad():
        vertices, joints = full_forward(body_model, betas_o, orient_o, pose_o, transl_o)
        k3 = kmap.from_mesh(joints, vertices)
        proj = perspective_projection(k3, f, center)
    trace = [{k: (pick(v.transpose(0, 1)).transpose(0, 1) if torch.is_tensor(v) else v) for k, v in s.items()}
             for s in trace]
    for name, value in (("betas", betas_o), ("global_orient", orient_o), ("body_pose", pose_o), ("transl", transl_o),
                        ("vertices", vertices)):
        check_finite(f"SMPLify's fitted {name}", value)
    return {"betas": betas_o, "global_orient": orient_o, "body_pose": pose_o, "transl": transl_o,
            "vertices": vertices, "joints": joints, "keypoints_3d": k3, "projected": proj,
            "energies": {k: pick(v) for k, v in final.items()}, "trace": trace, "flipped": flipped,
            "time_s": time.perf_counter() - t0}
