"""Train SMPLify's GMM pose prior: ``python -m posekit.train gmm --motions DIR --out FILE [--fast]``.

Fits an 8-component full-covariance Gaussian mixture (scikit-learn) to the 21 body joints'
axis-angle (63-d) of the train split (by subject) of every motion file under DIR, and writes
``means``, ``covariances``, ``weights`` to an ``.npz`` (atomic, no pickle).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..priors.gmm import GMMPrior
from ..utils import fast_mode, seed_everything

__all__ = ["train", "run", "add_arguments"]


def add_arguments(parser) -> None:
    parser.add_argument("--components", type=int, default=8, help="mixture components (SMPLify: 8)")
    parser.add_argument("--thin", type=float, default=None,
                        help="drop near-duplicate frames closer than this many degrees (default: 2 in --fast)")


def _train_poses(motions, fast: bool, seed: int, thin: float | None = None) -> torch.Tensor:
    from .splits import load_splits

    return load_splits(motions, seed=seed, thin=thin if thin is not None else (2.0 if fast else None),
                       max_files=12 if fast else None)["train"]


def train(motions, out, fast: bool = False, seed: int = 0, device=None, n_components: int = 8,
          thin: float | None = None, verbose: bool = True) -> Path:
    """Fit the GMM on the train split of ``motions`` and save it to ``out``; returns the path.

    The fit is scikit-learn's EM and runs on the CPU whatever ``device`` says (it takes seconds to minutes even on
    full CMU); ``device`` is accepted so that every trainer has the same signature (``train all --device cuda``
    moves only the neural priors to the GPU)."""
    fast = fast or fast_mode()
    if verbose and device is not None and str(device) != "cpu":
        print(f"GMM prior: fitted on the CPU (scikit-learn EM); --device {device} applies to the neural priors")
    seed_everything(seed)
    t0 = time.perf_counter()
    x = _train_poses(motions, fast, seed, thin)
    if fast and len(x) > 20000:
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:20000]]
    prior = GMMPrior.fit(x, n_components=n_components, seed=seed, max_iter=100 if fast else 300)
    path = prior.save(out)
    if verbose:
        print(f"GMM prior: {n_components} components over {len(x)} train poses (63-d body-21 axis-angle), "
              f"{time.perf_counter() - t0:.1f} s -> {path}")
    return Path(path)


def run(args) -> int:
    train(args.motions, args.out, fast=args.fast, seed=args.seed, device=args.device,
          n_components=getattr(args, "components", 8), thin=getattr(args, "thin", None))
    return 0
