"""Pieces shared by the experiments: held-out clips, noise, priors by name, body forward, errors, the motion fit.

Conventions
-----------
* A clip is a short piece of held-out motion resampled to ``fps`` (30, as AMASS/HuMoR clips in
  Pose-NDF's protocol): global orientation (T, 3), the 21 body joints' axis-angle (T, 21, 3) and the
  root translation (T, 3). The two SMPL hand joints stay at identity everywhere (the priors ignore them).
* The body shape is the model's mean shape (betas = 0) for the clean motion and for every result, so a
  per-vertex error measures the pose only. Global orientation and translation stay fixed at the truth.
* Distances in losses are in centimetres (joint positions); reported errors are in cm (or mm for
  image-fit, which the SMPLify helper owns).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..rotations import aa_to_matrix, aa_to_quat, nearest_pose_ndf
from ..skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, as_body21
from ..utils import atomic_path, get_device

METHODS = ("none", "gmm", "vposer", "posendf")

# ----------------------------------------------------------------------------------------------
# clips of held-out motion
# ----------------------------------------------------------------------------------------------


@dataclass
class Clip:
    """A piece of motion: global_orient (T, 3), body21 (T, 21, 3) axis-angle, transl (T, 3)."""

    name: str
    global_orient: torch.Tensor
    body21: torch.Tensor
    transl: torch.Tensor
    fps: float = 30.0

    def __post_init__(self):
        T = self.body21.shape[0]
        if self.body21.shape != (T, 21, 3) or self.global_orient.shape != (T, 3) or self.transl.shape != (T, 3):
            raise ValueError(
                "Clip expects global_orient (T, 3), body21 (T, 21, 3), transl (T, 3); got "
                f"{tuple(self.global_orient.shape)}, {tuple(self.body21.shape)}, {tuple(self.transl.shape)}")

    def __len__(self) -> int:
        return self.body21.shape[0]

    def to(self, device) -> "Clip":
        return Clip(self.name, self.global_orient.to(device), self.body21.to(device), self.transl.to(device), self.fps)

    @classmethod
    def from_poses(cls, name: str, poses: torch.Tensor, trans: torch.Tensor, fps: float = 30.0) -> "Clip":
        """From SMPL full poses (T, 24, 3) or (T, 72) and translations (T, 3)."""
        poses = torch.as_tensor(poses, dtype=torch.float32).reshape(len(poses), 24, 3)
        trans = torch.as_tensor(trans, dtype=torch.float32).reshape(len(poses), 3)
        return cls(name, poses[:, 0].clone(), as_body21(poses).clone(), trans.clone(), float(fps))


def held_out_files(motions_dir: str | os.PathLike, split: str = "test") -> list[Path]:
    """Motion files of the held-out subjects, with the data layer's split (``posekit.data.dataset``).

    One file per trial (duplicated conversions dropped as ``pose_dataset`` does); the ``test`` subjects
    by default. When the folder holds none of them, the ``val`` subjects are used, and when it holds
    neither (an arbitrary folder), every file, with a warning that nothing is then held out.
    """
    from posekit.data.dataset import assign_splits, deduplicate, list_motion_files, trial_key

    root = Path(motions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"--motions must be a folder of motion files (BVH, ASF/AMC, AMASS .npz); got {root}")
    files, _ = deduplicate(list_motion_files(root))
    if not files:
        raise FileNotFoundError(f"no motion files (.bvh, .amc+.asf, AMASS .npz) under {root}")
    split_of = assign_splits([trial_key(p)[0] for p in files])
    for name in dict.fromkeys((split, "val", "test")):
        chosen = [p for p in files if split_of[trial_key(p)[0]] == name]
        if chosen:
            return chosen
    warnings.warn(f"{root}: no file of a held-out subject; every motion there is used as a held-out clip "
                  "(the priors may have been trained on it)")
    return files


_MOTION_CACHE: dict[tuple, tuple] = {}


def _load(path: Path, fps: float):
    key = (str(path), float(fps))
    if key not in _MOTION_CACHE:
        try:
            from posekit.data import load_motion
        except ImportError:  # the package may not re-export it (yet)
            from posekit.data.loaders import load_motion

        m = load_motion(path, fps=fps)
        _MOTION_CACHE[key] = (torch.as_tensor(np.asarray(m.poses), dtype=torch.float32).reshape(-1, 24, 3),
                              torch.as_tensor(np.asarray(m.trans), dtype=torch.float32).reshape(-1, 3),
                              float(m.fps))
    return _MOTION_CACHE[key]


def cut_clips(name: str, poses: torch.Tensor, trans: torch.Tensor, length: int, fps: float) -> list[Clip]:
    """Non-overlapping windows of ``length`` frames from one motion (T, 24, 3)."""
    out = []
    for i, s in enumerate(range(0, poses.shape[0] - length + 1, length)):
        out.append(Clip.from_poses(f"{name}[{s}:{s + length}]", poses[s:s + length], trans[s:s + length], fps))
    return out


def held_out_clips(motions_dir: str | os.PathLike, length: int, n_clips: int, fps: float = 30.0,
                   seed: int = 0, files: Sequence[Path] | None = None, split: str = "test") -> list[Clip]:
    """``n_clips`` clips of ``length`` frames from held-out motion (the ``test`` subjects; ``val`` for
    tuning weights), picked at random (seeded) among all non-overlapping windows."""
    if length < 2:
        raise ValueError(f"clip length must be >= 2 frames, got {length}")
    files = list(files) if files is not None else held_out_files(motions_dir, split=split)
    windows: list[Clip] = []
    for p in files:
        poses, trans, f = _load(Path(p), fps)
        windows += cut_clips(Path(p).stem, poses, trans, length, f)
    if not windows:
        raise ValueError(f"no held-out motion in {motions_dir} is {length} frames long at {fps} fps")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(windows), size=min(n_clips, len(windows)), replace=False)
    return [windows[i] for i in sorted(pick)]


def load_pose_dataset(motions_dir):
    """``posekit.data.pose_dataset(motions_dir)`` (cached by the data layer), without a progress bar."""
    try:
        from posekit.data import pose_dataset
    except ImportError:
        from posekit.data.dataset import pose_dataset
    return pose_dataset(motions_dir, progress=False)


# ----------------------------------------------------------------------------------------------
# noise models
# ----------------------------------------------------------------------------------------------


def axis_angle_noise(body21: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """body21 (T, 21, 3) + N(0, sigma^2) on every axis-angle component (Pose-NDF's noisy-AMASS protocol)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 (radians), got {sigma}")
    eps = torch.randn(body21.shape, generator=generator, dtype=body21.dtype).to(body21.device)
    return body21 + sigma * eps


# ----------------------------------------------------------------------------------------------
# body model: joints by forward kinematics (cheap, for losses), vertices (for errors), parts
# ----------------------------------------------------------------------------------------------


def load_body(device=None, model: str = "open"):
    """The body model every experiment uses (``posekit.body.load_body_model``), mean shape."""
    from posekit.body import load_body_model

    return load_body_model(model=model, gender="neutral", num_betas=10, device=get_device(device))


def full_pose(global_orient: torch.Tensor, body21: torch.Tensor) -> torch.Tensor:
    """(T, 3) + (T, 21, 3) -> (T, 24, 3) SMPL pose with the hand joints at identity."""
    T = body21.shape[0]
    return torch.cat([global_orient.reshape(T, 1, 3), body21.reshape(T, 21, 3), body21.new_zeros(T, 2, 3)], dim=1)


def rest_joints(body, n: int = 1) -> torch.Tensor:
    """Rest-pose joints (n, 24, 3) of the mean shape: J_regressor @ v_template."""
    J = body.J_regressor @ body.v_template                     # (24, 3)
    return J.unsqueeze(0).expand(n, -1, -1)


def posed_joints(body, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """SMPL joint positions (T, 24, 3) in metres by forward kinematics (equal to smplx's first 24 joints).

    G_0 = R_0, p_0 = J_0;  G_k = G_{π(k)} R_k,  p_k = p_{π(k)} + G_{π(k)} (J_k − J_{π(k)})  (+ transl).
    Positions only (no 4x4 transforms, no vertices): the cheap forward used inside the fits.
    """
    T = body21.shape[0]
    R = aa_to_matrix(full_pose(global_orient, body21))        # (T, 24, 3, 3)
    J = rest_joints(body, 1)[0].to(R.dtype)                   # (24, 3)
    parents = [int(p) for p in body.parents.tolist()]
    G = [R[:, 0]]
    p = [J[0].expand(T, 3)]
    for k in range(1, 24):
        a = parents[k]
        p.append(p[a] + (G[a] @ (J[k] - J[a]).unsqueeze(-1)).squeeze(-1))
        G.append(G[a] @ R[:, k])
    return torch.stack(p, dim=1) + transl.reshape(T, 1, 3)


def posed_vertices(body, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor,
                   chunk: int = 256) -> torch.Tensor:
    """Mesh vertices (T, V, 3) in metres of the mean shape posed by (global_orient, body21, transl)."""
    out = []
    nb = body.shapedirs.shape[-1]
    for s in range(0, body21.shape[0], chunk):
        b = body21[s:s + chunk]
        n = b.shape[0]
        o = body(betas=b.new_zeros(n, nb), global_orient=global_orient[s:s + chunk].reshape(n, 3),
                 body_pose=torch.cat([b.reshape(n, 63), b.new_zeros(n, 6)], dim=1),
                 transl=transl[s:s + chunk].reshape(n, 3))
        out.append(o.vertices)
    return torch.cat(out)


def per_vertex_error_cm(verts_a: torch.Tensor, verts_b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean vertex distance per frame (T,) in cm; ``mask`` (V,) bool restricts to some vertices."""
    if verts_a.shape != verts_b.shape:
        raise ValueError(f"vertex arrays differ in shape: {tuple(verts_a.shape)} vs {tuple(verts_b.shape)}")
    d = (verts_a - verts_b).norm(dim=-1) * 100.0               # (T, V) cm
    if mask is not None:
        if mask.sum() == 0:
            raise ValueError("the vertex mask selects no vertex")
        d = d[:, mask]
    return d.mean(dim=-1)


#: Occluded parts (Pose-NDF Table 4). Joints are SMPL joints on the body's LEFT side (+x); a joint's
#: skinning region is the segment its rotation drives (e.g. left_shoulder drives the upper arm).
#: Hiding a part hides the 3D positions of these joints; the part's vertices are those whose
#: largest skinning weight belongs to one of them.
PARTS = {
    "leg": ("left_hip", "left_knee", "left_ankle", "left_foot"),
    "arm+hand": ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
    "shoulder+upper-arm": ("left_collar", "left_shoulder"),
}


def part_joints(part: str) -> list[int]:
    """SMPL joint indices of an occluded part."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {list(PARTS)}")
    return [SMPL_JOINT_NAMES.index(n) for n in PARTS[part]]


def part_vertex_mask(lbs_weights: torch.Tensor, joints: Iterable[int]) -> torch.Tensor:
    """(V,) bool: vertices whose dominant skinning weight (argmax over the 24 joints) is in ``joints``."""
    dom = lbs_weights.argmax(dim=-1)                           # (V,)
    return torch.isin(dom, torch.as_tensor(list(joints), device=dom.device))


# ----------------------------------------------------------------------------------------------
# priors by method name
# ----------------------------------------------------------------------------------------------


def load_priors(methods: Sequence[str], priors_dir, motions=None, fast: bool = False, seed: int = 0,
                device=None, skip_missing: bool = True) -> dict:
    """{method: prior or None for 'none'} via ``posekit.priors.store.load_prior`` (trains when absent).

    With ``skip_missing`` a prior whose code is not available (not built yet) or fails to load is
    left out with a warning instead of stopping the whole experiment.
    """
    from posekit.priors.store import load_prior

    out = {}
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; expected some of {METHODS}")
        if m == "none":
            out[m] = None
            continue
        try:
            out[m] = load_prior(m, priors_dir, motions=motions, fast=fast, seed=seed, device=device)
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


def parse_methods(text) -> list[str]:
    if text is None or text == "" or text == "all":
        return list(METHODS)
    methods = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"--methods: unknown {bad}; expected a comma list of {','.join(METHODS)}")
    return methods


def is_fast(args) -> bool:
    from ..utils import fast_mode

    return bool(getattr(args, "fast", False)) or fast_mode()


def body_from_args(args):
    body = getattr(args, "body_model", None)
    return body if body is not None else load_body(args.device)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by denoise/occlusion/generate (and run_all)."""
    if any(a.dest == "methods" for a in parser._actions):
        return
    parser.add_argument("--methods", default="all",
                        help="comma list of priors to compare among none,gmm,vposer,posendf (default all)")
    parser.add_argument("--fps", type=float, default=30.0, help="clips are resampled to this frame rate")
    parser.add_argument("--vposer-mode", choices=("latent", "energy"), default="latent",
                        help="optimise VPoser's latent code z with ‖z‖² (SMPLify-X; default) or the pose with "
                             "VPoser's energy ‖μ(θ)‖²")


# ----------------------------------------------------------------------------------------------
# a prior as a pose parametrisation + energy (the prior protocol of TEAM.md)
# ----------------------------------------------------------------------------------------------


def prior_energy(prior, body21: torch.Tensor) -> torch.Tensor:
    """(T,) prior term of a pose: Pose-NDF's distance when it has one, else ``energy``."""
    if hasattr(prior, "distance"):
        return prior.distance(body21)
    return prior.energy(body21)


class PoseVariable:
    """The free pose variable of a fit: body21 axis-angle, or a latent code for a latent prior (VPoser).

    ``body21()`` gives the current poses (T, 21, 3); ``energy()`` the prior term (T,) (zero without a prior;
    ‖z‖² for a latent prior, as SMPLify-X does with VPoser).
    """

    def __init__(self, prior, init_body21: torch.Tensor, latent: bool = True, init_steps: int = 100):
        self.prior = prior
        self.latent = prior is not None and latent and hasattr(prior, "decode_body21") and hasattr(prior, "latent_dim")
        if self.latent:
            self.z = self._encode(init_body21.detach(), init_steps).requires_grad_(True)
            self.params = [self.z]
        else:
            self.pose = init_body21.detach().clone().requires_grad_(True)
            self.params = [self.pose]

    def _encode(self, target: torch.Tensor, steps: int) -> torch.Tensor:
        """Latent codes whose decoding is closest to ``target`` (encoder when present, else a short fit from 0)."""
        T = target.shape[0]
        if hasattr(self.prior, "encode"):  # VPoser: the encoder mean
            with torch.no_grad():
                mu = self.prior.encode(target)
                mu = mu[0] if isinstance(mu, (tuple, list)) else mu
                return mu.detach().clone().reshape(T, int(self.prior.latent_dim)).to(target)
        z = target.new_zeros(T, int(self.prior.latent_dim)).requires_grad_(True)
        if steps <= 0 or float(target.abs().max()) == 0.0:
            return z.detach()
        opt = torch.optim.Adam([z], lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = (self.prior.decode_body21(z).reshape(T, 21, 3) - target).pow(2).sum() / T
            loss.backward()
            opt.step()
        return z.detach()

    def body21(self) -> torch.Tensor:
        if self.latent:
            return self.prior.decode_body21(self.z).reshape(self.z.shape[0], 21, 3)
        return self.pose

    def energy(self, body21: torch.Tensor | None = None) -> torch.Tensor:
        if self.prior is None:
            return self.params[0].new_zeros(self.params[0].shape[0])
        if self.latent:
            return self.z.pow(2).sum(-1)
        return prior_energy(self.prior, self.pose if body21 is None else body21)


@dataclass
class FitConfig:
    """Weights and optimiser of the motion fit (losses in cm² of joint position)."""

    w_data: float = 1.0
    w_smooth: float = 3.0
    w_prior: float = 1.0
    w_rot: float = 0.0          # optional data term on the observed rotations (rad²), off in Pose-NDF's protocol
    steps: int = 150
    lr: float = 0.05
    latent: bool = True


#: Prior weights per method, for losses in cm²; the energies differ in scale (GMM: a negative
#: log-likelihood over 63 dimensions; VPoser: ‖z‖² over 32; Pose-NDF: a distance in ~[0, 1] rad).
DEFAULT_PRIOR_WEIGHTS = {"none": 0.0, "gmm": 1.0, "vposer": 1.0, "posendf": 300.0}
DEFAULT_SMOOTH = 3.0


def save_weights(path: Path, chosen: dict) -> Path:
    """The fit weights used (tuned or fixed), as JSON beside the results."""
    import json

    from ..utils import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(chosen, indent=1, sort_keys=True))
    return Path(path)


def fit_motion(body, clip: Clip, obs_joints: torch.Tensor, prior=None, init_body21: torch.Tensor | None = None,
               joint_mask: torch.Tensor | None = None, obs_body21: torch.Tensor | None = None,
               cfg: FitConfig = FitConfig(), callback: Callable | None = None) -> torch.Tensor:
    """Per-frame poses of a clip from observed joint positions, batched over all frames.

    E(θ_1..T) = w_data · mean_{t, j visible} ‖J_j(θ_t) − Ĵ_tj‖²  + w_smooth · mean_{t, j} ‖J_j(θ_{t+1}) − J_j(θ_t)‖²
              + w_prior · mean_t E_prior(θ_t)  [+ w_rot · mean_t ‖θ_t − θ̂_t‖² when obs_body21 and w_rot > 0]
    with joint positions in cm (global orientation and translation fixed to the clip's), minimised with Adam.

    obs_joints: (T, 24, 3) metres. joint_mask: (24,) bool, True = observed (default all).
    Returns the optimised body21 (T, 21, 3), detached.
    """
    T = len(clip)
    if obs_joints.shape != (T, 24, 3):
        raise ValueError(f"obs_joints must be (T={T}, 24, 3) metres, got {tuple(obs_joints.shape)}")
    init = clip.body21.new_zeros(T, 21, 3) if init_body21 is None else init_body21
    mask = torch.ones(24, dtype=torch.bool, device=obs_joints.device) if joint_mask is None else joint_mask
    var = PoseVariable(prior, init, latent=cfg.latent)
    opt = torch.optim.Adam(var.params, lr=cfg.lr)
    obs_cm = obs_joints.detach() * 100.0
    for it in range(cfg.steps):
        opt.zero_grad()
        b21 = var.body21()
        J = posed_joints(body, clip.global_orient, b21, clip.transl) * 100.0     # (T, 24, 3) cm
        loss = cfg.w_data * (J[:, mask] - obs_cm[:, mask]).pow(2).sum(-1).mean()
        if T > 1 and cfg.w_smooth > 0:
            loss = loss + cfg.w_smooth * (J[1:] - J[:-1]).pow(2).sum(-1).mean()
        if prior is not None and cfg.w_prior > 0:
            loss = loss + cfg.w_prior * var.energy(b21).mean()
        if obs_body21 is not None and cfg.w_rot > 0:
            loss = loss + cfg.w_rot * (b21 - obs_body21).pow(2).sum((-1, -2)).mean()
        loss.backward()
        opt.step()
        if callback is not None:
            callback(it, float(loss))
    with torch.no_grad():
        return var.body21().detach().clone()


#: Log-spaced grids searched on validation clips (multiplied by the method's base weight).
SMOOTH_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
SMOOTH_GRID_FAST = (1.0, 5.0, 25.0)
PRIOR_BASE = {"gmm": 1.0, "vposer": 1.0, "posendf": 300.0}
PRIOR_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
PRIOR_GRID_FAST = (0.01, 1.0, 100.0)


def tune_weights(evaluate: Callable[[str, FitConfig], float], methods: Sequence[str], base: FitConfig,
                 fixed: dict | None = None, log=print, fast: bool = False) -> tuple[dict, dict]:
    """Weights chosen on validation data (never on the test clips), one method at a time.

    First the smoothness weight with no prior (``SMOOTH_GRID``), shared by every method; then, for each
    prior, its weight on ``PRIOR_BASE[m] * PRIOR_GRID``, extended by up to two decades when the best
    weight lies on an edge of the grid, then refined by a factor 3 either side of the best
    (``fast``: the coarser ``SMOOTH_GRID_FAST``/``PRIOR_GRID_FAST``, extended by two decades, no refinement).
    ``evaluate(method, cfg)`` returns the validation error; ``fixed`` {method: weight} skips a search.
    Returns ({method: FitConfig}, {"smooth": w, method: w, ...}).
    """
    from dataclasses import replace

    fixed = dict(fixed or {})
    chosen = {}
    if "smooth" in fixed:
        smooth = fixed["smooth"]
    else:
        errs = {w: evaluate("none", replace(base, w_smooth=w, w_prior=0.0))
                for w in (SMOOTH_GRID_FAST if fast else SMOOTH_GRID)}
        smooth = min(errs, key=errs.get)
        log("[tune] smoothness " + ", ".join(f"{w:g}: {e:.2f}" for w, e in errs.items()) + f" -> {smooth:g}")
    chosen["smooth"] = smooth
    cfgs = {}
    for m in methods:
        if m == "none":
            cfgs[m] = replace(base, w_smooth=smooth, w_prior=0.0)
            continue
        if m in fixed:
            w = fixed[m]
        else:
            b = PRIOR_BASE.get(m, 1.0)
            errs = {b * g: evaluate(m, replace(base, w_smooth=smooth, w_prior=b * g))
                    for g in (PRIOR_GRID_FAST if fast else PRIOR_GRID)}
            for _ in range(2):  # best on an edge of the grid: extend it by a decade (at most twice)
                best = min(errs, key=errs.get)
                step = 100.0 if fast else 10.0
                if best == min(errs):
                    nxt = best / step
                elif best == max(errs):
                    nxt = best * step
                else:
                    break
                errs[nxt] = evaluate(m, replace(base, w_smooth=smooth, w_prior=nxt))
            best = min(errs, key=errs.get)
            for w in (() if fast else (best / 3.0, best * 3.0)):
                if w not in errs:
                    errs[w] = evaluate(m, replace(base, w_smooth=smooth, w_prior=w))
            w = min(errs, key=errs.get)
            log(f"[tune] {m}: " + ", ".join(f"{k:.3g}: {e:.2f}" for k, e in sorted(errs.items())) + f" -> {w:.3g}")
        chosen[m] = w
        cfgs[m] = replace(base, w_smooth=smooth, w_prior=w)
    return cfgs, chosen


def clip_vertex_error(body, clip: Clip, body21: torch.Tensor, mask: torch.Tensor | None = None,
                      clean_verts: torch.Tensor | None = None) -> float:
    """Mean per-vertex error (cm) of poses ``body21`` against the clip's clean motion."""
    with torch.no_grad():
        if clean_verts is None:
            clean_verts = posed_vertices(body, clip.global_orient, clip.body21, clip.transl)
        v = posed_vertices(body, clip.global_orient, body21, clip.transl)
        return float(per_vertex_error_cm(v, clean_verts, mask).mean())


# ----------------------------------------------------------------------------------------------
# generation metrics
# ----------------------------------------------------------------------------------------------


def apd_cm(joints: torch.Tensor) -> float:
    """Average pairwise distance of n poses' joint positions (n, J, 3) metres, in cm.

    APD = 2 / (n (n-1)) Σ_{a<b} (1/J) Σ_j ‖x_aj − x_bj‖ (mean over pairs of the mean per-joint distance).
    """
    n = joints.shape[0]
    if n < 2:
        raise ValueError("APD needs at least 2 samples")
    d = torch.cdist(joints.transpose(0, 1), joints.transpose(0, 1))   # (J, n, n) metres
    per_pair = d.mean(0)                                                # (n, n)
    return float(per_pair.sum() / (n * (n - 1)) * 100.0)


def nearest_pose_distance(samples: torch.Tensor, train: torch.Tensor, chunk: int | None = None,
                          weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample (n, 21, 3) the seed's pose distance to its nearest training pose (N, 21, 3).

    d(θ, θ̂) = sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|) (``posekit.rotations.pose_ndf_distance``), searched
    exhaustively in chunks of the training set (memory O(n · chunk · 21)).
    Returns (distances (n,), indices into ``train`` (n,)).
    """
    qs = aa_to_quat(as_body21(samples))                           # (n, 21, 4)
    qt = aa_to_quat(as_body21(train).to(qs.device))               # (N, 21, 4)
    return nearest_pose_ndf(qs, qt, weights, chunk)


# ----------------------------------------------------------------------------------------------
# misc
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def timed(store: dict, key: str):
    """Wall time of a block, added to ``store[key]`` in seconds."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        store[key] = store.get(key, 0.0) + time.perf_counter() - t0


def row(experiment: str, setting: str, method: str, metric: str, values: Sequence[float]) -> dict:
    """A result row: mean, std (population) and n of the values."""
    v = np.asarray(list(values), dtype=float)
    return {"experiment": experiment, "setting": setting, "method": method, "metric": metric,
            "value": float(v.mean()) if v.size else float("nan"),
            "std": float(v.std()) if v.size > 1 else float("nan"), "n": int(v.size)}


def skeleton_segments(joints: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bone segments (parent, child) of one pose's 24 joints (24, 3)."""
    return [(joints[p], joints[c]) for c, p in enumerate(SMPL_PARENTS) if p >= 0]


def draw_skeleton(ax, joints: np.ndarray, color="k", lw: float = 2.0, offset=(0.0, 0.0), alpha: float = 1.0,
                  view: str = "front") -> None:
    """Stick figure of 24 joints (metres, y-up) on a 2D matplotlib axis (front view: x right, y up)."""
    ix = 0 if view == "front" else 2
    for a, b in skeleton_segments(np.asarray(joints)):
        ax.plot([a[ix] + offset[0], b[ix] + offset[0]], [a[1] + offset[1], b[1] + offset[1]],
                color=color, lw=lw, alpha=alpha, solid_capstyle="round")


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + rename) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)


def clips_for_run(args, st: dict, device, priors: dict, seed: int) -> tuple[dict, list | None]:
    """Test clips per length and, when some weight must be tuned, validation clips (both may be injected on ``args``).

    ``st`` holds the experiment's settings (``lengths``, ``clips``, ``fps``, ``val_len``, ``val_clips``, ``fixed``).
    """
    clips = getattr(args, "clips_by_length", None) or {
        L: [c.to(device) for c in held_out_clips(args.motions, L, st["clips"], fps=st["fps"], seed=seed)]
        for L in st["lengths"]}
    val = getattr(args, "val_clip_list", None)
    if val is None and not all(k in st["fixed"] for k in ["smooth", *[m for m in priors if m != "none"]]):
        val = [c.to(device) for c in held_out_clips(args.motions, st["val_len"], st["val_clips"], fps=st["fps"],
                                                    seed=seed, split="val")]
    return clips, val


def run_setup(args):
    """What every experiment's ``run`` starts with: seed, device, output folder, body model, priors.

    Returns (device, out folder, body model, {method: prior}).
    """
    from ..utils import seed_everything

    seed_everything(args.seed)
    device = get_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return device, out, body_from_args(args), priors_from_args(args)
