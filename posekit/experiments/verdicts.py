"""Verdicts that follow the papers: a paired difference with a 95 % bootstrap CI, read against the paper's direction.

Every method of an experiment is evaluated on the same clips (or image views), so two methods are compared
by the per-unit differences d_i = e_a,i − e_b,i (errors, lower is better): their mean and a 95 % percentile
bootstrap confidence interval over the units (``scipy.stats.bootstrap``). A paper's expectation says which
of the two should be lower (``paper_numbers.expectations()``); the verdict is

- "agrees" when the whole CI lies on the paper's side of 0,
- "contradicts" when the whole CI lies on the other side,
- "inconclusive (the 95 % CI includes 0)" otherwise, and also with fewer than :data:`MIN_UNITS` units (a
  bootstrap over a handful of clips understates the uncertainty).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from .paper_numbers import Expectation, method_label, expectations as _expectations

__all__ = ["PairedDifference", "paired_difference", "verdict", "AGREES", "CONTRADICTS", "INCONCLUSIVE", "MIN_UNITS",
           "expectation_verdicts", "verdict_sentences", "side_name"]

MIN_UNITS = 5
AGREES = "agrees"
CONTRADICTS = "contradicts"
INCONCLUSIVE = "inconclusive (the 95 % CI includes 0)"


@dataclass(frozen=True)
class PairedDifference:
    """mean(a − b) over n paired units and its 95 % bootstrap CI [lo, hi] (NaN when n < 2)."""

    mean: float
    lo: float
    hi: float
    n: int

    def __str__(self) -> str:
        if math.isnan(self.lo) or self.n < MIN_UNITS:
            return f"{self.mean:+.2f} (n = {self.n}, too few for a CI)"
        return f"{self.mean:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}] (n = {self.n})"


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95, n_resamples: int = 10000,
                      seed: int = 0) -> PairedDifference:
    """Mean of a − b over paired units and its percentile bootstrap CI; a and b are the same units' values."""
    from scipy.stats import bootstrap

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D sequences of one length, got shapes {a.shape} and {b.shape}")
    d = a - b
    if d.size == 0 or not np.isfinite(d).all():
        raise ValueError(f"paired values must be finite and non-empty, got {d.size} differences")
    if d.size < 2:
        return PairedDifference(float(d.mean()), float("nan"), float("nan"), int(d.size))
    if np.ptp(d) == 0:                                      # every difference the same: the CI is that point
        return PairedDifference(float(d[0]), float(d[0]), float(d[0]), int(d.size))
    ci = bootstrap((d,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile",
                   random_state=np.random.default_rng(seed)).confidence_interval
    return PairedDifference(float(d.mean()), float(ci.low), float(ci.high), int(d.size))


def verdict(diff: PairedDifference, expect_lower: bool = True) -> str:
    """The paper expects a < b (``expect_lower``, i.e. a − b < 0) or a > b: agrees / contradicts / inconclusive."""
    if diff.n < MIN_UNITS or math.isnan(diff.lo):
        return INCONCLUSIVE
    if diff.hi < 0:
        return AGREES if expect_lower else CONTRADICTS
    if diff.lo > 0:
        return CONTRADICTS if expect_lower else AGREES
    return INCONCLUSIVE


def _unit_values(rows: Iterable[Mapping]) -> dict:
    """{(experiment, setting, method, metric): {unit: value}} from rows that carry ``units`` and ``values``."""
    out = {}
    for r in rows:
        units, values = r.get("units"), r.get("values")
        if units is None or values is None:
            continue
        out[(r["experiment"], r["setting"], r["method"], r["metric"])] = dict(zip(units, map(float, values)))
    return out


def _method_setting(name: str, setting: str) -> tuple[str, str]:
    """An expectation's side -> (method, setting): "m@+angle" pins the setting, "m" takes ``setting``."""
    method, _, pinned = name.partition("@")
    return method, pinned or setting


def side_name(name: str) -> str:
    """An expectation's side in words: a method -> its label, "m@+angle" -> "its label (+angle)"."""
    method, _, pinned = name.partition("@")
    return method_label(method) + (f" ({pinned})" if pinned else "")


def expectation_verdicts(rows: Iterable[Mapping], expectations: Sequence[Expectation] | None = None) -> list[dict]:
    """One dict per (expectation, setting) that the rows can check: the expectation, the setting, the paired
    difference (better − worse, on the units both methods share) and the verdict."""
    values = _unit_values(list(rows))
    out = []
    for e in (_expectations() if expectations is None else expectations):
        settings = dict.fromkeys(s for (x, s, m, k) in values if x == e.experiment and k == e.metric)
        pinned = [name.partition("@")[2] for name in (e.lower, e.higher) if "@" in name]
        if pinned:                                         # "method@setting": one comparison, named by its first setting
            settings = [pinned[0]]
        for s in settings:
            if not e.applies(s):
                continue
            (ma, sa), (mb, sb) = (_method_setting(name, s) for name in (e.lower, e.higher))
            a, b = values.get((e.experiment, sa, ma, e.metric)), values.get((e.experiment, sb, mb, e.metric))
            if not a or not b:
                continue
            units = [u for u in a if u in b]
            if not units:
                continue
            diff = paired_difference([a[u] for u in units], [b[u] for u in units])
            out.append({"expectation": e, "setting": s, "difference": diff, "verdict": verdict(diff, True)})
    return out


def verdict_sentences(rows: Iterable[Mapping], experiment: str | None = None,
                      expectations: Sequence[Expectation] | None = None) -> list[str]:
    """One sentence per expectation: how many settings agree, contradict, are inconclusive; each setting's
    paired difference in brackets."""
    expectations = _expectations() if expectations is None else expectations
    found = expectation_verdicts(rows, [e for e in expectations if experiment in (None, e.experiment)])
    lines = []
    for e in dict.fromkeys(v["expectation"] for v in found):
        vs = [v for v in found if v["expectation"] is e]
        count = {k: sum(v["verdict"] == k for v in vs) for k in (AGREES, CONTRADICTS, INCONCLUSIVE)}
        parts = "; ".join(f"{v['setting']}: {v['difference']} → {v['verdict'].split(' (')[0]}" for v in vs)
        lo, hi = side_name(e.lower), side_name(e.higher)
        lines.append(f"{e.source} expects {lo} < {hi} ({e.metric}{', ' + e.scope if e.scope else ''}): "
                     f"agrees in {count[AGREES]}, contradicts in {count[CONTRADICTS]}, inconclusive in "
                     f"{count[INCONCLUSIVE]} of {len(vs)} settings. Paired difference {lo} − {hi}, "
                     f"mean [95 % CI] over the same clips or views: {parts}.")
    return lines
