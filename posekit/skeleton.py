"""SMPL's 24-joint skeleton: names, kinematic tree, and the 21 body joints the priors model."""
from __future__ import annotations

import torch

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
# parent of each joint (-1 for the root), SMPL's kintree_table[0]
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

NUM_JOINTS = 24
#: joints whose lowest point over a motion defines its floor: the ankles and feet (toes)
FOOT_JOINTS = (7, 8, 10, 11)
#: Bones between LSP-14 keypoints (the 2D layout SMPLify fits, ``posekit.fitting.keypoints``: 0 right
#: ankle, 1 right knee, 2 right hip, 3 left hip, 4 left knee, 5 left ankle, 6 right wrist, 7 right elbow,
#: 8 right shoulder, 9 left shoulder, 10 left elbow, 11 left wrist, 12 neck, 13 head top).
LIMB_PAIRS = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (9, 10), (10, 11),
              (8, 12), (9, 12), (12, 13), (2, 8), (3, 9))
#: The priors model the 21 body joints 1..21 (as VPoser and Pose-NDF do); the two hand joints
#: 22, 23 (SMPL's crude hands) are left at identity by the fitters and ignored by the priors.
NUM_BODY_JOINTS = 21
BODY_JOINTS = tuple(range(1, 22))


def as_body21(pose: torch.Tensor) -> torch.Tensor:
    """Body pose in any SMPL layout -> (B, 21, 3) axis-angle of joints 1..21.

    Accepts (B, 63) / (B, 21, 3) (already body-21), (B, 69) / (B, 23, 3) (SMPL ``body_pose``:
    joints 1..23) or (B, 72) / (B, 24, 3) (full pose with the global orientation first).
    """
    if pose.dim() == 2 and pose.shape[-1] % 3 == 0:
        pose = pose.reshape(pose.shape[0], -1, 3)
    if pose.dim() != 3 or pose.shape[-1] != 3 or pose.shape[1] not in (21, 23, 24):
        raise ValueError(
            "expected a body pose of shape (B, 63), (B, 69), (B, 72) or (B, 21|23|24, 3) axis-angle, "
            f"got {tuple(pose.shape)}")
    if pose.shape[1] == 21:
        return pose
    if pose.shape[1] == 23:
        return pose[:, :21]
    return pose[:, 1:22]


def body21_to_body_pose(body21: torch.Tensor) -> torch.Tensor:
    """(B, 21, 3) or (B, 63) -> SMPL ``body_pose`` (B, 69) with the two hand joints at identity."""
    b = body21.reshape(body21.shape[0], 21, 3)
    return torch.cat([b, b.new_zeros(b.shape[0], 2, 3)], dim=1).reshape(b.shape[0], 69)
