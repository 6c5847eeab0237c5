"""A joints-only forward pass of an SMPL-layout ``smplx`` model, for fast fitting.

SMPLify's data term needs the 24 posed joints and a handful of mesh vertices (head top), not the
whole mesh. We reuse smplx's own functions (``blend_shapes``, ``batch_rodrigues``,
``batch_rigid_transform``) but shape, pose-correct and skin only the selected vertices, so one
objective evaluation costs O(24 + #selected) instead of O(6890). ``tests/test_fitting.py`` checks
the result against ``body_model(...)``.
"""
from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues

__all__ = ["JointsForward", "full_forward", "shaped_rest"]


class JointsForward:
    """Precomputed pieces of ``body_model`` for posed joints + selected vertices.

    body_model: an ``smplx.SMPL`` (SMPL layout: 24 joints). vertex_ids: mesh vertices to pose too.
    """

    def __init__(self, body_model, vertex_ids=()):
        bm = body_model
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
    """Rest-pose shaped mesh and joints, no translation: -> v_shaped (B,V,3), J (B,24,3)."""
    from smplx.lbs import blend_shapes, vertices2joints

    v = body_model.v_template + blend_shapes(betas, body_model.shapedirs)          # (B,V,3)
    return v, vertices2joints(body_model.J_regressor, v)                           # (B,24,3)
