"""A tiny random-but-valid SMPL-layout model, for tests and examples that must not depend on any file.

Vertices are small clouds around a rough SMPL T-pose skeleton (y-up, metres, left = +x), so the
kinematics make sense (bending a knee moves the ankle), but it is not a body surface.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from posekit.skeleton import SMPL_PARENTS
from posekit.utils import atomic_save_npz

__all__ = ["TPOSE_JOINTS", "tiny_smpl_arrays", "save_tiny_smpl"]

#: A rough SMPL T-pose skeleton (metres, y-up, facing +z, left = +x), pelvis at the origin.
TPOSE_JOINTS = np.array([
    [0.00, 0.00, 0.00], [0.06, -0.09, 0.00], [-0.06, -0.09, 0.00], [0.00, 0.11, 0.00],
    [0.10, -0.47, 0.00], [-0.10, -0.47, 0.00], [0.00, 0.25, 0.00], [0.08, -0.87, -0.04],
    [-0.08, -0.87, -0.04], [0.00, 0.31, 0.00], [0.12, -0.92, 0.08], [-0.12, -0.92, 0.08],
    [0.00, 0.52, 0.00], [0.08, 0.43, 0.00], [-0.08, 0.43, 0.00], [0.00, 0.60, 0.05],
    [0.18, 0.45, 0.00], [-0.18, 0.45, 0.00], [0.44, 0.45, 0.00], [-0.44, 0.45, 0.00],
    [0.70, 0.45, 0.00], [-0.70, 0.45, 0.00], [0.78, 0.45, 0.00], [-0.78, 0.45, 0.00],
], dtype=np.float64)


def tiny_smpl_arrays(num_betas: int = 10, verts_per_joint: int = 6, seed: int = 0,
                     posedirs_scale: float = 0.0, spread: float = 0.03) -> dict[str, np.ndarray]:
    """SMPL's seven arrays for a 24-joint model with ``24 * verts_per_joint`` vertices.

    ``J_regressor`` averages each joint's own vertex cloud, ``weights`` are soft (mostly the own
    joint, some parent), ``shapedirs``/``posedirs`` are random (posedirs zero unless
    ``posedirs_scale`` > 0), faces are triangles within each cloud.
    """
    rng = np.random.default_rng(seed)
    J, k = 24, verts_per_joint
    owner = np.repeat(np.arange(J), k)                                   # (V,)
    V = owner.size
    v_template = TPOSE_JOINTS[owner] + spread * rng.standard_normal((V, 3))
    J_regressor = np.zeros((J, V))
    J_regressor[owner, np.arange(V)] = 1.0 / k
    # the cloud mean is the joint: shift each cloud so J_regressor @ v_template == TPOSE_JOINTS
    v_template += TPOSE_JOINTS[owner] - (J_regressor @ v_template)[owner]
    weights = np.zeros((V, J))
    weights[np.arange(V), owner] = 0.8
    parent = np.array([max(p, 0) for p in SMPL_PARENTS])
    weights[np.arange(V), parent[owner]] += 0.2
    shapedirs = 0.01 * rng.standard_normal((V, 3, num_betas))
    posedirs = posedirs_scale * rng.standard_normal((V, 3, 9 * (J - 1)))
    faces = np.concatenate([np.stack([j * k + np.arange(k), j * k + (np.arange(k) + 1) % k,
                                      j * k + (np.arange(k) + 2) % k], axis=1) for j in range(J)])
    kintree = np.stack([np.array(SMPL_PARENTS, dtype=np.int64), np.arange(J)])
    kintree[0, 0] = 4294967295
    return {
        "v_template": v_template.astype(np.float64), "shapedirs": shapedirs, "posedirs": posedirs,
        "J_regressor": J_regressor, "weights": weights, "kintree_table": kintree,
        "f": faces.astype(np.uint32),
    }


def save_tiny_smpl(path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`tiny_smpl_arrays` to ``path`` (.npz, atomically)."""
    return atomic_save_npz(path, **tiny_smpl_arrays(**kwargs))
