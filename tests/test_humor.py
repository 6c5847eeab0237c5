from pathlib import Path

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


# ---- the state, the model, training, rollout, test-time optimisation --------------------------------
import numpy as np
import pytest

from posekit.body import load_body_model
from posekit.data import load_motion
from posekit.data.paths import embedded_sample_dir
from posekit.fitting.forward import posed_joints
from posekit.priors.humor import HumorPrior, STATE_DIM, canonicalize_state, contact_labels, uncanonicalize_state
from posekit.priors.humor.state import STATE_SLICES, transform_state, unpack_state

BODY = load_body_model(device="cpu")
PRETRAINED = Path(__file__).resolve().parent.parent / "posekit" / "priors" / "pretrained" / "humor.pt"


def _sample_motion(name="12_01"):
    m = load_motion(embedded_sample_dir() / f"{name}.npz", fps=30)
    return m.poses, m.trans


def _small_model():
    torch.manual_seed(0)
    return HumorPrior.from_body_model(BODY, latent_dim=8, hidden=32)


def test_states_match_the_body_model_and_round_trip():
    poses, trans = _sample_motion()
    m = _small_model()
    x = m.states(poses[:, 0], poses[:, 1:22], trans)
    assert x.shape == (len(poses), STATE_DIM) and STATE_DIM == 273
    J = posed_joints(BODY, poses[:, 0], poses[:, 1:22], trans)[:, :22]         # the fitting layer's FK
    torch.testing.assert_close(unpack_state(x)["joints"], J, atol=1e-5, rtol=0)
    torch.testing.assert_close(m.fk_joints(x), J, atol=1e-5, rtol=0)
    # velocities are backward differences (m/s)
    torch.testing.assert_close(x[5, STATE_SLICES["root_vel"]], (J[5, 0] - J[4, 0]) * 30.0, atol=1e-4, rtol=0)
    go, b21, tr = m.to_smpl(x)
    torch.testing.assert_close(tr, trans, atol=1e-5, rtol=0)
    torch.testing.assert_close(posed_joints(BODY, go, b21, tr)[:, :22], J, atol=1e-5, rtol=0)


def test_state_canonical_frame_round_trip_and_invariance():
    poses, trans = _sample_motion()
    m = _small_model()
    x = m.states(poses[:, 0], poses[:, 1:22], trans)
    xc, H, o = canonicalize_state(x)
    torch.testing.assert_close(uncanonicalize_state(xc, H, o), x, atol=1e-5, rtol=0)
    p = unpack_state(xc)
    assert torch.allclose(p["root_pos"][:, [0, 2]], torch.zeros(len(x), 2), atol=1e-5)
    assert torch.allclose(p["root_R"][:, 0, 2], torch.zeros(len(x)), atol=1e-5)         # facing +z
    # the same motion turned about y and moved on the floor has the same canonical states
    import roma
    R = roma.rotvec_to_rotmat(torch.tensor([0.0, 1.3, 0.0])).expand(len(x), 3, 3)
    moved = transform_state(x, R, torch.tensor([2.0, 0.0, -1.0]).expand(len(x), 3), inverse=True)
    torch.testing.assert_close(canonicalize_state(moved)[0], xc, atol=1e-4, rtol=0)


def test_contact_labels_by_hand():
    J = torch.zeros(4, 2, 3)
    J[:, 0, 1] = torch.tensor([0.02, 0.02, 0.5, 0.02])              # low, low, high, low
    J[:, 1, 0] = torch.tensor([0.0, 0.0, 0.0, 0.05])                # resting, then 1.5 m/s
    c = contact_labels(J, 30.0, joint_ids=[0, 1])
    # joint 0: frame 2 is high; frame 3 comes down 0.48 m in a frame (14 m/s): not a contact
    assert c[:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert c[:, 1].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_learned_prior_kl_matches_the_closed_form():
    m = _small_model()
    x0, x1 = torch.randn(6, STATE_DIM), torch.randn(6, STATE_DIM)
    torch.manual_seed(1)
    _, _, kl = m.cvae(x0, x1)
    mq, lq = m.cvae.posterior(x0, x1)
    mp, lp = m.cvae.conditional_prior(x0)
    N = torch.distributions.Normal
    ref = torch.distributions.kl_divergence(N(mq, (0.5 * lq).exp()), N(mp, (0.5 * lp).exp())).sum(-1)
    torch.testing.assert_close(kl, ref, atol=1e-5, rtol=1e-5)
    # prior_nll is -log N(z; mu_p, sigma_p) summed
    z = torch.randn(6, m.latent_dim)
    ref_nll = 0.5 * (((z - mp) ** 2) / lp.exp() + lp + np.log(2 * np.pi)).sum(-1)
    torch.testing.assert_close(m.cvae.prior_nll(z, x0), ref_nll, atol=1e-4, rtol=1e-5)


def test_save_load_round_trip_and_store_registration(tmp_path):
    from posekit.priors.base import is_motion_prior
    from posekit.priors.store import PRIOR_FILES, load_prior_file

    m = _small_model()
    m.cvae.set_normalization(torch.rand(STATE_DIM), torch.rand(STATE_DIM) + 0.5, torch.rand(STATE_DIM),
                             torch.rand(STATE_DIM) + 0.5)
    m.history = {"train": [{"loss": 1.0}]}
    path = m.save(tmp_path / "humor.pt")
    assert PRIOR_FILES["humor"] == "humor.pt"
    m2 = load_prior_file("humor", path)
    assert isinstance(m2, HumorPrior) and is_motion_prior(m2) and m2.history == m.history
    x = torch.randn(3, STATE_DIM)
    z = torch.randn(3, m.latent_dim)
    torch.testing.assert_close(m2.cvae.decode(z, x)[0], m.cvae.decode(z, x)[0])
    b21 = 0.1 * torch.randn(2, 5, 21, 3)
    e = m2.motion_energy(b21)
    assert e.shape == (2,) and torch.isfinite(e).all()
    torch.testing.assert_close(e, m.eval().motion_energy(b21))
    with pytest.raises(ValueError, match="HuMoR"):
        torch.save({"state_dict": {}}, tmp_path / "bad.pt")
        HumorPrior.load(tmp_path / "bad.pt")


def test_fast_training_on_the_embedded_sample(tmp_path):
    from posekit.train.humor import train

    out = train(embedded_sample_dir(), tmp_path / "h.pt", fast=True, progress=False, epochs=2, max_seconds=20)
    h = HumorPrior.load(out).history
    assert h["epochs"] == 2 and len(h["val"]) == 2 and all(np.isfinite(v["loss"]) for v in h["val_rollout"])
    assert h["val"][-1]["rec"] < h["val"][0]["rec"], "teacher-forced validation error should fall"


def test_cli_trains_humor(tmp_path):
    from posekit.train.__main__ import main

    assert main(["humor", "--motions", str(embedded_sample_dir()), "--out", str(tmp_path / "h.pt"), "--fast",
                 "--epochs", "1"]) == 0
    assert (tmp_path / "h.pt").is_file()


@pytest.fixture(scope="module")
def pretrained():
    if not PRETRAINED.is_file():
        pytest.skip("no pretrained humor.pt shipped")
    return HumorPrior.load(PRETRAINED)


def test_rollout_of_300_frames_stays_finite_and_near_the_floor(pretrained):
    poses, trans = _sample_motion()
    x = pretrained.states(poses[:, 0], poses[:, 1:22], trans)
    from posekit.priors.humor.state import floor_height
    x = pretrained.states(poses[:, 0], poses[:, 1:22], trans, floor=floor_height(pretrained.fk_joints(x)))
    with torch.no_grad():
        xs, c, nll = pretrained.rollout(x[:1].repeat(2, 1), 300, generator_seed=0)
    assert xs.shape == (2, 301, STATE_DIM) and c.shape == (2, 300, 10) and torch.isfinite(xs).all()
    feet = pretrained.fk_joints(xs)[..., [7, 8, 10, 11], 1]
    assert feet.min() > -1.0 and feet.max() < 2.5, "the feet should stay within a body height of the floor"
    assert ((c >= 0) & (c <= 1)).all() and torch.isfinite(nll).all()


def test_tto_lowers_its_objective_and_beats_its_initialisation(pretrained):
    from posekit.fitting.humor import HumorFitConfig, fit_motion_humor, humor_objective
    from posekit.fitting.motion import Clip

    poses, trans = _sample_motion("12_01")                          # subject 12: a test subject
    clip = Clip.from_poses("12_01", poses[:60], trans[:60])
    J = posed_joints(BODY, clip.global_orient, clip.body21, clip.transl)
    obs = J + 0.03 * torch.randn(J.shape, generator=torch.Generator().manual_seed(0))
    cfg = HumorFitConfig(steps=120)
    b21, info = fit_motion_humor(BODY, clip, obs, pretrained, cfg=cfg, return_info=True)
    assert b21.shape == (60, 21, 3) and torch.isfinite(b21).all()
    assert min(info["history"]) < 0.2 * info["history"][0]
    e_init, _ = humor_objective(pretrained, BODY, clip, obs, info["init_body21"], cfg=cfg, floor=info["floor"])
    e_fit, _ = humor_objective(pretrained, BODY, clip, obs, b21, cfg=cfg, floor=info["floor"])
    assert e_fit < e_init

    def err(b):
        return float((posed_joints(BODY, clip.global_orient, b, clip.transl) - J).norm(dim=-1).mean())
    assert err(b21) < 0.9 * err(info["init_body21"])
    with pytest.raises(ValueError, match="obs_joints"):
        fit_motion_humor(BODY, clip, obs[:10], pretrained)
