"""posekit.viz.data: Euler read-out (closed forms), ranges table, figures have titles and labelled axes."""
import matplotlib
import numpy as np
import torch

from posekit.viz.data import euler_angles, joint_angle_histograms, joint_angle_ranges, plot_joint_ranges

matplotlib.use("Agg")


def _pose(j, axis, deg, n=1):
    p = np.zeros((n, 24, 3))
    p[:, j, "xyz".index(axis)] = np.deg2rad(deg)
    return p


def test_euler_main_axis_not_folded():
    # a 120 deg elbow flexion (y) and a -100 deg shoulder (z) read back exactly on their axis
    e = euler_angles(_pose(18, "y", -120), ["left_elbow"])["left_elbow"]
    np.testing.assert_allclose(e, [[0, -120, 0]], atol=1e-9)
    e = euler_angles(_pose(16, "z", -100), ["left_shoulder"])["left_shoulder"]
    np.testing.assert_allclose(e, [[0, 0, -100]], atol=1e-9)
    e = euler_angles(_pose(4, "x", 130), ["left_knee"])["left_knee"]
    np.testing.assert_allclose(e, [[130, 0, 0]], atol=1e-9)


def test_ranges_percentiles():
    deg = np.linspace(0, 100, 101)
    p = np.zeros((101, 24, 3))
    p[:, 4, 0] = np.deg2rad(deg)
    r = {x["joint"]: x for x in joint_angle_ranges(torch.as_tensor(p), q=1.0)}
    np.testing.assert_allclose(r["left_knee"]["x"], (1.0, 99.0), atol=1e-9)
    np.testing.assert_allclose(r["left_knee"]["angle_median"], 50.0, atol=1e-9)
    assert r["right_knee"]["angle_p99"] == 0


def test_figures_are_titled_and_labelled():
    p = torch.as_tensor(_pose(4, "x", 30, n=5))
    fig = joint_angle_histograms({"a": p, "b": p}, joints=["left_knee", "left_hip"])
    assert fig._suptitle.get_text()
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes if ax.has_data())
    fig2 = plot_joint_ranges({"a": p})
    ax = fig2.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
