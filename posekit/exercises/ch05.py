"""Chapter 05 (experiments): the errors the tables report.

- ``check_mpjpe``: mean per-joint position error, (B, N, 3) × 2 -> (B,);
  reference :func:`posekit.fitting.metrics.mean_point_error`.
- ``check_procrustes_align``: the similarity transform s R X + t closest to Y, applied to X
  (B, N, 3) -> (B, N, 3), no reflections; reference :func:`posekit.fitting.metrics.procrustes_align`.
- ``check_paired_ci``: the mean of paired differences a − b and its 95 % percentile-bootstrap interval,
  (n,) × 2 -> (3,) [mean, low, high]; reference :func:`posekit.experiments.verdicts.paired_difference`
  (``scipy.stats.bootstrap``), within the Monte-Carlo noise of a bootstrap.
"""
from __future__ import annotations

import torch

from ..fitting.metrics import mean_point_error, procrustes_align
from ..rotations import aa_to_matrix
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_mpjpe", "check_procrustes_align", "check_paired_ci"]


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

@exercise("05")
def check_paired_ci(student_function) -> None:
    import numpy as np

    from ..experiments.verdicts import paired_difference

    g = torch.Generator().manual_seed(5)
    n = 60
    base = 5.0 + 3.0 * torch.rand(n, generator=g, dtype=torch.float64)          # clips of varying difficulty
    a = base + 0.4 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)      # method A, same clips
    b = base
    ref = paired_difference(a.numpy(), b.numpy(), n_resamples=20000)
    out = call(student_function, a, b)
    expect_shape(out, (3,), "for paired errors (60,) × 2: [mean, low, high]")
    mean, lo, hi = (float(x) for x in out.to(torch.float64))
    check_result(abs(mean - ref.mean) < 1e-9, "the first number is the mean of the differences a − b")
    check_result(lo < mean < hi, "the interval must contain the mean: [low, high] with low < high")
    width, ref_width = hi - lo, ref.hi - ref.lo
    check_result(width < 3 * ref_width, "your interval is far too wide: the bootstrap resamples the n differences "
                                        "with replacement and takes the mean of each resample, not single values")
    unpaired = paired_difference(a.numpy(), b.numpy()[np.random.default_rng(0).permutation(n)], n_resamples=4000)
    check_result(width < 0.5 * (ref_width + (unpaired.hi - unpaired.lo)),
                 "your interval is as wide as an unpaired one: resample the differences (pairs stay together), "
                 "not a and b separately")
    check_result(width > 0.5 * ref_width, "your interval is too narrow: resample n values each time, with replacement")
    check_result(abs(lo - ref.lo) < 0.15 * ref_width and abs(hi - ref.hi) < 0.15 * ref_width,
                 "the bounds should be the 2.5 % and 97.5 % quantiles of the resampled means")


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
EXERCISES.append(
    {"check": 'check_paired_ci', "function": 'my_paired_ci',
     "prompt": 'Write the **paired bootstrap interval** behind every verdict of this chapter: given the errors `a`, `b` `(n,)` '
               'of two methods on the same n clips, return `[mean, low, high]` `(3,)`: the mean of d = a − b and the '
               '2.5 % and 97.5 % quantiles of the means of many resamples (with replacement) of the n differences.',
     "stub": 'def my_paired_ci(a, b, resamples=10000):\n    """(n,) x 2 -> (3,) [mean of a - b, low, high]."""\n'
             '    # your code here\n    raise NotImplementedError'})

INVESTIGATIONS = [
    {"title": "how many clips does a conclusion need?",
     "prompt": "The record's verdicts use 16 clips per setting. The cell below takes the record's per-clip errors of "
               "Pose-NDF and VPoser in one denoising setting, keeps only the first k clips, and draws the paired "
               "difference with its 95 % interval for each k. Run it, then answer: (1) from how many clips on does "
               "the interval stop crossing 0, if at all? (2) the interval shrinks roughly like 1/√k: how many clips "
               "would halve it? (3) pick another noise level (`setting = \"sigma=0.5,frames=60\"`) or another pair "
               "(`a, b = \"vposer\", \"none\"`): which conclusions would a 2-clip run (as the live demo) have got wrong?",
     "code": 'from posekit.experiments.record import load_record\n'
             'from posekit.experiments.record_view import values_of\n'
             'from posekit.experiments.verdicts import paired_difference\n'
             'import matplotlib.pyplot as plt\n\n'
             'vals = values_of(load_record()["rows"], "denoise", "v2v_cm")\n'
             'setting, (a, b) = None, ("posendf", "vposer")     # change me: e.g. "sigma=0.5,frames=60", ("vposer", "none")\n'
             'setting = setting or next(s for s, m in vals if m == a and (s, b) in vals and "vposer=" not in s)\n'
             'units = [u for u in vals[(setting, a)] if u in vals[(setting, b)]]\n'
             'ks = list(range(3, len(units) + 1))\n'
             'ds = [paired_difference([vals[(setting, a)][u] for u in units[:k]], [vals[(setting, b)][u] for u in units[:k]]) for k in ks]\n'
             'fig, ax = plt.subplots(figsize=(6, 3.2))\n'
             'ax.fill_between(ks, [d.lo for d in ds], [d.hi for d in ds], alpha=0.3, label="95 % CI")\n'
             'ax.plot(ks, [d.mean for d in ds], "o-", label="mean difference")\n'
             'ax.axhline(0, color="k", lw=0.8)\n'
             'ax.set(title=f"{a} − {b}, {setting}: the interval against the number of clips", xlabel="clips used (k)", ylabel="v2v difference (cm)")\n'
             'ax.legend()\n'
             'fig.tight_layout()'},
]
