"""posekit.viz: reusable figures.

``posekit.viz.mesh``: plotly mesh/skeleton figures, static matplotlib renders and galleries (SMPL's
frame: y up, facing +z). Chapter-specific figures live beside it (``posekit.viz.data``,
``posekit.viz.fitting``) and are imported from their modules.
"""
from .mesh import (
    VIEWS, joint_palette, mesh_figure, plot_gallery, project, render_mesh, render_skeleton, setup_notebook,
    skeleton_figure, skinning_colors, to_numpy,
)

__all__ = [
    "setup_notebook", "mesh_figure", "skeleton_figure", "render_mesh", "render_skeleton", "plot_gallery",
    "skinning_colors", "joint_palette", "project", "to_numpy", "VIEWS",
]
