"""Result rows -> ``results.csv`` (columns ``experiment,setting,method,metric,value,std,n``) and markdown."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import InputError, NonFiniteError
from ..priors import registry
from ..utils import atomic_path

RESULT_COLUMNS = ("experiment", "setting", "method", "metric", "value", "std", "n")
#: ``units.csv`` beside ``results.csv``: every clip's / view's value, for paired comparisons (``verdicts``)
UNIT_COLUMNS = ("experiment", "setting", "method", "metric", "unit", "value")
UNITS_FILE = "units.csv"
EXPERIMENTS = ("denoise", "occlusion", "image-fit", "generate", "table1")
#: methods of result rows that are not priors: the keypoint regressor alone (image-fit, ``--init regressor``), and
#: SMPLify-X's Table 1 (``table1``) configurations of model × keypoints, and Table 2's gender row
OTHER_METHODS = ("regressor", "smpl-body", "smpl-all", "smplh-body+hands", "smplx-all", "smplx-gendered",
                 "smplx-neutral-on-gendered")
NON_PRIOR_METHODS = OTHER_METHODS


def methods() -> tuple:
    """Every method a result row may name: "none", the registered priors (``posekit.priors.registry``) and
    :data:`OTHER_METHODS`."""
    return (*registry.methods(), *OTHER_METHODS)


def __getattr__(name):
    # METHODS: "none" and every prior of posekit.priors.registry, read when asked
    if name == "METHODS":
        return methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_row(row: Mapping) -> dict:
    missing = [c for c in RESULT_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"result row lacks columns {missing}; expected {list(RESULT_COLUMNS)}, got {dict(row)}")
    if row["experiment"] not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}, got {row['experiment']!r}")
    if row["method"] not in methods():
        raise ValueError(f"method must be one of {methods()}, got {row['method']!r}")
    out = {c: row[c] for c in RESULT_COLUMNS}
    out["value"] = float(out["value"])
    out["std"] = float(out["std"]) if out["std"] not in (None, "") else float("nan")
    out["n"] = int(out["n"])
    return out


def check_finite_rows(rows: Iterable[Mapping]) -> list[dict]:
    """Checked rows whose ``value`` is a finite number (``std`` finite or NaN, NaN meaning "one value"), else
    :class:`NonFiniteError` naming the experiment, setting, method and metric of the first bad row."""
    rows = [_check_row(r) for r in rows]
    for r in rows:
        if not math.isfinite(r["value"]) or math.isinf(r["std"]):
            what = "value" if not math.isfinite(r["value"]) else "std"
            raise NonFiniteError(
                f"result of {r['experiment']} for method {r['method']!r}, setting {r['setting']!r}, metric "
                f"{r['metric']!r} has {what} {r[what]} (over n={r['n']}); expected a finite number, so no result "
                "was written (a fit that diverged, or no clip to average over)")
    return rows


def write_results(rows: Iterable[Mapping], out_dir: str | os.PathLike, append: bool = False) -> Path:
    """Write rows to ``out_dir/results.csv`` (atomically; appending keeps earlier rows), ``results.md`` and, for
    rows that carry ``units`` and ``values``, every unit's value to ``units.csv``.

    A row whose value is NaN or infinite is refused (:func:`check_finite_rows`) before anything is written.
    """
    out_dir = Path(out_dir)
    rows = list(rows)
    rows_with_units = [r for r in rows if r.get("units") is not None]
    for r in rows_with_units:
        check_finite_values = [v for v in r["values"] if not math.isfinite(float(v))]
        if check_finite_values or len(r["units"]) != len(r["values"]):
            raise NonFiniteError(f"per-unit values of {r['experiment']} / {r['method']} / {r['setting']} / {r['metric']}: "
                                 "expected one finite value per unit, so no result was written")
    rows = check_finite_rows(rows)
    path = out_dir / "results.csv"
    previous = read_results(path) if (append and path.exists()) else []
    allrows = previous + rows
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in allrows:
        w.writerow({**r, "value": f"{r['value']:.6g}", "std": "" if math.isnan(r["std"]) else f"{r['std']:.6g}"})
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())
    with atomic_path(out_dir / "results.md") as tmp:
        tmp.write_text(results_markdown(allrows))
    rows_in = list(rows_with_units)
    if rows_in or (out_dir / UNITS_FILE).exists():
        units = (read_units(out_dir / UNITS_FILE) if (append and (out_dir / UNITS_FILE).exists()) else []) + [
            {"experiment": r["experiment"], "setting": r["setting"], "method": r["method"], "metric": r["metric"],
             "unit": u, "value": v} for r in rows_in for u, v in zip(r["units"], r["values"])]
        ubuf = io.StringIO()
        uw = csv.DictWriter(ubuf, fieldnames=UNIT_COLUMNS, lineterminator="\n")
        uw.writeheader()
        for u in units:
            uw.writerow({**u, "value": f"{float(u['value']):.6g}"})
        with atomic_path(out_dir / UNITS_FILE) as tmp:
            tmp.write_text(ubuf.getvalue())
    return path


def read_units(path: str | os.PathLike) -> list[dict]:
    """``units.csv`` -> dicts (experiment, setting, method, metric, unit, value)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != UNIT_COLUMNS:
            raise InputError(f"{path}: header {reader.fieldnames} is not {list(UNIT_COLUMNS)}")
        return [{**r, "value": float(r["value"])} for r in reader]


def attach_units(rows: Iterable[Mapping], units: Iterable[Mapping]) -> list[dict]:
    """Rows read back from ``results.csv`` with their per-unit ``units`` and ``values`` from ``units.csv``."""
    per = {}
    for u in units:
        per.setdefault((u["experiment"], u["setting"], u["method"], u["metric"]), []).append(u)
    out = []
    for r in rows:
        us = per.get((r["experiment"], r["setting"], r["method"], r["metric"]))
        out.append({**r, **({"units": [u["unit"] for u in us], "values": [u["value"] for u in us]} if us else {})})
    return out


def read_results(path: str | os.PathLike) -> list[dict]:
    """Read a ``results.csv`` back into checked rows."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != RESULT_COLUMNS:
            raise InputError(f"{path}: header {reader.fieldnames} is not {list(RESULT_COLUMNS)}")
        return [_check_row(r) for r in reader]


def results_markdown(rows: Iterable[Mapping]) -> str:
    """One markdown table per (experiment, metric): settings as rows, methods as columns, 'mean ± std'."""
    rows = [_check_row(r) for r in rows]
    lines: list[str] = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["experiment"], r["metric"]), []).append(r)
    for (exp, metric), rs in groups.items():
        methods = [m for m in globals()["methods"]() if any(r["method"] == m for r in rs)]
        settings = list(dict.fromkeys(r["setting"] for r in rs))
        lines += [f"### {exp}: {metric}", "", "| setting | " + " | ".join(methods) + " |",
                  "|---|" + "---|" * len(methods)]
        for s in settings:
            cells = []
            for m in methods:
                hit = [r for r in rs if r["setting"] == s and r["method"] == m]
                if not hit:
                    cells.append("")
                    continue
                r = hit[-1]
                cells.append(f"{r['value']:.2f}" + ("" if math.isnan(r["std"]) else f" ± {r['std']:.2f}") + f" (n={r['n']})")
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)

