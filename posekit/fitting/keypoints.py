"""The 2D keypoint layout: LSP's 14 joints, as in SMPLify (Bogo et al. 2016).

Documented choice: we fit to the **LSP-14** layout SMPLify used (DeepCut predicted LSP joints):

    0 right ankle, 1 right knee, 2 right hip, 3 left hip, 4 left knee, 5 left ankle,
    6 right wrist, 7 right elbow, 8 right shoulder, 9 left shoulder, 10 left elbow,
    11 left wrist, 12 neck, 13 head top

Thirteen points are SMPL joints; the head top has no joint, so it is a mesh vertex chosen on the
loaded model by geometry at runtime (the highest rest-pose vertex among those skinned mostly to
the head joint), never a hard-coded index tied to one mesh resolution. (LSP's hips sit a little
lower and wider than SMPL's hip joints: on real detections this is a known bias; on our synthetic
benchmark the same map generates and fits the keypoints, so it cancels.)
"""
from __future__ import annotations

import torch

from ..skeleton import LIMB_PAIRS  # keypoint pairs drawn as the 2D skeleton

__all__ = ["LSP14_NAMES", "LSP14_SMPL_JOINTS", "TORSO", "LIMB_PAIRS", "KeypointMap", "head_top_vertex"]

LSP14_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
               "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
               "left_wrist", "neck", "head_top")
#: SMPL joint index for each LSP keypoint (-1: taken from a mesh vertex)
LSP14_SMPL_JOINTS = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, -1)
#: LSP indices of the torso keypoints used to initialise the camera (hips, shoulders)
TORSO = (2, 3, 8, 9)
HEAD_JOINT = 15


def head_top_vertex(body_model) -> int:
    """Index of the highest (max y, the model is y-up) rest vertex skinned mostly to the head joint."""
    w = body_model.lbs_weights                                        # (V,24)
    head = torch.nonzero(w.argmax(dim=1) == HEAD_JOINT).flatten()
    if head.numel() == 0:
        raise ValueError("the body model has no vertex skinned mostly to the head joint (15)")
    y = body_model.v_template[head, 1]
    return int(head[y.argmax()])


class KeypointMap:
    """SMPL joints + mesh vertices -> the 14 LSP keypoints (3D), for a given body model."""

    names = LSP14_NAMES
    n = len(LSP14_NAMES)

    def __init__(self, body_model):
        self.joint_ids = torch.tensor([j for j in LSP14_SMPL_JOINTS if j >= 0], dtype=torch.long)
        self.vertex_ids = (head_top_vertex(body_model),)
        self._from_joint = [i for i, j in enumerate(LSP14_SMPL_JOINTS) if j >= 0]
        self._from_vertex = [i for i, j in enumerate(LSP14_SMPL_JOINTS) if j < 0]

    def __call__(self, joints: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        """joints (B,24+,3), selected vertices (B,len(vertex_ids),3) -> keypoints (B,14,3)."""
        B = joints.shape[0]
        out = joints.new_empty(B, self.n, 3)
        out[:, self._from_joint] = joints[:, self.joint_ids]
        out[:, self._from_vertex] = vertices
        return out

    def from_mesh(self, joints: torch.Tensor, all_vertices: torch.Tensor) -> torch.Tensor:
        """Same as calling with the full mesh (B,V,3) instead of the selected vertices."""
        return self(joints, all_vertices[:, list(self.vertex_ids)])
