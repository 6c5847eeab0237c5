"""``python -m posekit.train diffusion --motions DIR --out FILE [--fast]``: train the diffusion pose prior.

Data: ``posekit.data.pose_dataset(DIR)`` split by subject (``posekit.data.dataset.subject_split``). The train
split is learned, and its per-dimension mean and standard deviation standardise the poses. The standard
deviation is floored at ``STD_FLOOR`` rad, so that nearly constant coordinates do not blow up small
perturbations. The val split selects the weights: every ``eval_every`` steps the exponential moving average
(EMA) of the weights is scored by the denoising loss on fixed validation triples (pose, σ, ε), drawn once
from the seed. The best EMA weights are kept. Training stops after ``patience`` evaluations without
improvement, after ``steps`` steps, or at the time budget (``--max-minutes``).

Full mode trains for a few CPU minutes (at most ``max_seconds``). Fast mode (``--fast`` or ``POSEKIT_FAST=1``)
trains a tiny network in seconds.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import torch

from posekit.priors.diffusion import DiffusionPrior, default_config, dsm_loss
from posekit.utils import fast_mode, get_device

from .splits import load_splits, val_or_train

__all__ = ["settings", "fit", "validation_loss", "train", "run", "add_arguments", "STD_FLOOR"]

#: lower bound (rad) of the per-dimension standard deviation used to standardise poses
STD_FLOOR = 0.05


def settings(fast: bool = False) -> dict:
    """Model config and fit settings (plain values)."""
    return {
        "model": default_config(fast),
        "fit": {"steps": 600 if fast else 4000, "batch_size": 256 if fast else 512, "lr": 2e-3 if fast else 1e-3,
                "ema": 0.99 if fast else 0.999, "eval_every": 100 if fast else 250, "patience": 100 if fast else 8,
                "n_val": 1000 if fast else 8000, "max_seconds": 20.0 if fast else 480.0,
                "max_poses": 4000 if fast else None},
    }


def _thin(x: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    if n is None or x.shape[0] <= n:
        return x
    return x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n].sort().values]


def _log_uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    """n noise levels with ln σ ~ U(ln lo, ln hi).  -> (n,)"""
    return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(n, generator=g))


@torch.no_grad()
def validation_loss(prior: DiffusionPrior, triples: dict, batch: int = 4096) -> float:
    """Mean denoising loss of ``prior`` on fixed (x, σ, ε) triples (standardised x)."""
    x, s, e = triples["x"], triples["sigma"], triples["noise"]
    tot = sum(float(dsm_loss(prior.denoiser, x[i:i + batch], s[i:i + batch], e[i:i + batch]).sum())
              for i in range(0, x.shape[0], batch))
    return tot / x.shape[0]


def fit(train, val, config: dict | None = None, fit_cfg: dict | None = None, seed: int = 0, device=None,
        progress: bool = True) -> DiffusionPrior:
    """Train a :class:`DiffusionPrior` on ``train`` poses (any ``as_body21`` layout), selecting on ``val``.

    Adam with a cosine-decayed learning rate and an EMA of the weights; the EMA weights are evaluated and the
    best are returned (eval mode) with ``prior.meta["history"]`` (step, train loss, val loss, seconds, and
    ``val_initial``: the val loss of the untrained network, whose D is EDM's skip term c_skip x alone).
    Deterministic for a seed (initial weights, batches, σ and ε all come from it).
    """
    from tqdm.auto import tqdm

    from posekit.skeleton import as_body21

    f = {**settings(False)["fit"], **(fit_cfg or {})}
    dev = get_device(device)
    tr = as_body21(torch.as_tensor(train)).float().reshape(-1, 63)
    va = as_body21(torch.as_tensor(val)).float().reshape(-1, 63) if val is not None and len(val) else tr
    if tr.shape[0] < 2:
        raise ValueError(f"need at least 2 training poses, got {tr.shape[0]}")
    torch.manual_seed(seed)
    prior = DiffusionPrior(config, mean=tr.mean(0), std=tr.std(0).clamp_min(STD_FLOOR)).to(dev)
    cfg = prior.config
    lo, hi = float(cfg["sigma_min"]), float(cfg["sigma_max"])
    x_tr = prior.standardise(tr)                                                      # (N, 63)
    g = torch.Generator().manual_seed(seed)
    x_va = prior.standardise(_thin(va, int(f["n_val"]), seed + 1))
    triples = {"x": x_va, "sigma": _log_uniform(x_va.shape[0], lo, hi, g).to(dev),
               "noise": torch.randn(x_va.shape, generator=g).to(dev)}
    ema = copy.deepcopy(prior).eval()
    opt = torch.optim.Adam(prior.denoiser.parameters(), lr=float(f["lr"]))
    steps, bs = int(f["steps"]), min(int(f["batch_size"]), x_tr.shape[0])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    hist = {"step": [], "train": [], "val": [], "seconds": [], "val_initial": validation_loss(ema, triples)}
    best, best_state, bad, run_loss = math.inf, copy.deepcopy(ema.state_dict()), 0, 0.0
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc="diffusion", disable=not progress, leave=False)
    prior.train()
    for step in range(1, steps + 1):
        idx = torch.randint(0, x_tr.shape[0], (bs,), generator=g)
        s = _log_uniform(bs, lo, hi, g).to(dev)
        e = torch.randn(bs, x_tr.shape[1], generator=g).to(dev)
        loss = dsm_loss(prior.denoiser, x_tr[idx.to(dev)], s, e).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for pe, pp in zip(ema.denoiser.parameters(), prior.denoiser.parameters()):
                pe.lerp_(pp, 1.0 - float(f["ema"]))
        run_loss += float(loss.detach())
        bar.update(1)
        seconds = time.perf_counter() - t0
        out_of_time = seconds >= float(f["max_seconds"])
        if step % int(f["eval_every"]) == 0 or step == steps or out_of_time:
            v = validation_loss(ema, triples)
            n_since = step - (hist["step"][-1] if hist["step"] else 0)
            hist["step"].append(step), hist["train"].append(run_loss / n_since), hist["val"].append(v)
            hist["seconds"].append(seconds)
            run_loss = 0.0
            bar.set_postfix(train=f"{hist['train'][-1]:.3f}", val=f"{v:.3f}")
            if v < best:
                best, best_state, bad = v, copy.deepcopy(ema.state_dict()), 0
            else:
                bad += 1
            if bad >= int(f["patience"]) or out_of_time:
                break
    bar.close()
    ema.load_state_dict(best_state)
    ema.meta = {"history": hist, "best_val": best, "best_step": hist["step"][int(torch.tensor(hist["val"]).argmin())],
                "fit": f, "seed": int(seed), "n_train": int(x_tr.shape[0]), "n_val_triples": int(x_va.shape[0])}
    return ema.eval()


def train(motions, out, fast: bool = False, seed: int = 0, device=None, splits: dict | None = None,
          overrides: dict | None = None, progress: bool = True) -> Path:
    """Train on the train subjects of ``motions`` (val subjects select the weights); save ``out`` (atomic)."""
    fast = fast or fast_mode()
    s = settings(fast)
    s["fit"].update(overrides or {})
    splits = splits if splits is not None else load_splits(motions, seed=seed)
    splits = {**splits, "val": val_or_train(splits)}
    tr = _thin(splits["train"], s["fit"]["max_poses"], seed)
    prior = fit(tr, splits["val"], s["model"], s["fit"], seed=seed, device=device, progress=progress)
    prior.meta["fast"] = bool(fast)
    prior.to("cpu").save(out)
    return Path(out)


def add_arguments(parser) -> None:
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for fitting")
    parser.add_argument("--steps", type=int, default=None, help="maximum optimiser steps (default 4000, fast 600)")


def run(args) -> int:
    fast = bool(getattr(args, "fast", False)) or fast_mode()
    over = {}
    if getattr(args, "max_minutes", None):
        over["max_seconds"] = 60.0 * args.max_minutes
    if getattr(args, "steps", None):
        over["steps"] = args.steps
    t0 = time.perf_counter()
    path = train(args.motions, args.out, fast=fast, seed=args.seed, device=args.device, overrides=over)
    m = DiffusionPrior.load(path).meta
    print(f"wrote {path} in {time.perf_counter() - t0:.1f} s: {m['history']['step'][-1]} steps, best val loss "
          f"{m['best_val']:.4f} (step {m['best_step']}), {m['n_train']} training poses")
    return 0
