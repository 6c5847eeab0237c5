"""The state's canonical frame: the heading (rotation about the up axis, y-up) removed.

HuMoR (Rempe et al. 2021, https://arxiv.org/abs/2105.04668, Sec. 3) expresses each transition
x_{t-1} -> x_t in the frame of x_{t-1} with its heading removed, so the model does not learn the
same step once for every direction a person may face.
"""
from __future__ import annotations

import torch

UP = torch.tensor([0.0, 1.0, 0.0])


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> 6D (..., 6): the first two columns (Zhou et al. 2019)."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def rot6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """6D (..., 6) -> rotation matrices (..., 3, 3) by Gram-Schmidt."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def heading_rotation(root_R: torch.Tensor) -> torch.Tensor:
    """Rotation about +y (..., 3, 3) that takes +z to the root's forward direction projected on the ground."""
    fwd = root_R[..., :, 2]                                   # (..., 3) body forward (+z in SMPL)
    angle = torch.atan2(fwd[..., 0], fwd[..., 2])             # (...)
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([torch.stack([c, zero, s], -1),
                        torch.stack([zero, one, zero], -1),
                        torch.stack([-s, zero, c], -1)], dim=-2)


def canonicalize(root_R: torch.Tensor, transl: torch.Tensor, joints: torch.Tensor):
    """Express a pose in the frame of its own heading, origin below the root on the ground plane.

    root_R (B, 3, 3), transl (B, 3), joints (B, J, 3) -> (root_R_c, transl_c, joints_c, H, origin)
    with H (B, 3, 3) the heading and origin (B, 3); ``uncanonicalize`` inverts it.
    """
    if root_R.shape[-2:] != (3, 3) or transl.shape[-1] != 3 or joints.shape[-1] != 3:
        raise ValueError(f"expected root_R (B,3,3), transl (B,3), joints (B,J,3); got "
                         f"{tuple(root_R.shape)}, {tuple(transl.shape)}, {tuple(joints.shape)}")
    H = heading_rotation(root_R)                              # (B, 3, 3)
    origin = transl * torch.tensor([1.0, 0.0, 1.0], dtype=transl.dtype)  # (B, 3)
    Ht = H.transpose(-1, -2)
    root_c = Ht @ root_R
    transl_c = (Ht @ (transl - origin)[..., None])[..., 0]
    joints_c = (joints - origin[:, None]) @ H                 # row vectors: (H^T v)^T = v^T H
    return root_c, transl_c, joints_c, H, origin


def uncanonicalize(root_c, transl_c, joints_c, H, origin):
    """Inverse of ``canonicalize``."""
    root_R = H @ root_c
    transl = (H @ transl_c[..., None])[..., 0] + origin
    joints = joints_c @ H.transpose(-1, -2) + origin[:, None]
    return root_R, transl, joints
