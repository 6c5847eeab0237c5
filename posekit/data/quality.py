"""Retargeting quality: do SMPL's bones point where the source skeleton's bones point?

For every SMPL bone (joint j -> child c, both mapped to the source, the source bone longer than 5 mm)
the angle between the source bone direction p_m(c) − p_m(j) (global, SMPL frame) and the SMPL bone
J_c − J_j of the body model driven by the retargeted poses (zero shape), averaged over bones and
(subsampled) frames. The SMPL joints come from the body model's forward pass (``smplx``); without the
body model, from ``smplx.lbs.batch_rigid_transform`` on the given rest joints.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS
from .motion import Motion

__all__ = ["smpl_posed_joints", "bone_angles", "retarget_quality", "quality_table", "dev_files"]


def smpl_posed_joints(poses: torch.Tensor, rest_joints: np.ndarray | None = None, model=None,
                      batch: int = 512) -> torch.Tensor:
    """SMPL joints (T, 24, 3) for poses (T, 24, 3) axis-angle, zero shape, zero translation.

    With ``model`` (an smplx SMPL module) its forward pass; else ``smplx.lbs.batch_rigid_transform``
    on ``rest_joints`` (24, 3); neither given: the open body model.
    """
    poses = torch.as_tensor(poses, dtype=torch.float32).reshape(-1, 24, 3)
    if model is None and rest_joints is None:
        model = _model_or_none()
        if model is None:
            from .retarget import smpl_rest_joints
            rest_joints = smpl_rest_joints()
    out = []
    for k in range(0, poses.shape[0], batch):
        p = poses[k:k + batch]
        if model is not None:
            with torch.no_grad():
                res = model(global_orient=p[:, 0], body_pose=p[:, 1:].reshape(-1, 69),
                            betas=torch.zeros(p.shape[0], model.num_betas), return_verts=False)
            out.append(res.joints[:, :24])
        else:
            from smplx.lbs import batch_rigid_transform
            import roma
            J = torch.as_tensor(rest_joints, dtype=torch.float32).expand(p.shape[0], 24, 3)
            rot = roma.rotvec_to_rotmat(p)                                        # (B, 24, 3, 3)
            parents = torch.tensor(SMPL_PARENTS, dtype=torch.long)
            posed, _ = batch_rigid_transform(rot, J, parents)
            out.append(posed)
    return torch.cat(out)


def _model_or_none():
    try:
        from ..body import load_body_model
        return load_body_model(device="cpu")
    except Exception:  # noqa: BLE001 - the body model may not be shipped yet
        return None


def bone_angles(source_positions: np.ndarray, mapping: list, smpl_joints: np.ndarray,
                min_len: float = 0.005) -> tuple[np.ndarray, list, np.ndarray]:
    """Angles (degrees) (T, B) between source and SMPL bone directions, the bone names, and a (B,) mask of
    the structural bones (``retarget.STRUCTURAL_BONES``: torso bones whose direction is anatomy, not pose).

    source_positions: (T, J, 3) metres, SMPL frame; mapping: 24 source indices; smpl_joints: (T, 24, 3).
    """
    from .retarget import STRUCTURAL_BONES
    angs, names, structural = [], [], []
    for c in range(1, 24):
        j = SMPL_PARENTS[c]
        if mapping[c] is None or mapping[j] is None:
            continue
        d = source_positions[:, mapping[c]] - source_positions[:, mapping[j]]     # (T, 3)
        ln = np.linalg.norm(d, axis=-1)
        if np.median(ln) < min_len:
            continue
        b = smpl_joints[:, c] - smpl_joints[:, j]                                # (T, 3)
        cos = (d * b).sum(-1) / (ln * np.linalg.norm(b, axis=-1) + 1e-12)
        angs.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        names.append(f"{SMPL_JOINT_NAMES[j]}->{SMPL_JOINT_NAMES[c]}")
        structural.append((j, c) in STRUCTURAL_BONES)
    return np.stack(angs, axis=1), names, np.array(structural)


def retarget_quality(motion_or_path: Motion | str | Path, max_frames: int = 200, rest_joints=None, model=None,
                     exact_directions: bool = True, **kwargs) -> dict:
    """Bone-direction agreement of one file's retargeting.

    motion_or_path: a motion file (.bvh / .amc), or a ``Motion`` loaded from one (its ``meta["source"]``).
    max_frames: frames are subsampled evenly to at most this many.
    Returns {"file", "rig", "frames", "mean_deg", "max_deg", "p95_deg" (over the articulated bones: every
    bone but the structural torso bones), "mean_all_deg" (all bones), "per_bone": {bone: mean}}.
    """
    if isinstance(motion_or_path, Motion):
        path = Path(motion_or_path.meta["source"])
        if path.suffix.lower() == ".amc":
            kwargs.setdefault("asf", motion_or_path.meta.get("asf"))
    else:
        path = Path(motion_or_path)
    if model is None and rest_joints is None:
        model = _model_or_none()
    if rest_joints is None:
        from .retarget import smpl_rest_joints
        rest_joints = smpl_rest_joints()
    n = _count_frames(path)
    step = max(1, int(np.ceil(n / max_frames)))
    if path.suffix.lower() == ".amc":
        from .asf_amc import retarget_amc
        src, rig, res, meta = retarget_amc(path, rest_joints=rest_joints, exact_directions=exact_directions,
                                           frame_step=step, **kwargs)
    elif path.suffix.lower() == ".bvh":
        from .bvh import retarget_bvh
        src, rig, res, meta = retarget_bvh(path, rest_joints=rest_joints, exact_directions=exact_directions,
                                           frame_step=step, **kwargs)
    else:
        raise ValueError(f"{path}: retarget_quality needs a .bvh or .amc file (AMASS files are already SMPL)")
    J = smpl_posed_joints(torch.as_tensor(res.poses), rest_joints, model).numpy()  # (T, 24, 3)
    ang, names, structural = bone_angles(res.P, res.mapping, J)
    art = ang[:, ~structural]
    return {"file": str(path), "rig": rig.name, "frames": int(ang.shape[0]),
            "mean_deg": float(art.mean()), "max_deg": float(art.max()), "p95_deg": float(np.percentile(art, 95)),
            "mean_all_deg": float(ang.mean()),
            "per_bone": {n: float(a) for n, a in zip(names, ang.mean(0))}}


def _count_frames(path: Path) -> int:
    """Frames in a BVH ('Frames: N') or AMC (frame-number lines), cheaply."""
    if path.suffix.lower() == ".bvh":
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("Frames:"):
                    return int(line.split(":")[1])
        return 1
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            s = line.strip()
            if s.isdigit():
                n += 1
    return max(n, 1)


def dev_files(root: str | Path) -> list[Path]:
    """Every .bvh and .amc under ``root`` (the CMU dev set's four folders), sorted."""
    root = Path(root)
    return sorted(list(root.rglob("*.bvh")) + list(root.rglob("*.amc")))


def quality_table(root: str | Path, max_frames: int = 120, files: list | None = None, progress: bool = False,
                  max_files_per_folder: int | None = None, **kwargs) -> tuple[list[dict], list[dict]]:
    """Retargeting quality of every dev file under ``root``, and a per-rig summary.

    max_frames: frames per file (evenly subsampled); max_files_per_folder: the first N files of each
    folder only (for a quick look, e.g. in fast mode); kwargs go to ``retarget_quality``
    (e.g. ``exact_directions=False`` to measure the rest alignment alone).

    Returns (per_file rows, per_rig rows); a per-rig row: {"rig", "files", "mean_deg" (mean over files),
    "max_file_mean_deg" (worst file's mean), "max_deg" (worst bone-frame angle)}.
    """
    files = dev_files(root) if files is None else [Path(f) for f in files]
    if max_files_per_folder is not None:
        by_folder: dict = {}
        for f in files:
            by_folder.setdefault(f.parent, []).append(f)
        files = [f for fs in by_folder.values() for f in fs[:max_files_per_folder]]
    it = files
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(files, desc="retarget quality")
    model = kwargs.pop("model", None) or _model_or_none()
    rows = [retarget_quality(f, max_frames=max_frames, model=model, **kwargs) for f in it]
    per_rig = []
    for rig in sorted({r["rig"] for r in rows}):
        rr = [r for r in rows if r["rig"] == rig]
        per_rig.append({"rig": rig, "files": len(rr), "mean_deg": float(np.mean([r["mean_deg"] for r in rr])),
                        "max_file_mean_deg": float(np.max([r["mean_deg"] for r in rr])),
                        "max_deg": float(np.max([r["max_deg"] for r in rr])),
                        "mean_all_deg": float(np.mean([r["mean_all_deg"] for r in rr]))})
    return rows, per_rig
