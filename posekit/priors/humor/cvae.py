"""The conditional VAE over a transition x_{t-1} -> x_t (Rempe et al. 2021, Sec. 3.1).

encoder     q(z | x_{t-1}, x_t) = N(mu_q, diag sigma_q^2)
prior       p(z | x_{t-1})      = N(mu_p, diag sigma_p^2), mean and variance predicted by an MLP
decoder     x_t = x_{t-1} + Delta(z, x_{t-1}), plus contact logits for the contact joints.
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
                 n_contacts: int = len(CONTACT_JOINTS)):
        super().__init__()
        self.state_dim, self.latent_dim, self.n_contacts = state_dim, latent_dim, n_contacts
        self.encoder = _mlp(2 * state_dim, 2 * latent_dim, hidden)
        self.prior = _mlp(state_dim, 2 * latent_dim, hidden)
        self.decoder = _mlp(state_dim + latent_dim, state_dim + n_contacts, hidden)

    def posterior(self, x_prev, x_t):
        """(B, D), (B, D) -> mu, logvar (B, latent_dim)."""
        return self.encoder(torch.cat([x_prev, x_t], -1)).chunk(2, -1)

    def conditional_prior(self, x_prev):
        """(B, D) -> mu, logvar (B, latent_dim) of p(z | x_{t-1})."""
        return self.prior(x_prev).chunk(2, -1)

    def decode(self, z, x_prev):
        """(B, latent), (B, D) -> x_t (B, D), contact logits (B, n_contacts)."""
        out = self.decoder(torch.cat([x_prev, z], -1))
        return x_prev + out[..., :self.state_dim], out[..., self.state_dim:]

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
