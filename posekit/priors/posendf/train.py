"""Training Pose-NDF: L = mean|f(θ) − d_θ| + λ_eik · mean_{d≠0} (‖∇_θ f(θ)‖ − c)², with resumable checkpoints.

The eikonal term uses the Riemannian gradient (the part of ∇_q f tangent to each joint's sphere S³): the
radial part only says how f extends off the sphere, which no pose ever visits. Its target c: for Pose-NDF's
distance with unit weights the true field has ‖∇d‖ = 1/√2 on (S³)^K (d = sqrt(Σφ_i²/2), φ_i the arc on S³), so
c = 1/√2 (``eikonal_target``); c = 1 is the formula as printed, which fights the distance targets by a factor √2.

Released settings, for reference: Pose-NDF (configs/amass.yaml) L1 distance loss, eikonal weight 1.0 on the
*per-joint* Euclidean gradient norm with target 1, manifold-pose loss weight 1.0, Adam lr 1e-5; NRDF
(configs/train.yaml) L1, eikonal 0.0, manifold loss 0.1, lr 1e-4.

A field with ``chains`` (``PoseNDF`` config) is trained on per-chain targets d (B, C): the L1 term is
Σ_c |f_c(θ_c) − d_c| and the eikonal term asks each chain's Riemannian gradient for the norm c.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from posekit.utils import atomic_torch_save, get_device

from ..files import checkpoint_contents, read_checkpoint
from .project import tangent_project

__all__ = ["EIKONAL_TARGET", "fit_config", "udf_loss", "eikonal_loss", "chain_eikonal_loss", "loss_terms", "evaluate",
           "fit"]

EIKONAL_TARGET = 1.0 / math.sqrt(2.0)


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


def udf_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|f(θ) − d_θ| per sample (B,)."""
    return (pred - target).abs()


def eikonal_loss(grad: torch.Tensor, q: torch.Tensor, mask: torch.Tensor, target: float = EIKONAL_TARGET) -> torch.Tensor:
    """mean over samples with d ≠ 0 of (‖P_q ∇_q f‖ − target)², P_q = I − q qᵀ per joint. grad, q: (B, K, 4)."""
    gt = tangent_project(q, grad)                                            # (B, K, 4)
    norm = gt.flatten(1).norm(dim=1)                                         # (B,)
    if not mask.any():
        return norm.sum() * 0.0
    return ((norm - target) ** 2)[mask].mean()


def _predict(model, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """f(θ) (B,) for targets d (B,); per-chain f_c(θ_c) (B, C) for per-chain targets d (B, C)."""
    return model.chain_distances(q) if d.dim() == 2 else model(q)


def chain_eikonal_loss(grad: torch.Tensor, q: torch.Tensor, d: torch.Tensor, chains,
                       target: float = EIKONAL_TARGET) -> torch.Tensor:
    """Per-chain eikonal term: mean over (sample, chain) with d_c ≠ 0 of (‖P_q ∇_{q_c} f‖ − target)².

    grad, q: (B, K, 4); d: (B, C). The chains' joints are disjoint, so ∇_{q_c} Σ_c f_c = ∇_{q_c} f_c.
    """
    gt = tangent_project(q, grad)                                                    # (B, K, 4)
    norm = torch.stack([gt[:, c].flatten(1).norm(dim=1) for c in chains], dim=-1)   # (B, C)
    mask = d > 0
    if not mask.any():
        return norm.sum() * 0.0
    return ((norm - target) ** 2)[mask].mean()


def loss_terms(model, q: torch.Tensor, d: torch.Tensor, eikonal_weight: float = 0.5,
               eikonal_target: float = EIKONAL_TARGET):
    """Total loss and its parts for a batch of quaternions (B, K, 4) with target distances (B,) or, for a field
    with chains, per-chain targets (B, C)."""
    need_grad = eikonal_weight > 0
    x = q.detach().requires_grad_(need_grad)
    f = _predict(model, x, d)                                                # (B,) or (B, C)
    l_udf = udf_loss(f, d).reshape(f.shape[0], -1).sum(-1).mean()
    if not need_grad:
        return l_udf, {"udf": l_udf.detach(), "eik": torch.zeros(())}
    (g,) = torch.autograd.grad(f.sum(), x, create_graph=True)               # ∇_θ f, kept in the graph
    if d.dim() == 2:
        l_eik = chain_eikonal_loss(g, x.detach(), d, model.chains, eikonal_target)
    else:
        l_eik = eikonal_loss(g, x.detach(), d > 0, eikonal_target)
    return l_udf + eikonal_weight * l_eik, {"udf": l_udf.detach(), "eik": l_eik.detach()}


@torch.no_grad()
def evaluate(model, q: torch.Tensor, d: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean |f − d| over a data set (no eikonal term); per-chain targets (N, C): mean of Σ_c |f_c − d_c|."""
    model.eval()
    dev = next(model.parameters()).device
    tot = 0.0
    for s in range(0, q.shape[0], batch_size):
        dd = d[s:s + batch_size].to(dev)
        tot += udf_loss(_predict(model, q[s:s + batch_size].to(dev), dd), dd).sum().item()
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
