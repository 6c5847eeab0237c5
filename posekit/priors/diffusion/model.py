"""The denoiser network D(x, σ) of the diffusion prior, with EDM preconditioning.

Poses are 63-d axis-angle vectors (21 body joints), standardised per dimension by the training mean and
standard deviation: x = (θ − μ) / s. The denoiser is Karras et al.'s preconditioned form (EDM, "Elucidating the
Design Space of Diffusion-Based Generative Models", 2022, https://arxiv.org/abs/2206.00364, Table 1):

    D(x, σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x, c_noise(σ))                                    (EDM eq. 7)
    c_skip = σ_d² / (σ² + σ_d²),  c_out = σ σ_d / √(σ² + σ_d²),  c_in = 1 / √(σ² + σ_d²),  c_noise = ¼ ln σ

with σ_d = 1 (standardised data). F is a small MLP: the scaled pose and a Fourier embedding of c_noise go in,
residual blocks (LayerNorm → Linear → SiLU → Linear, the noise embedding added) follow. SiLU keeps D smooth, so
the prior's energy has continuous gradients for L-BFGS.

Training is denoising score matching (EDM eq. 2 with its weight λ(σ) = (σ² + σ_d²) / (σ σ_d)²):

    L = E_{x, σ, ε} λ(σ) ‖D(x + σ ε, σ) − x‖²,    ln σ ~ U(ln σ_min, ln σ_max),  ε ~ N(0, I)

(log-uniform σ, as asked of this course's prior; EDM itself draws ln σ from a normal).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Denoiser", "default_config", "precondition", "dsm_weight", "dsm_loss", "NUM_JOINTS", "DIM"]

NUM_JOINTS = 21
DIM = 3 * NUM_JOINTS


def default_config(fast: bool = False) -> dict:
    """Network and noise range (plain values, saved with the prior)."""
    return {"dim": DIM, "hidden": 64 if fast else 256, "blocks": 1 if fast else 3, "embed": 32 if fast else 64,
            "sigma_data": 1.0, "sigma_min": 0.01, "sigma_max": 20.0}


def precondition(sigma: torch.Tensor, sigma_data: float = 1.0) -> tuple[torch.Tensor, ...]:
    """EDM's (c_skip, c_out, c_in, c_noise) for noise levels σ (B, 1) -> four (B, 1) tensors."""
    s2, d2 = sigma ** 2, sigma_data ** 2
    c_skip = d2 / (s2 + d2)
    c_out = sigma * sigma_data / (s2 + d2).sqrt()
    c_in = 1.0 / (s2 + d2).sqrt()
    c_noise = sigma.log() / 4.0
    return c_skip, c_out, c_in, c_noise


def dsm_weight(sigma: torch.Tensor, sigma_data: float = 1.0) -> torch.Tensor:
    """λ(σ) = (σ² + σ_d²) / (σ σ_d)²: the weight making the loss of every σ start at 1 (EDM Table 1).  (B, 1)"""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


class FourierEmbedding(nn.Module):
    """c_noise (B, 1) -> (B, embed) features [cos 2π f c, sin 2π f c] with fixed random frequencies f."""

    def __init__(self, embed: int, scale: float = 4.0):
        super().__init__()
        self.register_buffer("freqs", torch.randn(embed // 2, generator=torch.Generator().manual_seed(0)) * scale)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        a = 2 * math.pi * c * self.freqs[None]                            # (B, embed/2)
        return torch.cat([a.cos(), a.sin()], dim=-1)                      # (B, embed)


class ResBlock(nn.Module):
    """h + Linear(SiLU(Linear(LayerNorm(h)) + emb))."""

    def __init__(self, hidden: int, embed: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.emb = nn.Linear(embed, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(nn.functional.silu(self.fc1(self.norm(h)) + self.emb(e)))


class Denoiser(nn.Module):
    """D(x, σ): standardised poses x (B, dim) and noise levels σ (B,) or a float -> denoised poses (B, dim)."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        cfg = {**default_config(), **(config or {})}
        self.config = cfg
        dim, hidden, embed = int(cfg["dim"]), int(cfg["hidden"]), int(cfg["embed"])
        self.embedding = FourierEmbedding(embed)
        self.embed_mlp = nn.Sequential(nn.Linear(embed, embed), nn.SiLU())
        self.inp = nn.Linear(dim + embed, hidden)
        self.blocks = nn.ModuleList(ResBlock(hidden, embed) for _ in range(int(cfg["blocks"])))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)                   # F = 0 at the start: D is EDM's skip connection
        nn.init.zeros_(self.out.bias)

    def raw(self, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        """F(c_in x, c_noise): the network itself.  (B, dim), (B, 1) -> (B, dim)"""
        e = self.embed_mlp(self.embedding(c_noise))                                     # (B, embed)
        h = self.inp(torch.cat([x_in, e], dim=-1))                                      # (B, hidden)
        for block in self.blocks:
            h = block(h, e)
        return self.out(nn.functional.silu(self.out_norm(h)))                           # (B, dim)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        c_skip, c_out, c_in, c_noise = precondition(sigma, float(self.config["sigma_data"]))
        return c_skip * x + c_out * self.raw(c_in * x, c_noise)                        # (B, dim)


def dsm_loss(model: Denoiser, x: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Per-sample denoising score-matching loss λ(σ) ‖D(x + σ ε, σ) − x‖² / dim.  (B, dim), (B,), (B, dim) -> (B,)"""
    s = sigma.reshape(-1, 1)
    d = model(x + s * noise, s)
    w = dsm_weight(s, float(model.config["sigma_data"]))
    return (w * (d - x) ** 2).mean(-1)
