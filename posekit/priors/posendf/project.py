"""Projection onto the learned manifold {θ : f(θ) = 0}, per joint on the unit-quaternion sphere S³.

Euclidean (Pose-NDF):  θ ← normalise(θ − α f(θ) ∇_θ f(θ)).
Riemannian (NRDF):                g = (I − q qᵀ) ∇_q f per joint (tangent projection),
                                  q ← Exp_q(−α f(θ) g) = cos‖v‖ q + sin‖v‖ v/‖v‖, v = −α f g,
which is the quaternion exponential map q ⊗ exp(q̄ ⊗ v) (see the tests).

For an exact distance field of Pose-NDF's distance with unit weights, ‖∇f‖ = 1/√2 on S³ (d = sqrt(Σφ_i²/2) where
φ_i is the arc on S³), so a step of α = 2 would land on the manifold in one go. A learned field is only
approximately eikonal (steeper in places), and α = 2 can overshoot; the default is the released code's α = 1.
"""
from __future__ import annotations

from typing import Callable

import torch

from posekit.rotations import hemisphere

__all__ = ["value_and_grad", "tangent_project", "sphere_exp", "euclidean_step", "riemannian_step",
           "project_quats", "DEFAULT_ALPHA"]

DEFAULT_ALPHA = 1.0


def value_and_grad(fn: Callable[[torch.Tensor], torch.Tensor], q: torch.Tensor):
    """f(q) (B,) and ∇_q f (B, K, 4) by autograd, detached."""
    with torch.enable_grad():
        x = q.detach().requires_grad_(True)
        f = fn(x)
        (g,) = torch.autograd.grad(f.sum(), x)
    return f.detach(), g.detach()


def tangent_project(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(I − q qᵀ) g per joint: the component of g (…, 4) tangent to the sphere at the unit quaternion q."""
    return g - (g * q).sum(-1, keepdim=True) * q


def sphere_exp(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Exponential map of S³ at q for a tangent vector v (…, 4): cos‖v‖ q + sin‖v‖ v/‖v‖."""
    n = v.norm(dim=-1, keepdim=True)                                          # (…, 1)
    sinc = torch.where(n > 1e-12, torch.sin(n) / n.clamp_min(1e-12), 1.0 - n**2 / 6)
    out = torch.cos(n) * q + sinc * v
    return out / out.norm(dim=-1, keepdim=True)                               # remove rounding drift


def euclidean_step(q: torch.Tensor, f: torch.Tensor, g: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """θ − α f ∇f, then renormalise each joint's quaternion (hemisphere w >= 0). q, g: (B, K, 4); f: (B,)."""
    x = q - alpha * f[:, None, None] * g
    return hemisphere(x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def riemannian_step(q: torch.Tensor, f: torch.Tensor, g: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """Tangent-projected gradient step, retracted with the exponential map (hemisphere w >= 0)."""
    v = -alpha * f[:, None, None] * tangent_project(q, g)                     # (B, K, 4), v ⊥ q per joint
    return hemisphere(sphere_exp(q, v))


def project_quats(fn: Callable[[torch.Tensor], torch.Tensor], q: torch.Tensor, method: str = "riemannian",
                  steps: int = 10, tol: float = 1e-3, alpha: float = DEFAULT_ALPHA, history: bool = False):
    """Project unit quaternion poses (B, K, 4) towards f = 0.

    A pose stops moving once f < tol; the loop ends when all have (or after ``steps``).
    Returns the projected quaternions (B, K, 4) and, when ``history``, a dict with "distance" (T+1, B) and
    "quats" (T+1, B, K, 4) along the way.
    """
    if method not in ("riemannian", "euclidean"):
        raise ValueError(f"unknown projection method {method!r}; expected 'riemannian' or 'euclidean'")
    if q.dim() != 3 or q.shape[-1] != 4:
        raise ValueError(f"expected quaternions (B, K, 4), got {tuple(q.shape)}")
    step = riemannian_step if method == "riemannian" else euclidean_step
    q = hemisphere(q.detach() / q.detach().norm(dim=-1, keepdim=True))
    dists, traj = [], []
    for _ in range(int(steps)):
        f, g = value_and_grad(fn, q)
        if history:
            dists.append(f)
            traj.append(q)
        active = f >= tol                                                     # (B,)
        if not active.any() and not history:   # with history: keep T+1 entries (converged poses stay put)
            break
        q = torch.where(active[:, None, None], step(q, f, g, alpha), q)
    if history:
        with torch.no_grad():
            dists.append(fn(q).detach())
        traj.append(q)
        return q, {"distance": torch.stack(dists), "quats": torch.stack(traj)}
    return q
