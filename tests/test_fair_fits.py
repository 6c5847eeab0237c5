"""The fitting method treats every prior alike: weights that matter (L-BFGS), the same start, the three
error metrics, validation subjects apart from test subjects."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from posekit.experiments import clips as clips_mod
from posekit.experiments.common import load_body
from posekit.fitting.forward import posed_joints
from posekit.fitting.metrics import (motion_errors, per_joint_error_cm, surface_error_cm, surface_points,
                                     surface_samples)
from posekit.fitting.motion import Clip, FitConfig, fit_motion
from posekit.priors.store import load_prior_file, pretrained_path

SAMPLE = clips_mod.Path(__file__).resolve().parents[1] / "posekit" / "data" / "sample" / "cmu"


@pytest.fixture(scope="module")
def body():
    return load_body("cpu")


@pytest.fixture(scope="module")
def gmm():
    path = pretrained_path("gmm")
    if path is None:
        pytest.skip("this copy of posekit ships no pretrained GMM")
    return load_prior_file("gmm", path)


def smooth_clip(T=20, seed=0) -> Clip:
    g = torch.Generator().manual_seed(seed)
    amp, phase = 0.3 * torch.rand(21, 3, generator=g), 6.28 * torch.rand(21, 3, generator=g)
    t = torch.arange(T, dtype=torch.float32)[:, None, None] / 30.0
    b21 = amp * torch.sin(2 * math.pi * 0.7 * t + phase)
    return Clip("synthetic", torch.zeros(T, 3), b21, torch.zeros(T, 3))


# ---------------------------------------------------------------- metrics


def test_surface_samples_are_uniform_by_area(body):
    faces = torch.as_tensor(body.faces.astype(np.int64))
    s = surface_samples(body.v_template, faces, n=40000, seed=1)
    v = body.v_template.double()
    tri = v[faces]                                                       # (F,3,3)
    area = 0.5 * torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).norm(dim=-1)
    head = body.lbs_weights.argmax(-1) == 15
    on_head = head[faces].all(-1)
    share_area = float(area[on_head].sum() / area.sum())
    share_samples = float(head[s.faces].all(-1).float().mean())
    assert abs(share_samples - share_area) < 0.01
    assert float(head.float().mean()) > share_area + 0.1                # vertices over-count the head
    assert (s.bary >= -1e-5).all() and torch.allclose(s.bary.sum(-1), torch.ones(len(s.bary)), atol=1e-5)
    # the samples lie on the rest mesh: a barycentric mix of their face's corners, inside the body's bounds
    p = surface_points(body.v_template[None], s)[0]
    assert (p.min(0).values >= v.min(0).values.float() - 1e-5).all()


def test_surface_error_of_a_rigid_shift_is_the_shift(body):
    faces = torch.as_tensor(body.faces.astype(np.int64))
    s = surface_samples(body.v_template, faces)
    v = body.v_template[None].repeat(2, 1, 1)
    shift = torch.tensor([[0.03, 0.0, 0.04], [0.0, 0.0, 0.0]])
    err = surface_error_cm(v + shift[:, None], v, s)
    torch.testing.assert_close(err, torch.tensor([5.0, 0.0]), atol=1e-4, rtol=0)


def test_per_joint_error_against_numpy():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 24, 3, generator=g), torch.randn(5, 24, 3, generator=g)
    ref = 100 * np.linalg.norm(a.numpy() - b.numpy(), axis=-1)
    np.testing.assert_allclose(per_joint_error_cm(a, b).numpy(), ref.mean(-1), rtol=1e-5)
    np.testing.assert_allclose(per_joint_error_cm(a, b, [3, 7]).numpy(), ref[:, [3, 7]].mean(-1), rtol=1e-5)


def test_motion_errors_zero_on_truth_and_hidden_part(body):
    clip = smooth_clip()
    e = motion_errors(body, clip, clip.body21, hidden_joints=[16, 18, 20, 22])
    assert set(e) == {"v2v_cm", "surface_cm", "mpjpe_cm", "v2v_hidden_cm", "surface_hidden_cm", "mpjpe_hidden_cm"}
    assert max(e.values()) < 1e-4
    wrong = clip.body21.clone()
    wrong[:, 17] += 0.5                                                  # left elbow (SMPL joint 18)
    e = motion_errors(body, clip, wrong, hidden_joints=[16, 18, 20, 22])
    assert e["v2v_hidden_cm"] > e["v2v_cm"] > 0 and e["mpjpe_hidden_cm"] > e["mpjpe_cm"] > 0


# ---------------------------------------------------------------- the optimiser


def _fit(body, clip, obs, prior, w, optimizer, steps=60):
    return fit_motion(body, clip, obs, prior=prior, init_body21=clip.body21 + 0.0,
                      cfg=FitConfig(w_smooth=1.0, w_prior=w, steps=steps, optimizer=optimizer))


def test_lbfgs_prior_weight_to_zero_gives_the_no_prior_fit(body, gmm):
    """With L-BFGS the prior's pull scales with its weight on every coordinate, also those no observed
    joint constrains (head and foot rotations): w -> 0 converges to the no-prior fit."""
    torch.manual_seed(0)
    clip = smooth_clip()
    g = torch.Generator().manual_seed(3)
    noisy = clip.body21 + 0.1 * torch.randn(clip.body21.shape, generator=g)
    obs = posed_joints(body, clip.global_orient, noisy, clip.transl)
    noisy_clip = Clip("noisy", clip.global_orient, noisy, clip.transl)
    base = _fit(body, noisy_clip, obs, None, 0.0, "lbfgs")
    dev = {w: float((_fit(body, noisy_clip, obs, gmm, w, "lbfgs") - base).norm(dim=-1).mean())   # rad
           for w in (1e-6, 1e-2, 1.0)}
    assert dev[1e-6] < 2e-3
    assert dev[1e-6] < dev[1e-2] < dev[1.0]
    assert dev[1.0] > 0.1
    # Adam's per-coordinate normalisation: even a tiny weight moves the unconstrained head/feet a lot
    base_adam = _fit(body, noisy_clip, obs, None, 0.0, "adam")
    tiny_adam = _fit(body, noisy_clip, obs, gmm, 1e-6, "adam")
    unconstrained = [9, 10, 14]                                          # feet (SMPL 10, 11) and head (15)
    assert float((tiny_adam - base_adam)[:, unconstrained].norm(dim=-1).mean()) > 20 * dev[1e-6]


def test_optimizer_option_is_checked(body):
    clip = smooth_clip(4)
    obs = posed_joints(body, clip.global_orient, clip.body21, clip.transl)
    with pytest.raises(ValueError, match="lbfgs"):
        fit_motion(body, clip, obs, cfg=FitConfig(optimizer="sgd"))


# ---------------------------------------------------------------- held-out subjects


def _copy(names, tmp_path):
    for n in names:
        shutil.copy(SAMPLE / n, tmp_path / n)
    return tmp_path


def test_no_test_subject_is_an_error_not_a_fallback(tmp_path):
    from posekit.data.dataset import assign_splits, trial_key

    files = sorted(SAMPLE.glob("*.npz"))
    split = assign_splits([trial_key(p)[0] for p in files])
    val_only = [p.name for p in files if split[trial_key(p)[0]] == "val"][:2]
    if not val_only:
        pytest.skip("the embedded sample holds no validation subject")
    d = _copy(val_only, tmp_path)
    with pytest.raises(FileNotFoundError, match="test subject"):
        clips_mod.held_out_files(d, "test")
    assert clips_mod.held_out_files(d, "val")


def test_validation_clips_come_from_several_subjects():
    from posekit.data.dataset import trial_key

    files = clips_mod.held_out_files(SAMPLE, "val")
    subjects = {trial_key(p)[0] for p in files}
    if len(subjects) < 2:
        pytest.skip("the embedded sample holds fewer than two validation subjects")
    picked = clips_mod.held_out_clips(SAMPLE, 20, len(subjects), split="val")
    assert len({c.name.split("_")[0] for c in picked}) == len(subjects)


def test_per_joint_angle_error_against_scipy():
    from scipy.spatial.transform import Rotation

    from posekit.fitting.metrics import per_joint_angle_error_deg

    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 21, 3, generator=g), torch.randn(4, 21, 3, generator=g)
    rel = Rotation.from_rotvec(a.reshape(-1, 3).double().numpy()).inv() * Rotation.from_rotvec(b.reshape(-1, 3).double().numpy())
    ref = np.degrees(rel.magnitude()).reshape(4, 21).mean(0)
    np.testing.assert_allclose(per_joint_angle_error_deg(a, b).numpy(), ref, atol=1e-3)


def test_humor_is_a_method_of_the_motion_experiments(body):
    """method=humor: HuMoR's test-time optimisation runs beside the per-frame priors in denoise and occlusion."""
    from posekit.experiments import denoise, occlusion

    path = pretrained_path("humor")
    if path is None:
        pytest.skip("this copy of posekit ships no pretrained HuMoR")
    humor = load_prior_file("humor", path)
    clip = smooth_clip(12)
    cfgs = {"none": FitConfig(steps=10), "humor": FitConfig(steps=10)}
    out = denoise.denoise_clip(body, clip, 0.1, {"none": None, "humor": humor}, cfgs, torch.Generator().manual_seed(0))
    assert set(out["metrics"]) == {"none", "humor"} and out["results"]["humor"].shape == (12, 21, 3)
    assert all(math.isfinite(v) for v in out["metrics"]["humor"].values())
    occ = occlusion.complete_clip(body, clip, "leg", {"humor": humor}, {"humor": FitConfig(steps=10)})
    assert math.isfinite(occ["hidden"]["humor"])
    # its weight (the scale of its prior-side terms) is tuned like the others, or fixed
    with pytest.raises(ValueError, match="validation clips"):
        denoise.tune_denoise(body, [], {"none": None, "humor": humor}, 0.1, 10, fixed={"smooth": 1.0})
    cfgs, chosen = denoise.tune_denoise(body, [], {"none": None, "humor": humor}, 0.1, 10,
                                        fixed={"smooth": 1.0, "humor": 10.0})
    assert chosen["humor"] == 10.0 and cfgs["humor"].w_prior == 10.0 and cfgs["humor"].steps == 10
