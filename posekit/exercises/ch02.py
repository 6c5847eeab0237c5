"""Chapter 02 (SMPLify): the robust data term and the mixture pose prior.

- ``check_geman_mcclure``: ρ(r) = σ² ‖r‖² / (σ² + ‖r‖²) for residuals (..., 2) -> (...);
  reference :func:`posekit.fitting.losses.geman_mcclure`.
- ``check_max_mixture_energy``: min_j −log(c g_j N(θ; μ_j, Σ_j)) with c = (2π)^{d/2} sqrt(min_j det Σ_j)
  for poses (B, 63) and a mixture (means (K, 63), covariances (K, 63, 63), weights (K,)) -> (B,);
  reference :meth:`posekit.priors.gmm.GMMPrior.energy` with ``approx="max"``.
"""
from __future__ import annotations

import torch

from ..fitting.losses import geman_mcclure
from ..priors.gmm import GMMPrior
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_geman_mcclure", "check_max_mixture_energy"]


@exercise("02")
def check_geman_mcclure(student_function) -> None:
    sigma = 100.0
    r = torch.randn(4, 24, 2, dtype=torch.float64) * 150
    ref = geman_mcclure(r, sigma)                                            # (4, 24)
    out = call(student_function, r, sigma)
    check_result(out.numel() != 1 and tuple(out.shape) != (4,),
                 "return one cost per point (shape (..., ) without the last axis), not a sum")
    expect_shape(out, ref.shape, "for residuals (4, 24, 2)")
    huge = torch.tensor([[1e6, 0.0]], dtype=torch.float64)
    h = call(student_function, huge, sigma).to(torch.float64)
    check_result(not close(h, torch.tensor([1.0], dtype=torch.float64), rtol=1e-3),
                 "your cost saturates at 1: the Geman-McClure cost saturates at σ² (multiply by σ²)")
    tiny = torch.tensor([[0.3, -0.4]], dtype=torch.float64)                 # ‖r‖² = 0.25 ≪ σ²
    t = call(student_function, tiny, sigma).to(torch.float64)
    check_result(close(t, torch.tensor([0.25], dtype=torch.float64), rtol=1e-3),
                 "for a small residual ρ(r) ≈ ‖r‖² (quadratic): check that you use the squared norm")
    check_result(close(h, torch.tensor([sigma ** 2], dtype=torch.float64), rtol=1e-3),
                 "an outlier's cost must saturate at σ², whatever its size")
    check_result(close(out.to(torch.float64), ref, rtol=1e-6),
                 "right at the extremes, wrong in between: ρ = σ² ‖r‖² / (σ² + ‖r‖²)")
    other = call(student_function, r, 20.0).to(torch.float64)
    check_result(close(other, geman_mcclure(r, 20.0), rtol=1e-6), "your cost ignores the σ argument")
    expect_grad(lambda x: student_function(x, sigma), r)


def _mixture(k: int = 4, d: int = 63):
    means = torch.randn(k, d, dtype=torch.float64) * 0.5
    A = torch.randn(k, d, d, dtype=torch.float64) * 0.1
    scales = torch.tensor([0.05, 0.1, 0.2, 0.4], dtype=torch.float64)[:k]
    cov = A @ A.transpose(1, 2) + scales[:, None, None] * torch.eye(d, dtype=torch.float64)
    weights = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)[:k]
    return means, cov, weights


@exercise("02")
def check_max_mixture_energy(student_function) -> None:
    means, cov, weights = _mixture()
    gmm = GMMPrior(means.numpy(), cov.numpy(), weights.numpy(), device="cpu", dtype=torch.float64)
    # poses near each component, and one far away
    theta = torch.cat([means + 0.1 * torch.randn_like(means), 0.5 * (means[:2] + means[2:]),
                       2 * torch.randn(2, 63, dtype=torch.float64)])
    ref = gmm.energy(theta, approx="max")                                   # (8,)
    out = call(student_function, theta, means, cov, weights)
    expect_shape(out, ref.shape, "for 8 poses (8, 63) and a mixture of 4")
    out = out.to(torch.float64)
    if close(out, ref, rtol=1e-5, atol=1e-4):
        return
    exact = gmm.energy(theta, approx=None)
    centred = lambda e: e - e.mean()
    check_result(not close(centred(out), centred(exact), rtol=1e-5, atol=1e-4),
                 "this is the exact −log Σ_j g_j N_j: the max-mixture takes the min over components")
    check_result(not close(centred(out), centred(ref), atol=1e-4),
                 "right up to a constant: check the normaliser c = (2π)^{d/2} sqrt(min_j det Σ_j)")
    mahal = gmm.mahalanobis(theta)
    no_w = (mahal + 0.5 * (gmm.logdet - gmm.logdet.min())).min(-1).values
    check_result(not close(centred(out), centred(no_w), rtol=1e-5, atol=1e-4),
                 "you left out the mixture weights: −log g_j")
    no_det = (mahal - gmm.log_weights).min(-1).values
    check_result(not close(centred(out), centred(no_det), rtol=1e-5, atol=1e-4),
                 "you left out ½ log det Σ_j (components with a wider covariance cost more)")
    check_result(False, "not min_j [½ (θ−μ_j)ᵀ Σ_j⁻¹ (θ−μ_j) + ½ log(det Σ_j / min det Σ) − log g_j]: check the ½ "
                 "and that you use the inverse covariance")

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "02"
EXERCISES = [
    {"check": 'check_geman_mcclure', "function": 'geman_mcclure',
     "prompt": 'Write the **Geman-McClure** robust cost of 2D residuals `r` `(..., 2)` in pixels: $\\rho(r) = \\dfrac{\\sigma^2 \\lVert r\\rVert^2}{\\sigma^2 + \\lVert r\\rVert^2}$, one value per point `(...)`.',
     "stub": 'def geman_mcclure(residual, sigma):\n    """(..., 2) residuals, sigma in px -> (...) costs."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_max_mixture_energy', "function": 'max_mixture_energy',
     "prompt": "Write SMPLify's **max-mixture** pose prior energy for poses `theta` `(B, 63)` and a mixture (`means` `(K, 63)`, `covariances` `(K, 63, 63)`, `weights` `(K,)`): $E(\\theta) = \\min_j \\big[\\tfrac12 (\\theta-\\mu_j)^\\top \\Sigma_j^{-1} (\\theta-\\mu_j) + \\tfrac12 \\log\\frac{\\det\\Sigma_j}{\\min_k \\det\\Sigma_k} - \\log g_j\\big]$, i.e. $\\min_j -\\log(c\\, g_j\\, \\mathcal N(\\theta;\\mu_j,\\Sigma_j))$ with $c = (2\\pi)^{d/2}\\sqrt{\\min_k\\det\\Sigma_k}$. Output `(B,)`.",
     "stub": 'def max_mixture_energy(theta, means, covariances, weights):\n    """(B, 63), (K, 63), (K, 63, 63), (K,) -> (B,)."""\n    # your code here\n    raise NotImplementedError'},
]
