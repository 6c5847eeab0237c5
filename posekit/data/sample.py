"""The embedded motion sample: short CMU clips retargeted to SMPL, in AMASS's file layout.

A fresh machine without the CMU files still runs every chapter on real motion: posekit ships a small
sample in ``posekit/data/sample/cmu`` (one ``SS_TT.npz`` per CMU trial, a few seconds each). Held-out
clips come from the validation and test subjects (``posekit.data.dataset.subject_split``); a smaller
number of training-subject clips lets the chapters show what the priors were trained on.

File layout (as AMASS): ``poses`` (T, 72) float32 SMPL axis-angle (joint 0 the global orientation; the
hand joints 22, 23 identity), ``trans`` (T, 3) float32 metres, ``mocap_framerate`` (), ``betas`` (10,)
zeros, ``gender`` "neutral"; world Z-up like AMASS (``load_amass`` turns it y-up again), plus
``split`` and ``source_file`` for the record. ``build_sample`` writes it from a folder of motion files.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from posekit.utils import atomic_path

from .amass import AMASS_TO_SMPL_FRAME
from .download import sha256_file
from .dataset import assign_splits, deduplicate, list_motion_files, trial_key
from .loaders import load_motion
from .motion import Motion

__all__ = ["write_amass_npz", "build_sample", "SAMPLE_README", "ACKNOWLEDGEMENT"]

ACKNOWLEDGEMENT = ("The data used in this project was obtained from mocap.cs.cmu.edu. "
                   "The database was created with funding from NSF EIA-0196217.")

SAMPLE_README = """# Embedded CMU motion sample

Short clips of CMU motion capture, retargeted to SMPL's 24 joints by posekit (`posekit.data.load_motion`)
and stored in AMASS's `.npz` layout (`poses` (T, 72), `trans` (T, 3), `mocap_framerate`, `betas`,
`gender`; Z-up). One file per CMU trial, named by its trial id. `manifest.json` lists every clip:
source file, split (by subject, `posekit.data.dataset.subject_split`), first frame, frames, sha256.
Rebuild it with `python -m posekit.data sample --motions DIR --out posekit/data/sample/cmu`.

Terms: the CMU Graphics Lab Motion Capture Database is free for research and commercial use, including
inclusion in products; it may not be resold as data. No raw mocap file (.bvh/.amc/.asf) is included.

> {ack}
""".format(ack=ACKNOWLEDGEMENT)


def write_amass_npz(path: str | os.PathLike, motion: Motion, **extra) -> Path:
    """Write a ``Motion`` (SMPL frame, y-up) as an AMASS-layout ``.npz`` (Z-up world).

    The inverse of ``load_amass``'s frame change: global orientation R_0' = Cᵀ R_0 and
    trans' = Cᵀ (J_0 + trans) − J_0 with C = ``AMASS_TO_SMPL_FRAME`` and J_0 the open model's pelvis.
    """
    from scipy.spatial.transform import Rotation

    from .retarget import smpl_rest_joints

    poses = np.asarray(motion.poses, dtype=np.float64).reshape(-1, 24, 3).copy()     # (T, 24, 3)
    trans = np.asarray(motion.trans, dtype=np.float64).reshape(-1, 3)                # (T, 3)
    C = AMASS_TO_SMPL_FRAME
    J0 = smpl_rest_joints()[0]
    poses[:, 0] = Rotation.from_matrix(C.T @ Rotation.from_rotvec(poses[:, 0]).as_matrix()).as_rotvec()
    trans = (J0 + trans) @ C - J0                                                    # Cᵀ x as row vectors
    poses[:, 22:] = 0.0
    arrays = dict(poses=poses.reshape(-1, 72).astype(np.float32), trans=trans.astype(np.float32),
                  mocap_framerate=np.float64(motion.fps), betas=np.zeros(10, np.float32),
                  gender=np.array("neutral"))
    arrays.update({k: np.asarray(v) for k, v in extra.items()})
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def _write_index_rows(index_csv: Path, trials: set, out: Path) -> None:
    """Copy the CMU index rows (trial id, description) of ``trials`` (same csv layout as the index)."""
    import csv

    if not index_csv.is_file():
        return
    with open(index_csv, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f) if len(r) >= 2 and r[0].strip() and
                _norm_trial(r[0].strip()) in trials]
    with open(out, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([r[:2] for r in rows])


def _norm_trial(text: str) -> str | None:
    try:
        return trial_key(text)[1]
    except (ValueError, IndexError):
        return None


def build_sample(motions: str | os.PathLike, out: str | os.PathLike, fps: float = 30.0,
                 heldout_seconds: float = 5.0, train_seconds: float = 4.0, max_train_trials: int = 24,
                 max_heldout_per_subject: int = 6, start_fraction: float = 1 / 3,
                 progress: bool = True) -> dict:
    """Write the embedded sample from a folder of motion files into ``out`` (replaced atomically).

    Per CMU trial (one file per trial, ``deduplicate``): a window of ``heldout_seconds`` (val/test
    subjects, at most ``max_heldout_per_subject`` trials each) or ``train_seconds`` (train subjects, at
    most ``max_train_trials`` in all, spread over subjects) starting at ``start_fraction`` of the trial,
    resampled to ``fps``. Returns the manifest (also written as ``manifest.json``).
    """
    files, _ = deduplicate(list_motion_files(motions))
    files = [p for p in files if trial_key(p)[0].isdigit()]           # CMU trials only
    split_of = assign_splits([trial_key(p)[0] for p in files])
    by_subject: dict[str, list[Path]] = {}
    for p in files:
        by_subject.setdefault(trial_key(p)[0], []).append(p)
    chosen: list[Path] = []
    train_subjects = sorted(s for s in by_subject if split_of[s] == "train")
    for s in sorted(by_subject):
        if split_of[s] != "train":
            chosen += by_subject[s][:max_heldout_per_subject]
    per_train = max(1, max_train_trials // max(1, len(train_subjects)))
    chosen += [p for s in train_subjects for p in by_subject[s][:per_train]][:max_train_trials]

    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".sample-", dir=out.parent))   # same file system: an atomic rename
    stage.chmod(0o755)                                                   # mkdtemp makes it private
    clips = []
    it = chosen
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(chosen, desc="sample clips", unit="trial")
    try:
        for p in it:
            subj, trial = trial_key(p)
            split = split_of[subj]
            m = load_motion(p, fps=fps)
            n = int(round((heldout_seconds if split != "train" else train_seconds) * fps))
            T = len(m)
            start = min(int(T * start_fraction), max(0, T - n))
            stop = min(T, start + n)
            clip = Motion(m.poses[start:stop], m.trans[start:stop], m.fps, {})
            f = write_amass_npz(stage / f"{trial}.npz", clip, split=np.array(split),
                                source_file=np.array(f"{p.parent.name}/{p.name}"))
            clips.append({"file": f.name, "trial": trial, "subject": subj, "split": split,
                          "source": f"{p.parent.name}/{p.name}", "first_frame": start, "frames": stop - start,
                          "fps": fps, "sha256": sha256_file(f)})
        manifest = {"acknowledgement": ACKNOWLEDGEMENT, "fps": fps, "clips": clips,
                    "splits": {s: sorted({c["subject"] for c in clips if c["split"] == s})
                               for s in ("train", "val", "test")}}
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=1))
        _write_index_rows(Path(motions) / "cmu-mocap-index.csv", {c["trial"] for c in clips},
                          stage / "cmu-mocap-index.csv")
        (stage / "README.md").write_text(SAMPLE_README)
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return manifest
