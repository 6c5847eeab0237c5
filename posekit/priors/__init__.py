"""Pose priors: a GMM (SMPLify), VPoser (a VAE on joint rotations), Pose-NDF (a distance field), a diffusion
prior (a denoiser of poses used as a squared-score energy, ``posekit.priors.diffusion``), and the motion prior HuMoR (a conditional VAE over state transitions, ``posekit.priors.humor``).

All of them model the 21 body joints 1..21 (``posekit.skeleton.as_body21``) and follow the prior
protocol of ``posekit.priors.base``: ``energy(body21) -> (B,)`` for every prior, plus ``latent_dim``,
``encode``, ``decode`` for a latent prior (VPoser) and ``distance`` for a distance prior (Pose-NDF).
``posekit.priors.registry`` lists them, one entry each (class, file, trainer, weights, label, colour): every
list of prior names in posekit derives from it, and a new prior is its module, its trainer and one entry.
See ``posekit.priors.store`` for loading a folder of them (``posekit.train.load_or_train`` trains a missing one).
Imports are lazy so that ``import posekit.priors`` stays light.

May import: ``posekit.body``, ``posekit.data`` and the base modules ``posekit.skeleton``, ``posekit.rotations``,
``posekit.utils``, ``posekit.errors``; never the trainers (``posekit.train`` sits above), fitting, experiments or viz.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"GMMPrior": "posekit.priors.gmm", "VPoser": "posekit.priors.vposer",
            "PoseNDF": "posekit.priors.posendf", "HumorPrior": "posekit.priors.humor",
            "DiffusionPrior": "posekit.priors.diffusion", "load_prior": "posekit.priors.store",
            "PosePrior": "posekit.priors.base", "LatentPrior": "posekit.priors.base",
            "DistancePrior": "posekit.priors.base", "MotionPrior": "posekit.priors.base",
            "PriorEntry": "posekit.priors.registry", "register": "posekit.priors.registry"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name == "registry":
        return importlib.import_module("posekit.priors.registry")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'posekit.priors' has no attribute {name!r}")
