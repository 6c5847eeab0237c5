"""Chapter 05 (experiments): the errors the tables report.

- ``check_mpjpe``: mean per-joint position error, (B, N, 3) × 2 -> (B,);
  reference :func:`posekit.fitting.metrics.mean_point_error`.
- ``check_procrustes_align``: the similarity transform s R X + t closest to Y, applied to X
  (B, N, 3) -> (B, N, 3), no reflections; reference :func:`posekit.fitting.metrics.procrustes_align`.
"""
from __future__ import annotations

import torch

from ..fitting.metrics import mean_point_error, procrustes_align
from ..rotations import aa_to_matrix
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_mpjpe", "check_procrustes_align"]


@exercise("05")
def check_mpjpe(student_function) -> None:
    X, Y = torch.randn(4, 24, 3, dtype=torch.float64), torch.randn(4, 24, 3, dtype=torch.float64)
    ref = mean_point_error(X, Y)
    out = call(student_function, X, Y)
    check_result(out.numel() != 1, "return one error per body (B,), not the mean over the batch")
    expect_shape(out, ref.shape, "for joints (4, 24, 3)")
    out = out.to(torch.float64)
    check_result(not close(out, ((X - Y) ** 2).sum(-1).mean(-1)), "you averaged squared distances: take each norm")
    check_result(not close(out, ((X - Y) ** 2).sum(-1).mean(-1).sqrt()),
                 "that is the root-mean-square error: MPJPE averages the Euclidean distances")
    check_result(not close(out, (X - Y).abs().mean((-1, -2))), "average Euclidean distances per joint, not |Δx|")
    check_result(close(out, ref), "MPJPE = mean over joints of ‖x_i − y_i‖")


@exercise("05")
def check_procrustes_align(student_function) -> None:
    B, N = 4, 24
    Y = torch.randn(B, N, 3, dtype=torch.float64)
    R = aa_to_matrix(torch.randn(B, 3, dtype=torch.float64))
    s = torch.rand(B, 1, 1, dtype=torch.float64) + 0.5
    X = (Y - 0.3) @ R / s + 0.02 * torch.randn(B, N, 3, dtype=torch.float64)      # a noisy similar copy
    ref = procrustes_align(X, Y)
    out = call(student_function, X, Y)
    expect_shape(out, ref.shape, f"for point sets ({B}, {N}, 3)")
    out = out.to(torch.float64)
    check_result(close(out.mean(1), Y.mean(1), atol=1e-6), "the aligned X must have Y's centroid: add the translation")
    spread = (out - out.mean(1, keepdim=True)).norm(dim=-1).mean(-1)
    check_result(close(spread, (ref - ref.mean(1, keepdim=True)).norm(dim=-1).mean(-1), rtol=1e-4),
                 "the scale s is wrong: s = Σ singular values (sign-corrected) / Σ ‖x_i − x̄‖²")
    check_result(close(out, ref, atol=1e-6), "centroid and scale are right, the rotation is not: R = V D Uᵀ from svd(Σ x yᵀ)")
    mirror = torch.randn(B, N, 3, dtype=torch.float64)
    Ym = mirror * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)              # Y is X's mirror image
    om = call(student_function, mirror, Ym).to(torch.float64)
    check_result(close(om, procrustes_align(mirror, Ym), atol=1e-6),
                 "your alignment allows a reflection: fix det R = +1 (flip the last singular vector)")
    expect_grad(lambda x: student_function(x, Y), X)

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "05"
EXERCISES = [
    {"check": 'check_mpjpe', "function": 'mpjpe',
     "prompt": 'Write **MPJPE**, the mean per-joint position error between predicted and true joints `X, Y` `(B, N, 3)`: one number per body `(B,)`.',
     "stub": 'def mpjpe(X, Y):\n    """(B, N, 3) x 2 -> (B,)."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_procrustes_align', "function": 'procrustes_align',
     "prompt": 'Write **Procrustes alignment** (the step before PA-MPJPE): the similarity transform $sRX + t$ closest to $Y$ in least squares, with a proper rotation ($\\det R = +1$), applied to `X`. `(B, N, 3)` x 2 → `(B, N, 3)`.',
     "stub": 'def procrustes_align(X, Y):\n    """(B, N, 3) x 2 -> aligned X (B, N, 3)."""\n    # your code here\n    raise NotImplementedError'},
]
