"""``python -m posekit.train {<prior>,regressor,all} --motions DIR --out FILE [--fast]``: one sub-command per prior
of ``posekit.priors.registry``, the keypoint regressor, and ``all``.

Each sub-command lives in its own module (``posekit.train.gmm`` …) exposing ``train(motions, out, fast=False,
seed=0, device=None) -> Path``, ``add_arguments(parser)`` and ``run(args) -> int``; the pose trainers read their
data through ``posekit.train.splits.load_splits`` (poses of the train / validation / test subjects). The
trainers may import the layers below them and ``posekit.fitting`` (the keypoint regressor draws its training
views with it).
:func:`load_or_train` loads a prior like ``posekit.priors.store.load_prior`` and trains it into the folder
when neither the folder nor the shipped pretrained files have it.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

__all__ = ["load_or_train", "trainer"]


def trainer(name: str):
    """The trainer module of prior ``name`` (``posekit.train.<registry entry's trainer>``).

    InputError when the prior is unknown or has no trainer (a prior built in memory); ImportError when its
    module is not part of this posekit."""
    from ..errors import InputError
    from ..priors import registry

    e = registry.entry(name)
    if not e.trainer:
        raise InputError(f"prior {name!r} has no trainer (it is built in memory, registered with build=)")
    return importlib.import_module(f"{__name__}.{e.trainer}")


def load_or_train(name: str, priors_dir: str | os.PathLike | None = None, motions: str | os.PathLike | None = None,
                  fast: bool = False, seed: int = 0, device=None, train_if_missing: bool = True,
                  pretrained: bool = True, verbose: bool = True):
    """Prior ``name`` from ``priors_dir``, else the shipped pretrained file, else trained into ``priors_dir``
    on ``motions`` (default: the real CMU data ``posekit.data.paths.find_motion_dir`` finds). ``priors_dir``
    None: the shipped file, else trained into ``posekit.utils.cache_dir() / "priors"``.

    ``train_if_missing=False``: never train (``FileNotFoundError`` instead); ``pretrained=False``: skip the
    shipped files (train your own).
    """
    from ..priors import registry
    from ..priors.store import default_motions_dir, load_prior, load_prior_file, pretrained_path, prior_path

    e = registry.entry(name)
    if e.build is not None:
        return e.build()
    if priors_dir is None:                                     # the shipped file, else trained into the cache
        from ..utils import cache_dir

        if pretrained and pretrained_path(name, verify=False) is not None:
            return load_prior(name, None, device=device, pretrained=True, verbose=verbose)
        priors_dir = cache_dir() / "priors"
    path = prior_path(name, priors_dir)
    try:
        return load_prior(name, priors_dir, device=device, pretrained=pretrained, verbose=verbose)
    except FileNotFoundError:
        if not train_if_missing or path.exists():
            raise
    motions = Path(motions) if motions is not None else default_motions_dir()
    trainer(name).train(motions, path, fast=fast, seed=seed, device=device)
    return load_prior_file(name, path, device=device)
