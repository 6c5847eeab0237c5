"""``python -m posekit.train {gmm,vposer,posendf,humor,all} --motions DIR --out FILE [--fast]``.

Each sub-command lives in its own module (``posekit.train.gmm`` …) exposing
``add_arguments(parser)`` and ``run(args) -> int``.
"""
