"""The Pose-NDF prior: f(θ) ≈ distance of a pose θ ∈ SO(3)^21 to the manifold of plausible poses.

Options of the config (the defaults give the shipped field): ``metric`` names the distance the field was trained
to (``posekit.priors.posendf.data.METRICS``; a label, the network is the same); ``chains`` (joint index lists,
e.g. ``data.BODY21_CHAINS``) makes the field a sum of per-chain fields f(θ) = Σ_c f_c(θ_c), each a hierarchical
encoder over its chain's joints and a distance head of ``head_dims``, trained on each chain's distance to the
nearest training pose of that chain (``posekit.train.posendf``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from posekit.errors import InputError
from posekit.rotations import aa_to_quat, hemisphere, quat_to_aa
from posekit.skeleton import as_body21
from posekit.utils import atomic_torch_save, get_device

from ..files import prior_contents, read_prior
from .model import BODY21_PARENTS, DistanceHead, HierarchicalEncoder
from .project import DEFAULT_ALPHA, project_quats

__all__ = ["PoseNDF", "default_config", "FORMAT_VERSION"]

FORMAT_VERSION = 1


def default_config(fast: bool = False) -> dict:
    """Network sizes. Full: the released sizes except a lighter head (CPU budget); fast: a tiny model."""
    return {
        "parents": list(BODY21_PARENTS),
        "latent": 6,             # l features per joint (released: 6)
        "enc_hidden": None,                     # None: 4 + l, as the released BoneMLP
        "head_dims": [128, 128] if fast else [512, 256, 128, 64],   # released: 256,512,1024,512,256,64
        "beta": 100.0,                          # softplus sharpness (NRDF)
        "joint_weights": None,                  # w_i of the distance (None: all 1)
        "alpha": DEFAULT_ALPHA,                 # default projection step
        "metric": "pose_ndf",                   # the distance of the training targets ("pose_ndf" or "nrdf")
        "chains": None,                         # None: one field; joint index lists: Σ of per-chain fields
    }


def _chain_parents(parents, chain) -> list[int]:
    """Parents of a chain's joints as indices into the chain (-1: the chain's root)."""
    pos = {int(j): i for i, j in enumerate(chain)}
    return [pos.get(int(parents[j]), -1) for j in chain]


class ChainField(nn.Module):
    """One chain's field f_c: a hierarchical encoder over the chain's joints and a distance head."""

    def __init__(self, parents, latent: int, hidden, head_dims, beta: float):
        super().__init__()
        self.encoder = HierarchicalEncoder(parents, latent, hidden, beta)
        self.head = DistanceHead(self.encoder.num_joints * self.encoder.latent, head_dims, beta)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(q))                                          # (B, k, 4) -> (B,)


class PoseNDF(nn.Module):
    """Neural distance field on SO(3)^21 (joints 1..21 as unit quaternions, roma's (x, y, z, w) order).

    ``distance`` / ``energy`` take axis-angle body poses in any layout ``posekit.skeleton.as_body21`` accepts
    (or quaternions (B, 21, 4)); ``project`` moves poses onto the zero level set; ``sample`` projects random poses.
    """

    def __init__(self, config: dict | None = None):
        super().__init__()
        cfg = default_config()
        cfg.update(config or {})
        self.config = cfg
        self._num_joints = len(cfg["parents"])
        if cfg.get("chains") is None:
            self.encoder = HierarchicalEncoder(cfg["parents"], cfg["latent"], cfg["enc_hidden"], cfg["beta"])
            self.head = DistanceHead(self.encoder.num_joints * self.encoder.latent, cfg["head_dims"], cfg["beta"])
            return
        chains = [[int(j) for j in c] for c in cfg["chains"]]
        flat = sorted(j for c in chains for j in c)
        if len(set(flat)) != len(flat) or not all(0 <= j < self._num_joints for j in flat):
            raise InputError(f"chains must be disjoint lists of joint indices in 0..{self._num_joints - 1}, got {chains}")
        cfg["chains"] = chains
        self.chain_fields = nn.ModuleList(
            ChainField(_chain_parents(cfg["parents"], c), cfg["latent"], cfg["enc_hidden"], cfg["head_dims"],
                       cfg["beta"]) for c in chains)

    @property
    def chains(self) -> list[list[int]] | None:
        """The chains' joint indices (None: one field over all joints)."""
        return self.config.get("chains")

    @property
    def num_joints(self) -> int:
        return self._num_joints

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    # ---- the field -----------------------------------------------------------------------------------------
    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """f(θ) for quaternions (B, K, 4) (any sign: hemisphere-flipped first) -> (B,) >= 0."""
        if q.dim() != 3 or q.shape[1:] != (self.num_joints, 4):
            raise ValueError(f"expected quaternions of shape (B, {self.num_joints}, 4), got {tuple(q.shape)}")
        if self.chains is not None:
            return self.chain_distances(q).sum(-1)                                 # f = Σ_c f_c
        return self.head(self.encoder(hemisphere(q)))

    def chain_distances(self, q: torch.Tensor) -> torch.Tensor:
        """Per-chain fields f_c(θ_c) (B, C) for quaternions (B, K, 4); only for a field with ``chains``."""
        if self.chains is None:
            raise InputError("chain_distances needs a field with chains (config 'chains')")
        q = hemisphere(q)
        return torch.stack([f(q[:, c]) for f, c in zip(self.chain_fields, self.chains)], dim=-1)

    def distance_quat(self, q: torch.Tensor) -> torch.Tensor:
        """f for quaternion poses (B, 21, 4) -> (B,). Differentiable."""
        return self(q.to(self.device, self.dtype))

    def to_quats(self, poses: torch.Tensor) -> torch.Tensor:
        """Axis-angle (any ``as_body21`` layout) or quaternions (B, 21, 4) -> (B, 21, 4) quaternions."""
        if poses.dim() == 3 and poses.shape[-1] == 4:
            return poses
        return aa_to_quat(as_body21(poses))

    def distance(self, body_pose: torch.Tensor) -> torch.Tensor:
        """Distance to the pose manifold of axis-angle poses (B, 63|69|72) / (B, 21|23|24, 3), or quats (B, 21, 4)."""
        return self.distance_quat(self.to_quats(body_pose.to(self.device, self.dtype)))

    def energy(self, body_pose: torch.Tensor) -> torch.Tensor:
        """The prior energy used by fitters: the distance itself (B,)."""
        return self.distance(body_pose)

    # ---- projection and sampling -----------------------------------------------------------------------------
    def project(self, poses: torch.Tensor, method: str = "riemannian", steps: int = 10, tol: float = 1e-3,
                alpha: float | None = None, return_history: bool = False):
        """Project poses onto the zero level set; output in the input's layout.

        poses: axis-angle in any ``as_body21`` layout (joints outside 1..21 are kept as they are) or quaternions
        (B, 21, 4). method "riemannian" (tangent step + exponential map) or "euclidean" (seed: step, renormalise).
        With ``return_history`` also returns {"distance": (T+1, B), "quats": (T+1, B, 21, 4)}.
        """
        x = poses.to(self.device, self.dtype)
        q0 = self.to_quats(x)
        alpha = self.config.get("alpha", DEFAULT_ALPHA) if alpha is None else alpha
        out = project_quats(self, q0, method=method, steps=steps, tol=tol, alpha=alpha, history=return_history)
        q, hist = out if return_history else (out, None)
        if x.dim() == 3 and x.shape[-1] == 4:
            res = q
        else:
            res = self._put_body21(x, quat_to_aa(q))
        return (res, hist) if return_history else res

    @staticmethod
    def _put_body21(x: torch.Tensor, body21: torch.Tensor) -> torch.Tensor:
        """Write (B, 21, 3) back into the layout of x (the other joints unchanged)."""
        B = x.shape[0]
        j = x.reshape(B, -1, 3).clone()
        start = {21: 0, 23: 0, 24: 1}[j.shape[1]]
        j[:, start:start + 21] = body21
        return j.reshape(x.shape)

    def sample(self, n: int, seed: int = 0, steps: int = 50, method: str = "riemannian", tol: float = 1e-4,
               scale: float | None = None) -> torch.Tensor:
        """New poses (n, 21, 3) axis-angle: random poses projected onto the manifold.

        Random poses are uniform on SO(3) per joint (``scale`` None) or axis-angle ~ N(0, scale²) per component.
        """
        g = torch.Generator().manual_seed(int(seed))
        if scale is None:
            q = torch.randn(n, self.num_joints, 4, generator=g)
            q = hemisphere(q / q.norm(dim=-1, keepdim=True))
        else:
            q = aa_to_quat(scale * torch.randn(n, self.num_joints, 3, generator=g))
        q = self.project(q.to(self.device), method=method, steps=steps, tol=tol)
        return quat_to_aa(q)

    # ---- files -----------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, meta: dict | None = None) -> Path:
        """Atomic save of {"format", "config", "state_dict", "meta"} (tensors and plain values only)."""
        obj = {"format": FORMAT_VERSION, "kind": "posendf", "config": dict(self.config),
               "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}, "meta": meta or {}}
        return atomic_torch_save(obj, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "PoseNDF":
        """Load a file written by :meth:`save` (``torch.load(weights_only=True)``); ``.meta`` holds its meta dict.

        A missing file raises FileNotFoundError; a damaged file, another prior's file or NaN weights raise
        InputError naming the file (``posekit.priors.files``).
        """
        obj = read_prior(path, "posendf")
        with prior_contents(path, "posendf"):
            model = cls(obj["config"])
            model.load_state_dict(obj["state_dict"])
        model.meta = obj.get("meta", {})
        return model.to(get_device(device)).eval()

