"""Chapter 08 (regression): what the keypoint regressor sees and how its camera becomes a translation.

- ``check_regressor_inputs``: keypoints (B,14,2) px, confidences (B,14), boxes (B,4) -> the network's input
  (B,42) = [(k − c)/b with unseen keypoints zeroed, confidences]; reference
  :func:`posekit.fitting.regress.regressor_inputs`.
- ``check_weak_perspective_camera``: a camera-frame translation -> the weak-perspective camera (s, t_x, t_y) in
  box units; reference :func:`posekit.fitting.regress.transl_to_camera` (and, independently, the perspective
  projection of the pelvis).
"""
from __future__ import annotations

import torch

from ..fitting.camera import perspective_projection
from ..fitting.regress import regressor_inputs, transl_to_camera
from ._core import call, check_result, close, exercise, expect_shape

__all__ = ["check_regressor_inputs", "check_weak_perspective_camera"]


def _boxes(B: int, g: torch.Generator) -> torch.Tensor:
    lo = 100 + 400 * torch.rand(B, 2, generator=g, dtype=torch.float64)
    side = 150 + 300 * torch.rand(B, 1, generator=g, dtype=torch.float64)
    wide = torch.cat([side, 0.6 * side], 1)                       # not square: b is the longer side
    return torch.cat([lo, lo + wide], 1)


@exercise("08")
def check_regressor_inputs(student_function) -> None:
    g = torch.Generator().manual_seed(0)
    B = 6
    boxes = _boxes(B, g)
    kp = boxes[:, None, :2] + (boxes[:, None, 2:] - boxes[:, None, :2]) * torch.rand(B, 14, 2, generator=g,
                                                                                       dtype=torch.float64)
    conf = (torch.rand(B, 14, generator=g, dtype=torch.float64) > 0.2).to(torch.float64)
    conf = conf * (0.5 + 0.5 * torch.rand(B, 14, generator=g, dtype=torch.float64))
    ref = regressor_inputs(kp, conf, boxes)
    out = call(student_function, kp, conf, boxes)
    expect_shape(out, ref.shape, f"for keypoints ({B}, 14, 2), confidences ({B}, 14) and boxes ({B}, 4)")
    out = out.to(torch.float64)
    check_result(close(out[:, 28:], ref[:, 28:]), "the last 14 numbers are the confidences, unchanged")
    xy = out[:, :28].reshape(B, 14, 2)
    check_result(bool((xy[conf <= 0] == 0).all()), "a keypoint with confidence 0 must become (0, 0)")
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    check_result(not close(out, regressor_inputs(kp - boxes[:, None, :2] + c[:, None], conf, boxes)),
                 "measure from the box's centre, not its corner")
    check_result(close(out, ref, atol=1e-6),
                 "divide by the box's longer side b (one number per box, so the body keeps its proportions), "
                 "and keep the (x, y) order of each keypoint")


@exercise("08")
def check_weak_perspective_camera(student_function) -> None:
    g = torch.Generator().manual_seed(1)
    B = 6
    root = 0.1 * torch.randn(B, 3, generator=g, dtype=torch.float64)
    transl = torch.cat([0.4 * torch.randn(B, 2, generator=g, dtype=torch.float64),
                        3 + 4 * torch.rand(B, 1, generator=g, dtype=torch.float64)], 1)
    f = 800 + 700 * torch.rand(B, generator=g, dtype=torch.float64)
    size = torch.tensor([[1200.0, 900.0]], dtype=torch.float64).expand(B, 2)
    boxes = _boxes(B, g)
    ref = transl_to_camera(transl, root, f, size, boxes)
    out = call(student_function, transl, root, f, size, boxes)
    expect_shape(out, ref.shape, f"for ({B}, 3) translations")
    out = out.to(torch.float64)
    check_result(not close(out[:, 0], f / ((boxes[:, 2:] - boxes[:, :2]).amax(-1) * transl[:, 2])),
                 "the scale uses the pelvis's depth D = T_z + J_0,z, not T_z alone")
    check_result(close(out[:, 0], ref[:, 0]), "the scale is s = f / (b D): b the box's longer side, D the pelvis's depth")
    # independent of the reference: the pelvis (at depth D) lands exactly at s·(J_0,xy + t) in box units
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    b = (boxes[:, 2:] - boxes[:, :2]).amax(-1)
    pelvis = (perspective_projection((root + transl)[:, None], f, 0.5 * size)[:, 0] - c) / b[:, None]
    check_result(close(out[:, :1] * (root[:, :2] + out[:, 1:]), pelvis, atol=1e-8),
                 "with your (s, t) the pelvis does not land where the camera sees it: "
                 "t = T_xy + (p − c)·D/f, p the principal point (image centre), c the box centre")

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "08"
EXERCISES = [
    {"check": 'check_regressor_inputs', "function": 'my_regressor_inputs',
     "prompt": "Write **the regressor's input**: from keypoints `kp` `(B, 14, 2)` px, confidences `conf` `(B, 14)` and boxes `(B, 4)` = (x0, y0, x1, y1) px, return `(B, 42)`: the 28 numbers $(k - c)/b$ (box centre $c$, the box's longer side $b$; a keypoint with confidence 0 becomes (0, 0)), keypoint by keypoint as (x, y), then the 14 confidences.",
     "stub": 'def my_regressor_inputs(kp, conf, boxes):\n    """(B, 14, 2), (B, 14), (B, 4) -> (B, 42)."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_weak_perspective_camera', "function": 'my_weak_perspective_camera',
     "prompt": "Write **the weak-perspective camera** the regressor predicts, from a camera-frame translation `transl` `(B, 3)`, the pelvis `root` $J_0(\\beta)$ `(B, 3)`, focal lengths `f` `(B,)`, image sizes `size` `(B, 2)` (width, height; principal point $p$ at the centre) and boxes `(B, 4)`: with the pelvis depth $D = T_z + J_{0,z}$, return $(s, t_x, t_y)$ with $s = f/(bD)$ and $t = T_{xy} + (p - c)\\,D/f$, so that the pelvis lands at $s\\,(J_{0,xy} + t)$ in box units.",
     "stub": 'def my_weak_perspective_camera(transl, root, f, size, boxes):\n    """(B, 3), (B, 3), (B,), (B, 2), (B, 4) -> (B, 3)."""\n    # your code here\n    raise NotImplementedError'},
]
