"""Pose-NDF: training data, encoder structure, eikonal gradient, projection steps, files and resuming."""
import math

import pytest
import roma
import torch

from posekit.priors.posendf import (EIKONAL_TARGET, BODY21_PARENTS, HierarchicalEncoder, PoseNDF,
                                    brute_force_distance, default_config, eikonal_loss,
                                    knn_distance, make_samples, noisy_quats, nrdf_quats, project_quats,
                                    riemannian_step, sphere_exp, spread_distance, tangent_project)
from posekit.train.posendf import fit, fit_config
from posekit.priors.posendf.project import euclidean_step, value_and_grad
from posekit.rotations import aa_to_quat, hemisphere, pose_ndf_distance
from posekit.skeleton import SMPL_PARENTS


def synthetic_clean(n, seed=0, rank=6, scale=0.3):
    """Poses on a low-dimensional set: axis-angle = A z (a stand-in for mocap)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(63, rank, generator=torch.Generator().manual_seed(123)) * scale
    z = torch.randn(n, rank, generator=g)
    return (z @ A.T).reshape(n, 21, 3)


def random_flip(q, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.where(torch.rand(q.shape[:-1], generator=g) < 0.5, -1.0, 1.0)
    return q * s[..., None]


# ---- training data ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["outer", "quat"])
def test_knn_distance_matches_brute_force(kind):
    g = torch.Generator().manual_seed(1)
    clean = aa_to_quat(synthetic_clean(400))
    qn, _, _ = noisy_quats(clean, 150, generator=g)
    qr, _, _ = nrdf_quats(clean, 150, generator=g)
    query = torch.cat([qn, qr])
    d, idx = knn_distance(query, clean, k=40, kind=kind)
    db, _ = brute_force_distance(query, clean)
    # the reported neighbour really is at the reported distance, and no clean pose is nearer
    assert torch.allclose(pose_ndf_distance(query, clean[idx]), d, atol=1e-6)
    assert (d >= db - 1e-6).all()
    exact = (d - db).abs() < 1e-5
    if kind == "outer":   # sign-free candidates: exact on this set
        assert exact.all(), f"{(~exact).sum()} of {len(d)} differ"
    else:                 # hemisphere quaternions: a candidate filter that can miss across the w = 0 boundary
        assert exact.float().mean() > 0.9


def test_knn_candidates_are_sign_free_with_outer_embedding():
    clean = aa_to_quat(synthetic_clean(300, seed=2))
    g = torch.Generator().manual_seed(3)
    query, _, _ = noisy_quats(clean, 100, sigmas=(0.1,), generator=g)
    d1, _ = knn_distance(query, clean, k=20, kind="outer")
    d2, _ = knn_distance(random_flip(query, 4), random_flip(clean, 5), k=20, kind="outer")
    assert torch.allclose(d1, d2, atol=1e-6)


def test_clean_poses_are_at_distance_zero_and_sign_flips_do_not_matter():
    clean = aa_to_quat(synthetic_clean(300, seed=4))
    d, idx = knn_distance(random_flip(clean[:80], 7), clean, k=8)
    assert d.max() < 2e-3                       # float32 arccos near 1
    assert (idx == torch.arange(80)).float().mean() > 0.95
    q = nrdf_quats(clean, 50, generator=torch.Generator().manual_seed(0))[0]
    assert torch.allclose(pose_ndf_distance(q, clean[:50]), pose_ndf_distance(random_flip(q, 1), clean[:50]), atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_spread_distance_closed_form(weighted):
    g = torch.Generator().manual_seed(0)
    w = torch.rand(21, generator=g) + 0.5 if weighted else None
    target = torch.cat([torch.rand(500, generator=g) * 3.0, torch.tensor([0.0, 4.5, 10.0])]).double()
    phi = spread_distance(target, 21, None if w is None else w.double(), generator=g)
    ww = torch.ones(21).double() if w is None else w.double()
    dmax = math.pi / 2 * math.sqrt(float((ww / 2).sum()))
    real = ((ww / 2) * phi**2).sum(-1).sqrt()
    assert (phi <= math.pi / 2 + 1e-9).all() and (phi >= 0).all()
    assert torch.allclose(real, target.clamp(max=dmax), rtol=1e-5, atol=1e-6)


def test_nrdf_sampler_realises_the_drawn_distance():
    clean = aa_to_quat(synthetic_clean(100, seed=5).double())   # float64 unit norms: arccos near 1 is exact
    q, target, src = nrdf_quats(clean, 2000, scale=1.0, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(q.norm(dim=-1), torch.ones(()).double(), atol=1e-12)
    assert (q[..., 3] >= 0).all()
    real = pose_ndf_distance(q, clean[src])
    assert torch.allclose(real, target, atol=1e-6)
    assert target.std() > 0.3                    # a spread of distances, not a constant


def test_make_samples_targets_and_kinds():
    clean = aa_to_quat(synthetic_clean(300, seed=6))
    s = make_samples(clean, 400, generator=torch.Generator().manual_seed(0))
    assert s["quats"].shape == (400, 21, 4) and s["dist"].shape == (400,)
    assert (s["dist"][s["kind"] == 0] == 0).all() and (s["dist"][s["kind"] > 0] > 0).all()
    db, _ = brute_force_distance(s["quats"][s["kind"] > 0], clean)
    assert torch.allclose(s["dist"][s["kind"] > 0], db, atol=1e-5)


def test_make_samples_random_poses_are_uniform_and_change_nothing_else():
    """frac_random adds uniformly random poses (kind 3) with exact distance targets; frac_random = 0 draws
    exactly the samples it drew before the option existed (the random poses are drawn last)."""
    clean = aa_to_quat(synthetic_clean(300, seed=6))
    base = make_samples(clean, 400, generator=torch.Generator().manual_seed(0))
    zero = make_samples(clean, 400, generator=torch.Generator().manual_seed(0), frac_random=0.0)
    assert torch.equal(base["quats"], zero["quats"]) and torch.equal(base["dist"], zero["dist"])
    s = make_samples(clean, 1000, frac_noisy=0.3, frac_nrdf=0.3, frac_random=0.2,
                     generator=torch.Generator().manual_seed(1))
    r = s["kind"] == 3
    assert int(r.sum()) == 200 and int((s["kind"] == 0).sum()) == 200
    q = s["quats"][r]
    assert torch.allclose(q.norm(dim=-1), torch.ones(()), atol=1e-6) and (q[..., 3] >= 0).all()
    # uniform on SO(3): the rotation angle 2·arccos(w) has density (1 − cos θ)/π, so its mean is π/2 + 2/π
    angle = 2 * torch.arccos(q[..., 3].clamp(max=1.0))
    assert abs(float(angle.mean()) - (math.pi / 2 + 2 / math.pi)) < 0.03
    db, _ = brute_force_distance(q, hemisphere(clean))
    # the two-stage candidate search is approximate far from the data: never below the exact distance, and
    # within 1 % of it
    assert (s["dist"][r] >= db - 1e-5).all() and ((s["dist"][r] - db) / db).abs().max() < 0.01
    with pytest.raises(ValueError, match="sum <= 1"):
        make_samples(clean, 10, frac_noisy=0.5, frac_nrdf=0.4, frac_random=0.2)


# ---- the encoder ---------------------------------------------------------------------------------------------

def test_body21_parents_follow_smpl():
    for k, p in enumerate(BODY21_PARENTS):
        smpl_parent = SMPL_PARENTS[k + 1]
        assert p == (smpl_parent - 1 if smpl_parent >= 1 else -1)
    assert [k for k, p in enumerate(BODY21_PARENTS) if p < 0] == [0, 1, 2]   # hips and spine1 hang from the pelvis


def naive_encoder(enc, q):
    """Joint-by-joint recursion f_k(θ_k, v_τ(k)) with the encoder's weights (reference for the batched code)."""
    v = [None] * enc.num_joints
    for k, p in enumerate(enc.parents):
        pv = torch.zeros(q.shape[0], enc.latent) if p < 0 else v[p]
        x = torch.cat([q[:, k], pv], -1)
        x = enc.act(x @ enc.w1[k] + enc.b1[k])
        v[k] = enc.act(x @ enc.w2[k] + enc.b2[k])
    return torch.cat(v, -1)


def test_encoder_levels_match_joint_by_joint_recursion():
    torch.manual_seed(0)
    enc = HierarchicalEncoder(latent=5, beta=10.0)
    q = hemisphere(torch.nn.functional.normalize(torch.randn(7, 21, 4), dim=-1))
    assert torch.allclose(enc(q), naive_encoder(enc, q), atol=1e-6)


def descendants(k):
    out = {k}
    for j, p in enumerate(BODY21_PARENTS):
        if p in out:
            out.add(j)
    return out


@pytest.mark.parametrize("joint", [2, 8, 15, 20, 0])
def test_encoder_respects_the_tree(joint):
    torch.manual_seed(1)
    enc = HierarchicalEncoder(latent=6, beta=10.0).double()
    q = hemisphere(torch.nn.functional.normalize(torch.randn(4, 21, 4, dtype=torch.float64), dim=-1))
    q2 = q.clone()
    q2[:, joint] = hemisphere(torch.nn.functional.normalize(torch.randn(4, 4, dtype=torch.float64), dim=-1))
    v1, v2 = enc(q).reshape(4, 21, 6), enc(q2).reshape(4, 21, 6)
    changed = (v1 != v2).any(dim=2).any(dim=0)
    expected = torch.zeros(21, dtype=torch.bool)
    expected[list(descendants(joint))] = True
    assert torch.equal(changed, expected)


# ---- eikonal term and gradients ------------------------------------------------------------------------------

def tiny_model(seed=0):
    torch.manual_seed(seed)
    return PoseNDF({**default_config(fast=True), "beta": 5.0}).double()


def test_gradient_and_eikonal_term_match_finite_differences():
    model = tiny_model()
    q = hemisphere(torch.nn.functional.normalize(torch.randn(3, 21, 4, dtype=torch.float64), dim=-1)) + 0.0
    f, g = value_and_grad(model, q)
    eps = 1e-6
    fd = torch.zeros_like(q)
    for j in range(21):
        for c in range(4):
            dq = torch.zeros_like(q)
            dq[:, j, c] = eps
            fd[:, j, c] = (model(q + dq) - model(q - dq)) / (2 * eps)
    assert torch.allclose(g, fd, atol=1e-6)
    tang = fd - (fd * q).sum(-1, keepdim=True) * q
    expected = ((tang.flatten(1).norm(dim=1) - 0.3) ** 2).mean()
    assert torch.allclose(eikonal_loss(g, q, torch.ones(3, dtype=torch.bool), 0.3), expected, atol=1e-8)
    # samples at distance 0 are left out of the eikonal term
    mask = torch.tensor([True, False, True])
    expected2 = ((tang.flatten(1).norm(dim=1) - 0.3) ** 2)[mask].mean()
    assert torch.allclose(eikonal_loss(g, q, mask, 0.3), expected2, atol=1e-8)


def test_eikonal_target_is_the_gradient_norm_of_the_seed_distance():
    g = torch.Generator().manual_seed(0)
    q0 = hemisphere(torch.nn.functional.normalize(torch.randn(5, 21, 4, generator=g, dtype=torch.float64), dim=-1))
    q, _, _ = nrdf_quats(q0, 5, scale=0.5, generator=g)
    q.requires_grad_(True)
    d = torch.stack([pose_ndf_distance(q[i:i + 1], q0).min() for i in range(5)])   # distance to the set
    (grad,) = torch.autograd.grad(d.sum(), q)
    norms = tangent_project(q.detach(), grad).flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, EIKONAL_TARGET), atol=1e-6)


# ---- projection steps ----------------------------------------------------------------------------------------

def test_riemannian_step_stays_on_the_sphere_and_uses_the_tangent():
    g = torch.Generator().manual_seed(0)
    q = hemisphere(torch.nn.functional.normalize(torch.randn(6, 21, 4, generator=g, dtype=torch.float64), dim=-1))
    grad = torch.randn(6, 21, 4, generator=g, dtype=torch.float64)
    t = tangent_project(q, grad)
    assert (t * q).sum(-1).abs().max() < 1e-12
    f = torch.rand(6, generator=g, dtype=torch.float64)
    q1 = riemannian_step(q, f, grad, alpha=0.7)
    assert torch.allclose(q1.norm(dim=-1), torch.ones((), dtype=torch.float64), atol=1e-12)
    # the exponential map equals q ⊗ exp(q̄ ⊗ v) (roma: exp of a pure quaternion ω is rotvec 2ω)
    v = -0.7 * f[:, None, None] * t
    omega = roma.quat_product(roma.quat_conjugation(q), v)                # pure: w ≈ 0
    assert omega[..., 3].abs().max() < 1e-12
    ref = roma.quat_product(q, roma.rotvec_to_unitquat(2 * omega[..., :3]))
    assert torch.allclose(hemisphere(sphere_exp(q, v)), hemisphere(ref), atol=1e-10)
    assert torch.allclose(q1, hemisphere(ref), atol=1e-10)


def test_euclidean_step_matches_hand_computation():
    g = torch.Generator().manual_seed(1)
    q = hemisphere(torch.nn.functional.normalize(torch.randn(4, 21, 4, generator=g, dtype=torch.float64), dim=-1))
    c = torch.randn(21, 4, generator=g, dtype=torch.float64)

    def fn(x):                                   # f = Σ (x − c)², ∇f = 2 (x − c)
        return ((x - c) ** 2).sum((1, 2))

    alpha = 0.01
    f = ((q - c) ** 2).sum((1, 2))
    x = q - alpha * f[:, None, None] * 2 * (q - c)
    expected = hemisphere(x / x.norm(dim=-1, keepdim=True))
    got = project_quats(fn, q, method="euclidean", steps=1, tol=0.0, alpha=alpha)
    assert torch.allclose(got, expected, atol=1e-12)
    assert torch.allclose(euclidean_step(q, f, 2 * (q - c), alpha), expected, atol=1e-12)


# ---- a tiny trained model ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    clean = aa_to_quat(synthetic_clean(1500, seed=10))
    g = torch.Generator().manual_seed(0)
    tr = make_samples(clean, 5000, generator=g)
    va = make_samples(clean, 500, generator=g)        # fresh perturbations of the same clean set
    torch.manual_seed(0)
    model = PoseNDF(default_config(fast=True))
    cfg = {**fit_config(fast=True), "epochs": 6, "patience": 6, "max_minutes": 10.0}
    hist = fit(model, tr, va, cfg, progress=False)
    return {"model": model, "clean": clean, "hist": hist, "tr": tr, "va": va, "cfg": cfg}


def test_training_reduces_validation_error(trained):
    h = trained["hist"]
    baseline = trained["va"]["dist"].sub(trained["va"]["dist"].mean()).abs().mean().item()
    assert min(h["val"]) < 0.75 * baseline    # clearly better than predicting the mean distance
    assert h["val"][-1] < h["val"][0]


@pytest.mark.parametrize("method", ["riemannian", "euclidean"])
def test_projection_reduces_the_distance(trained, method):
    model = trained["model"]
    g = torch.Generator().manual_seed(5)
    noisy, _, _ = nrdf_quats(trained["clean"], 200, scale=0.6, generator=g)
    before = model.distance_quat(noisy).detach()
    out, hist = model.project(noisy, method=method, steps=15, tol=0.0, return_history=True)
    after = model.distance_quat(out).detach()
    assert hist["distance"].shape == (16, 200)
    assert after.mean() < 0.5 * before.mean()
    assert (hist["distance"][-1] <= hist["distance"][0] + 1e-6).float().mean() > 0.95


def test_projection_with_the_exact_distance_field_lands_on_the_data():
    """With f = the true distance to a set, one Riemannian step with α = 2 lands exactly on the nearest pose."""
    clean = aa_to_quat(synthetic_clean(50, seed=20).double())
    g = torch.Generator().manual_seed(0)
    noisy, _, _ = nrdf_quats(clean, 30, scale=0.3, generator=g)

    def exact(q):                                       # (B, 21, 4) -> (B,) distance to the clean set
        return pose_ndf_distance(q[:, None], clean[None]).min(dim=1).values

    d0 = exact(noisy)
    q1 = project_quats(exact, noisy, method="riemannian", steps=1, tol=0.0, alpha=2.0)
    assert exact(q1).max() < 1e-5 * max(1.0, d0.max().item()) + 1e-6
    q5 = project_quats(exact, noisy, method="euclidean", steps=8, tol=0.0, alpha=2.0)
    assert exact(q5).mean() < 0.05 * d0.mean()


def test_layouts_and_sign_invariance(trained):
    model = trained["model"]
    aa = synthetic_clean(5, seed=12)
    full = torch.cat([torch.randn(5, 1, 3), aa, torch.randn(5, 2, 3)], 1)      # (5, 24, 3)
    d21 = model.distance(aa)
    assert torch.allclose(model.distance(full.reshape(5, 72)), d21)
    assert torch.allclose(model.distance(full[:, 1:].reshape(5, 69)), d21)
    q = aa_to_quat(aa)
    assert torch.allclose(model.distance(random_flip(q, 3)), d21, atol=1e-6)
    assert torch.allclose(model.energy(aa), d21)
    out = model.project(full.reshape(5, 72), steps=3)
    assert out.shape == (5, 72)
    o = out.reshape(5, 24, 3)
    assert torch.equal(o[:, 0], full[:, 0]) and torch.equal(o[:, 22:], full[:, 22:])
    with pytest.raises(ValueError, match="expected"):
        model.distance(torch.zeros(5, 10))


def test_save_load_round_trip(trained, tmp_path):
    model = trained["model"]
    path = model.save(tmp_path / "posendf.pt", meta={"note": "x", "history": trained["hist"]})
    m2 = PoseNDF.load(path)
    q = trained["va"]["quats"][:50]
    assert torch.equal(m2.distance_quat(q), model.distance_quat(q))
    assert m2.config == model.config and m2.meta["note"] == "x"
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a Pose-NDF file"):
        PoseNDF.load(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        PoseNDF.load(tmp_path / "missing.pt")


def test_sample_gives_low_distance_poses(trained):
    model = trained["model"]
    s = model.sample(20, seed=0, steps=30, scale=1.0)
    assert s.shape == (20, 21, 3)
    rnd = aa_to_quat(torch.randn(20, 21, 3, generator=torch.Generator().manual_seed(0)))
    assert model.distance(s).mean() < 0.5 * model.distance(rnd).mean()


class _CountingBar:
    """Stands in for tqdm: records every bar made, its total, updates and postfix."""
    made = []

    def __init__(self, iterable=None, total=None, initial=0, **kw):
        self.iterable, self.total, self.n, self.postfix, self.closed = iterable, total, initial, {}, False
        _CountingBar.made.append(self)

    def __iter__(self):
        for x in self.iterable:
            yield x
            self.n += 1

    def update(self, k=1):
        self.n += k

    def set_postfix(self, refresh=True, **kw):
        self.postfix = kw

    def close(self):
        self.closed = True

    @staticmethod
    def write(*a, **kw):
        pass


def test_training_draws_one_bar_over_all_epochs(trained, monkeypatch):
    import posekit.train.posendf as T
    monkeypatch.setattr(T, "tqdm", _CountingBar)
    _CountingBar.made = []
    tr = {k: v[:600] for k, v in trained["tr"].items()}
    cfg = {**trained["cfg"], "epochs": 3, "patience": 10}
    torch.manual_seed(0)
    hist = fit(PoseNDF(default_config(fast=True)), tr, trained["va"], cfg, progress=True)
    assert len(_CountingBar.made) == 1, f"{len(_CountingBar.made)} progress bars for {cfg['epochs']} epochs"
    bar = _CountingBar.made[0]
    assert bar.total == 3 and bar.n == 3 and bar.closed
    assert set(bar.postfix) == {"udf", "eik", "val"} and float(bar.postfix["val"]) == pytest.approx(hist["val"][-1], abs=1e-4)


def test_resume_equals_uninterrupted(trained, tmp_path):
    tr = {k: v[:1500] for k, v in trained["tr"].items()}
    va = trained["va"]
    cfg = {**trained["cfg"], "epochs": 3, "patience": 10}

    torch.manual_seed(0)
    a = PoseNDF(default_config(fast=True))
    ha = fit(a, tr, va, cfg, checkpoint=tmp_path / "a.ckpt", progress=False)

    torch.manual_seed(0)
    b = PoseNDF(default_config(fast=True))
    fit(b, tr, va, cfg, checkpoint=tmp_path / "b.ckpt", stop_after=1, progress=False)   # "interrupted"
    torch.manual_seed(99)
    c = PoseNDF(default_config(fast=True))                                               # fresh process
    hc = fit(c, tr, va, cfg, checkpoint=tmp_path / "b.ckpt", progress=False)
    assert hc["epoch"] == ha["epoch"] == [1, 2, 3]
    assert hc["val"] == pytest.approx(ha["val"], abs=0)
    for k, v in a.state_dict().items():
        assert torch.equal(v, c.state_dict()[k]), k


def test_train_command_resumes_and_writes_a_loadable_file(tmp_path):
    from posekit.train.posendf import train_from_poses

    poses = synthetic_clean(400, seed=30)
    over = {"data": {"n_train": 600, "n_val": 100, "max_clean": 300}, "model": {"head_dims": [16]},
            "fit": {"epochs": 2, "patience": 5, "batch_size": 100}}
    out = tmp_path / "posendf.pt"
    ck = train_from_poses(poses[:300], poses[300:], out, fast=True, overrides=over, progress=False, stop_after=1)
    assert ck.exists() and not out.exists()
    assert train_from_poses(poses[:300], poses[300:], out, fast=True, overrides=over, progress=False) == out
    assert not ck.exists()
    m = PoseNDF.load(out)
    assert m.meta["history"]["epoch"] == [1, 2] and m.meta["data"]["n_clean"] == 300
    assert m.distance(poses[:5]).shape == (5,)


def test_validation_targets_are_distances_to_all_real_poses():
    """Early stopping scores unseen real poses as zero-distance poses, perturbed ones against train ∪ val."""
    from posekit.train.posendf import build_data

    poses = synthetic_clean(500, seed=31)
    cfg = {"n_train": 300, "n_val": 300, "max_clean": 1000, "frac_noisy": 0.45, "frac_nrdf": 0.45,
           "k": 32, "candidates": "outer"}
    data = build_data(poses[:350], poses[350:], cfg, seed=0)
    va, clean = data["val"], data["clean"]
    val_clean = aa_to_quat(poses[350:])
    real = torch.cat([clean, val_clean])
    assert (va["dist"][va["kind"] == 0] == 0).all()
    d_train, _ = brute_force_distance(va["quats"], clean)
    assert (d_train[va["kind"] == 0] > 0.05).all()      # the criterion it replaces: unseen poses off the zero set
    noisy = va["kind"] > 0
    d_all, _ = brute_force_distance(va["quats"][noisy], real)
    assert torch.allclose(va["dist"][noisy], d_all, atol=1e-5)
    assert (va["dist"][noisy] <= d_train[noisy] + 1e-6).all()
