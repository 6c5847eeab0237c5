"""Errors and generation metrics, in one place.

- fits: per-vertex and per-joint errors (MPJPE), root-aligned and after Procrustes alignment (PA),
  ``fit_errors`` (images, mm), ``per_vertex_error_cm`` / ``clip_vertex_error`` (motion clips, cm),
  ``part_vertex_mask`` (the vertices a set of joints drives);
- the area-weighted **surface error** ``surface_error_cm``: the mean distance between corresponding
  points sampled uniformly on the surface (``surface_samples``). A per-vertex mean weighs every vertex
  alike, so a finely meshed part counts for more than its area (the open body model's head holds
  23.5% of its vertices but a far smaller share of the surface); uniform surface samples weigh every
  square centimetre alike. ``per_joint_error_cm`` is MPJPE on motion clips (cm), ``motion_errors``
  all three at once;
- generation: the average pairwise distance ``apd_cm`` and the distance to the data
  ``nearest_pose_distance``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch

from ..rotations import aa_to_quat, nearest_pose_ndf
from ..skeleton import as_body21
from .forward import posed_joints, posed_vertices

__all__ = ["procrustes_align", "root_align", "mean_point_error", "fit_errors", "per_vertex_error_cm",
           "clip_vertex_error", "part_vertex_mask", "apd_cm", "nearest_pose_distance", "SurfaceSamples",
           "surface_samples", "surface_points", "surface_error_cm", "per_joint_error_cm", "motion_errors",
           "MOTION_METRICS", "per_joint_angle_error_deg"]

#: the three errors of a motion fit, as they are named in results.csv
MOTION_METRICS = ("v2v_cm", "surface_cm", "mpjpe_cm")


def procrustes_align(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The similarity transform (scale s, rotation R, translation t) minimising ‖s R X + t − Y‖²,
    applied to X. X, Y (B,N,3) -> aligned X (B,N,3). Umeyama's closed form (SVD, no reflections)."""
    mx, my = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    x, y = X - mx, Y - my                                                     # (B,N,3)
    cov = x.transpose(1, 2) @ y                                               # (B,3,3) Σ x yᵀ
    U, S, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))         # (B,) reflection fix
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(1, 2) @ D @ U.transpose(1, 2)                            # (B,3,3): y ≈ s R x
    s = (S * torch.diagonal(D, dim1=1, dim2=2)).sum(-1) / (x ** 2).sum((1, 2)).clamp_min(1e-12)   # (B,)
    return s[:, None, None] * x @ R.transpose(1, 2) + my


def root_align(X: torch.Tensor, Y: torch.Tensor, x_root: torch.Tensor, y_root: torch.Tensor):
    """Translate X so that its root point x_root (B,3) lands on y_root (B,3). -> X (B,N,3)."""
    return X - x_root[:, None] + y_root[:, None]


def mean_point_error(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between corresponding points: (B,N,3) × 2 -> (B,)."""
    return (X - Y).norm(dim=-1).mean(-1)


def fit_errors(pred_vertices, pred_joints, gt_vertices, gt_joints, faces=None) -> dict:
    """Per-image errors in millimetres (inputs in metres): vertices (B,V,3), joints (B,24,3).

    v2v_mm / mpjpe_mm: after aligning the pelvis (joint 0), the depth/scale-ambiguous translation
    removed; v2v_pa_mm / mpjpe_pa_mm: after Procrustes (similarity) alignment of each point set.
    With the mesh's ``faces`` (F,3) also surface_mm / surface_pa_mm: the area-weighted surface error
    (``surface_samples`` on the ground-truth mesh's first image) after the same two alignments.
    """
    pv = root_align(pred_vertices, gt_vertices, pred_joints[:, 0], gt_joints[:, 0])
    pj = root_align(pred_joints, gt_joints, pred_joints[:, 0], gt_joints[:, 0])
    pa = procrustes_align(pred_vertices, gt_vertices)
    out = {
        "v2v_mm": 1000 * mean_point_error(pv, gt_vertices),
        "v2v_pa_mm": 1000 * mean_point_error(pa, gt_vertices),
        "mpjpe_mm": 1000 * mean_point_error(pj, gt_joints),
        "mpjpe_pa_mm": 1000 * mean_point_error(procrustes_align(pred_joints, gt_joints), gt_joints),
    }
    if faces is not None:
        f = torch.as_tensor(faces.astype("int64") if hasattr(faces, "astype") else faces)
        samples = surface_samples(gt_vertices[0], f)
        out["surface_mm"] = 10 * surface_error_cm(pv, gt_vertices, samples)
        out["surface_pa_mm"] = 10 * surface_error_cm(pa, gt_vertices, samples)
    return out


def per_vertex_error_cm(verts_a: torch.Tensor, verts_b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean vertex distance per frame (T,) in cm; ``mask`` (V,) bool restricts to some vertices."""
    if verts_a.shape != verts_b.shape:
        raise ValueError(f"vertex arrays differ in shape: {tuple(verts_a.shape)} vs {tuple(verts_b.shape)}")
    d = (verts_a - verts_b).norm(dim=-1) * 100.0               # (T, V) cm
    if mask is not None:
        if mask.sum() == 0:
            raise ValueError("the vertex mask selects no vertex")
        d = d[:, mask]
    return d.mean(dim=-1)


def clip_vertex_error(body, clip, body21: torch.Tensor, mask: torch.Tensor | None = None,
                      clean_verts: torch.Tensor | None = None) -> float:
    """Mean per-vertex error (cm) of poses ``body21`` (T, 21, 3) against a clip's clean motion
    (``clip.global_orient``, ``clip.body21``, ``clip.transl``)."""
    with torch.no_grad():
        if clean_verts is None:
            clean_verts = posed_vertices(body, clip.global_orient, clip.body21, clip.transl)
        v = posed_vertices(body, clip.global_orient, body21, clip.transl)
        return float(per_vertex_error_cm(v, clean_verts, mask).mean())


def part_vertex_mask(lbs_weights: torch.Tensor, joints: Iterable[int]) -> torch.Tensor:
    """(V,) bool: vertices whose dominant skinning weight (argmax over the 24 joints) is in ``joints``."""
    dom = lbs_weights.argmax(dim=-1)                           # (V,)
    return torch.isin(dom, torch.as_tensor(list(joints), device=dom.device))


def apd_cm(joints: torch.Tensor) -> float:
    """Average pairwise distance of n poses' joint positions (n, J, 3) metres, in cm.

    APD = 2 / (n (n-1)) Σ_{a<b} (1/J) Σ_j ‖x_aj − x_bj‖ (mean over pairs of the mean per-joint distance).
    """
    n = joints.shape[0]
    if n < 2:
        raise ValueError("APD needs at least 2 samples")
    d = torch.cdist(joints.transpose(0, 1), joints.transpose(0, 1))   # (J, n, n) metres
    per_pair = d.mean(0)                                                # (n, n)
    return float(per_pair.sum() / (n * (n - 1)) * 100.0)


def nearest_pose_distance(samples: torch.Tensor, train: torch.Tensor, chunk: int | None = None,
                          weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample (n, 21, 3) the pose distance to its nearest training pose (N, 21, 3).

    d(θ, θ̂) = sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|) (``posekit.rotations.pose_ndf_distance``), searched
    exhaustively in chunks of the training set (memory O(n · chunk · 21)).
    Returns (distances (n,), indices into ``train`` (n,)).
    """
    qs = aa_to_quat(as_body21(samples))                           # (n, 21, 4)
    qt = aa_to_quat(as_body21(train).to(qs.device))               # (N, 21, 4)
    return nearest_pose_ndf(qs, qt, weights, chunk)


# ----------------------------------------------------------------------------------------------
# area-weighted surface error and MPJPE on motion clips
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurfaceSamples:
    """Points spread uniformly over a mesh surface, as (face, barycentric coordinates) so that the same
    material points can be found on any posed copy of the mesh: faces (S, 3) vertex ids, bary (S, 3)."""

    faces: torch.Tensor
    bary: torch.Tensor

    def to(self, device) -> "SurfaceSamples":
        return SurfaceSamples(self.faces.to(device), self.bary.to(device))

    def restrict(self, vertex_mask: torch.Tensor) -> "SurfaceSamples":
        """The samples on faces whose three vertices all lie in ``vertex_mask`` (V,) bool."""
        keep = vertex_mask.to(self.faces.device)[self.faces].all(-1)
        if not keep.any():
            raise ValueError("no surface sample lies on the selected vertices")
        return SurfaceSamples(self.faces[keep], self.bary[keep])


_SURFACE_CACHE: dict = {}


def surface_samples(vertices: torch.Tensor, faces, n: int = 20000, seed: int = 0) -> SurfaceSamples:
    """``n`` points drawn uniformly by area on the mesh (vertices (V,3), faces (F,3)); seeded, cached.

    Each face is picked with probability area_f / Σ area (``trimesh.sample.sample_surface``), the point
    uniformly inside it; the rest mesh fixes the samples, which then move with the mesh.
    """
    import trimesh

    v = torch.as_tensor(vertices).detach().cpu().double().numpy().reshape(-1, 3)
    f = torch.as_tensor(faces).detach().cpu().long().numpy().reshape(-1, 3)
    key = (v.shape, f.shape, float(v.sum()), int(f.sum()), n, seed)
    if key not in _SURFACE_CACHE:
        mesh = trimesh.Trimesh(v, f, process=False)
        points, face_idx = trimesh.sample.sample_surface(mesh, n, seed=seed)
        bary = trimesh.triangles.points_to_barycentric(mesh.triangles[face_idx], points)
        if len(_SURFACE_CACHE) >= 8:                              # a few meshes at a time, not every image ever seen
            _SURFACE_CACHE.pop(next(iter(_SURFACE_CACHE)))
        _SURFACE_CACHE[key] = SurfaceSamples(torch.as_tensor(f[face_idx]), torch.as_tensor(bary, dtype=torch.float32))
    return _SURFACE_CACHE[key]


def surface_points(vertices: torch.Tensor, samples: SurfaceSamples) -> torch.Tensor:
    """The sample points on posed meshes: vertices (B, V, 3) -> (B, S, 3), Σ_k bary_sk · v[faces_sk]."""
    tri = vertices[:, samples.faces.to(vertices.device)]                    # (B, S, 3 corners, 3)
    return (samples.bary.to(vertices)[None, :, :, None] * tri).sum(2)


def surface_error_cm(verts_a: torch.Tensor, verts_b: torch.Tensor, samples: SurfaceSamples) -> torch.Tensor:
    """Mean distance (cm) between corresponding surface samples of two posed meshes (T, V, 3) -> (T,)."""
    if verts_a.shape != verts_b.shape:
        raise ValueError(f"vertex arrays differ in shape: {tuple(verts_a.shape)} vs {tuple(verts_b.shape)}")
    return (surface_points(verts_a, samples) - surface_points(verts_b, samples)).norm(dim=-1).mean(-1) * 100.0


def per_joint_error_cm(joints_a: torch.Tensor, joints_b: torch.Tensor, joints: Iterable[int] | None = None) -> torch.Tensor:
    """MPJPE per frame (T,) in cm over the SMPL joints (T, 24, 3), or over the listed ``joints``."""
    if joints_a.shape != joints_b.shape:
        raise ValueError(f"joint arrays differ in shape: {tuple(joints_a.shape)} vs {tuple(joints_b.shape)}")
    d = (joints_a - joints_b).norm(dim=-1) * 100.0                          # (T, J)
    if joints is not None:
        d = d[:, list(joints)]
    return d.mean(-1)


def motion_errors(body, clip, body21: torch.Tensor, samples: SurfaceSamples | None = None,
                  hidden_joints: Iterable[int] | None = None, clean: dict | None = None) -> dict:
    """The three errors of fitted poses ``body21`` (T, 21, 3) against a clip's clean motion, each the mean
    over frames: {"v2v_cm", "surface_cm", "mpjpe_cm"}; with ``hidden_joints`` also the same three over the
    hidden part ("v2v_hidden_cm": its vertices, "surface_hidden_cm": its faces, "mpjpe_hidden_cm": its
    joints). ``clean`` may hold the clip's precomputed clean "vertices"/"joints"."""
    faces = torch.as_tensor(body.faces.astype("int64") if hasattr(body.faces, "astype") else body.faces)
    samples = samples if samples is not None else surface_samples(body.v_template, faces)
    with torch.no_grad():
        if clean is None:
            clean = {"vertices": posed_vertices(body, clip.global_orient, clip.body21, clip.transl),
                     "joints": posed_joints(body, clip.global_orient, clip.body21, clip.transl)}
        v = posed_vertices(body, clip.global_orient, body21, clip.transl)
        j = posed_joints(body, clip.global_orient, body21, clip.transl)
        out = {"v2v_cm": float(per_vertex_error_cm(v, clean["vertices"]).mean()),
               "surface_cm": float(surface_error_cm(v, clean["vertices"], samples).mean()),
               "mpjpe_cm": float(per_joint_error_cm(j, clean["joints"]).mean())}
        if hidden_joints is not None:
            hidden = list(hidden_joints)
            vmask = part_vertex_mask(body.lbs_weights, hidden)
            out["v2v_hidden_cm"] = float(per_vertex_error_cm(v, clean["vertices"], vmask).mean())
            out["surface_hidden_cm"] = float(surface_error_cm(v, clean["vertices"], samples.restrict(vmask)).mean())
            out["mpjpe_hidden_cm"] = float(per_joint_error_cm(j, clean["joints"], hidden).mean())
    return out


def per_joint_angle_error_deg(body21_a: torch.Tensor, body21_b: torch.Tensor) -> torch.Tensor:
    """The geodesic angle (degrees) between corresponding joint rotations, mean over frames:
    (T, 21, 3) axis-angle × 2 -> (21,). Says *which* joints a fit gets wrong, where vertex errors only say how much."""
    import roma

    Ra = roma.rotvec_to_rotmat(as_body21(body21_a).reshape(-1, 3))
    Rb = roma.rotvec_to_rotmat(as_body21(body21_b).reshape(-1, 3))
    ang = roma.rotmat_geodesic_distance(Ra, Rb).reshape(-1, 21)              # (T, 21) rad
    return torch.rad2deg(ang).mean(0)
