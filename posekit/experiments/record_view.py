"""The table of record as a reader sees it: tables of means with 95 % CIs, paired differences with the papers'
verdicts, and their figures. Chapters 02, 03 and 05 quote these instead of a small live run.

Everything here reads result rows that carry per-unit values (``units``/``values``, as
:func:`posekit.experiments.record.load_record` returns them); numbers are means over the same clips or views,
and every difference is paired (``posekit.experiments.verdicts.paired_difference``).
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..priors import registry
from .paper_numbers import expectations, method_label
from .verdicts import (AGREES, CONTRADICTS, MIN_UNITS, PairedDifference, expectation_verdicts, paired_difference,
                       side_name)

__all__ = ["parse_setting", "values_of", "mean_ci", "summary_table", "setting_difference", "method_difference",
           "verdict_table", "plot_verdicts", "plot_means", "VERDICT_COLORS", "record_sentence", "paper_table"]

VERDICT_COLORS = {AGREES: "tab:green", CONTRADICTS: "tab:red"}    # inconclusive: grey


def parse_setting(setting: str) -> dict:
    """``"sigma=0.1,frames=60"`` -> {"sigma": "0.1", "frames": "60"}; a setting without "=" -> {"setting": it}."""
    out = dict(kv.split("=", 1) for kv in setting.split(",") if "=" in kv)
    return out or {"setting": setting}


def values_of(rows: Iterable[Mapping], experiment: str, metric: str) -> dict:
    """{(setting, method): {unit: value}} of the rows of one experiment and metric that carry per-unit values."""
    out = {}
    for r in rows:
        if r["experiment"] == experiment and r["metric"] == metric and r.get("values") is not None:
            out[(r["setting"], r["method"])] = dict(zip(r["units"], map(float, r["values"])))
    return out


def mean_ci(values: Sequence[float]) -> PairedDifference:
    """The mean of ``values`` with its 95 % percentile-bootstrap CI (a difference against 0)."""
    v = np.asarray(list(values), dtype=float)
    return paired_difference(v, np.zeros_like(v))


def _methods(keys) -> list[str]:
    ms = {m for _, m in keys}
    order = registry.methods()
    return [m for m in order if m in ms] + sorted(ms - set(order))


def summary_table(rows: Iterable[Mapping], experiment: str, metric: str, settings: Sequence[str] | None = None,
                  digits: int = 2) -> str:
    """Markdown: one line per setting, one column per method, "mean [95 % CI]" (no CI under ``MIN_UNITS``
    units), and n per setting."""
    vals = values_of(rows, experiment, metric)
    settings = list(settings) if settings is not None else list(dict.fromkeys(s for s, _ in vals))
    methods = _methods([k for k in vals if k[0] in settings])
    lines = ["| setting | n | " + " | ".join(method_label(m) for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for s in settings:
        cells, n = [], 0
        for m in methods:
            v = vals.get((s, m))
            if not v:
                cells.append("")
                continue
            c = mean_ci(list(v.values()))
            n = max(n, c.n)
            cells.append(f"{c.mean:.{digits}f} [{c.lo:.{digits}f}, {c.hi:.{digits}f}]" if c.n >= MIN_UNITS
                         else f"{c.mean:.{digits}f} (too few for a CI)")
        lines.append(f"| {s} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def method_difference(rows: Iterable[Mapping], experiment: str, metric: str, setting: str, a: str,
                      b: str) -> PairedDifference | None:
    """Paired difference a − b (same units, one setting); None when either method or no shared unit is there."""
    return _paired(values_of(rows, experiment, metric), (setting, a), (setting, b))


def setting_difference(rows: Iterable[Mapping], experiment: str, metric: str, method: str, a: str,
                       b: str) -> PairedDifference | None:
    """Paired difference of one method between two settings, a − b (e.g. "+angle" − "prior-only": what a term
    adds, over the same views); None when either setting is missing."""
    return _paired(values_of(rows, experiment, metric), (a, method), (b, method))


def _paired(vals: dict, key_a: tuple, key_b: tuple) -> PairedDifference | None:
    """Paired difference of the (setting, method) entries ``key_a`` − ``key_b`` of :func:`values_of` over the
    units both hold; None when either is missing or they share no unit."""
    va, vb = vals.get(key_a), vals.get(key_b)
    if not va or not vb:
        return None
    units = [u for u in va if u in vb]
    return paired_difference([va[u] for u in units], [vb[u] for u in units]) if units else None


def record_sentence(diff: PairedDifference | None, what: str, unit: str) -> str:
    """"<what>: +12.3 mm [+4.1, +20.2] (n = 64), worse / better / no clear difference" from a paired difference."""
    if diff is None:
        return f"{what}: not in the record"
    if diff.n < 5 or math.isnan(diff.lo) or diff.lo <= 0 <= diff.hi:
        word = "no clear difference (the 95 % CI includes 0)"
    else:
        word = "higher error" if diff.lo > 0 else "lower error"
    return (f"{what}: {diff.mean:+.1f} {unit} [{diff.lo:+.1f}, {diff.hi:+.1f}] (n = {diff.n}), {word}")


def verdict_table(rows: Iterable[Mapping], experiment: str, settings: Sequence[str] | None = None) -> str:
    """Markdown: every expectation of the papers for ``experiment``, per setting: the paired difference with
    its 95 % CI, n and the verdict."""
    found = expectation_verdicts(list(rows), [e for e in expectations() if e.experiment == experiment])
    lines = ["| expectation | setting | n | difference [95 % CI] | verdict |", "|---|---|---|---|---|"]
    for v in found:
        if settings is not None and v["setting"] not in settings:
            continue
        e, d = v["expectation"], v["difference"]
        lo, hi = side_name(e.lower), side_name(e.higher)
        lines.append(f"| {e.source}: {lo} < {hi} | {v['setting']} | {d.n} | {d.mean:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}] "
                     f"| {v['verdict'].split(' (')[0]} |")
    return "\n".join(lines)


def plot_verdicts(ax, rows: Iterable[Mapping], experiment: str, label=None, settings: Sequence[str] | None = None,
                  unit: str = "", title: str | None = None):
    """Forest plot of the papers' expectations for ``experiment``: each paired difference (expected-lower −
    expected-higher; below 0 = as the paper finds) with its 95 % CI, green when it agrees, red when it
    contradicts, grey when inconclusive. ``label(setting)`` shortens the settings in the row labels."""
    from ..viz.plots import forest_plot

    found = [v for v in expectation_verdicts(list(rows), [e for e in expectations() if e.experiment == experiment])
             if settings is None or v["setting"] in settings]
    label = label or (lambda s: s)
    names = [f"{label(v['setting'])}: {side_name(v['expectation'].lower)} − "
             f"{side_name(v['expectation'].higher)}" for v in found]
    d = [v["difference"] for v in found]
    forest_plot(ax, names, [x.mean for x in d], [x.lo for x in d], [x.hi for x in d],
                [VERDICT_COLORS.get(v["verdict"], "tab:gray") for v in found],
                title=title or f"{experiment}: the papers' expectations (green agrees, red contradicts, grey inconclusive)",
                xlabel=f"paired difference, expected-better − expected-worse{f' ({unit})' if unit else ''}; < 0 as the paper finds")
    return ax


def plot_means(ax, rows: Iterable[Mapping], experiment: str, metric: str, x_key: str, fixed: Mapping | None = None,
               methods: Sequence[str] | None = None, unit: str = "", title: str = "", xlabel: str | None = None,
               categorical: bool = False):
    """Mean error of each method against one setting key (e.g. ``sigma`` or ``part``) with 95 % CI bars; the
    other keys fixed by ``fixed`` (settings not matching them are left out)."""
    vals = values_of(rows, experiment, metric)
    fixed = dict(fixed or {})
    keep = {k: v for k, v in vals.items()
            if all(parse_setting(k[0]).get(a) == b for a, b in fixed.items())
            and set(parse_setting(k[0])) <= {x_key, *fixed}}
    xs = list(dict.fromkeys(parse_setting(s)[x_key] for s, _ in keep))
    if not categorical:
        xs = sorted(xs, key=float)
    methods = [m for m in (methods or _methods(keep)) if any(k[1] == m for k in keep)]
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        pts = []
        for i, x in enumerate(xs):
            v = next((v for (s, mm), v in keep.items() if mm == m and parse_setting(s)[x_key] == x), None)
            if v:
                c = mean_ci(list(v.values()))
                pts.append((i if categorical else float(x), c))
        if not pts:
            continue
        px = np.array([p[0] for p in pts], dtype=float) + ((j - (len(methods) - 1) / 2) * width if categorical else 0.0)
        mean = np.array([p[1].mean for p in pts])
        err = np.array([[p[1].mean - p[1].lo, p[1].hi - p[1].mean] for p in pts]).T
        if categorical:
            ax.bar(px, mean, width, yerr=err, capsize=2, label=method_label(m))
        else:
            ax.errorbar(px, mean, yerr=err, fmt="o-", capsize=3, label=method_label(m))
    if categorical:
        ax.set_xticks(range(len(xs)), xs)
    ax.set_xlabel(xlabel or x_key)
    ax.set_ylabel(f"{metric}{f' ({unit})' if unit else ''}, mean with 95 % CI")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def _number(v) -> str:
    return "" if v is None else f"{v:.2f}"


def paper_table(experiment: str) -> str:
    """Markdown of the paper's numbers for ``experiment`` (Pose-NDF Tables 3, 4, 5)."""
    from .paper_numbers import TABLE3_DENOISE, TABLE4_OCCLUSION, TABLE5_IMAGE_FIT

    if experiment in ("denoise", "occlusion"):
        t = TABLE3_DENOISE if experiment == "denoise" else TABLE4_OCCLUSION
        head = ["method"] + [f"{c}, {f} frames" for c in t["columns"] for f in t["frames"]]
        body = [[name] + [f"{v:.2f}" for c in t["columns"] for v in vals[c]] for name, vals in t["values"].items()]
    elif experiment == "image-fit":
        t = TABLE5_IMAGE_FIT
        cols = list(dict.fromkeys([*t["expose+optimization"], *t["optimization"]]))     # the paper's methods
        head = ["start", *cols, "regressor alone"]
        body = [["fixed start (optimisation)", *[_number(t["optimization"].get(c)) for c in cols], ""],
                ["ExPose's output", *[_number(t["expose+optimization"].get(c)) for c in cols], f"{t['expose']:.2f}"]]
    else:
        raise ValueError(f"no paper table for {experiment!r}; expected denoise, occlusion or image-fit")
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in body])
