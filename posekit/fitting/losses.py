"""SMPLify's objective, one function per term (seed, SMPLify eq. 1):

    E(β,θ) = E_J(β,θ; K, J_est) + λθ E_θ(θ) + λa E_a(θ) + λsp E_sp(θ; β) + λβ E_β(β)

Every function is batched and returns one value per image, shape (B,), so a batch of independent
fits is optimised by summing the per-image objectives (the gradients do not mix).
"""
from __future__ import annotations

import torch

from ..priors.base import is_latent_prior, prior_energy
from ..skeleton import as_body21

__all__ = ["geman_mcclure", "joint_energy", "angle_prior", "shape_prior", "pose_prior_energy",
           "BEND_JOINTS", "BEND_AXES", "BEND_SIGNS", "is_latent_prior"]


def geman_mcclure(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """ρ(r) = σ² ‖r‖² / (σ² + ‖r‖²) per point; residual (..., 2) px, σ in px -> (...).

    Quadratic for small residuals, saturating at σ² for outliers (SMPLify uses σ = 100 px).
    """
    sq = (residual ** 2).sum(-1)                                            # (...)
    return sigma ** 2 * sq / (sigma ** 2 + sq)


def joint_energy(projected: torch.Tensor, keypoints_2d: torch.Tensor, confidence: torch.Tensor,
                 sigma: float = 100.0) -> torch.Tensor:
    """E_J = Σ_i w_i ρ(Π_K(R_θ(J(β)_i)) − J_est,i).

    projected (B,N,2) px, keypoints_2d (B,N,2) px, confidence w (B,N) -> (B,).
    """
    return (confidence * geman_mcclure(projected - keypoints_2d, sigma)).sum(-1)


# SMPL joints whose natural bend is one-sided: elbows bend about the body's y axis, knees about x.
# Sign s_i such that the natural bend has s_i θ_i < 0, so exp(s_i θ_i) grows only for the
# unnatural direction (hyper-extension). Determined on the body model (y-up, facing +z, left = +x):
#  - knees (4, 5): +θ_x swings the shin backwards (−z), the natural flexion -> s = −1
#  - left elbow (18): the forearm points +x; −θ_y swings it forwards (+z), natural -> s = +1
#  - right elbow (19): the forearm points −x; +θ_y swings it forwards (+z), natural -> s = −1
# (the same signs as SMPLify's code: pose[55], −pose[58], −pose[12], −pose[15] of the 72-d pose)
# tests/test_fitting.py re-derives them from the loaded model's forward kinematics.
BEND_JOINTS = (18, 19, 4, 5)
BEND_AXES = (1, 1, 0, 0)
BEND_SIGNS = (1.0, -1.0, -1.0, -1.0)


def angle_prior(body_pose: torch.Tensor, squared: bool = True) -> torch.Tensor:
    """E_a = Σ_{i ∈ elbows, knees} exp(2 s_i θ_i) (SMPLify's energy); body_pose any ``as_body21`` layout -> (B,).

    SMPLify's code (fit_3d.py) builds the residual ``0.317 w · alpha · exp(s θ)`` with alpha = 10 and chumpy's
    least squares squares it: E = (3.17 w)² Σ exp(2 s θ). ``squared=False`` gives the printed form Σ exp(s θ)
    of the paper's Eq. 3 (a weaker, differently shaped term). ``smplify`` uses E = (angle_weight · w)² E_a
    with angle_weight = 3.17, SMPLify's strength.
    """
    b21 = as_body21(body_pose)                                              # (B,21,3); joint j -> row j-1
    rows = torch.tensor([j - 1 for j in BEND_JOINTS], device=b21.device)
    axes = torch.tensor(BEND_AXES, device=b21.device)
    signs = torch.tensor(BEND_SIGNS, dtype=b21.dtype, device=b21.device)
    theta = b21[:, rows, axes]                                              # (B,4)
    return torch.exp((2.0 if squared else 1.0) * signs * theta).sum(-1)


def shape_prior(betas: torch.Tensor) -> torch.Tensor:
    """E_β = ‖β‖² (the shape space is PCA-whitened, so this is the Mahalanobis norm). (B,NB) -> (B,)."""
    return (betas ** 2).sum(-1)


def pose_prior_energy(prior, body_pose: torch.Tensor, latent: torch.Tensor | None = None,
                      **kwargs) -> torch.Tensor:
    """E_θ for any prior following posekit's prior protocol (``posekit.priors.base``) -> (B,).

    - None: 0 (no prior);
    - latent prior (``latent_dim`` + ``decode_body21``): ‖z‖² of the optimised latent (VPoser's E_θb);
    - anything with ``energy(body_pose)`` (GMM; kwargs such as ``approx`` are passed on);
    - else ``distance(body_pose)`` (Pose-NDF's unsigned distance f(θ), the prior term L_θ).
    """
    if prior is not None and latent is not None:
        return (latent ** 2).sum(-1)
    return prior_energy(prior, body_pose, **kwargs)
