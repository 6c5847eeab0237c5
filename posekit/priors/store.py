"""A folder of trained priors (``gmm.npz``, ``vposer.pt``, ``posendf.pt``, the motion prior ``humor.pt``): load them, or use the shipped
pretrained ones, or train on the spot.

``load_prior(name, priors_dir)`` looks, in order, for

1. ``priors_dir/<file>``: a prior trained (or copied) there, used as it is;
2. the **pretrained** file shipped in ``posekit/priors/pretrained`` (trained by ``python -m posekit.train
   all`` on the train subjects of the shared CMU set; ``manifest.json`` there lists the sha256, the
   trials, the recipe and validation metrics). Its checksum is verified before it is loaded, and a line
   says that the pretrained prior is used;
3. training it into ``priors_dir`` (``posekit.train.<name>.train``) on ``motions`` or the data that
   ``posekit.data.paths.find_motion_dir`` finds.

``pretrained=False`` skips step 2 (train your own); ``train_if_missing=False`` skips step 3.
Each ``posekit.train.<name>`` module exposes ``train(motions, out, fast=False, seed=0, device=None) -> Path``
and each prior class a ``load(path, device=None)`` classmethod, which reads its file through
``posekit.priors.files`` (``torch.load(weights_only=True)`` / ``np.load(allow_pickle=False)``): an empty,
truncated or random file, another prior's file or NaN weights raise ``posekit.errors.InputError`` naming the file.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from ..errors import InputError

PRIOR_FILES = {"gmm": "gmm.npz", "vposer": "vposer.pt", "posendf": "posendf.pt", "humor": "humor.pt",
               "diffusion": "diffusion.pt"}
PRIOR_CLASSES = {"gmm": ("posekit.priors.gmm", "GMMPrior"),
                 "vposer": ("posekit.priors.vposer", "VPoser"),
                 "posendf": ("posekit.priors.posendf", "PoseNDF"),
                 "humor": ("posekit.priors.humor", "HumorPrior"),
                 "diffusion": ("posekit.priors.diffusion", "DiffusionPrior")}

__all__ = ["load_prior", "load_prior_file", "prior_path", "pretrained_dir", "pretrained_manifest",
           "pretrained_path", "default_motions_dir", "PRIOR_FILES", "PRIOR_CLASSES"]

_ANNOUNCED: set = set()


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
        raise InputError(f"unknown prior {name!r}; expected one of {sorted(PRIOR_FILES)}")
    return Path(priors_dir) / PRIOR_FILES[name]


def pretrained_dir() -> Path:
    """``posekit/priors/pretrained``: the priors shipped with the package and their ``manifest.json``."""
    return Path(__file__).resolve().parent / "pretrained"


def pretrained_manifest() -> dict:
    """The shipped manifest ({} when this copy of posekit ships no pretrained priors)."""
    p = pretrained_dir() / "manifest.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def pretrained_path(name: str, verify: bool = True) -> Path | None:
    """The shipped pretrained file of prior ``name`` (None when there is none). ``verify``: check its
    sha256 against the manifest and raise ``InputError`` on a mismatch (a damaged or replaced file)."""
    entry = pretrained_manifest().get("priors", {}).get(name)
    if name not in PRIOR_FILES or entry is None:
        return None
    path = pretrained_dir() / entry["file"]
    if not path.is_file():
        return None
    if verify:
        from posekit.data.download import sha256_file

        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise InputError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({entry['sha256'][:12]}...); "
                             "reinstall posekit or train your own prior (load_prior(..., pretrained=False))")
    return path


def load_prior_file(name: str, path: str | os.PathLike, device=None):
    """Load the prior ``name`` from a file with its class's ``load``."""
    if name not in PRIOR_CLASSES:
        raise InputError(f"unknown prior {name!r}; expected one of {sorted(PRIOR_CLASSES)}")
    modname, clsname = PRIOR_CLASSES[name]
    cls = getattr(importlib.import_module(modname), clsname)
    return cls.load(path, device=device)


def load_prior(name: str, priors_dir: str | os.PathLike, motions: str | os.PathLike | None = None,
               fast: bool = False, seed: int = 0, device=None, train_if_missing: bool = True,
               pretrained: bool = True, verbose: bool = True):
    """Load prior ``name``: from ``priors_dir``, else the shipped pretrained file, else train it there.

    See the module docstring for the order. Training uses ``motions`` (a folder of motion files) or, when
    None, the real CMU data found by ``posekit.data.paths.find_motion_dir()``.
    """
    path = prior_path(name, priors_dir)
    if not path.exists():
        shipped = pretrained_path(name) if pretrained else None
        if shipped is not None:
            if verbose and name not in _ANNOUNCED:
                m = pretrained_manifest()
                n = len(m.get("trials", {}).get("train", []))
                print(f"{name}: using the pretrained prior shipped with posekit ({shipped.name}, trained on {n} "
                      "CMU trials of the train subjects; see posekit.priors.store.pretrained_manifest())")
                _ANNOUNCED.add(name)
            return load_prior_file(name, shipped, device=device)
        if not train_if_missing:
            raise FileNotFoundError(f"{path} not found; train it with: python -m posekit.train {name} --motions DIR --out {path}")
        trainer = importlib.import_module(f"posekit.train.{name}")
        motions = Path(motions) if motions is not None else default_motions_dir()
        trainer.train(motions, path, fast=fast, seed=seed, device=device)
    return load_prior_file(name, path, device=device)
