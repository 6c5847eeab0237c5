"""Pose-NDF remedies: NRDF's linear-angle distance and sampling, per-chain distances and the field over chains.

Distances are checked in float64: in float32, arccos|q·q| of two equal quaternions is up to ~3e-4, not 0.
"""
import itertools
import math

import pytest
import roma
import torch

from posekit.errors import InputError
from posekit.priors.base import is_distance_prior, is_pose_prior, prior_energy
from posekit.priors.posendf import (BODY21_CHAINS, PoseNDF, brute_force_distance, chain_distance,
                                    chain_eikonal_loss, default_config, knn_distance, linear_angle_distance,
                                    loss_terms, make_samples, nrdf_released_quats, pose_distance)
from posekit.rotations import aa_to_quat, hemisphere, pose_ndf_distance


def synthetic_clean(n, seed=0, rank=6, scale=0.3):
    """Poses on a low-dimensional set: axis-angle = A z (a stand-in for mocap), float64."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(63, rank, generator=torch.Generator().manual_seed(123), dtype=torch.float64) * scale
    return (torch.randn(n, rank, generator=g, dtype=torch.float64) @ A.T).reshape(n, 21, 3)


def tiny_config(**kw):
    return {**default_config(fast=True), "head_dims": [16], "latent": 3, **kw}


# ---- NRDF's distance ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("angle", [0.3, 1.0, 2.5, math.pi])
def test_linear_angle_distance_of_one_turned_joint(angle):
    """Two poses that differ by a rotation of `angle` about one joint: d = angle / (2K), linear in the angle."""
    g = torch.Generator().manual_seed(0)
    q = aa_to_quat(0.5 * torch.randn(3, 21, 3, generator=g, dtype=torch.float64))
    axis = torch.nn.functional.normalize(torch.randn(3, 3, generator=g, dtype=torch.float64), dim=-1)
    q2 = q.clone()
    q2[:, 7] = roma.quat_product(q[:, 7], roma.rotvec_to_unitquat(angle * axis))
    expect = torch.full((3,), angle / 42, dtype=torch.float64)
    torch.testing.assert_close(linear_angle_distance(q, q2), expect, atol=1e-7, rtol=0)
    # Pose-NDF's distance of the same pair is quadratic inside the square root: (angle/2)/sqrt(2)
    expect = torch.full((3,), angle / 2 / math.sqrt(2), dtype=torch.float64)
    torch.testing.assert_close(pose_ndf_distance(q, q2), expect, atol=1e-7, rtol=0)


def test_linear_angle_distance_is_the_mean_half_geodesic_angle():
    """Against roma's geodesic angle of rotation matrices (an independent route), any signs, with weights."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 5, 21, 3, generator=g, dtype=torch.float64)
    qa, qb = aa_to_quat(a), -aa_to_quat(b)                     # a sign flip is the same rotation
    ang = roma.rotmat_geodesic_distance(roma.rotvec_to_rotmat(a), roma.rotvec_to_rotmat(b))   # (5, 21)
    torch.testing.assert_close(linear_angle_distance(qa, qb), ang.sum(-1) / 42, atol=1e-5, rtol=0)
    w = torch.rand(21, generator=g, dtype=torch.float64)
    torch.testing.assert_close(linear_angle_distance(qa, qb, w), (w * ang).sum(-1) / 42, atol=1e-5, rtol=0)
    torch.testing.assert_close(pose_distance(qa, qb, metric="nrdf"), ang.sum(-1) / 42, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="pose_ndf"):
        pose_distance(qa, qb, metric="geodesic")


def test_nrdf_released_samples_have_the_drawn_angle_sum():
    """q'_i = q_i ⊗ δ(a_i), Σ a_i = K·s: the linear-angle distance to the source is s/2 while every a_i <= π."""
    g = torch.Generator().manual_seed(2)
    clean = aa_to_quat(synthetic_clean(50))
    q, s, src = nrdf_released_quats(clean, 400, scale=0.3, generator=g)
    assert q.shape == (400, 21, 4) and torch.all(q[..., 3] >= 0)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(400, 21, dtype=torch.float64))
    d = linear_angle_distance(clean[src], q)
    # a joint turned by more than π is nearer the other way round; the check holds where no share exceeds π
    ok = s * 21 <= math.pi
    assert ok.sum() > 100
    torch.testing.assert_close(d[ok], s[ok] / 2, atol=1e-9, rtol=0)
    assert torch.all(d <= s / 2 + 1e-9)


def test_knn_distance_nrdf_metric_matches_brute_force():
    g = torch.Generator().manual_seed(3)
    clean = aa_to_quat(synthetic_clean(300))
    q, _, _ = nrdf_released_quats(clean, 200, generator=g)
    d, idx = knn_distance(q, clean, k=300, kind="outer", metric="nrdf")       # every candidate: exact
    ref = torch.stack([linear_angle_distance(qi[None], clean).min() for qi in q])  # loop over queries
    torch.testing.assert_close(d, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(linear_angle_distance(q, clean[idx]), d, atol=1e-6, rtol=0)
    bd, _ = brute_force_distance(q, clean, metric="nrdf", chunk=17)
    torch.testing.assert_close(bd, ref, atol=1e-6, rtol=0)


def test_make_samples_nrdf_targets_and_defaults():
    clean = aa_to_quat(synthetic_clean(200))
    s = make_samples(clean, 300, frac_noisy=0.0, frac_nrdf=0.9, k=200, metric="nrdf", nrdf_sampling="released",
                     generator=torch.Generator().manual_seed(4))
    ref, _ = brute_force_distance(s["quats"], clean, metric="nrdf")
    torch.testing.assert_close(s["dist"], ref, atol=1e-6, rtol=0)
    assert (s["kind"] == 1).sum() == 0 and (s["kind"] == 2).sum() == 270
    # the defaults are the shipped recipe: the same samples as without the options
    a = make_samples(clean, 100, generator=torch.Generator().manual_seed(5))
    b = make_samples(clean, 100, generator=torch.Generator().manual_seed(5), metric="pose_ndf",
                     nrdf_sampling="spread", chains=None)
    assert torch.equal(a["quats"], b["quats"]) and torch.equal(a["dist"], b["dist"])
    with pytest.raises(InputError, match="spread"):
        make_samples(clean, 10, nrdf_sampling="paper")


# ---- per-chain distances ------------------------------------------------------------------------------------

def test_body21_chains_partition_the_joints():
    assert sorted(j for c in BODY21_CHAINS for j in c) == list(range(21))


@pytest.mark.parametrize("metric", ["pose_ndf", "nrdf"])
def test_chain_distance_is_the_min_per_chain_by_brute_force(metric):
    g = torch.Generator().manual_seed(6)
    clean = aa_to_quat(0.4 * torch.randn(4, 21, 3, generator=g, dtype=torch.float64))   # a tiny training set
    query = aa_to_quat(0.4 * torch.randn(6, 21, 3, generator=g, dtype=torch.float64))
    D = chain_distance(query, clean, BODY21_CHAINS, k=4, metric=metric)     # (6, 5)
    assert D.shape == (6, 5)
    for m in range(6):
        for c, chain in enumerate(BODY21_CHAINS):
            ref = min(float(pose_distance(query[m, list(chain)], clean[n, list(chain)], metric=metric))
                      for n in range(4))
            assert abs(float(D[m, c]) - ref) < 1e-9
    # Σ_c D_c = the distance to every combination of the training poses' chains (4⁵ = 1024 chimeras)
    best = torch.full((6,), float("inf"), dtype=torch.float64)
    for pick in itertools.product(range(4), repeat=5):
        chimera = clean[0].clone()
        for n, chain in zip(pick, BODY21_CHAINS):
            chimera[list(chain)] = clean[n, list(chain)]
        d = sum(pose_distance(query[:, list(c)], chimera[list(c)][None], metric=metric) for c in BODY21_CHAINS)
        best = torch.minimum(best, d)
    torch.testing.assert_close(D.sum(-1), best, atol=1e-9, rtol=0)
    # a chimera of two training poses is at per-chain distance 0, though far from both as a whole pose
    mix = clean[0].clone()
    mix[list(BODY21_CHAINS[3])] = clean[1, list(BODY21_CHAINS[3])]
    assert float(chain_distance(mix[None], clean, BODY21_CHAINS, k=4).abs().max()) < 1e-7
    assert float(brute_force_distance(mix[None], clean)[0]) > 0.05


def test_make_samples_with_chains_gives_per_chain_targets():
    clean = aa_to_quat(synthetic_clean(150))
    s = make_samples(clean, 120, k=150, chains=BODY21_CHAINS, generator=torch.Generator().manual_seed(7))
    assert s["dist"].shape == (120, 5)
    ref = chain_distance(s["quats"], clean, BODY21_CHAINS, k=150)
    torch.testing.assert_close(s["dist"], ref, atol=1e-6, rtol=0)
    assert torch.all(s["dist"][s["kind"] == 0] == 0)
    # per chain <= whole pose (a chain may match another pose than the whole pose does)
    whole, _ = brute_force_distance(s["quats"], clean)
    assert torch.all(s["dist"].pow(2).sum(-1) <= whole.pow(2) + 1e-5)


# ---- the field over chains ----------------------------------------------------------------------------------

def test_chain_field_is_the_sum_of_its_chains_and_a_prior():
    torch.manual_seed(0)
    model = PoseNDF(tiny_config(chains=[list(c) for c in BODY21_CHAINS])).eval()
    q = aa_to_quat(0.5 * torch.randn(4, 21, 3))
    fc = model.chain_distances(q)
    assert fc.shape == (4, 5)
    torch.testing.assert_close(model(q), fc.sum(-1))
    torch.testing.assert_close(model(-q), model(q))                          # sign-free per joint
    q2 = q.clone()                                                           # turning a left-arm joint moves f_3 only
    q2[:, 17] = hemisphere(roma.quat_product(q[:, 17], roma.rotvec_to_unitquat(torch.tensor([0.0, 0.0, 1.0]))))
    d = (model.chain_distances(q2) - fc).abs()
    d = d.detach()
    assert float(d[:, [0, 1, 2, 4]].max()) == 0.0 and float(d[:, 3].min()) > 0
    assert is_pose_prior(model) and is_distance_prior(model)
    pose = (0.3 * torch.randn(2, 63)).requires_grad_(True)
    e = prior_energy(model, pose)
    (g,) = torch.autograd.grad(e.sum(), pose)
    assert e.shape == (2,) and torch.isfinite(g).all() and g.abs().sum() > 0


def test_chain_field_file_round_trip_and_default_layout(tmp_path):
    model = PoseNDF(tiny_config(chains=[list(c) for c in BODY21_CHAINS]))
    path = model.save(tmp_path / "chains.pt", meta={"note": "x"})
    back = PoseNDF.load(path)
    q = aa_to_quat(0.5 * torch.randn(3, 21, 3))
    torch.testing.assert_close(back(q), model.eval()(q))
    assert back.chains == [list(c) for c in BODY21_CHAINS]
    # the default field keeps the shipped layout (one encoder, one head), so shipped files still load
    assert all(k.split(".")[0] in ("encoder", "head") for k in PoseNDF(tiny_config()).state_dict())
    with pytest.raises(InputError, match="disjoint"):
        PoseNDF(tiny_config(chains=[[0, 1], [1, 2]]))
    with pytest.raises(InputError, match="chains"):
        PoseNDF(tiny_config()).chain_distances(q)


def test_per_chain_loss_terms():
    """L1 term = mean over samples of Σ_c |f_c − d_c|; eikonal per chain with a closed-form gradient norm."""
    torch.manual_seed(1)
    chains = [list(c) for c in BODY21_CHAINS]
    model = PoseNDF(tiny_config(chains=chains))
    q = aa_to_quat(0.5 * torch.randn(8, 21, 3))
    d = torch.rand(8, 5)
    loss, parts = loss_terms(model, q, d, eikonal_weight=0.0)
    with torch.no_grad():
        ref = (model.chain_distances(q) - d).abs().sum(-1).mean()
    torch.testing.assert_close(parts["udf"], ref)
    # gradients tangent to each joint's sphere with chain c's norm n_c: loss = mean over d_c > 0 of (n_c − t)²
    norms = torch.tensor([0.2, 0.5, 1.0, 1.5, 3.0])
    grad = torch.zeros(8, 21, 4)
    for c, chain in enumerate(chains):
        v = torch.randn(8, len(chain), 4)
        v = v - (v * q[:, chain]).sum(-1, keepdim=True) * q[:, chain]       # tangent at q
        grad[:, chain] = v / v.flatten(1).norm(dim=1)[:, None, None] * norms[c]
    mask = torch.ones(8, 5)
    mask[:, 2] = 0                                                           # chain 2 on its manifold: no term
    t = 1 / math.sqrt(2)
    expect = ((norms[[0, 1, 3, 4]] - t) ** 2).mean()
    torch.testing.assert_close(chain_eikonal_loss(grad, q, d * mask + mask, chains, t), expect)


# ---- the trainer's remedies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nrdf", "chains"])
def test_trainer_remedy_end_to_end(name, tmp_path):
    """A tiny run of each remedy: the file loads as a PoseNDF with the remedy's field and targets."""
    from posekit.train.posendf import REMEDIES, remedy_overrides, train_from_poses

    over = remedy_overrides(name)
    over["data"].update(n_train=300, n_val=100, max_clean=200)
    over.setdefault("fit", {}).update(epochs=1)
    over.setdefault("model", {}).update(head_dims=[16])
    poses = synthetic_clean(400).float()
    path = train_from_poses(poses[:300], poses[300:], tmp_path / f"{name}.pt", fast=True, overrides=over,
                            progress=False)
    model = PoseNDF.load(path)
    assert model.config["metric"] == ("nrdf" if name == "nrdf" else "pose_ndf")
    assert (model.chains is not None) == (name == "chains")
    assert model.energy(poses[:5]).shape == (5,)
    assert REMEDIES[name] == remedy_overrides(name) and remedy_overrides(name) is not REMEDIES[name]
    with pytest.raises(InputError, match="chains"):
        remedy_overrides("more people")
