"""posekit.viz: reusable figures.

``posekit.viz.mesh``: plotly mesh/skeleton figures, static matplotlib renders and galleries (SMPL's
frame: y up, facing +z); ``posekit.viz.plots``: 2D stick figures and atomic PNG saving;
``posekit.viz.render``: a NumPy z-buffer rasteriser for camera-frame meshes over photos (chapter 02b);
``posekit.viz.live``: sliders that update one plotly figure in place with a running kernel;
``posekit.viz.animate``: plotly figures with frames (slider and play button) that also play in static HTML.
Plotly's renderer: :func:`setup_notebook` (figure JSON only when live; plotly.js inlined only for an
HTML export, ``POSEKIT_HTML_EXPORT=1``).
Chapter-specific figures live beside them (``posekit.viz.data``, ``posekit.viz.fitting``) and are
imported from their modules.

May import: ``posekit.body``, ``posekit.data`` and the base modules ``posekit.skeleton``,
``posekit.rotations``, ``posekit.utils``; never the priors, the fitting or the experiments.
"""
from .animate import motion_figure, projection_figure
from .live import MeshExplorer
from .mesh import (
    VIEWS, joint_palette, mesh_figure, mesh_slider_figure, plot_gallery, project, render_mesh, render_skeleton, setup_notebook,
    skeleton_figure, skinning_colors, to_numpy,
)
from .plots import draw_skeleton, save_figure, skeleton_segments

__all__ = [
    "setup_notebook", "mesh_figure", "mesh_slider_figure", "skeleton_figure", "render_mesh", "render_skeleton", "plot_gallery",
    "skinning_colors", "joint_palette", "project", "to_numpy", "VIEWS",
    "draw_skeleton", "save_figure", "skeleton_segments",
    "MeshExplorer", "projection_figure", "motion_figure",
]
