"""Pose-NDF network: a hierarchical encoder along SMPL's kinematic tree and a distance head.

f_1^enc(θ_1) -> v_1,   f_k^enc(θ_k, v_τ(k)) -> v_k,   p = [v_1 ‖ … ‖ v_K],   f^df: R^{l·K} -> R^+ (softplus).

Sizes of the released code (garvita-tiwari/PoseNDF configs/amass.yaml, hynann/NRDF configs/train.yaml): l = 6
features per joint; each joint MLP is Linear(4 [+ l], 4 + l) -> act -> Linear(4 + l, l) -> act (LEAP's
BoneMLP); head 126 -> 256 -> 512 -> 1024 -> 512 -> 256 -> 64 -> 1; Pose-NDF used leaky ReLU, NRDF softplus
(β = 100). We use softplus(β = 100) everywhere (smooth, so the eikonal term has useful second derivatives).

The K joints are the 21 body joints 1..21; joints 1, 2, 3 (hips, spine1) hang from the pelvis, which is not
modelled, so they are roots. All joints of one tree depth are evaluated together (7 levels for SMPL), with a
per-joint weight tensor and one batched matmul per layer.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from posekit.rotations import hemisphere
from posekit.skeleton import BODY_JOINTS, SMPL_PARENTS

__all__ = ["BODY21_PARENTS", "tree_levels", "HierarchicalEncoder", "DistanceHead"]

#: Parent of each body joint 1..21 as an index into the 21 (-1: a root; its SMPL parent, the pelvis, is not modelled).
BODY21_PARENTS = tuple(SMPL_PARENTS[j] - 1 if SMPL_PARENTS[j] >= 1 else -1 for j in BODY_JOINTS)


def tree_levels(parents) -> list[list[int]]:
    """Group joints by depth in the tree: level 0 holds the roots, level i the children of level i-1."""
    depth = []
    for j, p in enumerate(parents):
        if p >= j:
            raise ValueError(f"parents must be topologically ordered (parent index < joint index); joint {j} has parent {p}")
        depth.append(0 if p < 0 else depth[p] + 1)
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


class HierarchicalEncoder(nn.Module):
    """Per-joint MLPs along the kinematic tree: (B, K, 4) quaternions -> (B, K·l) features p."""

    def __init__(self, parents=BODY21_PARENTS, latent: int = 6, hidden: int | None = None, beta: float = 100.0):
        super().__init__()
        self.parents = tuple(int(p) for p in parents)
        self.levels = tree_levels(self.parents)
        K, l = len(self.parents), int(latent)
        h = int(hidden) if hidden else 4 + l
        self.num_joints, self.latent, self.hidden = K, l, h
        # joint k's first layer sees [θ_k (4) ‖ v_τ(k) (l)]; for a root the parent part is fed zeros
        self.w1 = nn.Parameter(torch.empty(K, 4 + l, h))
        self.b1 = nn.Parameter(torch.empty(K, h))
        self.w2 = nn.Parameter(torch.empty(K, h, l))
        self.b2 = nn.Parameter(torch.empty(K, l))
        self.act = nn.Softplus(beta=beta)
        for d, joints in enumerate(self.levels):   # index tensors per level (not saved: they follow from parents)
            self.register_buffer(f"_idx{d}", torch.as_tensor(joints), persistent=False)
            self.register_buffer(f"_par{d}", torch.as_tensor([max(self.parents[j], 0) for j in joints]), persistent=False)
            self.register_buffer(f"_root{d}", torch.as_tensor([self.parents[j] < 0 for j in joints]), persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        for k, p in enumerate(self.parents):   # nn.Linear's default init with each joint's true fan-in
            fan1 = 4 if p < 0 else 4 + self.latent
            for w, b, fan in ((self.w1, self.b1, fan1), (self.w2, self.b2, self.hidden)):
                bound = 1.0 / math.sqrt(fan)
                nn.init.uniform_(w.data[k], -bound, bound)
                nn.init.uniform_(b.data[k], -bound, bound)
            if p < 0:
                self.w1.data[k, 4:] = 0.0

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        B, K, _ = q.shape                                                          # q: (B, K, 4)
        v = q.new_zeros(B, K, self.latent)                                         # features so far
        for d in range(len(self.levels)):
            idx, par, is_root = getattr(self, f"_idx{d}"), getattr(self, f"_par{d}"), getattr(self, f"_root{d}")
            pv = torch.where(is_root[None, :, None], 0.0, v[:, par])              # (B, n, l)
            x = torch.cat([q[:, idx], pv], dim=-1)                                 # (B, n, 4 + l)
            x = self.act(torch.einsum("bni,nih->bnh", x, self.w1[idx]) + self.b1[idx])   # (B, n, h)
            x = self.act(torch.einsum("bnh,nhl->bnl", x, self.w2[idx]) + self.b2[idx])   # (B, n, l)
            v = v.index_copy(1, idx, x)                                            # out of place: autograd-safe
        return v.reshape(B, K * self.latent)                                       # p = [v_1 ‖ … ‖ v_K]


class DistanceHead(nn.Module):
    """MLP f^df: R^{l·K} -> R^+, softplus activations and a softplus output."""

    def __init__(self, in_dim: int, dims=(256, 512, 1024, 512, 256, 64), beta: float = 100.0):
        super().__init__()
        sizes = [int(in_dim)] + [int(d) for d in dims] + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.Softplus(beta=beta)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        x = p                                                                      # (B, l·K)
        for layer in self.layers:
            x = self.act(layer(x))
        return x[:, 0]                                                             # (B,) >= 0


def canonical(q: torch.Tensor) -> torch.Tensor:
    """Hemisphere-flip (w >= 0) so that f(q) does not depend on the sign of any joint's quaternion."""
    return hemisphere(q)
