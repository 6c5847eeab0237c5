"""The diffusion prior: the denoiser against a Gaussian's closed-form posterior mean and score, energy
gradients against finite differences, clean vs noisy poses, sampling, save/load and bad files, training."""
import math

import pytest
import torch

from posekit.errors import InputError
from posekit.priors.diffusion import DiffusionPrior, default_config, precondition
from posekit.priors.store import PRIOR_FILES, load_prior_file, pretrained_path
from posekit.train import diffusion as trainer

TINY = {**default_config(fast=True), "hidden": 32}


def _layouts(b21):
    """The same poses in the layouts as_body21 accepts: (B, 21, 3), (B, 63), SMPL body_pose (B, 69), (B, 24, 3)."""
    B = b21.shape[0]
    smpl = torch.cat([b21, torch.zeros(B, 2, 3)], dim=1)
    full = torch.cat([torch.zeros(B, 1, 3), smpl], dim=1)
    return [b21, b21.reshape(B, 63), smpl.reshape(B, 69), full]


@pytest.fixture(scope="module")
def gaussian():
    """Poses from a correlated Gaussian (rank-6 structure plus small isotropic noise), and a prior trained on them.

    After standardisation the data are x ~ N(0, C) with C far from the identity, so the optimal denoiser
    C (C + σ² I)⁻¹ x differs from EDM's skip term c_skip x that an untrained network gives."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 63, generator=g) * 0.3
    mean = torch.randn(63, generator=g) * 0.2

    def draw(n, seed):
        gg = torch.Generator().manual_seed(seed)
        return mean + torch.randn(n, 6, generator=gg) @ A + 0.06 * torch.randn(n, 63, generator=gg)

    train, val = draw(20000, 1), draw(2000, 2)
    fit = {"steps": 2500, "batch_size": 256, "lr": 2e-3, "ema": 0.99, "eval_every": 500, "patience": 100,
           "n_val": 1000, "max_seconds": 300.0}
    prior = trainer.fit(train, val, {**default_config(fast=True), "hidden": 128, "blocks": 2}, fit, seed=0,
                        progress=False)
    x_train = prior.standardise(train).double()
    C = x_train.T @ x_train / x_train.shape[0]                                # (63, 63) covariance of x
    return {"prior": prior, "C": C, "test": draw(500, 3)}


def _optimal(C, x, sigma):
    """Posterior mean E[x₀ | x₀ + σ ε = x] for x₀ ~ N(0, C): C (C + σ² I)⁻¹ x.  (B, 63)"""
    eye = torch.eye(C.shape[0], dtype=C.dtype)
    return x @ torch.linalg.solve(C + sigma ** 2 * eye, C).T


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_denoiser_matches_the_gaussian_posterior_mean(gaussian, sigma):
    prior, C = gaussian["prior"], gaussian["C"]
    x0 = prior.standardise(gaussian["test"]).double()
    x = x0 + sigma * torch.randn(x0.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        d = prior.denoiser(x.float(), sigma).double()
    exact = _optimal(C, x, sigma)
    c_skip = precondition(torch.tensor([[sigma]]))[0].item()
    err = ((d - exact) ** 2).sum(-1).mean()
    err_skip = ((c_skip * x - exact) ** 2).sum(-1).mean()                   # the untrained network's error
    assert err < 0.15 * err_skip, (float(err), float(err_skip))


def test_score_matches_the_gaussian_score(gaussian):
    """score(θ) = ∇_θ log p_σ(θ) = −(C + σ² I)⁻¹ x / s for the standardised Gaussian noised by σ (chain rule
    through x = (θ − μ)/s), at points drawn from p_σ; compared with the score of the untrained network
    (D = c_skip x: −x / (1 + σ²) / s)."""
    prior, C = gaussian["prior"], gaussian["C"]
    sigma = 0.5
    x0 = prior.standardise(gaussian["test"][:200]).double()
    x = x0 + sigma * torch.randn(x0.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    s_data = prior.std.double()
    exact = -torch.linalg.solve(C + sigma ** 2 * torch.eye(63, dtype=C.dtype), x.T).T / s_data
    with torch.no_grad():
        s = prior.score(prior.unstandardise(x.float()), sigma).reshape(-1, 63).double()
    rel = (s - exact).norm() / exact.norm()
    rel_skip = (-x / (1 + sigma ** 2) / s_data - exact).norm() / exact.norm()
    assert rel < 0.35 and rel < 0.5 * rel_skip, (float(rel), float(rel_skip))
    assert torch.nn.functional.cosine_similarity(s, exact, dim=-1).mean() > 0.95


# ---- the shipped prior ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    path = pretrained_path("diffusion")
    if path is None:
        pytest.skip("no shipped diffusion prior")
    return load_prior_file("diffusion", path)


@pytest.fixture(scope="module")
def val_poses():
    """200 real poses of validation subjects from the embedded sample (never trained on)."""
    from posekit.data import pose_dataset
    from posekit.data.paths import embedded_sample_dir

    ds = pose_dataset(embedded_sample_dir(), fps=30, progress=False)
    x = ds.body21("val")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:200]
    return x[idx].float()


def test_shapes_layouts_and_finite(shipped, val_poses):
    x = val_poses[:7]
    energies = [shipped.energy(p) for p in _layouts(x)]
    for e in energies:
        assert e.shape == (7,) and torch.isfinite(e).all() and (e >= 0).all()
        assert torch.allclose(e, energies[0], rtol=1e-5, atol=1e-6)
    assert shipped.denoise(x, 0.3).shape == (7, 21, 3)
    assert shipped.score(x.reshape(7, 63), 0.3).shape == (7, 21, 3)


def test_energy_is_deterministic(shipped, val_poses):
    assert torch.equal(shipped.energy(val_poses[:20]), shipped.energy(val_poses[:20]))


def test_energy_gradient_matches_finite_differences(shipped, val_poses):
    prior = DiffusionPrior(dict(shipped.config), energy_sigmas=shipped.energy_sigmas)
    prior.load_state_dict(shipped.state_dict())
    prior = prior.double().eval()
    theta = val_poses[:2].double().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: prior.energy(t), (theta,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_clean_poses_have_lower_energy_than_noisy_ones(shipped, val_poses):
    noisy = val_poses + 0.3 * torch.randn(val_poses.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        e0, e1 = shipped.energy(val_poses), shipped.energy(noisy)
    acc = (e1 > e0).float().mean()
    # 200 pairs: a prior at chance (0.5) reaches 0.8 with probability < 1e-17
    assert acc >= 0.8, float(acc)


def test_denoiser_at_a_tiny_sigma_is_the_identity(shipped, val_poses):
    with torch.no_grad():
        d = shipped.denoise(val_poses[:50], 1e-4)
    assert (d - val_poses[:50]).abs().max() < 1e-2


def test_sample_shape_determinism_and_plausibility(shipped):
    a = shipped.sample(64, seed=3, steps=12)
    b = shipped.sample(64, seed=3, steps=12)
    c = shipped.sample(64, seed=4, steps=12)
    assert a.shape == (64, 21, 3) and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator().manual_seed(5)
    axis = torch.nn.functional.normalize(torch.randn(64, 21, 3, generator=g), dim=-1)
    uniform = axis * math.pi * torch.rand(64, 21, 1, generator=g)       # random rotations, angle uniform in [0, π]
    with torch.no_grad():
        e_s, e_u = shipped.energy(a), shipped.energy(uniform)
    assert e_s.median() < e_u.min(), (float(e_s.median()), float(e_u.min()))
    assert (e_s < e_u).float().mean() > 0.9


# ---- files ------------------------------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path, val_poses):
    torch.manual_seed(0)
    prior = DiffusionPrior(TINY, mean=torch.randn(63) * 0.1, std=torch.rand(63) + 0.1, energy_sigmas=(0.2, 0.5))
    torch.nn.init.normal_(prior.denoiser.out.weight, std=0.1)               # a network that is not the identity
    prior.meta = {"note": "x", "history": {"val": [1.0, 0.5]}}
    path = prior.save(tmp_path / "d.pt")
    back = DiffusionPrior.load(path)
    assert back.energy_sigmas == (0.2, 0.5) and back.meta["history"]["val"] == [1.0, 0.5]
    with torch.no_grad():
        assert torch.equal(prior.eval().energy(val_poses[:10]), back.energy(val_poses[:10]))
    assert PRIOR_FILES["diffusion"] == "diffusion.pt"
    assert isinstance(load_prior_file("diffusion", path), DiffusionPrior)


def test_bad_files_raise_input_error(tmp_path):
    from posekit.priors.vposer import VPoser, VPoserConfig

    good = DiffusionPrior(TINY).save(tmp_path / "good.pt")
    blob = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "random.pt").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8,
                                                       generator=torch.Generator().manual_seed(0)).numpy().tobytes())
    (tmp_path / "empty.pt").write_bytes(b"")
    VPoser(VPoserConfig(hidden=16, latent_dim=4)).save(tmp_path / "vposer.pt")
    torch.save({"format": "posekit.diffusion/1", "config": {"hidden": "x"}, "state_dict": {}}, tmp_path / "cfg.pt")
    for name, words in [("truncated.pt", "truncated"), ("random.pt", "expected a Diffusion prior file"),
                        ("empty.pt", "empty"), ("vposer.pt", "VPoser prior file"), ("cfg.pt", "not a valid")]:
        with pytest.raises(InputError, match=words):
            DiffusionPrior.load(tmp_path / name)
    with pytest.raises(InputError, match="Diffusion prior file"):                # the other way round
        VPoser.load(good)


# ---- training ----------------------------------------------------------------------------------------------------

def test_fast_training_on_the_embedded_sample_lowers_the_validation_loss(tmp_path):
    from posekit.data.paths import embedded_sample_dir

    out = trainer.train(embedded_sample_dir(), tmp_path / "d.pt", fast=True, seed=0, progress=False,
                        overrides={"steps": 300, "max_seconds": 120.0})
    prior = DiffusionPrior.load(out)
    h = prior.meta["history"]
    assert prior.meta["fast"] is True and h["step"][-1] <= 300
    assert prior.meta["best_val"] < 0.97 * h["val_initial"], (prior.meta["best_val"], h["val_initial"])
    assert torch.isfinite(prior.energy(torch.zeros(2, 21, 3))).all()


def test_train_command_writes_a_loadable_file(tmp_path):
    from posekit.data.paths import embedded_sample_dir
    from posekit.train.__main__ import main

    out = tmp_path / "cli.pt"
    assert main(["diffusion", "--motions", str(embedded_sample_dir()), "--out", str(out), "--fast",
                 "--steps", "20"]) == 0
    assert isinstance(DiffusionPrior.load(out), DiffusionPrior)
    assert main(["diffusion", "--motions", str(embedded_sample_dir()), "--out", str(out), "--fast"]) == 2  # exists
