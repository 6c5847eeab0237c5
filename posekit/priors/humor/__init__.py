"""A HuMoR-like motion prior (Rempe et al. 2021, https://arxiv.org/abs/2105.04668), sized for a CPU.

- ``state``: the state x_t (root, 6D rotations, joints and their velocities), its canonical frame
  (heading removed), forward kinematics of the mean-shape skeleton, contact labels;
- ``cvae``: the conditional VAE with a learned conditional prior p(z | x_{t-1}) and its KL;
- ``model``: ``HumorPrior`` (the CVAE + skeleton): one step, rollouts (kept on the floor by the predicted
  contacts), ``motion_energy`` (the ``MotionPrior`` protocol), save / load;
- ``floor``: how motion sits on the floor (``floor_stats``), for rollouts and real motion alike.

Training: ``posekit.train.humor``; test-time optimisation: ``posekit.fitting.humor``.
"""
from posekit.priors.humor.state import (heading_rotation, canonicalize, uncanonicalize, rot6d_to_matrix,
                                        matrix_to_rot6d, canonicalize_state, uncanonicalize_state,
                                        contact_labels, STATE_DIM, STATE_LAYOUT)
from posekit.priors.humor.cvae import HumorCVAE, gaussian_kl, CONTACT_JOINTS
from posekit.priors.humor.model import HumorPrior

__all__ = ["heading_rotation", "canonicalize", "uncanonicalize", "rot6d_to_matrix", "matrix_to_rot6d",
           "canonicalize_state", "uncanonicalize_state", "contact_labels", "STATE_DIM", "STATE_LAYOUT",
           "HumorCVAE", "gaussian_kl", "CONTACT_JOINTS", "HumorPrior"]
