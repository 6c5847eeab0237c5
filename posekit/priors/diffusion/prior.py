"""The diffusion prior object: a denoiser of standardised poses used as an energy, a score and a sampler."""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from posekit.skeleton import as_body21
from posekit.utils import atomic_torch_save, get_device

from ..files import plain_state, prior_contents, read_prior
from .model import DIM, NUM_JOINTS, Denoiser, default_config

__all__ = ["DiffusionPrior", "ENERGY_SIGMAS", "FORMAT"]

FORMAT = "posekit.diffusion/1"
#: the fixed noise levels σ_k (standardised units) of the energy, equally weighted
ENERGY_SIGMAS = (0.1, 0.2, 0.4, 0.8)


class DiffusionPrior(nn.Module):
    """Score-based pose prior over the 21 body-joint rotations (axis-angle, standardised per dimension).

    ``energy(θ) = 1/K Σ_k ‖x − D(x, σ_k)‖² / σ_k²`` with x = (θ − μ)/s and the fixed levels ``ENERGY_SIGMAS``
    (see the package docstring); ``denoise``, ``score``, ``sample``; ``save`` / ``load`` (format
    ``posekit.diffusion/1``). Poses in any layout ``posekit.skeleton.as_body21`` accepts.
    """

    def __init__(self, config: dict | None = None, mean: torch.Tensor | None = None, std: torch.Tensor | None = None,
                 energy_sigmas=ENERGY_SIGMAS):
        super().__init__()
        self.config = {**default_config(), **(config or {})}
        self.denoiser = Denoiser(self.config)
        self.register_buffer("mean", torch.zeros(DIM) if mean is None else torch.as_tensor(mean).reshape(DIM).float())
        self.register_buffer("std", torch.ones(DIM) if std is None else torch.as_tensor(std).reshape(DIM).float())
        self.energy_sigmas = tuple(float(s) for s in energy_sigmas)
        self.meta: dict = {}

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def dtype(self) -> torch.dtype:
        return self.mean.dtype

    # ---- coordinates ---------------------------------------------------------------------------------------
    def standardise(self, body21: torch.Tensor) -> torch.Tensor:
        """Poses in any ``as_body21`` layout -> x = (θ − μ) / s.  -> (B, 63)"""
        theta = as_body21(torch.as_tensor(body21)).to(self.device, self.dtype).reshape(-1, DIM)
        return (theta - self.mean) / self.std

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 63) -> axis-angle poses θ = μ + s x.  -> (B, 21, 3)"""
        return (self.mean + self.std * x).reshape(-1, NUM_JOINTS, 3)

    # ---- the denoiser as a prior ---------------------------------------------------------------------------
    def denoise(self, body21: torch.Tensor, sigma) -> torch.Tensor:
        """D(x, σ) mapped back to axis-angle: the posterior mean E[θ₀ | θ] for noise σ (standardised units).
        -> (B, 21, 3)"""
        return self.unstandardise(self.denoiser(self.standardise(body21), sigma))

    def score(self, body21: torch.Tensor, sigma) -> torch.Tensor:
        """∇_θ log p_σ(θ) = (D(x, σ) − x) / σ² / s (Tweedie's formula, chain rule through x = (θ − μ)/s).
        -> (B, 21, 3)"""
        x = self.standardise(body21)
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1)
        return ((self.denoiser(x, s) - x) / s ** 2 / self.std).reshape(-1, NUM_JOINTS, 3)

    def energy(self, body21: torch.Tensor) -> torch.Tensor:
        """E(θ) = 1/K Σ_k ‖x − D(x, σ_k)‖² / σ_k² over the fixed levels σ_k; deterministic, differentiable. -> (B,)

        By Tweedie's formula D(x, σ) − x ≈ σ² ∇ log p_σ(x), so each term is σ_k² ‖∇ log p_σk(x)‖²: ~0 where the
        smoothed density of poses is flat (on the data), growing away from it.
        """
        x = self.standardise(body21)                                                    # (B, 63)
        e = x.new_zeros(x.shape[0])
        for s in self.energy_sigmas:
            e = e + ((x - self.denoiser(x, s)) ** 2).sum(-1) / s ** 2
        return e / len(self.energy_sigmas)

    # ---- sampling ------------------------------------------------------------------------------------------
    def sigma_schedule(self, steps: int, rho: float = 7.0) -> torch.Tensor:
        """EDM's σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i < N, then σ_N = 0.  -> (N + 1,)"""
        lo, hi = float(self.config["sigma_min"]), float(self.config["sigma_max"])
        t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
        s = (hi ** (1 / rho) + t * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
        return torch.cat([s, s.new_zeros(1)])

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, steps: int = 24, progress: bool = False) -> torch.Tensor:
        """n poses by the deterministic probability-flow ODE dx/dσ = (x − D(x, σ)) / σ, Heun steps along
        ``sigma_schedule`` (EDM Algorithm 1 without churn) from x ~ N(0, σ_max² I) drawn with ``seed``.
        -> (n, 21, 3) axis-angle"""
        from tqdm.auto import tqdm

        g = torch.Generator().manual_seed(int(seed))
        sig = self.sigma_schedule(int(steps)).tolist()
        x = (torch.randn(int(n), DIM, generator=g, dtype=torch.float64) * sig[0]).to(self.device, self.dtype)
        for i in tqdm(range(len(sig) - 1), desc="diffusion sample", disable=not progress, leave=False):
            s0, s1 = sig[i], sig[i + 1]
            d0 = (x - self.denoiser(x, s0)) / s0                                        # dx/dσ at σ_i
            x1 = x + (s1 - s0) * d0
            if s1 > 0:                                                                  # Heun's correction
                d1 = (x1 - self.denoiser(x1, s1)) / s1
                x1 = x + (s1 - s0) * 0.5 * (d0 + d1)
            x = x1
        return self.unstandardise(x)

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """``torch.save`` of {format, config, energy_sigmas, state_dict, meta} (plain types), written atomically."""
        obj = {"format": FORMAT, "config": dict(self.config), "energy_sigmas": list(self.energy_sigmas),
               "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
               "meta": plain_state(self.meta)}
        return atomic_torch_save(obj, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "DiffusionPrior":
        """Load a file written by ``save`` (``torch.load(weights_only=True)`` through ``posekit.priors.files``);
        a damaged file, another prior's file or NaN weights raise InputError naming the file."""
        obj = read_prior(path, "diffusion")
        with prior_contents(path, "diffusion"):
            sigmas = [float(s) for s in obj.get("energy_sigmas", ENERGY_SIGMAS)]
            if not sigmas or not all(math.isfinite(s) and s > 0 for s in sigmas):
                raise ValueError(f"energy_sigmas must be positive numbers, got {sigmas}")
            model = cls(dict(obj["config"]), energy_sigmas=sigmas)
            model.load_state_dict(obj["state_dict"])
            if not bool((model.std > 0).all()):
                raise ValueError("the standard deviations of the pose coordinates must be > 0")
        model.meta = dict(obj.get("meta") or {})
        return model.to(get_device(device)).eval()

