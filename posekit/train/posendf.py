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
import math
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from posekit.errors import InputError
from posekit.priors.files import checkpoint_contents, read_checkpoint
from posekit.priors.posendf import PoseNDF, default_config, make_samples
from posekit.priors.posendf.data import BODY21_CHAINS, body21_to_quats
from posekit.priors.posendf.losses import EIKONAL_TARGET, loss_terms, predict, udf_loss
from posekit.utils import atomic_torch_save, fast_mode, get_device, seed_everything

from .splits import load_splits, val_or_train

__all__ = ["fit", "fit_config", "evaluate", "settings", "REMEDIES", "remedy_overrides", "build_data", "train_from_poses", "train", "run", "add_arguments"]

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


# --------------------------------------------------------------------------------------------
# the training loop
# --------------------------------------------------------------------------------------------


def fit_config(fast: bool = False) -> dict:
    """Optimisation settings (plain values: they go into checkpoints)."""
    return {
        "epochs": 6 if fast else 40,
        "batch_size": 128 if fast else 512,
        "lr": 3e-3 if fast else 1e-3,
        "lr_floor": 0.05,                 # cosine decay down to lr·lr_floor
        "eikonal_weight": 0.5,            # λ_eik (released Pose-NDF: 1.0, NRDF: 0.0)
        "eikonal_target": EIKONAL_TARGET,
        "patience": 3 if fast else 6,     # early stopping on the validation L1
        "max_minutes": 1.0 if fast else 12.0,
    }



@torch.no_grad()
def evaluate(model, q: torch.Tensor, d: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean |f − d| over a data set (no eikonal term); per-chain targets (N, C): mean of Σ_c |f_c − d_c|."""
    model.eval()
    dev = next(model.parameters()).device
    tot = 0.0
    for s in range(0, q.shape[0], batch_size):
        dd = d[s:s + batch_size].to(dev)
        tot += udf_loss(predict(model, q[s:s + batch_size].to(dev), dd), dd).sum().item()
    return tot / max(q.shape[0], 1)


def _lr(cfg: dict, epoch: int) -> float:
    t = epoch / max(cfg["epochs"], 1)
    return cfg["lr"] * (cfg["lr_floor"] + (1 - cfg["lr_floor"]) * 0.5 * (1 + math.cos(math.pi * t)))


def fit(model, train_set: dict, val_set: dict, cfg: dict | None = None, checkpoint: str | os.PathLike | None = None,
        seed: int = 0, device=None, stop_after: int | None = None, progress: bool = True) -> dict:
    """Train ``model`` on {"quats", "dist"} sets; early stopping on val; best weights restored at the end.

    The criterion is the mean |f − d| on ``val_set`` (no eikonal term). It is only as good as the val targets:
    ``posekit.train.posendf.build_data`` builds val like the training set from held-out subjects, with targets
    measured to train ∪ held-out real poses, so that unseen real poses are zero targets (targets measured to the
    train poses alone would make each of them a ~0.69 target and reward a field that rejects new people).

    checkpoint: a file saved atomically after every epoch (model, optimiser, counters, history, config);
    when it exists and was written with the same config, training resumes from it. The batch order of epoch e
    comes from a generator seeded by (seed, e), so a resumed run equals an uninterrupted one.
    stop_after: stop after this many epochs *in this call* (to simulate an interruption).
    Returns the history {"epoch", "train", "train_udf", "train_eik", "val", "lr", "seconds", "stopped"}.
    """
    c = fit_config()
    c.update(cfg or {})
    dev = get_device(device)
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
    st = {"epoch": 0, "best_val": float("inf"), "bad": 0, "done": False, "best_state": None,
          "history": {"epoch": [], "train": [], "train_udf": [], "train_eik": [], "val": [], "lr": [],
                      "seconds": [], "stopped": ""}}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        saved = read_checkpoint(ckpt, "posendf-checkpoint")   # damaged -> InputError: delete it to restart
        if saved["config"] == c and saved["seed"] == seed:
            with checkpoint_contents(ckpt, "posendf-checkpoint"):
                model.load_state_dict(saved["model"])
                opt.load_state_dict(saved["optimizer"])
                for k in ("epoch", "best_val", "bad", "done", "best_state", "history"):
                    st[k] = saved[k]
                missing = [k for k in ("epoch", "train", "train_udf", "train_eik", "val", "lr", "seconds", "stopped")
                           if k not in st["history"]]
                if missing:
                    raise KeyError(f"history.{missing[0]}")
    q_tr, d_tr = train_set["quats"].float(), train_set["dist"].float()
    q_va, d_va = val_set["quats"].float(), val_set["dist"].float()
    n = q_tr.shape[0]
    bs = int(c["batch_size"])
    t_start = time.time() - (st["history"]["seconds"][-1] if st["history"]["seconds"] else 0.0)
    ran = 0
    bar = tqdm(total=c["epochs"], initial=st["epoch"], desc="Pose-NDF", unit="epoch", leave=False,
               disable=not progress or st["done"])
    h = st["history"]
    try:
        while not st["done"] and st["epoch"] < c["epochs"]:
            e = st["epoch"]
            for group in opt.param_groups:
                group["lr"] = _lr(c, e)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + e))
            model.train()
            sums = {"loss": 0.0, "udf": 0.0, "eik": 0.0}
            nb = 0
            for s in range(0, n, bs):
                idx = perm[s:s + bs]
                loss, parts = loss_terms(model, q_tr[idx].to(dev), d_tr[idx].to(dev), c["eikonal_weight"], c["eikonal_target"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums["loss"] += loss.item()
                sums["udf"] += parts["udf"].item()
                sums["eik"] += parts["eik"].item()
                nb += 1
                if nb % 20 == 0:                     # running means of the epoch in progress
                    bar.set_postfix(udf=f"{sums['udf'] / nb:.4f}", eik=f"{sums['eik'] / nb:.4f}",
                                    val=f"{h['val'][-1]:.4f}" if h["val"] else "-")
            val = evaluate(model, q_va, d_va)
            h["epoch"].append(e + 1)
            h["train"].append(sums["loss"] / max(nb, 1))
            h["train_udf"].append(sums["udf"] / max(nb, 1))
            h["train_eik"].append(sums["eik"] / max(nb, 1))
            h["val"].append(val)
            h["lr"].append(_lr(c, e))
            h["seconds"].append(time.time() - t_start)
            if val < st["best_val"]:
                st["best_val"], st["bad"] = val, 0
                st["best_state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                st["bad"] += 1
            st["epoch"] = e + 1
            if st["bad"] >= c["patience"]:
                st["done"], h["stopped"] = True, f"early stop after epoch {e + 1} (no val improvement for {c['patience']} epochs)"
            elif h["seconds"][-1] > 60 * c["max_minutes"]:
                st["done"], h["stopped"] = True, f"time budget of {c['max_minutes']} min reached after epoch {e + 1}"
            bar.set_postfix(udf=f"{h['train_udf'][-1]:.4f}", eik=f"{h['train_eik'][-1]:.4f}", val=f"{val:.4f}",
                            refresh=False)
            bar.update(1)
            if ckpt is not None:
                atomic_torch_save({"config": c, "seed": seed, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                   **{k: st[k] for k in ("epoch", "best_val", "bad", "done", "best_state", "history")}}, ckpt)
            ran += 1
            if stop_after is not None and ran >= stop_after and not st["done"] and st["epoch"] < c["epochs"]:
                return st["history"]
    finally:
        bar.close()
    if not st["history"]["stopped"]:
        st["history"]["stopped"] = f"all {c['epochs']} epochs"
    if st["best_state"] is not None:
        model.load_state_dict(st["best_state"])
    model.eval()
    return st["history"]


# --------------------------------------------------------------------------------------------
# the recipe and the command
# --------------------------------------------------------------------------------------------


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
