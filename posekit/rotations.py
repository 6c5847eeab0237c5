"""Rotation helpers shared by the chapters (thin wrappers over ``roma``).

Conventions: axis-angle (..., 3); rotation matrices (..., 3, 3); quaternions follow roma's
**(x, y, z, w)** order, unit norm. ``q`` and ``-q`` are the same rotation (the sign flip); the
``hemisphere`` helper picks the representative with ``w >= 0``.
"""
from __future__ import annotations

import roma
import torch

__all__ = [
    "aa_to_quat", "quat_to_aa", "aa_to_matrix", "matrix_to_aa", "hemisphere",
    "geodesic_angle", "pose_ndf_distance", "nearest_pose_ndf",
]


def aa_to_quat(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> unit quaternion (..., 4) in (x, y, z, w) order with w >= 0."""
    return hemisphere(roma.rotvec_to_unitquat(aa))


def quat_to_aa(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (..., 4), (x, y, z, w) -> axis-angle (..., 3); normalises first."""
    return roma.unitquat_to_rotvec(q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def aa_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3)."""
    return roma.rotvec_to_rotmat(aa)


def matrix_to_aa(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3)."""
    return roma.rotmat_to_rotvec(R)


def hemisphere(q: torch.Tensor) -> torch.Tensor:
    """Flip quaternions (..., 4) in (x, y, z, w) order so that w >= 0 (same rotations)."""
    sign = torch.where(q[..., 3:4] < 0, -1.0, 1.0).to(q.dtype)
    return q * sign


def geodesic_angle(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle in radians (...) of the relative rotation R1^T R2 for matrices (..., 3, 3)."""
    return roma.rotmat_geodesic_distance(R1, R2)


def pose_ndf_distance(q1: torch.Tensor, q2: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Pose-NDF's pose distance d(θ, θ̂) = sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|).

    q1, q2: (..., K, 4) unit quaternions (any sign; |·| removes the sign flip).
    weights: (K,) per-joint weights w_i (default 1). Returns (...).
    Note arccos|q·q̂| is half the geodesic angle between the two joint rotations.
    """
    dot = (q1 * q2).sum(-1).abs().clamp(max=1.0)             # (..., K)
    ang = torch.arccos(dot)                                   # (..., K), in [0, π/2]
    if weights is None:
        weights = torch.ones(ang.shape[-1], dtype=ang.dtype, device=ang.device)
    return torch.sqrt((weights * 0.5 * ang**2).sum(-1))


def nearest_pose_ndf(q: torch.Tensor, ref: torch.Tensor, weights: torch.Tensor | None = None,
                     chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exhaustive nearest neighbour under :func:`pose_ndf_distance`.

    q: (Q, K, 4) query poses, ref: (R, K, 4) reference poses (unit quaternions, any sign).
    Returns (distances (Q,), indices into ``ref`` (Q,)). Queries are processed ``chunk`` at a time
    (default: as many as keep a (chunk, R, K) block near 2e7 elements).
    """
    if q.dim() != 3 or ref.dim() != 3 or q.shape[1:] != ref.shape[1:] or q.shape[-1] != 4:
        raise ValueError(f"expected quaternions (Q, K, 4) and (R, K, 4), got {tuple(q.shape)} and {tuple(ref.shape)}")
    if ref.shape[0] == 0:
        raise ValueError("the reference set is empty")
    ref = ref.to(device=q.device, dtype=q.dtype)
    chunk = chunk or max(1, int(2e7 // (ref.shape[0] * ref.shape[1])))
    ds, ids = [], []
    for s in range(0, q.shape[0], chunk):
        d = pose_ndf_distance(q[s:s + chunk, None], ref[None], weights)     # (c, R)
        v, i = d.min(dim=1)
        ds.append(v)
        ids.append(i)
    if not ds:
        return q.new_zeros(0), torch.zeros(0, dtype=torch.long, device=q.device)
    return torch.cat(ds), torch.cat(ids)
