"""Verdicts follow the papers' direction and come from paired 95 % bootstrap CIs."""
import math

import numpy as np
import pytest

from posekit.experiments.paper_numbers import EXPECTATIONS, Expectation
from posekit.experiments.report import attach_units, read_results, read_units, write_results
from posekit.experiments.run_all import ordering_sentence
from posekit.experiments.verdicts import (AGREES, CONTRADICTS, INCONCLUSIVE, PairedDifference, expectation_verdicts,
                                          paired_difference, verdict, verdict_sentences)


def test_bootstrap_ci_matches_the_normal_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(3.0, 1.0, 400)
    b = a + rng.normal(0.5, 0.8, 400)                       # b is worse by 0.5 on average
    d = paired_difference(a, b)
    half = 1.96 * np.std(a - b, ddof=1) / math.sqrt(400)
    assert d.n == 400 and d.mean == pytest.approx(np.mean(a - b))
    assert d.lo == pytest.approx(d.mean - half, abs=0.15 * half)
    assert d.hi == pytest.approx(d.mean + half, abs=0.15 * half)


def test_pairing_removes_the_units_own_spread():
    """Clips differ a lot from each other, the methods little: only a paired comparison sees the difference."""
    clip_difficulty = np.linspace(1.0, 20.0, 16)
    a, b = clip_difficulty, clip_difficulty + 0.1 + 0.01 * np.sin(np.arange(16))
    assert verdict(paired_difference(a, b)) == AGREES


@pytest.mark.parametrize("lo, hi, expect_lower, want", [
    (-2.0, -0.5, True, AGREES), (0.5, 2.0, True, CONTRADICTS), (-0.5, 0.5, True, INCONCLUSIVE),
    (-2.0, -0.5, False, CONTRADICTS), (0.5, 2.0, False, AGREES), (0.0, 1.0, True, INCONCLUSIVE),
])
def test_verdict_cases(lo, hi, expect_lower, want):
    assert verdict(PairedDifference(0.5 * (lo + hi), lo, hi, 16), expect_lower) == want


def test_too_few_units_are_inconclusive():
    d = paired_difference([1.0], [2.0])
    assert d.n == 1 and math.isnan(d.lo) and verdict(d) == INCONCLUSIVE
    d = paired_difference([1.0, 2.0, 3.0], [2.0, 3.1, 4.2])          # every clip lower, but only 3 of them
    assert d.hi < 0 and verdict(d) == INCONCLUSIVE


def _rows(experiment, metric, setting, values: dict):
    return [{"experiment": experiment, "setting": setting, "method": m, "metric": metric, "value": float(np.mean(v)),
             "std": float(np.std(v)), "n": len(v), "units": [f"{i}:clip" for i in range(len(v))], "values": list(v)}
            for m, v in values.items()]


def test_the_papers_direction_not_the_argument_order_decides():
    """Denoising: the paper finds HuMoR worse than Pose-NDF. HuMoR clearly higher agrees; clearly lower contradicts."""
    base = np.linspace(2.0, 6.0, 16)
    worse = _rows("denoise", "v2v_cm", "sigma=0.1,frames=60", {"posendf": base, "humor": base + 0.4})
    better = _rows("denoise", "v2v_cm", "sigma=0.2,frames=60", {"posendf": base, "humor": base - 0.4})
    found = {(v["expectation"].lower, v["expectation"].higher, v["setting"]): v["verdict"]
             for v in expectation_verdicts(worse + better)}
    assert found[("posendf", "humor", "sigma=0.1,frames=60")] == AGREES
    assert found[("posendf", "humor", "sigma=0.2,frames=60")] == CONTRADICTS


def test_occlusion_humor_leads_only_on_the_shoulder():
    base = np.linspace(1.0, 9.0, 16)
    rows = []
    for part in ("leg", "arm+hand", "shoulder+upper-arm"):          # HuMoR lower everywhere
        rows += _rows("occlusion", "v2v_hidden_cm", f"part={part},frames=60", {"posendf": base, "humor": base - 1.0})
    v = {(x["expectation"].lower, x["setting"].split(",")[0]): x["verdict"] for x in expectation_verdicts(rows)}
    assert v[("humor", "part=shoulder+upper-arm")] == AGREES
    assert v[("posendf", "part=leg")] == CONTRADICTS and v[("posendf", "part=arm+hand")] == CONTRADICTS
    assert ("humor", "part=leg") not in v and ("posendf", "part=shoulder+upper-arm") not in v
    text = " ".join(verdict_sentences(rows, "occlusion"))
    assert "agrees in 1, contradicts in 0" in text and "agrees in 0, contradicts in 2" in text


def test_noise_gives_inconclusive():
    rng = np.random.default_rng(1)
    base = rng.uniform(1, 10, 16)
    rows = _rows("image-fit", "v2v_mm", "prior-only", {"gmm": base + rng.normal(0, 1, 16), "none": base})
    (v,) = [x for x in expectation_verdicts(rows) if x["expectation"].lower == "gmm"]
    assert v["difference"].lo < 0 < v["difference"].hi and v["verdict"] == INCONCLUSIVE


def test_every_expectation_names_known_methods_and_metrics():
    from posekit.experiments.report import OTHER_METHODS
    from posekit.experiments.table1 import CONFIGS, GENDER_CONFIGS
    from posekit.priors import registry

    methods = set(registry.methods()) | {"regressor"}
    settings = {"", "regressor-start", "+angle"}          # "method@setting" pins one side's setting
    for e in EXPECTATIONS:
        (lo, _, s_lo), (hi, _, s_hi) = e.lower.partition("@"), e.higher.partition("@")
        known = {*CONFIGS, *GENDER_CONFIGS} if e.experiment == "table1" else methods  # Table 1/2's rows: models
        assert lo in known and hi in known and e.lower != e.higher and {lo, hi} <= set(OTHER_METHODS) | methods
        assert s_lo in settings and s_hi in settings
        assert e.experiment in ("denoise", "occlusion", "image-fit", "table1")
    shoulder = [e for e in EXPECTATIONS if e.parts == ("shoulder+upper-arm",)]
    assert [(e.lower, e.higher) for e in shoulder] == [("humor", "posendf")]
    assert Expectation("x", "occlusion", "m", "a", "b", ("leg",)).applies("part=leg,frames=60")
    assert not Expectation("x", "occlusion", "m", "a", "b", ("leg",)).applies("part=arm+hand,frames=60")


def test_units_round_trip_through_the_csv(tmp_path):
    base = np.linspace(2.0, 6.0, 16)
    rows = _rows("denoise", "v2v_cm", "sigma=0.1,frames=60", {"posendf": base, "vposer": base + 0.3, "none": base + 1})
    write_results(rows, tmp_path)
    back = attach_units(read_results(tmp_path / "results.csv"), read_units(tmp_path / "units.csv"))
    assert [str(v["difference"]) for v in expectation_verdicts(back)] == \
        [str(v["difference"]) for v in expectation_verdicts(rows)]


def test_fallback_sentence_without_units_follows_the_paper():
    rows = [{"experiment": "denoise", "setting": "sigma=0.1,frames=60", "method": m, "metric": "v2v_cm",
             "value": v, "std": 0.1, "n": 2} for m, v in (("posendf", 4.0), ("humor", 5.0))]
    s = ordering_sentence(rows, "denoise", "v2v_cm", "humor", "posendf", "Denoising")
    assert "the means follow the papers' direction" in s and "1/1" in s and "inconclusive" in s


def test_secondary_metric_sentences_use_paired_cis():
    """run_all.compare_sentences: with per-clip values, a setting counts as lower / higher only when the paired
    95 % CI excludes 0; without them the sentence says that no CI backs the count."""
    from posekit.experiments.run_all import compare_sentences

    base = np.linspace(1.0, 4.0, 12)
    noise = np.tile([0.3, -0.3], 6)

    def r(setting, method, values, units=True):
        out = {"experiment": "denoise", "setting": setting, "method": method, "metric": "mpjpe_cm",
               "value": float(np.mean(values)), "std": 0.0, "n": len(values)}
        if units:
            out.update(units=[f"c{i}" for i in range(len(values))], values=list(values))
        return out

    rows = [r("a", "none", base), r("a", "gmm", base - 0.5),            # lower on every clip
            r("b", "none", base), r("b", "gmm", base + noise),           # mean equal, CI includes 0
            r("c", "none", base), r("c", "gmm", base + 1.0)]             # higher
    (s,) = compare_sentences(rows, "denoise", "mpjpe_cm", "Denoising")
    assert "lower in 1, higher in 1, inconclusive in 1 of 3 settings (higher: c)" in s
    no_units = [{k: v for k, v in x.items() if k not in ("units", "values")} for x in rows]
    (s,) = compare_sentences(no_units, "denoise", "mpjpe_cm", "Denoising")
    assert "lower than no prior's in 1/3 settings" in s and "not a conclusion" in s
