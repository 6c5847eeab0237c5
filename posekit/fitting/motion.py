"""Fitting a motion clip to observed 3D joint positions: data + temporal smoothness + a pose prior.

Conventions
-----------
* A clip is a short piece of motion at ``fps`` (30, as AMASS/HuMoR clips in Pose-NDF's protocol):
  global orientation (T, 3), the 21 body joints' axis-angle (T, 21, 3) and the root translation (T, 3).
  The two SMPL hand joints stay at identity everywhere (the priors ignore them).
* The body shape is the model's mean shape (betas = 0); global orientation and translation stay fixed
  at the clip's, so only the body pose is fitted.
* Distances in the objective are in centimetres (joint positions).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import NonFiniteError
from ..priors.base import decode_latent, encode_latent, has_encoder, is_latent_prior, prior_energy
from ..skeleton import SMPL_JOINT_NAMES, as_body21
from .forward import posed_joints

__all__ = ["Clip", "PoseVariable", "FitConfig", "fit_motion", "minimise"]


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


class PoseVariable:
    """The free pose variable of a fit: body21 axis-angle, or a latent code for a latent prior (VPoser).

    ``body21()`` gives the current poses (T, 21, 3); ``energy()`` the prior term (T,) (zero without a prior;
    ‖z‖² for a latent prior, as SMPLify-X does with VPoser).
    """

    def __init__(self, prior, init_body21: torch.Tensor, latent: bool = True, init_steps: int = 100):
        self.prior = prior
        self.latent = latent and is_latent_prior(prior)
        if self.latent:
            self.z = self._encode(init_body21.detach(), init_steps).requires_grad_(True)
            self.params = [self.z]
        else:
            self.pose = init_body21.detach().clone().requires_grad_(True)
            self.params = [self.pose]

    def _encode(self, target: torch.Tensor, steps: int) -> torch.Tensor:
        """Latent codes whose decoding is closest to ``target`` (encoder when present, else a short fit from 0)."""
        T = target.shape[0]
        if has_encoder(self.prior):  # VPoser: the encoder mean
            return encode_latent(self.prior, target)
        z = target.new_zeros(T, int(self.prior.latent_dim)).requires_grad_(True)
        if steps <= 0 or float(target.abs().max()) == 0.0:
            return z.detach()
        opt = torch.optim.Adam([z], lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = (decode_latent(self.prior, z) - target).pow(2).sum() / T
            loss.backward()
            opt.step()
        return z.detach()

    def body21(self) -> torch.Tensor:
        if self.latent:
            return decode_latent(self.prior, self.z)
        return self.pose

    def energy(self, body21: torch.Tensor | None = None) -> torch.Tensor:
        if self.prior is None:
            return self.params[0].new_zeros(self.params[0].shape[0])
        if self.latent:
            return self.z.pow(2).sum(-1)
        return prior_energy(self.prior, self.pose if body21 is None else body21)


@dataclass
class FitConfig:
    """Weights and optimiser of the motion fit (losses in cm² of joint position).

    ``optimizer="lbfgs"`` (the default) is L-BFGS with a strong-Wolfe line search, SMPLify-X's choice
    (Pavlakos et al. 2019): its iterates depend on the energy's values, so a prior weight scales the
    prior's pull on every coordinate, including those no observed joint constrains (bone twists, head,
    feet); with ``w_prior → 0`` the fit tends to the no-prior fit. ``"adam"`` normalises every
    coordinate's step by its own gradient size, so on unconstrained coordinates the prior sets the step
    whatever its weight (kept for comparison). ``steps`` counts L-BFGS iterations (each may evaluate
    the energy a few times in its line search) or Adam steps.
    """

    w_data: float = 1.0
    w_smooth: float = 3.0
    w_prior: float = 1.0
    w_rot: float = 0.0          # optional data term on the observed rotations (rad²), off in Pose-NDF's protocol
    steps: int = 150
    lr: float = 0.05            # Adam's step size; L-BFGS uses lr = 1 (the line search scales the step)
    latent: bool = True
    optimizer: str = "lbfgs"    # "lbfgs" (strong Wolfe) or "adam"
    history: int = 20           # L-BFGS memory
    tol: float = 1e-9           # L-BFGS: stop when the energy changes less than this between iterations


def fit_motion(body, clip: Clip, obs_joints: torch.Tensor, prior=None, init_body21: torch.Tensor | None = None,
               joint_mask: torch.Tensor | None = None, obs_body21: torch.Tensor | None = None,
               cfg: FitConfig = FitConfig(), callback: Callable | None = None) -> torch.Tensor:
    """Per-frame poses of a clip from observed joint positions, batched over all frames.

    E(θ_1..T) = w_data · mean_{t, j visible} ‖J_j(θ_t) − Ĵ_tj‖²  + w_smooth · mean_{t, j} ‖J_j(θ_{t+1}) − J_j(θ_t)‖²
              + w_prior · mean_t E_prior(θ_t)  [+ w_rot · mean_t ‖θ_t − θ̂_t‖² when obs_body21 and w_rot > 0]
    with joint positions in cm (global orientation and translation fixed to the clip's), minimised with
    L-BFGS (strong Wolfe) or Adam (``cfg.optimizer``).

    obs_joints: (T, 24, 3) metres. joint_mask: (24,) bool, True = observed (default all).
    Returns the optimised body21 (T, 21, 3), detached.

    The observed joints (those of ``joint_mask``), the start poses, ``obs_body21`` and the clip must be finite:
    a NaN or infinite value is a :class:`~posekit.errors.NonFiniteError` naming its frames and joints, raised
    before the fit (it would otherwise make every pose NaN).
    """
    T = len(clip)
    if obs_joints.shape != (T, 24, 3):
        raise ValueError(f"obs_joints must be (T={T}, 24, 3) metres, got {tuple(obs_joints.shape)}")
    init = clip.body21.new_zeros(T, 21, 3) if init_body21 is None else init_body21
    mask = torch.ones(24, dtype=torch.bool, device=obs_joints.device) if joint_mask is None else joint_mask
    _check_finite_frames("observed joint positions (obs_joints)", obs_joints, clip.name, mask=mask)
    _check_finite_frames("start poses (init_body21)", init, clip.name, names=SMPL_JOINT_NAMES[1:22])
    if obs_body21 is not None:
        _check_finite_frames("observed poses (obs_body21)", obs_body21, clip.name, names=SMPL_JOINT_NAMES[1:22])
    for name, x in (("global_orient", clip.global_orient), ("transl", clip.transl)):
        _check_finite_frames(f"the clip's {name}", x[:, None], clip.name, names=("root",))
    var = PoseVariable(prior, init, latent=cfg.latent)
    obs_cm = obs_joints.detach() * 100.0

    def energy() -> torch.Tensor:
        b21 = var.body21()
        J = posed_joints(body, clip.global_orient, b21, clip.transl) * 100.0     # (T, 24, 3) cm
        loss = cfg.w_data * (J[:, mask] - obs_cm[:, mask]).pow(2).sum(-1).mean()
        if T > 1 and cfg.w_smooth > 0:
            loss = loss + cfg.w_smooth * (J[1:] - J[:-1]).pow(2).sum(-1).mean()
        if prior is not None and cfg.w_prior > 0:
            loss = loss + cfg.w_prior * var.energy(b21).mean()
        if obs_body21 is not None and cfg.w_rot > 0:
            loss = loss + cfg.w_rot * (b21 - obs_body21).pow(2).sum((-1, -2)).mean()
        return loss

    minimise(var.params, energy, cfg, callback)
    with torch.no_grad():
        return var.body21().detach().clone()


def _check_finite_frames(what: str, x: torch.Tensor, clip_name: str, mask: torch.Tensor | None = None,
                         names=SMPL_JOINT_NAMES) -> None:
    """x (T, J, 3): NonFiniteError naming the (first) frames and joints holding NaN/inf, among ``mask``'s joints."""
    bad = ~torch.isfinite(x.detach()).all(-1)                          # (T, J)
    if mask is not None:
        bad = bad & mask.to(bad.device)[None]
    if not bool(bad.any()):
        return
    frames = torch.nonzero(bad.any(1)).flatten().tolist()
    joints = torch.nonzero(bad.any(0)).flatten().tolist()
    shown = ", ".join(str(f) for f in frames[:8]) + (f", ... ({len(frames)} frames)" if len(frames) > 8 else "")
    jn = ", ".join(names[j] if j < len(names) else str(j) for j in joints[:8]) + (", ..." if len(joints) > 8 else "")
    raise NonFiniteError(f"fit_motion of clip {clip_name!r}: the {what} hold NaN or infinite values at frame(s) "
                         f"{shown}, joint(s) {jn}; expected finite numbers (mask missing joints with joint_mask, "
                         "or drop those frames)")


def minimise(params: list, energy: Callable[[], torch.Tensor], cfg: FitConfig,
             callback: Callable | None = None) -> float:
    """Minimise the scalar ``energy()`` over ``params`` with ``cfg.optimizer`` for ``cfg.steps``
    iterations; ``callback(iteration, energy)`` after each. Returns the final energy."""
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr)
        for it in range(cfg.steps):
            opt.zero_grad()
            loss = energy()
            loss.backward()
            opt.step()
            if callback is not None:
                callback(it, float(loss))
    elif cfg.optimizer == "lbfgs":
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.steps, max_eval=int(cfg.steps * 1.25) + 1,
                                history_size=cfg.history, tolerance_grad=1e-9, tolerance_change=cfg.tol,
                                line_search_fn="strong_wolfe")
        calls = [0]

        def closure():
            opt.zero_grad()
            loss = energy()
            loss.backward()
            if callback is not None:
                callback(calls[0], float(loss))
            calls[0] += 1
            return loss

        if cfg.steps > 0:
            opt.step(closure)
    else:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {cfg.optimizer!r}")
    with torch.no_grad():
        return float(energy())
