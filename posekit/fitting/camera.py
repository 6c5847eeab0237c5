"""Perspective camera Π_K and SMPLify's camera / orientation initialisation.

Camera frame (OpenCV): x right, y down, z forward (into the scene); the camera sits at the origin.
The body model's own frame is y-up, facing +z, so a body facing the camera upright has
global_orient = a 180° rotation about x (y -> -y, z -> -z). Intrinsics: known focal length f (px),
principal point at the image centre (W/2, H/2), no skew, square pixels.
"""
from __future__ import annotations

import math

import torch

__all__ = ["perspective_projection", "principal_point", "estimate_depth", "FACING_CAMERA", "flip_orient"]

#: axis-angle of the orientation that makes a y-up, +z-facing body face an OpenCV camera upright
FACING_CAMERA = (math.pi, 0.0, 0.0)


def principal_point(image_size: torch.Tensor) -> torch.Tensor:
    """image_size (B,2) as (width, height) in px -> principal point (B,2) at the image centre."""
    return 0.5 * image_size


def perspective_projection(points: torch.Tensor, focal_length: torch.Tensor, center: torch.Tensor,
                           min_depth: float = 1e-3) -> torch.Tensor:
    """Π_K: points (B,N,3) in the camera frame, focal_length (B,), center (B,2) -> pixels (B,N,2).

    u = f x / z + c_x,  v = f y / z + c_y   (z clamped to ``min_depth`` to stay finite behind the camera).
    """
    z = points[..., 2:3].clamp_min(min_depth)                               # (B,N,1)
    return focal_length[:, None, None] * points[..., :2] / z + center[:, None, :]   # (B,N,2)


def estimate_depth(kp3d_torso: torch.Tensor, kp2d_torso: torch.Tensor, conf_torso: torch.Tensor,
                   focal_length: torch.Tensor) -> torch.Tensor:
    """SMPLify's similar-triangles depth guess: z ≈ f · L3d / L2d.

    kp3d_torso (B,4,3) / kp2d_torso (B,4,2) / conf_torso (B,4): right hip, left hip, right shoulder,
    left shoulder (LSP order 2, 3, 8, 9). L is the mean of the two hip-to-shoulder diagonals'
    lengths (the shoulder-hip distances on each side), averaged over the visible pairs; when no pair
    is visible we fall back to 3 m times f / 1000. -> (B,)
    """
    pairs = ((0, 2), (1, 3))                                                # (r_hip, r_sho), (l_hip, l_sho)
    num = torch.zeros_like(focal_length)
    den = torch.zeros_like(focal_length)
    for a, b in pairs:
        vis = (conf_torso[:, a] > 0) & (conf_torso[:, b] > 0)
        l3 = (kp3d_torso[:, a] - kp3d_torso[:, b]).norm(dim=-1)               # (B,)
        l2 = (kp2d_torso[:, a] - kp2d_torso[:, b]).norm(dim=-1)               # (B,)
        num = num + torch.where(vis, l3, torch.zeros_like(l3))
        den = den + torch.where(vis, l2, torch.zeros_like(l2))
    ok = den > 1e-6
    z = torch.where(ok, focal_length * num / den.clamp_min(1e-6), 3.0 * focal_length / 1000.0)
    return z


def flip_orient(global_orient: torch.Tensor) -> torch.Tensor:
    """The 180° flip: rotate the body by π about the camera's vertical (y) axis. (B,3) -> (B,3)."""
    import roma

    R = roma.rotvec_to_rotmat(global_orient)                                # (B,3,3)
    Ry = roma.rotvec_to_rotmat(torch.tensor([0.0, math.pi, 0.0], dtype=R.dtype, device=R.device))
    return roma.rotmat_to_rotvec(Ry @ R)
