"""A folder of trained priors (``gmm.npz``, ``vposer.pt``, ``posendf.pt``): load them, or train on the spot.

Each ``posekit.train.<name>`` module exposes ``train(motions, out, fast=False, seed=0, device=None) -> Path``
and each prior class a ``load(path, device=None)`` classmethod.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

PRIOR_FILES = {"gmm": "gmm.npz", "vposer": "vposer.pt", "posendf": "posendf.pt"}
PRIOR_CLASSES = {"gmm": ("posekit.priors.gmm", "GMMPrior"),
                 "vposer": ("posekit.priors.vposer", "VPoser"),
                 "posendf": ("posekit.priors.posendf", "PoseNDF")}


def default_motions_dir() -> Path:
    """The motion folder used to train priors when none is given: real CMU data if found, else an error."""
    from posekit.data.paths import find_motion_dir  # the data layer knows where real data lives

    found = find_motion_dir()
    if found is None:
        raise FileNotFoundError(
            "no motion data found to train a prior: set POSEKIT_DATA to a folder of motion files, "
            "run posekit.data.download_cmu(...), or pass motions=DIR")
    return Path(found)


def prior_path(name: str, priors_dir: str | os.PathLike) -> Path:
    if name not in PRIOR_FILES:
        raise ValueError(f"unknown prior {name!r}; expected one of {sorted(PRIOR_FILES)}")
    return Path(priors_dir) / PRIOR_FILES[name]


def load_prior(name: str, priors_dir: str | os.PathLike, motions: str | os.PathLike | None = None,
               fast: bool = False, seed: int = 0, device=None, train_if_missing: bool = True):
    """Load prior ``name`` from ``priors_dir``; when the file is absent, train it there first.

    Training uses ``motions`` (a folder of motion files) or, when None, the real CMU data found by
    ``posekit.data.paths.find_motion_dir()``.
    """
    path = prior_path(name, priors_dir)
    if not path.exists():
        if not train_if_missing:
            raise FileNotFoundError(f"{path} not found; train it with: python -m posekit.train {name} --motions DIR --out {path}")
        trainer = importlib.import_module(f"posekit.train.{name}")
        motions = Path(motions) if motions is not None else default_motions_dir()
        trainer.train(motions, path, fast=fast, seed=seed, device=device)
    modname, clsname = PRIOR_CLASSES[name]
    cls = getattr(importlib.import_module(modname), clsname)
    return cls.load(path, device=device)
