"""posekit.viz.mesh: figures carry titles and labelled axes, meshes keep their vertices/faces, the
orthographic projection and depth order are right, colour mapping follows the skinning weights."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import plotly.io as pio  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import posekit.viz as pv  # noqa: E402
from posekit.body.synthetic import TPOSE_JOINTS, tiny_smpl_arrays  # noqa: E402
from posekit.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402


@pytest.fixture(scope="module")
def mesh():
    a = tiny_smpl_arrays(seed=0)
    return a["v_template"], a["f"].astype(np.int64), a["weights"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_mesh_figure_has_geometry_title_and_axes(mesh):
    v, f, w = mesh
    fig = pv.mesh_figure(torch.from_numpy(v)[None], f, joints=TPOSE_JOINTS, parents=SMPL_PARENTS, title="Tiny body")
    m = fig.data[0]
    assert m.type == "mesh3d" and len(m.x) == len(v) and len(m.i) == len(f)
    np.testing.assert_allclose(np.stack([m.x, m.y, m.z], 1), v)
    np.testing.assert_array_equal(np.stack([m.i, m.j, m.k], 1), f)
    assert fig.layout.title.text == "Tiny body"
    sc = fig.layout.scene
    assert (sc.xaxis.title.text, sc.yaxis.title.text, sc.zaxis.title.text) == ("x (m)", "y (m)", "z (m)")
    assert sc.aspectmode == "data"
    assert fig.data[1].type == "scatter3d" and len(fig.data[1].x) == 24
    # one bone per non-root joint: 23 segments of (2 points + a None break)
    assert len(fig.data[2].x) == 3 * 23


def test_mesh_figure_colours(mesh):
    v, f, w = mesh
    fig = pv.mesh_figure(v, f, vertex_colors=pv.skinning_colors(w))
    assert len(fig.data[0].vertexcolor) == len(v)
    fig = pv.mesh_figure(v, f, intensity=v[:, 1], colorbar_title="height")
    np.testing.assert_allclose(fig.data[0].intensity, v[:, 1])
    with pytest.raises(ValueError, match="intensity"):
        pv.mesh_figure(v, f, intensity=v[:5, 1])


def test_skeleton_figure(mesh):
    fig = pv.skeleton_figure(TPOSE_JOINTS, SMPL_PARENTS, names=SMPL_JOINT_NAMES, title="SMPL skeleton")
    assert fig.layout.title.text == "SMPL skeleton"
    assert fig.layout.scene.yaxis.title.text == "y (m)"
    assert list(fig.data[1].text) == list(SMPL_JOINT_NAMES)
    with pytest.raises(ValueError, match="parents"):
        pv.skeleton_figure(TPOSE_JOINTS, SMPL_PARENTS[:10])


def test_setup_notebook_sets_offline_renderer(monkeypatch):
    """For an HTML export (``make``, the site) plotly.js is inlined so the pages draw offline."""
    monkeypatch.setenv("POSEKIT_HTML_EXPORT", "1")
    old = pio.renderers.default
    try:
        assert pv.setup_notebook() == "plotly_mimetype+notebook"
        assert pio.renderers.default == "plotly_mimetype+notebook"
    finally:
        pio.renderers.default = old


@pytest.mark.parametrize("view, expect", [
    ("front", ([1.0, 2.0], 3.0)),    # screen (x, y), depth z
    ("side", ([3.0, 2.0], -1.0)),    # screen (z, y), depth -x (camera on the body's right)
    ("top", ([1.0, -3.0], 2.0)),     # screen (x, -z), depth y
])
def test_projection(view, expect):
    xy, depth = pv.project(np.array([[1.0, 2.0, 3.0]]), view)
    np.testing.assert_allclose(xy[0], expect[0])
    np.testing.assert_allclose(depth[0], expect[1])
    with pytest.raises(ValueError, match="view"):
        pv.project(np.zeros((1, 3)), "back")


def test_render_mesh_draws_every_face_far_to_near(mesh):
    v, f, _ = mesh
    fig, ax = plt.subplots()
    coll = pv.render_mesh(ax, v, f, view="front", title="front render")
    paths = coll.get_paths()
    assert len(paths) == len(f)
    # painter's order: mean depth (z) of the drawn faces is non-decreasing
    depth = v[f][:, :, 2].mean(1)
    drawn = np.array([p.vertices[:3] for p in paths])                   # (F, 3, 2) screen xy
    order = [np.flatnonzero(np.all(np.isclose(v[f][:, :, :2], d[None]), axis=(1, 2)))[0] for d in drawn]
    assert np.all(np.diff(depth[order]) >= -1e-12)
    assert ax.get_title() == "front render" and ax.get_xlabel() == "x (m)" and ax.get_ylabel() == "y (m)"
    lo, hi = ax.get_xlim()
    assert lo <= v[:, 0].min() and hi >= v[:, 0].max()


def test_render_mesh_colour_modes_and_errors(mesh):
    v, f, w = mesh
    fig, ax = plt.subplots()
    c = pv.render_mesh(ax, v, f, color=v[:, 1], shade=False, cmap="viridis")
    fc = c.get_facecolors()
    # each face gets the colour of its mean vertex value, on the vertex values' range (drawn far to near)
    face_val = v[f][:, :, 1].mean(1)
    expect = plt.get_cmap("viridis")((face_val - v[:, 1].min()) / np.ptp(v[:, 1]))
    order = np.argsort(v[f][:, :, 2].mean(1))
    np.testing.assert_allclose(fc, expect[order], atol=1e-6)
    c = pv.render_mesh(ax, v, f, color=v[:, 1], shade=False, clim=(0.0, 1.0))
    np.testing.assert_allclose(c.get_facecolors(), plt.get_cmap("viridis")(np.clip(face_val, 0, 1))[order], atol=1e-6)
    pv.render_mesh(ax, v, f, color=pv.skinning_colors(w), view="side")
    assert ax.get_xlabel() == "z (m)"
    with pytest.raises(ValueError, match="faces index"):
        pv.render_mesh(ax, v, f + len(v))
    with pytest.raises(ValueError, match="vertices must have shape"):
        pv.render_mesh(ax, v[:, :2], f)


def test_skinning_colors_follow_weights():
    w = np.zeros((3, 24))
    w[0, 5] = 1.0
    w[1, 5] = w[1, 7] = 0.5
    w[2, 7] = 2.0  # unnormalised rows are normalised
    pal = pv.joint_palette(24)
    c = pv.skinning_colors(w)
    np.testing.assert_allclose(c[0], pal[5])
    np.testing.assert_allclose(c[1], (pal[5] + pal[7]) / 2)
    np.testing.assert_allclose(c[2], pal[7])
    assert len({tuple(p) for p in pal}) == 24  # distinct colours per joint


def test_render_skeleton_and_gallery(mesh):
    v, f, _ = mesh
    fig, ax = plt.subplots()
    lc = pv.render_skeleton(ax, TPOSE_JOINTS, SMPL_PARENTS, view="front", title="skeleton", names=SMPL_JOINT_NAMES)
    assert len(lc.get_segments()) == 23
    assert ax.get_title() == "skeleton" and ax.get_xlabel() and ax.get_ylabel()
    g = pv.plot_gallery([v, v * 1.1, v * 0.9], f, titles=["a", "b", "c"], ncols=2, suptitle="three bodies",
                        joints_list=[TPOSE_JOINTS] * 3, parents=SMPL_PARENTS)
    axes = [a for a in g.axes if a.axison]
    assert [a.get_title() for a in axes] == ["a", "b", "c"]
    assert all(a.get_xlabel() == "x (m)" and a.get_ylabel() == "y (m)" for a in axes)
    assert g._suptitle.get_text() == "three bodies"
    assert axes[0].get_xlim() == axes[1].get_xlim()  # shared scale: sizes comparable across panels
    assert len(axes[0].collections[0].get_paths()) == len(f)
    with pytest.raises(ValueError, match="titles"):
        pv.plot_gallery([v, v], f, titles=["only one"])


def test_mesh_figure_shows_joints_through_the_mesh(mesh):
    v, f, _ = mesh
    assert pv.mesh_figure(v, f).data[0].opacity == 1.0
    assert pv.mesh_figure(v, f, joints=TPOSE_JOINTS).data[0].opacity < 1.0     # joints are inside the body
    assert pv.mesh_figure(v, f, joints=TPOSE_JOINTS, opacity=0.9).data[0].opacity == 0.9


def test_mesh_slider_figure_has_one_frame_per_value(mesh):
    v, f, _ = mesh
    values = [-2.0, 0.0, 2.0]
    seq = [v * (1 + 0.1 * x) for x in values]
    joints = [TPOSE_JOINTS * (1 + 0.1 * x) for x in values]
    fig = pv.mesh_slider_figure(seq, f, values, joints_seq=joints, parents=SMPL_PARENTS, label="β0", title="Shape")
    assert [fr.name for fr in fig.frames] == ["-2", "0", "2"]
    for fr, s in zip(fig.frames, seq):
        np.testing.assert_allclose(np.stack([fr.data[0].x, fr.data[0].y, fr.data[0].z], 1), s)
        assert len(fr.data) == 3 and fr.data[0].i is None                  # mesh, joints, bones; faces once
    np.testing.assert_allclose(fig.data[0].x, seq[1][:, 0])                # starts at the middle value
    slider = fig.layout.sliders[0]
    assert slider.active == 1 and [st.label for st in slider.steps] == ["-2", "0", "2"]
    assert all(st.method == "animate" and list(st.args[0]) == [st.label] for st in slider.steps)
    assert fig.layout.title.text == "Shape" and fig.layout.scene.xaxis.title.text == "x (m)"
    lo = min(s[:, 1].min() for s in seq)
    assert fig.layout.scene.yaxis.range[0] < lo                           # one fixed box for every frame
    html = pio.to_html(fig, include_plotlyjs=False)
    assert "addFrames" in html and '"sliders"' in html                   # the frames and slider live in the page
    with pytest.raises(ValueError, match="one mesh per slider value"):
        pv.mesh_slider_figure(seq, f, values[:2])
