"""posekit.experiments.record_view: the record's tables, differences and figures on constructed rows."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from posekit.experiments.record_view import (VERDICT_COLORS, mean_ci, method_difference, parse_setting, plot_means,
                                             plot_verdicts, record_sentence, setting_difference, summary_table,
                                             verdict_table)
from posekit.experiments.verdicts import AGREES, CONTRADICTS


def _rows(experiment, metric, setting, values):
    return [{"experiment": experiment, "setting": setting, "method": m, "metric": metric, "value": float(np.mean(v)),
             "std": float(np.std(v)), "n": len(v), "units": [f"clip{i}" for i in range(len(v))],
             "values": [float(x) for x in v]} for m, v in values.items()]


rng = np.random.default_rng(0)
BASE = rng.uniform(2.0, 8.0, 16)
ROWS = (_rows("denoise", "v2v_cm", "sigma=0.1,frames=60", {"none": BASE + 1.0, "vposer": BASE - 0.5, "posendf": BASE})
        + _rows("denoise", "v2v_cm", "sigma=0.5,frames=60", {"none": BASE + 3.0, "vposer": BASE + 1.0,
                                                             "posendf": BASE + 1.0 + rng.normal(0, 1, 16)})
        + _rows("denoise", "v2v_cm", "sigma=0.1,frames=60,vposer=energy", {"none": BASE + 1.0, "vposer": BASE + 1.0})
        + _rows("image-fit", "v2v_mm", "prior-only", {"gmm": BASE * 10}) + _rows("image-fit", "v2v_mm", "+angle",
                                                                                 {"gmm": BASE * 10 + 7.0}))


def test_parse_setting():
    assert parse_setting("sigma=0.1,frames=60") == {"sigma": "0.1", "frames": "60"}
    assert parse_setting("prior-only") == {"setting": "prior-only"}


def test_means_and_differences_are_the_units_means():
    c = mean_ci(BASE)
    assert c.mean == pytest.approx(BASE.mean()) and c.lo < c.mean < c.hi and c.n == 16
    d = method_difference(ROWS, "denoise", "v2v_cm", "sigma=0.1,frames=60", "vposer", "none")
    assert d.mean == pytest.approx(-1.5) and d.lo == d.hi == pytest.approx(-1.5)   # the same shift on every clip
    assert method_difference(ROWS, "denoise", "v2v_cm", "sigma=0.1,frames=60", "humor", "none") is None
    t = setting_difference(ROWS, "image-fit", "v2v_mm", "gmm", "+angle", "prior-only")
    assert t.mean == pytest.approx(7.0)
    assert "higher error" in record_sentence(t, "E_a", "mm") and "(n = 16)" in record_sentence(t, "E_a", "mm")
    assert "no clear difference" in record_sentence(mean_ci(np.tile([-1.0, 1.0], 10)), "x", "cm")
    assert "lower error" in record_sentence(mean_ci(-BASE), "x", "cm")
    assert record_sentence(None, "E_sp", "mm") == "E_sp: not in the record"


def test_summary_table_shows_mean_ci_and_n():
    t = summary_table(ROWS, "denoise", "v2v_cm", settings=["sigma=0.1,frames=60"])
    lines = t.splitlines()
    assert lines[0] == "| setting | n | no prior | VPoser | Pose-NDF |"
    c = mean_ci(BASE + 1.0)
    assert lines[2].startswith(f"| sigma=0.1,frames=60 | 16 | {c.mean:.2f} [{c.lo:.2f}, {c.hi:.2f}]")


def test_verdicts_table_and_figure_follow_the_paper_direction():
    t = verdict_table(ROWS, "denoise", settings=["sigma=0.1,frames=60"])
    assert "| Pose-NDF Table 3: Pose-NDF < VPoser | sigma=0.1,frames=60 | 16 | +0.50 [+0.50, +0.50] | contradicts |" in t
    assert "| every prior helps: VPoser < no prior | sigma=0.1,frames=60 | 16 | -1.50 [-1.50, -1.50] | agrees |" in t
    fig, ax = plt.subplots()
    plot_verdicts(ax, ROWS, "denoise", settings=["sigma=0.1,frames=60"], unit="cm")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "sigma=0.1,frames=60: Pose-NDF − VPoser" in labels
    colors = {ln.get_color() for ln in ax.lines if ln.get_marker() == "o"}
    assert VERDICT_COLORS[AGREES] in colors and VERDICT_COLORS[CONTRADICTS] in colors
    assert ax.get_title() and ax.get_xlabel()
    plt.close(fig)


def test_means_figure_keeps_only_the_matching_settings():
    fig, ax = plt.subplots()
    plot_means(ax, ROWS, "denoise", "v2v_cm", "sigma", fixed={"frames": "60"}, unit="cm", title="t")
    # the vposer=energy variant has an extra key and is left out: two σ per method
    assert all(len(ln.get_xdata()) == 2 for ln in ax.lines if ln.get_linestyle() == "-")
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"no prior", "VPoser", "Pose-NDF"}
    plt.close(fig)
