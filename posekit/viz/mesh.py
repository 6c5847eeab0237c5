"""Reusable figures of meshes and skeletons: interactive plotly (3D) and static matplotlib (2D renders).

Conventions: SMPL's frame (y up, metres, the body faces +z, its left is +x). Every function accepts
NumPy arrays or torch tensors (a leading batch dimension of 1 is dropped). Every figure gets a title
and labelled axes.

Static renders are orthographic and drawn with a painter's algorithm (triangles sorted far to near,
Lambert-shaded with a light at the camera): fast enough for galleries of a few dozen bodies.
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection, PolyCollection

__all__ = [
    "VIEWS", "HTML_EXPORT_ENV", "html_export", "plotly_renderer", "setup_notebook", "fixed_scene", "to_numpy",
    "project", "joint_palette", "skinning_colors",
    "render_mesh", "render_skeleton", "plot_gallery", "mesh_figure", "mesh_slider_figure", "skeleton_figure",
]

#: view name -> (horizontal axis, vertical axis, depth axis) as signed world axes; depth grows
#: towards the camera. front: camera on +z; side: camera on the body's right (-x), body facing right;
#: left: camera on the body's left (+x), body facing left (shows the left limbs unoccluded);
#: top: camera above (+y), the body's front (+z) at the bottom of the picture.
VIEWS = {
    "front": ((0, 1.0), (1, 1.0), (2, 1.0)),
    "side": ((2, 1.0), (1, 1.0), (0, -1.0)),
    "left": ((2, -1.0), (1, 1.0), (0, 1.0)),
    "top": ((0, 1.0), (2, -1.0), (1, 1.0)),
}
_AXIS_NAMES = "xyz"
#: mesh opacity in plotly figures that also draw the joints (inside the body)
JOINT_MESH_OPACITY = 0.45


#: environment variable that an HTML export sets to 1 (``make notebooks``, the course site, the slides)
HTML_EXPORT_ENV = "POSEKIT_HTML_EXPORT"
#: plotly renderer when a student runs a chapter: the figure's JSON only, drawn by JupyterLab's plotly extension
LIVE_RENDERER = "plotly_mimetype"
#: plotly renderer of an HTML export: the JSON plus HTML that draws it, plotly.js inlined once per notebook
EXPORT_RENDERER = "plotly_mimetype+notebook"


def html_export() -> bool:
    """True when the chapter runs for a static HTML export (``POSEKIT_HTML_EXPORT=1``)."""
    return os.environ.get(HTML_EXPORT_ENV, "").strip().lower() not in ("", "0", "false", "no")


def plotly_renderer() -> str:
    """The plotly renderer for this run: inline plotly.js only for an HTML export, Colab's own on Colab,
    and otherwise the mimetype renderer (a few kB of JSON per figure instead of 4.8 MB of plotly.js)."""
    if html_export():
        return EXPORT_RENDERER
    if "google.colab" in sys.modules:
        return "colab"
    return LIVE_RENDERER


def setup_notebook(renderer: str | None = None) -> str:
    """Set plotly's default renderer (``renderer``, or :func:`plotly_renderer`'s choice) and return it."""
    import plotly.io as pio

    renderer = renderer or plotly_renderer()
    pio.renderers.default = renderer
    return renderer


def to_numpy(x, name: str = "array", last: int | None = 3) -> np.ndarray:
    """NumPy copy of an array or tensor; drops a leading batch dimension of size 1; checks the last size."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if last is not None and (x.ndim != 2 or x.shape[-1] != last):
        raise ValueError(f"{name} must have shape (N, {last}) (or (1, N, {last})), got {x.shape}")
    return x


def project(points, view: str = "front") -> tuple[np.ndarray, np.ndarray]:
    """Orthographic projection: (N, 3) -> (N, 2) screen coordinates and (N,) depth (larger = nearer)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {sorted(VIEWS)}, got {view!r}")
    p = to_numpy(points, "points")
    (h, hs), (v, vs), (d, ds) = VIEWS[view]
    return np.stack([hs * p[:, h], vs * p[:, v]], axis=1), ds * p[:, d]


def _axis_labels(view: str) -> tuple[str, str]:
    (h, hs), (v, vs), _ = VIEWS[view]
    sign = lambda s: "" if s > 0 else "−"  # noqa: E731
    return f"{sign(hs)}{_AXIS_NAMES[h]} (m)", f"{sign(vs)}{_AXIS_NAMES[v]} (m)"


def joint_palette(n: int = 24) -> np.ndarray:
    """(n, 3) distinct RGB colours in [0, 1] (tab20 without its two greys, then tab20b), one per joint."""
    tab20 = plt.get_cmap("tab20")(np.arange(20))[:, :3]
    tab20 = tab20[[i for i in range(20) if i not in (14, 15)]]  # greys would read as "no colour"
    cols = np.concatenate([tab20, plt.get_cmap("tab20b")(np.arange(20))[:, :3]])
    return cols[np.arange(n) % len(cols)]


def skinning_colors(weights, palette: np.ndarray | None = None) -> np.ndarray:
    """(V, 3) vertex colours: each joint's colour blended by the skinning weights (V, J)."""
    w = to_numpy(weights, "weights", last=None)
    if w.ndim != 2:
        raise ValueError(f"weights must be (V, J), got {w.shape}")
    pal = joint_palette(w.shape[1]) if palette is None else np.asarray(palette)
    return np.clip(w @ pal / np.maximum(w.sum(1, keepdims=True), 1e-12), 0.0, 1.0)


def _face_colors(vertices, faces, color, cmap, clim):
    """(F, 4) base RGBA per face from a colour name / RGB, per-vertex RGB (V, 3|4) or scalars (V,)."""
    import matplotlib.colors as mcolors

    F = len(faces)
    if color is None:
        color = "#b8c4d6"
    if isinstance(color, str) or (np.ndim(color) == 1 and len(color) in (3, 4) and len(vertices) not in (3, 4)):
        return np.tile(mcolors.to_rgba(color), (F, 1))
    c = to_numpy(color, "color", last=None)
    if c.ndim == 1:  # scalar per vertex -> colormap
        if c.shape[0] != len(vertices):
            raise ValueError(f"per-vertex values must have {len(vertices)} entries, got {c.shape[0]}")
        lo, hi = clim if clim is not None else (float(c.min()), float(c.max()))
        rgba = plt.get_cmap(cmap)((c[faces].mean(1) - lo) / max(hi - lo, 1e-12))
        return rgba
    if c.ndim == 2 and c.shape[0] == len(vertices) and c.shape[1] in (3, 4):
        fc = c[faces].mean(1)
        return np.concatenate([fc[:, :3], np.ones((F, 1)) if c.shape[1] == 3 else fc[:, 3:]], axis=1)
    raise ValueError(f"color must be a colour, (V,) values or (V, 3|4) RGB(A) with V={len(vertices)}, got {c.shape}")


def render_mesh(ax, vertices, faces, view: str = "front", color=None, cmap: str = "viridis", clim=None,
                shade: bool = True, alpha: float = 1.0, title: str | None = None, set_limits: bool = True,
                edgecolor="none", linewidth: float = 0.0):
    """Draw a mesh on a 2D matplotlib axis as an orthographic, depth-sorted, shaded render.

    ``color``: a matplotlib colour, per-vertex scalars (V,) mapped through ``cmap`` (range ``clim``),
    or per-vertex RGB(A) (V, 3|4). Returns the PolyCollection.
    """
    v = to_numpy(vertices, "vertices")
    f = to_numpy(faces, "faces").astype(np.int64)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"faces index vertices 0..{len(v) - 1}, got indices up to {f.max()}")
    xy, depth = project(v, view)
    rgba = _face_colors(v, f, color, cmap, clim)
    if shade:
        (h, hs), (vv, vs), (d, ds) = VIEWS[view]
        n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        lambert = np.abs(ds * n[:, d])  # light at the camera; two-sided
        rgba = rgba.copy()
        rgba[:, :3] *= (0.35 + 0.65 * lambert)[:, None]
    rgba[:, 3] *= alpha
    order = np.argsort(depth[f].mean(1))  # far first
    coll = PolyCollection(xy[f[order]], facecolors=rgba[order], edgecolors=edgecolor, linewidths=linewidth)
    ax.add_collection(coll)
    if set_limits:
        _set_limits(ax, xy)
    xl, yl = _axis_labels(view)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    if title is not None:
        ax.set_title(title)
    return coll


def _set_limits(ax, xy: np.ndarray, pad: float = 0.05):
    lo, hi = xy.min(0), xy.max(0)
    c, r = (lo + hi) / 2, (hi - lo).max() / 2 + pad
    ax.set_xlim(c[0] - r, c[0] + r)
    ax.set_ylim(c[1] - r, c[1] + r)
    ax.set_aspect("equal")


def render_skeleton(ax, joints, parents: Sequence[int], view: str = "front", color="#d62728",
                    joint_size: float = 12.0, linewidth: float = 2.0, names: Sequence[str] | None = None,
                    title: str | None = None, set_limits: bool = True, zorder: float = 3):
    """Draw bones (joint -> parent) and joints on a 2D axis; ``names`` labels the joints."""
    j = to_numpy(joints, "joints")
    parents = list(parents)
    if len(parents) != len(j):
        raise ValueError(f"parents has {len(parents)} entries for {len(j)} joints")
    xy, _ = project(j, view)
    segs = [(xy[i], xy[p]) for i, p in enumerate(parents) if p >= 0]
    lc = LineCollection(segs, colors=color, linewidths=linewidth, zorder=zorder)
    ax.add_collection(lc)
    ax.scatter(xy[:, 0], xy[:, 1], s=joint_size, c=color, zorder=zorder + 0.1)
    if names is not None:
        for (x, y), name in zip(xy, names):
            ax.annotate(name, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points", zorder=zorder + 0.2)
    if set_limits:
        _set_limits(ax, xy)
    xl, yl = _axis_labels(view)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    if title is not None:
        ax.set_title(title)
    return lc


def plot_gallery(vertices_list, faces, titles: Sequence[str] | None = None, view: str = "front", ncols: int | None = None,
                 colors=None, joints_list=None, parents: Sequence[int] | None = None, suptitle: str | None = None,
                 panel_size: float = 2.4, share_limits: bool = True, **render_kwargs):
    """A grid of static renders (one body per panel) -> matplotlib Figure.

    ``colors``: one colour spec for all panels or a list (one per panel); ``joints_list`` (+ ``parents``)
    overlays skeletons. With ``share_limits`` every panel uses the same scale (sizes are comparable).
    """
    verts = [to_numpy(v, "vertices") for v in vertices_list]
    n = len(verts)
    if n == 0:
        raise ValueError("plot_gallery needs at least one mesh")
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} meshes")
    ncols = ncols or min(n, 6)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * 1.15 * nrows), squeeze=False)
    per_panel = isinstance(colors, (list, tuple)) and len(colors) == n and not isinstance(colors[0], (int, float))
    all_xy = np.concatenate([project(v, view)[0] for v in verts])
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.axis("off")
            continue
        render_mesh(ax, verts[i], faces, view=view, color=colors[i] if per_panel else colors,
                    title=titles[i] if titles is not None else f"mesh {i}", set_limits=not share_limits, **render_kwargs)
        if joints_list is not None:
            if parents is None:
                raise ValueError("joints_list needs parents")
            render_skeleton(ax, joints_list[i], parents, view=view, set_limits=False, joint_size=4, linewidth=1)
        if share_limits:
            _set_limits(ax, all_xy)
        ax.tick_params(labelsize=6)
        ax.xaxis.label.set_size(7)
        ax.yaxis.label.set_size(7)
        ax.title.set_size(8)
    fig.suptitle(suptitle if suptitle is not None else f"{n} bodies ({view} view)")
    fig.tight_layout()
    return fig


def _rgb_strings(c: np.ndarray) -> list[str]:
    c = np.clip(np.asarray(c)[:, :3], 0, 1) * 255
    return [f"rgb({r:.0f},{g:.0f},{b:.0f})" for r, g, b in c]


def _scene(title: str, fig):
    fig.update_layout(
        title=title,
        scene=dict(xaxis_title="x (m)", yaxis_title="y (m)", zaxis_title="z (m)", aspectmode="data",
                   camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.0, y=0.3, z=2.2))),
        margin=dict(l=0, r=0, t=40, b=0), height=500,
    )
    return fig


def fixed_scene(points, pad: float = 0.05) -> dict:
    """Scene settings that hold every point of ``points`` (N, 3) with fixed axis ranges and true proportions
    (``pad``: margin as a fraction of the largest extent), so that a body changing in the scene does not
    make the axes rescale."""
    p = to_numpy(points, "points")
    lo, hi = p.min(0), p.max(0)
    margin = pad * max(float((hi - lo).max()), 1e-6)
    extent = np.maximum(hi - lo + 2 * margin, 1e-6)
    ranges = {f"{a}axis": dict(range=[float(lo[i] - margin), float(hi[i] + margin)], autorange=False)
              for i, a in enumerate("xyz")}
    return dict(aspectmode="manual", aspectratio=dict(zip("xyz", (extent / extent.max()).tolist())), **ranges)


def _bone_trace(joints: np.ndarray, parents: Sequence[int], color: str, name: str):
    import plotly.graph_objects as go

    xs, ys, zs = [], [], []
    for i, p in enumerate(parents):
        if p < 0:
            continue
        for coord, arr in zip((xs, ys, zs), (joints[[i, p], 0], joints[[i, p], 1], joints[[i, p], 2])):
            coord.extend([*arr.tolist(), None])
    return go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=dict(color=color, width=5), name=name, hoverinfo="skip")


def mesh_figure(vertices, faces, vertex_colors=None, intensity=None, joints=None, parents: Sequence[int] | None = None,
                joint_names: Sequence[str] | None = None, title: str = "Body mesh", colorscale: str = "Viridis",
                opacity: float | None = None, color: str = "#b8c4d6", colorbar_title: str | None = None):
    """Interactive plotly Mesh3d (+ optional joints and bones) with labelled axes and equal aspect.

    ``vertex_colors``: (V, 3) RGB in [0, 1]; ``intensity``: (V,) values shown with ``colorscale``.
    ``opacity`` defaults to 0.45 when joints are drawn (they sit inside the body) and 1 otherwise.
    """
    import plotly.graph_objects as go

    if opacity is None:
        opacity = JOINT_MESH_OPACITY if joints is not None else 1.0
    v = to_numpy(vertices, "vertices")
    f = to_numpy(faces, "faces").astype(np.int64)
    kw = dict(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], opacity=opacity, name="mesh",
              flatshading=False, lighting=dict(ambient=0.45, diffuse=0.8, specular=0.1), hoverinfo="skip")
    if vertex_colors is not None:
        vc = to_numpy(vertex_colors, "vertex_colors", last=None)
        if vc.shape[0] != len(v) or vc.ndim != 2:
            raise ValueError(f"vertex_colors must be ({len(v)}, 3), got {vc.shape}")
        kw["vertexcolor"] = _rgb_strings(vc)
    elif intensity is not None:
        it = to_numpy(intensity, "intensity", last=None).reshape(-1)
        if it.shape[0] != len(v):
            raise ValueError(f"intensity must have {len(v)} values, got {it.shape[0]}")
        kw.update(intensity=it, colorscale=colorscale, showscale=True,
                  colorbar=dict(title=colorbar_title) if colorbar_title else None)
    else:
        kw["color"] = color
    traces = [go.Mesh3d(**kw)]
    if joints is not None:
        j = to_numpy(joints, "joints")
        traces.append(go.Scatter3d(x=j[:, 0], y=j[:, 1], z=j[:, 2], mode="markers", name="joints",
                                   marker=dict(size=4, color="#d62728"),
                                   text=list(joint_names) if joint_names is not None else None))
        if parents is not None:
            traces.append(_bone_trace(j, parents, "#d62728", "bones"))
    return _scene(title, go.Figure(traces))


def mesh_slider_figure(vertices_seq, faces, values: Sequence[float], joints_seq=None,
                       parents: Sequence[int] | None = None, label: str = "value", title: str = "Body mesh",
                       active: int | None = None, opacity: float | None = None, color: str = "#b8c4d6"):
    """Plotly mesh with a built-in slider over ``values``: one frame per value, no kernel needed.

    ``vertices_seq``: (F, V, 3), the mesh at each of the F slider values; ``joints_seq``: optional (F, J, 3),
    drawn with bones when ``parents`` is given. The slider starts at ``active`` (default: the middle value).
    The frames live in the figure itself, so the slider works in a static HTML page too.
    """
    import plotly.graph_objects as go

    verts = [to_numpy(v, "vertices") for v in vertices_seq]
    values = [float(x) for x in values]
    if len(verts) != len(values) or not verts:
        raise ValueError(f"need one mesh per slider value, got {len(verts)} meshes for {len(values)} values")
    joints = None if joints_seq is None else [to_numpy(j, "joints") for j in joints_seq]
    if joints is not None and len(joints) != len(verts):
        raise ValueError(f"need one joint set per slider value, got {len(joints)} for {len(verts)} meshes")
    active = len(values) // 2 if active is None else int(active)
    if not 0 <= active < len(values):
        raise ValueError(f"active must index the {len(values)} values, got {active}")

    def frame_traces(k):
        fig = mesh_figure(verts[k], faces, joints=None if joints is None else joints[k],
                          parents=parents if joints is not None else None, opacity=opacity, color=color)
        return list(fig.data)

    def coordinates_only(traces):                                  # a frame updates the points, not the faces
        return [type(t)(x=t.x, y=t.y, z=t.z) for t in traces]

    frames = [go.Frame(data=coordinates_only(frame_traces(k)), name=f"{x:g}") for k, x in enumerate(values)]
    fig = go.Figure(data=frame_traces(active), frames=frames)
    animate = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    steps = [dict(method="animate", label=f"{x:g}", args=[[f"{x:g}"], animate]) for x in values]
    _scene(title, fig)
    fig.update_layout(sliders=[dict(active=active, steps=steps, currentvalue=dict(prefix=f"{label} = "), pad=dict(t=10))],
                      scene=fixed_scene(np.concatenate(verts)),      # fixed axes: the body must not jump
                      height=560, margin=dict(l=0, r=0, t=40, b=40))
    return fig


def skeleton_figure(joints, parents: Sequence[int], names: Sequence[str] | None = None, title: str = "Skeleton",
                    color: str = "#1f77b4"):
    """Interactive plotly 3D skeleton: bones joint -> parent and labelled joint markers."""
    import plotly.graph_objects as go

    j = to_numpy(joints, "joints")
    if len(parents) != len(j):
        raise ValueError(f"parents has {len(parents)} entries for {len(j)} joints")
    traces = [_bone_trace(j, parents, color, "bones"),
              go.Scatter3d(x=j[:, 0], y=j[:, 1], z=j[:, 2], mode="markers", name="joints",
                           marker=dict(size=4, color=color), text=list(names) if names is not None else None,
                           hoverinfo="text" if names is not None else "x+y+z")]
    return _scene(title, go.Figure(traces))
