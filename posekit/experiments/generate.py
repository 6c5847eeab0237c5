"""Pose generation (Pose-NDF Fig. 9): diversity of samples and their distance to the training data.

For each prior we draw ``n`` body poses: GMM samples, VPoser decodings of z ~ N(0, I), Pose-NDF
projections of random poses onto its zero level set (each prior's ``sample(n)``); ``none`` = uniformly
random joint rotations (what Pose-NDF starts its projection from), for reference. Metrics:

* ``apd_cm``: average pairwise distance of the samples' joint positions (mean shape, no global rotation),
  APD = mean over sample pairs of the mean per-joint Euclidean distance, in cm (higher = more diverse);
* ``nn_dist``: Pose-NDF's pose distance d(θ, θ̂) = sqrt(Σ_i w_i/2 arccos²|q_i·q̂_i|) (w_i = 1, radians)
  from each sample to its nearest training pose (exhaustive chunked search; lower = more realistic).

The same two numbers for held-out real poses (test split) are written to ``generate_reference.json``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
from pathlib import Path

import roma
import torch

from ..fitting.forward import posed_joints
from ..fitting.metrics import apd_cm, nearest_pose_distance
from ..priors.base import sample_prior
from ..skeleton import as_body21
from ..utils import atomic_path
from ..viz.plots import draw_skeleton, save_figure
from .clips import load_pose_dataset
from ..priors import registry
from .common import (ResultRow, Settings, add_common_arguments, is_fast, option_number, parse_methods, row,
                     run_setup, timed)
from .report import check_finite_rows

EXPERIMENT = "generate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    if any(a.dest == "samples" for a in parser._actions):
        return
    parser.add_argument("--samples", type=int, default=None, help="samples per prior (default 500; fast: 100)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="training poses searched for the nearest neighbour (default 50000; fast: 10000)")


@dataclass(frozen=True)
class GenerateSettings(Settings):
    """Everything a generation run depends on besides the body model and the priors: samples per prior, the
    training poses searched for each sample's nearest neighbour (at most ``max_train``, from ``motions``' train
    subjects), the seed."""

    motions: str | None = None
    samples: int = 500
    max_train: int = 50000
    methods: tuple | None = None
    seed: int = 0

    @classmethod
    def quick(cls, **changes) -> "GenerateSettings":
        """The fast variant's defaults (``--fast``)."""
        return cls(**{"samples": 100, "max_train": 10000, **changes})


def settings_from_args(args) -> GenerateSettings:
    """The run's settings from ``args``, every option checked (InputError: one line naming the option)."""
    fast = is_fast(args)
    methods = getattr(args, "methods", None)
    return GenerateSettings(
        motions=getattr(args, "motions", None),
        samples=option_number(args, "samples", 100 if fast else 500, minimum=2),   # APD compares pairs
        max_train=option_number(args, "max_train", 10000 if fast else 50000),
        methods=None if methods is None else tuple(parse_methods(methods)),
        seed=int(getattr(args, "seed", 0) or 0))


def sample_poses(method: str, prior, n: int, generator: torch.Generator | None = None, seed: int = 0) -> torch.Tensor:
    """n body poses (n, 21, 3) from a prior (``posekit.priors.base.sample_prior``); uniform random rotations for 'none'."""
    if method == "none" or prior is None:
        q = torch.randn(n * 21, 4, generator=generator)
        return roma.unitquat_to_rotvec(q / q.norm(dim=-1, keepdim=True)).reshape(n, 21, 3)
    out = sample_prior(prior, n, seed=seed)
    return as_body21(torch.as_tensor(out).detach().reshape(n, -1)).reshape(n, 21, 3).float()


def joints_at_origin(body, body21: torch.Tensor) -> torch.Tensor:
    """Joint positions (n, 24, 3) of poses with no global rotation/translation (mean shape)."""
    n = body21.shape[0]
    z = body21.new_zeros(n, 3)
    return posed_joints(body, z, body21, z)


def generation_metrics(body, samples: torch.Tensor, train: torch.Tensor) -> dict:
    """{'apd_cm': float, 'nn_dist': (n,) tensor} for samples (n, 21, 3)."""
    with torch.no_grad():
        apd = apd_cm(joints_at_origin(body, samples.to(train.device)))
        nn, _ = nearest_pose_distance(samples.to(train.device), train)
    return {"apd_cm": apd, "nn_dist": nn}


def plot_grid(body, samples: dict, path: Path, per_row: int = 6) -> Path:
    """A grid of stick figures: one row per prior, ``per_row`` samples each (front view)."""
    import matplotlib.pyplot as plt

    from ..priors import registry

    methods = list(samples)
    fig, axes = plt.subplots(len(methods), 1, figsize=(1.6 * per_row, 2.2 * len(methods)), squeeze=False)
    for ax, m in zip(axes[:, 0], methods):
        J = joints_at_origin(body, samples[m][:per_row]).detach().cpu().numpy()
        for k in range(J.shape[0]):
            draw_skeleton(ax, J[k], color=f"C{methods.index(m)}", offset=(1.0 * k, 0.0))
        ax.set_aspect("equal")
        ax.set_xlim(-0.7, per_row - 0.3)
        ax.set_title(f"{registry.label(m)}: {per_row} samples (front view)", fontsize=10)
        ax.set_xlabel("x (m, samples side by side)")
        ax.set_ylabel("y (m)")
    return save_figure(fig, path, dpi=100)


def generate_rows(body, priors: dict, train: torch.Tensor, n: int, seed: int = 0, log=print,
                  reference: torch.Tensor | None = None) -> tuple[list[ResultRow], dict, dict]:
    """Rows, the samples {method: (n,21,3)} and reference metrics of held-out real poses (when given)."""
    rows, samples, times = [], {}, {}
    g = torch.Generator().manual_seed(seed)
    for m, prior in priors.items():
        torch.manual_seed(seed)
        with timed(times, m):
            s = sample_poses(m, prior, n, g, seed=seed)
        samples[m] = s
        met = generation_metrics(body, s, train)
        setting = f"n={n}"
        rows.append(row(EXPERIMENT, setting, m, "apd_cm", [met["apd_cm"]]))
        rows.append(row(EXPERIMENT, setting, m, "nn_dist", met["nn_dist"].cpu().numpy()))
        rows.append(row(EXPERIMENT, setting, m, "sample_ms", [1000.0 * times[m] / n]))
        log(f"[generate] {m}: APD {met['apd_cm']:.1f} cm, nearest-pose distance {float(met['nn_dist'].mean()):.3f}"
            f" ± {float(met['nn_dist'].std()):.3f}, {1000 * times[m] / n:.2f} ms/sample")
    ref = {}
    if reference is not None and len(reference) >= 2:
        g2 = torch.Generator().manual_seed(seed)
        pick = reference[torch.randperm(len(reference), generator=g2)[:n]]
        met = generation_metrics(body, pick, train)
        ref = {"apd_cm": met["apd_cm"], "nn_dist": float(met["nn_dist"].mean()),
               "nn_dist_std": float(met["nn_dist"].std()), "n": int(len(pick))}
        log(f"[generate] held-out real poses: APD {ref['apd_cm']:.1f} cm, nearest-pose distance {ref['nn_dist']:.3f}")
    return rows, samples, ref


def run_generate(settings: GenerateSettings, body, priors: dict, out: str | Path | None = None,
                 train: torch.Tensor | None = None, reference: torch.Tensor | None = None, log=print) -> list[ResultRow]:
    """The generation experiment: ``settings.samples`` poses drawn from each pose prior (a motion prior is left
    out), their diversity (APD) and distance to the nearest training pose -> result rows. ``train`` /
    ``reference`` (held-out real poses) come from ``settings.motions`` when not given. ``out``: also write the
    sample grid (``generate_grid.png``) and the real poses' figures (``generate_reference.json``)."""
    device = body.v_template.device
    priors = {m: p for m, p in priors.items() if m in registry.pose_methods()}     # a motion prior draws motions
    if train is None:
        ds = load_pose_dataset(settings.motions)
        train = ds.body21("train").float()
        reference = ds.body21("test").float() if len(ds.test) else None
        if len(train) > settings.max_train:
            g = torch.Generator().manual_seed(settings.seed)
            train = train[torch.randperm(len(train), generator=g)[:settings.max_train]]
    train = train.to(device)
    times: dict = {}
    with timed(times, "generate"):
        rows, samples, ref = generate_rows(body, priors, train, settings.samples, seed=settings.seed,
                                           reference=reference, log=log)
    check_finite_rows(rows)
    if out is not None:
        out = Path(out)
        plot_grid(body, samples, out / "generate_grid.png")
        with atomic_path(out / "generate_reference.json") as tmp:
            tmp.write_text(json.dumps({"held_out_real_poses": ref, "train_poses_searched": int(len(train))}, indent=1))
    log(f"[generate] {times['generate']:.1f} s")
    return rows


def run(args) -> list[ResultRow]:
    """The command line's ``generate``: options parsed into :class:`GenerateSettings`, then :func:`run_generate`."""
    st = settings_from_args(args)
    device, out, body, priors = run_setup(args)
    return run_generate(st, body, priors, out=out, train=getattr(args, "train_poses", None),
                        reference=getattr(args, "reference_poses", None))
