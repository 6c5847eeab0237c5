"""Motion completion with an occluded body part (Pose-NDF Table 4) on held-out motion.

We observe the 3D positions of the SMPL joints of a clean clip except those of one hidden part
(``posekit.experiments.clips.PARTS``: the left leg = hip, knee, ankle, foot; the left arm + hand = shoulder, elbow, wrist,
hand; the left shoulder + upper arm = collar, shoulder). Starting from the rest pose we minimise, over all
frames at once, the squared distance of the visible joints to the observation + temporal smoothness + the
prior (none / GMM / VPoser / Pose-NDF), with the clip's global orientation and translation fixed.
Every method starts from the same rest pose and is minimised with L-BFGS (strong Wolfe; ``--optimizer adam``
for Adam). Metrics against the clean motion (cm): the mean per-vertex error, the area-weighted surface error
and MPJPE (``posekit.fitting.metrics.motion_errors``), over the whole body (``v2v_cm``, ``surface_cm``,
``mpjpe_cm``) and over the hidden part (``*_hidden_cm``: the vertices whose dominant skinning weight belongs
to a hidden joint, the faces among them, the hidden joints).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, check_finite
from ..fitting.forward import posed_joints, posed_vertices
from ..fitting.metrics import MOTION_METRICS, motion_errors
from ..fitting.motion import Clip, FitConfig
from ..utils import atomic_save_npz
from ..viz.plots import save_figure
from .clips import PARTS, clips_for_run, clips_for_settings, part_joints
from .common import (MotionFitSettings, ResultRow, add_common_arguments, add_fit_arguments, clip_units, fit_clip, fixed_weights, fps_from_args, is_fast,
                     lengths_from_args, option_number, parse_methods, row, run_setup, save_weights, timed,
                     tune_fit_weights)
from .report import check_finite_rows

EXPERIMENT = "occlusion"
LENGTHS = (60, 120, 240)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    if any(a.dest == "parts" for a in parser._actions):
        return
    parser.add_argument("--parts", default=None, help=f"comma list of hidden parts among {','.join(PARTS)} (default all)")
    add_fit_arguments(parser)


def parse_parts(text) -> tuple:
    """``--parts``: None -> every part of ``PARTS``; else a non-empty comma list of them (InputError otherwise)."""
    if text is None:
        return tuple(PARTS)
    parts = tuple(dict.fromkeys(p.strip() for p in str(text).split(",") if p.strip()))
    bad = [p for p in parts if p not in PARTS]
    if not parts or bad:
        raise InputError(f"--parts: {'unknown ' + str(bad) if bad else 'empty ' + repr(text)}; expected a comma "
                         f"list of {','.join(PARTS)}")
    return parts


@dataclass(frozen=True)
class OcclusionSettings(MotionFitSettings):
    """Everything an occlusion run depends on besides the body model and the priors: the fields of
    ``MotionFitSettings`` and parts, the hidden parts (``PARTS``)."""

    lengths: tuple = LENGTHS
    steps: int = 300
    parts: tuple = tuple(PARTS)

    @classmethod
    def quick(cls, **changes) -> "OcclusionSettings":
        """The fast variant's defaults (``--fast``)."""
        return cls(**{"lengths": (60,), "clips": 2, "steps": 80, "val_len": 20, "val_clips": 2, "fast": True,
                      **changes})


def settings_from_args(args) -> OcclusionSettings:
    """The run's settings from ``args``, every option checked (InputError: one line naming the option)."""
    fast = is_fast(args)
    methods = getattr(args, "methods", None)
    return OcclusionSettings(
        motions=getattr(args, "motions", None),
        parts=parse_parts(getattr(args, "parts", None)),
        lengths=lengths_from_args(args, (60,) if fast else LENGTHS),
        clips=option_number(args, "clips", 2 if fast else 8),
        steps=option_number(args, "steps", 80 if fast else 300),
        val_len=20 if fast else 60,
        latent=getattr(args, "vposer_mode", "latent") != "energy",
        fast=fast,
        val_clips=option_number(args, "val_clips", 2 if fast else 5),
        fixed=fixed_weights(args),
        optimizer=getattr(args, "optimizer", None) or "lbfgs",
        fps=fps_from_args(args),
        methods=None if methods is None else tuple(parse_methods(methods)),
        seed=int(getattr(args, "seed", 0) or 0),
    )


def complete_clip(body, clip: Clip, part: str, priors: dict, cfgs: dict) -> dict:
    """Hide ``part`` in one clip's joint positions and complete it with every prior, from the same
    start (the rest pose).

    Returns {'results': {method: (T,21,3)}, 'all': {method: v2v cm}, 'hidden': {method: v2v cm of the
    hidden part}, 'metrics': {method: {metric: cm}}} with ``posekit.fitting.metrics.motion_errors``'s
    metrics over the whole body (v2v_cm, surface_cm, mpjpe_cm) and over the hidden part (*_hidden_cm).
    """
    hidden = part_joints(part)
    visible = torch.ones(24, dtype=torch.bool, device=clip.body21.device)
    visible[hidden] = False
    with torch.no_grad():
        obs = posed_joints(body, clip.global_orient, clip.body21, clip.transl)
        clean = {"vertices": posed_vertices(body, clip.global_orient, clip.body21, clip.transl), "joints": obs}
    results, metrics = {}, {}
    for m, prior in priors.items():
        b21 = fit_clip(body, clip, obs, prior, torch.zeros_like(clip.body21), joint_mask=visible, cfg=cfgs[m])
        metrics[m] = motion_errors(body, clip, b21, hidden_joints=hidden, clean=clean)
        results[m] = b21
    return {"results": results, "all": {m: e["v2v_cm"] for m, e in metrics.items()},
            "hidden": {m: e["v2v_hidden_cm"] for m, e in metrics.items()}, "metrics": metrics}


def tune_occlusion(body, val_clips: list, priors: dict, part: str, steps: int, fixed: dict | None = None,
                   log=print, latent: bool = True, fast: bool = False, optimizer: str = "lbfgs") -> tuple[dict, dict]:
    """Fit weights for hidden ``part`` chosen on validation clips.

    The criterion is the error over all vertices: the smoothness weight cannot change the hidden part
    without a prior (nothing observed constrains it), and a prior weight must not spoil the visible body.
    """
    def evaluate(m, cfg):
        return float(np.mean([complete_clip(body, c, part, {m: priors[m]}, {m: cfg})["all"][m] for c in val_clips]))

    return tune_fit_weights(evaluate, priors, val_clips, FitConfig(steps=steps, latent=latent, optimizer=optimizer),
                            fixed, log=log, fast=fast, what=f"[occlusion] part={part}")


def occlusion_rows(body, clips_by_length: dict, priors: dict, parts, cfgs_by_part: dict,
                   example_path: Path | None = None, log=print) -> list[ResultRow]:
    rows = []
    examples = {}
    for part in parts:
        cfgs = cfgs_by_part[part]
        for length, clips in clips_by_length.items():
            keys = [k for base in MOTION_METRICS for k in (base, base.replace("_cm", "_hidden_cm"))]
            errs = {m: {k: [] for k in keys} for m in priors}
            for clip in clips:
                out = complete_clip(body, clip, part, priors, cfgs)
                for m in priors:
                    for k in keys:
                        errs[m][k].append(out["metrics"][m][k])
                if part not in examples:
                    examples[part] = (clip, out["results"])
            setting = f"part={part},frames={length}"
            for m in priors:
                for k in keys:
                    rows.append(row(EXPERIMENT, setting, m, k, errs[m][k], clip_units(clips)))
            log(f"[occlusion] {setting}: v2v all/hidden cm " + ", ".join(
                f"{m} {np.mean(errs[m]['v2v_cm']):.2f}/{np.mean(errs[m]['v2v_hidden_cm']):.2f}" for m in priors))
    if example_path is not None and examples:
        arrays = {"parts": np.array(list(examples))}
        for i, (part, (clip, res)) in enumerate(examples.items()):
            arrays[f"p{i}_global_orient"] = clip.global_orient.cpu().numpy()
            arrays[f"p{i}_transl"] = clip.transl.cpu().numpy()
            arrays[f"p{i}_clean"] = clip.body21.cpu().numpy()
            for m, b in res.items():
                check_finite(f"completed poses of method {m!r} (example clip {clip.name}, part={part})", b)
                arrays[f"p{i}_method_{m}"] = b.cpu().numpy()
        atomic_save_npz(example_path, **arrays)
    return rows


def plot_occlusion(rows: list[dict], path: Path) -> Path:
    """Grouped bars: hidden-part error per part (longest clips) for each method."""
    import matplotlib.pyplot as plt

    from ..priors import registry

    rs = [r for r in rows if r["experiment"] == EXPERIMENT]
    parse = lambda s: dict(kv.split("=") for kv in s.split(","))
    parts = list(dict.fromkeys(parse(r["setting"])["part"] for r in rs))
    L = max(int(parse(r["setting"])["frames"]) for r in rs)
    methods = list(dict.fromkeys(r["method"] for r in rs))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    w = 0.8 / max(len(methods), 1)
    for ax, metric, title in zip(axes, ("v2v_cm", "v2v_hidden_cm"), ("all vertices", "hidden part's vertices")):
        for k, m in enumerate(methods):
            ys = [next((r["value"] for r in rs if r["method"] == m and r["metric"] == metric
                        and parse(r["setting"]) == {"part": p, "frames": str(L)}), np.nan) for p in parts]
            ax.bar(np.arange(len(parts)) + k * w, ys, w, label=registry.label(m))
        ax.set_xticks(np.arange(len(parts)) + w * (len(methods) - 1) / 2, parts)
        ax.set_title(f"Occlusion completion ({L} frames): {title}")
        ax.set_xlabel("hidden part")
        ax.set_ylabel("per-vertex error (cm)")
    axes[-1].legend(fontsize=8)
    return save_figure(fig, path)


def run_occlusion(settings: OcclusionSettings, body, priors: dict, out: str | Path | None = None,
                  clips: dict | None = None, val_clips: list | None = None, log=print) -> list[ResultRow]:
    """The occlusion experiment: weights tuned per hidden part on validation clips, then every method on the test
    clips -> result rows. Clips are drawn from ``settings.motions`` (seed + 1) when not given. ``out``: also write
    ``weights_occlusion.json``, ``occlusion_example.npz`` and ``occlusion.png``."""
    device = body.v_template.device
    clips, val = clips_for_settings(settings.motions, settings, device, priors, settings.seed + 1, clips, val_clips)
    times: dict = {}
    chosen_all = {}
    out = None if out is None else Path(out)
    with timed(times, "occlusion"):
        cfgs_by_part = {}
        for part in settings.parts:
            cfgs_by_part[part], chosen_all[f"part={part}"] = tune_occlusion(
                body, val or [], priors, part, settings.steps, settings.fixed, latent=settings.latent,
                fast=settings.fast, optimizer=settings.optimizer, log=log)
        rows = occlusion_rows(body, clips, priors, settings.parts, cfgs_by_part,
                              example_path=None if out is None else out / "occlusion_example.npz", log=log)
    check_finite_rows(rows)
    if out is not None:
        save_weights(out / "weights_occlusion.json", chosen_all)
        plot_occlusion(rows, out / "occlusion.png")
    log(f"[occlusion] {times['occlusion']:.1f} s")
    return rows


def run(args) -> list[ResultRow]:
    """The command line's ``occlusion``: options parsed into :class:`OcclusionSettings`, then :func:`run_occlusion`."""
    st = settings_from_args(args)
    device, out, body, priors = run_setup(args)
    clips, val = clips_for_run(args, st, device, priors, seed=st.seed + 1)
    return run_occlusion(st, body, priors, out=out, clips=clips, val_clips=val)
