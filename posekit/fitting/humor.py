"""Test-time optimisation with the HuMoR-like motion prior (Rempe et al. 2021, https://arxiv.org/abs/2105.04668, Sec. 4).

Same conventions as ``posekit.fitting.motion.fit_motion`` (a drop-in method for the motion experiments):
a ``Clip`` whose global orientation and translation are known (the clip's), observed joints (T, 24, 3) in
metres, an optional joint mask (24,) bool; the result is the body pose body21 (T, 21, 3).

The free variables are the body poses Θ_1..T (axis-angle, as in ``fit_motion``) and the latent codes
z_2..z_T. The states x_t follow from (Φ_clip, Θ_t, r_clip) (``HumorPrior.states``: rotations, joints by
forward kinematics, velocities by differences), so the known root is built in. Objective (lengths in cm,
means over frames and visible joints):

    E = w_data        · ‖J(Φ_clip, Θ_t, r_clip) − Ĵ_t‖²                           observed joints
      + w_prior       · mean_t −log p(z_t | x_{t-1})                              the learned conditional prior
      + w_dynamics    · mean_t ½ ‖(x̂_t(z_t, x_{t-1}) − x_t) / σ_s‖²              x_t is the decoder's step from x_{t-1}
      + w_contact_vel · c_t,j ‖J_j(t) − J_j(t−1)‖²                                no sliding while in contact
      + w_ground      · (c_t,j · relu(h_j(t) − CONTACT_HEIGHT)² + relu(−h_j(t))²)  contacts on the floor, nothing below

with x̂_t the decoder's next state and σ_s the spread of true changes (``HumorCVAE.step_error``), c_t,j the
contact probabilities the decoder predicts for step t (held fixed within an iteration), h the height above
the floor, estimated once from the initial fit (its lowest ankle/toe joint).

**What differs from HuMoR.** HuMoR optimises the initial state and z_1..T and takes the motion to be
their rollout (single shooting: a recurrent graph T steps deep). Here the states are free and the
rollout equation x_t = f(x_{t-1}, z_t) is the penalty ``w_dynamics`` (multiple shooting): every term is
evaluated for all frames at once, about thirty times cheaper on a CPU for 60 frames, and a poorly
trained step cannot make a long rollout drift away. With a large ``w_dynamics`` the two agree.

Initialisation: a per-frame fit without a prior (``fit_motion(prior=None, w_smooth=0)``) unless
``init_body21`` is given; z_t = μ_q(x_{t-1}, x_t) from the encoder along it. Optimiser: L-BFGS with a
strong-Wolfe line search (``optimizer="adam"`` for Adam), as ``fit_motion``; the best iterate is returned.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..errors import InputError
from ..priors.base import is_latent_motion_prior
from ..skeleton import FOOT_JOINTS
from .forward import posed_joints
from .motion import Clip, FitConfig, fit_motion, minimise

__all__ = ["HumorFitConfig", "scaled_config", "fit_motion_humor", "humor_objective", "objective_terms", "init_latents", "estimate_floor"]


@dataclass
class HumorFitConfig:
    """Weights (cm² for lengths) and optimiser of the HuMoR test-time optimisation."""

    w_data: float = 1.0
    w_prior: float = 0.1
    w_dynamics: float = 0.1
    w_contact_vel: float = 1.0
    w_ground: float = 1.0
    steps: int = 200
    lr: float = 0.05               # Adam's step size (``optimizer="adam"``)
    init_steps: int = 150          # iterations of the per-frame initial fit (when init_body21 is None)
    optimizer: str = "lbfgs"       # "lbfgs" (strong Wolfe, as the other motion fits) or "adam"


def scaled_config(scale: float, **overrides) -> HumorFitConfig:
    """A ``HumorFitConfig`` whose prior-side weights (w_prior, w_dynamics, w_contact_vel, w_ground) are the
    defaults times ``scale``, the data weight unchanged: the one number the experiments tune per setting on
    validation clips, as they tune a pose prior's weight."""
    d = HumorFitConfig()
    return replace(d, w_prior=d.w_prior * scale, w_dynamics=d.w_dynamics * scale,
                   w_contact_vel=d.w_contact_vel * scale, w_ground=d.w_ground * scale, **overrides)


def objective_terms(model, body, clip: Clip, body21: torch.Tensor, z: torch.Tensor, obs_cm: torch.Tensor,
                    mask: torch.Tensor, floor) -> tuple[dict, torch.Tensor]:
    """The objective's terms (scalars) at poses body21 (T, 21, 3) and latents z (T-1, L); also the contact
    probabilities (T-1, K) the decoder predicts. ``model``: a latent motion prior (``priors.base.LatentMotionPrior``)."""
    J = posed_joints(body, clip.global_orient, body21, clip.transl) * 100.0                  # (T, 24, 3) cm
    terms = {"data": (J[:, mask] - obs_cm[:, mask]).pow(2).sum(-1).mean()}
    prior_terms, logits = model.transition_terms(clip.global_orient, body21, clip.transl, z, floor)
    terms.update(prior_terms)
    c = torch.sigmoid(logits).detach()                                                      # (T-1, K)
    Jc = J[:, list(model.contact_joints)]                                                    # (T, K, 3)
    terms["contact_vel"] = (c * (Jc[1:] - Jc[:-1]).pow(2).sum(-1)).mean()
    h = Jc[1:, :, 1] - floor * 100.0                                                         # (T-1, K) cm
    terms["ground"] = (c * torch.relu(h - model.contact_height * 100.0).pow(2)).mean() + \
        torch.relu(-(J[:, :22, 1] - floor * 100.0)).pow(2).mean()
    return terms, c


def _total(terms: dict, cfg: HumorFitConfig) -> torch.Tensor:
    return sum(getattr(cfg, f"w_{k}") * v for k, v in terms.items())


@torch.no_grad()
def init_latents(model, clip: Clip, body21: torch.Tensor, floor) -> torch.Tensor:
    """z_2..T (T-1, L): the encoder means μ_q(x_{t-1}, x_t) along the motion (clip root, body21)."""
    return model.transition_latents(clip.global_orient, body21, clip.transl, floor)


def estimate_floor(body, clip: Clip, body21: torch.Tensor) -> torch.Tensor:
    """World height of the floor: the lowest ankle/toe joint of the motion (clip root, body21)."""
    with torch.no_grad():
        return posed_joints(body, clip.global_orient, body21, clip.transl)[:, list(FOOT_JOINTS), 1].min()


def humor_objective(model, body, clip: Clip, obs_joints: torch.Tensor, body21: torch.Tensor,
                    joint_mask: torch.Tensor | None = None, cfg: HumorFitConfig | None = None,
                    floor=None) -> tuple[float, dict]:
    """The objective E and its terms at poses body21 (T, 21, 3), with z at the encoder means."""
    cfg = cfg or HumorFitConfig()
    mask = torch.ones(24, dtype=torch.bool, device=obs_joints.device) if joint_mask is None else joint_mask.bool()
    floor = estimate_floor(body, clip, body21) if floor is None else floor
    z = init_latents(model, clip, body21, floor)
    with torch.no_grad():
        terms, _ = objective_terms(model, body, clip, body21, z, obs_joints * 100.0, mask, floor)
    return float(_total(terms, cfg)), {k: float(v) for k, v in terms.items()}


def fit_motion_humor(body, clip: Clip, obs_joints: torch.Tensor, model, init_body21: torch.Tensor | None = None,
                     joint_mask: torch.Tensor | None = None, cfg: HumorFitConfig | None = None,
                     callback=None, return_info: bool = False):
    """Body poses (T, 21, 3) of a clip from observed joints by HuMoR-style test-time optimisation (module docstring).

    body: the smplx body model; clip: ``Clip`` (its global_orient and transl are used as known);
    obs_joints: (T, 24, 3) metres; model: a ``HumorPrior``; init_body21: (T, 21, 3) initial poses (default:
    a per-frame fit without a prior); joint_mask: (24,) bool, True = observed. ``callback(it, loss)``
    after every step. ``return_info``: also return {"history", "init_body21", "contacts", "floor", "terms"}.
    """
    cfg = cfg or HumorFitConfig()
    T = len(clip)
    if obs_joints.shape != (T, 24, 3):
        raise ValueError(f"obs_joints must be (T={T}, 24, 3) metres, got {tuple(obs_joints.shape)}")
    if T < 2:
        raise ValueError("fit_motion_humor needs a clip of at least 2 frames")
    if not is_latent_motion_prior(model):
        raise InputError(f"fit_motion_humor needs a motion prior with latent transitions (transition_latents, "
                         f"transition_terms; see posekit.priors.base.LatentMotionPrior), got {type(model).__name__}")
    mask = torch.ones(24, dtype=torch.bool, device=obs_joints.device) if joint_mask is None else joint_mask.bool()
    if mask.shape != (24,):
        raise ValueError(f"joint_mask must be (24,) bool, got {tuple(mask.shape)}")
    model = model.to(obs_joints.device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if init_body21 is None:
        init_body21 = fit_motion(body, clip, obs_joints, prior=None, joint_mask=mask,
                                 cfg=replace(FitConfig(), w_smooth=0.0, steps=cfg.init_steps))
    init_body21 = init_body21.detach()
    floor = estimate_floor(body, clip, init_body21)
    pose = init_body21.clone().requires_grad_(True)
    z = init_latents(model, clip, init_body21, floor).clone().requires_grad_(True)
    obs_cm = obs_joints.detach() * 100.0
    best, best_pose, best_c, best_terms, hist = float("inf"), None, None, None, []

    def energy():
        nonlocal best, best_pose, best_c, best_terms
        terms, c = objective_terms(model, body, clip, pose, z, obs_cm, mask, floor)
        total = _total(terms, cfg)
        value = float(total.detach())
        hist.append(value)
        if value < best:                              # the best iterate seen (line-search trials included)
            best, best_pose, best_c = value, pose.detach().clone(), c.clone()
            best_terms = {k: float(v.detach()) for k, v in terms.items()}
        return total

    minimise([pose, z], energy, FitConfig(steps=cfg.steps, lr=cfg.lr, optimizer=cfg.optimizer), callback)
    if not return_info:
        return best_pose
    return best_pose, {"history": hist, "init_body21": init_body21, "contacts": best_c, "floor": float(floor),
                       "terms": best_terms}
