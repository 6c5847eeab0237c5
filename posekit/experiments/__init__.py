"""The papers' experiments re-run on data we can run.

``python -m posekit.experiments {image-fit,denoise,occlusion,generate,all} --motions DIR
--priors DIR --out DIR [--fast] [--seed N]``. Each sub-command lives in a module
(``image-fit`` -> ``posekit.experiments.image_fit``) exposing ``add_arguments(parser)`` (optional)
and ``run(args) -> list[dict]`` returning result rows; ``posekit.experiments.report`` writes them.

The experiment modules are protocols only (which clips, which noise, which metric, which table): the
fitting, the weight search and the metrics are ``posekit.fitting``'s; the clips, noise and hidden parts
are ``clips``; options, priors by name and run setup are ``common``. No experiment imports another
(``run_all`` runs them all).

May import every other subpackage (``body``, ``data``, ``priors``, ``train``, ``fitting``, ``viz``) and the
base modules ``posekit.skeleton``, ``posekit.rotations``, ``posekit.utils``.
"""
from .report import RESULT_COLUMNS, read_results, results_markdown, write_results

__all__ = ["RESULT_COLUMNS", "read_results", "results_markdown", "write_results"]
