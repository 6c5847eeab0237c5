"""Whole-body keypoints of an SMPL-X-layout model (body, hands, face) and synthetic views of them.

Layout (``WHOLEBODY_NAMES``), the one SMPLify-X fits (Pavlakos et al. 2019,
https://arxiv.org/abs/1904.05866, with OpenPose's detections):

- body, 25 points in OpenPose BODY_25 order: nose, neck, right shoulder/elbow/wrist, left
  shoulder/elbow/wrist, mid hip, right hip/knee/ankle, left hip/knee/ankle, right/left eye,
  right/left ear, left big toe/small toe/heel, right big toe/small toe/heel;
- each hand, 21 points (the order of OpenPose's and MediaPipe's hand models): wrist, then thumb,
  index, middle, ring, pinky, each base to tip (joints 1, 2, 3 and the fingertip);
- face, 51 points: the iBUG 68-point layout without the jaw line (points 17..67: brows, nose,
  eyes, lips), plus with ``contour=True`` the 17 jaw-line points.

Each point is one of smplx's output joints (``SMPLX_INDEX``): the 55 joints, smplx's 21 vertex
keypoints (nose, eyes, ears, toes, heels, fingertips) and the face landmarks, in smplx's order
(neck = joint 12, mid hip = the pelvis, as SMPLify-X's map).
"""
from __future__ import annotations

import math

import roma
import torch

from smplx.lbs import batch_rigid_transform, batch_rodrigues

from .camera import FACING_CAMERA, perspective_projection

__all__ = ["WHOLEBODY_NAMES", "SMPLX_INDEX", "GROUPS", "num_keypoints", "wholebody_keypoints", "make_wholebody_views",
           "WholeBodyForward"]

_BODY = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
         "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
         "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
         "right_small_toe", "right_heel")
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_HAND = ("wrist",) + tuple(f"{f}{i}" for f in _FINGERS for i in (1, 2, 3, 4))
#: the 51 + 17 face points, iBUG numbering
_FACE = tuple(f"face{i}" for i in range(17, 68)) + tuple(f"face{i}" for i in range(17))

# smplx's output joints: 55 joints, then its 21 vertex keypoints, then 51 landmarks (+ 17 contour)
_SMPLX_JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
                 "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
                 "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
                 "left_eye_smplhf", "right_eye_smplhf") + tuple(
    f"{s}_{f}{i}" for s in ("left", "right") for f in ("index", "middle", "pinky", "ring", "thumb") for i in (1, 2, 3))
_SMPLX_EXTRA = ("nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
                "left_heel", "right_big_toe", "right_small_toe", "right_heel") + tuple(
    f"{s}_{f}4" for s in ("left", "right") for f in _FINGERS)


def _smplx_position(name: str) -> int:
    """Row of smplx's output joints that holds the keypoint ``name`` (a ``WHOLEBODY_NAMES`` entry)."""
    if name.startswith("face"):
        i = int(name[4:])
        return 55 + 21 + (i - 17 if i >= 17 else 51 + i)
    if name == "mid_hip":
        return 0
    if name in _SMPLX_EXTRA:
        return 55 + _SMPLX_EXTRA.index(name)
    return _SMPLX_JOINTS.index(name)


#: the 118 (+ 17 contour) keypoint names: body, left hand, right hand, face
WHOLEBODY_NAMES = _BODY + tuple(f"left_{h}" for h in _HAND) + tuple(f"right_{h}" for h in _HAND) + _FACE
#: row of smplx's output joints for each keypoint of ``WHOLEBODY_NAMES``
SMPLX_INDEX = tuple(_smplx_position(n) for n in WHOLEBODY_NAMES)
#: keypoint index ranges of each part (the contour follows the face)
GROUPS = {"body": range(0, 25), "left_hand": range(25, 46), "right_hand": range(46, 67), "face": range(67, 118),
          "contour": range(118, 135)}


def num_keypoints(contour: bool = False) -> int:
    """118 keypoints, or 135 with the face contour."""
    return 135 if contour else 118


def wholebody_keypoints(joints: torch.Tensor, contour: bool = False) -> torch.Tensor:
    """smplx SMPL-X output joints (B, 127 or 144, 3) -> whole-body keypoints (B, 118 or 135, 3)."""
    K = num_keypoints(contour)
    need = 144 if contour else 127
    if joints.dim() != 3 or joints.shape[1] < need:
        raise ValueError(f"expected smplx SMPL-X joints (B, {need}, 3) (load the model with "
                         f"use_face_contour={contour}), got {tuple(joints.shape)}")
    idx = torch.as_tensor(SMPLX_INDEX[:K], dtype=torch.long, device=joints.device)
    return joints[:, idx]


def make_wholebody_views(body_model, body_pose: torch.Tensor, seed: int = 0, image_size=(1000, 1000),
                         focal_range=(1000.0, 1500.0), height_frac=(0.45, 0.75), noise_px: float = 2.0,
                         dropout: float = 0.1, beta_clip: float = 2.0, hand_scale: float = 0.5,
                         expression_clip: float = 2.0, jaw_max: float = 0.3, yaw_range: float = math.pi,
                         pitch_deg: float = 15.0) -> dict:
    """Synthetic whole-body views of an SMPL-X module (``smplx.SMPLX`` with hand PCA).

    body_pose (N, 63): the 21 body joints (axis-angle); per view: betas ~ N(0, I) and expression ~
    N(0, I), both clipped to their clip; each hand's PCA coefficients ~ N(0, hand_scale^2) around
    the model's mean hand (``use_pca`` module, its number of components); jaw opening ~
    U(0, jaw_max) rad about x; a random yaw (+-yaw_range) and pitch (+-pitch_deg) facing the
    camera; a perspective camera (focal ~ U(focal_range)) at the distance where the body spans a
    fraction ~ U(height_frac) of the image height. Observations: the whole-body keypoints
    projected, Gaussian pixel noise, each point dropped with probability ``dropout``
    (confidence 0, coordinates zeroed).

    Returns tensors: betas, expression, global_orient, body_pose, left_hand_pose, right_hand_pose,
    jaw_pose, transl, vertices (N, V, 3), keypoints_3d (N, K, 3) (camera frame), keypoints_clean
    (N, K, 2), keypoints_2d (N, K, 2), confidence (N, K), focal_length (N,), image_size (N, 2),
    with K = 135 if the module has ``use_face_contour`` else 118.
    """
    if not getattr(body_model, "use_pca", False) or not hasattr(body_model, "expression"):
        raise ValueError("make_wholebody_views needs an smplx.SMPLX module with use_pca=True")
    body_pose = torch.as_tensor(body_pose, dtype=torch.float32).cpu()
    if body_pose.dim() != 2 or body_pose.shape[1] != 63:
        raise ValueError(f"body_pose must be (N, 63) axis-angle of the 21 body joints, got {tuple(body_pose.shape)}")
    g = torch.Generator().manual_seed(seed)
    N = body_pose.shape[0]
    U = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(*shape, generator=g)  # noqa: E731
    nb, ne, nh = body_model.num_betas, body_model.num_expression_coeffs, body_model.num_pca_comps
    betas = torch.randn(N, nb, generator=g).clamp(-beta_clip, beta_clip)
    expression = torch.randn(N, ne, generator=g).clamp(-expression_clip, expression_clip)
    lh = hand_scale * torch.randn(N, nh, generator=g)
    rh = hand_scale * torch.randn(N, nh, generator=g)
    jaw = torch.stack([U(0.0, jaw_max, N), torch.zeros(N), torch.zeros(N)], 1)
    yaw = U(-yaw_range, yaw_range, N)
    pitch = U(-pitch_deg, pitch_deg, N) * math.pi / 180
    R_face = roma.rotvec_to_rotmat(torch.tensor(FACING_CAMERA)).expand(N, 3, 3)
    R_yaw = roma.rotvec_to_rotmat(torch.stack([torch.zeros(N), yaw, torch.zeros(N)], 1))
    R_pitch = roma.rotvec_to_rotmat(torch.stack([pitch, torch.zeros(N), torch.zeros(N)], 1))
    orient = roma.rotmat_to_rotvec(R_pitch @ R_yaw @ R_face)
    focal = U(*focal_range, N)
    W, H = image_size
    dev, dt = body_model.shapedirs.device, body_model.shapedirs.dtype
    to = lambda x: x.to(device=dev, dtype=dt)  # noqa: E731
    z3 = torch.zeros(N, 3)
    with torch.no_grad():
        out = body_model(betas=to(betas), expression=to(expression), global_orient=to(orient), body_pose=to(body_pose),
                         left_hand_pose=to(lh), right_hand_pose=to(rh), jaw_pose=to(jaw), leye_pose=to(z3),
                         reye_pose=to(z3), transl=to(z3))
    v, j = out.vertices.cpu().float(), out.joints.cpu().float()
    contour = bool(getattr(body_model, "use_face_contour", False))
    extent = (v[..., 1].amax(1) - v[..., 1].amin(1)).clamp_min(0.5)
    depth = focal * extent / (U(*height_frac, N) * H)
    mid = 0.5 * (v.amax(1) + v.amin(1))
    off = torch.stack([U(-0.1, 0.1, N) * W, U(-0.1, 0.1, N) * H], 1)
    transl = torch.cat([off * depth[:, None] / focal[:, None], depth[:, None]], 1) - mid
    v = v + transl[:, None]
    k3 = wholebody_keypoints(j + transl[:, None], contour)
    size = torch.tensor([float(W), float(H)]).expand(N, 2).clone()
    clean = perspective_projection(k3, focal, 0.5 * size)
    noisy = clean + noise_px * torch.randn(clean.shape, generator=g)
    conf = (torch.rand(N, k3.shape[1], generator=g) >= dropout).float()
    conf[conf.sum(-1) < 4] = 1.0
    noisy = noisy * conf[..., None]
    return {"betas": betas, "expression": expression, "global_orient": orient, "body_pose": body_pose,
            "left_hand_pose": lh, "right_hand_pose": rh, "jaw_pose": jaw, "transl": transl, "vertices": v,
            "keypoints_3d": k3, "keypoints_clean": clean, "keypoints_2d": noisy, "confidence": conf,
            "focal_length": focal, "image_size": size}


class WholeBodyForward:
    """The whole-body keypoints (B, 118, 3) of an ``smplx.SMPLX`` module (hand PCA, no face contour), posing
    only the vertices they need.

    The keypoints are the 55 joints, smplx's 21 vertex keypoints and 51 face landmarks (barycentric in 51
    faces): about 170 of the mesh's vertices. As ``forward.JointsForward`` for SMPL, smplx's own pieces
    (``batch_rodrigues``, ``batch_rigid_transform``) pose the joints, and only the selected vertices are
    shaped (β and expression), pose-corrected and skinned, so an objective evaluation of SMPLify-X costs
    O(55 + 170) instead of O(V). Equal to ``wholebody_keypoints(body_model(...).joints)`` (tests/test_smplifyx.py).
    """

    def __init__(self, body_model):
        bm = body_model
        if getattr(bm, "use_face_contour", False) or not getattr(bm, "use_pca", False):
            raise ValueError("WholeBodyForward needs an smplx.SMPLX module with use_pca=True and no face contour")
        self.bm = bm
        dirs = torch.cat([bm.shapedirs, bm.expr_dirs], dim=-1)                      # (V,3,NB+NE)
        self.nb = bm.shapedirs.shape[-1]
        self.j_template = bm.J_regressor @ bm.v_template                            # (55,3)
        self.j_dirs = torch.einsum("jv,vcb->jcb", bm.J_regressor, dirs)             # (55,3,NB+NE)
        extra = bm.vertex_joint_selector.extra_joints_idxs.long()                   # (21,)
        faces = bm.faces_tensor[bm.lmk_faces_idx.long()]                            # (51,3)
        ids, inv = torch.unique(torch.cat([extra, faces.reshape(-1)]), return_inverse=True)
        self.ids = ids                                                              # (S,)
        self.extra_rows = inv[:extra.numel()]                                       # (21,) rows of S
        self.face_rows = inv[extra.numel():].reshape(-1, 3)                         # (51,3)
        self.bary = bm.lmk_bary_coords                                              # (51,3)
        self.v_template = bm.v_template[ids]                                        # (S,3)
        self.v_dirs = dirs[ids]                                                     # (S,3,NB+NE)
        nv = bm.v_template.shape[0]
        posedirs = bm.posedirs.reshape(bm.posedirs.shape[0], nv, 3)                 # (P,V,3)
        self.v_posedirs = posedirs[:, ids].reshape(posedirs.shape[0], -1)           # (P,S*3)
        self.v_weights = bm.lbs_weights[ids]                                        # (S,55)

    def full_pose(self, global_orient, body_pose, left_hand, right_hand, jaw_pose):
        """(B,3), (B,63), hand-PCA coefficients (B,C) ×2, (B,3) -> (B,55,3) axis-angle, eyes at rest (smplx's order)."""
        B = global_orient.shape[0]
        lh = left_hand @ self.bm.left_hand_components                               # (B,45)
        rh = right_hand @ self.bm.right_hand_components
        z = global_orient.new_zeros(B, 6)
        pose = torch.cat([global_orient, body_pose, jaw_pose, z, lh, rh], dim=1) + self.bm.pose_mean
        return pose.reshape(B, 55, 3)

    def __call__(self, betas, global_orient, body_pose, left_hand, right_hand, jaw_pose, expression, transl):
        """-> whole-body keypoints (B,118,3) in ``WHOLEBODY_NAMES`` order, and the posed joints (B,55,3)."""
        B = betas.shape[0]
        coeff = torch.cat([betas, expression], dim=1)                               # (B,NB+NE)
        rot = batch_rodrigues(self.full_pose(global_orient, body_pose, left_hand, right_hand,
                                             jaw_pose).reshape(-1, 3)).reshape(B, 55, 3, 3)
        J = self.j_template + torch.einsum("jcb,nb->njc", self.j_dirs, coeff)         # (B,55,3)
        J_posed, A = batch_rigid_transform(rot, J, self.bm.parents, dtype=self.v_template.dtype)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        feat = (rot[:, 1:] - eye).reshape(B, -1)                                    # (B,486)
        v = self.v_template + torch.einsum("scb,nb->nsc", self.v_dirs, coeff)         # (B,S,3) shaped
        v = v + (feat @ self.v_posedirs).reshape(B, -1, 3)
        T = torch.einsum("sk,nkij->nsij", self.v_weights, A)                        # (B,S,4,4)
        v = torch.einsum("nsij,nsj->nsi", T[..., :3, :3], v) + T[..., :3, 3]        # (B,S,3) posed
        lmk = (v[:, self.face_rows] * self.bary[None, :, :, None]).sum(2)           # (B,51,3)
        joints = torch.cat([J_posed, v[:, self.extra_rows], lmk], dim=1) + transl[:, None]   # (B,127,3)
        return wholebody_keypoints(joints), joints[:, :55]
