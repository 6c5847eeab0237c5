"""Forward passes of an SMPL-layout ``smplx`` model for fitting: joints only, selected vertices, the mesh.

SMPLify's data term needs the 24 posed joints and a handful of mesh vertices (head top), not the
whole mesh. We reuse smplx's own functions (``blend_shapes``, ``batch_rodrigues``,
``batch_rigid_transform``) but shape, pose-correct and skin only the selected vertices, so one
objective evaluation costs O(24 + #selected) instead of O(6890). ``tests/test_fitting.py`` checks
the result against ``body_model(...)``.

The motion fits use the mean shape (betas = 0) and a pose split into global orientation (T, 3) and the
21 body joints (T, 21, 3): ``full_pose``, ``rest_joints``, ``posed_joints`` (positions by forward
kinematics, no vertices) and ``posed_vertices`` (the mesh, for errors).
"""
from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues

from ..rotations import aa_to_matrix

__all__ = ["JointsForward", "full_forward", "shaped_rest", "full_pose", "rest_joints", "posed_joints",
           "posed_vertices"]


class JointsForward:
    """Precomputed pieces of ``body_model`` for posed joints + selected vertices.

    body_model: an ``smplx.SMPL`` (SMPL layout: 24 joints). vertex_ids: mesh vertices to pose too.
    """

    def __init__(self, body_model, vertex_ids=()):
        bm = body_model
        self.bm = bm
        dtype = bm.v_template.dtype
        self.parents = bm.parents                                                  # (24,)
        self.num_betas = bm.shapedirs.shape[-1]
        jreg = bm.J_regressor                                                      # (24,V)
        self.j_template = jreg @ bm.v_template                                     # (24,3)
        self.j_shapedirs = torch.einsum("jv,vcb->jcb", jreg, bm.shapedirs)        # (24,3,NB)
        ids = torch.as_tensor(list(vertex_ids), dtype=torch.long, device=bm.v_template.device)
        self.vertex_ids = ids
        self.v_template = bm.v_template[ids]                                       # (S,3)
        self.v_shapedirs = bm.shapedirs[ids]                                       # (S,3,NB)
        nv = bm.v_template.shape[0]
        posedirs = bm.posedirs.reshape(-1, nv, 3)                                  # (207,V,3)
        self.v_posedirs = posedirs[:, ids].reshape(posedirs.shape[0], -1)          # (207,S*3)
        self.v_weights = bm.lbs_weights[ids]                                       # (S,24)
        self.dtype = dtype

    def shaped_rest(self, betas):
        """Rest-pose shaped mesh and joints -> v_shaped (B,V,3), J (B,24,3); see the function ``shaped_rest``."""
        b = betas[:, None, None, :]                                                # (B,1,1,NB)
        v = self.bm.v_template + (self.bm.shapedirs * b).sum(-1)                   # (B,V,3)
        return v, self.j_template + (self.j_shapedirs * b).sum(-1)                 # (B,24,3)

    def __call__(self, betas, global_orient, body_pose, transl):
        """betas (B,NB), global_orient (B,3), body_pose (B,69), transl (B,3)
        -> posed joints (B,24,3), posed selected vertices (B,S,3)."""
        B = betas.shape[0]
        full_pose = torch.cat([global_orient, body_pose], dim=1)                   # (B,72)
        J = self.j_template + torch.einsum("jcb,nb->njc", self.j_shapedirs, betas)  # (B,24,3) J(β)
        rot = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(B, -1, 3, 3)       # (B,24,3,3)
        J_posed, A = batch_rigid_transform(rot, J, self.parents, dtype=self.dtype)  # (B,24,3), (B,24,4,4)
        joints = J_posed + transl[:, None]
        if self.vertex_ids.numel() == 0:
            return joints, joints.new_zeros(B, 0, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        pose_feature = (rot[:, 1:] - eye).reshape(B, -1)                            # (B,207)
        v = self.v_template + torch.einsum("scb,nb->nsc", self.v_shapedirs, betas)  # (B,S,3) shaped
        v = v + (pose_feature @ self.v_posedirs).reshape(B, -1, 3)                  # (B,S,3) + pose blend shapes
        T = torch.einsum("sk,nkij->nsij", self.v_weights, A)                        # (B,S,4,4) skinning
        v = torch.einsum("nsij,nsj->nsi", T[..., :3, :3], v) + T[..., :3, 3]        # (B,S,3)
        return joints, v + transl[:, None]


def full_forward(body_model, betas, global_orient, body_pose, transl):
    """The whole mesh via ``body_model``: -> vertices (B,V,3), joints (B,24,3)."""
    out = body_model(betas=betas, global_orient=global_orient, body_pose=body_pose, transl=transl)
    return out.vertices, out.joints[:, :24]


def shaped_rest(body_model, betas):
    """Rest-pose shaped mesh and joints, no translation: -> v_shaped (B,V,3), J (B,24,3).

    T̄ + B_S(β) and J(β) = J_regressor (T̄ + B_S(β)) as smplx's ``blend_shapes`` and ``vertices2joints`` compute
    them, written as products and sums over β's NB entries per row rather than one matrix product over the
    batch: a row's result then does not depend on which other rows share the batch (a matrix-product
    kernel may sum in another order for another batch size), so a batched fit repeats a single fit exactly.
    """
    return JointsForward(body_model).shaped_rest(betas)


def full_pose(global_orient: torch.Tensor, body21: torch.Tensor) -> torch.Tensor:
    """(T, 3) + (T, 21, 3) -> (T, 24, 3) SMPL pose with the hand joints at identity."""
    T = body21.shape[0]
    return torch.cat([global_orient.reshape(T, 1, 3), body21.reshape(T, 21, 3), body21.new_zeros(T, 2, 3)], dim=1)


def rest_joints(body, n: int = 1) -> torch.Tensor:
    """Rest-pose joints (n, 24, 3) of the mean shape: J_regressor @ v_template."""
    J = body.J_regressor @ body.v_template                     # (24, 3)
    return J.unsqueeze(0).expand(n, -1, -1)


def posed_joints(body, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """SMPL joint positions (T, 24, 3) in metres by forward kinematics (equal to smplx's first 24 joints).

    G_0 = R_0, p_0 = J_0;  G_k = G_{π(k)} R_k,  p_k = p_{π(k)} + G_{π(k)} (J_k − J_{π(k)})  (+ transl).
    Positions only (no 4x4 transforms, no vertices): the cheap forward used inside the motion fits.
    """
    T = body21.shape[0]
    R = aa_to_matrix(full_pose(global_orient, body21))        # (T, 24, 3, 3)
    J = rest_joints(body, 1)[0].to(R.dtype)                   # (24, 3)
    parents = [int(p) for p in body.parents.tolist()]
    G = [R[:, 0]]
    p = [J[0].expand(T, 3)]
    for k in range(1, 24):
        a = parents[k]
        p.append(p[a] + (G[a] @ (J[k] - J[a]).unsqueeze(-1)).squeeze(-1))
        G.append(G[a] @ R[:, k])
    return torch.stack(p, dim=1) + transl.reshape(T, 1, 3)


def posed_vertices(body, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor,
                   chunk: int = 256) -> torch.Tensor:
    """Mesh vertices (T, V, 3) in metres of the mean shape posed by (global_orient, body21, transl)."""
    out = []
    nb = body.shapedirs.shape[-1]
    for s in range(0, body21.shape[0], chunk):
        b = body21[s:s + chunk]
        n = b.shape[0]
        o = body(betas=b.new_zeros(n, nb), global_orient=global_orient[s:s + chunk].reshape(n, 3),
                 body_pose=torch.cat([b.reshape(n, 63), b.new_zeros(n, 6)], dim=1),
                 transl=transl[s:s + chunk].reshape(n, 3))
        out.append(o.vertices)
    return torch.cat(out)
