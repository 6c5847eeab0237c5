"""SMPLify's pieces, each on its own: the config, the start, the term energies, the choice of hypothesis."""
import math

import pytest
import roma
import torch

from posekit.errors import InputError
from posekit.fitting import KeypointMap, make_views, smplify
from posekit.fitting.camera import perspective_projection, principal_point
from posekit.fitting.capsules import CapsuleRadii
from posekit.fitting.forward import JointsForward
from posekit.fitting.losses import angle_prior
from posekit.fitting.smplify import (TERMS, Problem, SMPLifyConfig, choose_hypothesis, depth_guess,
                                     orientation_hypotheses, pick_hypothesis, resolve_config, start_pose,
                                     term_energies, torso_confidence)
from posekit.priors.gmm import GMMPrior
from posekit.skeleton import body21_to_body_pose


@pytest.fixture(scope="module")
def body_model():
    from posekit.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def views(body_model):
    g = torch.Generator().manual_seed(3)
    return make_views(body_model, 0.2 * torch.randn(3, 21, 3, generator=g), noise_px=0.0, dropout=0.0, seed=2)


def _problem(views, body_model, prior=None, **kw):
    kmap = KeypointMap(body_model)
    cfg = resolve_config(None, **kw)
    return Problem(JointsForward(body_model, kmap.vertex_ids), kmap, views["keypoints_clean"], views["confidence"],
                   views["focal_length"], principal_point(views["image_size"]), prior, cfg, CapsuleRadii(body_model))


def _truth(views, nb):
    betas = torch.zeros(views["betas"].shape[0], nb)
    betas[:, :views["betas"].shape[1]] = views["betas"]
    return views["global_orient"], views["body_pose"], views["transl"], betas


def test_resolve_config_leaves_the_callers_config_alone():
    cfg = SMPLifyConfig()
    out = resolve_config(cfg, stage_iters=3)
    assert out.stage_iters == 3 and cfg.stage_iters == 100
    with pytest.raises(TypeError, match="unknown smplify option"):
        resolve_config(cfg, stage_iter=3)
    with pytest.raises(InputError, match="optimizer must be one of"):
        resolve_config(cfg, optimizer="sgd")


def test_the_data_term_vanishes_at_the_truth_and_the_terms_sum(views, body_model):
    """At the true body the projected keypoints are the noiseless observations: E_J = 0 exactly (ρ(0) = 0);
    the other terms are their closed forms and the total is their sum."""
    rng = torch.Generator().manual_seed(0)
    means = 0.3 * torch.randn(2, 63, generator=rng)
    prior = GMMPrior.fit((means[torch.arange(400) % 2] + 0.1 * torch.randn(400, 63, generator=rng)).numpy(),
                         n_components=2)
    problem = _problem(views, body_model, prior, prior_scale=0.5, sp_weight=0.0)
    orient, pose, transl, betas = _truth(views, problem.fwd.num_betas)
    rows = torch.arange(3)
    with torch.no_grad():
        e = term_energies(problem, (2.0, 3.0), pose, orient, transl, betas, rows)
    assert set(e) == set(TERMS) and all(v.shape == (3,) for v in e.values())
    torch.testing.assert_close(e["data"], torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(e["pose"], 0.5 * 4.0 * prior.energy(pose[:, :63].reshape(3, 21, 3)))
    torch.testing.assert_close(e["angle"], (3.17 * 2.0) ** 2 * angle_prior(pose))
    torch.testing.assert_close(e["shape"], 9.0 * (betas ** 2).sum(-1))
    torch.testing.assert_close(e["interpenetration"], torch.zeros(3))
    torch.testing.assert_close(e["total"], e["data"] + e["pose"] + e["angle"] + e["shape"] + e["interpenetration"])


def test_the_data_term_is_geman_mcclure_of_the_shift(views, body_model):
    """Keypoints shifted by d = (30, −40) px: E_J = Σ_i c_i ρ(‖d‖) with ρ(r) = σ² r² / (σ² + r²), σ = 100 px
    (on the residual's norm: ‖d‖ = 50 px gives ρ = 2000)."""
    shifted = dict(views, keypoints_clean=views["keypoints_clean"] + torch.tensor([30.0, -40.0]))
    problem = _problem(shifted, body_model, None, sp_weight=0.0, angle_weight=0.0)
    orient, pose, transl, betas = _truth(views, problem.fwd.num_betas)
    with torch.no_grad():
        e = term_energies(problem, (1.0, 0.0), pose, orient, transl, betas, torch.arange(3))
    rho = lambda r: 100.0 ** 2 * r ** 2 / (100.0 ** 2 + r ** 2)
    assert rho(50.0) == 2000.0
    torch.testing.assert_close(e["data"], views["confidence"].sum(-1) * rho(50.0), rtol=1e-3, atol=0.5)


def test_depth_guess_finds_the_true_depth(views, body_model):
    """Similar triangles on the torso: at the true pose and shape, the guessed depth is close to the true one
    (the root's depth differs from the torso's by a few cm)."""
    problem = _problem(views, body_model)
    orient, pose, transl, betas = _truth(views, problem.fwd.num_betas)
    # the guess assumes the torso faces the camera; compare against the true root depth loosely
    t, depth = depth_guess(problem, betas, pose)
    true_depth = views["joints"][:, 0, 2]
    assert torch.all((depth / true_depth - 1).abs() < 0.35), (depth, true_depth)
    torch.testing.assert_close(t[:, 2], depth)


def test_orientation_hypotheses_differ_by_half_a_turn():
    o = orientation_hypotheses(2, 3, "cpu")
    assert o.shape == (6, 3)
    R = roma.rotvec_to_rotmat(o)
    rel = roma.rotmat_to_rotvec(R[:3].transpose(-1, -2) @ R[3:])
    torch.testing.assert_close(rel.norm(dim=-1), torch.full((3,), math.pi), atol=1e-5, rtol=0)
    assert orientation_hypotheses(1, 3, "cpu").shape == (3, 3)


def test_start_pose_per_prior():
    rest = SMPLifyConfig(init="rest")
    pose, z = start_pose(None, rest, 2, "cpu")
    assert z is None and torch.equal(pose, torch.zeros(2, 69))
    prior = GMMPrior.fit((0.2 + 0.01 * torch.randn(100, 63, generator=torch.Generator().manual_seed(1))).numpy(),
                         n_components=1)
    pose, z = start_pose(prior, SMPLifyConfig(), 2, "cpu")             # SMPLify: the GMM's mean
    torch.testing.assert_close(pose, body21_to_body_pose(prior.mean_pose().reshape(1, 21, 3).float()).expand(2, -1))
    pose, _ = start_pose(prior, rest, 2, "cpu")                         # rest: the same start for every prior
    assert torch.equal(pose, torch.zeros(2, 69))


def test_start_pose_of_a_latent_prior_is_its_decoded_code():
    class Latent:
        latent_dim = 4

        def decode_body21(self, z):
            return torch.cat([z, z.new_zeros(z.shape[0], 63 - 4)], 1) + 0.1

    pose, z = start_pose(Latent(), SMPLifyConfig(), 2, "cpu")          # no encoder: z = 0 (SMPLify-X)
    assert torch.equal(z, torch.zeros(2, 4))
    torch.testing.assert_close(pose[:, :63], torch.full((2, 63), 0.1))


def test_the_choice_of_hypothesis():
    final = {"total": torch.tensor([1.0, 5.0, 2.0, 3.0]), "data": torch.tensor([4.0, 1.0, 3.0, 2.0])}
    assert choose_hypothesis(final, 2, 2).tolist() == [False, True]
    assert choose_hypothesis(final, 2, 2, "data").tolist() == [True, False]
    assert choose_hypothesis({"total": torch.ones(2)}, 2, 1).tolist() == [False, False]
    x = torch.arange(8.0).reshape(4, 2)
    assert pick_hypothesis(x, torch.tensor([False, True])).tolist() == [[0.0, 1.0], [6.0, 7.0]]
    assert torch.equal(pick_hypothesis(x[:2], torch.tensor([False, True])), x[:2])


def test_torso_confidence_falls_back_to_every_keypoint():
    conf = torch.ones(2, 14)
    conf[1, [2, 3, 8, 9]] = 0.0                                      # hips and shoulders of image 1 unseen
    out = torso_confidence(conf)
    assert out[0].sum() == 4 and torch.equal(out[1], conf[1])


def test_the_pieces_make_smplify(views, body_model):
    """smplify's final energies are term_energies at its own result (the last stage's weights)."""
    fit = smplify(views["keypoints_clean"][:1], views["confidence"][:1], views["focal_length"][:1],
                  views["image_size"][:1], body_model, None, progress=False, stage_iters=5, camera_iters=5,
                  try_flip=False)
    one = {k: v[:1] for k, v in views.items()}
    problem = _problem(one, body_model)
    with torch.no_grad():
        e = term_energies(problem, problem.cfg.stages[-1], fit["body_pose"], fit["global_orient"], fit["transl"],
                          fit["betas"], torch.arange(1))
    for k in TERMS:
        torch.testing.assert_close(e[k], fit["energies"][k], rtol=1e-4, atol=1e-4)
    proj = perspective_projection(fit["keypoints_3d"], one["focal_length"], principal_point(one["image_size"]))
    torch.testing.assert_close(proj, fit["projected"])
