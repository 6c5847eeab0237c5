"""The keypoints -> body regressor (posekit.fitting.regress, posekit.train.regressor) and fits started from it."""
from __future__ import annotations

import pytest
import roma
import torch

from posekit.errors import InputError
from posekit.fitting import regress as rg


@pytest.fixture(scope="module")
def body():
    from posekit.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def poses():
    """Real poses of the embedded sample (validation and test subjects): one half to train on, one to hold out."""
    from posekit.data import pose_dataset
    from posekit.data.paths import embedded_sample_dir

    ds = pose_dataset(embedded_sample_dir(), progress=False)
    x = torch.cat([ds.body21("val"), ds.body21("test")])
    g = torch.Generator().manual_seed(0)
    x = x[torch.randperm(len(x), generator=g)]
    return x[:1500], x[-200:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, poses):
    from posekit.train.regressor import train

    train_poses, held_out = poses
    out = tmp_path_factory.mktemp("reg") / "regressor.pt"
    train(None, out, fast=True, seed=0, progress=False, splits={"train": train_poses, "val": held_out[:100]},
          max_seconds=15)
    return rg.KeypointRegressor.load(out), out


def _views(body, poses, seed=3):
    from posekit.fitting.synthetic_views import make_views

    v = make_views(body, poses, seed=seed)
    v["boxes"] = rg.keypoint_boxes(v["keypoints_2d"], v["confidence"])
    return v


def test_outputs_have_shapes_and_are_valid_rotations(body, poses, trained):
    model, _ = trained
    v = _views(body, poses[1][:16])
    out = rg.regress(v["keypoints_2d"], v["confidence"], v["boxes"], model, focal_length=v["focal_length"],
                     image_size=v["image_size"], body_model=body)
    B = 16
    assert out["global_orient"].shape == (B, 3) and out["body_pose"].shape == (B, 69)
    assert out["body21"].shape == (B, 21, 3) and out["rotmat"].shape == (B, 22, 3, 3)
    assert out["betas"].shape == (B, body.shapedirs.shape[-1]) and out["camera"].shape == (B, 3)
    assert out["transl"].shape == (B, 3)
    for k, x in out.items():
        assert torch.isfinite(x).all(), k
    R = out["rotmat"]
    eye = torch.eye(3).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(B, 22), atol=1e-5, rtol=0)
    # the axis-angle outputs are the same rotations (roma's conversion as the reference)
    aa = torch.cat([out["global_orient"][:, None], out["body21"]], 1)
    torch.testing.assert_close(roma.rotvec_to_rotmat(aa), R, atol=1e-4, rtol=0)
    assert (out["body_pose"][:, 63:] == 0).all()                 # the hands stay at rest
    assert (out["transl"][:, 2] > 0).all()                        # in front of the camera


def test_camera_round_trip_and_pelvis_projection(body):
    """transl -> weak-perspective camera -> transl is the identity, and s·(J0_xy + t) is exactly where the
    perspective camera puts the pelvis in box units (the pelvis lies at depth D)."""
    from posekit.fitting import perspective_projection

    g = torch.Generator().manual_seed(1)
    B = 8
    betas = torch.randn(B, 10, generator=g)
    root = rg._rest_pelvis(body, betas)
    # the pelvis J_0(β) by smplx's own joint regressor on the shaped mesh
    out = body(betas=betas, global_orient=torch.zeros(B, 3), body_pose=torch.zeros(B, 69))
    torch.testing.assert_close(root, out.joints[:, 0], atol=1e-5, rtol=0)
    transl = torch.stack([torch.randn(B, generator=g) * 0.3, torch.randn(B, generator=g) * 0.3,
                          3 + 5 * torch.rand(B, generator=g)], 1)
    f = 800 + 700 * torch.rand(B, generator=g)
    size = torch.tensor([[1000.0, 800.0]]).expand(B, 2)
    lo = 200 + 400 * torch.rand(B, 2, generator=g)
    boxes = torch.cat([lo, lo + 100 + 300 * torch.rand(B, 1, generator=g)], 1)
    cam = rg.transl_to_camera(transl, root, f, size, boxes)
    torch.testing.assert_close(rg.camera_to_transl(cam, root, f, size, boxes), transl, atol=1e-4, rtol=1e-5)
    pelvis_px = perspective_projection((root + transl)[:, None], f, 0.5 * size)[:, 0]
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    b = (boxes[:, 2:] - boxes[:, :2]).amax(-1)
    torch.testing.assert_close((pelvis_px - c) / b[:, None], cam[:, :1] * (root[:, :2] + cam[:, 1:]),
                               atol=1e-4, rtol=1e-4)


def test_keypoint_boxes_cover_the_visible_keypoints():
    kp = torch.tensor([[[10.0, 20.0], [110.0, 60.0], [500.0, 500.0]] + [[50.0, 40.0]] * 11])
    conf = torch.ones(1, 14)
    conf[0, 2] = 0                                                   # the far point is not seen
    box = rg.keypoint_boxes(kp, conf, pad=1.2)
    torch.testing.assert_close(box, torch.tensor([[0.0, -20.0, 120.0, 100.0]]))


def test_training_lowers_validation_error(trained):
    model, _ = trained
    h = model.history
    assert h["fast"] is True and len(h["val_mpjpe_mm"]) >= 2
    assert h["best_val_mpjpe_mm"] < 0.6 * h["val_mpjpe_mm_initial"], h


def test_fit_from_the_regressor_lowers_the_data_term(body, poses, trained):
    """On held-out views the refinement never ends with a larger keypoint reprojection energy than the
    regressor's own body (the same E_J, Geman–McClure, smplify's sigma)."""
    from posekit.fitting import full_forward, joint_energy, perspective_projection, smplify
    from posekit.fitting.keypoints import KeypointMap

    model, _ = trained
    v = _views(body, poses[1][:8], seed=5)
    opts = rg.start_options(v["keypoints_2d"], v["confidence"], v["focal_length"], v["image_size"], body, model)
    s = opts["start"]
    with torch.no_grad():
        verts, joints = full_forward(body, s["betas"], s["global_orient"], s["body_pose"], s["transl"])
        proj = perspective_projection(KeypointMap(body).from_mesh(joints, verts), v["focal_length"], 0.5 * v["image_size"])
    e_reg = joint_energy(proj, v["keypoints_2d"], v["confidence"], 100.0)
    fit = smplify(v["keypoints_2d"], v["confidence"], v["focal_length"], v["image_size"], body, None,
                  progress=False, stage_iters=15, camera_iters=5, angle_weight=0.0, sp_weight=0.0, **opts)
    assert fit["energies"]["data"].shape == (8,)
    assert float(fit["energies"]["data"].mean()) <= float(e_reg.mean())
    assert not fit["flipped"].any()                                   # one hypothesis: the regressor's


def test_save_load_round_trip_uses_weights_only(trained, tmp_path, monkeypatch, body, poses):
    model, path = trained
    calls = []
    real = torch.load

    def spy(*a, **k):
        calls.append(k.get("weights_only"))
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    again = rg.load_regressor(path)
    assert calls and all(c is True for c in calls)
    v = _views(body, poses[1][:4])
    a = rg.regress(v["keypoints_2d"], v["confidence"], v["boxes"], model)
    b = rg.regress(v["keypoints_2d"], v["confidence"], v["boxes"], again)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert again.config == model.config and again.history["best_val_mpjpe_mm"] == model.history["best_val_mpjpe_mm"]


def test_bad_files_raise_input_error(tmp_path, trained):
    _, path = trained
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a regressor at all")
    with pytest.raises(InputError, match="junk.pt"):
        rg.load_regressor(junk)
    obj = torch.load(path, weights_only=True)
    wrong = tmp_path / "wrong.pt"
    torch.save({**obj, "format": "posekit.vposer/1"}, wrong)
    with pytest.raises(InputError, match="VPoser"):
        rg.load_regressor(wrong)
    shape = tmp_path / "shape.pt"
    torch.save({**obj, "config": {**obj["config"], "hidden": 7}}, shape)
    with pytest.raises(InputError, match="keypoint regressor"):
        rg.load_regressor(shape)
    with pytest.raises(FileNotFoundError):
        rg.load_regressor(tmp_path / "absent.pt")


@pytest.mark.parametrize("change, fragment", [
    (lambda kp, c, b: (kp[:, :10], c, b), "keypoints must have shape"),
    (lambda kp, c, b: (kp, c[:, :5], b), "confidences must have shape"),
    (lambda kp, c, b: (kp, c, b[:, :3]), "boxes must have shape"),
    (lambda kp, c, b: (kp * float("nan"), c, b), "finite"),
    (lambda kp, c, b: (kp, -c, b), ">= 0"),
    (lambda kp, c, b: (kp, c, b[:, [2, 1, 0, 3]]), "x1 > x0"),
    (lambda kp, c, b: (kp, 0 * c, b), "at least one keypoint"),
])
def test_bad_inputs_raise_input_error(trained, change, fragment):
    model, _ = trained
    kp = 100 + 300 * torch.rand(2, 14, 2, generator=torch.Generator().manual_seed(0))
    conf = torch.ones(2, 14)
    args = change(kp, conf, rg.keypoint_boxes(kp, conf))
    with pytest.raises(InputError, match=fragment):
        rg.regress(*args, model)


def test_smplify_start_is_checked(body):
    from posekit.fitting import smplify

    kp = 400 + 200 * torch.rand(1, 14, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="missing"):
        smplify(kp, torch.ones(1, 14), 1000.0, (1000, 1000), body, None, progress=False,
                start={"betas": torch.zeros(1, 10)})
    with pytest.raises(InputError, match="body_pose"):
        smplify(kp, torch.ones(1, 14), 1000.0, (1000, 1000), body, None, progress=False,
                start={"betas": torch.zeros(1, 10), "global_orient": torch.zeros(1, 3),
                       "body_pose": torch.zeros(1, 63), "transl": torch.zeros(1, 3)})


@pytest.mark.parametrize("argv, fragment", [
    (["--epochs", "0"], "--epochs must be > 0"),
    (["--max-seconds", "-1"], "--max-seconds must be > 0"),
])
def test_train_cli_bad_options_exit_2(tmp_path, capsys, argv, fragment):
    from posekit.train.__main__ import main

    rc = main(["regressor", "--motions", str(tmp_path), "--out", str(tmp_path / "r.pt"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and fragment in err, err
    assert not (tmp_path / "r.pt").exists()


@pytest.mark.parametrize("extra, fragment", [
    (["--init", "bogus"], "--init must be one of rest, regressor"),
    (["--init", "regressor", "--regressor", "absent.pt"], "no such file"),
    (["--regressor", "absent.pt"], "--regressor is used with --init regressor only"),
])
def test_image_fit_cli_bad_init_exit_2(tmp_path, capsys, extra, fragment):
    from posekit.experiments.__main__ import main

    rc = main(["image-fit", "--motions", str(tmp_path), "--priors", str(tmp_path / "p"), "--out", str(tmp_path / "o"),
               *extra])
    err = capsys.readouterr().err
    assert rc == 2 and fragment in err, err
    assert not (tmp_path / "o").exists()


def test_fit_image_cli_bad_init_exit_2(tmp_path, capsys):
    from posekit.fit.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["image", str(tmp_path / "x.jpg"), "--out", str(tmp_path / "o"), "--init", "bogus"])
    assert e.value.code == 2 and "--init" in capsys.readouterr().err


def test_pinned_expectations_compare_two_settings():
    """"m@setting" sides: a regressor-start row against the same prior's fixed-start row, paired by view."""
    from posekit.experiments.paper_numbers import Expectation
    from posekit.experiments.verdicts import AGREES, CONTRADICTS, expectation_verdicts

    units = [f"view {i}" for i in range(20)]
    base = [100.0 + i for i in range(20)]
    rows = [{"experiment": "image-fit", "setting": s, "method": m, "metric": "v2v_mm", "units": units,
             "values": [x + d for x in base]}
            for s, m, d in (("+angle", "posendf", 0.0), ("regressor-start", "posendf", -5.0),
                            ("regressor-start", "regressor", -3.0), ("regressor-start", "none", 30.0))]
    e_keep = Expectation("t", "image-fit", "v2v_mm", "posendf@regressor-start", "posendf@+angle")
    e_drift = Expectation("t", "image-fit", "v2v_mm", "regressor", "none")
    e_wrong = Expectation("t", "image-fit", "v2v_mm", "regressor", "posendf")
    found = expectation_verdicts(rows, [e_keep, e_drift, e_wrong])
    by = {v["expectation"]: v for v in found}
    assert len(found) == 3
    assert by[e_keep]["verdict"] == AGREES and by[e_keep]["difference"].mean == pytest.approx(-5.0)
    assert by[e_drift]["verdict"] == AGREES and by[e_drift]["difference"].mean == pytest.approx(-33.0)
    assert by[e_wrong]["verdict"] == CONTRADICTS and by[e_wrong]["difference"].mean == pytest.approx(2.0)
    from posekit.experiments.record_view import verdict_table
    from posekit.experiments.verdicts import side_name

    assert side_name("posendf@regressor-start") == "Pose-NDF (regressor-start)"
    assert "Pose-NDF (regressor-start) < Pose-NDF (+angle)" in verdict_table(rows, "image-fit")


def test_table5_right_half_has_paper_numbers_and_expectations():
    from posekit.experiments.paper_numbers import EXPECTATIONS, TABLE5_IMAGE_FIT, method_of

    t = TABLE5_IMAGE_FIT
    assert t["expose+optimization"]["no prior"] > t["expose"] > t["expose+optimization"]["Pose-NDF"]
    ndf = method_of("Pose-NDF")
    pairs = {(e.lower, e.higher) for e in EXPECTATIONS if e.experiment == "image-fit"}
    assert ("regressor", "none") in pairs and (ndf, "regressor") in pairs
    assert (f"{ndf}@regressor-start", f"{ndf}@+angle") in pairs


def test_shipped_regressor_matches_its_manifest():
    from posekit.data.download import sha256_file
    from posekit.priors.store import pretrained_manifest

    entry = pretrained_manifest().get("models", {}).get("regressor")
    if entry is None:
        pytest.skip("this copy of posekit ships no regressor")
    path = rg.pretrained_regressor_path()
    assert path is not None and sha256_file(path) == entry["sha256"] and path.stat().st_size <= 2_500_000
    model = rg.load_regressor()
    assert model.history["best_val_mpjpe_mm"] == pytest.approx(entry["validation"]["val_mpjpe_mm"], abs=0.01)
    assert model.history["best_val_mpjpe_mm"] < model.history["val_mpjpe_mm_initial"]


def test_train_all_keeps_the_models_entry(tmp_path):
    import json

    from posekit.train.all import write_manifest

    (tmp_path / "manifest.json").write_text(json.dumps({"priors": {}, "models": {"regressor": {"file": "r.pt"}}}))
    write_manifest(tmp_path, {}, "M", {"train": []}, False, 0)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["models"] == {"regressor": {"file": "r.pt"}} and m["priors"] == {}


def test_photo_fit_starts_from_the_regressor(body, poses, trained):
    """fit_photo(init="regressor") runs one hypothesis and SMPLify's last stage only; a bad init is refused."""
    import numpy as np

    from posekit.fitting import SMPLIFY_STAGES
    from posekit.fitting.synthetic_views import make_views
    from posekit.photo.fit import fit_photo

    model, _ = trained
    v = make_views(body, poses[1][:1], seed=7, image_size=(400, 400), focal_range=(400.0, 500.0))
    image = np.full((400, 400, 3), 128, dtype=np.uint8)
    kw = dict(prior=None, body_model=body, focal_length=float(v["focal_length"][0]), keypoints=v["keypoints_2d"][0].numpy(),
              confidence=v["confidence"][0].numpy(), stage_iters=5, camera_iters=2)
    r = fit_photo(image, init="regressor", regressor=model, **kw)
    stages = [s for s in r["fit"]["trace"] if s["stage"] != "camera"]
    assert len(stages) == 1 and stages[0]["weights"] == {"pose": SMPLIFY_STAGES[-1][0], "shape": SMPLIFY_STAGES[-1][1]}
    assert torch.isfinite(r["fit"]["vertices"]).all()
    with pytest.raises(InputError, match="init must be one of"):
        fit_photo(image, init="bogus", **kw)
