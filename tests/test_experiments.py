"""Tests of the experiments (denoise, occlusion, generate, run_all) with a tiny body model and stand-in priors.

References are independent: smplx's own forward for the joints, the tiny model's construction for the
skinning regions, hand computations / closed forms for the metrics, brute force for the nearest pose.
"""
from __future__ import annotations

import argparse
import csv
import json
import math

import numpy as np
import pytest
import torch

from posekit.experiments import common, denoise, generate, occlusion, run_all
from posekit.experiments.common import Clip, FitConfig
from posekit.experiments.report import RESULT_COLUMNS, _check_row, read_results, write_results
from posekit.rotations import aa_to_quat, pose_ndf_distance
from posekit.skeleton import SMPL_JOINT_NAMES, as_body21


# ------------------------------------------------------------------------------------------------
# fixtures: a tiny SMPL-layout body model, a smooth clip, stand-in priors following the protocol
# ------------------------------------------------------------------------------------------------

VPJ = 4  # vertices per joint of the tiny model


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from posekit.body.synthetic import save_tiny_smpl

    return save_tiny_smpl(tmp_path_factory.mktemp("body") / "tiny_smpl.npz", verts_per_joint=VPJ,
                          posedirs_scale=0.001)


@pytest.fixture(scope="module")
def body(tiny_path):
    from posekit.body import load_body_model

    return load_body_model(str(tiny_path), device="cpu")


def make_clip(T: int = 12, seed: int = 0) -> Clip:
    """A smooth synthetic motion: each joint swings sinusoidally with its own phase."""
    g = torch.Generator().manual_seed(seed)
    amp = 0.4 * torch.rand(21, 3, generator=g)
    phase = 6.28 * torch.rand(21, 3, generator=g)
    t = torch.arange(T, dtype=torch.float32)[:, None, None] / 30.0
    body21 = amp * torch.sin(2 * math.pi * 0.5 * t + phase)
    go = torch.stack([0.1 * torch.sin(t[:, 0, 0]), 0.3 + 0.0 * t[:, 0, 0], torch.zeros(T)], -1)
    tr = torch.stack([0.5 * t[:, 0, 0], torch.full((T,), 0.9), torch.zeros(T)], -1)
    return Clip("synthetic", go, body21, tr, 30.0)


class QuadraticPrior:
    """Stand-in prior energy(θ) = ‖θ − c‖² (per pose), following the prior protocol."""

    def __init__(self, center: torch.Tensor):
        self.center = center

    def energy(self, body_pose):
        return (as_body21(body_pose) - self.center).pow(2).sum((-1, -2))

    def sample(self, n):
        c = self.center.reshape(-1, 21, 3)[0]
        return c + 0.1 * torch.randn(n, 21, 3)


class LatentQuadraticPrior(QuadraticPrior):
    """Stand-in latent prior: decode_body21(z) = c + z, energy of the latent ‖z‖²."""

    latent_dim = 63

    def decode_body21(self, z):
        return self.center + z.reshape(-1, 21, 3)


# ------------------------------------------------------------------------------------------------
# noise, body forward, errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_noise_has_requested_sigma(sigma):
    x = torch.zeros(4000, 21, 3)
    g = torch.Generator().manual_seed(1)
    n = common.axis_angle_noise(x, sigma, g)
    assert abs(float(n.std()) - sigma) < 0.02 * sigma
    assert abs(float(n.mean())) < 0.01 * sigma
    with pytest.raises(ValueError, match="sigma"):
        common.axis_angle_noise(x, -1.0)


def test_posed_joints_match_smplx(body):
    clip = make_clip(5)
    J = common.posed_joints(body, clip.global_orient, clip.body21, clip.transl)
    out = body(betas=torch.zeros(5, body.num_betas), global_orient=clip.global_orient,
               body_pose=torch.cat([clip.body21.reshape(5, 63), torch.zeros(5, 6)], 1), transl=clip.transl)
    torch.testing.assert_close(J, out.joints[:, :24], atol=1e-5, rtol=0)
    V = common.posed_vertices(body, clip.global_orient, clip.body21, clip.transl, chunk=2)
    torch.testing.assert_close(V, out.vertices, atol=1e-5, rtol=0)


def test_per_vertex_error_by_hand():
    a = torch.zeros(2, 3, 3)
    b = a.clone()
    b[0, 0] = torch.tensor([0.03, 0.04, 0.0])    # 5 cm
    b[1, 2] = torch.tensor([0.0, 0.0, -0.12])    # 12 cm
    e = common.per_vertex_error_cm(a, b)
    torch.testing.assert_close(e, torch.tensor([5.0 / 3, 12.0 / 3]))
    mask = torch.tensor([True, False, True])
    torch.testing.assert_close(common.per_vertex_error_cm(a, b, mask), torch.tensor([2.5, 6.0]))
    with pytest.raises(ValueError, match="shape"):
        common.per_vertex_error_cm(a, b[:, :2])


def test_part_vertices_follow_skinning_weights(body):
    # the tiny model's vertex v belongs to joint v // VPJ with weight 0.8 (+0.2 on its parent)
    owner = torch.arange(body.lbs_weights.shape[0]) // VPJ
    for part, names in common.PARTS.items():
        joints = common.part_joints(part)
        assert joints == [SMPL_JOINT_NAMES.index(n) for n in names]
        mask = common.part_vertex_mask(body.lbs_weights, joints)
        expected = torch.isin(owner, torch.tensor(joints))
        assert torch.equal(mask, expected), part
        assert all("left" in n for n in names)
    with pytest.raises(ValueError, match="unknown part"):
        common.part_joints("tail")


# ------------------------------------------------------------------------------------------------
# denoising and occlusion fits
# ------------------------------------------------------------------------------------------------


def test_zero_noise_no_prior_returns_clean_motion(body):
    clip = make_clip(10)
    obs = common.posed_joints(body, clip.global_orient, clip.body21, clip.transl)
    out = common.fit_motion(body, clip, obs, prior=None, init_body21=clip.body21,
                            cfg=FitConfig(w_smooth=0.0, steps=20))
    assert common.clip_vertex_error(body, clip, out) < 1e-3


def test_denoise_clip_zero_sigma(body):
    clip = make_clip(8)
    res = denoise.denoise_clip(body, clip, 0.0, {"none": None}, {"none": FitConfig(w_smooth=0.0, steps=10)},
                               torch.Generator().manual_seed(0))
    assert res["input_err"] < 1e-4
    assert res["errors"]["none"] < 1e-3


@pytest.mark.parametrize("prior_cls", [QuadraticPrior, LatentQuadraticPrior])
def test_prior_centred_on_truth_reduces_error(body, prior_cls):
    clip = make_clip(12)
    prior = prior_cls(clip.body21.clone())
    cfg = FitConfig(w_smooth=0.0, w_prior=3000.0, steps=100)
    res = denoise.denoise_clip(body, clip, 0.3, {"none": None, "quad": prior},
                               {"none": FitConfig(w_smooth=0.0, steps=100), "quad": cfg}, torch.Generator().manual_seed(3))
    assert res["errors"]["quad"] < 0.5 * res["input_err"], res
    assert res["errors"]["quad"] < res["errors"]["none"], res


def test_occlusion_prior_fills_hidden_part(body):
    clip = make_clip(10)
    cfgs = {"none": FitConfig(w_smooth=0.0, steps=100, lr=0.05),
            "quad": FitConfig(w_smooth=0.0, w_prior=1.0, steps=100, lr=0.05)}
    res = occlusion.complete_clip(body, clip, "leg", {"none": None, "quad": QuadraticPrior(clip.body21.clone())}, cfgs)
    # without a prior the hidden leg stays at the rest pose; a prior centred on the truth recovers it
    assert res["hidden"]["quad"] < 0.3 * res["hidden"]["none"], res
    assert res["all"]["quad"] < res["all"]["none"]
    left_hip = SMPL_JOINT_NAMES.index("left_hip") - 1
    assert torch.allclose(res["results"]["none"][:, left_hip], torch.zeros(10, 3))


# ------------------------------------------------------------------------------------------------
# generation metrics
# ------------------------------------------------------------------------------------------------


def test_apd_closed_form():
    # one joint at 0, (1,0,0), (0,2,0) m: pair distances 1, 2, √5 m
    x = torch.tensor([[[0.0, 0, 0]], [[1.0, 0, 0]], [[0.0, 2, 0]]])
    assert common.apd_cm(x) == pytest.approx(100 * (1 + 2 + math.sqrt(5)) / 3, rel=1e-6)
    # two joints: the per-joint distances are averaged
    y = torch.cat([x, torch.zeros(3, 1, 3)], 1)
    assert common.apd_cm(y) == pytest.approx(100 * (1 + 2 + math.sqrt(5)) / 6, rel=1e-6)
    with pytest.raises(ValueError):
        common.apd_cm(x[:1])


def test_nearest_pose_distance_brute_force():
    g = torch.Generator().manual_seed(0)
    samples = 0.8 * torch.randn(7, 21, 3, generator=g)
    train = 0.8 * torch.randn(53, 21, 3, generator=g)
    w = torch.rand(21, generator=g) + 0.5
    d, i = common.nearest_pose_distance(samples, train, chunk=10, weights=w)
    qs, qt = aa_to_quat(samples), aa_to_quat(train)
    brute = torch.stack([torch.stack([pose_ndf_distance(qs[a], qt[b], w) for b in range(53)]) for a in range(7)])
    torch.testing.assert_close(d, brute.min(1).values, atol=1e-5, rtol=0)
    assert torch.equal(i, brute.argmin(1))
    # a training pose itself is at distance 0
    d0, i0 = common.nearest_pose_distance(train[5:6], train)
    assert float(d0) < 1e-3 and int(i0) == 5


def test_uniform_samples_are_unit_rotations():
    s = generate.sample_poses("none", None, 50, torch.Generator().manual_seed(0))
    assert s.shape == (50, 21, 3)
    assert float(s.norm(dim=-1).max()) <= math.pi + 1e-5


# ------------------------------------------------------------------------------------------------
# rows, CLI, run_all end to end
# ------------------------------------------------------------------------------------------------


def _args(tmp_path, body, priors, **kw):
    p = argparse.ArgumentParser()
    run_all.add_arguments(p)
    ns = p.parse_args([])
    ns.motions, ns.priors, ns.out, ns.fast, ns.seed, ns.device = str(tmp_path), str(tmp_path), str(tmp_path / "out"), True, 0, "cpu"
    ns.body_model = body
    ns.prior_objects = priors
    clip = make_clip(12)
    ns.clips_by_length = {12: [clip]}
    ns.val_clip_list = [make_clip(12, seed=5)]
    g = torch.Generator().manual_seed(0)
    ns.train_poses = 0.3 * torch.randn(200, 21, 3, generator=g)
    ns.reference_poses = 0.3 * torch.randn(30, 21, 3, generator=g)
    ns.steps, ns.samples, ns.skip = 8, 12, "image-fit,table1"
    ns.sigmas, ns.parts, ns.smooth_weight, ns.prior_weights = "0.5", "leg", 1.0, "vposer=1"  # gmm's weight is tuned
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_rows_validate_and_roundtrip(tmp_path, body):
    clip = make_clip(12)
    cfgs = {"none": FitConfig(steps=5), "gmm": FitConfig(steps=5)}
    rows = denoise.denoise_rows(body, {12: [clip]}, {"none": None, "gmm": QuadraticPrior(clip.body21)}, (0.1,),
                               {0.1: cfgs}, log=lambda *_: None)
    from posekit.fitting.metrics import MOTION_METRICS
    assert {r["metric"] for r in rows} == set(MOTION_METRICS) | {f"noisy_input_{k}" for k in MOTION_METRICS}
    checked = [_check_row(r) for r in rows]
    path = write_results(rows, tmp_path)
    back = read_results(path)
    assert [(r["setting"], r["method"], r["metric"]) for r in back] == [(r["setting"], r["method"], r["metric"]) for r in checked]
    np.testing.assert_allclose([r["value"] for r in back], [r["value"] for r in checked], rtol=1e-5)
    bad = dict(rows[0], method="no-such-prior")
    with pytest.raises(ValueError, match="method"):
        _check_row(bad)


def test_row_statistics():
    r = common.row("denoise", "s", "none", "v2v_cm", [1.0, 3.0])
    assert (r["value"], r["std"], r["n"]) == (2.0, 1.0, 2)
    assert math.isnan(common.row("denoise", "s", "none", "v2v_cm", [4.0])["std"])


def test_run_all_end_to_end(tmp_path, body):
    clip = make_clip(12)
    priors = {"gmm": QuadraticPrior(clip.body21.clone()), "vposer": LatentQuadraticPrior(clip.body21.clone())}
    args = _args(tmp_path, body, priors, methods="none,gmm,vposer")
    rows = run_all.run(args)
    out = tmp_path / "out"
    with open(out / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == RESULT_COLUMNS == ("experiment", "setting", "method", "metric", "value", "std", "n")
    back = read_results(out / "results.csv")
    assert len(back) == len(rows) > 0
    assert {r["experiment"] for r in back} == {"denoise", "occlusion", "generate"}
    assert {r["method"] for r in back} == {"none", "gmm", "vposer"}
    report = (out / "report.md").read_text()
    for needle in ("Motion denoising", "Occlusion completion", "Pose generation", "8.46", "57.39", "total run time"):
        assert needle in report
    for png in ("denoise.png", "occlusion.png", "generate_grid.png", "denoise_before_after.png", "occlusion_before_after.png"):
        assert (out / png).stat().st_size > 1000
    weights = json.loads((out / "weights_denoise.json").read_text())["sigma=0.5"]
    assert weights["vposer"] == 1.0 and weights["smooth"] == 1.0 and weights["gmm"] > 0
    # appending: a second run keeps the first run's rows
    run_all.run(_args(tmp_path, body, priors, methods="none", skip="image-fit,occlusion,generate,table1"))
    from posekit.fitting.metrics import MOTION_METRICS
    assert len(read_results(out / "results.csv")) == len(rows) + 2 * len(MOTION_METRICS)  # 1 sigma x (input, none) x metrics


def test_cli_parses_and_rejects_bad_methods():
    from posekit.experiments.__main__ import build_parser

    p = build_parser()
    a = p.parse_args(["denoise", "--motions", "m", "--priors", "p", "--out", "o", "--methods", "none",
                      "--sigmas", "0.1", "--lengths", "30"])
    assert a.methods == "none" and a.sigmas == "0.1" and a.lengths == "30"
    st = denoise.settings_from_args(a)
    assert st["sigmas"] == (0.1,) and st["lengths"] == (30,)
    with pytest.raises(ValueError, match="unknown"):
        common.parse_methods("none,nosuchprior")
    assert common.parse_methods("none,humor") == ["none", "humor"]
    a = p.parse_args(["all", "--motions", "m", "--priors", "p", "--out", "o", "--parts", "leg"])
    assert occlusion.settings_from_args(a)["parts"] == ("leg",)


def test_cli_denoise_writes_results_csv(tmp_path):
    """``python -m posekit.experiments denoise`` end to end on an AMASS-style file, no prior, the open body model."""
    from posekit.experiments.__main__ import main

    motions = tmp_path / "motions"
    motions.mkdir()
    clip = make_clip(24)
    poses = np.zeros((24, 156), dtype=np.float64)
    poses[:, :3] = clip.global_orient.numpy()
    poses[:, 3:66] = clip.body21.reshape(24, 63).numpy()
    np.savez(motions / "01_01_poses.npz", poses=poses, trans=clip.transl.numpy().astype(np.float64),
             mocap_framerate=np.float64(30.0))
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="no file of a held-out subject"):  # subject 01 is a train subject
        rc = main(["denoise", "--motions", str(motions), "--priors", str(tmp_path / "priors"), "--out", str(out),
                   "--fast", "--methods", "none", "--lengths", "10", "--clips", "2", "--sigmas", "0.1", "--steps", "3",
                   "--no-tune", "--device", "cpu"])
    assert rc == 0
    with open(out / "results.csv", newline="") as f:
        lines = f.read().splitlines()
    assert lines[0] == "experiment,setting,method,metric,value,std,n"
    rows = read_results(out / "results.csv")
    from posekit.fitting.metrics import MOTION_METRICS
    assert {(r["setting"], r["method"], r["metric"], r["n"]) for r in rows} == {
        ("sigma=0.1,frames=10", "none", m, 2) for k in MOTION_METRICS for m in (k, f"noisy_input_{k}")}
    assert (out / "denoise.png").exists() and (out / "results.md").exists()
    with pytest.raises(SystemExit):
        main(["denoise", "--motions", str(motions)])  # --priors and --out are required


def test_settings_are_frozen_data_and_the_plain_functions_match_the_command_line(tmp_path, body):
    """The command line only parses into settings: ``run(args)`` and ``run_denoise(settings, body, priors)`` with
    the same clips give the same rows; settings are frozen and read like the dicts they replaced."""
    import dataclasses

    from posekit.experiments import generate, occlusion
    from posekit.experiments.__main__ import build_parser

    args = build_parser().parse_args(["denoise", "--motions", "m", "--priors", "p", "--out", str(tmp_path), "--fast",
                                      "--sigmas", "0.5", "--steps", "6", "--no-tune"])
    st = denoise.settings_from_args(args)
    assert isinstance(st, denoise.DenoiseSettings) and st["sigmas"] == st.sigmas == (0.5,)
    assert st == denoise.DenoiseSettings.quick(motions="m", sigmas=(0.5,), steps=6, fixed=st.fixed, methods=st.methods)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.steps = 3
    assert st.replace(steps=3).steps == 3 and st.steps == 6
    oargs = build_parser().parse_args(["occlusion", "--motions", "m", "--priors", "p", "--out", "o", "--fast"])
    ost = occlusion.settings_from_args(oargs)
    assert ost == occlusion.OcclusionSettings.quick(motions="m", fixed=ost.fixed, methods=ost.methods)
    gargs = build_parser().parse_args(["generate", "--motions", "m", "--priors", "p", "--out", "o", "--fast"])
    gst = generate.settings_from_args(gargs)
    assert gst == generate.GenerateSettings.quick(motions="m", methods=gst.methods)

    clip = make_clip(12)
    priors = {"none": None, "gmm": QuadraticPrior(clip.body21)}
    quiet = dict(log=lambda *_: None)
    direct = denoise.run_denoise(st, body, priors, clips={12: [clip]}, **quiet)
    ns = args
    ns.body_model, ns.prior_objects, ns.clips_by_length, ns.methods = body, priors, {12: [clip]}, "none,gmm"
    via_cli = denoise.run(ns)
    assert [(r["setting"], r["method"], r["metric"]) for r in direct] == \
        [(r["setting"], r["method"], r["metric"]) for r in via_cli]
    np.testing.assert_allclose([r["value"] for r in direct], [r["value"] for r in via_cli], rtol=1e-6)
    assert (tmp_path / "weights_denoise.json").exists() and (tmp_path / "denoise.png").exists()


def test_image_fit_settings_and_the_plain_function_match_the_command_line(tmp_path, body):
    """``image-fit`` too: the command line parses into ``ImageFitSettings``; ``run(args)`` and
    ``run_image_fit(settings, body, priors)`` give the same rows; a method without a prior is refused."""
    import dataclasses

    from posekit.errors import InputError
    from posekit.experiments import image_fit
    from posekit.experiments.__main__ import build_parser

    args = build_parser().parse_args(["image-fit", "--motions", "synthetic", "--priors", str(tmp_path / "p"),
                                      "--out", str(tmp_path), "--fast", "--n-images", "2", "--iters", "2",
                                      "--methods", "none,vposer", "--prior-scales", "vposer=1",
                                      "--angle-weights", "none=0,vposer=0"])
    st = image_fit.settings_from_args(args)
    assert st == image_fit.ImageFitSettings.quick(motions="synthetic", methods=("none", "vposer"), n_images=2,
                                                  iters=2, prior_scales={"vposer": 1.0},
                                                  angle_weights={"none": 0.0, "vposer": 0.0})
    assert st["n_images"] == 2 and st.camera_iters == 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.iters = 3
    prior = QuadraticPrior(torch.zeros(1, 21, 3))
    priors = {"none": None, "vposer": prior}          # a stand-in under a registered name
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        direct = image_fit.run_image_fit(st, body, priors, log=lambda *_: None)
    ns = args
    ns.body_model, ns.prior_objects = body, priors
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        via_cli = image_fit.run(ns)
    key = lambda rows: [(r["setting"], r["method"], r["metric"]) for r in rows if r["metric"] != "fit_ms_per_image"]
    assert key(direct) == key(via_cli) and {r["n"] for r in direct} == {2}
    value = lambda rows: [r["value"] for r in rows if r["metric"] != "fit_ms_per_image"]
    np.testing.assert_allclose(value(direct), value(via_cli), rtol=1e-6)
    assert (tmp_path / "weights_image_fit.json").exists()
    with pytest.raises(InputError, match="no prior given"):
        image_fit.run_image_fit(st.replace(methods=("none", "posendf")), body, priors)



def test_available_methods_with_and_without_a_priors_folder(tmp_path, monkeypatch):
    """``available_methods()`` (no folder): the shipped priors; with a folder, also the files in it. With no
    shipped file at all, only ``none``, the priors built in code and the folder's files are left."""
    import posekit.priors.store as store
    from posekit.experiments.image_fit import available_methods
    from posekit.priors import registry

    built = [m for m in registry.pose_prior_names() if registry.PRIORS[m].build is not None]
    shipped = [m for m in registry.pose_prior_names() if store.pretrained_path(m, verify=False) is not None]
    assert available_methods() == [registry.NO_PRIOR] + [m for m in registry.pose_prior_names()
                                                         if m in built or m in shipped]
    monkeypatch.setattr(store, "pretrained_path", lambda name, verify=True: None)
    assert available_methods() == [registry.NO_PRIOR] + built
    name = next(m for m in registry.pose_prior_names() if m not in built)
    store.prior_path(name, tmp_path).write_bytes(b"")
    assert available_methods(tmp_path) == [registry.NO_PRIOR] + [m for m in registry.pose_prior_names()
                                                                 if m in built or m == name]

def test_the_report_has_table1_beside_the_paper_with_its_verdicts():
    """``experiments all`` runs table1 too; its report section shows each row beside the paper's number and the
    papers' directions as paired verdicts (here constructed: SMPL-X with all keypoints 10 mm better on every view)."""
    from posekit.experiments.paper_numbers import TABLE1

    units = [f"view {i}" for i in range(8)]
    base = np.linspace(50, 70, 8)

    def row(method, values):
        return {"experiment": "table1", "setting": "whole-body views", "method": method, "metric": "v2v_pa_mm",
                "value": float(np.mean(values)), "std": float(np.std(values)), "n": 8, "units": units,
                "values": [float(v) for v in values]}

    rows = [row("smpl-body", base), row("smplx-all", base - 10.0)]
    text = "\n".join(run_all.table1_section(rows))
    assert "table1" in run_all.ORDER
    assert f"| smplx-all | {TABLE1['values']['smplx-all']:.1f} |" in text
    assert "agrees" in text and "SMPL-X" in text
    assert run_all.table1_section([r for r in rows if r["experiment"] != "table1"][:0]) == []
