"""A score-based (diffusion) pose prior over the 21 body-joint rotations, in the spirit of DPoser.

DPoser (Lu et al. 2024, "DPoser: Diffusion Model as Robust 3D Pose Prior", https://arxiv.org/abs/2312.05541)
trains a diffusion model on body poses and uses it as the pose prior of optimisation-based fitting. This
package is a small version of that idea that trains in CPU minutes:

**Data.** A pose θ is the 63-d axis-angle vector of the 21 body joints, standardised per dimension by the
mean μ and standard deviation s of the training poses: x = (θ − μ) / s.

**Denoiser.** D(x, σ) estimates the clean pose from x + σ ε. It is an MLP with a noise-level embedding,
preconditioned as in EDM (Karras et al. 2022, https://arxiv.org/abs/2206.00364). It is trained by
denoising score matching, with ln σ uniform on [ln 0.01, ln 20]:
L = E λ(σ) ‖D(x + σε, σ) − x‖² (``model.py``).

**Score.** Tweedie's formula links the denoiser to the score of the noised density p_σ:
∇ₓ log p_σ(x) = (D(x, σ) − x) / σ² (``DiffusionPrior.score``).

**Energy.** A fitter needs a term it can minimise with L-BFGS. That term must be deterministic (no fresh
noise per call) and smooth. We use the denoising residual at a few fixed small noise levels σ_k
(``ENERGY_SIGMAS`` = 0.1, 0.2, 0.4, 0.8 in standardised units), equally weighted:

    E(θ) = 1/K Σ_k ‖x − D(x, σ_k)‖² / σ_k²  =  1/K Σ_k σ_k² ‖∇ₓ log p_σk(x)‖²

The energy is the squared score, summed over scales. On the data the smoothed density is near a mode and
the score is small, so E ≈ 0. Away from the data D pulls x back, and E grows with the squared distance
(∝ d²/σ_k² for d > σ_k). The small levels give a sharp energy near the manifold of poses; the larger
ones give a gradient that still points back to it from farther away. Its gradient is taken through D
(the Jacobian of the denoiser included).

*How this relates to DPoser's loss.* DPoser's optimisation term works differently: at each step it
diffuses the current pose to a randomly drawn small time t (a truncated, decreasing schedule). It then
denoises in one step, and penalises the gap between the pose and its denoised estimate, with the
estimate held fixed (score-distillation style, no gradient through the network). Our energy is that gap
made deterministic. The noise draw is removed: we denoise x itself at fixed levels, averaged over levels
instead of sampled. The gradient also goes through D, so that L-BFGS sees one fixed smooth function.

**Sampling.** ``sample(n, seed)`` integrates the probability-flow ODE dx/dσ = (x − D(x, σ))/σ from σ = 20 to
0 with Heun steps on EDM's σ schedule. The sampler is deterministic for a seed.

Modules: ``model`` (the denoiser, preconditioning, the training loss) and ``prior`` (:class:`DiffusionPrior`).
Training: ``posekit.train.diffusion``.
"""
from .model import Denoiser, default_config, dsm_loss, dsm_weight, precondition
from .prior import ENERGY_SIGMAS, FORMAT, DiffusionPrior

__all__ = ["DiffusionPrior", "Denoiser", "default_config", "dsm_loss", "dsm_weight", "precondition",
           "ENERGY_SIGMAS", "FORMAT"]
