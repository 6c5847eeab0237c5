"""What every experiment starts with: command-line options, the priors and body model by name, the run
setup, and the result rows.

The experiments' pieces live in their layers (``posekit.fitting.motion`` the motion fit,
``posekit.fitting.tune`` the weight search, ``posekit.fitting.metrics`` the errors,
``posekit.fitting.forward`` the body forward, ``posekit.viz.plots`` the figures,
``posekit.experiments.clips`` the held-out clips, their noise and hidden parts); their names are
importable from here too.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
from dataclasses import dataclass, field
import warnings
from pathlib import Path
from typing import Sequence, TypedDict

import numpy as np

from ..errors import InputError, check_choices, check_finite, check_positive
from ..fitting.forward import full_pose, posed_joints, posed_vertices, rest_joints
from ..fitting.metrics import (apd_cm, clip_vertex_error, nearest_pose_distance, part_vertex_mask,
                               per_vertex_error_cm)
from ..fitting.clip_fit import fit_clip
from ..fitting.motion import Clip, FitConfig, PoseVariable, fit_motion
from ..fitting.tune import (DEFAULT_SMOOTH, PRIOR_GRID, PRIOR_GRID_FAST, SMOOTH_GRID, SMOOTH_GRID_FAST,
                            default_prior_weights, tune_weights)
from ..priors import registry
from ..priors.base import prior_energy
from ..utils import atomic_path, fast_mode, get_device, seed_everything
from ..viz.plots import draw_skeleton, save_figure, skeleton_segments
from .clips import (PARTS, axis_angle_noise, clips_for_run, cut_clips, held_out_clips, held_out_files,
                    load_pose_dataset, part_joints)



def __getattr__(name):
    # METHODS: "none" and every prior; POSE_METHODS: "none" and the per-frame pose priors (image fitting and
    # generation use only these). Both read from posekit.priors.registry when asked.
    if name == "METHODS":
        return registry.methods()
    if name == "POSE_METHODS":
        return registry.pose_methods()
    if name in ("DEFAULT_PRIOR_WEIGHTS", "PRIOR_BASE"):
        from ..fitting import tune

        return getattr(tune, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METHODS", "POSE_METHODS", "fit_clip", "parse_method_values", "tune_fit_weights", "load_body", "load_priors", "priors_from_args", "parse_methods", "is_fast", "body_from_args",
    "parse_numbers", "option_number", "lengths_from_args", "fps_from_args",
    "ResultRow", "Settings", "MotionFitSettings", "add_common_arguments", "add_fit_arguments", "fixed_weights", "untuned_weights", "save_weights", "run_setup", "timed", "row",
    # from the layers below
    "Clip", "FitConfig", "PoseVariable", "fit_motion", "prior_energy", "tune_weights", "DEFAULT_PRIOR_WEIGHTS",
    "DEFAULT_SMOOTH", "SMOOTH_GRID", "SMOOTH_GRID_FAST", "PRIOR_BASE", "PRIOR_GRID", "PRIOR_GRID_FAST",
    "full_pose", "rest_joints", "posed_joints", "posed_vertices", "per_vertex_error_cm", "clip_vertex_error",
    "part_vertex_mask", "apd_cm", "nearest_pose_distance", "draw_skeleton", "save_figure", "skeleton_segments",
    "PARTS", "part_joints", "axis_angle_noise", "held_out_files", "cut_clips", "held_out_clips", "clips_for_run",
    "load_pose_dataset",
]

# ----------------------------------------------------------------------------------------------
# the body model and the priors by method name
# ----------------------------------------------------------------------------------------------


def tune_fit_weights(evaluate, priors: dict, val_clips: list, base, fixed: dict | None = None, log=print,
                     fast: bool = False, what: str = "") -> tuple[dict, dict]:
    """Weights of every method chosen on ``val_clips`` by ``posekit.fitting.tune.tune_weights`` (``evaluate(method,
    cfg)`` -> validation error; HuMoR's weight is the scale of its prior-side terms, see ``fit_clip``).
    No validation clips is an error unless every weight is fixed. -> ({method: FitConfig}, {name: weight})."""
    from ..fitting.tune import tune_weights

    if not val_clips and not all(k in (fixed or {}) for k in ["smooth", *[m for m in priors if m != "none"]]):
        raise InputError("weights must be tuned but there are no validation clips (or fix them: --no-tune, "
                         "--prior-weights, --smooth-weight)")
    if val_clips:
        log(f"{what}: tuning weights on {len(val_clips)} validation clip(s): " + ", ".join(c.name for c in val_clips))
    return tune_weights(evaluate, list(priors), base, fixed, log=log if val_clips else (lambda *_: None), fast=fast)


def load_body(device=None, model: str = "open"):
    """The body model every experiment uses (``posekit.body.load_body_model``), mean shape."""
    from posekit.body import load_body_model

    return load_body_model(model=model, gender="neutral", num_betas=10, device=get_device(device))


def load_priors(methods: Sequence[str], priors_dir=None, motions=None, fast: bool = False, seed: int = 0,
                device=None, skip_missing: bool = True) -> dict:
    """{method: prior or None for 'none'} via ``posekit.train.load_or_train`` (trains when absent;
    ``priors_dir`` None: the shipped pretrained priors).

    With ``skip_missing`` a prior whose code is not available or fails to load is left out with a
    warning instead of stopping the whole experiment.
    """
    from posekit.train import load_or_train

    out = {}
    for m in methods:
        if m not in registry.methods():
            raise InputError(f"unknown method {m!r}; expected some of {registry.methods()}")
        if m == "none":
            out[m] = None
            continue
        try:
            out[m] = load_or_train(m, priors_dir, motions=motions, fast=fast, seed=seed, device=device)
        except (ImportError, AttributeError, FileNotFoundError) as e:
            if not skip_missing:
                raise
            warnings.warn(f"prior {m!r} left out: {type(e).__name__}: {e}")
    return out


def priors_from_args(args) -> dict:
    """Priors for an experiment's ``args``: ``args.prior_objects`` when injected (tests), else loaded by name."""
    methods = parse_methods(getattr(args, "methods", None))
    injected = getattr(args, "prior_objects", None)
    if injected is not None:
        return {m: (None if m == "none" else injected[m]) for m in methods if m == "none" or m in injected}
    return load_priors(methods, args.priors, motions=args.motions, fast=is_fast(args), seed=args.seed,
                       device=args.device)


def parse_methods(text, allowed: Sequence[str] | None = None, option: str = "--methods") -> list[str]:
    """``--methods``: None or "all" -> every method of ``allowed`` (default: "none" and every registered prior);
    else a non-empty comma list (or sequence) of them, in the order given; anything else is an InputError."""
    allowed = registry.methods() if allowed is None else allowed
    if text is None or text == "all":
        return list(allowed)
    return check_choices(option, text, allowed)


def parse_numbers(text, option: str, integer: bool = False, allow_zero: bool = False) -> tuple:
    """A non-empty comma list of finite numbers > 0 (≥ 0 with ``allow_zero``; whole with ``integer``) -> tuple."""
    items = [x.strip() for x in str(text).split(",")]
    if not str(text).strip() or not all(items):
        raise InputError(f"{option}: expected a comma list of numbers, got {text!r}")
    return tuple(check_positive(option, x, integer=integer, allow_zero=allow_zero) for x in items)


def option_number(args, dest: str, default, integer: bool = True, allow_zero: bool = False, minimum=None):
    """``args.<dest>`` checked (a finite number > 0, or ≥ 0; at least ``minimum``), or ``default`` when not given."""
    value = getattr(args, dest, None)
    if value is None:
        return default
    option = "--" + dest.replace("_", "-")
    v = check_positive(option, value, integer=integer, allow_zero=allow_zero)
    if minimum is not None and v < minimum:
        raise InputError(f"{option} must be at least {minimum}, got {value!r}")
    return v


def lengths_from_args(args, default) -> tuple:
    """``--lengths``: clip lengths in frames (whole numbers ≥ 2), or ``default``."""
    text = getattr(args, "lengths", None)
    if text is None:
        return tuple(int(x) for x in default)
    lengths = tuple(int(x) for x in parse_numbers(text, "--lengths", integer=True))
    if min(lengths) < 2:
        raise InputError(f"--lengths: a clip needs at least 2 frames, got {text!r}")
    return lengths


def fps_from_args(args) -> float:
    """``--fps``: a frame rate in (0, MAX_FPS] (``posekit.data.motion``), or 30."""
    from ..data import motion

    MAX_FPS = getattr(motion, "MAX_FPS", 1000.0)
    fps = getattr(args, "fps", None)
    if fps is None:
        return 30.0
    fps = check_positive("--fps", fps)
    if fps > MAX_FPS:
        raise InputError(f"--fps must be at most {MAX_FPS:g} frames per second, got {fps:g}")
    return float(fps)


def is_fast(args) -> bool:
    return bool(getattr(args, "fast", False)) or fast_mode()


def body_from_args(args):
    body = getattr(args, "body_model", None)
    return body if body is not None else load_body(args.device)


# ----------------------------------------------------------------------------------------------
# command-line options
# ----------------------------------------------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by denoise/occlusion/generate (and run_all)."""
    if any(a.dest == "methods" for a in parser._actions):
        return
    parser.add_argument("--methods", default="all",
                        help="comma list of priors to compare among none,gmm,vposer,posendf,humor (default all; "
                             "humor takes part in denoise and occlusion only)")
    parser.add_argument("--fps", type=float, default=30.0, help="clips are resampled to this frame rate")
    parser.add_argument("--vposer-mode", choices=("latent", "energy"), default="latent",
                        help="optimise VPoser's latent code z with ‖z‖² (SMPLify-X; default) or the pose with "
                             "VPoser's energy ‖μ(θ)‖²")


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the motion-fit experiments (denoise, occlusion): clips, steps, weights and their tuning."""
    if any(a.dest == "lengths" for a in parser._actions):
        return
    parser.add_argument("--lengths", default=None, help="comma list of clip lengths in frames (default 60,120,240; fast: 60)")
    parser.add_argument("--clips", type=int, default=None, help="test clips per setting (default 8; fast: 2)")
    parser.add_argument("--steps", type=int, default=None,
                        help="optimiser iterations per fit (denoise: default 200, fast 80; occlusion: default 300, fast 80)")
    parser.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs",
                        help="L-BFGS with a strong-Wolfe line search (default; the fit then depends on the weights) "
                             "or Adam (its per-coordinate steps make a prior's weight matter little on coordinates "
                             "that no observed joint constrains)")
    parser.add_argument("--prior-weights", default=None,
                        help="fix prior weights instead of tuning them on validation clips, e.g. "
                             + ",".join(f"{m}={registry.fit_weight(m):g}" for m in registry.prior_names()))
    parser.add_argument("--smooth-weight", type=float, default=None,
                        help="fix the temporal smoothness weight instead of tuning it on validation clips")
    parser.add_argument("--no-tune", action="store_true",
                        help="no tuning on validation clips: fixed default weights (smoothness 3, prior weights "
                             + ", ".join(f"{k}={v:g}" for k, v in default_prior_weights().items() if k != "none") + ")")
    parser.add_argument("--val-clips", type=int, default=None,
                        help="validation clips used to tune the weights (val subjects; 60 frames, fast: 30 for "
                             "denoise and 20 for occlusion; default 5 clips, fast: 2, taken from the validation subjects in turn)")


def parse_method_values(text, option: str, allowed) -> dict:
    """``"a=1,b=100"`` -> {"a": 1.0, "b": 100.0}; every method must be in ``allowed`` and every
    value a finite number ≥ 0; None -> {}; anything else (an empty text included) is an InputError."""
    if text is None:
        return {}
    if not str(text).strip():
        raise InputError(f"{option} expects method=value items among {','.join(allowed)}, got {text!r}")
    out = {}
    for item in str(text).split(","):
        k, _, v = item.partition("=")
        if k.strip() not in allowed or not v.strip():
            raise InputError(f"{option} expects method=value items among {','.join(allowed)}, got {item!r}")
        out[k.strip()] = check_positive(f"{option} {k.strip()}", v.strip(), allow_zero=True)
    return out


def untuned_weights() -> dict:
    """Every weight at its default ({prior: weight, "smooth": weight}): what ``--no-tune`` fixes, as a settings'
    ``fixed`` field (no tuning on validation clips)."""
    fixed = dict(default_prior_weights(), smooth=DEFAULT_SMOOTH)
    fixed.pop("none", None)
    return fixed


def fixed_weights(args) -> dict:
    """Weights the user fixed (``--prior-weights``, ``--smooth-weight``; all of them with ``--no-tune``)."""
    fixed = untuned_weights() if getattr(args, "no_tune", False) else {}
    fixed.update(parse_method_values(getattr(args, "prior_weights", None), "--prior-weights",
                                     list(registry.prior_names())))
    if getattr(args, "smooth_weight", None) is not None:
        fixed["smooth"] = check_positive("--smooth-weight", args.smooth_weight, allow_zero=True)
    return fixed


# ----------------------------------------------------------------------------------------------
# settings and result rows, as types
# ----------------------------------------------------------------------------------------------


class ResultRow(TypedDict, total=False):
    """One row of results (``results.csv``): a method's mean ``value`` of ``metric`` in one ``setting`` of an
    ``experiment``, with its ``std`` over ``n`` units; ``units`` and ``values`` hold every clip's or view's value
    (``units.csv``), for paired comparisons."""

    experiment: str
    setting: str
    method: str
    metric: str
    value: float
    std: float
    n: int
    units: list
    values: list


class Settings:
    """Base of the experiments' frozen settings dataclasses: ``settings["name"]`` reads a field, as the run code
    did when settings were dicts, and :meth:`replace` returns a copy with some fields changed."""

    def __getitem__(self, key: str):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def replace(self, **changes):
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class MotionFitSettings(Settings):
    """The fields every motion-fit experiment (denoising, occlusion) shares: motions: the folder of motion files
    (its held-out subjects are used); lengths: clip lengths (frames); clips: test clips per setting; val_clips /
    val_len: the validation clips the weights are tuned on and their length; steps: optimiser iterations per fit;
    latent: VPoser-like priors fit their latent code (False: their energy on the poses); fixed: weights not to tune
    ({method or "smooth": weight}); methods: None for every method of the registry; seed: clips, noise, tuning."""

    motions: str | None = None
    lengths: tuple = (60, 120, 240)
    clips: int = 8
    val_clips: int = 5
    steps: int = 200
    val_len: int = 60
    latent: bool = True
    fast: bool = False
    fixed: dict = field(default_factory=dict)
    optimizer: str = "lbfgs"
    fps: float = 30.0
    methods: tuple | None = None
    seed: int = 0


# ----------------------------------------------------------------------------------------------
# run setup and results
# ----------------------------------------------------------------------------------------------


def run_setup(args):
    """What every experiment's ``run`` starts with: seed, device, output folder, body model, priors.

    Returns (device, out folder, body model, {method: prior}).
    """
    seed_everything(args.seed)
    device = get_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return device, out, body_from_args(args), priors_from_args(args)


def _check_weights(chosen, name: str = "weight") -> None:
    """Every number of a (nested) dict of weights is finite, else NonFiniteError naming its key."""
    if isinstance(chosen, dict):
        for k, v in chosen.items():
            _check_weights(v, f"{name} {k}")
    elif isinstance(chosen, (float, np.floating)):
        check_finite(name, np.float64(chosen))


def save_weights(path: Path, chosen: dict) -> Path:
    """The fit weights used (tuned or fixed), as JSON beside the results (NaN or infinite ones refused)."""
    _check_weights(chosen)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(chosen, indent=1, sort_keys=True))
    return Path(path)


@contextlib.contextmanager
def timed(store: dict, key: str):
    """Wall time of a block, added to ``store[key]`` in seconds."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        store[key] = store.get(key, 0.0) + time.perf_counter() - t0


def row(experiment: str, setting: str, method: str, metric: str, values: Sequence[float],
        units: Sequence[str] | None = None) -> dict:
    """A result row: mean, std (population) and n of the values; with ``units`` (the clip or view of each
    value, the same for every method) it keeps the values too, for paired comparisons (``verdicts``)."""
    v = np.asarray(list(values), dtype=float)
    out = {"experiment": experiment, "setting": setting, "method": method, "metric": metric,
           "value": float(v.mean()) if v.size else float("nan"),
           "std": float(v.std()) if v.size > 1 else float("nan"), "n": int(v.size)}
    if units is not None:
        if len(units) != v.size:
            raise ValueError(f"{len(units)} units for {v.size} values")
        out["units"], out["values"] = [str(u) for u in units], v.tolist()
    return out


def clip_units(clips) -> list[str]:
    """Unit names of clips for paired comparisons: position and name (a file may give several clips)."""
    return [f"{i}:{getattr(c, 'name', '')}" for i, c in enumerate(clips)]
