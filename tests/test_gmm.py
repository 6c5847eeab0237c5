"""GMMPrior: energies against scipy's multivariate normal, gradients, IO, sampling, training CLI."""
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from posekit.priors.gmm import DIM, GMMPrior


def _random_gmm(k=3, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=0.3, size=(k, DIM))
    covs = []
    for _ in range(k):
        a = rng.normal(scale=0.1, size=(DIM, DIM))
        covs.append(a @ a.T + 0.02 * np.eye(DIM))
    weights = rng.uniform(0.2, 1.0, size=k)
    return GMMPrior(means, np.stack(covs), weights / weights.sum(), dtype=torch.float64)


def _scipy_component_logpdf(gmm, x):
    return np.stack([multivariate_normal(gmm.means_np[j], gmm.covariances_np[j]).logpdf(x)
                     for j in range(gmm.n_components)], axis=-1)          # (B,K)


def test_exact_energy_matches_scipy():
    gmm = _random_gmm()
    x = np.random.default_rng(1).normal(scale=0.3, size=(5, DIM))
    ref = -logsumexp(_scipy_component_logpdf(gmm, x) + np.log(gmm.weights_np), axis=-1)
    got = gmm.energy(torch.as_tensor(x), approx=None).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(gmm.log_prob(torch.as_tensor(x)).numpy(), -ref, rtol=1e-8)


def test_max_mixture_energy_matches_scipy_with_documented_constant():
    gmm = _random_gmm(k=4, seed=3)
    x = np.random.default_rng(2).normal(scale=0.3, size=(6, DIM))
    comp = _scipy_component_logpdf(gmm, x) + np.log(gmm.weights_np)   # log g_j N_j
    # c = (2π)^{d/2} sqrt(min_j det Σ_j)
    log_c = 0.5 * DIM * math.log(2 * math.pi) + 0.5 * min(np.linalg.slogdet(c)[1] for c in gmm.covariances_np)
    ref = np.min(-(comp + log_c), axis=-1)
    got = gmm.energy(torch.as_tensor(x), approx="max").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-6)
    assert np.all(got >= 0)                                      # with this c the energy is non-negative
    # the max approximation is an upper bound of the exact energy shifted by log c
    exact = gmm.energy(torch.as_tensor(x), approx=None).numpy()
    assert np.all(got + log_c >= exact - 1e-9)


def test_accepts_every_pose_layout_and_rejects_bad_approx():
    gmm = _random_gmm()
    x = torch.randn(3, 21, 3, dtype=torch.float64) * 0.2
    e = gmm.energy(x)
    body_pose69 = torch.cat([x, torch.zeros(3, 2, 3, dtype=x.dtype)], 1).reshape(3, 69)
    full72 = torch.cat([torch.zeros(3, 1, 3, dtype=x.dtype), x, torch.zeros(3, 2, 3, dtype=x.dtype)], 1).reshape(3, 72)
    torch.testing.assert_close(gmm.energy(body_pose69), e)
    torch.testing.assert_close(gmm.energy(full72), e)
    with pytest.raises(ValueError, match="approx"):
        gmm.energy(x, approx="min")
    with pytest.raises(ValueError, match="body pose"):
        gmm.energy(torch.zeros(3, 10))


@pytest.mark.parametrize("approx", ["max", None])
def test_energy_gradient_matches_finite_differences(approx):
    gmm = _random_gmm(k=2, seed=5)
    x = (0.2 * torch.randn(2, DIM, dtype=torch.float64)).requires_grad_(True)
    g, = torch.autograd.grad(gmm.energy(x, approx=approx).sum(), x)
    eps = 1e-6
    for i in (0, 17, 62):
        d = torch.zeros_like(x)
        d[:, i] = eps
        fd = (gmm.energy(x + d, approx=approx) - gmm.energy(x - d, approx=approx)) / (2 * eps)
        torch.testing.assert_close(g[:, i], fd.detach(), rtol=1e-5, atol=1e-6)


def test_fit_recovers_a_known_mixture_and_roundtrips(tmp_path):
    rng = np.random.default_rng(0)
    means = np.zeros((2, DIM))
    means[0, :5] = 1.0
    means[1, :5] = -1.0
    x = np.concatenate([means[0] + 0.1 * rng.normal(size=(600, DIM)), means[1] + 0.1 * rng.normal(size=(400, DIM))])
    gmm = GMMPrior.fit(torch.as_tensor(x, dtype=torch.float32).reshape(-1, 21, 3), n_components=2, reg_covar=1e-6)
    order = np.argsort(gmm.means_np[:, 0])[::-1]
    np.testing.assert_allclose(gmm.means_np[order], means, atol=0.03)
    np.testing.assert_allclose(gmm.weights_np[order], [0.6, 0.4], atol=1e-6)
    np.testing.assert_allclose(np.diagonal(gmm.covariances_np[order], axis1=1, axis2=2), 0.01, atol=0.004)
    # the default variance floor reg_covar = 0.01 rad² is added to every diagonal
    floored = GMMPrior.fit(x, n_components=2)
    np.testing.assert_allclose(np.diagonal(floored.covariances_np, axis1=1, axis2=2).mean(), 0.02, atol=0.002)
    path = gmm.save(tmp_path / "gmm.npz")
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["covariances", "means", "weights"]
    back = GMMPrior.load(path)
    q = torch.randn(4, 63) * 0.5
    torch.testing.assert_close(back.energy(q), gmm.energy(q))
    # samples follow the mixture: component shares and means
    s = back.sample(4000, seed=1).reshape(-1, DIM).numpy()
    assert s.shape == (4000, DIM)
    assert abs((s[:, 0] > 0).mean() - 0.6) < 0.03
    np.testing.assert_allclose(s[s[:, 0] > 0, :5].mean(0), 1.0, atol=0.03)


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        GMMPrior.fit(np.full((100, 63), np.nan), n_components=2)
    with pytest.raises(ValueError, match="at least"):
        GMMPrior.fit(np.zeros((3, 63)), n_components=8)
    bad = tmp_path / "bad.npz"
    np.savez(bad, means=np.zeros((2, 63)))
    with pytest.raises(ValueError, match="missing"):
        GMMPrior.load(bad)


def test_train_cli_on_synthetic_motions(tmp_path, monkeypatch):
    """The CLI wiring: parses --components, fits on the train poses, writes a loadable .npz."""
    from posekit.train import gmm as train_gmm
    from posekit.train.__main__ import main

    poses = torch.randn(400, 21, 3) * 0.3
    monkeypatch.setattr(train_gmm, "_train_poses", lambda motions, fast, seed, thin=None: poses)
    out = tmp_path / "g.npz"
    assert main(["gmm", "--motions", str(tmp_path), "--out", str(out), "--fast", "--components", "3"]) == 0
    prior = GMMPrior.load(out)
    assert prior.n_components == 3
    ref = GMMPrior.fit(poses, n_components=3, seed=0, max_iter=100)
    np.testing.assert_allclose(np.sort(prior.weights_np), np.sort(ref.weights_np), rtol=1e-5)
