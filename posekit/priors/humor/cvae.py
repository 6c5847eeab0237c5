"""The conditional VAE over a transition x_{t-1} -> x_t (Rempe et al. 2021, Sec. 3.1).

encoder     q(z | x_{t-1}, x_t) = N(mu_q, diag sigma_q^2)
prior       p(z | x_{t-1})      = N(mu_p, diag sigma_p^2), mean and variance predicted by an MLP
decoder     x_t = x_{t-1} + Delta(z, x_{t-1}), plus contact logits for the contact joints.

The networks see normalised inputs: x_{t-1} as (x_{t-1} − μ_x) / σ_x (clamped to ±5) and the step as
(x_t − x_{t-1} − μ_Δ) / σ_Δ, with the four statistics stored as buffers (set from training data by
``set_normalization``; by default 0 and 1, i.e. no normalisation). The decoder predicts the normalised step.

``residual`` (D,) bool chooses, per state dimension, what the decoder predicts: True (the default, as HuMoR's
decoder does) the change x_t − x_{t-1}, False the value x_t itself (both in the frame of x_{t-1}).
Everywhere below, "step" means x_t − residual ⊙ x_{t-1}. Whatever the decoder predicts, its error is
measured in units of the true change's spread σ_s (``step_error``: (x̂_t − x_t) / σ_s; σ_s = σ_Δ when the
decoder predicts changes), so that a centimetre of error weighs the same in both cases.
"""
from __future__ import annotations

import torch
from torch import nn

#: SMPL joints whose contacts are predicted: hips, knees, ankles, toes, wrists/hands.
CONTACT_JOINTS = (1, 2, 4, 5, 7, 8, 10, 11, 20, 21)


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, diag e^logvar_q) || N(mu_p, diag e^logvar_p)) summed over the last dim -> (B,)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(-1)


def _mlp(d_in, d_out, hidden, layers=2):
    mods, d = [], d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.GELU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class HumorCVAE(nn.Module):
    """CVAE over state transitions; states are flat vectors (B, state_dim)."""

    def __init__(self, state_dim: int, latent_dim: int = 32, hidden: int = 256,
                 n_contacts: int = len(CONTACT_JOINTS), residual=None):
        super().__init__()
        self.state_dim, self.latent_dim, self.n_contacts = state_dim, latent_dim, n_contacts
        residual = torch.ones(state_dim, dtype=torch.bool) if residual is None else \
            torch.as_tensor(residual, dtype=torch.bool)
        if residual.shape != (state_dim,):
            raise ValueError(f"residual must be a (state_dim={state_dim},) bool mask, got {tuple(residual.shape)}")
        self.register_buffer("residual", residual.float(), persistent=False)        # part of the configuration
        self.encoder = _mlp(2 * state_dim, 2 * latent_dim, hidden)
        self.prior = _mlp(state_dim, 2 * latent_dim, hidden)
        self.decoder = _mlp(state_dim + latent_dim, state_dim + n_contacts, hidden)
        for name, value in (("state_mean", 0.0), ("state_std", 1.0), ("delta_mean", 0.0), ("delta_std", 1.0),
                            ("step_std", 1.0)):
            self.register_buffer(name, torch.full((state_dim,), value))

    def set_normalization(self, state_mean, state_std, delta_mean, delta_std, step_std=None, min_std: float = 1e-3):
        """Store μ_x, σ_x, μ_Δ, σ_Δ and σ_s (each (D,); σ_s defaults to σ_Δ); standard deviations are clamped
        at ``min_std``."""
        step_std = delta_std if step_std is None else step_std
        for name, v in (("state_mean", state_mean), ("state_std", state_std), ("delta_mean", delta_mean),
                        ("delta_std", delta_std), ("step_std", step_std)):
            v = torch.as_tensor(v, dtype=self.state_mean.dtype, device=self.state_mean.device).reshape(self.state_dim)
            getattr(self, name).copy_(v.clamp_min(min_std) if name.endswith("std") else v)

    def normalize(self, x_prev, clip: float = 5.0):
        """(B, D) -> (x_{t-1} − μ_x) / σ_x, clamped to ±``clip`` (a state far outside the training data, as
        long rollouts may reach, is then seen at the edge of it instead of extrapolated from)."""
        return ((x_prev - self.state_mean) / self.state_std).clamp(-clip, clip)

    def normalized_step(self, x_prev, x_t):
        """(B, D), (B, D) -> (x_t − residual ⊙ x_{t-1} − μ_Δ) / σ_Δ, the decoder's target."""
        return (x_t - self.residual * x_prev - self.delta_mean) / self.delta_std

    def apply_step(self, step, x_prev):
        """Inverse of ``normalized_step``: normalised steps (B, D) from x_prev (B, D) -> x_t (B, D)."""
        return self.residual * x_prev + self.delta_mean + self.delta_std * step

    def step_error(self, step, x_prev, x_t):
        """Error (B, D) of the decoder's normalised step from x_prev against the state x_t, in units of σ_s:
        (x̂_t − x_t) / σ_s (= step − ``normalized_step(x_prev, x_t)`` when the decoder predicts changes)."""
        return (self.apply_step(step, x_prev) - x_t) / self.step_std

    def posterior(self, x_prev, x_t):
        """(B, D), (B, D) -> mu, logvar (B, latent_dim)."""
        return self.encoder(torch.cat([self.normalize(x_prev), self.normalized_step(x_prev, x_t)], -1)).chunk(2, -1)

    def conditional_prior(self, x_prev):
        """(B, D) -> mu, logvar (B, latent_dim) of p(z | x_{t-1})."""
        return self.prior(self.normalize(x_prev)).chunk(2, -1)

    def decode_step(self, z, x_prev):
        """(B, latent), (B, D) -> normalised step (B, D), contact logits (B, n_contacts)."""
        out = self.decoder(torch.cat([self.normalize(x_prev), z], -1))
        return out[..., :self.state_dim], out[..., self.state_dim:]

    def decode(self, z, x_prev):
        """(B, latent), (B, D) -> x_t (B, D), contact logits (B, n_contacts)."""
        step, contacts = self.decode_step(z, x_prev)
        return self.apply_step(step, x_prev), contacts

    def prior_nll(self, z, x_prev):
        """-log p(z | x_{t-1}) (B,) under the learned Gaussian prior."""
        mu, logvar = self.conditional_prior(x_prev)
        return -torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)

    def forward(self, x_prev, x_t):
        """-> x_hat (B, D), contact logits, KL(q || p) (B,)."""
        mu_q, lv_q = self.posterior(x_prev, x_t)
        mu_p, lv_p = self.conditional_prior(x_prev)
        z = mu_q + (0.5 * lv_q).exp() * torch.randn_like(mu_q)
        x_hat, contacts = self.decode(z, x_prev)
        return x_hat, contacts, gaussian_kl(mu_q, lv_q, mu_p, lv_p)
