"""What a prior is, written down once: the protocols every prior follows and the predicates fitters use.

Every pose prior models the 21 body joints (``posekit.skeleton.as_body21``) and has

    energy(body21) -> (B,)                         the prior term a fitter minimises (lower = more plausible).

A **latent prior** (VPoser) is also a pose parametrisation: a fitter may optimise a latent code z
instead of the pose, with the energy ‖z‖² (SMPLify-X). It adds

    latent_dim: int
    decode_body21(z) -> (B, 21, 3)                 axis-angle poses of latent codes (B, latent_dim),
    decode(z)                                      the decoder's own output (VPoser: rotation matrices),
    encode(body21) -> (μ, σ) or μ                  the encoder (optional: without one a fitter finds z
                                                   by fitting the decoder to the pose).

A **distance prior** (Pose-NDF) has ``distance(body21) -> (B,)``, an unsigned distance to the
manifold of plausible poses; its energy is that distance.

A **motion prior** (HuMoR-like) scores whole pose sequences: ``motion_energy(body21_seq) -> (B,)``
for sequences (B, T, 21, 3).

The classes below are ``typing.Protocol`` s: a prior follows them by having the methods, not by
inheriting. The predicates (``is_latent_prior``, ``is_distance_prior``, ...) and the dispatching
functions (``prior_energy``, ``encode_latent``, ...) are the only place where posekit asks what a
prior can do.
"""
from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

import torch

__all__ = ["PosePrior", "LatentPrior", "DistancePrior", "MotionPrior", "LatentMotionPrior", "SamplingPrior",
           "is_pose_prior", "is_latent_prior", "is_distance_prior", "is_motion_prior", "is_latent_motion_prior",
           "has_encoder",
           "has_mean_pose", "prior_energy", "encode_latent", "decode_latent", "zero_latent", "prior_mean_pose",
           "sample_prior"]


@runtime_checkable
class PosePrior(Protocol):
    """A prior over body poses: ``energy(body21) -> (B,)`` for poses in any ``as_body21`` layout."""

    def energy(self, body21: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LatentPrior(PosePrior, Protocol):
    """A pose prior with a latent space: poses are decoded from codes z (B, latent_dim)."""

    latent_dim: int

    def encode(self, body21: torch.Tensor): ...

    def decode(self, z: torch.Tensor): ...

    def decode_body21(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class DistancePrior(PosePrior, Protocol):
    """A pose prior given by a distance to the manifold of plausible poses, ``distance(body21) -> (B,)``."""

    def distance(self, body21: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class MotionPrior(Protocol):
    """A prior over motion: ``motion_energy(body21_seq) -> (B,)`` for pose sequences (B, T, 21, 3)."""

    def motion_energy(self, body21_seq: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LatentMotionPrior(MotionPrior, Protocol):
    """A motion prior with a latent code per transition (HuMoR): a test-time fit optimises the poses and the codes.

    ``transition_latents(global_orient, body21, transl, floor) -> (T-1, L)`` codes of a motion;
    ``transition_terms(global_orient, body21, transl, z, floor) -> ({"prior", "dynamics"} scalars, contact logits
    (T-1, K))``; ``contact_joints`` the K SMPL joints whose floor contact it predicts, ``contact_height`` (m)."""

    contact_joints: tuple
    contact_height: float

    def transition_latents(self, global_orient, body21, transl, floor=0.0) -> torch.Tensor: ...

    def transition_terms(self, global_orient, body21, transl, z, floor=0.0): ...


@runtime_checkable
class SamplingPrior(Protocol):
    """A prior that draws poses: ``sample(n) -> (n, 21, 3)`` (optionally ``sample(n, seed=...)``)."""

    def sample(self, n: int): ...


# ----------------------------------------------------------------------------------------------
# predicates
# ----------------------------------------------------------------------------------------------


def is_pose_prior(prior) -> bool:
    """Has ``energy(body21)`` (or ``distance(body21)``, which then serves as the energy)."""
    return prior is not None and (hasattr(prior, "energy") or hasattr(prior, "distance"))


def is_latent_prior(prior) -> bool:
    """A latent prior (VPoser-like): ``latent_dim`` and ``decode_body21(z)``."""
    return prior is not None and hasattr(prior, "latent_dim") and hasattr(prior, "decode_body21")


def is_distance_prior(prior) -> bool:
    """A distance prior (Pose-NDF-like): ``distance(body21)``."""
    return prior is not None and hasattr(prior, "distance")


def is_motion_prior(prior) -> bool:
    """A motion prior: ``motion_energy(body21_seq)``."""
    return prior is not None and hasattr(prior, "motion_energy")


def is_latent_motion_prior(prior) -> bool:
    """A motion prior with latent transitions (``transition_latents`` and ``transition_terms``)."""
    return is_motion_prior(prior) and hasattr(prior, "transition_latents") and hasattr(prior, "transition_terms")


def has_encoder(prior) -> bool:
    """A latent prior with an encoder ``encode(body21)``."""
    return is_latent_prior(prior) and hasattr(prior, "encode")


def has_mean_pose(prior) -> bool:
    """A prior that knows its mean pose (the GMM: ``mean_pose()``)."""
    return prior is not None and hasattr(prior, "mean_pose")


# ----------------------------------------------------------------------------------------------
# dispatch
# ----------------------------------------------------------------------------------------------


def prior_energy(prior, body21: torch.Tensor, **kwargs) -> torch.Tensor:
    """E_θ(θ) -> (B,) for any pose prior: 0 without one; ``energy(body21, **kwargs)`` (GMM: ``approx``);
    for a prior with only ``distance``, the distance (Pose-NDF's f(θ))."""
    if prior is None:
        return body21.new_zeros(body21.shape[0])
    if hasattr(prior, "energy"):
        return prior.energy(body21, **kwargs) if kwargs else prior.energy(body21)
    if hasattr(prior, "distance"):
        return prior.distance(body21)
    raise TypeError(f"{type(prior).__name__} follows no prior protocol: expected energy(), distance() "
                    "or latent_dim + decode_body21() (see posekit.priors.base)")


def encode_latent(prior, body21: torch.Tensor) -> torch.Tensor:
    """Latent codes (B, latent_dim) of poses by the encoder mean (VPoser's μ(θ)), without gradients."""
    if not has_encoder(prior):
        raise TypeError(f"{type(prior).__name__} is not a latent prior with an encoder "
                        "(expected latent_dim, decode_body21() and encode())")
    B = body21.shape[0]
    with torch.no_grad():
        mu = prior.encode(body21)
        mu = mu[0] if isinstance(mu, (tuple, list)) else mu
    return mu.detach().clone().reshape(B, int(prior.latent_dim)).to(body21)


def decode_latent(prior, z: torch.Tensor) -> torch.Tensor:
    """Axis-angle poses (B, 21, 3) of latent codes z (B, latent_dim) (differentiable in z)."""
    if not is_latent_prior(prior):
        raise TypeError(f"{type(prior).__name__} is not a latent prior (expected latent_dim and decode_body21())")
    return prior.decode_body21(z).reshape(z.shape[0], 21, 3)


def zero_latent(prior, n: int, device=None) -> torch.Tensor:
    """The latent codes z = 0 (n, latent_dim) of a latent prior: the prior's most likely code (SMPLify-X's start)."""
    if not is_latent_prior(prior):
        raise TypeError(f"{type(prior).__name__} is not a latent prior (expected latent_dim and decode_body21())")
    return torch.zeros(n, int(prior.latent_dim), device=device)


def prior_mean_pose(prior) -> torch.Tensor | None:
    """The prior's mean body pose (21, 3) when it has one (GMM: Σ_j g_j μ_j), else None."""
    return prior.mean_pose() if has_mean_pose(prior) else None


def sample_prior(prior, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` poses drawn from a prior -> (n, 21, 3) float (``sample(n, seed=seed)`` when it takes a seed)."""
    if prior is None or not hasattr(prior, "sample"):
        raise TypeError(f"{type(prior).__name__} cannot draw poses (expected sample(n))")
    kw = {"seed": int(seed)} if "seed" in inspect.signature(prior.sample).parameters else {}
    out = prior.sample(n, **kw)
    return out[0] if isinstance(out, (tuple, list)) else out
