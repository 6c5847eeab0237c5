"""posekit: learning the human pose distribution, one runnable chapter at a time.

Subpackages follow the course: ``body`` (SMPL-layout body models), ``data`` (real motion
retargeted to SMPL), ``priors`` (GMM, VPoser, Pose-NDF), ``fitting`` (SMPLify and friends),
``experiments`` (the papers' tables re-run) and ``viz`` (figures); ``train`` trains the priors.

Layers, each importing only those before it: the base modules ``skeleton``, ``rotations``, ``utils``
(no subpackage) < ``body`` < ``data`` < ``priors`` and ``train`` < ``fitting`` < ``experiments``; ``viz``
imports ``body``, ``data`` and the base modules only. ``tests/test_architecture.py`` checks it.
"""
__version__ = "0.1.0"
