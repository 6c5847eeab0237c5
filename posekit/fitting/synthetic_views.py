"""Benchmark data: real body poses on the body model with random shapes, seen by random cameras.

Each view: body-21 pose from held-out mocap (global orientation replaced), betas ~ N(0, I) clipped
to ±``beta_clip`` (plausible shapes), a random yaw about the vertical (any side of the body can
face the camera) and pitch (±``pitch_deg``), a perspective camera with a random focal length whose
distance makes the body span a random fraction of the image height; 2D LSP-14 keypoints with
Gaussian pixel noise and random dropouts (confidence 0, coordinates zeroed).
"""
from __future__ import annotations

import math

import roma
import torch

from ..skeleton import as_body21, body21_to_body_pose
from .camera import FACING_CAMERA, perspective_projection
from .forward import full_forward
from .keypoints import KeypointMap

__all__ = ["make_views"]


def make_views(body_model, body_poses, seed: int = 0, image_size=(1000, 1000), focal_range=(1000.0, 1500.0),
               height_frac=(0.45, 0.75), noise_px: float = 2.0, dropout: float = 0.1, beta_clip: float = 2.0,
               yaw_range: float = math.pi, pitch_deg: float = 15.0, num_betas: int = 10) -> dict:
    """body_poses: any ``as_body21`` layout (N, ...). -> dict of tensors (ground truth + observations).

    Keys: betas (N,NB), global_orient (N,3), body_pose (N,69), transl (N,3), vertices (N,V,3),
    joints (N,24,3), keypoints_3d (N,14,3), keypoints_clean (N,14,2), keypoints_2d (N,14,2),
    confidence (N,14), focal_length (N,), image_size (N,2).
    """
    g = torch.Generator().manual_seed(seed)
    device = body_model.v_template.device
    b21 = as_body21(torch.as_tensor(body_poses, dtype=torch.float32).cpu())
    N = b21.shape[0]
    U = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(*shape, generator=g)
    betas = (torch.randn(N, num_betas, generator=g)).clamp(-beta_clip, beta_clip)
    yaw = U(-yaw_range, yaw_range, N)
    pitch = U(-pitch_deg, pitch_deg, N) * math.pi / 180
    R_face = roma.rotvec_to_rotmat(torch.tensor(FACING_CAMERA)).expand(N, 3, 3)
    R_yaw = roma.rotvec_to_rotmat(torch.stack([torch.zeros(N), yaw, torch.zeros(N)], 1))    # about camera y
    R_pitch = roma.rotvec_to_rotmat(torch.stack([pitch, torch.zeros(N), torch.zeros(N)], 1))
    orient = roma.rotmat_to_rotvec(R_pitch @ R_yaw @ R_face)
    focal = U(*focal_range, N)
    W, H = image_size
    body_pose = body21_to_body_pose(b21)
    to = lambda x: x.to(device)
    with torch.no_grad():
        v, j = full_forward(body_model, to(betas), to(orient), to(body_pose), torch.zeros(N, 3, device=device))
        v, j = v.cpu(), j.cpu()
    # distance so that the body's vertical extent spans height_frac of the image
    extent = (v[..., 1].amax(1) - v[..., 1].amin(1)).clamp_min(0.5)          # (N,) metres (camera y)
    frac = U(*height_frac, N)
    depth = focal * extent / (frac * H)
    mid = 0.5 * (v.amax(1) + v.amin(1))                                        # (N,3) box centre
    # place the box centre on a random ray near the image centre
    off = torch.stack([U(-0.1, 0.1, N) * W, U(-0.1, 0.1, N) * H], 1)           # px
    target = torch.cat([off * depth[:, None] / focal[:, None], depth[:, None]], 1)
    transl = target - mid
    v, j = v + transl[:, None], j + transl[:, None]
    kmap = KeypointMap(body_model)
    k3 = kmap.from_mesh(j.to(device), v.to(device)).cpu()
    size = torch.tensor([float(W), float(H)]).expand(N, 2).clone()
    clean = perspective_projection(k3, focal, 0.5 * size)
    noisy = clean + noise_px * torch.randn(clean.shape, generator=g)
    conf = (torch.rand(N, kmap.n, generator=g) >= dropout).float()
    conf[conf.sum(-1) < 4] = 1.0                                               # keep at least a few points
    noisy = noisy * conf[..., None]
    return {"betas": betas, "global_orient": orient, "body_pose": body_pose, "transl": transl,
            "vertices": v, "joints": j, "keypoints_3d": k3, "keypoints_clean": clean, "keypoints_2d": noisy,
            "confidence": conf, "focal_length": focal, "image_size": size}
