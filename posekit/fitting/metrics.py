"""Fit errors: per-vertex and per-joint errors, root-aligned and after Procrustes alignment."""
from __future__ import annotations

import torch

__all__ = ["procrustes_align", "root_align", "mean_point_error", "fit_errors"]


def procrustes_align(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The similarity transform (scale s, rotation R, translation t) minimising ‖s R X + t − Y‖²,
    applied to X. X, Y (B,N,3) -> aligned X (B,N,3). Umeyama's closed form (SVD, no reflections)."""
    mx, my = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    x, y = X - mx, Y - my                                                     # (B,N,3)
    cov = x.transpose(1, 2) @ y                                               # (B,3,3) Σ x yᵀ
    U, S, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))         # (B,) reflection fix
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(1, 2) @ D @ U.transpose(1, 2)                            # (B,3,3): y ≈ s R x
    s = (S * torch.diagonal(D, dim1=1, dim2=2)).sum(-1) / (x ** 2).sum((1, 2)).clamp_min(1e-12)   # (B,)
    return s[:, None, None] * x @ R.transpose(1, 2) + my


def root_align(X: torch.Tensor, Y: torch.Tensor, x_root: torch.Tensor, y_root: torch.Tensor):
    """Translate X so that its root point x_root (B,3) lands on y_root (B,3). -> X (B,N,3)."""
    return X - x_root[:, None] + y_root[:, None]


def mean_point_error(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between corresponding points: (B,N,3) × 2 -> (B,)."""
    return (X - Y).norm(dim=-1).mean(-1)


def fit_errors(pred_vertices, pred_joints, gt_vertices, gt_joints) -> dict:
    """Per-image errors in millimetres (inputs in metres): vertices (B,V,3), joints (B,24,3).

    v2v_mm / mpjpe_mm: after aligning the pelvis (joint 0), the depth/scale-ambiguous translation
    removed; v2v_pa_mm / mpjpe_pa_mm: after Procrustes (similarity) alignment of each point set.
    """
    pv = root_align(pred_vertices, gt_vertices, pred_joints[:, 0], gt_joints[:, 0])
    pj = root_align(pred_joints, gt_joints, pred_joints[:, 0], gt_joints[:, 0])
    return {
        "v2v_mm": 1000 * mean_point_error(pv, gt_vertices),
        "v2v_pa_mm": 1000 * mean_point_error(procrustes_align(pred_vertices, gt_vertices), gt_vertices),
        "mpjpe_mm": 1000 * mean_point_error(pj, gt_joints),
        "mpjpe_pa_mm": 1000 * mean_point_error(procrustes_align(pred_joints, gt_joints), gt_joints),
    }
