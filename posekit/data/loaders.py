"""``load_motion``: one call for every motion file format, retargeted to SMPL.

The format is chosen by the file ending: ``.bvh`` (``posekit.data.bvh``), ``.amc`` + ``.asf``
(``posekit.data.asf_amc``) or AMASS ``.npz`` (``posekit.data.amass``). Each reader returns a
``posekit.data.motion.Motion``.
"""
from __future__ import annotations

from pathlib import Path

from .amass import load_amass
from .asf_amc import load_amc_motion
from .bvh import load_bvh_motion
from .motion import Motion, MotionFormatError, check_fps, resample_motion

__all__ = ["load_motion"]



def load_motion(path: str | Path, fps: float | None = None, **kwargs) -> Motion:
    """Load a motion file retargeted to SMPL: CMU/Acclaim ``.amc`` (+ ``.asf``), ``.bvh`` or AMASS ``.npz``.

    path: the motion file. fps: resample to this rate (slerp) when given, in (0, 1000] (``motion.MAX_FPS``).
    kwargs: format options: ``asf=`` (AMC skeleton file), ``rig=`` (BVH rig name to force),
    ``rest_joints=`` (24, 3) SMPL rest joints (default: the open body model's J(β=0)),
    ``drop_first_frame=`` (BVH, default: per rig), ``fps_default=`` (AMC, default 120).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such motion file (expected .bvh, .amc or AMASS .npz)")
    if fps is not None:
        fps = check_fps(fps, str(path))          # before the work: fps=1e9 would ask for gigabytes
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        motion = load_bvh_motion(path, **kwargs)
    elif suffix == ".amc":
        motion = load_amc_motion(path, **kwargs)
    elif suffix == ".npz":
        motion = load_amass(path, **kwargs)
    else:
        raise MotionFormatError(f"{path}: unknown motion format {suffix!r} (expected .bvh, .amc or AMASS .npz)")
    if len(motion) == 0:
        raise MotionFormatError(f"{path}: no frame left after reading (dropped first frame / NaN frames); "
                                "expected at least one frame")
    if fps is not None:
        motion = resample_motion(motion, fps)
    return motion
