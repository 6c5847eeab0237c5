"""Chapter 04 (Pose-NDF): the pose distance on quaternions and one projection step.

- ``check_pose_ndf_distance``: d(θ, θ̂) = sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|) for quaternions (B, K, 4) × 2 and
  weights (K,) -> (B,); reference :func:`posekit.rotations.pose_ndf_distance`.
- ``check_projection_step``: one Riemannian step q ← exp_q(−α f (I − q qᵀ) ∇f) per joint, hemisphere w >= 0,
  for q, ∇f (B, K, 4), f (B,), α; reference :func:`posekit.priors.posendf.project.riemannian_step`.
"""
from __future__ import annotations

import torch

from ..priors.posendf.project import euclidean_step, riemannian_step
from ..rotations import hemisphere, pose_ndf_distance
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_pose_ndf_distance", "check_projection_step"]


def _quats(b: int, k: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(b, k, 4, dtype=torch.float64), dim=-1)


@exercise("04")
def check_pose_ndf_distance(student_function) -> None:
    B, K = 6, 21
    q1, q2 = _quats(B, K), _quats(B, K)
    w = torch.rand(K, dtype=torch.float64) + 0.5
    ref = pose_ndf_distance(q1, q2, w)
    out = call(student_function, q1, q2, w)
    expect_shape(out, ref.shape, f"for quaternions ({B}, {K}, 4) and weights ({K},)")
    out = out.to(torch.float64)
    same = call(student_function, q1, q1, w).to(torch.float64)
    check_result(close(same, torch.zeros_like(same), atol=1e-3), "the distance of a pose to itself must be 0")
    flip = torch.where(torch.rand(B, K, 1, dtype=torch.float64) < 0.5, -1.0, 1.0)
    flipped = call(student_function, q1, flip * q2, w).to(torch.float64)
    check_result(close(flipped, out, atol=1e-6),
                 "your distance is not symmetric in q and −q (the same rotation): use |q·q̂|")
    check_result(not close(out, pose_ndf_distance(q1, q2)), "your distance ignores the joint weights w_i")
    check_result(not close(out, ref ** 2), "you return the squared distance: take the square root")
    check_result(close(out, ref), "check the ½ and the sum over joints: sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|)")
    expect_grad(lambda x: student_function(x, q2, w), q1)


@exercise("04")
def check_projection_step(student_function) -> None:
    B, K = 5, 21
    q = hemisphere(_quats(B, K))
    g = 0.3 * torch.randn(B, K, 4, dtype=torch.float64)
    f = torch.rand(B, dtype=torch.float64) * 0.5
    alpha = 1.0
    ref = riemannian_step(q, f, g, alpha)
    out = call(student_function, q, f, g, alpha)
    expect_shape(out, ref.shape, f"for q ({B}, {K}, 4), f ({B},), ∇f ({B}, {K}, 4)")
    out = out.to(torch.float64)
    check_result(close(out.norm(dim=-1), torch.ones(B, K, dtype=torch.float64), atol=1e-6),
                 "each joint's quaternion must stay on the unit sphere after the step")
    check_result(not close(hemisphere(out), euclidean_step(q, f, g, alpha), atol=1e-6),
                 "this is the Euclidean step with renormalisation: project ∇f onto the tangent space first")
    check_result(not close(hemisphere(out), hemisphere(riemannian_step(q, -f, g, alpha)), atol=1e-6),
                 "you stepped uphill: move along −f ∇f")
    check_result(bool((out[..., 3] >= -1e-9).all()), "return the representative with w >= 0 (hemisphere)")
    check_result(close(out, ref, atol=1e-6),
                 "not exp_q(v) with v = −α f (I − q qᵀ) ∇f: exp_q(v) = cos|v| q + sin|v| v/|v|")
    still = call(student_function, q, torch.zeros(B, dtype=torch.float64), g, alpha).to(torch.float64)
    check_result(close(still, q, atol=1e-6), "on the manifold (f = 0) the step must not move q")

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "04"
EXERCISES = [
    {"check": 'check_pose_ndf_distance', "function": 'my_pose_ndf_distance',
     "prompt": "Write **Pose-NDF's pose distance** between two poses given as per-joint unit quaternions `q1, q2` `(B, K, 4)` with joint weights `w` `(K,)`: $d(\\theta, \\hat\\theta) = \\sqrt{\\sum_i \\tfrac{w_i}{2} \\arccos^2 |q_i \\cdot \\hat q_i|}$. Output `(B,)`.",
     "stub": 'def my_pose_ndf_distance(q1, q2, w):\n    """(B, K, 4) x 2, (K,) -> (B,)."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_projection_step', "function": 'projection_step',
     "prompt": "Write **one projection step** onto the manifold, on the sphere of each joint's quaternion: with the distance `f` `(B,)` and its gradient `g` `(B, K, 4)` at `q` `(B, K, 4)`, step along $v = -\\alpha f\\,(I - q q^\\top)\\nabla f$ with the exponential map $\\exp_q(v) = \\cos\\lVert v\\rVert\\, q + \\sin\\lVert v\\rVert\\, v/\\lVert v\\rVert$, and return each quaternion with $w \\ge 0$.",
     "stub": 'def projection_step(q, f, g, alpha):\n    """(B, K, 4), (B,), (B, K, 4), float -> (B, K, 4)."""\n    # your code here\n    raise NotImplementedError'},
]
