"""Weights of the motion fit chosen on validation data: the default weights, the grids and the search."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

from .motion import FitConfig

__all__ = ["DEFAULT_PRIOR_WEIGHTS", "DEFAULT_SMOOTH", "SMOOTH_GRID", "SMOOTH_GRID_FAST", "PRIOR_BASE",
           "PRIOR_GRID", "PRIOR_GRID_FAST", "tune_weights", "choice_stability"]

#: Prior weights per method, for losses in cm²; the energies differ in scale (GMM: a negative
#: log-likelihood over 63 dimensions; VPoser: ‖z‖² over 32; Pose-NDF: a distance in ~[0, 1] rad).
DEFAULT_PRIOR_WEIGHTS = {"none": 0.0, "gmm": 1.0, "vposer": 1.0, "posendf": 300.0, "diffusion": 1.0, "humor": 10.0}
DEFAULT_SMOOTH = 3.0

#: Log-spaced grids searched on validation clips (multiplied by the method's base weight).
SMOOTH_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
SMOOTH_GRID_FAST = (1.0, 5.0, 25.0)
PRIOR_BASE = {"gmm": 1.0, "vposer": 1.0, "posendf": 300.0, "diffusion": 1.0, "humor": 10.0}   # humor: a scale of its own weights
PRIOR_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
PRIOR_GRID_FAST = (0.01, 1.0, 100.0)


def tune_weights(evaluate: Callable[[str, FitConfig], float], methods: Sequence[str], base: FitConfig,
                 fixed: dict | None = None, log=print, fast: bool = False) -> tuple[dict, dict]:
    """Weights chosen on validation data (never on the test clips), one method at a time.

    First the smoothness weight with no prior (``SMOOTH_GRID``), shared by every method; then, for each
    prior, its weight on ``PRIOR_BASE[m] * PRIOR_GRID``, extended by up to two decades when the best
    weight lies on an edge of the grid, then refined by a factor 3 either side of the best
    (``fast``: the coarser ``SMOOTH_GRID_FAST``/``PRIOR_GRID_FAST``, extended by two decades, no refinement).
    ``evaluate(method, cfg)`` returns the validation error; ``fixed`` {method: weight} skips a search.
    Returns ({method: FitConfig}, {"smooth": w, method: w, ...}).
    """
    fixed = dict(fixed or {})
    chosen = {}
    if "smooth" in fixed:
        smooth = fixed["smooth"]
    else:
        errs = {w: evaluate("none", replace(base, w_smooth=w, w_prior=0.0))
                for w in (SMOOTH_GRID_FAST if fast else SMOOTH_GRID)}
        smooth = min(errs, key=errs.get)
        log("[tune] smoothness " + ", ".join(f"{w:g}: {e:.2f}" for w, e in errs.items()) + f" -> {smooth:g}")
    chosen["smooth"] = smooth
    cfgs = {}
    for m in methods:
        if m == "none":
            cfgs[m] = replace(base, w_smooth=smooth, w_prior=0.0)
            continue
        if m in fixed:
            w = fixed[m]
        else:
            b = PRIOR_BASE.get(m, 1.0)
            errs = {b * g: evaluate(m, replace(base, w_smooth=smooth, w_prior=b * g))
                    for g in (PRIOR_GRID_FAST if fast else PRIOR_GRID)}
            for _ in range(2):  # best on an edge of the grid: extend it by a decade (at most twice)
                best = min(errs, key=errs.get)
                step = 100.0 if fast else 10.0
                if best == min(errs):
                    nxt = best / step
                elif best == max(errs):
                    nxt = best * step
                else:
                    break
                errs[nxt] = evaluate(m, replace(base, w_smooth=smooth, w_prior=nxt))
            best = min(errs, key=errs.get)
            for w in (() if fast else (best / 3.0, best * 3.0)):
                if w not in errs:
                    errs[w] = evaluate(m, replace(base, w_smooth=smooth, w_prior=w))
            w = min(errs, key=errs.get)
            log(f"[tune] {m}: " + ", ".join(f"{k:.3g}: {e:.2f}" for k, e in sorted(errs.items())) + f" -> {w:.3g}")
        chosen[m] = w
        cfgs[m] = replace(base, w_smooth=smooth, w_prior=w)
    return cfgs, chosen


def choice_stability(per_unit: dict, n_boot: int = 2000, seed: int = 0) -> dict:
    """How stable a choice made on validation data is: ``per_unit`` {candidate: (n,) errors on the same n
    clips or views} -> {candidate: share of ``n_boot`` bootstrap resamples of the units whose mean error is
    lowest for that candidate}. The chosen candidate's share near 1 means more validation data would not
    change the choice; near 1/len(per_unit), the candidates tie within the noise."""
    import numpy as np

    keys = list(per_unit)
    errs = np.stack([np.asarray(per_unit[k], dtype=np.float64) for k in keys])      # (K, n)
    if errs.ndim != 2 or errs.shape[1] == 0:
        raise ValueError("choice_stability needs one error per unit for every candidate, on the same units")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, errs.shape[1], size=(n_boot, errs.shape[1]))              # (n_boot, n)
    means = errs[:, idx].mean(-1)                                                     # (K, n_boot)
    wins = np.bincount(means.argmin(0), minlength=len(keys))
    return {k: float(w) / n_boot for k, w in zip(keys, wins)}
