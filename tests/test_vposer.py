"""VPoser: rotation layer, loss terms against hand computations, training, checkpoints, save/load."""
import math

import pytest
import roma
import torch

from posekit.priors import vposer as vp
from posekit.priors.vposer import VPoser, VPoserConfig
from posekit.train.vposer import evaluate, fit
from posekit.rotations import geodesic_angle

TINY = {"hidden": 32, "latent_dim": 8}


def synthetic_poses(n=600, seed=0, dim=4, scale=0.35):
    """Poses on a low-dimensional linear manifold of axis-angle space (learnable by a small VAE)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(dim, 63, generator=g) * scale
    return (torch.randn(n, dim, generator=torch.Generator().manual_seed(seed + 1)) @ A).reshape(n, 21, 3)


@pytest.fixture(scope="module")
def data():
    x = synthetic_poses(700)
    return x[:600], x[600:]


@pytest.fixture(scope="module")
def trained(data):
    train, val = data
    return fit(train, val, epochs=25, batch_size=64, lr=3e-3, patience=25, seed=0,
               config={"hidden": 64, "latent_dim": 8}, progress=False)


# ---------------------------------------------------------------------------------- rotations
def test_gram_schmidt_is_rotation_and_matches_roma():
    x = torch.randn(500, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    R = vp.gram_schmidt_6d(x)
    eye = torch.eye(3, dtype=torch.float64).expand_as(R)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(R, roma.special_gramschmidt(x.reshape(500, 3, 2)), atol=1e-12)
    # the first column is the normalised first input vector
    a1 = x.reshape(500, 3, 2)[..., 0]
    assert torch.allclose(R[..., 0], a1 / a1.norm(dim=-1, keepdim=True), atol=1e-12)


def test_gram_schmidt_recovers_a_rotation_from_its_first_two_columns():
    R = roma.random_rotmat(50, dtype=torch.float64)
    x6 = R[..., :2].reshape(50, 6)
    assert torch.allclose(vp.gram_schmidt_6d(x6), R, atol=1e-12)


# ---------------------------------------------------------------------------------- losses
def test_kl_closed_form_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(7, 5, generator=g, dtype=torch.float64)
    sigma = torch.rand(7, 5, generator=g, dtype=torch.float64) + 0.1
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, sigma),
                                            torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    assert torch.allclose(vp.kl_divergence(mu, sigma), ref, atol=1e-12)
    assert torch.allclose(vp.kl_divergence(torch.zeros(2, 3), torch.ones(2, 3)), torch.zeros(2))


def test_loss_terms_by_hand():
    # one sample, one joint: R = I, R_hat = diag(2, 1, -1)
    R = torch.eye(3, dtype=torch.float64)[None, None]
    R_hat = torch.diag(torch.tensor([2.0, 1.0, -1.0], dtype=torch.float64))[None, None]
    assert vp.rec_loss(R, R_hat).item() == pytest.approx(1.0 + 0.0 + 4.0)           # (2-1)^2 + (-1-1)^2
    # R_hat R_hat^T = diag(4, 1, 1) -> minus I = diag(3, 0, 0) -> 9
    assert vp.orth_loss(R_hat).item() == pytest.approx(9.0)
    assert vp.det1_loss(R_hat).item() == pytest.approx(3.0)                             # |-2 - 1|
    # a proper rotation has zero orthogonality and determinant losses
    Q = roma.random_rotmat(4, dtype=torch.float64).reshape(2, 2, 3, 3)
    assert torch.allclose(vp.orth_loss(Q), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(vp.det1_loss(Q), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    # parameter term: sum of squares
    p = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    assert vp.reg_loss(p).item() == pytest.approx(14.0)


def test_total_loss_is_the_weighted_sum():
    g = torch.Generator().manual_seed(2)
    R = roma.random_rotmat(6 * 21, generator=g).reshape(6, 21, 3, 3)
    R_hat = torch.randn(6, 21, 3, 3, generator=g)
    mu, sigma = torch.randn(6, 4, generator=g), torch.rand(6, 4, generator=g) + 0.5
    params = [torch.randn(3, generator=g)]
    w = {"kl": 0.1, "rec": 2.0, "orth": 3.0, "det1": 4.0, "reg": 0.5}
    t = vp.vposer_loss(R, R_hat, mu, sigma, params, w)
    expect = (0.1 * vp.kl_divergence(mu, sigma).mean() + 2.0 * vp.rec_loss(R, R_hat).mean()
              + 3.0 * vp.orth_loss(R_hat).mean() + 4.0 * vp.det1_loss(R_hat).mean()
              + 0.5 * (params[0] ** 2).sum())
    assert t["total"].item() == pytest.approx(expect.item(), rel=1e-6)
    assert (t["total"] - t["reg"]).item() == pytest.approx(t["data"].item(), rel=1e-6)


def test_bad_inputs_raise_clear_errors():
    m = VPoser(VPoserConfig(**TINY))
    with pytest.raises(ValueError, match="latent"):
        m.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="body pose"):
        m.encode(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="rotation"):
        VPoserConfig(rotation="quat")
    with pytest.raises(ValueError, match="loss weights"):
        VPoserConfig(weights={"kll": 1.0})


# ---------------------------------------------------------------------------------- model API
def test_shapes_and_prior_protocol():
    m = VPoser(VPoserConfig(**TINY))
    x = synthetic_poses(5)
    mu, sigma = m.encode(x)
    assert mu.shape == (5, 8) and sigma.shape == (5, 8) and bool((sigma > 0).all())
    R = m.decode(mu)
    assert R.shape == (5, 21, 3, 3)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand_as(R), atol=1e-5)
    aa = m.decode_body21(mu)
    assert aa.shape == (5, 21, 3)
    assert torch.allclose(roma.rotvec_to_rotmat(aa), R, atol=1e-5)
    assert m.latent_dim == 8
    # energy = |mu|^2, accepts the (B, 69) SMPL body_pose layout too
    from posekit.skeleton import body21_to_body_pose
    assert torch.allclose(m.energy(body21_to_body_pose(x)), (mu**2).sum(-1), atol=1e-5)
    # gradients flow through decode_body21 (latent fitting) and energy (plain prior)
    z = torch.zeros(2, 8, requires_grad=True)
    m.decode_body21(z).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    th = x[:2].clone().requires_grad_(True)
    m.energy(th).sum().backward()
    assert th.grad.abs().sum() > 0
    # sampling is deterministic given a seed; interpolation has the right ends
    assert torch.equal(m.sample(3, seed=4), m.sample(3, seed=4))
    assert not torch.equal(m.sample(3, seed=4), m.sample(3, seed=5))
    path = m.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, 21, 3)
    assert torch.allclose(path[0], m.reconstruct(x[:1])[0], atol=1e-5)
    assert torch.allclose(path[-1], m.reconstruct(x[1:2])[0], atol=1e-5)
    full = torch.cat([torch.zeros(2, 1, 3), x[:2], torch.zeros(2, 2, 3)], dim=1)   # single (24, 3) poses
    assert torch.allclose(m.interpolate(full[0], full[1], steps=5), path, atol=1e-6)
    with pytest.raises(ValueError, match="single pose"):
        m.interpolate(x[:2], x[2], steps=3)


def test_nine_d_ablation_outputs_non_rotations():
    m = VPoser(VPoserConfig(rotation="9d", **TINY))
    R = m.decode(torch.randn(4, 8))
    assert vp.orth_loss(R).min() > 1e-3   # a raw linear 3x3 output is not a rotation


# ---------------------------------------------------------------------------------- training
def test_training_reduces_reconstruction_error(data, trained):
    train, val = data
    torch.manual_seed(0)
    untrained = VPoser(VPoserConfig(hidden=64, latent_dim=8)).eval()
    R_val = vp.poses_to_rotmats(val)
    before = evaluate(untrained, R_val)["rec"]
    after = evaluate(trained, R_val)["rec"]
    assert after < 0.5 * before, (before, after)
    # per-term history is logged for train and val
    h = trained.history
    assert set(h["train"][0]) >= {"kl", "rec", "orth", "det1", "reg", "total"}
    assert len(h["val"]) == h["epochs"] and h["epochs"] > 0


def test_reconstruction_of_a_training_pose_is_close(data, trained):
    train, _ = data
    x = train[:50]
    rec = trained.reconstruct(x)
    err = geodesic_angle(roma.rotvec_to_rotmat(rec), roma.rotvec_to_rotmat(x))   # (50, 21) radians
    # mean error far below the spread of the data itself
    spread = geodesic_angle(roma.rotvec_to_rotmat(x), torch.eye(3).expand(50, 21, 3, 3))
    assert err.mean() < 0.3 * spread.mean(), (err.mean(), spread.mean())
    assert math.degrees(err.mean()) < 15.0


def _short_fit(data, **kw):
    train, val = data
    return fit(train[:256], val[:64], epochs=4, batch_size=64, lr=3e-3, patience=10, seed=3,
               config=TINY, progress=False, **kw)


def test_fit_is_deterministic_with_a_seed(data):
    a, b = _short_fit(data), _short_fit(data)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    train, val = data
    c = fit(train[:256], val[:64], epochs=4, batch_size=64, lr=3e-3, patience=10, seed=4, config=TINY, progress=False)
    assert not torch.equal(a.enc_mu.weight, c.enc_mu.weight)


def test_fit_draws_one_bar_over_all_epochs(data, monkeypatch):
    import tqdm.auto
    made = []

    class Bar:
        def __init__(self, *a, total=None, initial=0, **kw):
            self.total, self.n, self.postfix, self.closed = total, initial, {}, False
            made.append(self)

        def update(self, k=1):
            self.n += k

        def set_postfix(self, **kw):
            self.postfix = kw

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    train, val = data
    fit(train[:256], val[:64], epochs=3, batch_size=64, lr=3e-3, patience=10, seed=3, config=TINY, progress=True)
    assert len(made) == 1 and made[0].total == 3 and made[0].n == 3 and made[0].closed
    assert set(made[0].postfix) == {"train", "val"}


class _Kill(Exception):
    pass


def test_checkpoint_resume_equals_uninterrupted_run(data, tmp_path):
    ref = _short_fit(data)
    ckpt = tmp_path / "vposer.ckpt"

    def kill_after_epoch_1(epoch, logs):
        if epoch == 1:
            raise _Kill()

    with pytest.raises(_Kill):
        _short_fit(data, checkpoint=ckpt, callback=kill_after_epoch_1)
    assert ckpt.exists()
    state = torch.load(ckpt, weights_only=True)
    assert state["state"]["epoch"] == 2 and not state["state"]["done"]
    resumed = _short_fit(data, checkpoint=ckpt)
    for (k, va), vb in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(va, vb), k
    assert resumed.history["val"] == ref.history["val"]
    # a checkpoint from other settings is refused, not silently mixed
    train, val = data
    with pytest.raises(ValueError, match="other settings"):
        fit(train[:256], val[:64], epochs=5, batch_size=64, seed=3, config=TINY, checkpoint=ckpt, progress=False)


def test_save_load_round_trip_uses_weights_only(data, trained, tmp_path, monkeypatch):
    path = trained.save(tmp_path / "vposer.pt")
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = VPoser.load(path)
    assert calls == [True]
    x = data[1][:10]
    z = torch.randn(4, trained.latent_dim)
    assert torch.equal(loaded.encode(x)[0], trained.encode(x)[0])
    assert torch.equal(loaded.decode(z), trained.decode(z))
    assert loaded.history["val"] == trained.history["val"]
    assert loaded.config == trained.config


class Arbitrary:
    """A class torch's weights_only unpickler does not allow."""


def test_load_refuses_pickled_objects(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"config": Arbitrary(), "state_dict": {}}, bad)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|not an allowed"):
        VPoser.load(bad)


# ---------------------------------------------------------------------------------- optional vertex term
def test_vertex_term_by_hand_and_through_the_body_model():
    v = torch.zeros(1, 2, 3)
    v_hat = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])
    assert vp.vertex_loss(v, v_hat).item() == pytest.approx(3.0)          # mean of 5 and 1
    # off by default: the default loss is the five terms
    assert vp.DEFAULT_WEIGHTS["v2v"] == 0.0
    with pytest.raises(ValueError, match="body_model"):
        fit(synthetic_poses(8), epochs=1, config={**TINY, "weights": {"v2v": 1.0}}, progress=False)
    body = pytest.importorskip("posekit.body")
    try:
        bm = body.load_body_model()
    except Exception as e:  # pragma: no cover - the packaged model may be absent
        pytest.skip(f"no body model: {e}")
    from posekit.skeleton import body21_to_body_pose
    x = synthetic_poses(3)
    ref = body.forward(bm, body_pose=body21_to_body_pose(x)).vertices          # axis-angle path
    assert torch.allclose(vp.body_vertices(bm, roma.rotvec_to_rotmat(x)), ref, atol=1e-5)
    m = fit(x.repeat(4, 1, 1), epochs=1, batch_size=4, config={**TINY, "weights": {"v2v": 10.0}},
            body_model=bm, progress=False)
    assert m.history["train"][0]["v2v"] > 0


def test_table2_analog_maps_image_fit_rows():
    rows = [{"method": m, "setting": s, "metric": "v2v_mm", "value": v, "std": 1.0, "n": 4}
            for m, s, v in (("vposer", "+interpenetration", 50.0), ("gmm", "+interpenetration", 60.0),
                            ("vposer", "+angle", 55.0), ("none", "+interpenetration", 90.0),
                            ("vposer", "prior-only", 99.0))]
    t = {r["row"]: r for r in vp.table2_analog(rows)}
    assert t["SMPLify-X (VPoser prior)"]["ours_v2v_mm"] == 50.0 and t["SMPLify-X (VPoser prior)"]["paper_v2v_mm"] == 52.9
    assert t["replace VPoser with GMM"]["ours_v2v_mm"] == 60.0 and t["replace VPoser with GMM"]["paper_v2v_mm"] == 56.4
    assert t["no collision term"]["ours_v2v_mm"] == 55.0 and t["no collision term"]["paper_v2v_mm"] == 53.5
    assert math.isnan(t["no pose prior (not in the paper)"]["paper_v2v_mm"])
    assert math.isnan(t["no collision term"]["ours_v2v_pa_mm"])   # metric absent -> NaN, not a wrong row
