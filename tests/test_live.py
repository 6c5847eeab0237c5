"""Chapters live in JupyterLab: they open unmodified, stay small when run, and their interactive figures work.

* a chapter survives an nbformat round trip byte for byte, and carries the metadata that JupyterLab
  writes when its kernel starts (otherwise opening it marks it modified);
* plotly.js is inlined only for an HTML export (``POSEKIT_HTML_EXPORT=1``): committed chapters have no
  outputs, and a chapter run in fast mode holds figure JSON only;
* the shape explorer of chapter 01 updates one figure in place: camera, axis ranges and the figure
  object survive slider moves;
* the frame-based figures of chapters 04 and 06 (projection steps, motion clips) hold their frames and
  play in a static HTML page (checked in headless Chromium when it is installed).
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

import posekit.viz as pv
from posekit.body.synthetic import TPOSE_JOINTS, tiny_smpl_arrays
from posekit.skeleton import SMPL_PARENTS
from posekit.viz import mesh as viz_mesh

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
#: the header line of plotly.min.js: present in an output only if plotly.js was inlined into it
PLOTLY_JS_HEADER = "* plotly.js v"
#: code that shows a plotly figure
PLOTLY_CALL = re.compile(r"\b(mesh_figure|mesh_slider_figure|skeleton_figure|MeshExplorer|projection_figure"
                         r"|motion_figure)\(|\bgo\.Figure|^\s*(import|from) plotly", re.MULTILINE)


def _course_cells():
    spec = importlib.util.spec_from_file_location("course_cells", ROOT / "tools" / "course_cells.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------------
# opening and saving a chapter changes nothing


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_survives_an_nbformat_round_trip(path):
    raw = path.read_text(encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nbformat.writes(nb) + "\n" == raw, f"{path.name} changes when nbformat reads and writes it"
    assert all("id" in c for c in nb.cells) and (nb.nbformat, nb.nbformat_minor) == (4, 5)


def test_kernel_metadata_is_what_the_installed_kernel_reports():
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    meta = _course_cells().kernel_metadata()
    spec = KernelSpecManager().get_kernel_spec(meta["kernelspec"]["name"])
    assert meta["kernelspec"] == {"name": "python3", "display_name": spec.display_name, "language": spec.language}
    assert meta["language_info"] == IPythonKernel.language_info


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_metadata_is_what_jupyterlab_writes_on_opening(path):
    """JupyterLab replaces kernelspec and language_info with the kernel's when the kernel starts, and any
    difference marks the chapter modified. language_info's version is this Python's: compared by minor."""
    nb = nbformat.read(path, as_version=4)
    want = _course_cells().kernel_metadata()
    fix = f"run: python tools/course_cells.py {path.relative_to(ROOT)}"
    assert nb.metadata.get("kernelspec") == want["kernelspec"], fix
    have, ref = dict(nb.metadata.get("language_info", {})), dict(want["language_info"])
    assert have.pop("version", "").split(".")[:2] == ref.pop("version").split(".")[:2], fix
    assert have == ref, fix


def test_course_cells_writes_the_kernel_metadata_and_clears_outputs():
    cc = _course_cells()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Chapter 01 · Title"),
                                         nbformat.v4.new_code_cell("x = 1")],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"},
                                            "widgets": {"state": {}}})
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[1].execution_count = 3
    cc.refresh(nb, "01_title.ipynb")
    assert nb.metadata.kernelspec["display_name"] == "Python 3 (ipykernel)"
    assert next(c for c in nb.cells if c.source == "x = 1").outputs          # refresh alone keeps outputs
    cc.clear_outputs(nb)
    assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells) and "widgets" not in nb.metadata


# ---------------------------------------------------------------------------------------------------
# plotly.js is inlined only for an HTML export


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_committed_chapter_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [c.id for c in code if c.outputs or c.execution_count is not None], \
        f"clear the outputs before committing: python tools/course_cells.py --clear-outputs {path.relative_to(ROOT)}"
    assert PLOTLY_JS_HEADER not in path.read_text(encoding="utf-8")
    if any(PLOTLY_CALL.search(c.source) for c in code if not c.metadata.get("posekit")):
        assert any("setup_notebook()" in c.source for c in code), \
            f"{path.name} shows plotly figures: call setup_notebook()"


@pytest.fixture
def renderer():
    old = pio.renderers.default
    yield
    pio.renderers.default = old


def test_renderer_is_the_mimetype_one_live_and_inlines_plotly_js_only_for_an_export(monkeypatch, renderer):
    monkeypatch.delenv(viz_mesh.HTML_EXPORT_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert pv.setup_notebook() == "plotly_mimetype" == pio.renderers.default
    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])).to_dict())
    assert set(bundle) == {"application/vnd.plotly.v1+json"}
    for off in ("", "0", "false"):
        monkeypatch.setenv(viz_mesh.HTML_EXPORT_ENV, off)
        assert viz_mesh.plotly_renderer() == "plotly_mimetype"
    monkeypatch.setenv(viz_mesh.HTML_EXPORT_ENV, "1")
    assert pv.setup_notebook() == "plotly_mimetype+notebook" == pio.renderers.default
    monkeypatch.delenv(viz_mesh.HTML_EXPORT_ENV)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert viz_mesh.plotly_renderer() == "colab"
    assert pv.setup_notebook("notebook") == "notebook"          # an explicit choice wins


def _execute(nb, env: dict, cwd: Path):
    from nbclient import NotebookClient

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)                                      # the kernel inherits this environment
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _outputs(nb) -> str:
    """The cells' outputs as saved JSON (a notebook's widget state is left out: JupyterLab does not save it
    unless "Save Widget State Automatically" is switched on)."""
    return json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"], ensure_ascii=False)


def test_plotly_js_is_inlined_for_an_html_export_only():
    """The same two figures, run as a student runs them and as the HTML export does."""
    src = ("from posekit.viz import setup_notebook, mesh_figure\nsetup_notebook()\n"
           "import numpy as np\nmesh_figure(np.eye(3), [[0, 1, 2]], title='one triangle')")
    runs = {}
    for export in ("0", "1"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src)])
        runs[export] = _outputs(_execute(nb, {viz_mesh.HTML_EXPORT_ENV: export, "POSEKIT_FAST": "1"}, ROOT))
    assert PLOTLY_JS_HEADER not in runs["0"] and len(runs["0"]) < 50_000
    assert "application/vnd.plotly.v1+json" in runs["0"]
    assert PLOTLY_JS_HEADER in runs["1"] and len(runs["1"]) > 1_000_000


def test_chapter_01_run_in_fast_mode_holds_no_plotly_js():
    path = ROOT / "notebooks" / "01_smpl_blend_shapes.ipynb"
    nb = nbformat.read(path, as_version=4)
    out = _outputs(_execute(nb, {viz_mesh.HTML_EXPORT_ENV: "0", "POSEKIT_FAST": "1"}, path.parent))
    assert PLOTLY_JS_HEADER not in out
    assert len(out) < 2_500_000, f"executed chapter 01 is {len(out) / 1e6:.1f} MB"
    explorer = next(c for c in nb.cells if "MeshExplorer(" in c.source)
    kinds = {k for o in explorer.outputs for k in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in kinds, kinds       # sliders and figure, live


# ---------------------------------------------------------------------------------------------------
# the shape explorer of chapter 01


@pytest.fixture(scope="module")
def linear_body():
    """A mesh linear in 4 slider values, like shape blend shapes: vertices, joints (24, 3), faces."""
    a = tiny_smpl_arrays(seed=0)
    dirs = a["shapedirs"][..., :4]                                    # (V, 3, 4)
    jdirs = np.einsum("jv,vck->jck", a["J_regressor"], dirs)         # (24, 3, 4)
    joints0 = a["J_regressor"] @ a["v_template"]

    def mesh_at(b):
        b = np.asarray(b, dtype=float)
        return a["v_template"] + dirs @ b, joints0 + jdirs @ b
    return mesh_at, a["f"].astype(np.int64)


def _explorer(linear_body, live):
    mesh_at, faces = linear_body
    return pv.MeshExplorer(mesh_at, faces, names=["b0", "b1", "b2", "b3"], lo=-3.0, hi=3.0, step=0.25,
                           parents=SMPL_PARENTS, title="b = {values}", live=live)


def _assert_updated_in_place(ex, linear_body, user_camera):
    mesh_at, _ = linear_body
    fig = ex.figure
    ranges = [tuple(fig.layout.scene[a].range) for a in ("xaxis", "yaxis", "zaxis")]
    n_traces = len(fig.data)
    ex.sliders[0].value = 2.75                                   # what a slider move does
    ex.sliders[2].value = -1.5
    assert ex.figure is fig and len(fig.data) == n_traces
    verts, joints = mesh_at([2.75, 0.0, -1.5, 0.0])
    np.testing.assert_allclose(np.stack([fig.data[0].x, fig.data[0].y, fig.data[0].z], 1), verts, atol=1e-6)
    np.testing.assert_allclose(np.stack([fig.data[1].x, fig.data[1].y, fig.data[1].z], 1), joints, atol=1e-6)
    bones = np.array([c for c in fig.data[2].x if c is not None]).reshape(-1, 2)
    np.testing.assert_allclose(bones[0], [joints[1, 0], joints[0, 0]], atol=1e-6)   # left hip -> pelvis
    assert fig.layout.title.text == "b = [2.75, 0.0, -1.5, 0.0]"
    assert [tuple(fig.layout.scene[a].range) for a in ("xaxis", "yaxis", "zaxis")] == ranges
    assert fig.layout.scene.camera.to_plotly_json() == user_camera
    assert fig.layout.uirevision is not None
    for corner in ([3.0] * 4, [-3.0] * 4, [3.0, -3.0, 3.0, -3.0]):   # every body fits the fixed axes
        for pts in mesh_at(corner):
            for k, a in enumerate(("xaxis", "yaxis", "zaxis")):
                lo, hi = fig.layout.scene[a].range
                assert lo <= pts[:, k].min() and pts[:, k].max() <= hi


USER_CAMERA = {"eye": {"x": 1.9, "y": 0.4, "z": 0.3}, "up": {"x": 0, "y": 1, "z": 0}, "center": {"x": 0, "y": 0, "z": 0}}


def test_explorer_updates_one_figure_in_place_without_a_widget(linear_body, monkeypatch):
    monkeypatch.delenv(viz_mesh.HTML_EXPORT_ENV, raising=False)
    ex = _explorer(linear_body, live=False)
    assert type(ex.figure) is go.Figure and not ex.live
    ex.figure.layout.scene.camera = USER_CAMERA
    _assert_updated_in_place(ex, linear_body, USER_CAMERA)


def test_explorer_figure_widget_keeps_the_students_camera(linear_body, monkeypatch):
    pytest.importorskip("anywidget", reason="plotly's FigureWidget needs anywidget")
    monkeypatch.delenv(viz_mesh.HTML_EXPORT_ENV, raising=False)
    ex = _explorer(linear_body, live=None)
    assert ex.live and isinstance(ex.figure, go.FigureWidget) and ex.figure in ex.widget.children
    # the browser reports the student's rotation as it does when the figure is dragged
    ex.figure._js2py_relayout = {"relayout_data": {"scene.camera": USER_CAMERA}, "source_view_id": "view-1"}
    assert ex.figure.layout.scene.camera.to_plotly_json() == USER_CAMERA
    _assert_updated_in_place(ex, linear_body, USER_CAMERA)
    assert ex.last_update_s > 0


def test_explorer_in_an_html_export_shows_its_starting_figure(linear_body, monkeypatch):
    monkeypatch.setenv(viz_mesh.HTML_EXPORT_ENV, "1")
    ex = _explorer(linear_body, live=None)
    assert not ex.live and ex.static and type(ex.figure) is go.Figure
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    ex._ipython_display_()
    assert shown == [ex.figure]
    with pytest.raises(ValueError, match="start value"):
        pv.MeshExplorer(linear_body[0], linear_body[1], names=["b0"], lo=0.0, hi=1.0, value=2.0)


# ---------------------------------------------------------------------------------------------------
# frame-based figures (chapters 04 and 06)


@pytest.fixture(scope="module")
def steps_mesh():
    a = tiny_smpl_arrays(seed=1)
    v0 = a["v_template"]
    seq = np.stack([v0 * (1.0 + 0.05 * s) + [0.0, 0.02 * s, 0.0] for s in range(6)])   # (6, V, 3)
    return seq, a["f"].astype(np.int64), np.array([0.8, 0.4, 0.2, 0.1, 0.05, 0.04])


def test_projection_figure_has_a_frame_per_step_and_fixed_axes(steps_mesh):
    seq, faces, f = steps_mesh
    fig = pv.projection_figure(seq, faces, f, steps=[0, 1, 2, 5, 10, 20], value_label="f(θ)", title="proj")
    assert fig.layout.title.text == "proj" and [a.text for a in fig.layout.annotations][1] == "f(θ) per step"
    assert fig.layout.scene.xaxis.title.text == "x (m)" and fig.layout.xaxis.title.text == "projection step"
    assert fig.layout.yaxis.title.text.startswith("f(θ)")
    assert len(fig.frames) == 6 and [s.label for s in fig.layout.sliders[0].steps] == ["0", "1", "2", "5", "10", "20"]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ play", "❚❚ pause"]
    last = fig.frames[-1]
    assert list(last.traces) == [1, 3]
    np.testing.assert_allclose(np.stack([last.data[0].x, last.data[0].y, last.data[0].z], 1), seq[-1], atol=1e-6)
    assert (last.data[1].x[0], last.data[1].y[0]) == (20, pytest.approx(0.04))
    for k, a in enumerate(("xaxis", "yaxis", "zaxis")):
        lo, hi = fig.layout.scene[a].range
        assert lo <= seq[..., k].min() and seq[..., k].max() <= hi
    np.testing.assert_allclose(np.stack([fig.data[0].x, fig.data[0].y, fig.data[0].z], 1), seq[0], atol=1e-6)  # ghost
    with pytest.raises(ValueError, match="one mesh, value and step"):
        pv.projection_figure(seq, faces, f[:3])


def test_motion_figure_lights_the_contacts_of_each_frame():
    T = 9
    walk = np.repeat(TPOSE_JOINTS[None], T, 0) + np.linspace(0.0, 1.0, T)[:, None, None] * [0.0, 0.0, 1.0]
    still = np.repeat(TPOSE_JOINTS[None], T, 0)
    feet = [7, 8, 10, 11]
    prob = np.zeros((T, 4))
    prob[::2, 0] = 0.9                       # left ankle in contact on even frames
    labels = np.zeros((T, 4), dtype=bool)
    labels[:, 3] = True                      # right toe always in contact
    fig = pv.motion_figure({"rollout": walk, "real": still}, SMPL_PARENTS, contacts={"rollout": prob, "real": labels},
                           contact_joints=feet, fps=30, every=2, title="clips")
    assert fig.layout.title.text == "clips" and [a.text for a in fig.layout.annotations] == ["rollout", "real"]
    assert fig.layout.scene.xaxis.title.text == "x (m)" and fig.layout.scene2.zaxis.title.text == "z (m)"
    assert fig.layout.scene.xaxis.range == fig.layout.scene2.xaxis.range
    assert [fr.name for fr in fig.frames] == ["0", "2", "4", "6", "8"]
    assert fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] == pytest.approx(1000 * 2 / 30)
    red = pv.animate.CONTACT_COLOR
    for fr in fig.frames:
        t = int(fr.name)
        roll_joints, real_joints = fr.data[1], fr.data[3]
        assert [i for i, c in enumerate(roll_joints.marker.color) if c == red] == ([7] if t % 2 == 0 else [])
        assert [i for i, c in enumerate(real_joints.marker.color) if c == red] == [11]
        np.testing.assert_allclose(np.stack([roll_joints.x, roll_joints.y, roll_joints.z], 1), walk[t], atol=1e-3)
    assert fig.data[0].name == "floor" and set(fig.data[0].y) == {0.0}
    with pytest.raises(ValueError, match="contacts must be"):
        pv.motion_figure({"a": walk}, SMPL_PARENTS, contacts={"a": prob[:, :2]}, contact_joints=feet)
    with pytest.raises(ValueError, match="same T"):
        pv.motion_figure({"a": walk, "b": walk[:4]}, SMPL_PARENTS)


# ---------------------------------------------------------------------------------------------------
# the frames play in a static HTML page (headless Chromium)

PLAY_PROBE = """
(async () => {
  const gd = document.querySelector('.plotly-graph-div');
  for (let i = 0; i < 100 && !(gd && gd._fullLayout && gd.querySelector('.main-svg')); i++) await new Promise(r => setTimeout(r, 100));
  const before = Array.from(gd._fullData[TRACE].x).slice(0, 3);
  await Plotly.animate(gd, [FRAME], {frame: {duration: 0, redraw: true}, transition: {duration: 0}, mode: 'immediate'});
  return JSON.stringify({drawn: !!gd.querySelector('.main-svg'), frames: gd._transitionData._frames.length,
                         sliders: gd._fullLayout.sliders.length, before: before,
                         after: Array.from(gd._fullData[TRACE].x).slice(0, 3), gl: !!gd.querySelector('canvas')});
})()
"""


def _chromium_missing() -> str | None:
    if shutil.which("chromium") is None:
        return "Debian's chromium is not installed: apt-get install -y chromium"
    if importlib.util.find_spec("tornado") is None:
        return "tornado is not installed"
    return None


async def _probe(page: Path, trace: int, frame: str) -> dict:
    sys.path.insert(0, str(ROOT / "tools"))
    from check_site import Browser

    browser = Browser(shutil.which("chromium"))
    try:
        await browser.connect()
        await browser.send("Page.enable")
        await browser.send("Page.navigate", url=page.resolve().as_uri())
        await browser.wait_event("Page.loadEventFired", 60)
        probe = PLAY_PROBE.replace("TRACE", str(trace)).replace("FRAME", json.dumps(frame))
        res = await browser.send("Runtime.evaluate", expression=probe, awaitPromise=True, returnByValue=True,
                                 timeout=60_000)
        if "exceptionDetails" in res:
            raise AssertionError(res["exceptionDetails"])
        return json.loads(res["result"]["value"])
    finally:
        browser.close()


@pytest.mark.skipif(_chromium_missing() is not None, reason=str(_chromium_missing()))
def test_frame_figures_play_in_a_static_html_page(tmp_path, steps_mesh):
    seq, faces, f = steps_mesh
    walk = np.repeat(TPOSE_JOINTS[None], 6, 0) + np.linspace(0.0, 1.0, 6)[:, None, None] * [1.0, 0.0, 0.0]
    cases = {"projection": (pv.projection_figure(seq, faces, f), 1, "step 5", seq[-1, :3, 0]),
             "motion": (pv.motion_figure({"walk": walk}, SMPL_PARENTS, every=1), 2, "5", walk[-1, :3, 0])}
    for name, (fig, trace, frame, want) in cases.items():
        page = tmp_path / f"{name}.html"
        fig.write_html(page, include_plotlyjs=True, full_html=True)      # offline, as the export inlines it
        info = asyncio.run(_probe(page, trace, frame))
        assert info["drawn"] and info["frames"] == len(fig.frames) and info["sliders"] == 1, (name, info)
        np.testing.assert_allclose(info["after"], want, atol=1e-3, err_msg=name)
        assert not np.allclose(info["before"], info["after"]), name
