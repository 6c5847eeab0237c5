"""A HuMoR-like motion prior (Rempe et al. 2021, https://arxiv.org/abs/2105.04668), sized for a CPU.

So far: the state and its canonical frame (``state``) and the conditional VAE with a learned
conditional prior (``cvae``). Training, rollout, test-time optimisation and saving are not written yet.
"""
from posekit.priors.humor.state import heading_rotation, canonicalize, uncanonicalize, rot6d_to_matrix, matrix_to_rot6d
from posekit.priors.humor.cvae import HumorCVAE, gaussian_kl

__all__ = ["heading_rotation", "canonicalize", "uncanonicalize", "rot6d_to_matrix", "matrix_to_rot6d",
           "HumorCVAE", "gaussian_kl"]
