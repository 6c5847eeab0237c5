"""VPoser: a variational auto-encoder over the 21 body-joint rotations (SMPL-X paper, Sec. 3.3).

The encoder reads the body pose as 21 rotation matrices (flattened, 21·9 = 189 numbers). This is our
choice, matching the loss on R of the SMPL-X paper (Pavlakos et al. 2019, https://arxiv.org/abs/1904.05866);
the released VPoser v1 and v2 encoders read the 63-d axis-angle pose. It outputs a diagonal Gaussian q(z|R) = N(μ, σ²) over a latent code z ∈ R^32 (σ through a
softplus). The decoder maps z to one continuous 6D vector per joint, which Gram–Schmidt turns into a
rotation matrix (Zhou et al. 2019). The training loss is the paper's

    L = c1 KL(q(z|R) ‖ N(0, I)) + c2 ‖R − R̂‖² + c3 ‖R̂R̂ᵀ − I‖² + c4 |det R̂ − 1| + c5 ‖φ‖²

with one function per term below. As a prior, VPoser gives ``energy(θ) = ‖μ(θ)‖²`` (encoder mean),
and a fitter can optimise z directly with energy ‖z‖² through ``decode_body21(z)``. The training loop is
``posekit.train.vposer.fit``.

Architecture facts (human_body_prior, ``human_body_prior/train/vposer_smpl.py``, VPoser v1):
encoder BN(189) → FC 512 → LeakyReLU(0.2) → BN(512) → Dropout(0.1) → FC 512 → LeakyReLU(0.2) →
(FC 32 for μ, FC 32 + softplus for σ); decoder FC 512 → LeakyReLU(0.2) → Dropout(0.1) → FC 512 →
LeakyReLU(0.2) → FC 21·6 → Gram–Schmidt on each (3, 2) block (columns b1, b2, b3 = b1 × b2).

Default loss weights (see ``DEFAULT_WEIGHTS``): c1 = 0.005 is ``loss_kl_wt`` of the released V02_05
config (``src/human_body_prior/train/V02_05/V02_05.yaml``); c2 = 1 − c1 follows VPoser v1's
``(1 - kl_coef) * reconstruction``; c5 = 5e-4 is v1's ``reg_coef`` (there passed to Adam as weight
decay; here an explicit term of the loss). c3 = c4 = 1 are our choice: the v1 code has the
orthogonality/determinant terms commented out and we did not find their published weights.
An OPTIONAL sixth term, c_v · mean per-vertex distance through the body model (``v2v``, as VPoser v2
trains with a mesh loss), is off by default (c_v = 0): the default loss is exactly the five terms above.
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import roma
import torch
from torch import nn
from torch.nn import functional as F

from posekit.skeleton import as_body21
from posekit.utils import atomic_torch_save, get_device

from .files import plain_state, prior_contents, read_prior

__all__ = [
    "VPoser", "VPoserConfig", "DEFAULT_WEIGHTS", "gram_schmidt_6d", "kl_divergence", "rec_loss",
    "orth_loss", "det1_loss", "reg_loss", "vertex_loss", "body_vertices", "vposer_loss", "poses_to_rotmats",
    "reconstruction_errors", "table2_analog", "SMPLIFYX_TABLE2",
]

NUM_JOINTS = 21
#: c1..c5 of the loss, keyed by term (see the module docstring for where each comes from).
#: "v2v" is an OPTIONAL extra term, not among the five: c_v · mean per-vertex distance (m) through the body
#: model (VPoser v2 trains with a mesh term); 0 by default, so the default loss is exactly the five terms.
DEFAULT_WEIGHTS = {"kl": 0.005, "rec": 1.0 - 0.005, "orth": 1.0, "det1": 1.0, "reg": 5e-4, "v2v": 0.0}
LOSS_TERMS = ("kl", "rec", "orth", "det1", "reg", "v2v")


# --------------------------------------------------------------------------------------------
# Rotation representation
# --------------------------------------------------------------------------------------------
def gram_schmidt_6d(x6: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Continuous 6D representation (..., 6) -> rotation matrices (..., 3, 3).

    The 6 numbers are read as a 3x2 matrix [a1 a2] (row-major, as VPoser's ``view(-1, 3, 2)``);
    b1 = a1/|a1|, b2 = (a2 − (b1·a2) b1)/|…|, b3 = b1 × b2; R = [b1 b2 b3] (columns).
    Same convention as ``roma.special_gramschmidt``.
    """
    a = x6.reshape(*x6.shape[:-1], 3, 2)                      # (..., 3, 2)
    a1, a2 = a[..., 0], a[..., 1]                             # (..., 3) each
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(eps)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True).clamp_min(eps)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)                  # (..., 3, 3)


def poses_to_rotmats(pose: torch.Tensor) -> torch.Tensor:
    """Body pose in any layout accepted by ``as_body21`` (axis-angle) -> (B, 21, 3, 3) rotation matrices.

    A tensor already shaped (B, 21, 3, 3) is returned unchanged.
    """
    if not torch.is_tensor(pose):
        pose = torch.as_tensor(pose, dtype=torch.float32)
    if pose.dim() == 4 and pose.shape[1:] == (NUM_JOINTS, 3, 3):
        return pose
    return roma.rotvec_to_rotmat(as_body21(pose))


# --------------------------------------------------------------------------------------------
# Loss terms (one function per equation; each returns a per-sample (B,) tensor unless noted)
# --------------------------------------------------------------------------------------------
def kl_divergence(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over the latent dims: ½ Σ (σ² + μ² − 1 − 2 log σ).  (B, D) -> (B,)"""
    return 0.5 * (sigma**2 + mu**2 - 1.0 - 2.0 * torch.log(sigma)).sum(-1)


def rec_loss(R: torch.Tensor, R_hat: torch.Tensor) -> torch.Tensor:
    """‖R − R̂‖² summed over joints and matrix entries.  (B, J, 3, 3) x2 -> (B,)"""
    return ((R - R_hat) ** 2).flatten(1).sum(-1)


def orth_loss(R_hat: torch.Tensor) -> torch.Tensor:
    """‖R̂R̂ᵀ − I‖² summed over joints and entries.  (B, J, 3, 3) -> (B,)"""
    eye = torch.eye(3, dtype=R_hat.dtype, device=R_hat.device)
    return ((R_hat @ R_hat.transpose(-1, -2) - eye) ** 2).flatten(1).sum(-1)


def det1_loss(R_hat: torch.Tensor) -> torch.Tensor:
    """|det R̂ − 1| summed over joints.  (B, J, 3, 3) -> (B,)"""
    return (torch.linalg.det(R_hat) - 1.0).abs().flatten(1).sum(-1)


def reg_loss(params) -> torch.Tensor:
    """‖φ‖²: sum of squares of the given parameters (weights and biases of the encoder and decoder). -> ()"""
    return sum((p**2).sum() for p in params)


def vertex_loss(v: torch.Tensor, v_hat: torch.Tensor) -> torch.Tensor:
    """Optional extra term (not among the five terms): mean per-vertex distance.  (B, V, 3) x2 -> (B,)"""
    return (v - v_hat).norm(dim=-1).mean(-1)


def body_vertices(body_model, R: torch.Tensor) -> torch.Tensor:
    """Vertices (B, V, 3) of the body model posed by body-joint rotations R (B, 21, 3, 3) (hands identity,
    zero shape and root orientation)."""
    from posekit.body import forward as body_forward

    n_body = body_model.NUM_BODY_JOINTS
    if n_body > NUM_JOINTS:  # SMPL: 23 body joints, the two hand joints stay at identity
        eye = torch.eye(3, dtype=R.dtype, device=R.device).expand(R.shape[0], n_body - NUM_JOINTS, 3, 3)
        R = torch.cat([R, eye], dim=1)
    return body_forward(body_model, body_pose=R).vertices


def vposer_loss(R: torch.Tensor, R_hat: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                params=None, weights: dict | None = None, vertices=None) -> dict:
    """VPoser's total loss; returns the weighted terms (batch means), their sum as ``"total"``,
    and ``"data"`` = the total without the parameter term (what validation monitors).
    ``vertices``: optional (v, v_hat) pair for the optional ``"v2v"`` term (used when its weight is > 0)."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    terms = {
        "kl": w["kl"] * kl_divergence(mu, sigma).mean(),
        "rec": w["rec"] * rec_loss(R, R_hat).mean(),
        "orth": w["orth"] * orth_loss(R_hat).mean(),
        "det1": w["det1"] * det1_loss(R_hat).mean(),
    }
    if w["v2v"] != 0 and vertices is not None:
        terms["v2v"] = w["v2v"] * vertex_loss(*vertices).mean()
    else:
        terms["v2v"] = mu.new_zeros(())
    terms["data"] = terms["kl"] + terms["rec"] + terms["orth"] + terms["det1"] + terms["v2v"]
    terms["reg"] = w["reg"] * reg_loss(params) if (params is not None and w["reg"] != 0) else mu.new_zeros(())
    terms["total"] = terms["data"] + terms["reg"]
    return terms


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
@dataclass
class VPoserConfig:
    """Plain-typed model settings (saved beside the weights)."""
    hidden: int = 512
    latent_dim: int = 32
    dropout: float = 0.1
    rotation: str = "6d"          # "6d" (Gram–Schmidt, VPoser) or "9d" (raw 3x3 output: the ablation)
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self):
        if self.rotation not in ("6d", "9d"):
            raise ValueError(f"rotation must be '6d' or '9d', got {self.rotation!r}")
        unknown = set(self.weights) - set(LOSS_TERMS)
        if unknown:
            raise ValueError(f"unknown loss weights {sorted(unknown)}; expected keys among {LOSS_TERMS}")
        self.weights = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in self.weights.items()}}


class VPoser(nn.Module):
    """Variational pose prior over the 21 body joints. See the module docstring."""

    def __init__(self, config: VPoserConfig | None = None, **kwargs):
        super().__init__()
        config = config or VPoserConfig(**kwargs)
        self.config = config
        h, d, p = config.hidden, config.latent_dim, config.dropout
        n_in = NUM_JOINTS * 9
        self.latent_dim = d
        self.encoder = nn.Sequential(
            nn.BatchNorm1d(n_in), nn.Linear(n_in, h), nn.LeakyReLU(0.2),
            nn.BatchNorm1d(h), nn.Dropout(p), nn.Linear(h, h), nn.LeakyReLU(0.2))
        self.enc_mu = nn.Linear(h, d)
        self.enc_sigma = nn.Linear(h, d)
        n_out = NUM_JOINTS * (6 if config.rotation == "6d" else 9)
        self.decoder = nn.Sequential(
            nn.Linear(d, h), nn.LeakyReLU(0.2), nn.Dropout(p),
            nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, n_out))
        self.history: dict = {}

    # -- device helpers ------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @contextlib.contextmanager
    def _eval(self):
        was = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was)

    def _as_rotmats(self, pose) -> torch.Tensor:
        p = next(self.parameters())
        return poses_to_rotmats(pose).to(device=p.device, dtype=p.dtype)

    # -- the VAE -------------------------------------------------------------------------------
    def encode_rotmats(self, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 21, 3, 3) -> μ (B, D), σ (B, D) of q(z|R) (in the module's current train/eval mode)."""
        h = self.encoder(R.reshape(R.shape[0], NUM_JOINTS * 9))          # (B, H)
        return self.enc_mu(h), F.softplus(self.enc_sigma(h))

    def decode_rotmats(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> (B, 21, 3, 3) (rotations for the 6D decoder; raw matrices for the 9D ablation)."""
        out = self.decoder(z)                                            # (B, 21*6) or (B, 21*9)
        if self.config.rotation == "6d":
            return gram_schmidt_6d(out.reshape(z.shape[0], NUM_JOINTS, 6))
        return out.reshape(z.shape[0], NUM_JOINTS, 3, 3)

    def forward(self, R: torch.Tensor, generator: torch.Generator | None = None):
        """R (B, 21, 3, 3) -> (R̂, μ, σ) with z = μ + σ ε (reparameterisation; ε from ``generator``)."""
        mu, sigma = self.encode_rotmats(R)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device="cpu").to(mu.device) \
            if generator is not None else torch.randn_like(mu)
        z = mu + sigma * eps
        return self.decode_rotmats(z), mu, sigma

    # -- public API (eval mode, batch-first) ---------------------------------------------------
    def encode(self, pose) -> tuple[torch.Tensor, torch.Tensor]:
        """Body pose (any ``as_body21`` layout, axis-angle; or (B, 21, 3, 3)) -> (μ, σ), each (B, latent_dim)."""
        with self._eval():
            return self.encode_rotmats(self._as_rotmats(pose))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, latent_dim) -> rotation matrices (B, 21, 3, 3)."""
        z = self._check_z(z)
        with self._eval():
            return self.decode_rotmats(z)

    def decode_body21(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, latent_dim) -> body pose (B, 21, 3) axis-angle (differentiable in z)."""
        return roma.rotmat_to_rotvec(self.decode(z))

    def _check_z(self, z) -> torch.Tensor:
        z = torch.as_tensor(z)
        if z.dim() == 1:
            z = z[None]
        if z.dim() != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"expected latent codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        p = next(self.parameters())
        return z.to(device=p.device, dtype=p.dtype)

    def energy(self, body_pose) -> torch.Tensor:
        """Prior energy ‖μ(θ)‖² of the encoder mean, (B,). Any ``as_body21`` layout."""
        mu, _ = self.encode(body_pose)
        return (mu**2).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = 0) -> torch.Tensor:
        """``n`` poses decoded from z ~ N(0, I) -> (n, 21, 3) axis-angle (deterministic for a given seed)."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=g)
        return self.decode_body21(z)

    @torch.no_grad()
    def interpolate(self, a, b, steps: int = 8) -> torch.Tensor:
        """Decode the straight line between the encoder means of poses ``a`` and ``b`` -> (steps, 21, 3)."""
        mu_a, _ = self.encode(_one_pose(a))
        mu_b, _ = self.encode(_one_pose(b))
        t = torch.linspace(0.0, 1.0, steps, dtype=mu_a.dtype, device=mu_a.device)[:, None]   # (S, 1)
        return self.decode_body21((1 - t) * mu_a + t * mu_b)

    @torch.no_grad()
    def reconstruct(self, pose) -> torch.Tensor:
        """Pose -> decode(μ(pose)) as (B, 21, 3) axis-angle."""
        mu, _ = self.encode(pose)
        return self.decode_body21(mu)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """``torch.save`` of {config (plain types), state_dict, history}, written atomically."""
        obj = {"format": "posekit.vposer/1", "config": asdict(self.config),
               "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
               "history": plain_state(self.history)}
        return atomic_torch_save(obj, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "VPoser":
        """Load a file written by ``save`` (``torch.load(..., weights_only=True)``); returns the model in eval mode.

        A damaged file, another prior's file or NaN weights raise InputError naming the file (``posekit.priors.files``).
        """
        obj = read_prior(path, "vposer")
        with prior_contents(path, "vposer"):
            model = cls(VPoserConfig(**obj["config"]))
            model.load_state_dict(obj["state_dict"])
        model.history = obj.get("history", {})
        return model.to(get_device(device)).eval()


def _one_pose(p) -> torch.Tensor:
    p = torch.as_tensor(p)
    if p.dim() == 1 or (p.dim() == 2 and p.shape[0] in (21, 23, 24) and p.shape[1] == 3) \
            or (p.dim() == 3 and p.shape == (NUM_JOINTS, 3, 3)):
        p = p[None]
    if p.shape[0] != 1:
        raise ValueError(f"expected a single pose, got a batch of shape {tuple(p.shape)}")
    return p



# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def reconstruction_errors(model: VPoser, poses, body_model=None, batch_size: int = 512) -> dict:
    """Reconstruction error of decode(μ(θ)) against θ on ``poses`` (any ``as_body21`` layout).

    Returns {"deg": mean geodesic angle per joint in degrees, "deg_per_joint": (21,) list,
    "mm": mean per-vertex distance in mm through ``body_model`` (None when no model is given),
    "deg_rest"/"mm_rest": the same errors for the rest pose (all identity: a no-information baseline), "n"}.
    The vertex error poses the body with zero shape and global orientation (body joints only).
    """
    from posekit.rotations import geodesic_angle
    from posekit.skeleton import body21_to_body_pose

    b21 = as_body21(torch.as_tensor(poses)).float()
    ang_joint = torch.zeros(NUM_JOINTS, dtype=torch.float64)
    ang_rest, mm_sum, mm_rest, n = 0.0, 0.0, 0.0, 0
    for i in range(0, b21.shape[0], batch_size):
        x = b21[i:i + batch_size]
        rec = model.reconstruct(x).cpu().float()
        ang = geodesic_angle(roma.rotvec_to_rotmat(rec), roma.rotvec_to_rotmat(x))       # (b, 21) rad
        ang_joint += ang.double().sum(0)
        ang_rest += float(x.norm(dim=-1).double().sum())                                 # angle to identity
        if body_model is not None:
            from posekit.body import forward as body_forward
            v = body_forward(body_model, body_pose=body21_to_body_pose(x)).vertices             # (b, V, 3)
            v_hat = body_forward(body_model, body_pose=body21_to_body_pose(rec)).vertices
            v_rest = body_forward(body_model, body_pose=torch.zeros(1, 69)).vertices
            mm_sum += float((v - v_hat).norm(dim=-1).mean(-1).double().sum()) * 1000.0
            mm_rest += float((v - v_rest).norm(dim=-1).mean(-1).double().sum()) * 1000.0
        n += x.shape[0]
    has_body = body_model is not None
    return {"deg": math.degrees(float(ang_joint.sum()) / (n * NUM_JOINTS)),
            "deg_per_joint": [math.degrees(float(a) / n) for a in ang_joint],
            "mm": mm_sum / n if has_body else None,
            "deg_rest": math.degrees(ang_rest / (n * NUM_JOINTS)),
            "mm_rest": mm_rest / n if has_body else None, "n": n}


# --------------------------------------------------------------------------------------------
# SMPLify-X Table 2 analog (SMPLify with VPoser vs GMM vs no collision term)
# --------------------------------------------------------------------------------------------
#: SMPLify-X paper (Pavlakos et al. 2019), Table 2: v2v error (mm) on EHF.
SMPLIFYX_TABLE2 = {"SMPLify-X (VPoser prior)": 52.9, "gender neutral model": 58.0,
                   "replace VPoser with GMM": 56.4, "no collision term": 53.5}
#: Table-2 row -> (the paper's method, setting of ``posekit.experiments.image_fit`` rows); the prior implementing
#: each method is the one whose ``posekit.priors.registry`` entry has that ``paper_name``.
TABLE2_ROWS = {
    "SMPLify-X (VPoser prior)": ("VPoser", "+interpenetration"),
    "replace VPoser with GMM": ("GMM", "+interpenetration"),
    "no collision term": ("VPoser", "+angle"),
    "no pose prior (not in the paper)": ("no prior", "+interpenetration"),
}


def table2_analog(rows, metrics=("v2v_mm", "v2v_pa_mm")) -> list[dict]:
    """Image-fit result rows (dicts with method, setting, metric, value) -> the Table 2 analog:
    one dict per Table-2 row with the paper's v2v (mm, NaN when not in the paper), ours per metric
    (``ours_<metric>``, its std over images ``ours_<metric>_std``) and the number of images ``n``."""
    def pick(method, setting, metric, key):
        for r in rows:
            if r.get("method") == method and r.get("setting") == setting and r.get("metric") == metric:
                v = r.get(key)
                return float(v) if v not in (None, "") else float("nan")
        return float("nan")

    out = []
    from . import registry

    for name, (paper_method, setting) in TABLE2_ROWS.items():
        method = registry.from_paper(paper_method) or paper_method
        row = {"row": name, "method": method, "setting": setting, "paper_v2v_mm": SMPLIFYX_TABLE2.get(name, float("nan"))}
        for m in metrics:
            row[f"ours_{m}"] = pick(method, setting, m, "value")
            row[f"ours_{m}_std"] = pick(method, setting, m, "std")
            row["n"] = pick(method, setting, m, "n")
        out.append(row)
    return out
