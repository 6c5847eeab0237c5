"""Chapter 03b (SMPLify-X): the hand-PCA pose and the part-weighted robust keypoint term.

- ``check_hand_pca_pose``: hand-PCA coefficients (B, C), components (C, 45), mean (45,) -> the hand's 15
  joint rotations (B, 15, 3) axis-angle, θ_h = mean + Σ_c m_c · component_c (smplx's ``use_pca`` hands);
  reference: the open SMPL-X model's own forward (``left_hand_components``, ``left_hand_mean``).
- ``check_keypoint_energy``: E_J = Σ_i γ_i w_i ρ_σ(Π(J_i) − J_est,i) with Geman–McClure's
  ρ_σ(r) = σ² ‖r‖² / (σ² + ‖r‖²); reference :func:`posekit.fitting.smplifyx.keypoint_energy`.
"""
from __future__ import annotations

import torch

from ..fitting.smplifyx import keypoint_energy
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_hand_pca_pose", "check_keypoint_energy"]


@exercise("03b")
def check_hand_pca_pose(student_function) -> None:
    g = torch.Generator().manual_seed(0)
    C = 12
    comps = torch.linalg.qr(torch.randn(45, 45, generator=g, dtype=torch.float64))[0][:C]   # (C,45) orthonormal rows
    mean = 0.3 * torch.randn(45, generator=g, dtype=torch.float64)
    m = torch.randn(5, C, generator=g, dtype=torch.float64)
    ref = (m @ comps + mean).reshape(5, 15, 3)
    out = call(student_function, m, comps, mean)
    expect_shape(out, ref.shape, f"for coefficients (5, {C})")
    out = out.to(torch.float64)
    check_result(not close(out, (m @ comps).reshape(5, 15, 3)), "add the mean hand pose: coefficients 0 = the mean hand")
    check_result(not close(out, (m @ comps + mean).reshape(5, 3, 15).transpose(1, 2)),
                 "reshape the 45 numbers as 15 joints × 3 (joint-major), not 3 × 15")
    check_result(close(out, ref), "θ = mean + m @ components: one row of components per coefficient")
    expect_grad(lambda x: student_function(x, comps, mean), m)


@exercise("03b")
def check_keypoint_energy(student_function) -> None:
    g = torch.Generator().manual_seed(1)
    proj = 80 * torch.randn(4, 9, 2, generator=g, dtype=torch.float64)
    kp = proj + 60 * torch.randn(4, 9, 2, generator=g, dtype=torch.float64)
    conf = torch.rand(4, 9, generator=g, dtype=torch.float64)
    gamma = torch.rand(9, generator=g, dtype=torch.float64) * 4
    sigma = 100.0
    ref = keypoint_energy(proj, kp, conf, gamma, sigma)
    out = call(student_function, proj, kp, conf, gamma, sigma)
    check_result(out.numel() != 1, "return one energy per view (B,), not a batch sum")
    expect_shape(out, ref.shape, "for 4 views of 9 keypoints")
    out = out.to(torch.float64)
    check_result(not close(out, keypoint_energy(proj, kp, conf, torch.ones(9, dtype=torch.float64), sigma)),
                 "weight each keypoint by its part weight γ too, not only by its confidence")
    sq = ((proj - kp) ** 2).sum(-1)
    check_result(not close(out, (conf * gamma * sq).sum(-1)), "robustify: ρ(r) = σ²‖r‖²/(σ²+‖r‖²), not ‖r‖²")
    check_result(close(out, ref), "check ρ per keypoint on the squared norm of its 2D residual, then the weighted sum")
    expect_grad(lambda p: student_function(p, kp, conf, gamma, sigma), proj)


#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "03b"
EXERCISES = [
    {"check": 'check_hand_pca_pose', "function": 'hand_pca_pose',
     "prompt": "Write the **hand pose from PCA coefficients**: $\\theta_h = \\bar\\theta_h + \\sum_c m_c\\,P_c$ for coefficients `m` `(B, C)`, components `P` `(C, 45)` and the mean hand `mean` `(45,)`, returned as 15 joint rotations `(B, 15, 3)` axis-angle.",
     "stub": 'def hand_pca_pose(m, components, mean):\n    """(B, C), (C, 45), (45,) -> (B, 15, 3)."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_keypoint_energy', "function": 'keypoint_energy',
     "prompt": "Write SMPLify-X's **data term** $E_J = \\sum_i \\gamma_i w_i\\,\\rho_\\sigma(\\Pi(J_i) - \\hat J_i)$ with Geman–McClure's $\\rho_\\sigma(r) = \\sigma^2\\lVert r\\rVert^2/(\\sigma^2 + \\lVert r\\rVert^2)$: `projected`, `keypoints` `(B, K, 2)`, confidences `w` `(B, K)`, part weights `gamma` `(K,)`, `sigma` in pixels → `(B,)`.",
     "stub": 'def keypoint_energy(projected, keypoints, w, gamma, sigma):\n    """(B, K, 2) x 2, (B, K), (K,), float -> (B,)."""\n    # your code here\n    raise NotImplementedError'},
]
