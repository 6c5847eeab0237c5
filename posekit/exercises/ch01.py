"""Chapter 01 (SMPL): linear blend skinning and the joint regressor.

- ``check_lbs_vertex``: v' = Σ_j w_j A_j [v; 1] for one rest vertex v (3,), weights w (J,) and
  world transforms A (J, 4, 4); reference: smplx's ``lbs`` on a small random skeleton.
- ``check_joint_regressor``: J = 𝒥 V for a regressor (J, V) and vertices (B, V, 3) -> (B, J, 3);
  reference: smplx's ``vertices2joints``.
"""
from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform, lbs, vertices2joints

from ..rotations import aa_to_matrix
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_lbs_vertex", "check_joint_regressor"]


def _skeleton(n_joints: int = 5, n_verts: int = 12):
    """A random chain-and-branch skeleton, its posed transforms A and smplx's skinned vertices."""
    dt = torch.float64
    parents = torch.tensor([-1] + [max(0, j - 2) for j in range(1, n_joints)])
    v = torch.randn(1, n_verts, 3, dtype=dt)                               # rest vertices
    W = torch.softmax(2 * torch.randn(n_verts, n_joints, dtype=dt), -1)    # (V, J) rows sum to 1
    Jreg = torch.softmax(torch.randn(n_joints, n_verts, dtype=dt), -1)     # (J, V)
    pose = 0.8 * torch.randn(1, n_joints * 3, dtype=dt)
    rot = aa_to_matrix(pose.view(1, n_joints, 3))                          # (1, J, 3, 3)
    _, A = batch_rigid_transform(rot, vertices2joints(Jreg, v), parents, dtype=dt)   # (1, J, 4, 4)
    verts, _ = lbs(torch.zeros(1, 0, dtype=dt), pose, v[0], torch.zeros(n_verts, 3, 0, dtype=dt),
                   torch.zeros((n_joints - 1) * 9, n_verts * 3, dtype=dt), Jreg, parents, W)
    return v[0], W, A[0], verts[0]


@exercise("01")
def check_lbs_vertex(student_function) -> None:
    v, W, A, ref = _skeleton()
    out = call(student_function, v[0], W[0], A)
    expect_shape(out, (3,), "for one vertex (3,), weights (J,) and transforms (J, 4, 4)")
    for j in (0, 2):                                                       # all weight on one joint
        onehot = torch.zeros_like(W[0]); onehot[j] = 1
        single = call(student_function, v[0], onehot, A).to(torch.float64)
        rigid = A[j, :3, :3] @ v[0] + A[j, :3, 3]
        check_result(not close(single, A[j, :3, :3] @ v[0], atol=1e-6),
                     "you forgot the translation part A_j[:3, 3] of each transform")
        check_result(not close(single, A[j, :3, :3].T @ v[0] + A[j, :3, 3], atol=1e-6),
                     "you applied the transposed rotation A_j[:3, :3]ᵀ")
        check_result(close(single, rigid, atol=1e-6),
                     "with all the weight on one joint the vertex must move rigidly with that joint's A_j")
    for i in range(v.shape[0]):
        out = call(student_function, v[i], W[i], A).to(torch.float64)
        check_result(close(out, ref[i], atol=1e-6),
                     "single joints are right but the blend is not: blend Σ_j w_j A_j (weights sum to 1), "
                     "then apply it to [v; 1]")
    expect_grad(lambda w: student_function(v[0], w, A), W[0])


@exercise("01")
def check_joint_regressor(student_function) -> None:
    B, V, J = 3, 40, 6
    verts = torch.randn(B, V, 3, dtype=torch.float64)
    Jreg = torch.softmax(torch.randn(J, V, dtype=torch.float64), -1)
    ref = vertices2joints(Jreg, verts)                                     # (B, J, 3)
    out = call(student_function, Jreg, verts)
    check_result(tuple(out.shape) != (B, 3, J), f"your joints are transposed: expected {(B, J, 3)}, got (B, 3, J)")
    expect_shape(out, ref.shape, f"for a regressor ({J}, {V}) and vertices ({B}, {V}, 3)")
    check_result(not close(out.to(torch.float64), ref.mean(0, keepdim=True).expand_as(ref), atol=1e-8)
                 or close(out.to(torch.float64), ref),
                 "you mixed the batch: each body's joints come from its own vertices")
    check_result(close(out.to(torch.float64), ref, atol=1e-8),
                 "each joint is the 𝒥-weighted sum of the vertices: J[b, j] = Σ_v 𝒥[j, v] V[b, v]")
    shifted = call(student_function, Jreg, verts + torch.tensor([1.0, 0, 0], dtype=torch.float64)).to(torch.float64)
    check_result(close(shifted - out.to(torch.float64), torch.tensor([1.0, 0, 0], dtype=torch.float64).expand_as(ref)),
                 "moving every vertex by t must move every joint by t")
    expect_grad(lambda x: student_function(Jreg, x), verts)

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "01"
EXERCISES = [
    {"check": 'check_lbs_vertex', "function": 'lbs_vertex',
     "prompt": "Write **linear blend skinning for one vertex**: given its rest position `v` `(3,)`, its skinning weights `w` `(J,)` and the joints' world transforms `A` `(J, 4, 4)` (what smplx's `batch_rigid_transform` returns), return the posed position $\\vec v' = \\big(\\sum_j w_j A_j\\big)\\,[\\vec v; 1]$ `(3,)`.",
     "stub": 'def lbs_vertex(v, w, A):\n    """v (3,), w (J,), A (J, 4, 4) -> posed vertex (3,)."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_joint_regressor', "function": 'joint_regressor',
     "prompt": "Write the **joint regressor**: SMPL's joints are a fixed linear function of the vertices, $J = \\mathcal J V$. Input: the regressor `(J, V)` and a batch of vertices `(B, V, 3)`; output: joints `(B, J, 3)`.",
     "stub": 'def joint_regressor(J_regressor, vertices):\n    """(J, V), (B, V, 3) -> (B, J, 3)."""\n    # your code here\n    raise NotImplementedError'},
]

#: investigations (prompt and a runnable experiment) for tools/course_cells.py
INVESTIGATIONS = [
    {"title": "where linear blend skinning breaks",
     "prompt": "Linear blend skinning averages *matrices*: a vertex whose weights are shared between two joints "
               "gets the average of two transforms, which is no rotation when the two differ a lot. The cell below "
               "twists the left wrist about the forearm (x in the T-pose) from 0° to 180° and measures, around the "
               "forearm's axis, the mean radius of the vertices that blend the wrist with its parent (the elbow), "
               "with plain skinning and with this model's pose blend shapes. Run it, then answer: (1) at what twist "
               "has that ring lost half its radius (the *candy wrapper*)? (2) how much do the pose blend shapes "
               "undo, and why can a term that is linear in the rotation matrices' entries only partly undo a "
               "collapse that grows with the angle? (3) bend the elbow instead (`joint, axis = 'left_elbow', 1`): "
               "does the elbow collapse the same way? Look at the mesh drawn for the largest angle.",
     "code": 'joint, axis = "left_wrist", 0                  # change me: ("left_elbow", 1), ...\n'
             'j = SMPL_JOINT_NAMES.index(joint); parent = SMPL_PARENTS[j]\n'
             'Wj, Wp = body.lbs_weights[:, j], body.lbs_weights[:, parent]\n'
             'ring = (Wj > 0.25) & (Wj < 0.75) & (Wp > 0.25)   # vertices that blend the joint with its parent\n'
             'angles = np.arange(0, 181, 20)\n'
             'pose = torch.zeros(len(angles), 23, 3)\n'
             'pose[:, j - 1, axis] = torch.deg2rad(torch.tensor(angles, dtype=torch.float32))\n'
             'full = torch.cat([torch.zeros(len(angles), 3), pose.view(len(angles), -1)], 1)\n'
             'radius = {}\n'
             'with torch.no_grad():\n'
             '    for name, dirs in (("skinning only", torch.zeros_like(body.posedirs)), ("with B_P", body.posedirs)):\n'
             '        v, J = smplx.lbs.lbs(torch.zeros(len(angles), body.num_betas), full, body.v_template,\n'
             '                             body.shapedirs, dirs, body.J_regressor, body.parents, body.lbs_weights)\n'
             '        u = F.normalize(J[:, j] - J[:, parent], dim=-1)[:, None]       # (A, 1, 3) the bone\'s axis\n'
             '        rel = v[:, ring] - J[:, j, None]\n'
             '        radius[name] = 100 * (rel - (rel * u).sum(-1, keepdim=True) * u).norm(dim=-1).mean(-1)\n'
             'fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.4, 1]})\n'
             'for name, r in radius.items():\n'
             '    axes[0].plot(angles, r.numpy(), "o-", label=name)\n'
             'axes[0].set_xlabel(f"{joint} rotation about {\'xyz\'[axis]} (degrees)")\n'
             'axes[0].set_ylabel(f"radius of the {int(ring.sum())} blended vertices (cm)")\n'
             'axes[0].set_title("Linear blend skinning: the blend zone as the joint turns"); axes[0].legend(fontsize=8)\n'
             'pv.render_mesh(axes[1], v[-1], faces, view="front", title=f"{joint} at {angles[-1]}°, with B_P",\n'
             '               set_limits=False)\n'
             'c = J[-1, j]\n'
             'axes[1].set_xlim(c[0] - 0.25, c[0] + 0.25); axes[1].set_ylim(c[1] - 0.2, c[1] + 0.2); axes[1].set_aspect("equal")\n'
             'fig.tight_layout(); plt.show()\n'
             'print("radius (cm):", {k: [round(x, 1) for x in v.tolist()] for k, v in radius.items()})'},
]
