"""Plotly figures that play by themselves: frames with a slider and a play button, no kernel needed.

The frames live in the figure, so they work live in JupyterLab and in a static HTML page alike.
:func:`projection_figure` follows a body through the steps of an optimisation (the mesh beside the
curve of the value being minimised); :func:`motion_figure` plays skeleton clips side by side, with
the joints in contact with the floor lit. Axis ranges are fixed over all frames (SMPL's frame: y up,
metres), so nothing rescales while the figure plays.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .mesh import _bone_trace, fixed_scene, mesh_figure, to_numpy

__all__ = ["projection_figure", "motion_figure", "play_controls", "CONTACT_COLOR", "JOINT_COLOR"]

#: colour of a joint in contact with the floor, and of the other joints
CONTACT_COLOR = "#d62728"
JOINT_COLOR = "#7f7f7f"
_SCENE_AXES = dict(xaxis_title="x (m)", yaxis_title="y (m)", zaxis_title="z (m)")
_CAMERA = dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.35, y=0.25, z=1.6))


def play_controls(names: Sequence[str], labels: Sequence[str], prefix: str, duration_ms: float,
                  redraw: bool = True) -> dict:
    """Layout entries (``sliders``, ``updatemenus``) for frames ``names``: a slider labelled ``labels``
    (the current one shown after ``prefix``) and ▶ / ❚❚ buttons playing ``duration_ms`` per frame."""
    frame = dict(duration=float(duration_ms), redraw=redraw)
    jump = dict(mode="immediate", frame=dict(duration=0, redraw=redraw), transition=dict(duration=0))
    steps = [dict(method="animate", label=str(lab), args=[[n], jump]) for n, lab in zip(names, labels)]
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=frame, transition=dict(duration=0), fromcurrent=True, mode="immediate")])
    pause = dict(label="❚❚ pause", method="animate", args=[[None], jump])
    return dict(sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix=prefix), x=0.16, len=0.84,
                              y=0.0, yanchor="top", pad=dict(t=30, b=10))],
                updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.15, y=0.0,
                                  xanchor="right", yanchor="top", pad=dict(t=50, r=10), buttons=[play, pause])])


def projection_figure(vertices_seq, faces, values, steps: Sequence[int] | None = None,
                      title: str = "Projection onto the manifold", value_label: str = "f(θ)",
                      step_label: str = "projection step", duration_ms: float = 400.0):
    """A body through the steps of a projection: its mesh (left) beside ``values`` per step (right).

    ``vertices_seq`` (S, V, 3): the mesh at each of S steps; ``values`` (S,): the quantity minimised
    (e.g. Pose-NDF's distance f); ``steps``: the step numbers (default 0..S-1). The first mesh stays
    as a faint grey ghost, the current step is marked on the curve; slider and ▶ move through the steps.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    verts = np.stack([to_numpy(v, "vertices") for v in vertices_seq]).astype(np.float32)
    vals = to_numpy(values, "values", last=None).reshape(-1).astype(float)
    steps = list(range(len(verts))) if steps is None else [int(s) for s in steps]
    if not len(verts) == len(vals) == len(steps) or len(verts) == 0:
        raise ValueError(f"need one mesh, value and step number per step: {len(verts)} meshes, {len(vals)} values, "
                         f"{len(steps)} steps")
    f = to_numpy(faces, "faces").astype(np.int64)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], specs=[[{"type": "scene"}, {"type": "xy"}]],
                        subplot_titles=(f"the body at this step (grey: step {steps[0]})", f"{value_label} per step"))
    ghost = mesh_figure(verts[0], f, color="#c7c7c7", opacity=0.25).data[0].update(name="start")
    body = mesh_figure(verts[0], f, color="#4c78a8").data[0].update(name="body")
    fig.add_trace(ghost, row=1, col=1)
    fig.add_trace(body, row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=vals, mode="lines+markers", name=value_label, line=dict(color="#4c78a8"),
                             marker=dict(size=5)), row=1, col=2)
    fig.add_trace(go.Scatter(x=[steps[0]], y=[vals[0]], mode="markers", name="this step",
                             marker=dict(size=13, color=CONTACT_COLOR, symbol="circle-open", line=dict(width=3))),
                  row=1, col=2)
    names = [f"step {s}" for s in steps]
    fig.frames = [go.Frame(name=n, traces=[1, 3], data=[go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2]),
                                                         go.Scatter(x=[s], y=[y])])
                  for n, v, s, y in zip(names, verts, steps, vals)]
    fig.update_layout(title=title, height=520, margin=dict(l=0, r=10, t=70, b=10), showlegend=False,
                      scene=dict(**fixed_scene(verts.reshape(-1, 3)), **_SCENE_AXES, camera=_CAMERA),
                      **play_controls(names, steps, f"{step_label}: ", duration_ms))
    positive = bool((vals > 0).all())
    fig.update_xaxes(title_text=step_label, row=1, col=2)
    fig.update_yaxes(title_text=value_label + (" (log scale)" if positive else ""),
                     type="log" if positive else "linear", row=1, col=2)
    return fig


def _lit(contacts, n_frames: int, n_joints: int, contact_joints: Sequence[int] | None, threshold: float) -> np.ndarray:
    """(T, J) bool: which joint is in contact in which frame, from (T, C) probabilities or labels."""
    lit = np.zeros((n_frames, n_joints), dtype=bool)
    if contacts is None:
        return lit
    c = to_numpy(contacts, "contacts", last=None)
    ids = list(range(n_joints)) if contact_joints is None else list(contact_joints)
    if c.ndim != 2 or c.shape != (n_frames, len(ids)):
        raise ValueError(f"contacts must be ({n_frames}, {len(ids)}): one value per frame and contact joint, "
                         f"got {c.shape}")
    lit[:, ids] = c > threshold
    return lit


def motion_figure(clips: Mapping[str, object], parents: Sequence[int], contacts: Mapping[str, object] | None = None,
                  contact_joints: Sequence[int] | None = None, fps: float = 30.0, every: int = 2,
                  title: str = "Motion", threshold: float = 0.5, floor: float | None = 0.0):
    """Skeleton clips played side by side, one 3D panel each, joints in contact lit.

    ``clips``: {panel title: joints (T, J, 3)}, all with the same T; ``contacts``: {panel title: (T, C)
    probabilities or 0/1 labels} for the joints ``contact_joints`` (default: all J), lit above
    ``threshold``; ``every``: keep every n-th frame (played at ``fps / every`` frames a second);
    ``floor``: height of a grey floor (None: no floor). The panels share their fixed axis ranges.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not clips:
        raise ValueError("motion_figure needs at least one clip")
    joints = {k: np.round(to_numpy(v, "joints", last=None).astype(np.float64), 3) for k, v in clips.items()}   # mm
    shapes = {v.shape for v in joints.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[2] != 3:
        raise ValueError(f"every clip must be (T, J, 3) with the same T and J, got {sorted(shapes)}")
    T, J, _ = next(iter(shapes))
    if len(parents) != J:
        raise ValueError(f"parents has {len(parents)} entries for {J} joints")
    lit = {k: _lit((contacts or {}).get(k), T, J, contact_joints, threshold) for k in joints}
    keep = list(range(0, T, max(int(every), 1)))
    n = len(joints)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n], subplot_titles=list(joints),
                        horizontal_spacing=0.02)
    allj = np.concatenate([v.reshape(-1, 3) for v in joints.values()])
    if floor is not None:
        allj = np.concatenate([allj, allj * [1, 0, 1] + [0, floor, 0]])
    scene = dict(**fixed_scene(allj), **_SCENE_AXES,
                 camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=1.2, y=0.55, z=1.2)))

    def joint_trace(k, t):
        colour = np.where(lit[k][t], CONTACT_COLOR, JOINT_COLOR).tolist()
        size = np.where(lit[k][t], 7, 3).tolist()
        p = joints[k][t]
        return go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name="joints (red: contact)",
                            marker=dict(color=colour, size=size), hoverinfo="skip")

    animated = []
    for c, k in enumerate(joints, start=1):
        if floor is not None:
            (x0, x1), (z0, z1) = scene["xaxis"]["range"], scene["zaxis"]["range"]
            fig.add_trace(go.Mesh3d(x=[x0, x1, x1, x0], y=[floor] * 4, z=[z0, z0, z1, z1], i=[0, 0], j=[1, 2],
                                    k=[2, 3], color="#dddddd", opacity=0.5, name="floor", hoverinfo="skip"),
                          row=1, col=c)
        animated += [len(fig.data), len(fig.data) + 1]
        fig.add_trace(_bone_trace(joints[k][0], parents, "#4c78a8", "bones"), row=1, col=c)
        fig.add_trace(joint_trace(k, 0), row=1, col=c)
    names = [f"{t}" for t in keep]
    fig.frames = [go.Frame(name=nm, traces=animated,
                           data=[tr for k in joints for tr in (_bone_trace(joints[k][t], parents, "#4c78a8", "bones"),
                                                              joint_trace(k, t))])
                  for nm, t in zip(names, keep)]
    fig.update_layout(title=title, height=520, margin=dict(l=0, r=0, t=70, b=10), showlegend=False,
                      **{f"scene{'' if c == 1 else c}": scene for c in range(1, n + 1)},
                      **play_controls(names, names, "frame: ", 1000.0 * max(int(every), 1) / fps))
    return fig
