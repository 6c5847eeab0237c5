import roma
import torch

from posekit.priors.humor import (HumorCVAE, canonicalize, gaussian_kl, heading_rotation,
                                  matrix_to_rot6d, rot6d_to_matrix, uncanonicalize)


def test_rot6d_round_trip():
    R = roma.random_rotmat(50)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(R)), R, atol=1e-5)


def test_canonicalize_round_trip_and_heading_removed():
    torch.manual_seed(0)
    R, t, J = roma.random_rotmat(20), torch.randn(20, 3), torch.randn(20, 22, 3)
    Rc, tc, Jc, H, o = canonicalize(R, t, J)
    fwd = Rc[..., :, 2]
    assert torch.allclose(fwd[:, 0], torch.zeros(20), atol=1e-5) and (fwd[:, 2] >= -1e-6).all()
    assert torch.allclose(tc[:, [0, 2]], torch.zeros(20, 2), atol=1e-5)
    R2, t2, J2 = uncanonicalize(Rc, tc, Jc, H, o)
    assert torch.allclose(R2, R, atol=1e-5) and torch.allclose(t2, t, atol=1e-5) and torch.allclose(J2, J, atol=1e-5)
    # rigid: distances preserved, heading is a rotation about y
    assert torch.allclose(torch.cdist(Jc, Jc), torch.cdist(J, J), atol=1e-4)
    assert torch.allclose(H[:, 1], torch.tensor([0.0, 1.0, 0.0]).expand(20, 3))


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mq, lq, mp, lp = (torch.randn(7, 5) for _ in range(4))
    N = torch.distributions.Normal
    ref = torch.distributions.kl_divergence(N(mq, (0.5 * lq).exp()), N(mp, (0.5 * lp).exp())).sum(-1)
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), ref, atol=1e-5)


def test_cvae_shapes():
    m = HumorCVAE(state_dim=40, latent_dim=8, hidden=32)
    x0, x1 = torch.randn(4, 40), torch.randn(4, 40)
    x_hat, c, kl = m(x0, x1)
    assert x_hat.shape == (4, 40) and c.shape == (4, m.n_contacts) and kl.shape == (4,)
    assert (kl >= 0).all() and m.prior_nll(torch.randn(4, 8), x0).shape == (4,)
