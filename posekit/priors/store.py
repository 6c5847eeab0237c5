"""A folder of trained priors (one file per prior of ``posekit.priors.registry``: ``gmm.npz``, ``vposer.pt``, ...):
load them, or use the shipped pretrained ones.

``load_prior(name, priors_dir)`` looks, in order, for

1. ``priors_dir/<file>``: a prior trained (or copied) there, used as it is;
2. the **pretrained** file shipped in ``posekit/priors/pretrained`` (trained by ``python -m posekit.train
   all`` on the train subjects of the shared CMU set; ``manifest.json`` there lists the sha256, the
   trials, the recipe and validation metrics). Its checksum is verified before it is loaded, and a line
   says that the pretrained prior is used.

Neither found: ``FileNotFoundError`` with the command that trains one. To train on the spot when a prior is
missing use ``posekit.train.load_or_train`` (same arguments, plus the motions to train on): training is the
train layer's job, which sits above this one. ``pretrained=False`` skips step 2 (train your own).
A prior registered with ``build=`` (defined in a notebook) is built instead of read.
Each prior class has a ``load(path, device=None)`` classmethod, which reads its file through
``posekit.priors.files`` (``torch.load(weights_only=True)`` / ``np.load(allow_pickle=False)``): an empty,
truncated or random file, another prior's file or NaN weights raise ``posekit.errors.InputError`` naming the file.
"""
from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import InputError

from . import registry


class _View(Mapping):
    """A live read-only view {name: field} of the registry's priors read from files."""

    def __init__(self, get):
        self._get = get

    def __getitem__(self, name):
        return self._get(registry.kinds()[name])

    def __iter__(self):
        return iter(registry.kinds())

    def __len__(self):
        return len(registry.kinds())


#: {prior: its file name in a priors folder}, from the registry
PRIOR_FILES = _View(lambda e: e.file)
#: {prior: (module, class name)}, from the registry
PRIOR_CLASSES = _View(lambda e: (e.module, e.class_name))

__all__ = ["load_prior", "load_prior_file", "prior_path", "pretrained_dir", "pretrained_manifest",
           "pretrained_path", "shipped_file", "default_motions_dir", "PRIOR_FILES", "PRIOR_CLASSES"]

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
    """Where prior ``name`` lives in ``priors_dir`` (InputError for an unknown name or a prior without a file)."""
    e = registry.entry(name)
    if not e.file:
        raise InputError(f"prior {name!r} is built in memory (registered with build=), it has no file")
    return Path(priors_dir) / e.file


def pretrained_dir() -> Path:
    """``posekit/priors/pretrained``: the priors shipped with the package and their ``manifest.json``."""
    return Path(__file__).resolve().parent / "pretrained"


def pretrained_manifest() -> dict:
    """The shipped manifest ({} when this copy of posekit ships no pretrained priors)."""
    p = pretrained_dir() / "manifest.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def shipped_file(section: str, name: str, verify: bool = True, hint: str = "") -> Path | None:
    """The file of entry ``name`` in section ``section`` of the shipped manifest ("priors", "models"), None when
    this copy ships none. ``verify``: check its sha256 and raise ``InputError`` on a mismatch (a damaged or
    replaced file), with ``hint`` saying what to do instead."""
    entry = pretrained_manifest().get(section, {}).get(name)
    if entry is None:
        return None
    path = pretrained_dir() / entry["file"]
    if not path.is_file():
        return None
    if verify:
        from posekit.data.download import sha256_file

        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise InputError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({entry['sha256'][:12]}...); "
                             f"reinstall posekit or {hint}")
    return path


def pretrained_path(name: str, verify: bool = True) -> Path | None:
    """The shipped pretrained file of prior ``name`` (None when there is none). ``verify``: check its
    sha256 against the manifest and raise ``InputError`` on a mismatch (a damaged or replaced file)."""
    if name not in PRIOR_FILES:
        return None
    return shipped_file("priors", name, verify, "train your own prior (load_prior(..., pretrained=False))")


def load_prior_file(name: str, path: str | os.PathLike, device=None):
    """Load the prior ``name`` from a file with its class's ``load``."""
    e = registry.entry(name)
    if e.build is not None:
        return e.build()
    cls = getattr(importlib.import_module(e.module), e.class_name)
    return cls.load(path, device=device)


def load_prior(name: str, priors_dir: str | os.PathLike | None = None, motions: str | os.PathLike | None = None,
               fast: bool = False, seed: int = 0, device=None, train_if_missing: bool = False,
               pretrained: bool = True, verbose: bool = True):
    """Load prior ``name``: from ``priors_dir``, else the shipped pretrained file (see the module docstring).

    Neither there: ``FileNotFoundError`` with the command that trains it. Training on the spot lives in the
    train layer: ``posekit.train.load_or_train`` takes the same arguments; ``motions``, ``fast``, ``seed`` and
    ``train_if_missing`` are accepted here for that call's sake and unused.
    """
    e = registry.entry(name)
    if e.build is not None:
        return e.build()
    path = prior_path(name, priors_dir) if priors_dir is not None else None
    if path is None or not path.exists():
        shipped = pretrained_path(name) if pretrained else None
        if shipped is not None:
            if verbose and name not in _ANNOUNCED:
                m = pretrained_manifest()
                n = len(m.get("trials", {}).get("train", []))
                print(f"{name}: using the pretrained prior shipped with posekit ({shipped.name}, trained on {n} "
                      "CMU trials of the train subjects; see posekit.priors.store.pretrained_manifest())")
                _ANNOUNCED.add(name)
            return load_prior_file(name, shipped, device=device)
        where = path if path is not None else e.file
        raise FileNotFoundError(f"{where} not found and no pretrained {e.label} prior ships with this posekit; train "
                                f"it with: python -m posekit.train {e.trainer or name} --motions DIR --out {where} "
                                "(or posekit.train.load_or_train)")
    return load_prior_file(name, path, device=device)
