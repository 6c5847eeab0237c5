"""Motion denoising (Pose-NDF Table 3 protocol) on held-out motion.

Protocol (following Pose-NDF's ``experiments/motion_denoise.py``): a clean clip (30 fps, 60/120/240
frames) gets Gaussian noise N(0, σ²) on every axis-angle component of its 21 body joints (σ = 0.1 and
0.5 rad). The observation is the noisy motion's 3D joint positions (Pose-NDF's data term is on joint
positions, ``Jtr``, of the noisy poses). Starting from the noisy poses we minimise, over all frames at
once, a data term (squared joint-position distance to the observation) + temporal smoothness (squared
first differences of joint positions between consecutive frames) + the prior (none; GMM energy; VPoser
‖z‖² with the pose decoded from a latent code; Pose-NDF distance) with L-BFGS (strong-Wolfe line search;
``--optimizer adam`` for Adam). Every method starts from the noisy poses. Metrics against the clean motion on
the same body model (mean shape, the clean global orientation and translation kept fixed): the mean
per-vertex error (``v2v_cm``, Pose-NDF's metric), the area-weighted surface error (``surface_cm``) and
MPJPE (``mpjpe_cm``), all in cm. σ ∈ {0.05, 0.1, 0.2, 0.5} rad by default (Pose-NDF reports 0.1 and 0.5).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import check_finite
from ..fitting.forward import posed_joints, posed_vertices
from ..fitting.metrics import MOTION_METRICS, motion_errors
from ..fitting.motion import Clip, FitConfig
from ..utils import atomic_save_npz
from ..viz.plots import save_figure
from .clips import axis_angle_noise, clips_for_run, clips_for_settings
from .common import (MotionFitSettings, ResultRow, add_common_arguments, add_fit_arguments, clip_units, fit_clip, fixed_weights, fps_from_args, is_fast,
                     lengths_from_args, option_number, parse_methods, parse_numbers, row, run_setup, save_weights,
                     timed, tune_fit_weights)
from .report import check_finite_rows

EXPERIMENT = "denoise"
SIGMAS = (0.05, 0.1, 0.2, 0.5)
SIGMAS_FAST = (0.1, 0.5)           # --fast: Pose-NDF's two levels
LENGTHS = (60, 120, 240)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_fit_arguments(parser)
    if any(a.dest == "sigmas" for a in parser._actions):
        return
    parser.add_argument("--sigmas", default=None, help="comma list of noise std in rad (default 0.05,0.1,0.2,0.5; fast: 0.1,0.5)")


@dataclass(frozen=True)
class DenoiseSettings(MotionFitSettings):
    """Everything a denoising run depends on besides the body model and the priors (the command line parses its
    options into one; :meth:`quick` gives the fast defaults): the fields of ``MotionFitSettings`` and sigmas, the
    noise std (rad, per axis-angle component)."""

    lengths: tuple = LENGTHS
    sigmas: tuple = SIGMAS

    @classmethod
    def quick(cls, **changes) -> "DenoiseSettings":
        """The fast variant's defaults (``--fast``): Pose-NDF's two noise levels, 60 frames, 2 short clips."""
        return cls(**{"lengths": (60,), "sigmas": SIGMAS_FAST, "clips": 2, "val_clips": 2, "steps": 80,
                      "val_len": 30, "fast": True, **changes})


def settings_from_args(args) -> DenoiseSettings:
    """The run's settings from ``args``, every option checked (InputError: one line naming the option)."""
    fast = is_fast(args)
    sigmas = getattr(args, "sigmas", None)
    methods = getattr(args, "methods", None)
    return DenoiseSettings(
        motions=getattr(args, "motions", None),
        lengths=lengths_from_args(args, (60,) if fast else LENGTHS),
        sigmas=(tuple(SIGMAS_FAST if fast else SIGMAS) if sigmas is None
                else parse_numbers(sigmas, "--sigmas", allow_zero=True)),
        clips=option_number(args, "clips", 2 if fast else 8),
        val_clips=option_number(args, "val_clips", 2 if fast else 5),
        steps=option_number(args, "steps", 80 if fast else 200),
        val_len=30 if fast else 60,
        latent=getattr(args, "vposer_mode", "latent") != "energy",
        fast=fast,
        fixed=fixed_weights(args),
        optimizer=getattr(args, "optimizer", None) or "lbfgs",
        fps=fps_from_args(args),
        methods=None if methods is None else tuple(parse_methods(methods)),
        seed=int(getattr(args, "seed", 0) or 0),
    )


def denoise_clip(body, clip: Clip, sigma: float, priors: dict, cfgs: dict, generator: torch.Generator,
                 noisy: torch.Tensor | None = None) -> dict:
    """Noise one clip, denoise it with every prior, from the same start (the noisy poses).

    Returns {'noisy': (T,21,3), 'input_err': v2v cm of the noisy poses, 'input_metrics': {metric: cm},
    'results': {method: (T,21,3)}, 'errors': {method: v2v cm}, 'metrics': {method: {metric: cm}}}
    with the metrics of ``posekit.fitting.metrics.motion_errors`` (v2v_cm, surface_cm, mpjpe_cm).
    """
    noisy = axis_angle_noise(clip.body21, sigma, generator) if noisy is None else noisy
    with torch.no_grad():
        clean = {"vertices": posed_vertices(body, clip.global_orient, clip.body21, clip.transl),
                 "joints": posed_joints(body, clip.global_orient, clip.body21, clip.transl)}
        obs = posed_joints(body, clip.global_orient, noisy, clip.transl)
    input_metrics = motion_errors(body, clip, noisy, clean=clean)
    results, metrics = {}, {}
    for m, prior in priors.items():
        b21 = fit_clip(body, clip, obs, prior, noisy, cfg=cfgs[m])
        metrics[m] = motion_errors(body, clip, b21, clean=clean)
        results[m] = b21
    return {"noisy": noisy, "input_err": input_metrics["v2v_cm"], "input_metrics": input_metrics,
            "results": results, "errors": {m: e["v2v_cm"] for m, e in metrics.items()}, "metrics": metrics}


def tune_denoise(body, val_clips: list, priors: dict, sigma: float, steps: int, fixed: dict | None = None,
                 seed: int = 0, log=print, latent: bool = True, fast: bool = False, optimizer: str = "lbfgs") -> tuple[dict, dict]:
    """Fit weights for noise ``sigma`` chosen on validation clips (``posekit.fitting.tune.tune_weights``)."""
    g = torch.Generator().manual_seed(seed + 1000)
    noisy = [axis_angle_noise(c.body21, sigma, g) for c in val_clips]

    def evaluate(m, cfg):
        return float(np.mean([denoise_clip(body, c, sigma, {m: priors[m]}, {m: cfg}, g, noisy=n)["errors"][m]
                              for c, n in zip(val_clips, noisy)]))

    return tune_fit_weights(evaluate, priors, val_clips, FitConfig(steps=steps, latent=latent, optimizer=optimizer),
                            fixed, log=log, fast=fast, what=f"[denoise] sigma={sigma:g}")


def denoise_rows(body, clips_by_length: dict, priors: dict, sigmas, cfgs_by_sigma: dict, seed: int = 0,
                 example_path: Path | None = None, log=print) -> list[ResultRow]:
    """Rows for every (σ, clip length, method); optionally saves the first clip's results (largest σ) as an example."""
    rows = []
    g = torch.Generator().manual_seed(seed)
    example = None
    for sigma in sigmas:
        cfgs = cfgs_by_sigma[sigma]
        for length, clips in clips_by_length.items():
            errs = {m: {k: [] for k in MOTION_METRICS} for m in priors}
            inp = {k: [] for k in MOTION_METRICS}
            for clip in clips:
                out = denoise_clip(body, clip, sigma, priors, cfgs, g)
                for k in MOTION_METRICS:
                    inp[k].append(out["input_metrics"][k])
                    for m in priors:
                        errs[m][k].append(out["metrics"][m][k])
                if example_path is not None and example is None and sigma == max(sigmas):
                    example = {"sigma": sigma, "clip": clip, **out}
            setting = f"sigma={sigma:g},frames={length}"
            for k in MOTION_METRICS:
                rows.append(row(EXPERIMENT, setting, "none", f"noisy_input_{k}", inp[k], clip_units(clips)))
                for m in priors:
                    rows.append(row(EXPERIMENT, setting, m, k, errs[m][k], clip_units(clips)))
            log(f"[denoise] {setting}: v2v/surface/mpjpe cm: input " + "/".join(f"{np.mean(inp[k]):.2f}" for k in MOTION_METRICS)
                + "; " + ", ".join(f"{m} " + "/".join(f"{np.mean(errs[m][k]):.2f}" for k in MOTION_METRICS) for m in priors))
    if example is not None:
        c = example["clip"]
        for m, b in example["results"].items():
            check_finite(f"denoised poses of method {m!r} (example clip {c.name}, sigma={example['sigma']:g})", b)
        atomic_save_npz(example_path, sigma=np.float32(example["sigma"]), global_orient=c.global_orient.cpu().numpy(),
                        transl=c.transl.cpu().numpy(), clean=c.body21.cpu().numpy(),
                        noisy=example["noisy"].cpu().numpy(),
                        **{f"method_{m}": b.cpu().numpy() for m, b in example["results"].items()})
    return rows


def plot_denoise(rows: list[dict], path: Path) -> Path:
    """Error vs clip length (one panel per σ) and vs noise level (longest clips) for each method."""
    import matplotlib.pyplot as plt

    from ..priors import registry

    rs = [r for r in rows if r["experiment"] == EXPERIMENT and r["metric"] == "v2v_cm"]
    parse = lambda s: dict(kv.split("=") for kv in s.split(","))
    sig = sorted({float(parse(r["setting"])["sigma"]) for r in rs})
    lens = sorted({int(parse(r["setting"])["frames"]) for r in rs})
    methods = list(dict.fromkeys(r["method"] for r in rs))
    fig, axes = plt.subplots(1, len(sig) + 1, figsize=(4.2 * (len(sig) + 1), 3.6), squeeze=False)
    for k, s in enumerate(sig):
        ax = axes[0, k]
        for m in methods:
            ys = [next((r["value"] for r in rs if r["method"] == m and parse(r["setting"]) == {"sigma": f"{s:g}", "frames": str(L)}), np.nan) for L in lens]
            ax.plot(lens, ys, "o-", label=registry.label(m))
        ax.set_title(f"Denoising, σ = {s:g} rad")
        ax.set_xlabel("clip length (frames)")
        ax.set_ylabel("per-vertex error (cm)")
        ax.set_xticks(lens)
    ax = axes[0, -1]
    L = lens[-1]
    for m in methods:
        ys = [next((r["value"] for r in rs if r["method"] == m and parse(r["setting"]) == {"sigma": f"{s:g}", "frames": str(L)}), np.nan) for s in sig]
        ax.plot(sig, ys, "o-", label=registry.label(m))
    ax.set_title(f"Error vs noise ({L} frames)")
    ax.set_xlabel("noise σ (rad)")
    ax.set_ylabel("per-vertex error (cm)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def run_denoise(settings: DenoiseSettings, body, priors: dict, out: str | Path | None = None,
                clips: dict | None = None, val_clips: list | None = None, log=print) -> list[ResultRow]:
    """The denoising experiment: weights tuned per σ on validation clips, then every method (``priors``:
    {method: prior or None}) on the test clips -> result rows. ``clips`` ({length: [Clip]}) and ``val_clips``
    are drawn from ``settings.motions`` when not given. ``out``: also write the chosen weights
    (``weights_denoise.json``), an example clip (``denoise_example.npz``) and the figure (``denoise.png``)."""
    device = body.v_template.device
    clips, val = clips_for_settings(settings.motions, settings, device, priors, settings.seed, clips, val_clips)
    times: dict = {}
    chosen_all = {}
    out = None if out is None else Path(out)
    with timed(times, "denoise"):
        cfgs_by_sigma = {}
        for sigma in settings.sigmas:
            cfgs_by_sigma[sigma], chosen_all[f"sigma={sigma:g}"] = tune_denoise(
                body, val or [], priors, sigma, settings.steps, settings.fixed, seed=settings.seed,
                latent=settings.latent, fast=settings.fast, optimizer=settings.optimizer, log=log)
        rows = denoise_rows(body, clips, priors, settings.sigmas, cfgs_by_sigma, seed=settings.seed,
                            example_path=None if out is None else out / "denoise_example.npz", log=log)
    check_finite_rows(rows)
    if out is not None:
        save_weights(out / "weights_denoise.json", chosen_all)
        plot_denoise(rows, out / "denoise.png")
    log(f"[denoise] {times['denoise']:.1f} s")
    return rows


def run(args) -> list[ResultRow]:
    """The command line's ``denoise``: its options parsed into :class:`DenoiseSettings`, then :func:`run_denoise`
    (clips injected on ``args`` by ``experiments all`` are used as they are)."""
    st = settings_from_args(args)
    device, out, body, priors = run_setup(args)
    clips, val = clips_for_run(args, st, device, priors, seed=st.seed)
    return run_denoise(st, body, priors, out=out, clips=clips, val_clips=val)
