"""``python -m posekit.train posendf --motions DIR --out FILE [--fast]``: train Pose-NDF on a folder of motions.

Data: ``posekit.data.pose_dataset(DIR)`` split by subject. The clean set is the train split's 21 body joints as
hemisphere quaternions (subsampled to ``max_clean`` poses); training samples are perturbations of it (Pose-NDF
noise + NRDF-style controlled distances + clean poses) with their distance to the clean set.

Early stopping: the validation set is built like the training set, from the *val* split's subjects, and its
targets are distances to the set of all real poses known, train ∪ val. A clean validation pose is a real pose,
so its target is 0, and a perturbed one is scored against its true nearest real pose. The criterion therefore
rewards a field that generalises to unseen people (low on their real poses, growing off them). Measuring the
val samples against the *train* clean set alone (the previous choice) made every clean validation pose a
target of about 0.69 (its gap to the nearest training pose, mostly data sparsity) and so picked the epoch that
best pushes unseen real poses *away* from the zero set.
A checkpoint ``FILE.ckpt`` is written atomically after every epoch; running the same command again resumes.

Remedies (``--remedy NAME``, :data:`REMEDIES`; measured on validation subjects by
``benchmarks/posendf_remedies.py``, none is the default): ``random`` adds uniformly random poses to the samples;
``nrdf`` trains on NRDF's linear-angle distance with NRDF's released sampling recipe and no eikonal term;
``chains`` trains a field over kinematic chains on per-chain distances (see ``posekit.priors.posendf``).
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from posekit.priors.posendf import PoseNDF, default_config, fit, fit_config, make_samples
from posekit.errors import InputError
from posekit.priors.posendf.data import BODY21_CHAINS, body21_to_quats
from posekit.utils import fast_mode, seed_everything

from .splits import load_splits, val_or_train

__all__ = ["settings", "REMEDIES", "remedy_overrides", "build_data", "train_from_poses", "train", "run", "add_arguments"]

#: Changes to the shipped recipe (``settings``) that the remedies for hidden limbs make, as ``overrides``.
REMEDIES = {
    # Pose-NDF's authors advise clean, noisy *and random* poses: 10 % uniformly random poses
    "random": {"data": {"frac_random": 0.1, "frac_noisy": 0.40, "frac_nrdf": 0.40}},
    # NRDF (He et al. CVPR 2024, https://arxiv.org/abs/2403.03122): its distance, its sampling, eikonal weight 0
    "nrdf": {"data": {"metric": "nrdf", "nrdf_sampling": "released", "frac_noisy": 0.0, "frac_nrdf": 0.9},
             "fit": {"eikonal_weight": 0.0}},
    # a field over kinematic chains; five heads of [256, 128, 64] cost about the shipped head [512, 256, 128, 64]
    "chains": {"data": {"chains": [list(c) for c in BODY21_CHAINS]}, "model": {"head_dims": [256, 128, 64]}},
}


def remedy_overrides(name: str) -> dict:
    """A copy of ``REMEDIES[name]`` (``overrides`` of :func:`train_from_poses`); unknown names raise InputError."""
    if name not in REMEDIES:
        raise InputError(f"unknown Pose-NDF remedy {name!r}; expected one of {list(REMEDIES)}")
    return copy.deepcopy(REMEDIES[name])


def settings(fast: bool = False) -> dict:
    """All knobs: data generation, model config and fit config (plain values)."""
    return {
        "data": {"n_train": 6000 if fast else 100_000, "n_val": 1000 if fast else 5000,
                 "max_clean": 2000 if fast else 20_000, "frac_noisy": 0.45, "frac_nrdf": 0.45, "frac_random": 0.0,
                 "k": 32, "candidates": "outer",
                 # remedies (benchmarks/posendf_remedies.py); these defaults give the shipped recipe
                 "metric": "pose_ndf", "nrdf_sampling": "spread", "chains": None},
        "model": default_config(fast),
        "fit": fit_config(fast),
    }


def _subsample(q: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    if q.shape[0] <= n:
        return q
    return q[torch.randperm(q.shape[0], generator=generator)[:n].sort().values]


def build_data(train_poses: torch.Tensor, val_poses: torch.Tensor, data_cfg: dict, seed: int = 0) -> dict:
    """Clean set + training / validation samples with their distance targets (deterministic given seed).

    Training targets: distance to the train clean set. Validation targets: distance to train ∪ val clean sets,
    0 for the clean validation poses themselves (see the module docstring).
    """
    g = torch.Generator().manual_seed(seed)
    clean = _subsample(body21_to_quats(train_poses.float()), data_cfg["max_clean"], g)      # (N, 21, 4)
    val_clean = _subsample(body21_to_quats(val_poses.float()), data_cfg["max_clean"], g)
    kw = dict(frac_noisy=data_cfg["frac_noisy"], frac_nrdf=data_cfg["frac_nrdf"], k=data_cfg["k"],
              kind=data_cfg["candidates"], generator=g, frac_random=data_cfg.get("frac_random", 0.0),
              metric=data_cfg.get("metric", "pose_ndf"), nrdf_sampling=data_cfg.get("nrdf_sampling", "spread"),
              chains=data_cfg.get("chains"))
    t0 = time.perf_counter()
    tr = make_samples(clean, data_cfg["n_train"], **kw)
    t1 = time.perf_counter()
    va = make_samples(val_clean, data_cfg["n_val"], reference=torch.cat([clean, val_clean]), **kw)
    va["dist"][va["kind"] == 0] = 0.0                 # real val poses lie in the reference: exactly 0
    return {"clean": clean, "train": tr, "val": va,
            "info": {"n_clean": int(clean.shape[0]), "n_train": int(tr["quats"].shape[0]),
                     "n_val": int(va["quats"].shape[0]), "generate_seconds": t1 - t0}}


def train_from_poses(train_poses: torch.Tensor, val_poses: torch.Tensor, out, fast: bool = False, seed: int = 0,
                     device=None, overrides: dict | None = None, progress: bool = True,
                     stop_after: int | None = None) -> Path:
    """Train on already-loaded axis-angle poses and save ``out`` (a PoseNDF file). Resumes from ``out.ckpt``."""
    out = Path(out)
    s = settings(fast)
    for k, v in (overrides or {}).items():
        s[k].update(v)
    if s["data"].get("chains") is not None:
        s["model"]["chains"] = s["data"]["chains"]          # per-chain targets need a field of chains
    s["model"]["metric"] = s["data"].get("metric", "pose_ndf")
    seed_everything(seed)
    data = build_data(train_poses, val_poses, s["data"], seed)
    torch.manual_seed(seed)
    model = PoseNDF(s["model"])
    ckpt = out.with_name(out.name + ".ckpt")
    hist = fit(model, data["train"], data["val"], s["fit"], checkpoint=ckpt, seed=seed, device=device,
               stop_after=stop_after, progress=progress)
    if stop_after is not None and not hist["stopped"]:
        return ckpt
    meta = {"history": hist, "data": {**data["info"], **{k: v for k, v in s["data"].items()}},
            "fit": s["fit"], "seed": seed, "fast": bool(fast)}
    model.save(out, meta=meta)
    if ckpt.exists():
        ckpt.unlink()
    return out


def train(motions, out, fast: bool = False, seed: int = 0, device=None, **kwargs) -> Path:
    """Train Pose-NDF on the motions under ``motions`` (train split; val for early stopping); returns ``out``."""
    fast = fast or fast_mode()
    splits = load_splits(motions, seed=seed)
    return train_from_poses(splits["train"], val_or_train(splits), out, fast=fast, seed=seed, device=device, **kwargs)


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 40, fast 6)")
    parser.add_argument("--samples", type=int, default=None, help="training samples (default 100000, fast 6000)")
    parser.add_argument("--eikonal", type=float, default=None, help="eikonal weight λ (default 0.5)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for fitting")
    parser.add_argument("--remedy", choices=sorted(REMEDIES), default=None,
                        help="train a remedy for hidden limbs instead of the shipped recipe (see REMEDIES)")


def run(args) -> int:
    fast = bool(getattr(args, "fast", False)) or fast_mode()
    over: dict = {"fit": {}, "data": {}, "model": {}}
    for k, v in (remedy_overrides(args.remedy) if getattr(args, "remedy", None) else {}).items():
        over[k].update(v)
    if getattr(args, "epochs", None):
        over["fit"]["epochs"] = args.epochs
    if getattr(args, "eikonal", None) is not None:
        over["fit"]["eikonal_weight"] = args.eikonal
    if getattr(args, "max_minutes", None):
        over["fit"]["max_minutes"] = args.max_minutes
    if getattr(args, "samples", None):
        over["data"]["n_train"] = args.samples
    t0 = time.perf_counter()
    path = train(args.motions, args.out, fast=fast, seed=args.seed, device=args.device, overrides=copy.deepcopy(over))
    m = PoseNDF.load(path)
    h = m.meta["history"]
    print(f"wrote {path} in {time.perf_counter() - t0:.1f} s: {len(h['epoch'])} epochs, best val L1 "
          f"{min(h['val']):.4f} ({h['stopped']}); {m.meta['data']['n_clean']} clean poses, "
          f"{m.meta['data']['n_train']} samples generated in {m.meta['data']['generate_seconds']:.1f} s")
    return 0
