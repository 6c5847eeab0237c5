"""Chapter 03 (VPoser): the KL term and the 6D rotation representation.

- ``check_kl_divergence``: KL(N(μ, σ²) ‖ N(0, I)) summed over latent dims, (B, D) × 2 -> (B,);
  reference :func:`posekit.priors.vposer.kl_divergence` (σ is the standard deviation).
- ``check_gram_schmidt_6d``: 6 numbers (..., 6), read as a 3x2 matrix [a1 a2] (row-major) -> R (..., 3, 3)
  with columns b1, b2, b3; reference :func:`posekit.priors.vposer.gram_schmidt_6d`.
"""
from __future__ import annotations

import torch

from ..priors.vposer import gram_schmidt_6d, kl_divergence
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_kl_divergence", "check_gram_schmidt_6d"]


@exercise("03")
def check_kl_divergence(student_function) -> None:
    B, D = 8, 32
    mu = torch.randn(B, D, dtype=torch.float64)
    sigma = torch.rand(B, D, dtype=torch.float64) * 1.5 + 0.2
    ref = kl_divergence(mu, sigma)
    out = call(student_function, mu, sigma)
    check_result(out.numel() != 1, "return one KL per sample (B,), not the batch mean or sum")
    check_result(tuple(out.shape) != (B, D), "sum the KL over the latent dimensions: expected (B,), got (B, D)")
    expect_shape(out, ref.shape, f"for μ, σ of shape ({B}, {D})")
    out = out.to(torch.float64)
    zero = call(student_function, torch.zeros(2, D, dtype=torch.float64), torch.ones(2, D, dtype=torch.float64))
    check_result(close(zero.to(torch.float64), torch.zeros(2, dtype=torch.float64), atol=1e-8),
                 "KL(N(0, I) ‖ N(0, I)) must be 0")
    check_result(not close(out, 0.5 * (sigma + mu ** 2 - 1 - torch.log(sigma)).sum(-1)),
                 "you treated σ as the variance: σ is the standard deviation (use σ² and log σ² = 2 log σ)")
    check_result(not close(out, ref / D), "sum over the latent dimensions, do not average")
    check_result(not close(out, 2 * ref), "your KL is twice too large: check the ½")
    check_result(close(out, ref), "check each term of ½ Σ (σ² + μ² − 1 − log σ²)")
    expect_grad(lambda s: student_function(mu, s), sigma)


@exercise("03")
def check_gram_schmidt_6d(student_function) -> None:
    x6 = torch.randn(10, 6, dtype=torch.float64)
    ref = gram_schmidt_6d(x6)
    out = call(student_function, x6)
    expect_shape(out, ref.shape, "for input (10, 6)")
    out = out.to(torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(10, 3, 3)
    check_result(close(out.transpose(1, 2) @ out, eye, atol=1e-6),
                 "your matrices are not orthonormal: normalise b1, remove b1's component from a2, normalise b2")
    check_result(bool((torch.det(out) > 0).all()), "det R = −1: b3 = b1 × b2 (not b2 × b1)")
    check_result(not close(out, ref.transpose(1, 2), atol=1e-6), "b1, b2, b3 are the columns of R, not its rows")
    a = x6.reshape(10, 3, 2)
    check_result(close(out[..., 0], torch.nn.functional.normalize(a[..., 0], dim=-1), atol=1e-6),
                 "the first column must be a1/|a1|, with [a1 a2] = x6 read as a 3x2 matrix (x6.reshape(-1, 3, 2))")
    check_result(close(out, ref, atol=1e-6), "b1 is right; check b2 = normalise(a2 − (b1·a2) b1)")
    scaled = call(student_function, 3.0 * x6).to(torch.float64)
    check_result(close(scaled, out, atol=1e-6), "scaling the 6 numbers must not change the rotation")
    expect_grad(student_function, x6)

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "03"
EXERCISES = [
    {"check": 'check_kl_divergence', "function": 'kl_divergence',
     "prompt": "Write VPoser's **KL term** $\\mathrm{KL}(\\mathcal N(\\mu, \\sigma^2)\\,\\Vert\\,\\mathcal N(0, I))$ for an encoder output `mu`, `sigma` `(B, D)` (σ is the standard deviation), summed over the latent dimensions: output `(B,)`.",
     "stub": 'def kl_divergence(mu, sigma):\n    """(B, D) x 2 -> (B,)."""\n    # your code here\n    raise NotImplementedError'},
    {"check": 'check_gram_schmidt_6d', "function": 'gram_schmidt_6d',
     "prompt": 'Write the **6D → rotation** map (Gram–Schmidt): read the 6 numbers as a 3×2 matrix $[a_1\\ a_2]$ (`x6.reshape(-1, 3, 2)`), then $b_1 = a_1/\\lVert a_1\\rVert$, $b_2 = $ the normalised part of $a_2$ orthogonal to $b_1$, $b_3 = b_1 \\times b_2$; $R = [b_1\\ b_2\\ b_3]$ (columns). `(..., 6)` → `(..., 3, 3)`.',
     "stub": 'def gram_schmidt_6d(x6):\n    """(..., 6) -> (..., 3, 3)."""\n    # your code here\n    raise NotImplementedError'},
]
