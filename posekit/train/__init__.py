"""``python -m posekit.train {gmm,vposer,posendf,humor,regressor,all} --motions DIR --out FILE [--fast]``.

Each sub-command lives in its own module (``posekit.train.gmm`` …) exposing
``add_arguments(parser)`` and ``run(args) -> int``. The trainers may import the layers below them and
``posekit.fitting`` (the keypoint regressor draws its training views with it).
"""
