"""E_sp: interpenetration between the body model's limbs, as SMPLify defines it (spheres) or with capsules.

SMPLify (Bogo et al. 2016, Sec. 3.2) approximates each limb by a capsule and each capsule by spheres
along its axis, each sphere an isotropic 3D Gaussian with σ = its radius; the penalty is the overlap
of the Gaussians of parts that are not neighbours in the kinematic tree:

    E_sp = Σ_{(a,b) not neighbours} Σ_{i ∈ a, j ∈ b} g_ij²,   g_ij = exp(−‖c_i − c_j‖² / (σ_i² + σ_j²))

(``sphere_energy``; squared because SMPLify's chumpy objective squares every residual). Centres c move
with the posed joints (θ and β), radii come from the shaped rest mesh, so E_sp depends on β through
both. ``interpenetration_energy`` keeps the capsule hinge as an option: a segment between two posed
joints plus a radius. Radii come from the shaped
rest mesh: for each segment, the distances of the vertices skinned mostly to the segment's parent
joint to the segment, reduced by a quantile (the median by default, so capsules sit inside the
surface). A penalty acts on pairs of capsules that are not neighbours in the kinematic tree:

    E_sp = Σ_{(a,b) not neighbours} max(0, r_a + r_b − d(s_a, s_b))²     (metres²)

with d the segment-segment distance (closed form, clamped; continuous and differentiable almost
everywhere, and the squared hinge is C¹ at contact).
"""
from __future__ import annotations

import itertools

import torch

from ..skeleton import SMPL_PARENTS

__all__ = ["SEGMENTS", "SEGMENT_NAMES", "capsule_pairs", "capsule_radii", "CapsuleRadii", "segment_distance",
           "interpenetration_energy", "sphere_centres", "sphere_energy", "SPHERES_PER_CAPSULE"]

#: spheres along each capsule's axis (SMPLify places several per limb)
SPHERES_PER_CAPSULE = 3

#: (start joint, end joint) of each capsule; the segment is skinned to its start joint
SEGMENTS = ((0, 9), (12, 15), (1, 4), (4, 7), (2, 5), (5, 8), (16, 18), (18, 20), (17, 19), (19, 21))
SEGMENT_NAMES = ("torso", "head", "l_thigh", "l_shin", "r_thigh", "r_shin",
                 "l_upperarm", "l_forearm", "r_upperarm", "r_forearm")


def _tree_distance(a: int, b: int) -> int:
    """Number of bones between two SMPL joints in the kinematic tree."""
    def chain(j):
        out = []
        while j >= 0:
            out.append(j)
            j = SMPL_PARENTS[j]
        return out
    ca, cb = chain(a), chain(b)
    common = next(j for j in ca if j in cb)
    return ca.index(common) + cb.index(common)


def capsule_pairs(max_hops: int = 1) -> list[tuple[int, int]]:
    """Pairs of segments that are NOT neighbours: their nearest joints are more than ``max_hops``
    bones apart (default 1: a thigh and its shin, or the torso and a thigh, are never penalised;
    the two thighs, 2 bones apart through the pelvis, are)."""
    pairs = []
    for i, k in itertools.combinations(range(len(SEGMENTS)), 2):
        d = min(_tree_distance(a, b) for a in SEGMENTS[i] for b in SEGMENTS[k])
        if d > max_hops:
            pairs.append((i, k))
    return pairs


def capsule_radii(v_shaped: torch.Tensor, j_shaped: torch.Tensor, lbs_weights: torch.Tensor,
                  quantile: float = 0.5) -> torch.Tensor:
    """Radii (B,S) from the shaped rest mesh v_shaped (B,V,3), rest joints j_shaped (B,24,3),
    skinning weights (V,24)."""
    owner = lbs_weights.argmax(dim=1)                                          # (V,)
    radii = []
    for a, b in SEGMENTS:
        ids = torch.nonzero(owner == a).flatten()
        if ids.numel() == 0:
            raise ValueError(f"no vertex is skinned mostly to joint {a}: cannot size its capsule")
        p = v_shaped[:, ids]                                                   # (B,n,3)
        d = _point_segment_distance(p, j_shaped[:, a:a + 1], j_shaped[:, b:b + 1])   # (B,n)
        radii.append(torch.quantile(d, quantile, dim=1))
    return torch.stack(radii, dim=1)                                           # (B,S)


class CapsuleRadii:
    """``capsule_radii(*shaped_rest(body_model, betas), lbs_weights)`` for one body model, cheaper inside a fit.

    The radius of a capsule is a quantile of its vertices' distances to its axis, so its value and its
    gradient in β depend on the one or two vertices at that quantile only (``torch.quantile`` interpolates
    between two order statistics). The distances of every owned vertex are computed without gradient to find
    those vertices; only they, and the segment's end joints, are shaped again with gradient. The values equal
    :func:`capsule_radii`'s and so do the gradients (wherever the order of the distances has no tie), while the
    backward pass touches 2 vertices per capsule instead of the whole mesh. betas (B,NB) -> radii (B,S).
    """

    def __init__(self, body_model, quantile: float = 0.5):
        bm = body_model
        owner = bm.lbs_weights.argmax(dim=1)                                     # (V,)
        jreg = bm.J_regressor                                                      # (24,V)
        self.j_template = jreg @ bm.v_template                                     # (24,3)
        self.j_shapedirs = torch.einsum("jv,vcb->jcb", jreg, bm.shapedirs)        # (24,3,NB)
        ids = [torch.nonzero(owner == a).flatten() for a, _ in SEGMENTS]
        for (a, _), i in zip(SEGMENTS, ids):
            if i.numel() == 0:
                raise ValueError(f"no vertex is skinned mostly to joint {a}: cannot size its capsule")
        dev = bm.v_template.device
        n = torch.tensor([len(i) for i in ids], device=dev)                        # (S,)
        padded = torch.stack([torch.cat([i, i.new_full((int(n.max()) - len(i),), int(i[0]))]) for i in ids])
        self.valid = torch.arange(int(n.max()), device=dev)[None] < n[:, None]                 # (S,M) padding: False
        self.template = bm.v_template[padded]                                      # (S,M,3)
        self.shapedirs = bm.shapedirs[padded]                                      # (S,M,3,NB)
        pos = quantile * (n - 1).to(bm.v_template.dtype)                           # (S,) torch.quantile's "linear"
        self.lo = pos.floor().long()                                               # (S,) rank of the lower neighbour
        self.hi = torch.minimum(self.lo + 1, n - 1)                                # (S,)
        self.frac = pos - self.lo                                                  # (S,)
        seg = torch.tensor(SEGMENTS, device=dev)
        self.start, self.end = seg[:, 0], seg[:, 1]                                # (S,)

    def __call__(self, betas: torch.Tensor) -> torch.Tensor:
        B = betas.shape[0]
        b = betas[:, None, None, None, :]                                          # (B,1,1,1,NB)
        J = self.j_template + (self.j_shapedirs * betas[:, None, None, :]).sum(-1)  # (B,24,3) J(β), as shaped_rest
        a, e = J[:, self.start, None], J[:, self.end, None]                        # (B,S,1,3) axis ends
        with torch.no_grad():                                                      # which vertices sit at the quantile
            p = self.template + (self.shapedirs * b).sum(-1)                      # (B,S,M,3)
            d = _point_segment_distance(p, a, e).masked_fill(~self.valid, float("inf"))   # (B,S,M)
            order = d.argsort(dim=-1)                                              # padding last
            ranks = torch.stack([self.lo, self.hi], 1).expand(B, -1, -1)           # (B,S,2)
            pick = order.gather(-1, ranks)                                         # (B,S,2) vertex slots
        S = pick.shape[1]
        s_idx = torch.arange(S, device=pick.device)[None, :, None]                                     # (1,S,1)
        q = self.template[s_idx, pick] + (self.shapedirs[s_idx, pick] * betas[:, None, None, None, :]).sum(-1)  # (B,S,2,3)
        dq = _point_segment_distance(q, a, e)                                      # (B,S,2)
        return dq[..., 0] + self.frac * (dq[..., 1] - dq[..., 0])                  # (B,S)


def _point_segment_distance(p, a, b):
    """p (B,n,3), segment a,b (B,1,3) -> (B,n)."""
    ab = b - a
    t = ((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)
    return (p - (a + t.clamp(0, 1)[..., None] * ab)).norm(dim=-1)


def segment_distance(p1: torch.Tensor, q1: torch.Tensor, p2: torch.Tensor, q2: torch.Tensor,
                     eps: float = 1e-9) -> torch.Tensor:
    """Shortest distance between segments [p1,q1] and [p2,q2]; (...,3) each -> (...).

    Closed form (Ericson, Real-Time Collision Detection §5.1.9): minimise ‖(p1 + s d1) − (p2 + t d2)‖
    over s,t ∈ [0,1] by clamping the unconstrained solution and re-solving for the other parameter.
    """
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = (d1 * d1).sum(-1).clamp_min(eps)
    e = (d2 * d2).sum(-1).clamp_min(eps)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    denom = a * e - b * b                                                      # ≥ 0
    s = torch.where(denom > eps, ((b * f - c * e) / denom.clamp_min(eps)).clamp(0, 1), torch.zeros_like(a))
    t = (b * s + f) / e
    # t out of [0,1]: clamp it and recompute s
    t_c = t.clamp(0, 1)
    s = torch.where(t != t_c, ((b * t_c - c) / a).clamp(0, 1), s)
    c1 = p1 + s[..., None] * d1
    c2 = p2 + t_c[..., None] * d2
    return ((c1 - c2) ** 2).sum(-1).clamp_min(1e-12).sqrt()


def interpenetration_energy(joints: torch.Tensor, radii: torch.Tensor, pairs=None) -> torch.Tensor:
    """E_sp for posed joints (B,24,3) and capsule radii (B,S) -> (B,)."""
    pairs = capsule_pairs() if pairs is None else pairs
    i = torch.tensor([p[0] for p in pairs], device=joints.device)
    k = torch.tensor([p[1] for p in pairs], device=joints.device)
    seg = torch.tensor(SEGMENTS, device=joints.device)                         # (S,2)
    start, end = joints[:, seg[:, 0]], joints[:, seg[:, 1]]                    # (B,S,3)
    d = segment_distance(start[:, i], end[:, i], start[:, k], end[:, k])        # (B,P)
    overlap = torch.relu(radii[:, i] + radii[:, k] - d)                        # (B,P)
    return (overlap ** 2).sum(-1)


def sphere_centres(joints: torch.Tensor, n: int = SPHERES_PER_CAPSULE) -> torch.Tensor:
    """Centres of ``n`` spheres spread along each capsule's axis, at t = (k + ½)/n from its start joint:
    joints (B,24,3) -> (B,S,n,3)."""
    seg = torch.tensor(SEGMENTS, device=joints.device)                         # (S,2)
    start, end = joints[:, seg[:, 0]], joints[:, seg[:, 1]]                    # (B,S,3)
    t = (torch.arange(n, device=joints.device, dtype=joints.dtype) + 0.5) / n  # (n,)
    return start[:, :, None] + t[None, None, :, None] * (end - start)[:, :, None]


def sphere_energy(joints: torch.Tensor, radii: torch.Tensor, pairs=None, n: int = SPHERES_PER_CAPSULE) -> torch.Tensor:
    """SMPLify's E_sp: Σ over non-neighbour capsule pairs and their sphere pairs of
    exp(−‖c_i − c_j‖² / (σ_i² + σ_j²))², σ = the capsule radius. joints (B,24,3), radii (B,S) -> (B,)."""
    pairs = capsule_pairs() if pairs is None else pairs
    i = torch.tensor([p[0] for p in pairs], device=joints.device)
    k = torch.tensor([p[1] for p in pairs], device=joints.device)
    c = sphere_centres(joints, n)                                              # (B,S,n,3)
    d2 = ((c[:, i, :, None] - c[:, k, None, :]) ** 2).sum(-1)                  # (B,P,n,n)
    s2 = (radii[:, i] ** 2 + radii[:, k] ** 2)[:, :, None, None]               # (B,P,1,1)
    return torch.exp(-2.0 * d2 / s2).sum((1, 2, 3))                            # g² = exp(−2 d²/s²)
