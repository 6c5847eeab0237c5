"""Pose-NDF training data: clean poses as quaternions, perturbed poses, and their distance to the clean set.

Conventions: K = 21 body joints (SMPL joints 1..21, ``posekit.skeleton.BODY_JOINTS``); quaternions are roma's
(x, y, z, w) order, unit norm, hemisphere-flipped (w >= 0). The distance is Pose-NDF's
d(θ, θ̂) = sqrt(Σ_i w_i/2 · arccos²|θ_i·θ̂_i|) (``posekit.rotations.pose_ndf_distance``); the distance of a
pose to the clean set is the minimum over the clean poses.

Two perturbation schemes:

* Pose-NDF: add noise to the quaternion components and renormalise. The released Pose-NDF code
  (garvita-tiwari/PoseNDF, data/create_data.py) draws the 5 scales σ ∈ {0.01, 0.05, 0.1, 0.25, 0.5} with equal
  probability and adds ``σ · np.random.rand(21, 4)`` (uniform in [0, 1), so biased); we add zero-mean
  Gaussian noise σ·N(0, 1) to each of the 4 components instead, then renormalise.
* NRDF (hynann/NRDF, lib/data/dataloaders.py): draw a target distance, spread it over the joints with random
  weights and rotate each joint about a random axis by quaternion multiplication. NRDF spreads the *sum of
  angles*; here we spread d² so that the realised seed distance to the source pose equals the drawn target
  exactly (closed form, see :func:`spread_distance`).

Options used by the remedies of ``benchmarks/posendf_remedies.py`` (the defaults give the shipped recipe):

* ``metric="nrdf"``: NRDF's distance (:func:`linear_angle_distance`, linear in the joint angles) instead of
  Pose-NDF's; ``nrdf_sampling="released"``: NRDF's released sampling recipe (:func:`nrdf_released_quats`).
* ``chains``: per-chain targets (:func:`chain_distance`): each kinematic chain's distance to the nearest
  training pose *of that chain*, so that chains of different people combine.
"""
from __future__ import annotations

import math

import roma
import torch

from posekit.errors import InputError
from posekit.rotations import aa_to_quat, hemisphere, nearest_pose_ndf, pose_ndf_distance
from posekit.skeleton import as_body21

__all__ = [
    "NUM_JOINTS", "POSE_NDF_SIGMAS", "NRDF_SCALE", "body21_to_quats", "noisy_quats", "spread_distance",
    "nrdf_quats", "candidate_embedding", "knn_candidates", "knn_distance", "brute_force_distance",
    "make_samples", "METRICS", "linear_angle_distance", "pose_distance", "nrdf_released_quats", "BODY21_CHAINS",
    "chain_distance",
]

NUM_JOINTS = 21
#: Noise scales of the released Pose-NDF data generation (chosen with equal probability).
POSE_NDF_SIGMAS = (0.01, 0.05, 0.1, 0.25, 0.5)
#: NRDF's default: target distance ~ |N(0, 0.785²)| (configs/data_gen.yaml "variance: 0.785", mode gaussian).
NRDF_SCALE = 0.785
#: The distances a field can learn: Pose-NDF's (the shipped field) and NRDF's linear-angle distance.
METRICS = ("pose_ndf", "nrdf")
#: Kinematic chains of the 21 body joints (indices 0..20 = SMPL joints 1..21): left leg (hip, knee, ankle, foot),
#: right leg, spine + head (spine1..3, neck, head), left arm (collar, shoulder, elbow, wrist), right arm.
BODY21_CHAINS = ((0, 3, 6, 9), (1, 4, 7, 10), (2, 5, 8, 11, 14), (12, 15, 17, 19), (13, 16, 18, 20))


def linear_angle_distance(q1: torch.Tensor, q2: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """NRDF's pose distance, linear in the joint angles: d(θ, θ̂) = (1/K) Σ_i w_i · arccos|q_i·q̂_i|.

    arccos|q_i·q̂_i| is half the geodesic angle between the two rotations of joint i, so d is the sum of the
    joints' geodesic angles (NRDF, He et al. CVPR 2024, https://arxiv.org/abs/2403.03122) times 1/(2K): the
    scale of the released code (hynann/NRDF, lib/utils/data_utils.py, the mean of the half-angles), which keeps
    d of the order of Pose-NDF's distance. q1, q2: (..., K, 4) unit quaternions (any sign); weights (K,)
    (default 1). Returns (...).
    """
    dot = (q1 * q2).sum(-1).abs().clamp(max=1.0)             # (..., K)
    ang = torch.arccos(dot)                                   # (..., K) half-angles in [0, π/2]
    if weights is not None:
        ang = ang * weights.to(ang)
    return ang.mean(-1)


def pose_distance(q1: torch.Tensor, q2: torch.Tensor, weights: torch.Tensor | None = None,
                  metric: str = "pose_ndf") -> torch.Tensor:
    """d(θ, θ̂) (...) of quaternion poses (..., K, 4) under ``metric`` ("pose_ndf" or "nrdf", see METRICS)."""
    if metric == "pose_ndf":
        return pose_ndf_distance(q1, q2, weights)
    if metric == "nrdf":
        return linear_angle_distance(q1, q2, weights)
    raise InputError(f"unknown pose distance {metric!r}; expected one of {METRICS}")


def _check_quats(q: torch.Tensor, name: str = "quaternions") -> torch.Tensor:
    if q.dim() != 3 or q.shape[-1] != 4:
        raise ValueError(f"expected {name} of shape (N, K, 4) in (x, y, z, w) order, got {tuple(q.shape)}")
    return q


def body21_to_quats(body_pose: torch.Tensor) -> torch.Tensor:
    """Axis-angle body pose (any layout ``as_body21`` accepts) -> (N, 21, 4) unit quaternions, w >= 0."""
    return aa_to_quat(as_body21(body_pose))                       # (N, 21, 4)


def noisy_quats(clean: torch.Tensor, n: int, sigmas=POSE_NDF_SIGMAS, generator: torch.Generator | None = None):
    """Pose-NDF perturbation: q' = normalise(q + σ ε), ε ~ N(0, I₄) per joint, σ drawn from ``sigmas``.

    clean: (N, K, 4). Returns (quats (n, K, 4) hemisphere, sigma (n,), source index (n,)).
    """
    clean = _check_quats(clean, "clean")
    src = torch.randint(0, clean.shape[0], (n,), generator=generator)                      # (n,)
    sig = torch.as_tensor(sigmas, dtype=clean.dtype)[torch.randint(0, len(sigmas), (n,), generator=generator)]
    eps = torch.randn((n,) + tuple(clean.shape[1:]), generator=generator, dtype=clean.dtype)  # (n, K, 4)
    q = clean[src] + sig[:, None, None] * eps
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return hemisphere(q), sig, src


def spread_distance(target: torch.Tensor, num_joints: int, weights: torch.Tensor | None = None,
                    generator: torch.Generator | None = None, iters: int = 8) -> torch.Tensor:
    """Split target distances over joints: half-angles φ (n, K) with sqrt(Σ_i w_i/2 φ_i²) = target, φ_i <= π/2.

    The squared distance d² is divided with Dirichlet(1, …, 1) shares u_i: φ_i² = 2 d² u_i / w_i. A joint
    cannot turn further than φ = π/2 (a half-turn of the quaternion, a full π rotation), so shares above the
    cap are clipped and the excess is handed to the other joints (water filling). Targets beyond the largest
    reachable distance π/2·sqrt(Σ w_i/2) are clipped to it.
    """
    n = target.shape[0]
    dtype = target.dtype
    w = torch.ones(num_joints, dtype=dtype) if weights is None else weights.to(dtype)
    cap = (math.pi / 2) ** 2                                                    # φ_i² <= cap
    dmax2 = float((w / 2).sum()) * cap
    d2 = target.pow(2).clamp(max=dmax2 * (1 - 1e-6))                             # (n,)
    u = -torch.log(torch.rand(n, num_joints, generator=generator, dtype=dtype).clamp_min(1e-12))
    u = u / u.sum(-1, keepdim=True)                                              # (n, K) Dirichlet(1)
    budget = d2[:, None] * u                                      # share of d² per joint
    full = torch.zeros(n, num_joints, dtype=torch.bool)
    for _ in range(iters):                                                       # water filling
        phi2 = budget / (w / 2)
        over = phi2 > cap
        if not over.any():
            break
        excess = ((phi2 - cap).clamp_min(0) * (w / 2)).sum(-1, keepdim=True)     # (n, 1)
        budget = torch.where(over, cap * (w / 2), budget)
        full = full | over
        free = (~full).to(dtype) * u
        budget = budget + excess * free / free.sum(-1, keepdim=True).clamp_min(1e-12)
    phi2 = (budget / (w / 2)).clamp(max=cap)
    return phi2.sqrt()                                                           # (n, K)


def nrdf_quats(clean: torch.Tensor, n: int, scale: float = NRDF_SCALE, weights: torch.Tensor | None = None,
               generator: torch.Generator | None = None):
    """NRDF-style perturbation with a controlled distance.

    target ~ |N(0, scale²)|; half-angles φ = spread_distance(target); per joint a random unit axis a_i and
    δ_i = (sin φ_i a_i, cos φ_i); q'_i = q_i ⊗ δ_i. Then |q_i·q'_i| = cos φ_i, so d(q, q') = target exactly.
    Returns (quats (n, K, 4) hemisphere, target (n,), source index (n,)).
    """
    clean = _check_quats(clean, "clean")
    K = clean.shape[1]
    src = torch.randint(0, clean.shape[0], (n,), generator=generator)
    target = torch.randn(n, generator=generator, dtype=clean.dtype).abs() * scale          # (n,)
    phi = spread_distance(target, K, weights, generator=generator)                         # (n, K)
    axis = torch.randn(n, K, 3, generator=generator, dtype=clean.dtype)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)                         # (n, K, 3)
    delta = torch.cat([phi.sin()[..., None] * axis, phi.cos()[..., None]], dim=-1)          # (n, K, 4) xyzw
    q = roma.quat_product(clean[src], delta)
    w = torch.ones(K, dtype=clean.dtype) if weights is None else weights.to(clean.dtype)
    target = target.clamp(max=math.pi / 2 * float((w / 2).sum().sqrt()))   # the largest reachable distance
    return hemisphere(q), target, src


def nrdf_released_quats(clean: torch.Tensor, n: int, scale: float = NRDF_SCALE,
                        generator: torch.Generator | None = None):
    """NRDF's released sampling recipe (hynann/NRDF, lib/data/dataloaders.py ``nrdf_sampling``).

    s ~ |N(0, scale²)| per sample; joint shares u_i ~ U(0, 1) normalised to sum 1 (not Dirichlet); joint i turns
    by the angle a_i = K·s·u_i about a uniform random axis: q'_i = q_i ⊗ (sin(a_i/2) axis_i, cos(a_i/2)). The
    seed's angles add up to K·s (so its linear-angle distance to the source pose is s/2 while no a_i exceeds π);
    the label is the distance to the nearest clean pose anyway. (The released code draws s ~ N(0, scale²) with
    a sign; a negative angle about a uniform axis is the same distribution, hence |·|.)
    Returns (quats (n, K, 4) hemisphere, s (n,), source index (n,)).
    """
    clean = _check_quats(clean, "clean")
    K = clean.shape[1]
    src = torch.randint(0, clean.shape[0], (n,), generator=generator)                      # (n,)
    s = torch.randn(n, generator=generator, dtype=clean.dtype).abs() * scale               # (n,)
    u = torch.rand(n, K, generator=generator, dtype=clean.dtype)
    u = u / u.sum(-1, keepdim=True)                                                        # (n, K)
    angle = K * s[:, None] * u                                                             # (n, K)
    axis = torch.randn(n, K, 3, generator=generator, dtype=clean.dtype)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)                         # (n, K, 3)
    delta = torch.cat([(angle / 2).sin()[..., None] * axis, (angle / 2).cos()[..., None]], dim=-1)  # (n, K, 4)
    return hemisphere(roma.quat_product(clean[src], delta)), s, src


def chain_distance(query: torch.Tensor, clean: torch.Tensor, chains=BODY21_CHAINS, k: int = 32,
                   kind: str = "outer", metric: str = "pose_ndf", chunk: int | None = None) -> torch.Tensor:
    """Per-chain distance to a clean set: D_c(θ) = min_{θ̂ ∈ clean} d(θ_c, θ̂_c) for each chain c -> (M, C).

    Each chain is matched to the nearest clean pose *of that chain*, so Σ_c D_c(θ) is the distance (under the
    metric Σ_c d(θ_c, ·)) to the set of all combinations of the clean poses' chains (the min of a sum of
    independent terms is the sum of the mins). query (M, K, 4), clean (N, K, 4); chains: joint index lists.
    """
    out = [knn_distance(query[:, list(c)], clean[:, list(c)], k=k, kind=kind, metric=metric, chunk=chunk)[0]
           for c in chains]
    return torch.stack(out, dim=-1)                                                        # (M, C)


def candidate_embedding(q: torch.Tensor, kind: str = "quat", weights: torch.Tensor | None = None) -> torch.Tensor:
    """Flat vectors for the Euclidean candidate search; ranking by the dot product e(q)·e(q̂), largest first.

    kind="quat": the hemisphere quaternions themselves (N, 4K) as in the released code. Their dot product is
    Σ_i q_i·q̂_i, which has the *wrong sign* for a joint whose two quaternions lie on opposite sides of the
    w = 0 boundary: only a candidate filter, the exact distance re-ranks.
    kind="outer": sign-free features sqrt(w_i)·vec(q_i q_iᵀ) (10 per joint, off-diagonals scaled by √2) with
    e·ê = Σ_i w_i (q_i·q̂_i)² = Σ_i w_i cos² φ_i: monotone per joint in the true half-angle φ_i, no sign issue.
    """
    q = _check_quats(q)
    if kind == "quat":
        return hemisphere(q).reshape(q.shape[0], -1)
    if kind == "outer":
        K = q.shape[1]
        a, b = torch.triu_indices(4, 4)
        scale = torch.where(a == b, 1.0, math.sqrt(2.0)).to(q.dtype)
        feat = q[..., a] * q[..., b] * scale                                    # (N, K, 10)
        if weights is not None:
            feat = feat * weights.to(q.dtype).sqrt()[:, None]
        return feat.reshape(q.shape[0], K * 10)
    raise ValueError(f"unknown candidate embedding {kind!r}; expected 'quat' or 'outer'")


def knn_candidates(query: torch.Tensor, clean: torch.Tensor, k: int = 32, kind: str = "quat",
                   weights: torch.Tensor | None = None, chunk: int | None = None) -> torch.Tensor:
    """Indices (M, k) of the k clean poses with the largest embedding dot product (chunked matmul + topk)."""
    eq = candidate_embedding(query, kind, weights)                   # (M, E)
    ec = candidate_embedding(clean, kind, weights)                   # (N, E)
    k = min(k, ec.shape[0])
    if chunk is None:
        chunk = max(1, int(2e7 // max(ec.shape[0], 1)))              # ≈ 80 MB of scores per chunk
    out = []
    for s in range(0, eq.shape[0], chunk):
        scores = eq[s:s + chunk] @ ec.T                              # (c, N)
        out.append(scores.topk(k, dim=1).indices)                    # (c, k)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long)


def knn_distance(query: torch.Tensor, clean: torch.Tensor, k: int = 32, kind: str = "quat",
                 weights: torch.Tensor | None = None, chunk: int | None = None, metric: str = "pose_ndf"):
    """Distance of each query pose to the clean set: k Euclidean candidates, then exact re-ranking by d.

    ``metric``: the distance d of the re-ranking, "pose_ndf" or "nrdf" (:func:`pose_distance`). The candidate
    filter ranks by Σ_i cos²φ_i ("outer"), monotone per joint for both.

    query: (M, K, 4), clean: (N, K, 4) (any sign). Returns (dist (M,), index of the nearest clean pose (M,)).
    """
    query, clean = _check_quats(query, "query"), _check_quats(clean, "clean")
    if query.shape[1:] != clean.shape[1:]:
        raise ValueError(f"query joints {tuple(query.shape[1:])} differ from clean joints {tuple(clean.shape[1:])}")
    cand = knn_candidates(query, clean, k, kind, weights, chunk)                 # (M, k)
    d = pose_distance(query[:, None], clean[cand], weights, metric)              # (M, k)
    best = d.argmin(dim=1)                                                        # (M,)
    return d.gather(1, best[:, None])[:, 0], cand.gather(1, best[:, None])[:, 0]


def brute_force_distance(query: torch.Tensor, clean: torch.Tensor, weights: torch.Tensor | None = None,
                         chunk: int = 256, metric: str = "pose_ndf"):
    """Exact distance to the clean set by comparing with every clean pose (reference for tests; O(M·N·K))."""
    query, clean = _check_quats(query, "query"), _check_quats(clean, "clean")
    if metric == "pose_ndf":
        return nearest_pose_ndf(query, clean, weights, chunk)
    d = torch.cat([pose_distance(query[s:s + chunk, None], clean[None], weights, metric)
                   for s in range(0, query.shape[0], chunk)])                    # (M, N)
    v, i = d.min(dim=1)
    return v, i


def make_samples(clean: torch.Tensor, n: int, frac_noisy: float = 0.45, frac_nrdf: float = 0.45,
                 sigmas=POSE_NDF_SIGMAS, nrdf_scale: float = NRDF_SCALE, k: int = 32, kind: str = "outer",
                 weights: torch.Tensor | None = None, reference: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, frac_random: float = 0.0, metric: str = "pose_ndf",
                 nrdf_sampling: str = "spread", chains=None) -> dict:
    """A training set of (pose, distance) pairs built from ``clean`` poses.

    A fraction ``frac_noisy`` of Pose-NDF noisy poses, ``frac_nrdf`` of NRDF perturbations, ``frac_random`` of
    uniformly random poses (every joint's rotation uniform on SO(3): the far field that Pose-NDF's authors
    advise training on too), the rest clean poses (distance 0 to themselves). Targets are distances to ``reference`` (default ``clean``) by
    :func:`knn_distance`; clean samples use exactly 0 when reference is ``clean``. For validation, build the
    samples from held-out clean poses with ``reference`` = training ∪ held-out poses: every real pose is then a
    zero target and a perturbed one is scored against its nearest real pose (``posekit.train.posendf``).
    Options (defaults: the shipped recipe): ``metric`` the distance of the targets ("pose_ndf" or "nrdf",
    :func:`pose_distance`); ``nrdf_sampling`` "spread" (:func:`nrdf_quats`) or "released" (NRDF's own recipe,
    :func:`nrdf_released_quats`); ``chains`` joint index lists: the targets are then per-chain distances
    (:func:`chain_distance`), "dist" of shape (n, C).
    Returns {"quats": (n, K, 4), "dist": (n,) or (n, C), "kind": (n,) 0 clean / 1 noisy / 2 nrdf / 3 random}.
    """
    if metric not in METRICS:
        raise InputError(f"unknown pose distance {metric!r}; expected one of {METRICS}")
    if nrdf_sampling not in ("spread", "released"):
        raise InputError(f"unknown NRDF sampling {nrdf_sampling!r}; expected 'spread' or 'released'")
    clean = hemisphere(_check_quats(clean, "clean"))
    n_noisy = int(round(n * frac_noisy))
    n_nrdf = int(round(n * frac_nrdf))
    n_random = int(round(n * frac_random))
    n_clean = n - n_noisy - n_nrdf - n_random
    if n_clean < 0 or min(frac_noisy, frac_nrdf, frac_random) < 0:
        raise ValueError("frac_noisy, frac_nrdf and frac_random must be >= 0 with a sum <= 1")
    qn, _, _ = noisy_quats(clean, n_noisy, sigmas, generator)
    if nrdf_sampling == "spread":
        qr, _, _ = nrdf_quats(clean, n_nrdf, nrdf_scale, weights, generator)
    else:
        qr, _, _ = nrdf_released_quats(clean, n_nrdf, nrdf_scale, generator)
    qc = clean[torch.randint(0, clean.shape[0], (n_clean,), generator=generator)]
    parts = [qc, qn, qr]
    if n_random:                                   # drawn last, so that frac_random = 0 changes nothing else
        g = torch.randn(n_random, clean.shape[1], 4, generator=generator, dtype=clean.dtype)
        parts.append(hemisphere(g / g.norm(dim=-1, keepdim=True)))      # uniform on S³ = uniform on SO(3)
    quats = torch.cat(parts)
    kinds = torch.cat([torch.zeros(n_clean), torch.ones(n_noisy), torch.full((n_nrdf,), 2.0),
                       torch.full((n_random,), 3.0)]).long()
    ref = clean if reference is None else hemisphere(_check_quats(reference, "reference"))
    if chains is not None:
        dist = chain_distance(quats, ref, chains, k=k, kind=kind, metric=metric)          # (n, C)
    else:
        dist, _ = knn_distance(quats, ref, k=k, kind=kind, weights=weights, metric=metric)
    if reference is None:
        dist[:n_clean] = 0.0
    return {"quats": quats, "dist": dist, "kind": kinds}
