"""posekit: learning the human pose distribution, one runnable chapter at a time.

Subpackages follow the course: ``body`` (SMPL-layout body models), ``data`` (real motion
retargeted to SMPL), ``priors`` (GMM, VPoser, Pose-NDF), ``fitting`` (SMPLify and friends),
``experiments`` (the papers' tables re-run) and ``viz`` (figures).
"""
__version__ = "0.1.0"
