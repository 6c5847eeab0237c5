"""How well a training set covers unseen people: the distance of real poses of validation subjects to their
nearest training pose, against the number of training subjects, and where the rest (T) pose lies.

Pose-NDF learns f(θ) ≈ the distance of θ to the nearest clean training pose. If unseen real poses lie far from
every training pose, the field is right to call them far, and a pose the training set holds densely (the rest
pose, which many CMU clips start in) can look more plausible to it than a real pose of a new person. This module
measures that with the exact nearest-neighbour distance (``posekit.fitting.metrics.nearest_pose_distance``,
Pose-NDF's distance between quaternion poses), never with a learned field:

- :func:`coverage_curve`: for k training subjects (``k`` in ``ks``; ``draws`` random choices of the subjects
  each, the same number of poses at most as the shipped priors were trained on, :data:`MAX_TRAIN_POSES`), the
  median (and quartiles) of the distance of ``n_val`` validation poses to their nearest training pose, and the
  rest pose's distance to the same training set;
- :func:`field_at_rest`: the learned field f at the rest pose beside f at the validation poses, so both can be
  read against the exact distances;
- :func:`power_law`: a least-squares fit d(k) = a·k^(−b) of the medians, to say what many more subjects
  (AMASS has 300+) would give, with the caveat that an extrapolation from ≤ 13 subjects is a guess.

The rows go to ``coverage.csv`` of the table of record (``python -m posekit.experiments.record run coverage``).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..fitting.metrics import nearest_pose_distance

__all__ = ["COVERAGE_COLUMNS", "MAX_TRAIN_POSES", "coverage_curve", "field_at_rest", "power_law", "summarise"]

#: the shipped priors' training set: at most this many clean poses of the train subjects (``posekit.train``)
MAX_TRAIN_POSES = 20_000
COVERAGE_COLUMNS = ("quantity", "train_subjects", "draw", "n_train_poses", "n_val_poses", "median", "q25", "q75")


def _subsample(x: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """At most n rows of x (N, ...), drawn without replacement (all of them when N <= n)."""
    if len(x) <= n:
        return x
    return x[torch.randperm(len(x), generator=generator)[:n]]


def coverage_curve(train: torch.Tensor, train_subjects: Sequence[str], val: torch.Tensor, ks: Sequence[int],
                   draws: int = 5, n_val: int = 2000, max_train: int = MAX_TRAIN_POSES, seed: int = 0,
                   progress: bool = False) -> list[dict]:
    """Rows of ``COVERAGE_COLUMNS``: for every k in ``ks`` and every draw, the distance of validation poses to
    their nearest pose among the training poses of k randomly chosen subjects (``quantity`` "val_to_train")
    and the rest pose's distance to the same set ("rest_to_train").

    train: (N, 21, 3) axis-angle of the training poses; train_subjects: (N,) the subject of each pose;
    val: (M, 21, 3) poses of validation subjects (``n_val`` of them drawn once and reused for every k).
    A k of at least the number of subjects uses all of them (one draw).
    """
    subjects = np.asarray(train_subjects)
    if train.dim() != 3 or train.shape[1:] != (21, 3) or len(subjects) != len(train):
        raise InputError(f"train must be (N, 21, 3) body poses with one subject per pose, got {tuple(train.shape)} "
                         f"and {len(subjects)} subjects")
    if val.dim() != 3 or val.shape[1:] != (21, 3) or not len(val):
        raise InputError(f"val must be (M, 21, 3) body poses, M > 0, got {tuple(val.shape)}")
    names = sorted(set(subjects.tolist()))
    if any(int(k) < 1 for k in ks):
        raise InputError(f"ks must be numbers of subjects >= 1, got {list(ks)}")
    g = torch.Generator().manual_seed(seed)
    v = _subsample(val, n_val, g)
    rest = torch.zeros(1, 21, 3, dtype=train.dtype)
    rng = np.random.default_rng(seed)
    todo = [(k, d) for k in sorted({min(int(k), len(names)) for k in ks})
            for d in range(1 if k >= len(names) else draws)]
    from tqdm.auto import tqdm

    rows = []
    for k, d in tqdm(todo, desc="coverage", disable=not progress, leave=False):
        chosen = names if k >= len(names) else sorted(rng.choice(names, size=k, replace=False).tolist())
        pool = _subsample(train[torch.from_numpy(np.isin(subjects, chosen))], max_train, g)
        dv, _ = nearest_pose_distance(v, pool)
        dr, _ = nearest_pose_distance(rest, pool)
        q25, med, q75 = (float(x) for x in torch.quantile(dv.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)))
        base = {"train_subjects": k, "draw": d, "n_train_poses": len(pool), "n_val_poses": len(v)}
        rows.append({"quantity": "val_to_train", **base, "median": med, "q25": q25, "q75": q75})
        rows.append({"quantity": "rest_to_train", **base, "median": float(dr[0]), "q25": float(dr[0]), "q75": float(dr[0])})
    return rows


def field_at_rest(prior, val: torch.Tensor, train: torch.Tensor, n_val: int = 2000, max_train: int = MAX_TRAIN_POSES,
                  seed: int = 0) -> list[dict]:
    """Rows of ``COVERAGE_COLUMNS`` with the learned field f (``prior.distance``) beside the exact distance to
    ``train`` (at most ``max_train`` poses, drawn as the priors' training set is): at the rest pose
    ("rest_f", "rest_exact") and over validation poses ("val_f", "val_exact"), plus the rank correlation
    between f and the exact distance over the validation poses ("val_f_spearman", in ``median``)."""
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(seed)
    v = _subsample(val, n_val, g)
    pool = _subsample(train, max_train, g)
    rest = torch.zeros(1, 21, 3, dtype=val.dtype)
    with torch.no_grad():
        f_val = prior.distance(v).double()
        f_rest = prior.distance(rest).double()
    d_val, _ = nearest_pose_distance(v, pool)
    d_rest, _ = nearest_pose_distance(rest, pool)
    base = {"train_subjects": -1, "draw": 0, "n_train_poses": len(pool), "n_val_poses": len(v)}

    def q(x):
        a, b, c = (float(t) for t in torch.quantile(x.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)))
        return {"median": b, "q25": a, "q75": c}

    rho = float(spearmanr(f_val.numpy(), d_val.double().numpy()).statistic)
    return [{"quantity": "val_f", **base, **q(f_val)}, {"quantity": "val_exact", **base, **q(d_val)},
            {"quantity": "rest_f", **base, "median": float(f_rest[0]), "q25": float(f_rest[0]), "q75": float(f_rest[0])},
            {"quantity": "rest_exact", **base, "median": float(d_rest[0]), "q25": float(d_rest[0]), "q75": float(d_rest[0])},
            {"quantity": "val_f_spearman", **base, "median": rho, "q25": math.nan, "q75": math.nan}]


def summarise(rows: Sequence[dict], quantity: str = "val_to_train") -> dict:
    """{k: (mean of the draws' medians, min, max)} of one quantity of :func:`coverage_curve`'s rows."""
    out = {}
    for k in sorted({int(r["train_subjects"]) for r in rows if r["quantity"] == quantity}):
        meds = [float(r["median"]) for r in rows if r["quantity"] == quantity and int(r["train_subjects"]) == k]
        out[k] = (float(np.mean(meds)), float(np.min(meds)), float(np.max(meds)))
    return out


def power_law(ks: Sequence[float], distances: Sequence[float]) -> tuple[float, float]:
    """(a, b) of the least-squares line log d = log a − b·log k: d(k) ≈ a·k^(−b)."""
    k, d = np.asarray(ks, dtype=float), np.asarray(distances, dtype=float)
    if len(k) < 2 or (k <= 0).any() or (d <= 0).any() or len(set(k.tolist())) < 2:
        raise InputError("power_law needs at least two distinct positive numbers of subjects and positive distances")
    slope, intercept = np.polyfit(np.log(k), np.log(d), 1)
    return float(math.exp(intercept)), float(-slope)
