"""The ``Motion`` container, its errors, CMU ids from file names and frame-rate resampling.

This module imports no file reader: the readers (``bvh``, ``asf_amc``, ``amass``) import it, and
``posekit.data.loaders.load_motion`` dispatches to them.

A ``Motion`` is SMPL-ready: ``poses`` (T, 24, 3) float32 torch axis-angle in SMPL's joint order
(joint 0 is the global orientation, joints 22/23 - SMPL's hands - are identity), ``trans`` (T, 3)
float32 torch metres in SMPL's frame (y up, +z forward at rest, left = +x), so that SMPL's pelvis
lies at ``J_0(β) + trans`` (see ``posekit.data.retarget``).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch

from ..skeleton import SMPL_JOINT_NAMES
from ..errors import InputError, check_finite_number

__all__ = ["Motion", "MotionFormatError", "resample_motion", "slerp_resample", "cmu_ids", "drop_nonfinite_frames",
           "check_fps", "MAX_FPS", "MAX_RESAMPLED_FRAMES"]

#: the highest frame rate a motion is resampled to (mocap runs at 30..480 fps; more is a typo, and 1e9 fps
#: would ask for gigabytes)
MAX_FPS = 1000.0
#: the most frames one resampled motion may have (about 2.3 hours at 120 fps; guards a tiny source frame rate)
MAX_RESAMPLED_FRAMES = 1_000_000


class MotionFormatError(InputError):
    """A motion file that cannot be read; the message names the file and the line or key."""


@dataclass
class Motion:
    """A motion retargeted to SMPL.

    poses: (T, 24, 3) float32 torch axis-angle, SMPL joint order (``SMPL_JOINT_NAMES``).
    trans: (T, 3) float32 torch, metres, SMPL frame (y up); SMPL's pelvis = J_0(β) + trans.
    fps: frames per second.
    meta: source file, format, rig, subject, trial, dropped frames, units, ...
    """

    poses: torch.Tensor
    trans: torch.Tensor
    fps: float
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    @property
    def num_frames(self) -> int:
        return len(self)

    @property
    def duration(self) -> float:
        """Seconds covered by the frames."""
        return len(self) / float(self.fps)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return SMPL_JOINT_NAMES

    def body_pose(self) -> torch.Tensor:
        """(T, 69) SMPL ``body_pose`` (joints 1..23)."""
        return self.poses[:, 1:].reshape(len(self), 69)

    def global_orient(self) -> torch.Tensor:
        """(T, 3) SMPL ``global_orient``."""
        return self.poses[:, 0]

    def resample(self, fps: float) -> "Motion":
        return resample_motion(self, fps)


# ---------------------------------------------------------------------------------------------
# metadata from file names


_CMU_TRIAL = re.compile(r"^(\d{1,3})_(\d{1,3})")


def cmu_ids(path: str | Path) -> dict:
    """Subject / trial from a CMU-style file name: ``05_03.bvh`` -> {"subject": "05", "trial": "05_03"}.

    ``02_01__with_12asf.amc`` -> subject "02", trial "02_01". Names without the pattern
    (``lambada.amc``) use the stem as both subject and trial.
    """
    stem = Path(path).stem
    m = _CMU_TRIAL.match(stem)
    if m:
        subj = m.group(1).zfill(2)
        return {"subject": subj, "trial": f"{subj}_{m.group(2).zfill(2)}"}
    return {"subject": stem, "trial": stem}


# ---------------------------------------------------------------------------------------------
# resampling


def slerp_resample(quats: torch.Tensor, times_src: torch.Tensor, times_dst: torch.Tensor) -> torch.Tensor:
    """Resample unit quaternions by slerp between the two neighbouring source frames.

    quats: (T, ..., 4) (x, y, z, w); times_src: (T,) increasing; times_dst: (T',) inside the range.
    Returns (T', ..., 4).
    """
    idx = torch.searchsorted(times_src, times_dst, right=True).clamp(1, len(times_src) - 1)  # (T',)
    t0, t1 = times_src[idx - 1], times_src[idx]
    w = ((times_dst - t0) / (t1 - t0)).clamp(0.0, 1.0)                                       # (T',)
    q0, q1 = quats[idx - 1], quats[idx]
    w = w.reshape(-1, *([1] * (quats.dim() - 2))).expand(q0.shape[:-1])
    return _slerp(q0, q1, w)


def _slerp(q0: torch.Tensor, q1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Element-wise shortest-arc slerp: q0, q1 (..., 4), w (...) in [0, 1] -> (..., 4)."""
    dot = (q0 * q1).sum(-1)                                       # (...)
    q1 = torch.where((dot < 0).unsqueeze(-1), -q1, q1)           # shortest arc
    dot = dot.abs().clamp(max=1.0)
    theta = torch.arccos(dot)                                     # (...)
    sin = torch.sin(theta)
    small = sin < 1e-6
    a = torch.where(small, 1.0 - w, torch.sin((1.0 - w) * theta) / torch.where(small, 1.0, sin))
    b = torch.where(small, w, torch.sin(w * theta) / torch.where(small, 1.0, sin))
    q = a.unsqueeze(-1) * q0 + b.unsqueeze(-1) * q1
    return q / q.norm(dim=-1, keepdim=True)


def check_fps(fps, where: str = "", option: str = "fps") -> float:
    """A target frame rate: a finite number in (0, MAX_FPS], else InputError naming ``where`` (a file)."""
    loc = f"{where}: " if where else ""
    try:
        v = check_finite_number(option, fps)
    except InputError as e:
        raise InputError(f"{loc}{e}; expected frames per second in (0, {MAX_FPS:g}]") from None
    if not 0 < v <= MAX_FPS:
        raise InputError(f"{loc}{option}={fps!r}: expected frames per second in (0, {MAX_FPS:g}]")
    return v


def resample_motion(motion: Motion, fps: float) -> Motion:
    """Resample to ``fps`` (in (0, MAX_FPS]): rotations by quaternion slerp, translations linearly.

    The new frames sit at k / fps for k = 0.. while inside the source duration
    ((T - 1) / fps_src), so the first frame is kept exactly. InputError for a bad ``fps`` or a result of
    more than ``MAX_RESAMPLED_FRAMES`` frames.
    """
    where = str(motion.meta.get("source", ""))
    fps = check_fps(fps, where)
    src_fps = float(motion.fps)
    if not np.isfinite(src_fps) or src_fps <= 0:
        raise InputError(f"{where or 'motion'}: frame rate {src_fps}; expected a positive number of frames per second")
    if abs(fps - src_fps) < 1e-9 or len(motion) < 2:
        return Motion(motion.poses.clone(), motion.trans.clone(), fps if len(motion) < 2 else src_fps,
                      dict(motion.meta))
    T = len(motion)
    n_new = np.floor((T - 1) / src_fps * fps + 1e-9) + 1
    if n_new > MAX_RESAMPLED_FRAMES:
        raise InputError(f"{where or 'motion'}: resampling {T} frames at {src_fps:g} fps to {fps:g} fps would make "
                         f"{n_new:.3g} frames; expected at most {MAX_RESAMPLED_FRAMES} (check the file's frame rate)")
    t_src = torch.arange(T, dtype=torch.float64) / src_fps                                   # (T,)
    n_dst = int(n_new)
    t_dst = torch.arange(n_dst, dtype=torch.float64) / fps                                   # (T',)
    q = roma.rotvec_to_unitquat(motion.poses.double())                                       # (T, 24, 4)
    q_new = slerp_resample(q, t_src, t_dst)                                                  # (T', 24, 4)
    poses = roma.unitquat_to_rotvec(q_new).float()
    idx = torch.searchsorted(t_src, t_dst, right=True).clamp(1, T - 1)
    w = ((t_dst - t_src[idx - 1]) / (t_src[idx] - t_src[idx - 1])).clamp(0, 1).unsqueeze(-1)
    tr = motion.trans.double()
    trans = ((1 - w) * tr[idx - 1] + w * tr[idx]).float()
    meta = dict(motion.meta)
    meta["resampled_from_fps"] = src_fps
    return Motion(poses, trans, fps, meta)


def drop_nonfinite_frames(values: np.ndarray, path: Path, what: str = "frame") -> tuple[np.ndarray, list[int]]:
    """Drop frames (rows of ``values`` (T, ...)) holding NaN/inf, with a warning naming them.

    MotionFormatError when there is no frame, or when every frame holds NaN/inf (nothing would be left).
    """
    if values.shape[0] == 0:
        raise MotionFormatError(f"{path}: the file holds no {what}; expected at least one")
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if not bad.any():
        return values, []
    if bad.all():
        raise MotionFormatError(f"{path}: all {len(bad)} {what}(s) hold NaN/inf values; expected at least one "
                                f"finite {what}")
    idx = np.flatnonzero(bad).tolist()
    shown = ", ".join(map(str, idx[:20])) + (" ..." if len(idx) > 20 else "")
    warnings.warn(f"{path}: dropped {len(idx)} {what}(s) with NaN/inf values: {what}s {shown} (0-based)",
                  RuntimeWarning, stacklevel=3)
    return values[~bad], idx
