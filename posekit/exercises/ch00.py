"""Chapter 00 (human pose data): rotations.

- ``check_aa_to_matrix``: axis-angle (B, 3) -> rotation matrices (B, 3, 3) (Rodrigues' formula);
  reference :func:`posekit.rotations.aa_to_matrix`.
- ``check_geodesic_angle``: the angle (B,) between rotations R1, R2 (B, 3, 3);
  reference :func:`posekit.rotations.geodesic_angle`.
"""
from __future__ import annotations

import math

import torch

from ..rotations import aa_to_matrix, geodesic_angle
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_aa_to_matrix", "check_geodesic_angle"]


def _random_aa(n: int) -> torch.Tensor:
    axis = torch.nn.functional.normalize(torch.randn(n, 3, dtype=torch.float64), dim=-1)
    return axis * torch.rand(n, 1, dtype=torch.float64) * 3.0         # angles in [0, 3) rad


@exercise("00")
def check_aa_to_matrix(student_function) -> None:
    aa = _random_aa(16)
    ref = aa_to_matrix(aa)                                              # (16, 3, 3)
    out = call(student_function, aa)
    expect_shape(out, ref.shape, "for axis-angle of shape (16, 3)")
    out = out.to(torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(16, 3, 3)
    check_result(close(out @ out.transpose(1, 2), eye, atol=1e-5),
                 "your matrices are not orthonormal (R Rᵀ ≠ I): did you normalise the axis k = aa/|aa|?")
    check_result(bool((torch.det(out) > 0).all()), "det R = −1: that is a reflection, not a rotation")
    check_result(not close(out, ref.transpose(1, 2), atol=1e-5) or close(out, ref, atol=1e-5),
                 "you built Rᵀ: your rotation turns the wrong way (check the sign of the sin θ [k]× term)")
    check_result(close(out, ref, atol=1e-5),
                 "orthonormal, but not the rotation by |aa| about aa/|aa|: check the (1 − cos θ) [k]×² term")
    small = call(student_function, torch.zeros(2, 3, dtype=torch.float64)).to(torch.float64)
    check_result(bool(torch.isfinite(small).all()) and close(small, eye[:2], atol=1e-6),
                 "a zero axis-angle must give the identity (you divide by |aa| = 0: guard small angles)")
    expect_grad(student_function, aa)


@exercise("00")
def check_geodesic_angle(student_function) -> None:
    R1, R2 = aa_to_matrix(_random_aa(16)), aa_to_matrix(_random_aa(16))
    ref = geodesic_angle(R1, R2)                                        # (16,)
    out = call(student_function, R1, R2)
    expect_shape(out, ref.shape, "for two batches of (16, 3, 3) matrices")
    out = out.to(torch.float64)
    same = call(student_function, R1, R1).to(torch.float64)
    check_result(close(same, torch.zeros_like(same), atol=1e-3),
                 "the angle between a rotation and itself must be 0")
    swapped = call(student_function, R2, R1).to(torch.float64)
    check_result(close(out, swapped, atol=1e-5), "your angle is not symmetric: angle(R1, R2) ≠ angle(R2, R1)")
    check_result(bool((out >= -1e-6).all() and (out <= math.pi + 1e-6).all()),
                 "a rotation angle lies in [0, π]: are you returning cos θ or the trace?")
    check_result(not close(out, 2 * ref, atol=1e-4), "your angle is twice too large")
    check_result(not close(out, ref / 2, atol=1e-4), "your angle is half the geodesic angle (quaternion angle?)")
    check_result(close(out, ref, atol=1e-4),
                 "not the angle of R1ᵀ R2: use tr(R1ᵀ R2) = 1 + 2 cos θ (and clamp before arccos)")

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "00"
EXERCISES = [
    {"check": 'check_aa_to_matrix', "function": 'my_aa_to_matrix',
     "prompt": "Write **Rodrigues' formula**: the rotation matrix of an axis-angle vector $\\vec\\omega = \\theta \\hat k$ is $R = I + \\sin\\theta\\,[\\hat k]_\\times + (1-\\cos\\theta)\\,[\\hat k]_\\times^2$. Input: a batch of axis-angle vectors `(B, 3)`; output: `(B, 3, 3)`. Mind the zero rotation.",
     "stub": 'def my_aa_to_matrix(aa):\n    """(B, 3) axis-angle -> (B, 3, 3) rotation matrices."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_geodesic_angle', "function": 'my_geodesic_angle',
     "prompt": 'Write the **geodesic angle** between two batches of rotations `R1, R2` `(B, 3, 3)`: the angle of the relative rotation $R_1^\\top R_2$, in $[0, \\pi]$. Output `(B,)`.',
     "stub": 'def my_geodesic_angle(R1, R2):\n    """(B, 3, 3) x 2 -> (B,) angles in radians."""\n    # your code here\n    raise NotImplementedError'},
]

#: investigations (prompt and a runnable experiment) for tools/course_cells.py
INVESTIGATIONS = [
    {"title": "how many subjects does a prior need?",
     "prompt": "A prior can only know the poses it was shown. The cell below adds the training subjects one "
               "at a time and measures how far 200 validation poses (unseen people) lie from the training "
               "poses: the median Pose-NDF distance to their nearest training pose, with at most 4,000 "
               "training poses each time, so that the curve is about *who* is in the data rather than how many "
               "frames. Run it, then answer: (1) does the curve flatten, and at how many subjects? (2) which "
               "subject brings the largest drop, and what does it record (see the data card)? (3) set "
               "`order = subjects[::-1]`: is the end point the same, and the path? (4) replace `queries` by "
               "`syn[:200]` (the synthetic sampler): does more real data bring those poses closer?",
     "code": 'subjects = ds.subjects("train")\n'
             'order = subjects                           # change me: subjects[::-1], a shuffle, ...\n'
             'pick = torch.Generator().manual_seed(0)\n'
             'queries = ds.val[torch.randperm(len(ds.val), generator=pick)[:200]]\n'
             'who = ds.ids["train"]["subject"]\n'
             'median_d = []\n'
             'for n in range(1, len(order) + 1):\n'
             '    ref = ds.train[torch.from_numpy(np.isin(who, order[:n]))]\n'
             '    ref = ref[torch.randperm(len(ref), generator=pick)[:4000]]\n'
             '    median_d.append(float(nearest_pose_distance(queries, ref).median()))\n'
             'fig, ax = plt.subplots(figsize=(7, 3.2))\n'
             'ax.plot(range(1, len(order) + 1), median_d, "o-")\n'
             'ax.set_xticks(range(1, len(order) + 1), [f"+{s}" for s in order], rotation=60, fontsize=7)\n'
             'ax.set_xlabel("training subjects used (each tick adds one)")\n'
             'ax.set_ylabel("median d to nearest training pose")\n'
             'ax.set_title("How far unseen poses lie from the data as subjects are added")\n'
             'fig.tight_layout(); plt.show()\n'
             'print("median distance:", " -> ".join(f"{v:.3f}" for v in median_d))'},
]
