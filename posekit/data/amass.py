"""AMASS ``.npz`` motions (SMPL-H / SMPL-X parameters) -> SMPL's 24 joints, y up.

An AMASS file holds ``poses`` (T, 156) for SMPL-H (52 joints: 22 body joints then 2 × 15 hand joints;
(T, 165) for SMPL-X, (T, 72) for SMPL), ``trans`` (T, 3), ``mocap_framerate`` (SMPL-X files:
``mocap_frame_rate``), ``betas``, ``gender``. SMPL's joints 0..21 are the same joints in the same order;
SMPL's crude hand joints 22, 23 have no SMPL-H counterpart and are set to identity.

Frames: AMASS is Z-up; SMPL (and posekit) are y-up. The world is rotated by C = R_x(−90°):
(x, y, z) -> (x, z, −y). The global orientation becomes C · R_0; the translation, which places the pelvis
at J_0(β) + trans, becomes trans' = C (J_0 + trans) − J_0 so that the pelvis lands at C × (its old
position) (J_0: the open model's zero-shape pelvis; exact when the subject's J_0(β) equals it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from .motion import Motion, MotionFormatError, cmu_ids, drop_nonfinite_frames

__all__ = ["load_amass", "AMASS_TO_SMPL_FRAME", "FRAMERATE_KEYS"]

#: the Z-up -> y-up world rotation applied to AMASS motions: R_x(−90°)
AMASS_TO_SMPL_FRAME = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
FRAMERATE_KEYS = ("mocap_framerate", "mocap_frame_rate")


def load_amass(path: str | Path, rest_joints=None, z_up: bool = True) -> Motion:
    """Read an AMASS ``.npz`` as a ``Motion`` (SMPL joints 0..21 from the file, 22/23 identity).

    z_up: convert AMASS's Z-up world to SMPL's y-up (see the module docstring).
    Raises ``MotionFormatError`` naming the file and the missing or malformed key(s).
    """
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - zip / format errors
        raise MotionFormatError(f"{path}: not a readable .npz file ({exc})") from None
    with npz:
        keys = set(npz.files)
        missing = [k for k in ("poses", "trans") if k not in keys]
        if not any(k in keys for k in FRAMERATE_KEYS):
            missing.append("mocap_framerate")
        if missing:
            raise MotionFormatError(f"{path}: not an AMASS motion file: missing key(s) {missing} "
                                    f"(found {sorted(keys)}; expected poses (T, 156), trans (T, 3), mocap_framerate)")
        poses = np.asarray(npz["poses"], dtype=np.float64)
        trans = np.asarray(npz["trans"], dtype=np.float64)
        fps = float(np.asarray(npz[next(k for k in FRAMERATE_KEYS if k in keys)]))
        gender = str(npz["gender"]) if "gender" in keys and npz["gender"].dtype.kind in "US" else None
    if poses.ndim != 2 or poses.shape[1] not in (72, 156, 165) or poses.shape[1] < 66:
        raise MotionFormatError(f"{path}: key 'poses' has shape {poses.shape}; expected (T, 156) SMPL-H "
                                "(or (T, 165) SMPL-X, (T, 72) SMPL)")
    if trans.shape != (poses.shape[0], 3):
        raise MotionFormatError(f"{path}: key 'trans' has shape {trans.shape}; expected ({poses.shape[0]}, 3)")
    if not np.isfinite(fps) or fps <= 0:
        raise MotionFormatError(f"{path}: key 'mocap_framerate' is {fps}; expected a positive frame rate")
    both, dropped = drop_nonfinite_frames(np.concatenate([poses[:, :66], trans], axis=1), path)
    T = both.shape[0]
    body = both[:, :66].reshape(T, 22, 3)
    trans = both[:, 66:]
    out = np.zeros((T, 24, 3))
    out[:, :22] = body
    if z_up:
        from .retarget import smpl_rest_joints
        J0 = (smpl_rest_joints() if rest_joints is None else np.asarray(rest_joints))[0]
        C = AMASS_TO_SMPL_FRAME
        R0 = Rotation.from_rotvec(body[:, 0]).as_matrix()                      # (T, 3, 3)
        out[:, 0] = Rotation.from_matrix(C @ R0).as_rotvec()
        trans = (J0 + trans) @ C.T - J0
    meta = {"source": str(path), "format": "amass", "rig": "smplh" if poses.shape[1] == 156 else
            "smplx" if poses.shape[1] == 165 else "smpl", "z_up_converted": bool(z_up),
            "dropped_nan_frames": dropped, "gender": gender, "fps_source": fps, "dropped_first_frame": False}
    meta.update(cmu_ids(path))
    return Motion(torch.as_tensor(out, dtype=torch.float32), torch.as_tensor(trans, dtype=torch.float32), fps, meta)
