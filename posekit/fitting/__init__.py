"""posekit.fitting: SMPLify on a CPU (chapter 02).

- ``smplify(keypoints_2d, confidence, focal_length, image_size, body_model, prior, ...)``: staged,
  batched fit of an SMPL-layout body to LSP-14 2D keypoints (``smplify.py``);
- objective terms, one function per equation (``losses.py``, ``capsules.py``), the camera
  (``camera.py``), the keypoint layout (``keypoints.py``), a joints-only forward (``forward.py``);
- benchmark views and errors (``synthetic_views.py``, ``metrics.py``).
"""
from .camera import estimate_depth, flip_orient, perspective_projection, principal_point
from .capsules import SEGMENTS, capsule_pairs, capsule_radii, interpenetration_energy, segment_distance
from .forward import JointsForward, full_forward
from .keypoints import LSP14_NAMES, LSP14_SMPL_JOINTS, KeypointMap, head_top_vertex
from .losses import angle_prior, geman_mcclure, joint_energy, pose_prior_energy, shape_prior
from .metrics import fit_errors, procrustes_align
from .smplify import SMPLIFY_STAGES, TERMS, SMPLifyConfig, smplify
from .synthetic_views import make_views

__all__ = [
    "smplify", "SMPLifyConfig", "SMPLIFY_STAGES", "TERMS",
    "geman_mcclure", "joint_energy", "angle_prior", "shape_prior", "pose_prior_energy",
    "capsule_radii", "capsule_pairs", "segment_distance", "interpenetration_energy", "SEGMENTS",
    "perspective_projection", "principal_point", "estimate_depth", "flip_orient",
    "KeypointMap", "LSP14_NAMES", "LSP14_SMPL_JOINTS", "head_top_vertex",
    "JointsForward", "full_forward", "fit_errors", "procrustes_align", "make_views",
]
