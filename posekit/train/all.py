"""``python -m posekit.train all --motions DIR --out DIR [--fast]``: every prior into one folder, with a manifest.

Trains every prior of ``posekit.priors.registry`` whose trainer this version has on the train
split of DIR (``posekit.data.dataset.subject_split``), one after the other, then writes
``manifest.json`` beside them: for each file its sha256 and size, the recipe (module, fast or full
settings, seed) and the command that made it, the trial ids trained on, the training time, and
validation metrics measured the same way for every pose prior on the validation subjects:

- ``val_energy_clean`` / ``val_energy_noisy``: the mean energy of clean validation poses and of the
  same poses with N(0, 0.3²) axis-angle noise (lower = more plausible);
- ``val_rank_accuracy``: the fraction of validation poses whose noisy copy gets the higher energy
  (0.5 = a prior that cannot tell real poses from perturbed ones, 1.0 = always right).

HuMoR's entry records its own validation figures (``posekit.train.humor.validation_summary``).

``--priors`` trains a subset: the folder's existing manifest keeps the entries of the other priors when it
was made from the same motions, split, fast flag and seed and their files are unchanged (sha256).

This is how the pretrained priors shipped in ``posekit/priors/pretrained`` were made.
"""
from __future__ import annotations

import importlib
import json
import platform
import shlex
import time
from pathlib import Path

import torch

from ..data.download import sha256_file
from ..errors import InputError, check_choices
from ..utils import atomic_path, fast_mode

__all__ = ["train", "run", "add_arguments", "parse_priors", "validation_metrics", "write_manifest", "trainable"]

NOISE_SIGMA = 0.3


def trainable() -> list[str]:
    """The registry's priors whose trainer is part of this posekit (pose priors first)."""
    from ..priors import registry

    return [n for n in registry.prior_names() if _available(n)]


def add_arguments(parser) -> None:
    parser.add_argument("--priors", default=None,
                        help="comma-separated subset (default: every prior of posekit.priors.registry)")


def parse_priors(text) -> list[str] | None:
    """``--priors``: None (every prior) or a comma list of available priors; anything else is an InputError."""
    if text is None:
        return None
    known = trainable()
    return check_choices("--priors", str(text), known, what="priors", unknown="unknown or unavailable prior(s)")


def _available(name: str) -> bool:
    from . import trainer

    try:
        trainer(name)
        return True
    except (ModuleNotFoundError, InputError):
        return False


def validation_metrics(prior, val_body21: torch.Tensor, n: int = 2000, seed: int = 0) -> dict:
    """Energies of clean vs noisy validation poses (see the module docstring); val_body21 (N, 21, 3)."""
    g = torch.Generator().manual_seed(seed)
    x = val_body21[torch.randperm(len(val_body21), generator=g)[:n]].float()
    noisy = x + NOISE_SIGMA * torch.randn(x.shape, generator=g)
    with torch.no_grad():
        e0 = torch.cat([prior.energy(x[i:i + 500]) for i in range(0, len(x), 500)])
        e1 = torch.cat([prior.energy(noisy[i:i + 500]) for i in range(0, len(x), 500)])
    return {"val_poses": int(len(x)), "val_energy_clean": float(e0.mean()), "val_energy_noisy": float(e1.mean()),
            "val_rank_accuracy": float((e1 > e0).float().mean()), "noise_sigma_rad": NOISE_SIGMA}


def write_manifest(out_dir: Path, entries: dict, motions, trials: dict, fast: bool, seed: int) -> Path:
    """``manifest.json`` (atomic) for the prior files of ``out_dir``."""
    manifest = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "posekit": importlib.import_module("posekit").__version__, "torch": torch.__version__,
        "python": platform.python_version(), "motions": str(motions), "fast": bool(fast), "seed": int(seed),
        "split_rule": "posekit.data.dataset.subject_split", "trials": trials, "priors": entries,
        "acknowledgement": "The data used in this project was obtained from mocap.cs.cmu.edu. "
                           "The database was created with funding from NSF EIA-0196217.",
    }
    path = Path(out_dir) / "manifest.json"
    try:                                     # other models' entries (the keypoint regressor's) are kept as they are
        models = json.loads(path.read_text()).get("models")
    except (OSError, ValueError, AttributeError):
        models = None
    if models:
        manifest["models"] = models
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return path


def kept_entries(out_dir: Path, motions, trials: dict, fast: bool, seed: int, retrained) -> dict:
    """Entries of ``out_dir/manifest.json`` for priors not in ``retrained`` that still describe their files
    and were made the same way (motions, trials, fast, seed); {} when there is no such manifest."""
    path = Path(out_dir) / "manifest.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    same = (old.get("motions"), old.get("trials"), old.get("fast"), old.get("seed")) == \
        (str(motions), trials, bool(fast), int(seed))
    kept = {}
    for name, e in (old.get("priors") or {}).items() if same else ():
        f = Path(out_dir) / str(e.get("file", ""))
        if name not in retrained and f.is_file() and sha256_file(f) == e.get("sha256"):
            kept[name] = e
    return kept


def train(motions, out, fast: bool = False, seed: int = 0, device=None, priors=None) -> Path:
    """Train every prior (or ``priors``) on ``motions`` into the folder ``out``; returns the manifest path."""
    from ..priors import registry
    from ..priors.store import load_prior_file
    from . import trainer
    from .splits import load_splits, val_or_train

    fast = fast or fast_mode()
    out = Path(out)
    names = list(priors) if priors else trainable()
    unknown = [n for n in names if n not in registry.kinds()]
    if unknown:
        raise InputError(f"unknown prior(s) {unknown}; expected some of {list(registry.kinds())}")
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits(motions, seed=seed)
    ds = splits["dataset"]
    trials = {s: sorted({r["trial"] for r in ds.files if r["split"] == s}) for s in ("train", "val", "test")}
    val = val_or_train(splits)
    entries = kept_entries(out, motions, trials, fast, seed, names)
    for name in names:
        path = out / registry.entry(name).file
        cmd = f"python -m posekit.train {name} --motions {shlex.quote(str(motions))} --out {shlex.quote(str(path))}" + \
              (" --fast" if fast else "") + f" --seed {seed}"
        print(f"[{name}] {cmd}", flush=True)
        t0 = time.perf_counter()
        mod = trainer(name)
        mod.train(motions, path, fast=fast, seed=seed, device=device)
        seconds = time.perf_counter() - t0
        entry = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
                 "command": cmd, "recipe": {"module": mod.__name__, "fast": bool(fast), "seed": seed},
                 "train_seconds": round(seconds, 1)}
        if hasattr(mod, "validation_summary"):              # a trainer with validation figures of its own
            entry["validation"] = mod.validation_summary(path)
        else:
            entry["validation"] = validation_metrics(load_prior_file(name, path), val)
        entries[name] = entry
        print(f"[{name}] {seconds:.0f} s, {entry['bytes'] / 1e6:.2f} MB, validation {entry.get('validation')}",
              flush=True)
    return write_manifest(out, entries, motions, trials, fast, seed)


def run(args) -> int:
    priors = parse_priors(getattr(args, "priors", None))
    path = train(args.motions, args.out, fast=args.fast, seed=args.seed, device=args.device, priors=priors)
    print(f"wrote {path}")
    return 0
