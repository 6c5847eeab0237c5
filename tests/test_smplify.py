"""SMPLify end to end on synthetic views with known ground truth (small batches, few iterations)."""
import math

import json

import numpy as np
import pytest
import roma
import torch

from posekit.fitting import KeypointMap, fit_errors, make_views, perspective_projection, smplify
from posekit.fitting.smplify import check_inputs
from posekit.priors.gmm import GMMPrior


@pytest.fixture(scope="module")
def body_model():
    from posekit.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def views(body_model):
    g = torch.Generator().manual_seed(0)
    poses = 0.25 * torch.randn(2, 21, 3, generator=g)
    return make_views(body_model, poses, noise_px=0.0, dropout=0.0, yaw_range=0.6, seed=1)


def _fit(v, body_model, prior=None, **kw):
    kw = {"stage_iters": 60, "camera_iters": 20, "sp_weight": 0.0, "angle_weight": 0.0, **kw}
    return smplify(v["keypoints_2d"], v["confidence"], v["focal_length"], v["image_size"], body_model, prior,
                   progress=False, **kw)


def test_noiseless_keypoints_are_reproduced_in_2d(views, body_model):
    fit = _fit(views, body_model)
    err_px = (fit["projected"] - views["keypoints_clean"]).norm(dim=-1)
    assert err_px.mean() < 2.5, err_px
    # outputs are consistent with the body model
    out = body_model(betas=fit["betas"], global_orient=fit["global_orient"], body_pose=fit["body_pose"],
                     transl=fit["transl"])
    torch.testing.assert_close(fit["vertices"], out.vertices, atol=1e-5, rtol=1e-5)
    # the trace: camera stage + 4 stages, each ending lower than it started
    assert [s["stage"] for s in fit["trace"]] == ["camera", "stage 1", "stage 2", "stage 3", "stage 4"]
    for s in fit["trace"][1:]:
        assert s["total"].shape[1] == 2
        # every image's own line search accepts only decreasing steps: no image gets worse, step by step
        assert torch.all(s["total"][1:] <= s["total"][:-1])
        torch.testing.assert_close(s["total"], s["data"] + s["pose"] + s["angle"] + s["shape"] + s["interpenetration"])


def test_a_prior_centred_on_the_truth_recovers_the_3d_pose(views, body_model):
    """Depth is ambiguous from 2D alone; a tight Gaussian prior around the true pose resolves it:
    a small 3D error, much smaller than without the prior."""
    rng = np.random.default_rng(0)
    one = {k: v[1:] for k, v in views.items()}
    true = one["body_pose"].reshape(1, 23, 3)[:, :21].reshape(63).numpy()
    prior = GMMPrior.fit(true + 0.03 * rng.normal(size=(300, 63)), n_components=1)
    fit = _fit(one, body_model, prior, try_flip=False)
    err = fit_errors(fit["vertices"], fit["joints"], one["vertices"], one["joints"])
    assert err["mpjpe_pa_mm"].item() < 15, err
    assert err["v2v_pa_mm"].item() < 15, err
    fit0 = _fit(one, body_model, try_flip=False)
    no_prior = fit_errors(fit0["vertices"], fit0["joints"], one["vertices"], one["joints"])
    assert no_prior["v2v_pa_mm"].item() > 3 * err["v2v_pa_mm"].item()


def test_batched_lbfgs_fit_equals_independent_fits(views, body_model):
    """Every image has its own L-BFGS memory, line search and stopping test: a batch fit = per-image fits.

    Both flip hypotheses, the full default objective (angle and interpenetration terms on)."""
    kw = {"stage_iters": 10, "camera_iters": 10, "angle_weight": 3.17, "sp_weight": None}
    both = _fit(views, body_model, **kw)
    for i in range(2):
        one = {k: views[k][i:i + 1] for k in ("keypoints_2d", "confidence", "focal_length", "image_size")}
        single = _fit(one, body_model, **kw)
        for k in ("body_pose", "global_orient", "transl", "betas"):
            torch.testing.assert_close(both[k][i:i + 1], single[k], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(both["energies"]["total"][i:i + 1], single["energies"]["total"], rtol=1e-4, atol=1e-3)
        for sb, ss in zip(both["trace"], single["trace"]):
            assert sb["total"].shape[0] == ss["total"].shape[0]          # the same number of steps


def test_batched_fit_equals_independent_fits(views, body_model):
    """Adam is element-wise and every image stops on its own: a batch fit = per-image fits."""
    both = _fit(views, body_model, ftol=0.0, stage_iters=15, camera_iters=10, optimizer="adam")
    one = {k: views[k][1:] for k in ("keypoints_2d", "confidence", "focal_length", "image_size")}
    single = _fit(one, body_model, ftol=0.0, stage_iters=15, camera_iters=10, optimizer="adam")
    torch.testing.assert_close(both["body_pose"][1:], single["body_pose"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(both["transl"][1:], single["transl"], atol=1e-4, rtol=1e-4)


def test_180_degree_flip_is_tried(body_model):
    """A body seen from behind: the flipped hypothesis must win and the orientation be recovered."""
    g = torch.Generator().manual_seed(3)
    poses = 0.1 * torch.randn(1, 21, 3, generator=g)
    v = make_views(body_model, poses, noise_px=0.0, dropout=0.0, yaw_range=0.0, seed=2)
    R_back = roma.rotvec_to_rotmat(torch.tensor([0.0, math.pi, 0.0]))
    v2 = dict(v)
    # rotate the view-from-front to a view-from-behind about the camera's vertical axis
    orient = roma.rotmat_to_rotvec(R_back @ roma.rotvec_to_rotmat(v["global_orient"]))
    out = body_model(betas=v["betas"], global_orient=orient, body_pose=v["body_pose"], transl=v["transl"])
    k3 = KeypointMap(body_model).from_mesh(out.joints, out.vertices)
    v2["keypoints_2d"] = perspective_projection(k3, v["focal_length"], 0.5 * v["image_size"]).detach()
    fit = _fit(v2, body_model, try_flip=True)
    assert bool(fit["flipped"][0])
    angle = roma.rotmat_geodesic_distance(roma.rotvec_to_rotmat(fit["global_orient"]), roma.rotvec_to_rotmat(orient))
    assert angle.item() < math.radians(25)


def test_latent_prior_protocol(views, body_model):
    """A VPoser-like prior: the fitter optimises z, the pose is decode(z) and E_θ = ‖z‖²."""
    W = 0.3 * torch.randn(63, 4, generator=torch.Generator().manual_seed(0))

    class Linear:
        latent_dim = 4

        def decode_body21(self, z):
            return (z @ W.T).reshape(-1, 21, 3)

    fit = _fit(views, body_model, Linear(), stage_iters=10, camera_iters=5)
    b21 = fit["body_pose"].reshape(2, 23, 3)[:, :21].reshape(2, 63)
    z, *_ = torch.linalg.lstsq(W, b21.T)
    torch.testing.assert_close(W @ z, b21.T, atol=1e-4, rtol=1e-4)            # in the decoder's range
    assert torch.all(fit["body_pose"].reshape(2, 23, 3)[:, 21:] == 0)         # hands at identity
    lam = fit["trace"][-1]["weights"]["pose"] ** 2
    torch.testing.assert_close(fit["energies"]["pose"], lam * (z ** 2).sum(0), rtol=1e-3, atol=1e-3)


def test_bad_inputs_give_clear_errors(views, body_model):
    kp, conf = views["keypoints_2d"].clone(), views["confidence"].clone()
    f, size = views["focal_length"], views["image_size"]
    bad = kp.clone()
    bad[0, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        smplify(bad, conf, f, size, body_model)
    zero = conf.clone()
    zero[1] = 0
    with pytest.raises(ValueError, match="all-zero confidence"):
        smplify(kp, zero, f, size, body_model)
    with pytest.raises(ValueError, match=r"\(B, 14, 2\)"):
        smplify(kp[:, :10], conf[:, :10], f, size, body_model)
    with pytest.raises(ValueError, match="confidence must have shape"):
        smplify(kp, conf[:, :5], f, size, body_model)
    with pytest.raises(ValueError, match="focal_length"):
        smplify(kp, conf, 0.0, size, body_model)
    with pytest.raises(ValueError, match="focal_length"):
        smplify(kp, conf, torch.tensor([1000.0, -5.0]), size, body_model)
    with pytest.raises(ValueError, match="image_size"):
        smplify(kp, conf, f, (0, 100), body_model)
    with pytest.raises(TypeError, match="unknown smplify option"):
        smplify(kp, conf, f, size, body_model, stage_itres=3)
    # a single image without batch dimension is accepted
    k1, c1, f1, s1 = check_inputs(kp[0], conf[0], 1000.0, (640, 480), 14)
    assert k1.shape == (1, 14, 2) and c1.shape == (1, 14) and f1.shape == (1,) and s1.shape == (1, 2)


def test_image_fit_experiment_cli(tmp_path, body_model):
    """`python -m posekit.experiments image-fit`: one row per setting × method × metric, a readable
    results.csv and the markdown tables."""
    from posekit.experiments.__main__ import main
    from posekit.experiments.report import read_results

    rng = np.random.default_rng(0)
    GMMPrior.fit(0.2 * rng.normal(size=(200, 63)), n_components=2).save(tmp_path / "priors" / "gmm.npz")
    out = tmp_path / "out"
    rc = main(["image-fit", "--motions", "synthetic", "--priors", str(tmp_path / "priors"), "--out", str(out),
               "--fast", "--n-images", "2", "--iters", "3", "--methods", "none,gmm"])
    assert rc == 0
    rows = read_results(out / "results.csv")
    pairs = {(r["setting"], r["method"]) for r in rows}
    assert pairs == {("prior-only", "none"), ("+angle", "none"), ("+interpenetration", "none"),
                     ("prior-only", "gmm"), ("exact", "gmm"), ("+angle", "gmm"), ("+interpenetration", "gmm")}
    metrics = {r["metric"] for r in rows}
    assert metrics == {"v2v_mm", "v2v_pa_mm", "surface_mm", "surface_pa_mm", "mpjpe_mm", "mpjpe_pa_mm",
                       "fit_ms_per_image"}
    assert all(r["experiment"] == "image-fit" and r["n"] == 2 and np.isfinite(r["value"]) for r in rows)
    assert (out / "results.md").read_text().count("### image-fit") == 7
    weights = json.loads((out / "weights_image_fit.json").read_text())
    scales, angle = weights["prior_scale"], weights["angle_weight"]
    assert set(scales) == {"gmm"} and scales["gmm"] in (1.0, 100.0)   # calibrated on validation views
    assert set(angle) == {"none", "gmm"} and all(a in (0.0, 3.17) for a in angle.values())
    stab = weights["choice_stability"]
    assert set(stab) == {"prior_scale gmm", "angle_weight none", "angle_weight gmm"}
    assert all(abs(sum(d.values()) - 1.0) < 1e-9 for d in stab.values())


def test_image_fit_fixed_weights_skip_the_calibration(tmp_path):
    """--prior-scales and --angle-weights fix every choice: no validation views are needed or used."""
    from posekit.experiments.__main__ import main

    rng = np.random.default_rng(0)
    GMMPrior.fit(0.2 * rng.normal(size=(200, 63)), n_components=2).save(tmp_path / "priors" / "gmm.npz")
    out = tmp_path / "out"
    rc = main(["image-fit", "--motions", "synthetic", "--priors", str(tmp_path / "priors"), "--out", str(out),
               "--fast", "--n-images", "2", "--iters", "2", "--methods", "none,gmm", "--prior-scales", "gmm=10",
               "--angle-weights", "none=0.5,gmm=0"])
    assert rc == 0
    weights = json.loads((out / "weights_image_fit.json").read_text())
    assert weights["prior_scale"] == {"gmm": 10.0} and weights["angle_weight"] == {"none": 0.5, "gmm": 0.0}
    assert weights["validation_views"] == 0 and weights["choice_stability"] == {}


@pytest.mark.parametrize("case, match", [
    ("one point", "degenerate: every keypoint with confidence > 0 lies at"),
    ("origin", r"degenerate: every keypoint with confidence > 0 lies at \(0.0, 0.0\)"),
    ("far outside", "lies far outside the 640×480 px image"),
    ("1x1 image", "image_size .* degenerate: expected an image of at least 16×16 px"),
    ("focal 1e-9", "focal_length 1e-09 px is degenerate for a 640×480 px image"),
    ("focal 1e9", "focal_length 1e\\+09 px is degenerate"),
])
def test_degenerate_inputs_are_refused_before_fitting(views, body_model, case, match):
    from posekit.errors import InputError

    kp, conf = views["keypoints_2d"][:1].clone(), views["confidence"][:1].clone()
    f, size = 1000.0, (640, 480)
    if case == "one point":
        kp[:] = torch.tensor([300.0, 200.0])
    elif case == "origin":
        kp[:] = 0.0
    elif case == "far outside":
        kp[0, 5] = torch.tensor([1e6, 200.0])
    elif case == "1x1 image":
        size = (1, 1)
    elif case == "focal 1e-9":
        f = 1e-9
    else:
        f = 1e9
    with pytest.raises(InputError, match=match):
        smplify(kp, conf, f, size, body_model, stage_iters=1, camera_iters=1, progress=False)
    # a keypoint far outside with confidence 0 is only a placeholder: accepted
    if case == "far outside":
        conf[0, 5] = 0.0
        check_inputs(kp, conf, f, size, 14)


def test_unknown_config_choices_are_refused_up_front(views, body_model):
    from posekit.errors import InputError

    for key, value in (("optimizer", "sgd"), ("init", "zeros"), ("interpenetration", "mesh"), ("flip_select", "x")):
        with pytest.raises(InputError, match=f"{key} must be one of"):
            smplify(views["keypoints_2d"], views["confidence"], views["focal_length"], views["image_size"],
                    body_model, progress=False, **{key: value})


def test_early_ftol_stops_the_annealing_stages_only(views, body_model):
    """early_ftol: every stage but the last stops once a step lowers the energy by less than that fraction of it
    (the photo budget); the last stage keeps ftol. Default None: every stage as before."""
    from posekit.errors import InputError

    def steps(stage):                                         # steps that changed some image's energy
        t = stage["total"]
        return int((t[1:] != t[:-1]).any(-1).sum())

    ref = _fit(views, body_model, stage_iters=30)
    same = _fit(views, body_model, stage_iters=30, early_ftol=None)
    torch.testing.assert_close(same["body_pose"], ref["body_pose"], rtol=0, atol=0)
    fast = _fit(views, body_model, stage_iters=30, early_ftol=1e-2)
    for s in fast["trace"][1:4]:                              # a step that changed the energy by < 1 % ended the stage
        t = s["total"]
        rel = (t[:-1] - t[1:]).abs() / t[:-1].abs().clamp_min(1.0)        # (iters, images)
        for i in range(t.shape[1]):
            moved = torch.nonzero(t[1:, i] != t[:-1, i]).flatten()
            if len(moved):                                    # after the first small step, no step moved it again
                last = int(moved[-1])
                assert bool((rel[:last, i] >= 1e-2).all()), rel[:, i]
    assert sum(steps(s) for s in fast["trace"][1:4]) < sum(steps(s) for s in ref["trace"][1:4])
    # the last stage is the same stopping rule as before: from fast's start it runs past 1 % changes
    assert steps(fast["trace"][4]) > 0
    with pytest.raises(InputError, match="early_ftol"):
        _fit(views, body_model, stage_iters=1, early_ftol=-1.0)
