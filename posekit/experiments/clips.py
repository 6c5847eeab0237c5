"""What the motion experiments observe: held-out clips, the noise they get, the parts they hide.

A clip (``posekit.fitting.motion.Clip``) is a short piece of held-out motion resampled to ``fps``
(30, as AMASS/HuMoR clips in Pose-NDF's protocol), cut from the files of the held-out subjects of the
data layer's split (``test``; ``val`` for tuning the fit weights).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..fitting.motion import Clip
from ..skeleton import SMPL_JOINT_NAMES

__all__ = ["Clip", "HELD_OUT_WARNINGS", "held_out_files", "cut_clips", "held_out_clips", "clips_for_run", "clips_for_settings", "load_pose_dataset",
           "axis_angle_noise", "PARTS", "part_joints"]

# ----------------------------------------------------------------------------------------------
# clips of held-out motion
# ----------------------------------------------------------------------------------------------


#: warnings about what was held out, repeated in the report of ``python -m posekit.experiments all``
HELD_OUT_WARNINGS: list[str] = []


def _warn_held_out(message: str) -> None:
    if message not in HELD_OUT_WARNINGS:
        HELD_OUT_WARNINGS.append(message)
    warnings.warn(message, stacklevel=3)


def held_out_files(motions_dir: str | os.PathLike, split: str = "test") -> list[Path]:
    """Motion files of the held-out subjects of ``split`` (``test`` or ``val``), with the data layer's split
    (``posekit.data.dataset``); one file per trial (duplicated conversions dropped as ``pose_dataset`` does).

    Test clips never come from the validation subjects that tune the weights: a folder without test
    subjects is an error. A folder without validation subjects tunes on test subjects' files only after
    a loud warning (kept in ``HELD_OUT_WARNINGS`` for the report); an arbitrary folder with neither uses
    every file, with the same kind of warning (nothing is then held out).
    """
    from posekit.data.dataset import assign_splits, deduplicate, list_motion_files, trial_key

    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    root = Path(motions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"--motions must be a folder of motion files (BVH, ASF/AMC, AMASS .npz); got {root}")
    files, _ = deduplicate(list_motion_files(root))
    if not files:
        raise FileNotFoundError(f"no motion files (.bvh, .amc+.asf, AMASS .npz) under {root}")
    split_of = assign_splits([trial_key(p)[0] for p in files])
    by_split = {name: [p for p in files if split_of[trial_key(p)[0]] == name] for name in ("train", "val", "test")}
    if by_split[split]:
        return by_split[split]
    if not by_split["val"] and not by_split["test"]:
        _warn_held_out(f"{root}: no file of a held-out subject; every motion there is used for {split} clips "
                       "(the priors may have been trained on it, and tuning and testing share subjects)")
        return files
    if split == "test":
        raise FileNotFoundError(
            f"{root} holds no file of a test subject (test subjects are chosen by posekit.data.subject_split); "
            "testing on the validation subjects that tune the weights would not be a held-out result")
    _warn_held_out(f"{root}: no file of a validation subject; the fit weights are tuned on TEST subjects' files, "
                   "so the test errors are optimistic")
    return by_split["test"]


_MOTION_CACHE: dict[tuple, tuple] = {}


def _load(path: Path, fps: float):
    key = (str(path), float(fps))
    if key not in _MOTION_CACHE:
        from posekit.data import load_motion

        m = load_motion(path, fps=fps)
        _MOTION_CACHE[key] = (torch.as_tensor(np.asarray(m.poses), dtype=torch.float32).reshape(-1, 24, 3),
                              torch.as_tensor(np.asarray(m.trans), dtype=torch.float32).reshape(-1, 3),
                              float(m.fps))
    return _MOTION_CACHE[key]


def cut_clips(name: str, poses: torch.Tensor, trans: torch.Tensor, length: int, fps: float) -> list[Clip]:
    """Non-overlapping windows of ``length`` frames from one motion (T, 24, 3)."""
    out = []
    for i, s in enumerate(range(0, poses.shape[0] - length + 1, length)):
        out.append(Clip.from_poses(f"{name}[{s}:{s + length}]", poses[s:s + length], trans[s:s + length], fps))
    return out


def held_out_clips(motions_dir: str | os.PathLike, length: int, n_clips: int, fps: float = 30.0,
                   seed: int = 0, files: Sequence[Path] | None = None, split: str = "test") -> list[Clip]:
    """``n_clips`` clips of ``length`` frames from held-out motion (the ``test`` subjects; ``val`` for
    tuning weights), picked at random (seeded) among all non-overlapping windows, spread over subjects:
    one window per subject in turn (subjects in a seeded random order) until ``n_clips`` are chosen."""
    from posekit.data.dataset import trial_key

    if length < 2:
        raise ValueError(f"clip length must be >= 2 frames, got {length}")
    files = list(files) if files is not None else held_out_files(motions_dir, split=split)
    by_subject: dict[str, list[Clip]] = {}
    for p in files:
        poses, trans, f = _load(Path(p), fps)
        by_subject.setdefault(trial_key(p)[0], []).extend(cut_clips(Path(p).stem, poses, trans, length, f))
    by_subject = {k: v for k, v in sorted(by_subject.items()) if v}
    if not by_subject:
        raise InputError(f"no held-out motion in {motions_dir} is {length} frames long at {fps} fps")
    rng = np.random.default_rng(seed)
    pools = {k: list(rng.permutation(len(v))) for k, v in by_subject.items()}
    order = [list(by_subject)[i] for i in rng.permutation(len(by_subject))]
    picked: list[Clip] = []
    while len(picked) < n_clips and any(pools.values()):
        for subject in order:
            if pools[subject] and len(picked) < n_clips:
                picked.append(by_subject[subject][pools[subject].pop()])
    return picked


def clips_for_run(args, st, device, priors: dict, seed: int) -> tuple[dict, list | None]:
    """Test clips per length and, when some weight must be tuned, validation clips (both may be injected on ``args``:
    ``clips_by_length``, ``val_clip_list``). See :func:`clips_for_settings`."""
    return clips_for_settings(args.motions, st, device, priors, seed, getattr(args, "clips_by_length", None),
                              getattr(args, "val_clip_list", None))


def clips_for_settings(motions, st, device, priors: dict, seed: int, clips: dict | None = None,
                       val: list | None = None) -> tuple[dict, list | None]:
    """Test clips per length and, when some weight must be tuned, validation clips, unless given.

    ``st`` holds the experiment's settings (``lengths``, ``clips``, ``fps``, ``val_len``, ``val_clips``, ``fixed``).
    """
    clips = clips or {
        L: [c.to(device) for c in held_out_clips(motions, L, st["clips"], fps=st["fps"], seed=seed)]
        for L in st["lengths"]}
    if val is None and not all(k in st["fixed"] for k in ["smooth", *[m for m in priors if m != "none"]]):
        val = [c.to(device) for c in held_out_clips(motions, st["val_len"], st["val_clips"], fps=st["fps"],
                                                    seed=seed, split="val")]
    return clips, val


def load_pose_dataset(motions_dir):
    """``posekit.data.pose_dataset(motions_dir)`` (cached by the data layer), without a progress bar."""
    from posekit.data import pose_dataset

    return pose_dataset(motions_dir, progress=False)


# ----------------------------------------------------------------------------------------------
# noise and occlusion
# ----------------------------------------------------------------------------------------------


def axis_angle_noise(body21: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """body21 (T, 21, 3) + N(0, sigma^2) on every axis-angle component (Pose-NDF's noisy-AMASS protocol)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 (radians), got {sigma}")
    eps = torch.randn(body21.shape, generator=generator, dtype=body21.dtype).to(body21.device)
    return body21 + sigma * eps


#: Occluded parts (Pose-NDF Table 4). Joints are SMPL joints on the body's LEFT side (+x); a joint's
#: skinning region is the segment its rotation drives (e.g. left_shoulder drives the upper arm).
#: Hiding a part hides the 3D positions of these joints; the part's vertices are those whose
#: largest skinning weight belongs to one of them (``posekit.fitting.metrics.part_vertex_mask``).
PARTS = {
    "leg": ("left_hip", "left_knee", "left_ankle", "left_foot"),
    "arm+hand": ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
    "shoulder+upper-arm": ("left_collar", "left_shoulder"),
}


def part_joints(part: str) -> list[int]:
    """SMPL joint indices of an occluded part."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {list(PARTS)}")
    return [SMPL_JOINT_NAMES.index(n) for n in PARTS[part]]
