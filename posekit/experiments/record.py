"""The table of record: the papers' experiments run once in full on the test subjects, shipped with posekit.

``python -m posekit.experiments.record run PART --motions DIR --out DIR`` runs one part (``denoise``,
``denoise-vposer-energy``, ``occlusion``, ``image-fit``, ``generate``, ``coverage``) with the record's settings
(:data:`PARTS`: enough clips and views to conclude, each part well under two hours on 2 cores) into ``DIR/PART``
and notes its command and time. ``denoise-vposer-energy`` re-runs denoising with VPoser as an energy on the
poses instead of a latent parametrisation; its settings get the suffix ``,vposer=energy`` (no prior is re-run
beside it, so the pairs are complete). ``coverage`` measures how far unseen poses lie from the training set
(``posekit.experiments.coverage``) into ``coverage.csv``.
``python -m posekit.experiments.record assemble DIR --out posekit/experiments/record`` merges the parts into
the record: ``results.csv`` and ``units.csv`` (every clip's / view's value), ``verdicts.csv`` (each paper's
expectation per setting: n, the paired difference with its 95 % bootstrap CI, the verdict), ``record.md``,
``meta.json`` (commands, commit, seeds, timings, the sha256 of the prior files used), ``coverage.csv`` and, per
part, ``parts/PART/`` with the weights chosen on validation data and the example clip the figures draw. ``make record`` does all.

:func:`load_record` reads the shipped record back (rows with their per-unit values), for chapter 05 and the
tests; chapters quote it instead of drawing conclusions from a small live run.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

from ..errors import InputError, check_output_dir, run_cli
from ..utils import atomic_path
from .report import attach_units, read_results, read_units, write_results
from .verdicts import expectation_verdicts, verdict_sentences

__all__ = ["PARTS", "RECORD_DIR", "VERDICT_COLUMNS", "SETTING_SUFFIX", "run_part", "run_coverage", "assemble",
           "load_record", "portable_command", "main"]

RECORD_DIR = Path(__file__).resolve().parent / "record"
SEED = 0
#: the record's settings per part: ≥ 16 test clips per σ and per hidden part, ≥ 64 image views
PARTS = {
    "denoise": ["denoise", "--clips", "16", "--val-clips", "4", "--lengths", "60", "--sigmas", "0.05,0.1,0.2,0.5"],
    "occlusion": ["occlusion", "--clips", "16", "--val-clips", "4", "--lengths", "60"],
    "denoise-vposer-energy": ["denoise", "--methods", "none,vposer", "--vposer-mode", "energy", "--clips", "16",
                              "--val-clips", "4", "--lengths", "60", "--sigmas", "0.05,0.1,0.2,0.5"],
    "image-fit": ["image-fit", "--n-images", "64", "--n-val-images", "48"],
    "generate": ["generate"],
    "coverage": ["coverage"],
    "table1": ["table1", "--n-views", "32"],
}
#: a suffix added to the settings of a part's rows (a variant of an experiment that another part also runs)
SETTING_SUFFIX = {"denoise-vposer-energy": ",vposer=energy"}
#: ``coverage``: numbers of training subjects and random draws of them per number
COVERAGE_KS = (1, 2, 3, 5, 8, 10_000)
COVERAGE_DRAWS = 5
VERDICT_COLUMNS = ("source", "experiment", "metric", "lower", "higher", "scope", "setting", "n", "mean_difference",
                   "ci_low", "ci_high", "verdict")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[2],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "posekit"], cwd=Path(__file__).resolve().parents[2],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prior_files(priors_dir) -> dict:
    """{file name: sha256} of the prior files an experiment would use: ``priors_dir``'s, else the shipped ones."""
    from ..priors.store import PRIOR_FILES, pretrained_path

    out = {}
    for name, fname in PRIOR_FILES.items():
        p = Path(priors_dir) / fname if priors_dir else None
        if p is None or not p.exists():
            p = pretrained_path(name, verify=False)
        if p is not None and Path(p).exists():
            out[f"{name}: {Path(p).name}" + (" (shipped)" if priors_dir is None or not (Path(priors_dir) / fname).exists()
                                             else "")] = _sha256(Path(p))
    return out


def run_part(part: str, motions, out, priors=None, extra=(), fast: bool = False, shard: str | None = None,
             note: str = "") -> Path:
    """Run one part with the record's settings into ``out/part``; writes its ``part.json`` (command, time).
    ``fast``: the experiment's own quick defaults instead (a smoke run of the machinery, not a record).
    ``shard``: run a piece of the part (``extra`` options, e.g. ``--sigmas 0.5``, after the part's own, which
    they override) into ``out/part.SHARD``, so a long part can be run in pieces; ``assemble`` merges shards."""
    from .__main__ import main as experiments_main

    if part not in PARTS:
        raise InputError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    if shard is not None and (not shard or "/" in shard or shard.startswith(".")):
        raise InputError(f"shard must be a plain folder suffix, got {shard!r}")
    folder = check_output_dir(Path(out) / (part if shard is None else f"{part}.{shard}"), "--out")
    priors = Path(out) / "priors" if priors is None else Path(priors)   # empty: the shipped priors are used
    t0 = time.perf_counter()
    if part == "coverage":
        run_coverage(motions, folder, priors, fast=fast)
        command = f"python -m posekit.experiments.record run coverage --motions {motions}" + (" --fast" if fast else "")
    else:
        keep = [a for i, a in enumerate(PARTS[part]) if a in ("--methods", "--vposer-mode")
                or (i and PARTS[part][i - 1] in ("--methods", "--vposer-mode"))]
        argv = [*(PARTS[part][:1] + keep + ["--fast"] if fast else PARTS[part]), "--motions", str(motions), "--out",
                str(folder), "--priors", str(priors), "--seed", str(SEED), *extra]
        rc = experiments_main(argv)
        if rc:
            raise InputError(f"the {part} part failed (exit status {rc}); nothing recorded for it")
        command = "python -m posekit.experiments " + " ".join(argv)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "part.json") as tmp:
        tmp.write_text(json.dumps({"part": part, "shard": shard, "note": note, "command": command,
                                   "seconds": round(time.perf_counter() - t0, 1), "commit": _commit(),
                                   "priors": prior_files(priors)}, indent=1))
    return folder


def run_coverage(motions, folder, priors=None, fast: bool = False) -> Path:
    """The ``coverage`` part: ``coverage.csv`` (``posekit.experiments.coverage``) of the train / validation
    subjects of ``motions``, with Pose-NDF's field (``priors``' posendf.pt, else the shipped one) at the rest pose."""
    from ..data import pose_dataset
    from ..priors import registry
    from ..priors.store import load_prior
    from .coverage import COVERAGE_COLUMNS, coverage_curve, field_at_rest

    ds = pose_dataset(motions, progress=False)
    train, val = ds.body21("train"), ds.body21("val")
    if not len(train) or not len(val):
        raise InputError(f"{motions}: the coverage part needs poses of train and validation subjects")
    subjects = ds.ids["train"]["subject"]
    ks, draws, n_val = ((1, 3, 10_000), 2, 300) if fast else (COVERAGE_KS, COVERAGE_DRAWS, 2000)
    rows = coverage_curve(train, subjects, val, ks, draws=draws, n_val=n_val, seed=SEED, progress=True)
    field = registry.from_paper("Pose-NDF")                   # the distance field whose value at rest is measured
    prior = load_prior(field, priors or Path(folder) / "priors", verbose=False)
    rows += field_at_rest(prior, val, train, n_val=n_val, seed=SEED)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COVERAGE_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in COVERAGE_COLUMNS})
    Path(folder).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(folder) / "coverage.csv") as tmp:
        tmp.write_text(buf.getvalue())
    return Path(folder) / "coverage.csv"


def read_coverage(path) -> list[dict]:
    """``coverage.csv`` -> rows with numbers (``posekit.experiments.coverage.COVERAGE_COLUMNS``)."""
    from .coverage import COVERAGE_COLUMNS

    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COVERAGE_COLUMNS:
            raise InputError(f"{path}: header {reader.fieldnames} is not {list(COVERAGE_COLUMNS)}")
        return [{**r, **{k: int(r[k]) for k in ("train_subjects", "draw", "n_train_poses", "n_val_poses")},
                 **{k: float(r[k]) for k in ("median", "q25", "q75")}} for r in reader]


def portable_command(command: str) -> str:
    """A part's command with this machine's folders replaced by their role (``--motions MOTIONS``, ``--out OUT``,
    ``--priors PRIORS``), as the record ships it."""
    import shlex

    words = shlex.split(command)
    for flag, name in (("--motions", "MOTIONS"), ("--out", "OUT"), ("--priors", "PRIORS")):
        for i, w in enumerate(words[:-1]):
            if w == flag:
                words[i + 1] = name
    return " ".join(shlex.quote(w) for w in words)


def _verdict_rows(rows) -> list[dict]:
    out = []
    for v in expectation_verdicts(rows):
        e, d = v["expectation"], v["difference"]
        out.append({"source": e.source, "experiment": e.experiment, "metric": e.metric, "lower": e.lower,
                    "higher": e.higher, "scope": e.scope, "setting": v["setting"], "n": d.n,
                    "mean_difference": f"{d.mean:.4g}", "ci_low": f"{d.lo:.4g}", "ci_high": f"{d.hi:.4g}",
                    "verdict": v["verdict"]})
    return out


def _is_timing(metric: str) -> bool:
    return metric.endswith("_ms") or "_ms_" in metric


def _unique_rows(rows: list[dict]) -> list[dict]:
    """One row per (experiment, setting, method, metric): a shard that adds a method re-measures what every shard
    measures (the noisy input of denoising), and those rows must agree to the printed precision; a real
    disagreement (the same method measured twice differently) is an InputError. Timings (``*_ms*``) depend on the
    machine's load: the first part's is kept."""
    seen: dict = {}
    for r in rows:
        key = (r["experiment"], r["setting"], r["method"], r["metric"])
        if key not in seen:
            seen[key] = r
        elif not _is_timing(key[3]) and not math.isclose(float(seen[key]["value"]), float(r["value"]), rel_tol=1e-4,
                                                         abs_tol=1e-6):
            raise InputError(f"two parts measured {'/'.join(key)} differently ({seen[key]['value']:.6g} and "
                             f"{r['value']:.6g}): run a method in one shard only")
    return list(seen.values())


def assemble(parts_dir, out=RECORD_DIR) -> Path:
    """Merge the parts under ``parts_dir`` into the record folder ``out`` (files replaced atomically)."""
    parts_dir, out = Path(parts_dir), check_output_dir(out, "--out")
    folders = [f for f in sorted(parts_dir.iterdir()) if f.is_dir() and (f / "part.json").exists()
               and ((f / "results.csv").exists() or (f / "coverage.csv").exists())] if parts_dir.is_dir() else []
    if not folders:
        raise InputError(f"{parts_dir}: no finished part (a sub-folder with results.csv and part.json); run "
                         "`python -m posekit.experiments.record run PART` first")
    rows, metas = [], {}
    coverage = None
    for f in folders:
        metas[f.name] = json.loads((f / "part.json").read_text())
        metas[f.name]["command"] = portable_command(metas[f.name].get("command", ""))
        p = metas[f.name].get("part", f.name)
        if (f / "coverage.csv").exists():
            coverage = (f / "coverage.csv").read_text()
        if not (f / "results.csv").exists():
            continue
        part_rows = read_results(f / "results.csv")
        units = f / "units.csv"
        part_rows = attach_units(part_rows, read_units(units)) if units.exists() else part_rows
        rows += [{**r, "setting": r["setting"] + SETTING_SUFFIX.get(p, "")} for r in part_rows]
    rows = _unique_rows(rows)
    found = list(dict.fromkeys(m.get("part", name) for name, m in metas.items()))
    out.mkdir(parents=True, exist_ok=True)
    if coverage is not None:
        with atomic_path(out / "coverage.csv") as tmp:
            tmp.write_text(coverage)
    for folder in folders:           # each part's chosen weights and example clip, for the chapters' figures
        for f in [*sorted(folder.glob("weights_*.json")), *sorted(folder.glob("*_example.npz"))]:
            dest = out / "parts" / folder.name / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dest) as tmp:
                tmp.write_bytes(f.read_bytes())
    write_results(rows, out)
    verdicts = _verdict_rows(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=VERDICT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(verdicts)
    with atomic_path(out / "verdicts.csv") as tmp:
        tmp.write_text(buf.getvalue())
    meta = {"parts": metas, "seed": SEED, "python": sys.version.split()[0], "machine": platform.machine(),
            "assembled_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "missing_parts": [p for p in PARTS if p not in found]}
    with atomic_path(out / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    lines = ["# posekit's table of record", "",
             "Made with `make record` (see `meta.json` for each part's command, commit, time and prior files).", ""]
    for exp in ("denoise", "occlusion", "image-fit"):
        s = verdict_sentences(rows, exp)
        if s:
            lines += [f"## {exp}", "", *[f"- {x}" for x in s], ""]
    with atomic_path(out / "record.md") as tmp:
        tmp.write_text("\n".join(lines))
    return out


def load_record(folder=RECORD_DIR) -> dict:
    """The shipped record: {"rows": result rows with per-unit values, "verdicts": verdict rows, "meta": dict,
    "coverage": rows of coverage.csv (empty when absent)};
    InputError when the folder holds no record."""
    folder = Path(folder)
    if not (folder / "results.csv").exists():
        raise InputError(f"{folder}: no table of record here (results.csv); make one with `make record`")
    rows = read_results(folder / "results.csv")
    if (folder / "units.csv").exists():
        rows = attach_units(rows, read_units(folder / "units.csv"))
    verdicts = []
    if (folder / "verdicts.csv").exists():
        with open(folder / "verdicts.csv", newline="") as f:
            verdicts = list(csv.DictReader(f))
    meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").exists() else {}
    coverage = read_coverage(folder / "coverage.csv") if (folder / "coverage.csv").exists() else []
    return {"rows": rows, "verdicts": verdicts, "meta": meta, "coverage": coverage}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posekit.experiments.record", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one part of the record with its settings")
    r.add_argument("part", choices=list(PARTS))
    r.add_argument("--motions", required=True, help="folder of motion files (the test subjects are used)")
    r.add_argument("--out", required=True, help="folder of the parts (the part goes to OUT/PART)")
    r.add_argument("--priors", default=None, help="folder of trained priors (default: OUT/priors, empty: the shipped ones)")
    r.add_argument("--fast", action="store_true", help="a quick smoke run (not a record)")
    r.add_argument("--shard", default=None, help="run a piece of the part into OUT/PART.SHARD (with --extra options)")
    r.add_argument("--extra", default="", help='options added after the part\'s own, e.g. "--sigmas 0.5"')
    r.add_argument("--note", default="", help="a note kept in the part's part.json")
    a = sub.add_parser("assemble", help="merge the finished parts into the record folder")
    a.add_argument("parts", help="folder of the parts")
    a.add_argument("--out", default=str(RECORD_DIR), help="record folder (default: the one shipped in posekit)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body():
        if args.command == "run":
            import shlex

            folder = run_part(args.part, args.motions, args.out, args.priors, extra=shlex.split(args.extra),
                              fast=args.fast, shard=args.shard, note=args.note)
            print(f"recorded part {args.part} in {folder}")
        else:
            print(f"wrote the record in {assemble(args.parts, args.out)}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
