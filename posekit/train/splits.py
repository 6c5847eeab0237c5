"""The one split loader of the pose trainers: body poses of a folder of motions, split by subject.

Every trainer learns on the *train* subjects and selects its weights (early stopping, the best epoch) on the
*validation* subjects; the *test* subjects are never read by a trainer (``posekit.data.dataset.subject_split``).
A dataset without validation subjects gives an empty ``val`` (0, 21, 3): each trainer says what it does then.
"""
from __future__ import annotations

import torch

__all__ = ["load_splits", "val_or_train"]


def load_splits(motions, seed: int = 0, fps: float = 30, **dataset_kwargs) -> dict:
    """``posekit.data.pose_dataset(motions)`` -> {"train", "val", "test": (N, 21, 3) float axis-angle body poses,
    "summary": the dataset's table (text), "synthetic": True for the synthetic fallback, "dataset": the dataset}.

    ``seed`` seeds the synthetic fallback; ``dataset_kwargs`` go to ``pose_dataset`` (e.g. ``thin``, ``max_files``).
    Raises InputError (a ValueError) when the train split has no poses."""
    from posekit.data import pose_dataset

    dataset_kwargs.setdefault("progress", False)
    ds = pose_dataset(motions, fps=fps, seed=seed, **dataset_kwargs)
    out = {name: ds.body21(name) for name in ("train", "val", "test")}
    if len(out["train"]) == 0:
        from posekit.errors import InputError

        raise InputError(f"{motions}: no poses of train subjects (subjects are split by "
                         "posekit.data.dataset.subject_split); expected a folder of motions with some train subjects")
    return {**out, "summary": ds.summary_table(), "synthetic": bool(ds.synthetic), "dataset": ds}


def val_or_train(splits: dict) -> torch.Tensor:
    """The validation poses, or the train poses when there are no validation subjects."""
    val = splits.get("val")
    return val if val is not None and len(val) else splits["train"]
