"""``HumorPrior``: the CVAE over state transitions with the body it walks, a rollout and a motion energy.

One step (Rempe et al. 2021, https://arxiv.org/abs/2105.04668, Sec. 3.1):

    x_{t-1} (world)  --canonicalize-->  c_{t-1}            (heading of x_{t-1} removed, origin below its pelvis)
    z_t ~ p(z | c_{t-1})   (sampling)   or   z_t ~ q(z | c_{t-1}, c_t)   (training)
    c_t = c_{t-1} + μ_Δ + σ_Δ ⊙ Δ(z_t, c_{t-1}),  contact logits κ_t      (``HumorCVAE.decode``)
          (or c_t = μ_Δ + σ_Δ ⊙ Δ(z_t, c_{t-1}) for the parts in ``absolute_parts``)
    c_t  --Gram-Schmidt on every 6D rotation, uncanonicalize with the frame of x_{t-1}-->  x_t (world)
    x_t  --on the floor by the predicted foot contacts (``ground``), consistent (``project``)-->  x_t

The floor is the plane y = 0 (training motions are shifted so that their lowest ankle/toe joint is there).
The last line is not in HuMoR, which feeds the decoded state back as it is; ``step`` and ``rollout`` take
``ground=False`` and ``project=False`` to do the same.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from posekit.errors import InputError
from posekit.rotations import aa_to_matrix, matrix_to_aa
from posekit.utils import atomic_torch_save, get_device

from ..files import prior_contents, read_prior
from .cvae import CONTACT_JOINTS, HumorCVAE
from .state import (CONTACT_HEIGHT, NUM_STATE_JOINTS, STATE_DIM, canonicalize_state, forward_kinematics,
                    motion_states, orthonormalize_state, transform_state, uncanonicalize_state, unpack_state)

__all__ = ["HumorPrior", "FORMAT"]

FORMAT = "posekit.humor/1"
_SMPL_PARENTS22 = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)


def _plain(x):
    """Plain Python types (weights_only-loadable) of a nested history."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if torch.is_tensor(x):
        return x.tolist()
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        return x.item()
    return x


class HumorPrior(nn.Module):
    """A HuMoR-like motion prior: ``HumorCVAE`` over canonical state transitions + the mean-shape skeleton.

    rest_joints: (22, 3) rest-pose joints of the body model (J_regressor @ v_template), used for the
    joint positions in the state and for the SMPL translation (transl = pelvis − rest_joints[0]).
    absolute_parts: names of state parts (``STATE_LAYOUT``) whose next value the decoder predicts itself, in
    the canonical frame of the previous state; the others it predicts as changes, as in the paper (the
    default: none). ``posekit.train.humor`` says why its models predict every part itself.
    """

    def __init__(self, rest_joints: torch.Tensor, latent_dim: int = 32, hidden: int = 256, fps: float = 30.0,
                 absolute_parts=()):
        super().__init__()
        from .state import STATE_SLICES

        unknown = sorted(set(absolute_parts) - set(STATE_SLICES))
        if unknown:
            raise ValueError(f"absolute_parts: unknown state parts {unknown}; expected some of {list(STATE_SLICES)}")
        residual = torch.ones(STATE_DIM, dtype=torch.bool)
        for name in absolute_parts:
            residual[STATE_SLICES[name]] = False
        rest_joints = torch.as_tensor(rest_joints, dtype=torch.float32).reshape(-1, 3)[:NUM_STATE_JOINTS]
        if rest_joints.shape != (NUM_STATE_JOINTS, 3):
            raise ValueError(f"rest_joints must hold at least {NUM_STATE_JOINTS} joints (J, 3), got {tuple(rest_joints.shape)}")
        self.config = {"latent_dim": int(latent_dim), "hidden": int(hidden), "fps": float(fps),
                       "absolute_parts": [str(n) for n in absolute_parts]}
        self.fps = float(fps)
        self.latent_dim = int(latent_dim)
        self.parents = _SMPL_PARENTS22
        self.register_buffer("rest_joints", rest_joints.clone())
        self.cvae = HumorCVAE(STATE_DIM, latent_dim=latent_dim, hidden=hidden, residual=residual)
        self.contact_joints = CONTACT_JOINTS
        self.history: dict = {}

    @classmethod
    def from_body_model(cls, body, **kwargs) -> "HumorPrior":
        """A model whose skeleton is that of ``body`` (an smplx SMPL-layout module) at the mean shape."""
        J = (body.J_regressor @ body.v_template).detach().float().cpu()               # (24, 3)
        return cls(J, **kwargs)

    # -- states of SMPL motion -----------------------------------------------------------------
    def states(self, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor,
               floor: float | torch.Tensor = 0.0) -> torch.Tensor:
        """World states (T, D) of an SMPL motion (global_orient (T, 3), body21 (T, 21, 3) axis-angle,
        transl (T, 3)), heights measured from ``floor`` (the world height of the floor)."""
        T = body21.shape[0]
        if body21.shape != (T, 21, 3) or global_orient.shape != (T, 3) or transl.shape != (T, 3):
            raise ValueError("expected global_orient (T, 3), body21 (T, 21, 3), transl (T, 3); got "
                             f"{tuple(global_orient.shape)}, {tuple(body21.shape)}, {tuple(transl.shape)}")
        up = torch.tensor([0.0, 1.0, 0.0], dtype=transl.dtype, device=transl.device)
        pelvis = transl + self.rest_joints[0].to(transl) - up * floor                 # (T, 3)
        return motion_states(aa_to_matrix(global_orient), pelvis, aa_to_matrix(body21),
                             self.rest_joints.to(transl), self.parents, self.fps)

    def states_on_floor(self, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor):
        """World states (T, D) of an SMPL motion with heights above its own floor (the lowest height any of its
        ankle/toe joints reaches, as for training), and that floor's world height (a 0-d tensor)."""
        from .state import floor_height

        x = self.states(global_orient, body21, transl)
        floor = floor_height(self.fk_joints(x))
        return self.states(global_orient, body21, transl, floor=floor), floor

    def to_smpl(self, x: torch.Tensor, floor: float | torch.Tensor = 0.0):
        """States (..., D) -> global_orient (..., 3), body21 (..., 21, 3) axis-angle, transl (..., 3)."""
        p = unpack_state(x)
        up = torch.tensor([0.0, 1.0, 0.0], dtype=x.dtype, device=x.device)
        transl = p["root_pos"] - self.rest_joints[0].to(x) + up * floor
        return matrix_to_aa(p["root_R"]), matrix_to_aa(p["body_R"]), transl

    def fk_joints(self, x: torch.Tensor) -> torch.Tensor:
        """Joints 0..21 (..., 22, 3) from the state's rotations and pelvis (not its joint positions)."""
        p = unpack_state(x)
        return forward_kinematics(p["root_R"], p["root_pos"], p["body_R"], self.rest_joints.to(x), self.parents)

    # -- one transition ------------------------------------------------------------------------
    def project(self, x_prev: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """Make a predicted state consistent with its rotations and pelvis: joints by forward kinematics,
        the velocities as backward differences to x_prev (as the training states are built)."""
        from .state import STATE_SLICES, pack_state

        p, q = unpack_state(x_prev), unpack_state(x_t)
        J = self.fk_joints(x_t)                                                       # (B, 22, 3)
        w = matrix_to_aa(q["root_R"] @ p["root_R"].transpose(-1, -2)) * self.fps      # (B, 3) rad/s
        return pack_state({"root_pos": q["root_pos"], "root_vel": (q["root_pos"] - p["root_pos"]) * self.fps,
                           "root_orient": x_t[..., STATE_SLICES["root_orient"]], "root_angvel": w,
                           "body_rot": x_t[..., STATE_SLICES["body_rot"]], "joints": J,
                           "joints_vel": (J - p["joints"]) * self.fps})

    def ground(self, x_t: torch.Tensor, contact_logits: torch.Tensor) -> torch.Tensor:
        """Put predicted states (B, D) on the floor (y = 0) by moving them vertically: when the decoder predicts
        a foot joint (ankle or toe) in contact, the lowest foot joint is moved onto the floor; otherwise the
        body is only lifted out of the floor when a foot joint is below it. Joint positions follow the pelvis;
        velocities are left to ``project``. Not in HuMoR (its rollouts feed the decoded state back as it is);
        the test-time optimisation's ground and contact terms (``posekit.fitting.humor``) are the same idea."""
        from .state import FOOT_JOINTS, STATE_SLICES

        feet = [self.contact_joints.index(j) for j in FOOT_JOINTS]
        h = self.fk_joints(x_t)[..., list(FOOT_JOINTS), 1].amin(-1)                          # (B,) lowest foot
        contact = (contact_logits[..., feet] > 0).any(-1)                                    # p > 0.5
        dy = torch.where(contact, -h, torch.relu(-h))                                         # (B,)
        shift = torch.zeros_like(x_t)
        shift[..., STATE_SLICES["root_pos"].start + 1] = dy
        shift[..., STATE_SLICES["joints"]] = (dy[..., None, None] * torch.tensor([0.0, 1.0, 0.0]).to(x_t)).expand(
            *dy.shape, NUM_STATE_JOINTS, 3).reshape(*dy.shape, -1)
        return x_t + shift

    def step(self, x_prev: torch.Tensor, z: torch.Tensor | None = None, temperature: float = 1.0,
             project: bool = True, ground: bool = True):
        """One step from world states x_prev (B, D). z (B, latent): given, else drawn from p(z | x_{t-1})
        (``temperature`` scales its standard deviation; 0 = the prior mean). ``project``: make the new
        state consistent (``project``; not in HuMoR, which feeds the decoded state back as it is; a model
        this small drifts without it). ``ground``: keep it on the floor by its predicted contacts (``ground``).
        Returns x_t (B, D) world, contact logits (B, K), −log p(z | x_{t-1}) (B,)."""
        xc, H, o = canonicalize_state(x_prev)
        mu, logvar = self.cvae.conditional_prior(xc)
        if z is None:
            z = mu + temperature * (0.5 * logvar).exp() * torch.randn_like(mu)
        nll = -torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
        x_c, contacts = self.cvae.decode(z, xc)
        x_t = uncanonicalize_state(orthonormalize_state(x_c), H, o)
        if ground:
            x_t = self.ground(x_t, contacts)
        return (self.project(x_prev, x_t) if project else x_t), contacts, nll

    def rollout(self, x0: torch.Tensor, steps: int, z: torch.Tensor | None = None, temperature: float = 1.0,
                generator_seed: int | None = None, project: bool = True, ground: bool = True):
        """Generate motion from start states x0 (B, D): ``steps`` transitions.

        z: (B, steps, latent) latent codes (then the rollout is deterministic), else sampled from the
        learned prior. Returns states (B, steps + 1, D), contact probabilities (B, steps, K) and
        −log p(z_t | x_{t-1}) (B, steps).
        """
        if x0.dim() != 2 or x0.shape[-1] != STATE_DIM:
            raise ValueError(f"x0 must be start states (B, {STATE_DIM}), got {tuple(x0.shape)}")
        if generator_seed is not None:
            torch.manual_seed(int(generator_seed))
        xs, cs, nlls = [x0], [], []
        for t in range(int(steps)):
            x, c, nll = self.step(xs[-1], None if z is None else z[:, t], temperature, project, ground)
            xs.append(x)
            cs.append(torch.sigmoid(c))
            nlls.append(nll)
        if not cs:
            return x0[:, None], x0.new_zeros(x0.shape[0], 0, len(self.contact_joints)), x0.new_zeros(x0.shape[0], 0)
        return torch.stack(xs, 1), torch.stack(cs, 1), torch.stack(nlls, 1)

    def encode_steps(self, x_prev: torch.Tensor, x_t: torch.Tensor):
        """Posterior mean and log-variance (B, latent) of the steps x_prev -> x_t (world states (B, D))."""
        xc, H, o = canonicalize_state(x_prev)
        from .state import transform_state

        return self.cvae.posterior(xc, transform_state(x_t, H, o))

    # -- transitions with their latent codes (LatentMotionPrior protocol, the test-time fit) ----------
    #: height (m) under which a joint the decoder calls in contact must stay
    contact_height = CONTACT_HEIGHT

    def transition_latents(self, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor,
                           floor: float | torch.Tensor = 0.0) -> torch.Tensor:
        """z_2..T (T-1, latent): the encoder means μ_q(x_{t-1}, x_t) along an SMPL motion (global_orient (T, 3),
        body21 (T, 21, 3), transl (T, 3)), heights from ``floor``."""
        x = self.states(global_orient, body21, transl, floor=floor)
        mu, _ = self.encode_steps(x[:-1], x[1:])
        return mu

    def transition_terms(self, global_orient: torch.Tensor, body21: torch.Tensor, transl: torch.Tensor,
                         z: torch.Tensor, floor: float | torch.Tensor = 0.0) -> tuple[dict, torch.Tensor]:
        """The prior's terms of a motion with latent codes z (T-1, latent) (scalars, differentiable in the motion
        and z): ``prior`` mean −log p(z_t | x_{t-1}) and ``dynamics`` ½ mean ‖(x̂_t − x_t)/σ_s‖²; also the
        decoder's contact logits (T-1, K) of ``contact_joints``."""
        x = self.states(global_orient, body21, transl, floor=floor)                  # (T, D)
        xc, H, o = canonicalize_state(x[:-1])
        xt = transform_state(x[1:], H, o)
        cv = self.cvae
        terms = {"prior": cv.prior_nll(z, xc).mean()}
        step, logits = cv.decode_step(z, xc)
        terms["dynamics"] = 0.5 * cv.step_error(step, xc, xt).pow(2).sum(-1).mean()
        return terms, logits

    # -- the motion energy (MotionPrior protocol) ----------------------------------------------
    def sequence_energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy of world state sequences (B, T, D): the mean over transitions of
        −log p(μ_q | x_{t-1}) + ½ ‖(x̂_t(μ_q, x_{t-1}) − x_t) / σ_s‖² (``HumorCVAE.step_error``), with μ_q the
        posterior mean."""
        B, T, D = x.shape
        if T < 2:
            return x.new_zeros(B)
        prev, nxt = x[:, :-1].reshape(-1, D), x[:, 1:].reshape(-1, D)
        xc, H, o = canonicalize_state(prev)
        from .state import transform_state

        xt = transform_state(nxt, H, o)
        mu_q, _ = self.cvae.posterior(xc, xt)
        nll = self.cvae.prior_nll(mu_q, xc)
        step, _ = self.cvae.decode_step(mu_q, xc)
        rec = 0.5 * self.cvae.step_error(step, xc, xt).pow(2).sum(-1)
        return (nll + rec).reshape(B, T - 1).mean(-1)

    def motion_energy(self, body21_seq: torch.Tensor, global_orient: torch.Tensor | None = None,
                      transl: torch.Tensor | None = None) -> torch.Tensor:
        """Energy (B,) of pose sequences body21_seq (B, T, 21, 3) (lower = more plausible motion).

        Without ``global_orient`` (B, T, 3) / ``transl`` (B, T, 3) the body stands upright and still, its
        lowest ankle/toe joint of the rest pose on the floor (a pose-only score).
        """
        if body21_seq.dim() != 4 or body21_seq.shape[-2:] != (21, 3):
            raise ValueError(f"body21_seq must be (B, T, 21, 3) axis-angle, got {tuple(body21_seq.shape)}")
        B, T = body21_seq.shape[:2]
        if global_orient is None:
            global_orient = body21_seq.new_zeros(B, T, 3)
        if transl is None:
            lift = -(self.rest_joints[[7, 8, 10, 11], 1].min())
            transl = body21_seq.new_zeros(B, T, 3)
            transl[..., 1] = lift
        x = torch.stack([self.states(global_orient[b], body21_seq[b], transl[b]) for b in range(B)])
        return self.sequence_energy(x)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """``torch.save`` of {format, config, rest_joints, state_dict, history}, written atomically."""
        obj = {"format": FORMAT, "config": dict(self.config),
               "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
               "history": _plain(self.history)}
        return atomic_torch_save(obj, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "HumorPrior":
        """Load a file written by ``save`` (``torch.load(..., weights_only=True)``); the model in eval mode."""
        obj = read_prior(path, "humor")        # damaged, another prior's file, NaN weights -> InputError
        if obj["format"] != FORMAT:
            raise InputError(f"{path}: a HuMoR prior file of format {obj['format']!r}; expected format {FORMAT!r}")
        with prior_contents(path, "humor"):
            model = cls(obj["state_dict"]["rest_joints"], **obj["config"])
            sd = dict(obj["state_dict"])
            if "cvae.step_std" not in sd and not model.config["absolute_parts"]:   # older files: σ_s is σ_Δ for them
                sd["cvae.step_std"] = sd["cvae.delta_std"]
            model.load_state_dict(sd)
        model.history = obj.get("history", {})
        return model.to(get_device(device)).eval()
