"""The papers' experiments re-run on data we can run.

``python -m posekit.experiments {image-fit,denoise,occlusion,generate,all} --motions DIR
--priors DIR --out DIR [--fast] [--seed N]``. Each sub-command lives in a module
(``image-fit`` -> ``posekit.experiments.image_fit``) exposing ``add_arguments(parser)`` (optional)
and ``run(args) -> list[dict]`` returning result rows; ``posekit.experiments.report`` writes them.
"""
from .report import RESULT_COLUMNS, read_results, results_markdown, write_results

__all__ = ["RESULT_COLUMNS", "read_results", "results_markdown", "write_results"]
