"""Chapter 07 (your own prior): a distance between poses that respects rotations, and a smooth density prior.

- ``check_chordal_distance``: Σ_j ‖R_j(a) − R_j(b)‖²_F between every pose of a batch and every pose of a bank,
  (B, 21, 3) × (N, 21, 3) -> (B, N); reference: the closed form 8 sin²(φ_j / 2) of the geodesic angle φ_j
  between the two rotations (from :mod:`scipy.spatial.transform`).
- ``check_kde_energy``: the energy of a Gaussian kernel density over a bank of poses,
  E(θ) = −log (1/N) Σ_i exp(−d²(θ, θ_i) / 2h²), (B, 21, 3) -> (B,); reference: ``scipy.special.logsumexp``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from scipy.special import logsumexp

from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_chordal_distance", "check_kde_energy"]


def _geodesic_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ_j 8 sin²(φ_j / 2), φ_j the angle of R_j(a)ᵀ R_j(b), for every pair: (B, J, 3) × (N, J, 3) -> (B, N)."""
    A, Bn = a.detach().double().numpy(), b.detach().double().numpy()
    out = np.zeros((len(A), len(Bn)))
    for i in range(len(A)):
        for k in range(len(Bn)):
            rel = Rotation.from_rotvec(A[i]).inv() * Rotation.from_rotvec(Bn[k])
            phi = np.linalg.norm(rel.as_rotvec(), axis=-1)
            out[i, k] = (8.0 * np.sin(phi / 2.0) ** 2).sum()
    return torch.from_numpy(out)


def _kde_reference(x: torch.Tensor, bank: torch.Tensor, h: float) -> torch.Tensor:
    d2 = _geodesic_reference(x, bank).numpy()                               # (B, N)
    return torch.from_numpy(-(logsumexp(-d2 / (2 * h * h), axis=1) - math.log(d2.shape[1])))


def _poses(n: int, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, 21, 3, generator=g, dtype=torch.float64)


@exercise("07")
def check_chordal_distance(student_function) -> None:
    a, b = _poses(3, 0.6, 0), _poses(5, 0.6, 1)
    ref = _geodesic_reference(a, b)
    out = call(student_function, a, b)
    expect_shape(out, ref.shape, "for 3 poses against a bank of 5")
    out = out.to(torch.float64)
    naive = torch.cdist(a.reshape(3, -1), b.reshape(5, -1)).pow(2)
    check_result(not close(out, naive), "that is the distance between axis-angle vectors: compare rotation "
                                        "matrices instead (roma.rotvec_to_rotmat), flattened")
    check_result(close(out, ref), "Σ over the 21 joints of ‖R_j(a) − R_j(b)‖² (the squared Frobenius norm of the "
                                  "difference of the rotation matrices), for every pair (a, b)")
    # the same rotation written two ways (θ and θ − 2π θ/|θ|) is at distance 0: axis-angle distances miss this
    theta = a[:1]
    wrapped = theta - 2 * math.pi * theta / theta.norm(dim=-1, keepdim=True)
    same = call(student_function, theta, wrapped).to(torch.float64)
    check_result(close(same, torch.zeros(1, 1, dtype=torch.float64), atol=1e-8),
                 "a rotation by φ about u and by φ − 2π about u are the same rotation: their distance must be 0")
    expect_grad(lambda x: student_function(x, b), a)


@exercise("07")
def check_kde_energy(student_function) -> None:
    x, bank, h = _poses(4, 0.5, 2), _poses(6, 0.5, 3), 0.7
    ref = _kde_reference(x, bank, h)
    out = call(student_function, x, bank, h)
    check_result(out.numel() != 1, "return one energy per pose (B,), not the batch mean")
    expect_shape(out, ref.shape, "for 4 poses and a bank of 6")
    out = out.to(torch.float64)
    check_result(not close(out, ref - math.log(6)) or close(ref, ref - math.log(6)),
                 "average the kernels over the bank (divide by N inside the log), do not sum them")
    check_result(close(out, ref), "E(θ) = −log (1/N) Σ_i exp(−d²(θ, θ_i) / 2h²) with d² the chordal distance "
                                  "of exercise 1")
    far = call(student_function, x + 2.5, bank, 0.05).to(torch.float64)     # every kernel underflows to 0
    check_result(bool(torch.isfinite(far).all()), "far from every bank pose with a narrow kernel the energy is inf: "
                                                  "compute −log Σ exp(·) with torch.logsumexp, not exp then log")
    check_result(close(far, _kde_reference(x + 2.5, bank, 0.05), rtol=1e-6),
                 "far from the bank the energy is wrong: use torch.logsumexp over the bank")
    expect_grad(lambda p: student_function(p, bank, h), x)


#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "07"
EXERCISES = [
    {"check": "check_chordal_distance", "function": "my_chordal_distance",
     "prompt": "Write the **chordal distance** between every pose of a batch `a` `(B, 21, 3)` and every pose of a "
               "bank `b` `(N, 21, 3)` (axis-angle): Σ_j ‖R_j(a) − R_j(b)‖²_F, the squared Frobenius norm of the "
               "difference of the joints' rotation matrices, summed over the 21 joints → `(B, N)`. "
               "(`roma.rotvec_to_rotmat` and `torch.cdist` do most of the work.) It equals Σ_j 8 sin²(φ_j/2) with "
               "φ_j the angle between the two rotations, and unlike a distance between axis-angle vectors it does "
               "not care how a rotation is written.",
     "stub": 'def my_chordal_distance(a, b):\n    """(B, 21, 3) x (N, 21, 3) axis-angle -> (B, N)."""\n'
             '    # your code here\n    raise NotImplementedError'},
    {"check": "check_kde_energy", "function": "my_kde_energy",
     "prompt": "Write the energy of a **Gaussian kernel density** over a bank of poses, "
               "E(θ) = −log (1/N) Σ_i exp(−d²(θ, θ_i) / 2h²), with d² your chordal distance: `(B, 21, 3)`, bank "
               "`(N, 21, 3)`, bandwidth `h` → `(B,)`. Unlike the k-NN energy it is smooth everywhere: every bank "
               "pose pulls, the nearer ones harder. Keep it finite far from the bank.",
     "stub": 'def my_kde_energy(body21, bank, h):\n    """(B, 21, 3), (N, 21, 3), float -> (B,)."""\n'
             '    # your code here\n    raise NotImplementedError'},
]

#: investigations (prompt and a runnable experiment) for tools/course_cells.py
INVESTIGATIONS = [
    {"title": "which prior tells real poses from perturbed ones?",
     "prompt": "A prior's first job is to give real poses a lower energy than implausible ones. The cell below "
               "perturbs the test poses with axis-angle noise of growing size and measures, for each prior, the "
               "share of poses whose perturbed copy gets the higher energy (0.5: no better than a coin). It uses "
               "your `my_kde_energy` when you have written it. Run it, then answer: (1) which prior separates small "
               "perturbations best, and which needs large ones? (2) the k-NN and the kernel density only know the "
               "bank's poses: what happens to a test pose unlike any of them (try `k = 1`, or a smaller bank)? "
               "(3) does separating perturbed poses well predict a good denoising result in the table above? "
               "Why might it not?",
     "code": 'sigmas, k = (0.02, 0.05, 0.1, 0.2, 0.4), 4                  # change me\n'
             'scorers = {"k-NN": KNNPrior(bank, k=k), **{registry.label(m): load_prior(m, None, verbose=False)\n'
             '                                            for m in registry.pose_prior_names()}}\n'
             'try:\n'
             '    my_kde_energy(test[:2], bank[:3], 0.5)\n'
             '    scorers["your kernel density"] = type("KDE", (), {"energy": lambda self, x: my_kde_energy(x, bank, 0.5)})()\n'
             'except NotImplementedError:\n'
             '    pass\n'
             'probe = test[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:300]]\n'
             'fig, ax = plt.subplots(figsize=(6.5, 3.4))\n'
             'for name, prior in scorers.items():\n'
             '    acc = []\n'
             '    for s in sigmas:\n'
             '        noisy = probe + s * torch.randn(probe.shape, generator=torch.Generator().manual_seed(1))\n'
             '        with torch.no_grad():\n'
             '            acc.append(float((prior.energy(noisy) > prior.energy(probe)).float().mean()))\n'
             '    ax.plot(sigmas, acc, "o-", label=name)\n'
             'ax.axhline(0.5, color="0.6", ls="--", label="a coin")\n'
             'ax.set_xscale("log"); ax.set_xlabel("perturbation σ (rad, per axis-angle component)")\n'
             'ax.set_ylabel("share ranked correctly"); ax.set_title("Real vs perturbed test poses")\n'
             'ax.legend(fontsize=7); plt.tight_layout(); plt.show()'},
]
