"""``python -m posekit.train vposer --motions DIR --out FILE [--fast]``: train VPoser on a folder of motions.

Data: ``posekit.data.pose_dataset(DIR)`` split by subject; the train split is learned, the val split
drives early stopping, the test split is only reported. Fast mode (``--fast`` or ``POSEKIT_FAST=1``)
trains a tiny model (hidden 64) for a few epochs on a subset (< 30 s on a CPU core).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from posekit.utils import fast_mode, get_device

__all__ = ["train", "run", "add_arguments", "load_splits", "settings", "FULL", "FAST"]

#: Full and fast training settings (model config + fit arguments).
FULL = {"config": {"hidden": 512, "latent_dim": 32}, "epochs": 80, "batch_size": 256, "lr": 1e-3,
        "patience": 8, "max_seconds": 270.0, "max_poses": None}
FAST = {"config": {"hidden": 64, "latent_dim": 32}, "epochs": 6, "batch_size": 128, "lr": 2e-3,
        "patience": 3, "max_seconds": 20.0, "max_poses": 4000}


def settings(fast: bool = False) -> dict:
    """A copy of the FULL or FAST settings."""
    import copy
    return copy.deepcopy(FAST if fast else FULL)


def _as_tensor(split) -> torch.Tensor:
    """One split as returned by the data layer -> (N, ...) float tensor of poses."""
    if split is None:
        return None
    if torch.is_tensor(split):
        return split.float()
    if isinstance(split, dict):
        for key in ("body_pose", "poses", "pose", "body21"):
            if key in split:
                return _as_tensor(split[key])
        raise KeyError(f"no pose tensor among the split's keys {sorted(split)}")
    for attr in ("body_pose", "poses", "pose", "body21"):
        if hasattr(split, attr):
            return _as_tensor(getattr(split, attr))
    return torch.as_tensor(split).float()


def load_splits(motions, fast: bool = False, seed: int = 0, **kwargs) -> dict:
    """``posekit.data.pose_dataset(motions)`` -> {"train", "val", "test"} pose tensors (+ "summary")."""
    try:
        from posekit.data import pose_dataset
    except ImportError:  # the package's __init__ may not re-export it
        from posekit.data.dataset import pose_dataset

    kwargs.setdefault("progress", False)
    out = pose_dataset(motions, **kwargs)
    summary = None
    if isinstance(out, tuple) and len(out) == 2 and not torch.is_tensor(out[0]):
        out, summary = out
    splits = {}
    for name, alts in (("train", ("train",)), ("val", ("val", "vald", "valid", "validation")), ("test", ("test",))):
        value = None
        for a in alts:
            if isinstance(out, dict) and a in out:
                value = out[a]
                break
            if not isinstance(out, dict) and hasattr(out, a):
                value = getattr(out, a)
                break
        splits[name] = _as_tensor(value)
    if splits["train"] is None:
        raise ValueError("pose_dataset returned no train split")
    if summary is None:
        summary = out.get("summary") if isinstance(out, dict) else getattr(out, "summary", None)
    splits["summary"] = summary
    return splits


def _thin(x: torch.Tensor | None, n: int | None, seed: int) -> torch.Tensor | None:
    if x is None or n is None or x.shape[0] <= n:
        return x
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx.sort().values]


def train(motions, out, fast: bool = False, seed: int = 0, device=None, checkpoint=None,
          progress: bool = True, splits: dict | None = None, vertex_weight: float = 0.0) -> Path:
    """Train VPoser on the train split of ``motions`` and save it to ``out`` (atomic). Returns ``out``.

    The loss is VPoser's five terms (KL, reconstruction, orthogonality, det = 1, weight decay); ``vertex_weight`` > 0 adds the OPTIONAL per-vertex term through
    the open body model (``posekit.priors.vposer.vertex_loss``, metres) with that weight.

    ``checkpoint``: resumable training state (default ``out`` + ``.ckpt``; removed after success).
    ``splits``: already-loaded {"train", "val"} tensors (skips ``pose_dataset``).
    """
    from posekit.priors.vposer import fit

    fast = fast or fast_mode()
    s = settings(fast)
    out = Path(out)
    if splits is None:
        splits = load_splits(motions, fast=fast, seed=seed)
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
    from posekit.priors.vposer import VPoser

    h = VPoser.load(out).history
    print(f"wrote {out}: {h.get('epochs')} epochs, best val loss {h.get('best_val'):.4f} "
          f"(epoch {h.get('best_epoch')}), {h['seconds'][-1]:.1f} s")
    return 0
