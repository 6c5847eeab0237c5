"""Pose-NDF's training loss: L = mean|f(θ) − d_θ| + λ_eik · mean_{d≠0} (‖∇_θ f(θ)‖ − c)².

The eikonal term uses the Riemannian gradient (the part of ∇_q f tangent to each joint's sphere S³): the
radial part only says how f extends off the sphere, which no pose ever visits. Its target c: for Pose-NDF's
distance with unit weights the true field has ‖∇d‖ = 1/√2 on (S³)^K (d = sqrt(Σφ_i²/2), φ_i the arc on S³), so
c = 1/√2 (``eikonal_target``); c = 1 is the formula as printed, which fights the distance targets by a factor √2.

Released settings, for reference: Pose-NDF (configs/amass.yaml) L1 distance loss, eikonal weight 1.0 on the
*per-joint* Euclidean gradient norm with target 1, manifold-pose loss weight 1.0, Adam lr 1e-5; NRDF
(configs/train.yaml) L1, eikonal 0.0, manifold loss 0.1, lr 1e-4.

A field with ``chains`` (``PoseNDF`` config) is trained on per-chain targets d (B, C): the L1 term is
Σ_c |f_c(θ_c) − d_c| and the eikonal term asks each chain's Riemannian gradient for the norm c.

The training loop (resumable, early stopping on validation poses) is ``posekit.train.posendf.fit``.
"""
from __future__ import annotations

import math

import torch

from .project import tangent_project

__all__ = ["EIKONAL_TARGET", "udf_loss", "eikonal_loss", "chain_eikonal_loss", "loss_terms", "predict"]

EIKONAL_TARGET = 1.0 / math.sqrt(2.0)


def udf_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|f(θ) − d_θ| per sample (B,)."""
    return (pred - target).abs()


def eikonal_loss(grad: torch.Tensor, q: torch.Tensor, mask: torch.Tensor, target: float = EIKONAL_TARGET) -> torch.Tensor:
    """mean over samples with d ≠ 0 of (‖P_q ∇_q f‖ − target)², P_q = I − q qᵀ per joint. grad, q: (B, K, 4)."""
    gt = tangent_project(q, grad)                                            # (B, K, 4)
    norm = gt.flatten(1).norm(dim=1)                                         # (B,)
    if not mask.any():
        return norm.sum() * 0.0
    return ((norm - target) ** 2)[mask].mean()


def predict(model, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """f(θ) (B,) for targets d (B,); per-chain f_c(θ_c) (B, C) for per-chain targets d (B, C)."""
    return model.chain_distances(q) if d.dim() == 2 else model(q)


def chain_eikonal_loss(grad: torch.Tensor, q: torch.Tensor, d: torch.Tensor, chains,
                       target: float = EIKONAL_TARGET) -> torch.Tensor:
    """Per-chain eikonal term: mean over (sample, chain) with d_c ≠ 0 of (‖P_q ∇_{q_c} f‖ − target)².

    grad, q: (B, K, 4); d: (B, C). The chains' joints are disjoint, so ∇_{q_c} Σ_c f_c = ∇_{q_c} f_c.
    """
    gt = tangent_project(q, grad)                                                    # (B, K, 4)
    norm = torch.stack([gt[:, c].flatten(1).norm(dim=1) for c in chains], dim=-1)   # (B, C)
    mask = d > 0
    if not mask.any():
        return norm.sum() * 0.0
    return ((norm - target) ** 2)[mask].mean()


def loss_terms(model, q: torch.Tensor, d: torch.Tensor, eikonal_weight: float = 0.5,
               eikonal_target: float = EIKONAL_TARGET):
    """Total loss and its parts for a batch of quaternions (B, K, 4) with target distances (B,) or, for a field
    with chains, per-chain targets (B, C)."""
    need_grad = eikonal_weight > 0
    x = q.detach().requires_grad_(need_grad)
    f = predict(model, x, d)                                                # (B,) or (B, C)
    l_udf = udf_loss(f, d).reshape(f.shape[0], -1).sum(-1).mean()
    if not need_grad:
        return l_udf, {"udf": l_udf.detach(), "eik": torch.zeros(())}
    (g,) = torch.autograd.grad(f.sum(), x, create_graph=True)               # ∇_θ f, kept in the graph
    if d.dim() == 2:
        l_eik = chain_eikonal_loss(g, x.detach(), d, model.chains, eikonal_target)
    else:
        l_eik = eikonal_loss(g, x.detach(), d > 0, eikonal_target)
    return l_udf + eikonal_weight * l_eik, {"udf": l_udf.detach(), "eik": l_eik.detach()}
