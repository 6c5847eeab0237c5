"""``python -m posekit.train vposer --motions DIR --out FILE [--fast]``: train VPoser on a folder of motions.

Data: ``posekit.data.pose_dataset(DIR)`` split by subject; the train split is learned, the val split
drives early stopping, the test split is only reported. Fast mode (``--fast`` or ``POSEKIT_FAST=1``)
trains a tiny model (hidden 64) for a few epochs on a subset (< 30 s on a CPU core).
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from posekit.errors import InputError
from posekit.priors.files import checkpoint_contents, plain_state, read_checkpoint
from posekit.priors.vposer import VPoser, VPoserConfig, body_vertices, poses_to_rotmats, vposer_loss
from posekit.utils import atomic_torch_save, fast_mode, get_device

from .splits import load_splits

__all__ = ["fit", "evaluate", "train", "run", "add_arguments", "settings", "FULL", "FAST"]

#: Full and fast training settings (model config + fit arguments).
FULL = {"config": {"hidden": 512, "latent_dim": 32}, "epochs": 80, "batch_size": 256, "lr": 1e-3,
        "patience": 8, "max_seconds": 270.0, "max_poses": None}
FAST = {"config": {"hidden": 64, "latent_dim": 32}, "epochs": 6, "batch_size": 128, "lr": 2e-3,
        "patience": 3, "max_seconds": 20.0, "max_poses": 4000}


def settings(fast: bool = False) -> dict:
    """A copy of the FULL or FAST settings."""
    import copy
    return copy.deepcopy(FAST if fast else FULL)


def _thin(x: torch.Tensor | None, n: int | None, seed: int) -> torch.Tensor | None:
    if x is None or n is None or x.shape[0] <= n:
        return x
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx.sort().values]


# --------------------------------------------------------------------------------------------
# the training loop
# --------------------------------------------------------------------------------------------
def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**31)


@torch.no_grad()
def evaluate(model: VPoser, R: torch.Tensor, batch_size: int = 4096, body_model=None) -> dict:
    """Mean weighted loss terms over ``R`` (N, 21, 3, 3) in eval mode with z = μ (deterministic).
    ``body_model`` is needed only when the optional ``v2v`` weight is > 0."""
    use_v = model.config.weights.get("v2v", 0.0) != 0 and body_model is not None
    with model._eval():
        sums, n = {}, 0
        for i in range(0, R.shape[0], batch_size):
            Rb = R[i:i + batch_size]
            mu, sigma = model.encode_rotmats(Rb)
            R_hat = model.decode_rotmats(mu)
            verts = (body_vertices(body_model, Rb), body_vertices(body_model, R_hat)) if use_v else None
            terms = vposer_loss(Rb, R_hat, mu, sigma, None, {**model.config.weights, "reg": 0.0}, verts)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * Rb.shape[0]
            n += Rb.shape[0]
    return {k: v / max(n, 1) for k, v in sums.items() if k != "reg"}


def fit(train, val=None, epochs: int = 60, batch_size: int = 256, lr: float = 1e-3, patience: int = 8,
        seed: int = 0, checkpoint: str | os.PathLike | None = None, device=None,
        model: VPoser | None = None, config: VPoserConfig | dict | None = None,
        min_delta: float = 1e-3, max_seconds: float | None = None,
        callback: Callable[[int, dict], None] | None = None, progress: bool = True,
        body_model=None) -> VPoser:
    """Train a VPoser on ``train`` poses (any ``as_body21`` layout, or (N, 21, 3, 3) rotations).

    Adam + ReduceLROnPlateau; early stopping when the validation data loss (``val``, else ``train``)
    has not improved by a fraction ``min_delta`` of its best value for ``patience`` epochs; the best weights are restored at the end.
    Deterministic for a seed: the initial weights come from ``seed``, and every epoch re-seeds its
    shuffle, dropout and reparameterisation noise from (seed, epoch).
    ``checkpoint``: a file rewritten atomically after every epoch with everything needed to resume
    (weights, optimiser, scheduler, early-stopping state, history). When it exists at the start, training
    resumes from it, giving the same result as an uninterrupted run.
    ``callback(epoch, logs)`` runs after each epoch (after the checkpoint is written).
    ``max_seconds``: stop after this wall time (keeps the best weights so far).
    ``body_model``: needed only for the optional vertex term (config weight ``v2v`` > 0).
    Returns the model (eval mode) with ``model.history`` (per-epoch train/val terms, lr, seconds).
    """
    from tqdm.auto import tqdm

    dev = get_device(device)
    if model is None:
        if isinstance(config, dict):
            config = VPoserConfig(**config)
        torch.manual_seed(seed)
        model = VPoser(config or VPoserConfig())
    model = model.to(dev)
    dtype = next(model.parameters()).dtype
    R_train = poses_to_rotmats(train).to(dev, dtype)
    R_val = poses_to_rotmats(val).to(dev, dtype) if val is not None and len(val) > 0 else R_train
    if R_train.shape[0] < 2:
        raise ValueError(f"need at least 2 training poses, got {R_train.shape[0]}")
    weights = model.config.weights
    use_v = weights.get("v2v", 0.0) != 0
    if use_v:
        if body_model is None:
            raise ValueError("the v2v loss weight is > 0: pass body_model=posekit.body.load_body_model()")
        body_model = body_model.to(dev)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, patience // 3))
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": -1, "bad_epochs": 0, "done": False,
             "seconds": 0.0, "history": {"train": [], "val": [], "lr": [], "seconds": []}}
    best_state = copy.deepcopy(model.state_dict())
    settings = {"epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "patience": int(patience),
                "seed": int(seed), "n_train": int(R_train.shape[0]), "n_val": int(R_val.shape[0])}

    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        obj = read_checkpoint(ckpt, "vposer-checkpoint")   # damaged -> InputError: delete it to restart
        if obj["settings"] != settings or obj["config"] != asdict(model.config):
            raise InputError(f"checkpoint {ckpt} was written with other settings/config: "
                             f"{obj['settings']} vs {settings}; delete it to start afresh")
        with checkpoint_contents(ckpt, "vposer-checkpoint"):
            model.load_state_dict(obj["model"])
            opt.load_state_dict(obj["optimizer"])
            sched.load_state_dict(obj["scheduler"])
            best_state = {k: v.to(dev) for k, v in obj["best_model"].items()}
            state = obj["state"]
            missing = [k for k in ("epoch", "best_val", "best_epoch", "bad_epochs", "done", "seconds", "history")
                       if k not in state]
            if missing:
                raise KeyError(f"state.{missing[0]}")

    def save_checkpoint():
        if ckpt is None:
            return
        atomic_torch_save({"settings": settings, "config": asdict(model.config),
                           "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                           "best_model": {k: v.detach().cpu() for k, v in best_state.items()},
                           "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           "state": plain_state(state)}, ckpt)

    n = R_train.shape[0]
    bs = min(batch_size, n)
    n_batches = n // bs  # drop the last partial batch (BatchNorm needs > 1 sample)
    bar = tqdm(total=epochs, initial=state["epoch"], desc="VPoser", disable=not progress or state["done"],
               leave=False)
    t_start = time.perf_counter() - state["seconds"]
    while not state["done"] and state["epoch"] < epochs:
        epoch = state["epoch"]
        g = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
        torch.manual_seed(_epoch_seed(seed, epoch) + 1)            # dropout masks
        perm = torch.randperm(n, generator=g).to(dev)
        model.train()
        sums = {k: 0.0 for k in ("kl", "rec", "orth", "det1", "reg", "v2v", "total")}
        for b in range(n_batches):
            Rb = R_train[perm[b * bs:(b + 1) * bs]]
            R_hat, mu, sigma = model(Rb, generator=g)
            verts = None
            if use_v:
                with torch.no_grad():
                    v = body_vertices(body_model, Rb)
                verts = (v, body_vertices(body_model, R_hat))
            terms = vposer_loss(Rb, R_hat, mu, sigma, model.parameters(), weights, verts)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            for k in sums:
                sums[k] += float(terms[k].detach())
        train_terms = {k: v / n_batches for k, v in sums.items()}
        val_terms = evaluate(model, R_val, body_model=body_model if use_v else None)
        sched.step(val_terms["data"])
        state["seconds"] = time.perf_counter() - t_start
        h = state["history"]
        h["train"].append(train_terms)
        h["val"].append(val_terms)
        h["lr"].append(opt.param_groups[0]["lr"])
        h["seconds"].append(state["seconds"])
        if val_terms["data"] < state["best_val"] - min_delta * abs(state["best_val"]) or state["best_epoch"] < 0:
            state.update(best_val=val_terms["data"], best_epoch=epoch, bad_epochs=0)
            best_state = copy.deepcopy(model.state_dict())
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        if state["bad_epochs"] >= patience or state["epoch"] >= epochs or \
                (max_seconds is not None and state["seconds"] >= max_seconds):
            state["done"] = True
        save_checkpoint()
        bar.update(1)
        bar.set_postfix(train=f"{train_terms['total']:.3f}", val=f"{val_terms['data']:.3f}")
        if callback is not None:
            callback(epoch, {"train": train_terms, "val": val_terms})
    bar.close()
    model.load_state_dict(best_state)
    model.history = {**plain_state(state["history"]), "best_epoch": state["best_epoch"],
                     "best_val": state["best_val"], "epochs": state["epoch"], **{"settings": settings}}
    return model.eval()



# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def train(motions, out, fast: bool = False, seed: int = 0, device=None, checkpoint=None,
          progress: bool = True, splits: dict | None = None, vertex_weight: float = 0.0) -> Path:
    """Train VPoser on the train split of ``motions`` and save it to ``out`` (atomic). Returns ``out``.

    The loss is VPoser's five terms (KL, reconstruction, orthogonality, det = 1, weight decay); ``vertex_weight`` > 0 adds the OPTIONAL per-vertex term through
    the open body model (``posekit.priors.vposer.vertex_loss``, metres) with that weight.

    ``checkpoint``: resumable training state (default ``out`` + ``.ckpt``; removed after success).
    ``splits``: already-loaded {"train", "val"} tensors (skips loading; see ``posekit.train.splits``). Without
    validation poses, early stopping watches the train poses.
    """
    fast = fast or fast_mode()
    s = settings(fast)
    out = Path(out)
    if splits is None:
        splits = load_splits(motions, seed=seed)
    tr = _thin(splits["train"], s["max_poses"], seed)
    va = _thin(splits.get("val"), None if s["max_poses"] is None else s["max_poses"] // 4, seed + 1)
    body_model = None
    if vertex_weight:
        from posekit.body import load_body_model
        s["config"]["weights"] = {"v2v": float(vertex_weight)}
        body_model = load_body_model(device=get_device(device))
    ckpt = Path(checkpoint) if checkpoint is not None else out.with_name(out.name + ".ckpt")
    model = fit(tr, va, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], patience=s["patience"],
                seed=seed, checkpoint=ckpt, device=get_device(device), config=s["config"],
                max_seconds=s["max_seconds"], progress=progress, body_model=body_model)
    model.history["fast"] = bool(fast)
    model.save(out)
    if checkpoint is None and ckpt.exists():
        ckpt.unlink()
    return out


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", default=None,
                        help="resumable training state (default: OUT.ckpt, removed after success)")
    parser.add_argument("--vertex-weight", type=float, default=0.0,
                        help="weight of the optional per-vertex loss through the body model (not among the five terms; default 0)")


def run(args) -> int:
    fast = bool(getattr(args, "fast", False)) or fast_mode()
    out = train(args.motions, args.out, fast=fast, seed=args.seed, device=args.device,
                checkpoint=getattr(args, "checkpoint", None), vertex_weight=getattr(args, "vertex_weight", 0.0))
    h = VPoser.load(out).history
    print(f"wrote {out}: {h.get('epochs')} epochs, best val loss {h.get('best_val'):.4f} "
          f"(epoch {h.get('best_epoch')}), {h['seconds'][-1]:.1f} s")
    return 0
