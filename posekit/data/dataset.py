"""``pose_dataset``: every frame of a folder of motions, as SMPL poses split train/val/test by subject.

Pipeline (one function per step):

1. :func:`list_motion_files` -- every ``.bvh``, ``.amc`` and AMASS ``.npz`` under the folder (recursive).
2. :func:`deduplicate` -- the same CMU trial often exists in several conversions (ASF/AMC,
   cgspeed BVH, iClone BVH, Second Life BVH); keep ONE file per trial id, by format preference
   (default :data:`DEFAULT_PREFER`: AMASS > ASF/AMC > cgspeed BVH > iClone BVH > Second Life BVH).
3. load each file with ``posekit.data.load_motion(path, fps=fps)`` (resampled by slerp).
4. :func:`thin_frames` -- optionally drop near-duplicate frames: a frame is dropped when the
   largest geodesic angle over the 21 body joints to the last *kept* frame is below ``thin`` degrees.
5. :func:`assign_splits` -- train/val/test **by subject** (no subject in two splits).

Split rule (stable when files or subjects are added): a CMU subject's split follows from its id alone,
``u = int(sha256("posekit-v1:" + subject)[:8], 16) / 2**32``: test when u < 0.2, val when u < 0.4, train
otherwise (:func:`subject_split`). Each subject keeps its split forever, new subjects are spread
20/20/60, and no subject is in two splits. On the shared CMU set (18 subjects) this gives test = 12
(walks), 17 (sneaking, boxing), 135 (karate); val = 06 (basketball), 10 (soccer), 13 (jumps), 49
(dance, gymnastics), 94 (Indian dance); train = the other ten subjects. Clips whose name has no CMU
``SS_TT`` id get the subject tag of their name without trailing digits (``charleston1.amc`` and
``charleston2.amc`` -> subject ``charleston``: they share a skeleton file) and land in train.
Explicit ``val_subjects`` / ``test_subjects`` replace the rule (listed subjects only; the rest train).

Each file's retargeted poses are cached once (``cache_dir()/datasets/files``, keyed by the file's path,
size and mtime (an AMC's also its ASF's), the frame rate and the loader code), and the assembled data set too
(keyed by the whole file list and the parameters): adding a file to the folder loads only that file, and a
changed file or retargeting code is never served stale. A damaged cache entry is deleted and rebuilt from its
motion file; a file that fails to load is named in a warning and retried next time (a build with failures is
not cached), so no file leaves its split silently.
When no real data is found, the SYNTHETIC range-of-motion sampler is used with a ``UserWarning``.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.spatial.transform import Rotation

import posekit
from posekit.errors import InputError
from posekit.skeleton import BODY_JOINTS, as_body21
from posekit.utils import atomic_save_npz, cache_dir, fast_mode

from .motion import MAX_FPS, MotionFormatError, check_fps
from .paths import HOW_TO_GET_DATA, MOTION_SUFFIXES, find_motion_dir, shared_cmu_dir
from .synthetic import SYNTHETIC_LABEL, sample_synthetic_poses

__all__ = ["pose_dataset", "PoseDataset", "list_motion_files", "detect_format", "trial_key", "deduplicate",
           "thin_frames", "assign_splits", "subject_split", "load_activity_index", "nearest_pose_distance", "DEFAULT_PREFER", "DEFAULT_VAL_SUBJECTS",
           "DEFAULT_TEST_SUBJECTS", "SPLITS"]

SPLITS = ("train", "val", "test")
#: Format preference when one trial exists in several conversions (first = preferred).
DEFAULT_PREFER = ("amass", "asfamc", "bvh_cgspeed", "bvh_iclone", "bvh_secondlife", "bvh_other")
#: ``None``: val/test subjects by the hash rule (:func:`subject_split`); a tuple of ids replaces the rule.
DEFAULT_VAL_SUBJECTS = None
DEFAULT_TEST_SUBJECTS = None
#: salt and fractions of the subject split rule (change the salt only with a new project version)
SPLIT_SALT = "posekit-v1"
SPLIT_FRACTIONS = {"test": 0.2, "val": 0.2}
_CACHE_FORMAT = 2
_CMU_TRIAL = re.compile(r"^(\d{1,3})_(\d{1,3})")


# ---------------------------------------------------------------------------------------------
# files, formats, trial ids


def detect_format(path: str | Path) -> str:
    """Format of a motion file from its name and header.

    Returns "asfamc", "amass", "bvh_cgspeed" (MotionBuilder or 3dsMax cgspeed names),
    "bvh_iclone" (Reallusion CC_Base_*), "bvh_secondlife" (Second Life / Poser) or "bvh_other".
    """
    path = Path(path)
    suf = path.suffix.lower()
    if suf == ".amc":
        return "asfamc"
    if suf == ".npz":
        return "amass"
    if suf != ".bvh":
        raise ValueError(f"{path}: not a motion file (expected one of {MOTION_SUFFIXES})")
    with open(path, "r", errors="replace") as f:
        head = f.read(65536)
    head = head.split("MOTION", 1)[0]
    if "CC_Base_" in head:
        return "bvh_iclone"
    if re.search(r"\bJOINT\s+(LeftUpLeg|LeftHip)\b", head):
        return "bvh_cgspeed"
    if re.search(r"\bJOINT\s+(abdomen|lThigh)\b", head):
        return "bvh_secondlife"
    return "bvh_other"


def _npz_problem(path: Path) -> str | None:
    """None for an AMASS-like ``.npz`` (a ``poses`` key); "" for a readable archive of other data (not a motion
    file); else why it cannot be read (a damaged download, a renamed ``.npy``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return None if "poses" in z.files else ""
    except Exception as e:  # noqa: BLE001 - np.load of a .npy returns an array: no context manager
        return f"{type(e).__name__}: {e}"


def _is_amass_npz(path: Path) -> bool:
    return _npz_problem(path) is None


def list_motion_files(folder: str | Path) -> list[Path]:
    """Every motion file under ``folder`` (recursive, sorted): .bvh, .amc, AMASS .npz (with a ``poses`` key)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: motion folder not found. {HOW_TO_GET_DATA}")
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in MOTION_SUFFIXES or p.name.startswith("."):
            continue
        if p.suffix.lower() == ".npz":
            problem = _npz_problem(p)
            if problem:
                warnings.warn(f"{p}: skipped, not a readable .npz archive ({problem}); expected an AMASS .npz "
                              "(poses, trans, mocap_framerate)", RuntimeWarning, stacklevel=2)
            if problem is not None:
                continue
        out.append(p)
    return out


def trial_key(path: str | Path) -> tuple[str, str]:
    """(subject, trial) from a file name.

    CMU names ``SS_TT*`` -> ("SS", "SS_TT") with two-digit zero padding (``002_01.bvh`` ->
    ("02", "02_01"), ``02_01__with_12asf.amc`` -> ("02", "02_01")). Other names: the trial is the
    stem, the subject the stem without trailing digits/underscores (``charleston2`` -> "charleston").
    """
    stem = Path(path).stem
    m = _CMU_TRIAL.match(stem)
    if m:
        s = str(int(m.group(1))).zfill(2)
        return s, f"{s}_{str(int(m.group(2))).zfill(2)}"
    tag = re.sub(r"[\d_\-]+$", "", stem) or stem
    return tag, stem


def _norm_subject(s) -> str:
    s = str(s).strip()
    return str(int(s)).zfill(2) if s.isdigit() else s


def deduplicate(files: Sequence[Path], prefer: Sequence[str] = DEFAULT_PREFER,
                formats: dict | None = None) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """Keep one file per trial id, the one whose format comes first in ``prefer``.

    Returns (kept files sorted, [(dropped, kept instead), ...]). Formats not in ``prefer`` rank last;
    ties are broken by path order.
    """
    formats = formats if formats is not None else {p: detect_format(p) for p in files}
    rank = {f: i for i, f in enumerate(prefer)}
    best: dict[str, Path] = {}
    for p in sorted(files):
        t = trial_key(p)[1]
        if t not in best or rank.get(formats[p], len(rank)) < rank.get(formats[best[t]], len(rank)):
            best[t] = p
    kept = sorted(best.values())
    keep_set = set(kept)
    dropped = [(p, best[trial_key(p)[1]]) for p in sorted(files) if p not in keep_set]
    return kept, dropped


# ---------------------------------------------------------------------------------------------
# thinning


def _quats(poses: np.ndarray) -> np.ndarray:
    """(T, J, 3) axis-angle -> (T, J, 4) unit quaternions (x, y, z, w)."""
    T, J, _ = poses.shape
    return Rotation.from_rotvec(poses.reshape(-1, 3).astype(np.float64)).as_quat().reshape(T, J, 4)


def thin_frames(poses: np.ndarray | torch.Tensor, threshold_deg: float,
                joints: Sequence[int] = BODY_JOINTS) -> np.ndarray:
    """Indices of the frames kept when thinning near-duplicates (greedy, in time order).

    poses: (T, 24, 3) axis-angle. Frame 0 is kept; frame t is kept when
    max_j angle(R_j(t), R_j(last kept)) >= threshold_deg over ``joints`` (default the 21 body
    joints; the global orientation does not count), where angle = 2·atan2(|v|, |w|) of the
    relative quaternion, i.e. the geodesic angle. Returns (K,) int64.
    """
    poses = np.asarray(poses.detach().cpu() if isinstance(poses, torch.Tensor) else poses)
    if poses.ndim != 3 or poses.shape[-1] != 3:
        raise ValueError(f"thin_frames expects (T, J, 3) axis-angle, got {poses.shape}")
    if len(poses) == 0:
        return np.zeros(0, dtype=np.int64)
    q = _quats(poses[:, list(joints)])                      # (T, J', 4)
    thr = np.deg2rad(float(threshold_deg))
    cos_half = np.cos(thr / 2.0)                            # angle < thr  <=>  |q·q'| > cos(thr/2)
    keep = [0]
    last = q[0]
    for t in range(1, len(q)):
        dot = np.abs((q[t] * last).sum(-1))                  # (J',)
        if dot.min() <= cos_half:                            # some joint moved >= thr
            keep.append(t)
            last = q[t]
    return np.asarray(keep, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# splits and activities


def subject_split(subject: str, salt: str = SPLIT_SALT) -> str:
    """Split of one subject by the documented rule: "test", "val" or "train".

    CMU subjects (numeric ids): u = int(sha256(f"{salt}:{id}")[:8], 16) / 2**32, test when u < 0.2, val when
    u < 0.4, else train. Ids are normalised first ("6" -> "06"). Non-CMU tags (e.g. "charleston"): train.
    """
    s = _norm_subject(subject)
    if not s.isdigit():
        return "train"
    u = int(hashlib.sha256(f"{salt}:{s}".encode()).hexdigest()[:8], 16) / 2 ** 32
    if u < SPLIT_FRACTIONS["test"]:
        return "test"
    if u < SPLIT_FRACTIONS["test"] + SPLIT_FRACTIONS["val"]:
        return "val"
    return "train"


def assign_splits(subjects: Sequence[str], split: str = "subject", val_subjects=DEFAULT_VAL_SUBJECTS,
                  test_subjects=DEFAULT_TEST_SUBJECTS) -> dict[str, str]:
    """{subject: "train" | "val" | "test"}.

    ``split="subject"``: with ``val_subjects`` and ``test_subjects`` both None, the hash rule
    (:func:`subject_split`); when either is given, exactly the listed subjects are val / test (None
    counts as none) and the rest train. ``split="none"``: all train. A subject listed for both val and
    test is an error.
    """
    if split not in ("subject", "none"):
        raise ValueError(f"split must be 'subject' or 'none', got {split!r}")
    by_rule = val_subjects is None and test_subjects is None
    val = {_norm_subject(s) for s in (val_subjects or ())}
    test = {_norm_subject(s) for s in (test_subjects or ())}
    if val & test:
        raise ValueError(f"subjects {sorted(val & test)} are in both val_subjects and test_subjects")
    out = {}
    for s in subjects:
        s = _norm_subject(s)
        if split == "none":
            out[s] = "train"
        elif by_rule:
            out[s] = subject_split(s)
        else:
            out[s] = "val" if s in val else "test" if s in test else "train"
    return out


def load_activity_index(path: str | Path | None = None) -> dict[str, str]:
    """{trial id "SS_TT": description} from the CMU index csv (B. Hahne compilation), {} when absent."""
    cands = [Path(path)] if path else []
    md = find_motion_dir()
    if md is not None:
        cands.append(md / "cmu-mocap-index.csv")
    cands.append(shared_cmu_dir() / "cmu-mocap-index.csv")
    for c in cands:
        if c.is_file():
            out = {}
            with open(c, newline="", encoding="utf-8", errors="replace") as f:
                for row in csv.reader(f):
                    if len(row) >= 2 and _CMU_TRIAL.match(row[0].strip()):
                        s, t = trial_key(row[0].strip())
                        out[t] = row[1].strip()
            return out
    return {}


def _activity(trial: str, index: dict[str, str]) -> str:
    """Coarse activity: the CMU description up to ' - ' (``"dance - pirouette"`` -> "dance"); the tag otherwise."""
    d = index.get(trial)
    if d is None:
        return re.sub(r"[\d_\-]+$", "", trial) or trial
    return d.split(" - ")[0].strip().lower() or "unknown"


# ---------------------------------------------------------------------------------------------
# the dataset object


@dataclass
class PoseDataset:
    """Poses ready for the priors, split by subject.

    ``train`` / ``val`` / ``test``: (N, 24, 3) float32 axis-angle (joint 0 = global orientation).
    ``ids[split]``: {"subject": (N,) str, "trial": (N,) str} per frame. ``files``: rows
    (trial, subject, split, format, activity, frames, path) of the files used. ``duplicates``:
    (dropped, kept) file pairs. ``synthetic``: True when the poses come from the SYNTHETIC sampler.
    """
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    ids: dict
    fps: float | None
    files: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    synthetic: bool = False
    source: str = ""
    from_cache: bool = False
    params: dict = field(default_factory=dict)

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def body21(self, split: str = "train") -> torch.Tensor:
        """(N, 21, 3) axis-angle of the 21 body joints (the layout the priors model)."""
        return as_body21(self.split(split))

    def subjects(self, split: str | None = None) -> list[str]:
        names = SPLITS if split is None else (split,)
        return sorted({s for n in names for s in self.ids[n]["subject"].tolist()})

    @property
    def kind(self) -> str:
        """``"SYNTHETIC"`` for the fallback sampler's poses, ``"real"`` for motion capture: a label for plots."""
        return "SYNTHETIC" if self.synthetic else "real"

    @property
    def summary(self) -> list[dict]:
        """Rows {split, subject, activity, files, frames}, sorted by split then subject."""
        rows: dict[tuple, dict] = {}
        for f in self.files:
            k = (f["split"], f["subject"], f["activity"])
            r = rows.setdefault(k, {"split": k[0], "subject": k[1], "activity": k[2], "files": 0, "frames": 0})
            r["files"] += 1
            r["frames"] += f["frames"]
        order = {s: i for i, s in enumerate(SPLITS)}
        return sorted(rows.values(), key=lambda r: (order[r["split"]], r["subject"], r["activity"]))

    def summary_table(self) -> str:
        """A readable table of frames per split / subject / activity."""
        lines = []
        if self.synthetic:
            lines.append(f"*** {SYNTHETIC_LABEL} ***")
        lines.append(f"pose dataset: {self.source}  fps={self.fps}  thin={self.params.get('thin')}  "
                     f"train/val/test = {len(self.train)}/{len(self.val)}/{len(self.test)} frames")
        lines.append(f"{'split':<6} {'subject':<12} {'activity':<36} {'files':>5} {'frames':>7}")
        for r in self.summary:
            lines.append(f"{r['split']:<6} {r['subject']:<12} {r['activity'][:36]:<36} {r['files']:>5} {r['frames']:>7}")
        if self.duplicates:
            lines.append(f"{len(self.duplicates)} duplicate file(s) of the same trials skipped (format preference "
                         f"{' > '.join(self.params.get('prefer', DEFAULT_PREFER))})")
        if self.failed:
            lines.append(f"{len(self.failed)} file(s) failed to load: " + ", ".join(Path(p).name for p, _ in self.failed))
        if self.synthetic:
            lines.append(f"*** SYNTHETIC: not real motion capture. {HOW_TO_GET_DATA} ***")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary_table()


# ---------------------------------------------------------------------------------------------
# cache


def _loader_id(loader: Callable) -> str:
    return f"{getattr(loader, '__module__', '?')}.{getattr(loader, '__qualname__', repr(type(loader)))}"


def _code_fingerprint(loader: Callable) -> str:
    """Content hash of the code and model files a posekit loader depends on (a retargeting change
    invalidates the cache), or of the source of a custom loader."""
    h = hashlib.sha256(_loader_id(loader).encode())
    if str(getattr(loader, "__module__", "")).startswith("posekit."):
        pkg = Path(posekit.__file__).parent
        for p in sorted([*pkg.glob("data/*.py"), *pkg.glob("body/models/*.npz"), *pkg.glob("skeleton.py"),
                         *pkg.glob("rotations.py")]):
            h.update(p.name.encode() + hashlib.sha256(p.read_bytes()).digest())
    else:
        import inspect
        try:
            h.update(inspect.getsource(loader if callable(loader) and hasattr(loader, "__code__") else type(loader)).encode())
        except (OSError, TypeError):
            pass
    return h.hexdigest()[:16]


def _file_stamp(path: Path) -> str:
    """Path, size and mtime of a motion file; an AMC's also name its ASF (a changed or added skeleton
    invalidates the cached poses)."""
    st = path.stat()
    stamp = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if path.suffix.lower() == ".amc":
        from .asf_amc import find_asf
        try:
            asf = find_asf(path)
            a = asf.stat()
            stamp += f"|{asf.resolve()}|{a.st_size}|{a.st_mtime_ns}"
        except (OSError, ValueError):   # no ASF: the load fails and says so
            stamp += "|no-asf"
    return stamp


def _cache_key(files: Sequence[Path], params: dict) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(f"{_file_stamp(p)}\n".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(f"posekit={posekit.__version__}|cache={_CACHE_FORMAT}".encode())
    return h.hexdigest()[:24]


def _save_cache(path: Path, poses: np.ndarray, meta_rows: list[dict], frame_file: np.ndarray,
                duplicates: list, failed: list) -> None:
    cols = ("trial", "subject", "split", "format", "activity", "path")
    arrays = {f"file_{c}": np.array([r[c] for r in meta_rows], dtype=str) for c in cols}
    arrays["file_frames"] = np.array([r["frames"] for r in meta_rows], dtype=np.int64)
    arrays["dup_dropped"] = np.array([str(a) for a, _ in duplicates], dtype=str)
    arrays["dup_kept"] = np.array([str(b) for _, b in duplicates], dtype=str)
    arrays["failed_path"] = np.array([str(a) for a, _ in failed], dtype=str)
    arrays["failed_msg"] = np.array([str(b) for _, b in failed], dtype=str)
    atomic_save_npz(path, poses=poses.astype(np.float32), frame_file=frame_file.astype(np.int32), **arrays)


def _file_cache_key(path: Path, fps: float, loader_code: str) -> str:
    key = f"{_file_stamp(path)}|{fps}|{loader_code}|{_CACHE_FORMAT}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _read_cached_poses(cached: Path) -> np.ndarray:
    """The poses (T, 24, 3) of a per-file cache entry; any exception means a damaged entry."""
    with np.load(cached, allow_pickle=False) as z:
        poses = z["poses"]
    if poses.ndim != 3 or poses.shape[1:] != (24, 3) or len(poses) == 0 or poses.dtype.kind != "f":
        raise ValueError(f"poses of shape {poses.shape} and dtype {poses.dtype}; expected (T>0, 24, 3) floats")
    if not np.isfinite(poses).all():
        raise ValueError("poses hold NaN/inf")
    return poses.astype(np.float64)


def _load_file_poses(path: Path, loader: Callable, fps: float, loader_code: str, cache: Path | None) -> np.ndarray:
    """One file's poses (T, 24, 3) float64 at ``fps``, from the per-file cache when it holds them.

    A cache entry that cannot be read (truncated, overwritten, bad zip, wrong content) is deleted with a
    warning and rebuilt from the motion file: a damaged cache never makes a file fail.
    """
    cached = cache / f"motion_{_file_cache_key(path, fps, loader_code)}.npz" if cache is not None else None
    if cached is not None and cached.is_file():
        try:
            poses = _read_cached_poses(cached)
        except Exception as e:  # noqa: BLE001 - BadZipFile, EOFError, zlib.error, OSError, ValueError, KeyError...
            warnings.warn(f"{cached}: damaged pose-cache entry of {path.name} ({type(e).__name__}: {e}); "
                          "deleted, rebuilding it from the motion file", RuntimeWarning, stacklevel=2)
            try:
                cached.unlink()
            except OSError:
                pass
        else:
            try:
                os.utime(cached)                   # most recently used (see _prune_cache)
            except OSError:                        # a read-only cache still serves its entries
                pass
            return poses
    m = loader(path, fps=fps)
    poses = _as_numpy(m.poses).astype(np.float64).reshape(-1, 24, 3)
    if len(poses) == 0:
        raise MotionFormatError(f"{path}: the loader returned no frame; expected at least one")
    if abs(float(m.fps) - fps) > 1e-6 and len(poses) > 1:
        poses = _resample(poses, float(m.fps), fps)
    poses = poses.astype(np.float32)          # stored as float32: a cached and a fresh build agree exactly
    if cached is not None:
        try:
            atomic_save_npz(cached, poses=poses)
        except OSError as e:                       # a cache that cannot be written does not fail the file
            warnings.warn(f"{cached}: pose-cache entry of {path.name} not written ({e})", RuntimeWarning, stacklevel=2)
    return poses.astype(np.float64)


def _prune_cache(root: Path, keep: int = 20, pattern: str = "pose_dataset_*.npz") -> None:
    """Delete all but the ``keep`` most recently used cache files matching ``pattern`` in ``root`` (stale
    keys pile up whenever the data or the loader code changes)."""
    files = sorted(root.glob(pattern), key=lambda q: q.stat().st_mtime, reverse=True)
    for q in files[keep:]:
        try:
            q.unlink()
        except OSError:
            pass


def _load_cache(path: Path):
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    cols = ("trial", "subject", "split", "format", "activity", "path")
    rows = [dict({c: str(d[f"file_{c}"][i]) for c in cols}, frames=int(d["file_frames"][i]))
            for i in range(len(d["file_frames"]))]
    dups = list(zip(d["dup_dropped"].tolist(), d["dup_kept"].tolist()))
    failed = list(zip(d["failed_path"].tolist(), d["failed_msg"].tolist()))
    return d["poses"], rows, d["frame_file"], dups, failed


# ---------------------------------------------------------------------------------------------
# assembling


def _order_for_max_files(files: list[Path], split_of: dict[str, str]) -> list[Path]:
    """Round-robin over subjects, interleaving the splits, so ``max_files`` >= 3 keeps every split non-empty."""
    by_subj: dict[str, list[Path]] = {}
    for p in files:
        by_subj.setdefault(trial_key(p)[0], []).append(p)
    # subjects interleaved across the splits (test, val, train, test, ...) so that even a few files cover all
    per_split = {k: sorted(s for s in by_subj if split_of[s] == k) for k in ("test", "val", "train")}
    subj_order = [s for group in itertools.zip_longest(*per_split.values()) for s in group if s is not None]
    out, i = [], 0
    while len(out) < len(files):
        for s in subj_order:
            if i < len(by_subj[s]):
                out.append(by_subj[s][i])
        i += 1
    return out


def _build(poses: np.ndarray, rows: list[dict], frame_file: np.ndarray, dups, failed, fps, source,
           params, synthetic=False, from_cache=False) -> PoseDataset:
    split_of_frame = np.array([rows[i]["split"] for i in frame_file], dtype=str) if len(rows) else np.zeros(0, str)
    subj = np.array([r["subject"] for r in rows], dtype=str)
    trial = np.array([r["trial"] for r in rows], dtype=str)
    tensors, ids = {}, {}
    for s in SPLITS:
        m = split_of_frame == s
        tensors[s] = torch.from_numpy(np.ascontiguousarray(poses[m], dtype=np.float32)).reshape(-1, 24, 3)
        ids[s] = {"subject": subj[frame_file[m]] if len(rows) else np.zeros(0, str),
                  "trial": trial[frame_file[m]] if len(rows) else np.zeros(0, str)}
    return PoseDataset(train=tensors["train"], val=tensors["val"], test=tensors["test"], ids=ids, fps=fps,
                       files=rows, duplicates=dups, failed=failed, synthetic=synthetic, source=source,
                       from_cache=from_cache, params=params)


def _synthetic_dataset(n: int, seed: int, params: dict) -> PoseDataset:
    """SYNTHETIC fallback: n poses in 10 pseudo-subjects of equal size; val = synthetic-8, test = synthetic-9."""
    poses = sample_synthetic_poses(n, seed=seed).numpy()
    k = 10
    per = np.array_split(np.arange(n), k)
    rows, frame_file = [], np.zeros(n, dtype=np.int64)
    for i, idx in enumerate(per):
        split = "val" if i == 8 else "test" if i == 9 else "train"
        rows.append({"trial": f"synthetic-{i}", "subject": f"synthetic-{i}", "split": split, "format": "synthetic",
                     "activity": "SYNTHETIC range-of-motion", "frames": len(idx), "path": ""})
        frame_file[idx] = i
    return _build(poses, rows, frame_file, [], [], None, SYNTHETIC_LABEL, params, synthetic=True)


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def pose_dataset(motions: str | Path | None = None, fps: float = 30, thin: float | None = None,
                 split: str = "subject", val_subjects: Sequence = DEFAULT_VAL_SUBJECTS,
                 test_subjects: Sequence = DEFAULT_TEST_SUBJECTS, seed: int = 0, cache: bool | str | Path = True,
                 max_files: int | None = None, progress: bool = True, prefer: Sequence[str] = DEFAULT_PREFER,
                 dedup: bool = True, loader: Callable | None = None, on_error: str = "warn",
                 synthetic_n: int | None = None) -> PoseDataset:
    """All frames of a folder of motions as SMPL poses, split train/val/test by subject.

    motions: folder searched recursively for .bvh / .amc(+.asf) / AMASS .npz; ``None`` = the first of
      ``$POSEKIT_DATA/cmu`` and ``../shared/data/cmu`` (``posekit.data.paths.find_motion_dir``), and when
      neither exists the SYNTHETIC sampler (with a ``UserWarning``); ``"synthetic"`` forces it.
    fps: frame rate the motions are resampled to (slerp). thin: drop near-duplicate frames whose max
      body-joint angle to the last kept frame is below ``thin`` degrees (``None``: keep all).
    split: "subject" (val/test by the hash rule :func:`subject_split`, or exactly the subjects listed in
      ``val_subjects``/``test_subjects`` when either is given; the rest train) or "none" (all train).
    seed: seed of the synthetic fallback. cache: True (``cache_dir()/datasets``), a folder, or False.
    max_files: use at most this many files (after dedup), taken round-robin over subjects, interleaving
      test, val and train subjects, so that every split gets data.
    prefer / dedup: format preference for trials present in several conversions (see ``DEFAULT_PREFER``).
    loader: ``loader(path, fps=fps)`` -> object with ``poses`` (T, 24, 3) and ``fps``; default
      ``posekit.data.load_motion``. on_error: "warn" (skip a file that fails, listed in ``failed``) or "raise".
    synthetic_n: number of poses of the synthetic fallback (default 2000 in fast mode, else 20000).
    """
    if fps is None:
        raise InputError(f"pose_dataset: fps=None; expected frames per second in (0, {MAX_FPS:g}]")
    fps = check_fps(fps, "pose_dataset")
    if thin is not None and float(thin) < 0:
        raise ValueError(f"thin must be None or an angle in degrees >= 0, got {thin!r}")
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    if max_files is not None and int(max_files) < 1:
        raise ValueError(f"max_files must be None or >= 1, got {max_files!r}")
    fps = float(fps)
    params = {"fps": fps, "thin": None if thin is None else float(thin), "split": split,
              "val_subjects": (f"rule:{SPLIT_SALT}" if val_subjects is None and test_subjects is None
                               else sorted(_norm_subject(s) for s in val_subjects or ())),
              "test_subjects": (f"rule:{SPLIT_SALT}" if val_subjects is None and test_subjects is None
                                else sorted(_norm_subject(s) for s in test_subjects or ())),
              "max_files": max_files, "prefer": list(prefer), "dedup": bool(dedup)}
    n_syn = synthetic_n or (2000 if fast_mode() else 20000)

    if isinstance(motions, str) and motions == "synthetic":
        return _synthetic_dataset(n_syn, seed, dict(params, seed=seed))
    if motions is None:
        motions = find_motion_dir()
        if motions is None:
            warnings.warn(f"No real motion data found: using the SYNTHETIC range-of-motion sampler "
                          f"({n_syn} poses). {HOW_TO_GET_DATA}", UserWarning, stacklevel=2)
            return _synthetic_dataset(n_syn, seed, dict(params, seed=seed))
    folder = Path(motions)
    all_files = list_motion_files(folder)
    if not all_files:
        raise FileNotFoundError(f"{folder}: no motion files (.bvh, .amc+.asf, AMASS .npz) found. {HOW_TO_GET_DATA}")

    formats = {p: detect_format(p) for p in all_files}
    if dedup:
        files, dups = deduplicate(all_files, prefer, formats)
    else:
        files, dups = list(all_files), []
    split_of = assign_splits([trial_key(p)[0] for p in files], split, val_subjects, test_subjects)
    if max_files is not None:
        files = _order_for_max_files(files, split_of)[: int(max_files)]
    files = sorted(files)

    if loader is None:
        from .loaders import load_motion as loader  # the real default
    params["loader"] = _loader_id(loader)
    params["loader_code"] = _code_fingerprint(loader)

    cache_path = None
    if cache:
        root = Path(cache) if isinstance(cache, (str, Path)) else cache_dir() / "datasets"
        cache_path = root / f"pose_dataset_{_cache_key(files, params)}.npz"
        if cache_path.is_file():
            try:
                poses, rows, frame_file, dups_c, failed = _load_cache(cache_path)
                os.utime(cache_path)                    # most recently used (see _prune_cache)
                for p, msg in failed:                   # never silently: a skipped file is named every time
                    warnings.warn(f"{p}: skipped, could not be loaded: {msg}", RuntimeWarning, stacklevel=2)
                return _build(poses, rows, frame_file, dups_c, failed, fps, str(folder), params, from_cache=True)
            except Exception as e:  # a corrupt cache file is rebuilt, never trusted
                warnings.warn(f"{cache_path}: unreadable dataset cache ({e}); rebuilding", RuntimeWarning)

    index = load_activity_index(folder / "cmu-mocap-index.csv")
    chunks, rows, frame_file, failed = [], [], [], []
    it = files
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(files, desc="pose_dataset", unit="file")
    # other copies of each trial, in preference order: used when the preferred copy fails to load
    rank = {f: i for i, f in enumerate(prefer)}
    alternates: dict[str, list[Path]] = {}
    for a, _ in dups:
        alternates.setdefault(trial_key(a)[1], []).append(Path(a))
    for v in alternates.values():
        v.sort(key=lambda q: (rank.get(formats[q], len(rank)), str(q)))
    for p0 in it:
        poses = None
        for p in [p0] + alternates.get(trial_key(p0)[1], []):
            try:
                poses = _load_file_poses(p, loader, fps, params["loader_code"],
                                         cache_path.parent / "files" if cache_path is not None else None)
                break
            except Exception as e:
                if on_error == "raise":
                    raise
                warnings.warn(f"{p}: skipped, could not be loaded: {e}", RuntimeWarning, stacklevel=2)
                failed.append((str(p), str(e)))
                poses = None
        if poses is None:
            continue
        if thin is not None and len(poses):
            poses = poses[thin_frames(poses, thin)]
        subj, trial = trial_key(p)
        rows.append({"trial": trial, "subject": subj, "split": split_of[subj], "format": formats[p],
                     "activity": _activity(trial, index), "frames": int(len(poses)), "path": str(p)})
        frame_file.append(np.full(len(poses), len(rows) - 1, dtype=np.int64))
        chunks.append(poses.astype(np.float32))
    if not rows:
        raise RuntimeError(f"{folder}: none of the {len(files)} motion files could be loaded: {failed[:3]}")
    poses = np.concatenate(chunks, 0)
    frame_file = np.concatenate(frame_file, 0)
    if cache_path is not None:
        if not failed:     # a failed file (a missing ASF, a read error) is retried next time, not cached
            _save_cache(cache_path, poses, rows, frame_file, dups, failed)
        _prune_cache(cache_path.parent)
        _prune_cache(cache_path.parent / "files", keep=max(2000, 4 * len(files)), pattern="motion_*.npz")
    ds = _build(poses, rows, frame_file, [(str(a), str(b)) for a, b in dups], failed, fps, str(folder), params)
    for s in SPLITS:
        if split == "subject" and len(ds.split(s)) == 0:
            warnings.warn(f"pose_dataset: split {s!r} is empty (subjects present: {sorted(split_of)}; "
                          f"val_subjects={params['val_subjects']}, test_subjects={params['test_subjects']})",
                          UserWarning, stacklevel=2)
    return ds


def _resample(poses: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, J, 3) axis-angle at src_fps -> (T', J, 3) at dst_fps by slerp (``posekit.data.motion``);
    frames at k / dst_fps while inside (T - 1) / src_fps, T' = floor((T - 1) dst / src) + 1."""
    from .motion import Motion, resample_motion
    T = len(poses)
    m = Motion(torch.from_numpy(poses).float(), torch.zeros(T, 3), src_fps, {})
    return resample_motion(m, dst_fps).poses.numpy().astype(np.float64)


def nearest_pose_distance(queries: torch.Tensor, reference: torch.Tensor, weights: torch.Tensor | None = None,
                          chunk: int = 32) -> torch.Tensor:
    """For each query pose, the Pose-NDF distance d(θ, θ̂) to its nearest reference pose (body 21 joints).

    queries: (Q, ...) and reference: (R, ...) in any layout ``as_body21`` accepts. Returns (Q,) radians-scale
    distances d = sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|) (``posekit.rotations.pose_ndf_distance``).
    """
    from posekit.rotations import aa_to_quat, nearest_pose_ndf
    qa = aa_to_quat(as_body21(queries).float())             # (Q, 21, 4)
    qr = aa_to_quat(as_body21(reference).float())           # (R, 21, 4)
    return nearest_pose_ndf(qa, qr, weights, chunk)[0]
