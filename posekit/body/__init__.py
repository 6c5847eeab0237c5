"""Body models in SMPL's layout, as smplx modules.

``load_body_model("open")`` gives the packaged open SMPL-layout model (Apache-2.0, derived from the
anny body model; see ``posekit/body/models/``); ``load_body_model(path)`` loads real SMPL / SMPL-H /
SMPL-X files without chumpy. :func:`forward` runs a model with shape-checked inputs.

May import only the base modules ``posekit.skeleton``, ``posekit.rotations``, ``posekit.utils``.
"""
from posekit.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS

from .model import NoExtraJoints, forward, keypoint_ids_path, load_body_model, open_model_path
from .export import export_smpl_pickle
from .smpl_files import RestrictedUnpickler, find_model_file, load_pickle_arrays, read_model_arrays

__all__ = [
    "load_body_model", "open_model_path", "forward", "keypoint_ids_path", "NoExtraJoints",
    "read_model_arrays", "load_pickle_arrays", "find_model_file", "RestrictedUnpickler",
    "SMPL_JOINT_NAMES", "SMPL_PARENTS", "export_smpl_pickle",
]
