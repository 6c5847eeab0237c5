"""A data card for a folder of motion files: what is there, what it holds, what failed, how well it retargets.

``data_card(DIR)`` loads every motion file under DIR (``load_motion``, per-file cache of
``pose_dataset``), and returns one row per file: format folder, rig, subject, trial, split (the rule of
``posekit.data.dataset.subject_split``), activity (CMU index), frames and minutes at 30 fps, whether it
duplicates a trial kept in another format, the error when it cannot be read, and the retargeting quality
(mean / max bone-direction angle, ``posekit.data.quality``, with posekit's per-frame direction correction
and, ``quality_rest_*``, after the rest alignment alone). ``format_card`` prints it per subject and per
format; ``python -m posekit.data report --motions DIR`` does both. No file is ever silently dropped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import (_activity, _code_fingerprint, _load_file_poses, assign_splits, deduplicate, detect_format,
                      list_motion_files, load_activity_index, trial_key)
from .loaders import load_motion
from .quality import retarget_quality

__all__ = ["DataCard", "data_card", "format_card", "per_subject", "per_format", "per_activity",
           "load_quality_record", "QUALITY_RECORD"]

#: retargeting quality of every raw file of the shared CMU set, measured by ``data_card`` and shipped so
#: that a machine holding only the embedded sample (already SMPL) can still show it
QUALITY_RECORD = Path(__file__).resolve().parent / "sample" / "retarget_quality.json"
FPS = 30.0


@dataclass
class DataCard:
    """Rows (one per motion file) and the folder they describe."""
    root: str
    rows: list = field(default_factory=list)

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.rows if r["error"]]

    def __repr__(self) -> str:
        n = len(self.rows)
        return f"DataCard({self.root!r}: {n} files, {len(self.failures)} failed)"


def data_card(motions: str | Path, quality: bool = True, max_frames: int = 60, progress: bool = True,
              cache: bool = True, max_files: int | None = None) -> DataCard:
    """Describe every motion file under ``motions`` (see the module docstring).

    quality: measure the bone-direction agreement of BVH/AMC files (``retarget_quality`` on
    ``max_frames`` evenly spaced frames); AMASS files are SMPL already (quality ``None``).
    max_files: describe only this many files, evenly spaced in the sorted list (a quick look).
    """
    from posekit.utils import cache_dir

    root = Path(motions)
    files = list_motion_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no motion files (.bvh, .amc+.asf, AMASS .npz) found")
    if max_files is not None and len(files) > max_files:
        files = [files[i] for i in np.linspace(0, len(files) - 1, int(max_files)).round().astype(int)]
    kept, dups = deduplicate(files)
    dup_of = {Path(a): Path(b) for a, b in dups}
    split_of = assign_splits([trial_key(p)[0] for p in files])
    index = load_activity_index(root / "cmu-mocap-index.csv")
    code = _code_fingerprint(load_motion)
    file_cache = cache_dir() / "datasets" / "files" if cache else None
    it = files
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(files, desc="data card", unit="file")
    model = None
    rows = []
    for p in it:
        subj, trial = trial_key(p)
        row = {"file": str(p.relative_to(root)), "folder": p.parent.name, "format": detect_format(p),
               "rig": None, "subject": subj, "trial": trial, "split": split_of[subj],
               "activity": _activity(trial, index), "frames": 0, "minutes": 0.0,
               "duplicate_of": str(dup_of[p].relative_to(root)) if p in dup_of else None,
               "error": None, "quality_mean_deg": None, "quality_max_deg": None,
               "quality_rest_mean_deg": None, "quality_rest_max_deg": None}
        try:
            poses = _load_file_poses(p, load_motion, FPS, code, file_cache)
            row["frames"] = int(len(poses))
            row["minutes"] = len(poses) / FPS / 60.0
            if quality and p.suffix.lower() in (".bvh", ".amc"):
                if model is None:
                    from .quality import _model_or_none
                    model = _model_or_none()
                q = retarget_quality(p, max_frames=max_frames, model=model)
                q0 = retarget_quality(p, max_frames=max_frames, model=model, exact_directions=False)
                row.update(rig=q["rig"], quality_mean_deg=q["mean_deg"], quality_max_deg=q["max_deg"],
                           quality_rest_mean_deg=q0["mean_deg"], quality_rest_max_deg=q0["max_deg"])
            elif p.suffix.lower() == ".npz":
                row["rig"] = "smpl (AMASS)"
        except Exception as e:  # noqa: BLE001 - every failure is reported with its reason, never dropped
            row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
    return DataCard(str(root), rows)


def _group(rows: list[dict], key: str) -> list[dict]:
    out: dict[str, dict] = {}
    for r in rows:
        g = out.setdefault(r[key], {key: r[key], "files": 0, "failed": 0, "unique_trials": set(), "frames": 0,
                                    "minutes": 0.0, "activities": set(), "splits": set(), "q": []})
        g["files"] += 1
        g["failed"] += bool(r["error"])
        g["splits"].add(r["split"])
        g["activities"].add(r["activity"])
        if not r["error"] and r["duplicate_of"] is None:        # a trial counts once, in its kept format
            g["unique_trials"].add(r["trial"])
            g["frames"] += r["frames"]
            g["minutes"] += r["minutes"]
        if r["quality_mean_deg"] is not None:
            rest = r.get("quality_rest_mean_deg")
            g["q"].append((r["quality_mean_deg"], r["quality_max_deg"], np.nan if rest is None else rest))
    res = []
    for g in out.values():
        q = np.array(g.pop("q")) if g["q"] else None
        g["trials"] = len(g.pop("unique_trials"))
        g["quality_mean_deg"] = float(q[:, 0].mean()) if q is not None else None
        g["quality_max_deg"] = float(q[:, 1].max()) if q is not None else None
        g["quality_rest_mean_deg"] = float(np.nanmean(q[:, 2])) if q is not None and np.isfinite(q[:, 2]).any() else None
        g["activities"] = sorted(g["activities"])
        g["splits"] = sorted(g["splits"])
        res.append(g)
    return sorted(res, key=lambda g: (len(str(g[key])), str(g[key])))


def per_subject(card: DataCard) -> list[dict]:
    """Per subject: files, failed, trials (deduplicated), frames and minutes (of kept trials), activities,
    split, mean/max retargeting angle."""
    return _group(card.rows, "subject")


def per_format(card: DataCard) -> list[dict]:
    """Per file format (``detect_format``): the same columns as :func:`per_subject`."""
    return _group(card.rows, "format")


def per_activity(card: DataCard) -> list[dict]:
    """Per activity (CMU index): frames (poses at 30 fps) and minutes of the kept trials."""
    return _group(card.rows, "activity")


def _fmt_q(g) -> str:
    if g["quality_mean_deg"] is None:
        return f"{'n/a':>19}"
    rest = g.get("quality_rest_mean_deg")
    return f"{'n/a' if rest is None else format(rest, '5.2f'):>5}  {g['quality_mean_deg']:5.2f}/{g['quality_max_deg']:5.2f}"


def format_card(card: DataCard, max_activities: int = 4) -> str:
    """The data card as text: totals, a table per subject, a table per format, then every failure."""
    ok = [r for r in card.rows if not r["error"] and r["duplicate_of"] is None]
    lines = [f"Data card: {card.root}",
             f"{len(card.rows)} files, {len({r['trial'] for r in ok})} distinct trials, "
             f"{len({r['subject'] for r in card.rows})} subjects, {sum(r['frames'] for r in ok):,} poses at "
             f"{FPS:g} fps ({sum(r['minutes'] for r in ok):.1f} min), {len(card.failures)} failed",
             "", "retarget: mean bone-direction angle (degrees) between the source skeleton and SMPL after the rest",
             "alignment alone, then mean / max with posekit's per-frame direction correction",
             "", f"{'subject':<11}{'split':<7}{'files':>6}{'failed':>7}{'trials':>7}{'minutes':>9}  "
                 f"{'retarget rest  mean/max':>23}  activities"]
    for g in per_subject(card):
        acts = "; ".join(g["activities"][:max_activities]) + (" ..." if len(g["activities"]) > max_activities else "")
        lines.append(f"{g['subject']:<11}{'/'.join(g['splits']):<7}{g['files']:>6}{g['failed']:>7}{g['trials']:>7}"
                     f"{g['minutes']:>9.1f}  {_fmt_q(g):>23}  {acts}")
    lines += ["", f"{'format':<16}{'files':>6}{'failed':>7}{'trials':>7}{'minutes':>9}  {'retarget rest  mean/max':>23}"]
    for g in per_format(card):
        lines.append(f"{g['format']:<16}{g['files']:>6}{g['failed']:>7}{g['trials']:>7}{g['minutes']:>9.1f}  "
                     f"{_fmt_q(g):>23}")
    lines += ["", "trials are counted once, in their preferred format; minutes are of those kept copies"]
    if card.failures:
        lines += ["", "failures:"] + [f"  {r['file']}: {r['error']}" for r in card.failures]
    return "\n".join(lines)


def save_quality_record(card: DataCard, path: str | Path = QUALITY_RECORD) -> Path:
    """Write the per-file retargeting quality of a card (files with a measurement) as JSON (atomic)."""
    from posekit.utils import atomic_path

    rows = [{k: r[k] for k in ("file", "format", "rig", "trial", "quality_mean_deg", "quality_max_deg",
                               "quality_rest_mean_deg", "quality_rest_max_deg")}
            for r in card.rows if r["quality_mean_deg"] is not None]
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps({"source": "shared CMU set", "max_frames": 60, "rows": rows}, indent=0))
    return Path(path)


def load_quality_record(path: str | Path = QUALITY_RECORD) -> list[dict]:
    """The shipped per-file retargeting quality rows (see :data:`QUALITY_RECORD`); [] when absent."""
    path = Path(path)
    return json.loads(path.read_text())["rows"] if path.is_file() else []
