"""Table 2's "gender neutral model" row in ``posekit.experiments.table1``: gendered views, the rows, the paper's
number and direction, and the verdict on paired views."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

smplx = pytest.importorskip("smplx")


@pytest.fixture(scope="module")
def models():
    from posekit.body import load_body_model

    return {g: load_body_model("open", model_type="smplx", gender=g, device="cpu", use_pca=True, num_pca_comps=12)
            for g in ("neutral", "male", "female")}


def test_gendered_views_half_male_half_female(models):
    """The first N // 2 views are the male model's bodies, the rest the female model's: each view's vertices are
    plain smplx's forward pass of its own sex's model with the view's parameters (and not the other sex's)."""
    from posekit.experiments.table1 import gendered_views

    poses = 0.2 * torch.randn(5, 63, generator=torch.Generator().manual_seed(1))
    views = gendered_views(models, poses, seed=3)
    assert views["sex"].tolist() == [0, 0, 1, 1, 1]
    assert views["vertices"].shape == (5, models["male"].v_template.shape[0], 3)
    assert views["keypoints_2d"].shape[0] == views["confidence"].shape[0] == views["focal_length"].shape[0] == 5
    for i in range(5):
        keys = ("betas", "expression", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")
        kw = {k: views[k][i:i + 1] for k in keys}
        z = torch.zeros(1, 3)
        err = {}
        for s in ("male", "female"):
            with torch.no_grad():
                v = models[s](**kw, leye_pose=z, reye_pose=z, transl=z).vertices[0] + views["transl"][i]
            err[s] = float((v - views["vertices"][i]).abs().max())
        own, other = ("male", "female") if i < 2 else ("female", "male")
        assert err[own] < 1e-5 and err[other] > 1e-3, (i, err)


def test_gender_rows_are_options_and_default():
    from argparse import Namespace

    from posekit.errors import InputError
    from posekit.experiments.table1 import CONFIGS, GENDER_CONFIGS, settings_from_args

    st = settings_from_args(Namespace(fast=True))
    assert st["configs"] == (*CONFIGS, *GENDER_CONFIGS)              # `experiments table1` and `all` run them
    st = settings_from_args(Namespace(fast=True, configs="smplx-gendered,smplx-neutral-on-gendered"))
    assert st["configs"] == ("smplx-gendered", "smplx-neutral-on-gendered")
    with pytest.raises(InputError, match="--configs"):
        settings_from_args(Namespace(fast=True, configs="smplx-female"))



def test_run_table1_refuses_unknown_rows_before_any_work():
    """From Python the settings skip the command line's check: an unknown row is refused, not left out."""
    from posekit.errors import InputError
    from posekit.experiments.table1 import Table1Settings, run_table1

    for configs in (("smplx-all", "smplx-al"), ()):
        with pytest.raises(InputError, match="expected rows among"):
            run_table1(Table1Settings.quick(configs=configs), prior=None, device="cpu")

def test_paper_number_and_direction():
    from posekit.experiments.paper_numbers import TABLE1, TABLE2_GENDER, expectations, method_label

    assert TABLE2_GENDER["values"] == {"smplx-gendered": 52.9, "smplx-neutral-on-gendered": 58.0}
    assert TABLE2_GENDER["values"]["smplx-gendered"] == TABLE1["values"]["smplx-all"]   # the same SMPLify-X fit
    (e,) = [e for e in expectations() if e.source == "SMPLify-X Table 2" and e.experiment == "table1"]
    assert (e.lower, e.higher, e.metric) == ("smplx-gendered", "smplx-neutral-on-gendered", "v2v_pa_mm")
    assert "gendered" in method_label("smplx-gendered") and "neutral" in method_label("smplx-neutral-on-gendered")


def _rows(values: dict, setting: str):
    return [{"experiment": "table1", "setting": setting, "method": m, "metric": "v2v_pa_mm", "value": float(np.mean(v)),
             "std": float(np.std(v)), "n": len(v), "units": [f"view {i}" for i in range(len(v))],
             "values": [float(x) for x in v]} for m, v in values.items()]


@pytest.mark.parametrize("shift, verdict", [(-5.0, "agrees"), (5.0, "contradicts")])
def test_verdict_on_paired_views(shift, verdict):
    """Per-view errors whose paired difference is far from 0 on either side give the paper's verdict, with the
    CI of the paired difference (not of the two means): the views vary by 20 mm, the difference by 1 mm."""
    from posekit.experiments.table1 import GENDER_SETTING
    from posekit.experiments.verdicts import expectation_verdicts

    rng = np.random.default_rng(0)
    base = 60 + 20 * rng.standard_normal(32)
    rows = _rows({"smplx-gendered": base + shift + rng.standard_normal(32), "smplx-neutral-on-gendered": base},
                 GENDER_SETTING)
    (v,) = [x for x in expectation_verdicts(rows) if x["expectation"].lower == "smplx-gendered"]
    d = v["difference"]
    assert v["setting"] == GENDER_SETTING and d.n == 32 and v["verdict"] == verdict
    assert abs(d.mean - shift) < 1.0 and d.hi - d.lo < 2.0


def test_fast_gender_rows(tmp_path):
    """The two rows through the command line, on the embedded sample: their own setting, paired views."""
    from posekit.data.paths import embedded_sample_dir
    from posekit.experiments.__main__ import main
    from posekit.experiments.report import read_results, read_units
    from posekit.experiments.table1 import GENDER_CONFIGS, GENDER_SETTING

    out = tmp_path / "out"
    rc = main(["table1", "--motions", str(embedded_sample_dir()), "--priors", str(tmp_path / "priors"), "--out",
               str(out), "--fast", "--n-views", "2", "--iters", "2", "--device", "cpu",
               "--configs", ",".join(GENDER_CONFIGS)])
    assert rc == 0
    rows = read_results(out / "results.csv")
    assert {r["method"] for r in rows} == set(GENDER_CONFIGS) and {r["setting"] for r in rows} == {GENDER_SETTING}
    for m in GENDER_CONFIGS:
        got = {r["metric"]: r for r in rows if r["method"] == m}
        assert set(got) == {"v2v_pa_mm", "v2v_mm", "hands_pa_mm", "face_pa_mm", "fit_s_per_view"}
        assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in got.values())
        assert got["v2v_pa_mm"]["n"] == 2
    units = read_units(out / "units.csv")
    pa = [u for u in units if u["metric"] == "v2v_pa_mm"]
    assert sorted(u["unit"] for u in pa) == ["view 0", "view 0", "view 1", "view 1"]
