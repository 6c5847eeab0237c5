"""posekit.fitting: fitting a body to observations with a pose prior.

- ``fit_motion(body, clip, obs_joints, prior, ...)``: a motion clip fitted to observed 3D joints with data
  + smoothness + prior terms (``motion.py``: ``Clip``, ``PoseVariable``, ``FitConfig``), its weights
  chosen on validation data (``tune.py``: ``tune_weights``); ``fit_clip`` (``clip_fit.py``) runs that fit, or a
  motion prior's test-time optimisation, whichever the prior calls for;
- ``smplify(keypoints_2d, confidence, focal_length, image_size, body_model, prior, ...)``: staged,
  batched fit of an SMPL-layout body to LSP-14 2D keypoints (``smplify.py``);
- objective terms, one function per equation (``losses.py``, ``capsules.py``), the camera
  (``camera.py``), the keypoint layout (``keypoints.py``), a joints-only forward (``forward.py``);
- benchmark views (``synthetic_views.py``); every error and generation metric (``metrics.py``: per-vertex
  error, MPJPE, their Procrustes-aligned variants, APD, distance to the data).

May import: ``posekit.body``, ``posekit.data``, ``posekit.priors`` (through ``posekit.priors.base``) and the
base modules ``posekit.skeleton``, ``posekit.rotations``, ``posekit.utils``; never the experiments or viz.
"""
from .camera import estimate_depth, flip_orient, perspective_projection, principal_point
from .capsules import SEGMENTS, capsule_pairs, capsule_radii, interpenetration_energy, segment_distance
from .forward import JointsForward, full_forward, full_pose, posed_joints, posed_vertices, rest_joints
from .keypoints import LSP14_NAMES, LSP14_SMPL_JOINTS, KeypointMap, head_top_vertex
from .losses import angle_prior, geman_mcclure, joint_energy, pose_prior_energy, shape_prior
from .metrics import (apd_cm, clip_vertex_error, fit_errors, nearest_pose_distance, part_vertex_mask,
                      per_vertex_error_cm, procrustes_align)
from .motion import Clip, FitConfig, PoseVariable, fit_motion
from .clip_fit import fit_clip
from .tune import tune_weights
from .smplify import SMPLIFY_STAGES, TERMS, SMPLifyConfig, smplify
from .synthetic_views import make_views

__all__ = [
    "smplify", "SMPLifyConfig", "SMPLIFY_STAGES", "TERMS",
    "geman_mcclure", "joint_energy", "angle_prior", "shape_prior", "pose_prior_energy",
    "capsule_radii", "capsule_pairs", "segment_distance", "interpenetration_energy", "SEGMENTS",
    "perspective_projection", "principal_point", "estimate_depth", "flip_orient",
    "KeypointMap", "LSP14_NAMES", "LSP14_SMPL_JOINTS", "head_top_vertex",
    "JointsForward", "full_forward", "fit_errors", "procrustes_align", "make_views",
    "full_pose", "rest_joints", "posed_joints", "posed_vertices",
    "per_vertex_error_cm", "clip_vertex_error", "part_vertex_mask", "apd_cm", "nearest_pose_distance",
    "Clip", "FitConfig", "PoseVariable", "fit_motion", "fit_clip", "tune_weights",
]
