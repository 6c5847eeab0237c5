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
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a zip archive (an empty one: the second)
_NPY_MAGIC = b"\x93NUMPY"


def _open_npz(path: Path):
    """``np.load`` of an ``.npz`` archive (never unpickling), after checking that it is one: a renamed ``.npy``
    or pickle, or a damaged archive, is a MotionFormatError naming the file."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(_NPY_MAGIC):
        raise MotionFormatError(f"{path}: a single .npy array renamed .npz; expected an AMASS .npz archive "
                                "(poses, trans, mocap_framerate)")
    if not head.startswith(_ZIP_MAGIC):
        raise MotionFormatError(f"{path}: not an .npz (zip) archive (it starts with {head!r}); expected an AMASS "
                                ".npz (poses, trans, mocap_framerate)")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - zip / format errors
        raise MotionFormatError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc}); expected an "
                                "AMASS .npz (poses, trans, mocap_framerate)") from None


def _numeric_key(npz, key: str, path: Path, expected: str) -> np.ndarray:
    """``npz[key]`` as a float64 array; MotionFormatError for an object (pickled), string or damaged entry."""
    try:
        arr = npz[key]
    except ValueError:  # object arrays need pickle, which is never used
        raise MotionFormatError(f"{path}: key {key!r} holds Python objects (they would need unpickling, which "
                                f"posekit never does); expected {expected}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged zip member (bad CRC, truncated)
        raise MotionFormatError(f"{path}: key {key!r} cannot be read ({type(exc).__name__}: {exc}); "
                                f"expected {expected}") from None
    if arr.dtype.kind not in "iuf":
        raise MotionFormatError(f"{path}: key {key!r} has dtype {arr.dtype} ({_short(arr)}); expected {expected}")
    return np.asarray(arr, dtype=np.float64)


def _short(arr: np.ndarray) -> str:
    return repr(arr.reshape(-1)[0].item()) if arr.size == 1 else f"shape {arr.shape}"


def load_amass(path: str | Path, rest_joints=None, z_up: bool = True) -> Motion:
    """Read an AMASS ``.npz`` as a ``Motion`` (SMPL joints 0..21 from the file, 22/23 identity).

    z_up: convert AMASS's Z-up world to SMPL's y-up (see the module docstring).
    Raises ``MotionFormatError`` naming the file and the missing or malformed key(s).
    """
    path = Path(path)
    npz = _open_npz(path)
    with npz:
        keys = set(npz.files)
        missing = [k for k in ("poses", "trans") if k not in keys]
        if not any(k in keys for k in FRAMERATE_KEYS):
            missing.append("mocap_framerate")
        if missing:
            raise MotionFormatError(f"{path}: not an AMASS motion file: missing key(s) {missing} "
                                    f"(found {sorted(keys)}; expected poses (T, 156), trans (T, 3), mocap_framerate)")
        poses = _numeric_key(npz, "poses", path, "a float array (T, 156)")
        trans = _numeric_key(npz, "trans", path, "a float array (T, 3)")
        fps_key = next(k for k in FRAMERATE_KEYS if k in keys)
        fps_arr = _numeric_key(npz, fps_key, path, "one number, the frame rate in frames per second")
        if fps_arr.size != 1:
            raise MotionFormatError(f"{path}: key {fps_key!r} has shape {fps_arr.shape}; expected one number, the "
                                    "frame rate in frames per second")
        fps = float(fps_arr.reshape(()))
        gender = None
        if "gender" in keys:
            try:
                g = npz["gender"]
                gender = str(g) if g.dtype.kind in "US" else None
            except Exception:  # noqa: BLE001 - an object array (never unpickled): the gender is only metadata
                gender = None
    if poses.ndim != 2 or poses.shape[1] not in (72, 156, 165) or poses.shape[1] < 66:
        raise MotionFormatError(f"{path}: key 'poses' has shape {poses.shape}; expected (T, 156) SMPL-H "
                                "(or (T, 165) SMPL-X, (T, 72) SMPL)")
    if trans.shape != (poses.shape[0], 3):
        raise MotionFormatError(f"{path}: key 'trans' has shape {trans.shape}; expected ({poses.shape[0]}, 3)")
    if poses.shape[0] == 0:
        raise MotionFormatError(f"{path}: key 'poses' has 0 frames (shape {poses.shape}); expected at least one frame")
    if not np.isfinite(fps) or fps <= 0:
        raise MotionFormatError(f"{path}: key {fps_key!r} is {fps}; expected a positive, finite frame rate")
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
