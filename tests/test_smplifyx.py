"""SMPLify-X (posekit.fitting.smplifyx) and Table 1 (posekit.experiments.table1).

References: closed forms written out here, finite differences (torch.autograd.gradcheck), smplx's own
SMPLX forward for the lean whole-body forward, the noise-free truth for the fit.
"""
from __future__ import annotations

import math

import pytest
import torch

from posekit.body import load_body_model
from posekit.errors import InputError
from posekit.fitting.smplifyx import (JAW_AXIS_WEIGHTS, LAYOUTS, SMPLIFYX_STAGES, SMPLifyXStage, body_pose_energy,
                                      expression_energy, hand_pose_energy, jaw_energy, keypoint_energy, layout_mask,
                                      part_weights, smplifyx)
from posekit.fitting.wholebody import GROUPS, WholeBodyForward, make_wholebody_views, wholebody_keypoints


@pytest.fixture(scope="module")
def sx():
    return load_body_model("open", model_type="smplx", device="cpu", use_pca=True, num_pca_comps=12)


# ---------------------------------------------------------------------------------------------
# the energy terms, against closed forms and finite differences
# ---------------------------------------------------------------------------------------------

def test_keypoint_energy_closed_form():
    g = torch.Generator().manual_seed(0)
    proj, kp = 50 * torch.randn(3, 7, 2, generator=g), 50 * torch.randn(3, 7, 2, generator=g)
    conf, w = torch.rand(3, 7, generator=g), torch.rand(7, generator=g)
    sigma = 30.0
    expected = torch.zeros(3)
    for b in range(3):
        for i in range(7):
            r2 = float(((proj[b, i] - kp[b, i]) ** 2).sum())
            expected[b] += float(conf[b, i] * w[i]) * sigma ** 2 * r2 / (sigma ** 2 + r2)
    torch.testing.assert_close(keypoint_energy(proj, kp, conf, w, sigma), expected, rtol=1e-5, atol=1e-3)
    # far outliers saturate at w σ² each
    far = keypoint_energy(kp + 1e6, kp, torch.ones(3, 7), torch.ones(7), sigma)
    torch.testing.assert_close(far, torch.full((3,), 7 * sigma ** 2), rtol=1e-4, atol=0)


def test_prior_terms_closed_form():
    g = torch.Generator().manual_seed(1)
    lh, rh, ex, jaw = (torch.randn(4, n, generator=g) for n in (12, 12, 10, 3))
    torch.testing.assert_close(hand_pose_energy(lh, rh), (lh ** 2).sum(1) + (rh ** 2).sum(1))
    torch.testing.assert_close(expression_energy(ex), (ex ** 2).sum(1))
    a = torch.tensor(JAW_AXIS_WEIGHTS)
    torch.testing.assert_close(jaw_energy(jaw), (a[0] * jaw[:, 0]) ** 2 + (a[1] * jaw[:, 1]) ** 2
                               + (a[2] * jaw[:, 2]) ** 2)
    z = torch.randn(4, 32, generator=g)

    class Latent:                                    # a stand-in latent prior: E_θb = ‖z‖²
        latent_dim = 32

        def energy(self, p): ...
        def encode(self, p): ...
        def decode(self, z): ...
        def decode_body21(self, z): ...
    torch.testing.assert_close(body_pose_energy(Latent(), torch.zeros(4, 63), latent=z), (z ** 2).sum(1))
    assert torch.equal(body_pose_energy(None, torch.zeros(4, 63)), torch.zeros(4))


@pytest.mark.parametrize("fn, shapes", [
    (lambda p, k, c, w: keypoint_energy(p, k, c, w, 20.0), [(2, 5, 2), (2, 5, 2), (2, 5), (5,)]),
    (hand_pose_energy, [(2, 12), (2, 12)]),
    (jaw_energy, [(2, 3)]),
    (expression_energy, [(2, 10)]),
])
def test_gradients_match_finite_differences(fn, shapes):
    g = torch.Generator().manual_seed(2)
    args = [(10 if len(s) == 3 else 1) * torch.rand(*s, generator=g, dtype=torch.float64) for s in shapes]
    args = [a.requires_grad_(True) for a in args]
    assert torch.autograd.gradcheck(lambda *x: fn(*x).sum(), args, eps=1e-6, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# layouts and the lean forward
# ---------------------------------------------------------------------------------------------

def test_layouts_select_their_parts():
    sizes = {"body": 25, "body+hands": 25 + 42, "body+hands+face": 118}
    for name, n in sizes.items():
        m = layout_mask(name)
        assert m.shape == (118,) and int(m.sum()) == n and set(m.unique().tolist()) <= {0.0, 1.0}
    assert layout_mask("body")[:25].all() and not layout_mask("body")[25:].any()
    assert not layout_mask("body+hands")[list(GROUPS["face"])].any()
    assert int(layout_mask("body+hands+face", contour=True).sum()) == 118      # the contour is not fitted
    with pytest.raises(InputError, match="layout must be one of"):
        layout_mask("hands")
    w = part_weights(SMPLifyXStage(1, 1, 1, 1, 1, hand_keypoints=0.1, face_keypoints=2.0, collision=0))
    assert torch.all(w[:25] == 1)
    torch.testing.assert_close(w[list(GROUPS["left_hand"])], torch.full((21,), 0.01))
    torch.testing.assert_close(w[list(GROUPS["face"])], torch.full((51,), 4.0))
    assert set(LAYOUTS) == set(sizes)
    assert [s.face_keypoints for s in SMPLIFYX_STAGES] == [0, 0, 0, 0, 2.0]       # SMPLify-X's schedule


def test_lean_forward_equals_smplx(sx):
    g = torch.Generator().manual_seed(3)
    B = 3
    a = dict(betas=torch.randn(B, 10, generator=g), global_orient=torch.randn(B, 3, generator=g),
             body_pose=0.3 * torch.randn(B, 63, generator=g), left_hand_pose=torch.randn(B, 12, generator=g),
             right_hand_pose=torch.randn(B, 12, generator=g), jaw_pose=0.2 * torch.randn(B, 3, generator=g),
             expression=torch.randn(B, 10, generator=g), transl=torch.randn(B, 3, generator=g))
    out = sx(**a, leye_pose=torch.zeros(B, 3), reye_pose=torch.zeros(B, 3))
    k, j = WholeBodyForward(sx)(a["betas"], a["global_orient"], a["body_pose"], a["left_hand_pose"],
                                a["right_hand_pose"], a["jaw_pose"], a["expression"], a["transl"])
    torch.testing.assert_close(k, wholebody_keypoints(out.joints), rtol=0, atol=1e-5)
    torch.testing.assert_close(j, out.joints[:, :55], rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------------

#: light priors for recovering a noise-free truth: the schedule's shape, weights far below SMPLify-X's
LIGHT = (SMPLifyXStage(4.0, 4.0, 10.0, 2.0, 2.0, 0.0, 0.0, 0.0),
         SMPLifyXStage(1.0, 0.3, 1.0, 0.5, 0.3, 2.0, 2.0, 0.0))


@pytest.fixture(scope="module")
def truth(sx):
    """Two noise-free, fully visible views of a known body (pose in axis-angle), hand PCA and expression."""
    g = torch.Generator().manual_seed(4)
    pose = 0.25 * torch.randn(2, 63, generator=g)
    return make_wholebody_views(sx, pose, seed=5, noise_px=0.0, dropout=0.0, hand_scale=1.0, expression_clip=1.5,
                                height_frac=(0.9, 0.95), yaw_range=0.5)


@pytest.fixture(scope="module")
def fitted(sx, truth):
    return smplifyx(truth["keypoints_2d"], truth["confidence"], truth["focal_length"], truth["image_size"], sx,
                    prior=None, stages=LIGHT, stage_iters=100, angle_weight=0.0, collision=False, try_flip=False,
                    progress=False)


def test_fit_lowers_the_energy(fitted):
    for stage in fitted["trace"]:
        tot = stage["total"]                                             # (iters+1, B)
        assert torch.all(tot[1:] <= tot[:-1] * (1 + 1e-5) + 1e-4), stage["stage"]   # row-wise monotone
    first, last = fitted["trace"][1]["total"], fitted["trace"][-1]["total"]
    assert (last[-1] < 0.5 * last[0]).all() and (first[-1] < 0.5 * first[0]).all()


def test_fit_recovers_the_truth(sx, fitted, truth):
    """Noise-free keypoints, no pose prior: the fit lands near the truth (reprojection a few px, whole-body
    vertices within 50 mm after Procrustes) and the hands closer to the true hand-PCA coefficients than the
    mean hand is. Tolerances are what 100 L-BFGS iterations per stage reach on this problem: the row-wise
    L-BFGS converges slowly on the joint body + hands + face problem (its variables differ in scale by orders
    of magnitude), and the expression, a few pixels on a whole-body view, is barely recovered (not asserted)."""
    from posekit.fitting.metrics import mean_point_error, procrustes_align

    start = (truth["keypoints_clean"] - truth["keypoints_clean"].mean(1, keepdim=True)).norm(dim=-1).mean(-1)
    reproj = (fitted["projected"] - truth["keypoints_clean"]).norm(dim=-1).mean(-1)
    assert (reproj < 5.0).all() and (reproj < 0.05 * start).all(), reproj
    v2v = 1000 * mean_point_error(procrustes_align(fitted["vertices"], truth["vertices"]), truth["vertices"])
    assert (v2v < 50.0).all(), v2v
    for k in ("left_hand_pose", "right_hand_pose"):
        err = (fitted[k] - truth[k]).norm(dim=-1) / truth[k].norm(dim=-1)
        assert (err < 0.97).all(), (k, err)
    assert torch.isfinite(fitted["expression"]).all()


def test_frozen_parts_stay_at_their_mean(sx, truth):
    fit = smplifyx(truth["keypoints_2d"], truth["confidence"], truth["focal_length"], truth["image_size"], sx,
                   prior=None, layout="body", model="smpl", stages=LIGHT[:1], stage_iters=5, camera_iters=3,
                   try_flip=False, progress=False)
    for k in ("left_hand_pose", "right_hand_pose", "expression", "jaw_pose"):
        assert torch.equal(fit[k], torch.zeros_like(fit[k])), k


def test_bad_inputs(sx, truth):
    args = (truth["keypoints_2d"], truth["confidence"], truth["focal_length"], truth["image_size"], sx)
    with pytest.raises(InputError, match="model must be one of"):
        smplifyx(*args, model="mano", progress=False)
    with pytest.raises(InputError, match=r"\(B, 118, 2\)"):
        smplifyx(truth["keypoints_2d"][:, :25], truth["confidence"][:, :25], *args[2:], progress=False)
    conf = truth["confidence"].clone()
    conf[:, :25] = 0                                                     # only hands and face seen
    with pytest.raises(InputError, match="all-zero confidence"):
        smplifyx(truth["keypoints_2d"], conf, *args[2:], layout="body", progress=False)
    body = load_body_model("open", device="cpu")
    with pytest.raises(InputError, match="SMPL-X module with hand PCA"):
        smplifyx(*args[:4], body, progress=False)


# ---------------------------------------------------------------------------------------------
# the experiment
# ---------------------------------------------------------------------------------------------

def _refused(capsys, argv, fragment):
    from posekit.experiments.__main__ import main

    assert main(argv) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


@pytest.mark.parametrize("extra, fragment", [
    (["--n-views", "0"], "--n-views"),
    (["--n-views", "1"], "--n-views must be at least 2"),
    (["--configs", "smpl-body,mano"], "--configs"),
    (["--prior-scale", "nan"], "--prior-scale"),
    (["--iters", "-3"], "--iters"),
])
def test_cli_bad_options_exit_2(tmp_path, capsys, extra, fragment):
    from posekit.data.paths import embedded_sample_dir

    argv = ["table1", "--motions", str(embedded_sample_dir()), "--priors", str(tmp_path / "p"),
            "--out", str(tmp_path / "o"), *extra]
    _refused(capsys, argv, fragment)
    assert not (tmp_path / "o" / "results.csv").exists()


def test_fast_table1_writes_four_rows(tmp_path):
    from posekit.data.paths import embedded_sample_dir
    from posekit.experiments.__main__ import main
    from posekit.experiments.report import read_results, read_units
    from posekit.experiments.table1 import CONFIGS

    out = tmp_path / "out"
    rc = main(["table1", "--motions", str(embedded_sample_dir()), "--priors", str(tmp_path / "priors"), "--out",
               str(out), "--fast", "--n-views", "2", "--iters", "2", "--device", "cpu", "--configs", ",".join(CONFIGS)])
    assert rc == 0
    rows = read_results(out / "results.csv")
    assert {r["method"] for r in rows} == set(CONFIGS)
    for m in CONFIGS:
        got = {r["metric"]: r for r in rows if r["method"] == m}
        assert set(got) == {"v2v_pa_mm", "v2v_mm", "hands_pa_mm", "face_pa_mm", "fit_s_per_view"}
        assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in got.values())
        assert got["v2v_pa_mm"]["n"] == 2
    units = read_units(out / "units.csv")
    assert len([u for u in units if u["metric"] == "v2v_pa_mm"]) == 2 * len(CONFIGS)
