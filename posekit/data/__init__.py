"""posekit.data: human motion as SMPL poses.

Loading and retargeting (``load_motion``, ``Motion``, rigs, retargeting quality) and data sets
(``pose_dataset``, ``download_cmu``, the synthetic fallback ``sample_synthetic_poses``).
"""
from ..skeleton import SMPL_JOINT_NAMES
from .motion import Motion, MotionFormatError, resample_motion, cmu_ids
from .loaders import load_motion
from .rigs import RIGS, Rig, detect_rig
from .retarget import retarget, forward_kinematics, SourceMotion, smpl_rest_joints
from .bvh import parse_bvh, write_bvh
from .asf_amc import parse_asf, parse_amc, find_asf
from .amass import load_amass, AMASS_TO_SMPL_FRAME
from .quality import retarget_quality, quality_table

__all__ = [
    "SMPL_JOINT_NAMES", "Motion", "MotionFormatError", "load_motion", "resample_motion", "cmu_ids",
    "RIGS", "Rig", "detect_rig", "retarget", "forward_kinematics", "SourceMotion", "smpl_rest_joints",
    "parse_bvh", "write_bvh", "parse_asf", "parse_amc", "find_asf", "load_amass", "AMASS_TO_SMPL_FRAME",
    "retarget_quality", "quality_table",
]

# data sets: many files at once, split by subject; where data is found; the synthetic fallback
from .dataset import PoseDataset, assign_splits, deduplicate, pose_dataset, thin_frames, trial_key
from .download import cmu_all_trials, cmu_subjects, download_cmu
from .paths import cmu_dev_dir, find_motion_dir
from .synthetic import sample_synthetic_poses

__all__ += ["pose_dataset", "PoseDataset", "assign_splits", "deduplicate", "thin_frames", "trial_key",
            "download_cmu", "cmu_all_trials", "cmu_subjects", "find_motion_dir", "cmu_dev_dir",
            "sample_synthetic_poses"]
