"""Figures that a running kernel updates in place: sliders that reshape a body in one plotly figure.

:class:`MeshExplorer` shows a mesh (and optionally its joints) as a function of a few slider values.
With a live kernel the figure is a plotly ``FigureWidget`` (plotly's widget, built on ``anywidget``):
a slider move sends only the new vertex coordinates to the figure already on screen, so the camera the
student chose stays where it is and the axes keep their ranges. Without ``anywidget`` (or on Colab) the
figure is redrawn under the sliders with the same fixed axes (the camera then returns to the front
view). In an HTML export (``POSEKIT_HTML_EXPORT=1``) there is no kernel behind the page: the explorer
shows its starting figure as a plain plotly figure.
"""
from __future__ import annotations

import itertools
import sys
import time
from typing import Callable, Sequence

import numpy as np

from .mesh import fixed_scene, html_export, mesh_figure, to_numpy

__all__ = ["figure_widgets_available", "MeshExplorer"]

#: at most this many sliders get their corners evaluated for the fixed axis ranges (2**n meshes)
MAX_CORNER_SLIDERS = 6


def figure_widgets_available() -> bool:
    """True when plotly's ``FigureWidget`` can update a figure in place: ``anywidget`` is installed, the
    run is not an HTML export, and the notebook is not on Colab (where third-party widgets need extra set-up)."""
    if html_export() or "google.colab" in sys.modules:
        return False
    try:
        import anywidget  # noqa: F401
    except ImportError:
        return False
    return True


def _bone_coordinates(joints: np.ndarray, parents: Sequence[int]) -> list[list]:
    """x, y and z lists of the bone segments (child, parent, None) as ``mesh_figure`` draws them."""
    out = [[], [], []]
    for i, p in enumerate(parents):
        if p >= 0:
            for axis in range(3):
                out[axis] += [float(joints[i, axis]), float(joints[p, axis]), None]
    return out


def _split(result) -> tuple[np.ndarray, np.ndarray | None]:
    """``mesh_at``'s result -> (vertices (V, 3), joints (J, 3) or None)."""
    if isinstance(result, (tuple, list)):
        verts, joints = result
        return to_numpy(verts, "vertices"), to_numpy(joints, "joints")
    return to_numpy(result, "vertices"), None


class MeshExplorer:
    """Sliders that drive one plotly mesh figure, updated in place.

    ``mesh_at(values)`` maps the list of slider values to the mesh's vertices (V, 3), or to a pair
    (vertices, joints (J, 3)); joints are drawn with bones when ``parents`` is given. ``names`` labels
    the sliders; each runs from ``lo`` to ``hi`` in steps of ``step`` and starts at ``value``.

    The axis ranges are fixed once, to hold the meshes at every corner of the slider box (exact when the
    mesh is linear in the values, as shape blend shapes are), so a change of size shows as a change of
    size. The title shows the values when ``title`` contains ``{values}``.

    ``live``: True for the ``FigureWidget``, False for the redraw fallback; by default
    :func:`figure_widgets_available` decides.

    Attributes: ``figure`` (a ``FigureWidget`` live, else a ``go.Figure``), ``sliders``, ``widget``
    (what the notebook displays), ``live`` (True when ``figure`` updates in place), ``static`` (True in
    an HTML export: only the starting figure is shown) and ``last_update_s`` (seconds the last
    :meth:`update` took in the kernel).
    """

    def __init__(self, mesh_at: Callable[[list], object], faces, names: Sequence[str], lo: float = -3.0,
                 hi: float = 3.0, step: float = 0.25, value: float = 0.0, parents: Sequence[int] | None = None,
                 title: str = "values = {values}", live: bool | None = None):
        import ipywidgets as widgets
        import plotly.graph_objects as go

        if not names:
            raise ValueError("MeshExplorer needs at least one slider name")
        if not lo <= value <= hi:
            raise ValueError(f"the start value {value} must lie in [{lo}, {hi}]")
        self.mesh_at, self.faces, self.parents, self.title = mesh_at, faces, parents, title
        self.live = figure_widgets_available() if live is None else bool(live)
        self.static = html_export() and not self.live   # an export: no kernel behind the page
        self.sliders = [widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=str(n),
                                            continuous_update=False) for n in names]
        values = self.values()
        verts, joints = _split(mesh_at(values))
        fig = mesh_figure(verts, faces, joints=joints, parents=parents if joints is not None else None,
                          title=self._title(values))
        # no legend: the 3D scene (whose canvas must see the mouse released to keep a rotation) fills the figure
        fig.update_layout(scene=fixed_scene(self._corner_points(lo, hi, len(names))), showlegend=False,
                          uirevision="explorer")        # plotly.js keeps the student's camera and zoom
        self.figure = go.FigureWidget(fig) if self.live else fig
        self._output = None if self.live or self.static else widgets.Output()
        rows = [widgets.HBox(self.sliders[i:i + 2]) for i in range(0, len(self.sliders), 2)]
        self.widget = widgets.VBox(rows + [self.figure if self.live else self._output or widgets.HTML()])
        self.last_update_s = 0.0
        for s in self.sliders:
            s.observe(self._on_slider, names="value")
        if self._output is not None:
            self._redraw_output()

    def values(self) -> list[float]:
        """The sliders' current values."""
        return [float(s.value) for s in self.sliders]

    def _title(self, values) -> str:
        return self.title.format(values=[round(v, 2) for v in values])

    def _corner_points(self, lo: float, hi: float, n: int) -> np.ndarray:
        """Vertices (and joints) at the slider box's corners, or at each slider's ends for many sliders."""
        if n <= MAX_CORNER_SLIDERS:
            settings = [list(c) for c in itertools.product((lo, hi), repeat=n)]
        else:
            settings = [[lo if j == i else 0.0 for j in range(n)] for i in range(n)]
            settings += [[hi if j == i else 0.0 for j in range(n)] for i in range(n)]
        pts = []
        for vals in settings + [self.values()]:
            verts, joints = _split(self.mesh_at(vals))
            pts += [verts] + ([joints] if joints is not None else [])
        return np.concatenate(pts)

    def update(self, values: Sequence[float] | None = None) -> float:
        """Redraw for ``values`` (default: the sliders'): new coordinates and title only, axes and camera
        untouched. Returns the seconds it took."""
        t0 = time.perf_counter()
        values = self.values() if values is None else [float(v) for v in values]
        verts, joints = _split(self.mesh_at(values))
        fig = self.figure
        with fig.batch_update():
            fig.data[0].x, fig.data[0].y, fig.data[0].z = verts[:, 0], verts[:, 1], verts[:, 2]
            if joints is not None and len(fig.data) > 1:
                fig.data[1].x, fig.data[1].y, fig.data[1].z = joints[:, 0], joints[:, 1], joints[:, 2]
                if len(fig.data) > 2:                   # bones: (child, parent, gap) per bone, as drawn
                    for name, coords in zip("xyz", _bone_coordinates(joints, self.parents)):
                        setattr(fig.data[2], name, coords)
            fig.layout.title.text = self._title(values)
        if self._output is not None:
            self._redraw_output()
        self.last_update_s = time.perf_counter() - t0
        return self.last_update_s

    def _on_slider(self, change) -> None:
        self.update()

    def _redraw_output(self) -> None:
        """Without a FigureWidget: show the figure anew under the sliders (same fixed axes)."""
        from IPython.display import display

        with self._output:
            self._output.clear_output(wait=True)
            display(self.figure)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.figure if self.static else self.widget)
