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
    assert set(h["val"][-1]) == {"loss", "rec", "kl", "contact", "contact_vel", "consistency"}
    f = h["floor"]
    assert {"real", "rollout", "rollout_raw"} <= set(f) and 0.0 <= f["rollout"]["on_floor"] <= 1.0
    with pytest.raises(ValueError, match="unknown HuMoR training settings"):
        train(embedded_sample_dir(), tmp_path / "x.pt", fast=True, progress=False, windw=3)
    assert not (tmp_path / "x.pt").exists()


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


def _start_states(model, names=("12_01", "17_03")):
    """First states of held-out walks (test subjects), heights above their own floor."""
    xs = []
    for name in names:
        poses, trans = _sample_motion(name)
        xs.append(model.states_on_floor(poses[:, 0], poses[:, 1:22], trans)[0][0])
    return torch.stack(xs)


def test_rollout_of_300_frames_stays_finite_and_on_the_floor(pretrained):
    from posekit.priors.humor.floor import floor_stats

    x0 = _start_states(pretrained).repeat(4, 1)                     # 8 samples from two held-out starts
    with torch.no_grad():
        xs, c, nll = pretrained.rollout(x0, 300, generator_seed=0)
    assert xs.shape == (8, 301, STATE_DIM) and c.shape == (8, 300, 10) and torch.isfinite(xs).all()
    assert ((c >= 0) & (c <= 1)).all() and torch.isfinite(nll).all()
    f = floor_stats(pretrained, xs)
    assert f["lowest_foot_min"] > -1e-4, "the rollout's contact step never leaves a foot below the floor"
    assert f["lowest_foot_max"] < 1.0, "no sample should float a metre above the floor"
    assert f["on_floor"] > 0.9, f
    assert f["upright"] > 0.95, f
    assert f["speed"] > 0.1, "a body that only stands still is trivially on the floor"
    # the model itself, without the contact step, stays near the floor too (the step only corrects it)
    with torch.no_grad():
        raw, _, _ = pretrained.rollout(x0, 300, generator_seed=0, ground=False)
    r = floor_stats(pretrained, raw)
    assert torch.isfinite(raw).all() and r["on_floor"] > 0.7 and r["upright"] > 0.95, r


def test_ground_moves_a_state_onto_the_floor_by_its_contacts():
    m = _small_model()
    poses, trans = _sample_motion()
    x, _ = m.states_on_floor(poses[:, 0], poses[:, 1:22], trans)
    x = x[:3].clone()
    lift = torch.tensor([0.3, 0.3, -0.2])                           # float, float, sink below the floor
    x[:, STATE_SLICES["root_pos"].start + 1] += lift
    x[:, STATE_SLICES["joints"]] += (lift[:, None] * torch.tensor([0.0, 1.0, 0.0])).repeat(1, 22)
    logits = torch.full((3, 10), -5.0)
    logits[0, 6] = 5.0                                              # sample 0: the left toe in contact
    logits[1, 0] = 5.0                                              # sample 1: only a hip "in contact"
    g = m.ground(x, logits)
    low = posed_joints(BODY, *m.to_smpl(g))[:, [7, 8, 10, 11], 1].amin(-1)   # through the body model
    low_before = posed_joints(BODY, *m.to_smpl(x))[:, [7, 8, 10, 11], 1].amin(-1)
    torch.testing.assert_close(low[0], torch.tensor(0.0), atol=1e-5, rtol=0)            # put down
    torch.testing.assert_close(low[1], low_before[1], atol=1e-5, rtol=0)                # no foot contact: left
    torch.testing.assert_close(low[2], torch.tensor(0.0), atol=1e-5, rtol=0)            # lifted out of the floor
    torch.testing.assert_close(unpack_state(g)["joints"], m.fk_joints(g), atol=1e-5, rtol=0)
    d = g - x                                                       # only heights change
    moved = torch.zeros(STATE_DIM, dtype=torch.bool)
    moved[STATE_SLICES["root_pos"].start + 1] = True
    moved[STATE_SLICES["joints"].start + 1:STATE_SLICES["joints"].stop:3] = True
    assert (d[:, ~moved] == 0).all()


def test_absolute_parts_are_predicted_as_values_and_errors_are_in_step_units(tmp_path):
    torch.manual_seed(0)
    D = STATE_DIM
    for parts in ((), ("root_pos", "body_rot")):
        m = HumorPrior.from_body_model(BODY, latent_dim=8, hidden=32, absolute_parts=parts)
        mean, std, dmean, dstd, sstd = torch.rand(D), torch.rand(D) + 0.5, torch.rand(D), torch.rand(D) + 0.5, torch.rand(D) + 0.1
        m.cvae.set_normalization(mean, std, dmean, dstd, sstd)
        res = torch.ones(D, dtype=torch.bool)
        for n in parts:
            res[STATE_SLICES[n]] = False
        x0, x1 = torch.randn(4, D), torch.randn(4, D)
        torch.testing.assert_close(m.cvae.apply_step(m.cvae.normalized_step(x0, x1), x0), x1, atol=1e-5, rtol=1e-5)
        target = torch.where(res, x1 - x0, x1)                              # by hand, per dimension
        torch.testing.assert_close(m.cvae.normalized_step(x0, x1), (target - dmean) / dstd)
        step = torch.randn(4, D)
        pred = torch.where(res, x0, torch.zeros(())) + dmean + dstd * step
        torch.testing.assert_close(m.cvae.step_error(step, x0, x1), (pred - x1) / sstd, atol=1e-5, rtol=1e-5)
        m2 = HumorPrior.load(m.save(tmp_path / f"h{len(parts)}.pt"))
        assert m2.config["absolute_parts"] == list(parts)
        z = torch.randn(4, 8)
        torch.testing.assert_close(m2.cvae.decode(z, x0)[0], m.cvae.decode(z, x0)[0])
    with pytest.raises(ValueError, match="unknown state parts"):
        HumorPrior.from_body_model(BODY, absolute_parts=("pelvis",))


def test_a_file_from_before_step_units_loads_with_its_change_spread(tmp_path):
    m = _small_model()
    m.cvae.set_normalization(torch.zeros(STATE_DIM), torch.ones(STATE_DIM), torch.zeros(STATE_DIM),
                             torch.full((STATE_DIM,), 0.3))
    obj = torch.load(m.save(tmp_path / "h.pt"), weights_only=True)
    del obj["state_dict"]["cvae.step_std"]
    del obj["config"]["absolute_parts"]
    torch.save(obj, tmp_path / "old.pt")
    old = HumorPrior.load(tmp_path / "old.pt")
    torch.testing.assert_close(old.cvae.step_std, torch.full((STATE_DIM,), 0.3))


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
    e_true, _ = humor_objective(pretrained, BODY, clip, obs, clip.body21, cfg=cfg, floor=info["floor"])
    assert e_fit < e_init
    assert e_fit < e_true, "the optimiser should find a motion at least as good, by its objective, as the true one"

    def err(b):
        return float((posed_joints(BODY, clip.global_orient, b, clip.transl) - J).norm(dim=-1).mean())
    assert err(b21) < 0.9 * err(info["init_body21"])
    with pytest.raises(ValueError, match="obs_joints"):
        fit_motion_humor(BODY, clip, obs[:10], pretrained)


def test_floor_stats_of_a_real_walk_lifted_and_tipped_over():
    import roma

    from posekit.priors.humor.floor import floor_stats

    m = _small_model()
    poses, trans = _sample_motion()
    x, floor = m.states_on_floor(poses[:, 0], poses[:, 1:22], trans)
    f = floor_stats(m, x)
    J = posed_joints(BODY, poses[:, 0], poses[:, 1:22], trans)
    low = J[:, [7, 8, 10, 11], 1].amin(-1) - floor                                  # via the body model
    torch.testing.assert_close(torch.tensor(f["lowest_foot_min"]), low.min(), atol=1e-5, rtol=0)
    assert f["on_floor"] > 0.9 and f["upright"] == 1.0
    speed = (J[1:, 0, [0, 2]] - J[:-1, 0, [0, 2]]).norm(dim=-1) * 30.0
    assert abs(f["speed"] - float(torch.cat([speed[:1], speed]).mean())) < 1e-4
    lifted = x.clone()
    lifted[:, STATE_SLICES["root_pos"].start + 1] += 0.5
    g = floor_stats(m, m.project(lifted, lifted))
    assert g["on_floor"] == 0.0 and abs(g["lowest_foot_min"] - (f["lowest_foot_min"] + 0.5)) < 1e-5
    R = roma.rotvec_to_rotmat(torch.tensor([1.6, 0.0, 0.0])).expand(len(x), 3, 3)   # lying down
    tipped = transform_state(x, R, torch.zeros(len(x), 3), inverse=True)
    assert floor_stats(m, tipped)["upright"] == 0.0


class _SmoothMotionPrior(torch.nn.Module):
    """A stand-in latent motion prior (not HuMoR): one 2-d code per transition, energy ‖z‖² plus squared pose
    change, no contacts predicted (logits −∞ -> contact weight 0); only ``priors.base.LatentMotionPrior``."""

    contact_joints = (7, 8)
    contact_height = 0.10

    def motion_energy(self, body21_seq):
        return (body21_seq[:, 1:] - body21_seq[:, :-1]).pow(2).flatten(1).sum(-1)

    def transition_latents(self, global_orient, body21, transl, floor=0.0):
        return body21.new_zeros(body21.shape[0] - 1, 2)

    def transition_terms(self, global_orient, body21, transl, z, floor=0.0):
        terms = {"prior": z.pow(2).sum(-1).mean(), "dynamics": (body21[1:] - body21[:-1]).pow(2).sum((-1, -2)).mean()}
        return terms, torch.full((body21.shape[0] - 1, len(self.contact_joints)), -1e4)


def test_the_test_time_fit_needs_only_the_latent_motion_protocol():
    """``fit_motion_humor`` runs any prior with latent transitions (a smoothness stand-in here): its objective is
    data + w_dynamics · Σ‖Δθ‖², which it lowers below its start; an object without the protocol is refused."""
    from posekit.errors import InputError
    from posekit.fitting.humor import HumorFitConfig, fit_motion_humor, humor_objective
    from posekit.fitting.motion import Clip
    from posekit.priors.base import is_latent_motion_prior

    prior = _SmoothMotionPrior()
    assert is_latent_motion_prior(prior) and not is_latent_motion_prior(torch.nn.Linear(2, 2))
    poses, trans = _sample_motion("12_01")
    clip = Clip.from_poses("12_01", poses[:12], trans[:12])
    obs = posed_joints(BODY, clip.global_orient, clip.body21, clip.transl)
    cfg = HumorFitConfig(steps=15, init_steps=10)
    b21, info = fit_motion_humor(BODY, clip, obs, prior, cfg=cfg, return_info=True)
    e_fit, terms = humor_objective(prior, BODY, clip, obs, b21, cfg=cfg, floor=info["floor"])
    e_init, _ = humor_objective(prior, BODY, clip, obs, info["init_body21"], cfg=cfg, floor=info["floor"])
    assert e_fit <= e_init and set(terms) == {"data", "prior", "dynamics", "contact_vel", "ground"}
    dyn = float((b21[1:] - b21[:-1]).pow(2).sum((-1, -2)).mean())
    assert terms["dynamics"] == pytest.approx(dyn, rel=1e-5) and terms["prior"] == 0.0
    with pytest.raises(InputError, match="latent transitions"):
        fit_motion_humor(BODY, clip, obs, torch.nn.Linear(2, 2))
