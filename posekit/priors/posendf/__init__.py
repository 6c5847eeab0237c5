"""Pose-NDF: a neural distance field on SO(3)^21 whose zero level set is the manifold of plausible poses.

Modules: ``data`` (perturbed poses and their distance to the clean set), ``model`` (hierarchical encoder along
the kinematic tree + distance head), ``losses`` (UDF + eikonal loss; the resumable fit loop is ``posekit.train.posendf.fit``), ``project`` (Euclidean
and Riemannian projection), ``prior`` (the :class:`PoseNDF` prior object, a distance prior of
``posekit.priors.base``). Imports as ``posekit.priors`` does.

Remedies for hidden limbs, options with the shipped field as default (``posekit.train.posendf.REMEDIES``):
NRDF's linear-angle distance and sampling (``linear_angle_distance``, ``nrdf_released_quats``) and a field over
kinematic chains (``chain_distance``, ``PoseNDF`` config ``chains``).
"""
from .data import (BODY21_CHAINS, METRICS, NRDF_SCALE, POSE_NDF_SIGMAS, body21_to_quats, brute_force_distance,
                   chain_distance, knn_distance, linear_angle_distance, make_samples, noisy_quats,
                   nrdf_quats, nrdf_released_quats, pose_distance, spread_distance)
from .model import BODY21_PARENTS, DistanceHead, HierarchicalEncoder, tree_levels
from .prior import PoseNDF, default_config
from .project import euclidean_step, project_quats, riemannian_step, sphere_exp, tangent_project
from .losses import EIKONAL_TARGET, chain_eikonal_loss, eikonal_loss, loss_terms

__all__ = [
    "PoseNDF", "default_config", "loss_terms", "eikonal_loss", "EIKONAL_TARGET",
    "make_samples", "knn_distance", "brute_force_distance", "noisy_quats", "nrdf_quats", "spread_distance",
    "body21_to_quats", "POSE_NDF_SIGMAS", "NRDF_SCALE", "HierarchicalEncoder", "DistanceHead", "BODY21_PARENTS",
    "tree_levels", "METRICS", "BODY21_CHAINS", "linear_angle_distance", "pose_distance", "nrdf_released_quats",
    "chain_distance", "chain_eikonal_loss", "project_quats", "euclidean_step", "riemannian_step", "tangent_project", "sphere_exp",
]
