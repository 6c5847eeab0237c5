"""Pose priors: a GMM (SMPLify), VPoser (a VAE on joint rotations) and Pose-NDF (a distance field).

All of them model the 21 body joints 1..21 (``posekit.skeleton.as_body21``) and expose
``energy(body_pose) -> (B,)``; see ``posekit.priors.store`` for loading or training a folder of them.
Imports are lazy so that ``import posekit.priors`` stays light.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"GMMPrior": "posekit.priors.gmm", "VPoser": "posekit.priors.vposer",
            "PoseNDF": "posekit.priors.posendf", "load_prior": "posekit.priors.store"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'posekit.priors' has no attribute {name!r}")
