"""One clip, any prior: the motion fit a pose prior (or none) uses, or a motion prior's test-time optimisation.

The experiments (denoising, occlusion) call :func:`fit_clip` for every method alike; which fit runs is decided
by the prior's protocol (``posekit.priors.base``): a motion prior (``motion_energy``) that is not also a pose
prior gets HuMoR's test-time optimisation (``posekit.fitting.humor``), anything else the per-frame motion fit
(``posekit.fitting.motion``).
"""
from __future__ import annotations

from dataclasses import replace

from ..priors.base import is_motion_prior, is_pose_prior
from .humor import fit_motion_humor, scaled_config
from .motion import FitConfig, fit_motion

__all__ = ["fit_clip"]


def fit_clip(body, clip, obs_joints, prior, init_body21, joint_mask=None, cfg=None):
    """One method's fit of a clip -> body21 (T, 21, 3).

    A pose prior or none: the motion fit (``posekit.fitting.motion.fit_motion``) from ``init_body21``.
    A motion prior (HuMoR): the no-prior motion fit from the same start (``cfg`` with w_prior = 0: data +
    smoothness), then HuMoR's test-time optimisation from there (``posekit.fitting.humor.fit_motion_humor``)
    with its prior-side weights scaled by ``cfg.w_prior`` (``posekit.fitting.humor.scaled_config``).
    """
    cfg = cfg or FitConfig()
    if is_motion_prior(prior) and not is_pose_prior(prior):
        start = fit_motion(body, clip, obs_joints, prior=None, init_body21=init_body21, joint_mask=joint_mask,
                           cfg=replace(cfg, w_prior=0.0))
        return fit_motion_humor(body, clip, obs_joints, prior, init_body21=start, joint_mask=joint_mask,
                                cfg=scaled_config(cfg.w_prior, steps=cfg.steps, optimizer=cfg.optimizer))
    return fit_motion(body, clip, obs_joints, prior=prior, init_body21=init_body21, joint_mask=joint_mask, cfg=cfg)
