"""Chapter 02b (SMPLify on a photo): the detector-to-LSP mapping and the camera from EXIF.

- ``check_neck_and_head_top``: LSP's neck and head top from MediaPipe's shoulders and ears,
  (B,2,2) × 2 -> (B,2,2); reference :func:`posekit.photo.detect.mediapipe_to_lsp`;
- ``check_focal_from_35mm``: a 35 mm-equivalent focal length (mm) -> pixels, (B,) × 3 -> (B,);
  reference :func:`posekit.photo.camera.focal_from_35mm`.
"""
from __future__ import annotations

import numpy as np
import torch

from ..photo.camera import focal_from_35mm
from ..photo.detect import MP_NAMES, mediapipe_to_lsp
from ._core import call, check_result, close, exercise, expect_shape

__all__ = ["check_neck_and_head_top", "check_focal_from_35mm"]

_I = {n: i for i, n in enumerate(MP_NAMES)}


def _reference_neck_head(shoulders, ears, neck_up, head_up):
    out = []
    for s, e in zip(shoulders.numpy(), ears.numpy()):
        lm = np.zeros((33, 2))
        lm[_I["left_shoulder"]], lm[_I["right_shoulder"]] = s
        lm[_I["left_ear"]], lm[_I["right_ear"]] = e
        kp, _ = mediapipe_to_lsp(lm, np.ones(33), neck_up=neck_up, head_up=head_up)
        out.append(kp[[12, 13]])
    return torch.as_tensor(np.stack(out))


@exercise("02b")
def check_neck_and_head_top(student_function) -> None:
    B = 6
    mid = torch.rand(B, 2, dtype=torch.float64) * 400 + 100
    shoulders = mid[:, None] + torch.tensor([[60.0, 0.0], [-60.0, 0.0]], dtype=torch.float64) \
        + 5 * torch.randn(B, 2, 2, dtype=torch.float64)
    ears = mid[:, None] + torch.tensor([[15.0, -60.0], [-15.0, -60.0]], dtype=torch.float64) \
        + 5 * torch.randn(B, 2, 2, dtype=torch.float64)
    neck_up, head_up = 0.3, 0.7
    ref = _reference_neck_head(shoulders, ears, neck_up, head_up)           # (B,2,2)
    out = call(student_function, shoulders, ears, neck_up, head_up)
    expect_shape(out, ref.shape, "for 6 people")
    out = out.to(torch.float64)
    if close(out, ref, atol=1e-6):
        other = call(student_function, shoulders, ears, 0.1, 0.9).to(torch.float64)
        check_result(close(other, _reference_neck_head(shoulders, ears, 0.1, 0.9), atol=1e-6),
                     "your function ignores its neck_up / head_up arguments")
        return
    m_s, m_e = shoulders.mean(1), ears.mean(1)
    check_result(not close(out[:, 0], m_s, atol=1e-6),
                 "the neck is not the shoulder midpoint itself: move it NECK_UP of the way towards the ears")
    check_result(not close(out[:, 1], m_s + head_up * (m_e - m_s), atol=1e-6),
                 "the head top starts from the ears' midpoint, not from the shoulders")
    check_result(not close(out[:, 1], out[:, 0] + head_up * (m_e - out[:, 0]), atol=1e-6),
                 "the head top lies beyond the ears (extrapolate: m_e + HEAD_UP (m_e − m_s))")
    check_result(close(out[:, 0], ref[:, 0], atol=1e-6),
                 "the neck is wrong: neck = m_s + NECK_UP (m_e − m_s), m_s and m_e the shoulder and ear midpoints")
    check_result(False, "the neck is right, the head top is not: top = m_e + HEAD_UP (m_e − m_s) (image y points down, "
                 "so the head top has the smaller y)")


@exercise("02b")
def check_focal_from_35mm(student_function) -> None:
    f35 = torch.tensor([24.0, 26.0, 50.0, 85.0, 28.0], dtype=torch.float64)
    width = torch.tensor([4032.0, 3000.0, 6000.0, 1600.0, 1080.0], dtype=torch.float64)
    height = torch.tensor([3024.0, 4000.0, 4000.0, 900.0, 1920.0], dtype=torch.float64)
    ref = torch.tensor([focal_from_35mm(a, w, h) for a, w, h in zip(f35.tolist(), width.tolist(), height.tolist())],
                       dtype=torch.float64)
    out = call(student_function, f35, width, height)
    expect_shape(out, ref.shape, "for 5 photos")
    out = out.to(torch.float64)
    if close(out, ref, rtol=1e-6):
        return
    by_width = f35 * width / 36.0
    check_result(not close(out, by_width, rtol=1e-6),
                 "f35 · W / 36 is right only for a 3:2 landscape photo: the 35 mm equivalent is defined on the "
                 "diagonal (√(36² + 24²) mm ↔ √(W² + H²) px)")
    check_result(not close(out, f35 * torch.maximum(width, height) / 36.0, rtol=1e-6),
                 "the long side over 36 mm is right only at 3:2: use the diagonals")
    check_result(not close(out, ref * 36.0 / 24.0, rtol=1e-3) and not close(out, ref * 24.0 / 36.0, rtol=1e-3),
                 "the full frame is 36 × 24 mm: check the millimetre side of the ratio")
    check_result(False, "f_px = f35 · √(W² + H²) / √(36² + 24²)")

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "02b"
EXERCISES = [
    {"check": "check_neck_and_head_top", "function": "neck_and_head_top",
     "prompt": "Write LSP's **neck and head top** from MediaPipe's landmarks: `shoulders` `(B, 2, 2)` and `ears` "
               "`(B, 2, 2)` (left, right; image pixels, y down) -> `(B, 2, 2)` = (neck, head top) per person, with "
               "$m_s$, $m_e$ the shoulder and ear midpoints: neck $= m_s + a\\,(m_e - m_s)$, head top "
               "$= m_e + b\\,(m_e - m_s)$, $a$ = `neck_up`, $b$ = `head_up`.",
     "stub": 'def neck_and_head_top(shoulders, ears, neck_up, head_up):\n    """(B, 2, 2), (B, 2, 2), floats -> (B, 2, 2): neck, head top."""\n    # your code here\n    raise NotImplementedError'},
    {"check": "check_focal_from_35mm", "function": "focal_from_35mm",
     "prompt": "Write the **focal length in pixels** of a `width` × `height` px photo from its EXIF "
               "`FocalLengthIn35mmFilm` `f35` (mm): the focal length that would give a 36 × 24 mm frame the same "
               "(diagonal) field of view. Inputs `(B,)` each, output `(B,)`.",
     "stub": 'def focal_from_35mm(f35, width, height):\n    """(B,) mm, (B,) px, (B,) px -> (B,) px."""\n    # your code here\n    raise NotImplementedError'},
]
