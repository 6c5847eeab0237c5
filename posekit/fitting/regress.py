"""A learned regressor: 2D keypoints -> SMPL parameters in one forward pass (no optimisation).

Regression-based methods (HMR, Kanazawa et al. 2018, https://arxiv.org/abs/1712.06584; ExPose, Choutas et al.
2020, https://arxiv.org/abs/2008.09062) predict the body from an image in one pass; Pose-NDF's Table 5 (Tiwari
et al. 2022, https://arxiv.org/abs/2207.13807) starts SMPLify-style optimisation from ExPose's output. posekit's
regressor is the keypoint-only version of that idea, small enough to train in CPU minutes
(``python -m posekit.train regressor``):

    input   x = [(k − c) / b · 1[conf > 0], conf]    (B, 14·2 + 14)   LSP-14 keypoints k (px) in the person's
                                                                       box (centre c, side b), dropped points zeroed
    network MLP with two residual blocks             (B, H)
    output  6D rotations (Zhou et al. 2019, https://arxiv.org/abs/1812.07035) of the global orientation and the
            21 body joints (B, 22, 6), betas (B, NB), a weak-perspective camera (s, t_x, t_y) in box units.

The camera: a point X of the posed body (camera axes, no translation) lands at (k − c) / b ≈ s · (X_xy + t).
With a focal length f and the principal point p it is the perspective translation (:func:`camera_to_transl`):
the pelvis depth D = f / (b s), T_xy = t − (p − c) D / f, T_z = D − J_0,z(β).

Public: :func:`regress`, :func:`load_regressor`, :class:`KeypointRegressor` (``save`` / ``load``),
:func:`keypoint_boxes`, :func:`regressor_inputs`, :func:`camera_to_transl`, :func:`transl_to_camera`.
"""
from __future__ import annotations

import os
from pathlib import Path

import roma
import torch
from torch import nn

from ..errors import InputError
from ..skeleton import body21_to_body_pose

__all__ = ["KeypointRegressor", "regress", "load_regressor", "keypoint_boxes", "regressor_inputs",
           "camera_to_transl", "transl_to_camera", "pretrained_regressor_path", "start_options", "FORMAT", "N_JOINTS",
           "BOX_PAD"]

#: the tag of a regressor file (``torch.save`` of a dict: format, config, state_dict, history)
FORMAT = "posekit.regressor/1"
#: LSP-14 keypoints in, global orientation + 21 body joints out
N_KEYPOINTS = 14
N_JOINTS = 22
#: the box around the visible keypoints is this much larger than their extent (a detector's box has a margin)
BOX_PAD = 1.2


def keypoint_boxes(keypoints: torch.Tensor, confidences: torch.Tensor, pad: float = BOX_PAD) -> torch.Tensor:
    """A square box around the keypoints with confidence > 0: keypoints (B,14,2) px, confidences (B,14)
    -> boxes (B,4) as (x0, y0, x1, y1) px, side ``pad`` times the longer side of their extent."""
    seen = (confidences > 0)[..., None]                                          # (B,14,1)
    big = torch.finfo(keypoints.dtype).max
    lo = torch.where(seen, keypoints, big).amin(1)                               # (B,2)
    hi = torch.where(seen, keypoints, -big).amax(1)                              # (B,2)
    c = 0.5 * (lo + hi)
    half = 0.5 * pad * (hi - lo).amax(-1, keepdim=True).clamp_min(1.0)           # (B,1)
    return torch.cat([c - half, c + half], dim=-1)


def _box_centre_size(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """boxes (B,4) -> centre (B,2), side b (B,) (the longer side)."""
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    b = (boxes[:, 2:] - boxes[:, :2]).amax(-1)
    return c, b


def regressor_inputs(keypoints: torch.Tensor, confidences: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """x = [(k − c) / b · 1[conf > 0], conf]: keypoints (B,14,2), confidences (B,14), boxes (B,4) -> (B,42)."""
    c, b = _box_centre_size(boxes)
    seen = (confidences > 0).to(keypoints.dtype)[..., None]                      # (B,14,1)
    xn = (keypoints - c[:, None]) / b[:, None, None] * seen                      # (B,14,2)
    return torch.cat([xn.flatten(1), confidences.clamp(0, 1)], dim=1)


def check_regressor_inputs(keypoints, confidences, boxes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shapes and values of :func:`regress`'s inputs -> float tensors; InputError saying what was expected."""
    kp, conf, box = (torch.as_tensor(x, dtype=torch.float32) for x in (keypoints, confidences, boxes))
    if kp.dim() != 3 or kp.shape[1:] != (N_KEYPOINTS, 2):
        raise InputError(f"keypoints must have shape (B, {N_KEYPOINTS}, 2) in pixels (LSP-14 order), got {tuple(kp.shape)}")
    if conf.shape != kp.shape[:2]:
        raise InputError(f"confidences must have shape (B, {N_KEYPOINTS}) matching keypoints, got {tuple(conf.shape)}")
    if box.shape != (kp.shape[0], 4):
        raise InputError(f"boxes must have shape (B, 4) as (x0, y0, x1, y1) pixels, got {tuple(box.shape)}")
    if not (torch.isfinite(kp).all() and torch.isfinite(conf).all() and torch.isfinite(box).all()):
        raise InputError("keypoints, confidences and boxes must be finite (give a missing keypoint confidence 0)")
    if (conf < 0).any():
        raise InputError("confidences must be >= 0")
    if ((box[:, 2:] - box[:, :2]) <= 0).any():
        raise InputError("every box must have x1 > x0 and y1 > y0 (pixels)")
    if (conf.sum(-1) <= 0).any():
        raise InputError("every image needs at least one keypoint with confidence > 0")
    return kp, conf, box


class KeypointRegressor(nn.Module):
    """MLP: regressor inputs (B,42) -> 6D rotations (B,22,6), betas (B,NB), camera (B,3)."""

    def __init__(self, hidden: int = 512, blocks: int = 2, num_betas: int = 10, dropout: float = 0.0):
        super().__init__()
        self.config = {"hidden": int(hidden), "blocks": int(blocks), "num_betas": int(num_betas),
                       "dropout": float(dropout)}
        self.inp = nn.Linear(N_KEYPOINTS * 3, hidden)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(),
                                                  nn.Dropout(dropout), nn.Linear(hidden, hidden))
                                    for _ in range(blocks))
        self.out = nn.Linear(hidden, N_JOINTS * 6 + num_betas + 3)
        # start at the identity rotation, mean shape and a camera of a body filling most of the box
        with torch.no_grad():
            self.out.weight.mul_(0.01)
            bias = torch.zeros(self.out.out_features)
            bias[:N_JOINTS * 6] = torch.tensor([1.0, 0, 0, 1, 0, 0]).repeat(N_JOINTS)   # (3,2) = first two columns of I
            bias[N_JOINTS * 6 + num_betas] = 0.5
            self.out.bias.copy_(bias)
        self.history: dict = {}

    def forward(self, x: torch.Tensor) -> dict:
        """x (B,42) -> {"rot6d": (B,22,6), "rotmat": (B,22,3,3), "betas": (B,NB), "camera": (B,3)}."""
        h = self.inp(x)
        for blk in self.blocks:
            h = h + blk(h)                                                       # (B,H) residual block
        y = self.out(h)
        nb = self.config["num_betas"]
        rot6d = y[:, :N_JOINTS * 6].reshape(-1, N_JOINTS, 6)                     # (B,22,6)
        rotmat = roma.special_gramschmidt(rot6d.reshape(-1, 3, 2)).reshape(-1, N_JOINTS, 3, 3)
        return {"rot6d": rot6d, "rotmat": rotmat, "betas": y[:, N_JOINTS * 6:N_JOINTS * 6 + nb],
                "camera": y[:, -3:]}

    def save(self, path, half: bool = False) -> Path:
        """Write the regressor (weights, config, history, format tag) atomically; ``torch.load(weights_only=True)``
        reads it. ``half``: store the weights in float16 (half the file; :meth:`load` casts them back to float32),
        as the shipped file does."""
        from ..utils import atomic_torch_save

        state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
                 for k, v in self.state_dict().items()}
        return atomic_torch_save({"format": FORMAT, "config": dict(self.config), "state_dict": state,
                                  "history": _plain(self.history)}, path)

    @classmethod
    def load(cls, path, device=None) -> "KeypointRegressor":
        """Read a regressor file (``posekit.priors.files.read_prior``: weights only, checked); InputError on a bad file."""
        from ..priors.files import prior_contents, read_prior

        obj = read_prior(path, "regressor")
        with prior_contents(path, "regressor"):
            model = cls(**obj["config"])
            model.load_state_dict(obj["state_dict"])
        model.history = dict(obj.get("history") or {})
        model.eval()
        return model.to(device) if device is not None else model


def _plain(obj):
    """History -> only numbers, strings, lists and dicts (what ``weights_only`` loading accepts)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if torch.is_tensor(obj):
        return obj.tolist()
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    return float(obj)


def transl_to_camera(transl: torch.Tensor, root_rest: torch.Tensor, focal_length: torch.Tensor,
                     image_size: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Perspective translation T (B,3) -> weak-perspective camera (s, t_x, t_y) (B,3) in box units.

    root_rest (B,3): the pelvis J_0(β) (SMPL rotates about it, so it is the pelvis of the posed body without
    translation); D = T_z + J_0,z, s = f / (b D), t = T_xy + (p − c) D / f.
    """
    c, b = _box_centre_size(boxes)
    p = 0.5 * image_size
    D = transl[:, 2] + root_rest[:, 2]                                          # (B,) pelvis depth
    s = focal_length / (b * D)
    t = transl[:, :2] + (p - c) * (D / focal_length)[:, None]
    return torch.cat([s[:, None], t], dim=1)


def camera_to_transl(camera: torch.Tensor, root_rest: torch.Tensor, focal_length: torch.Tensor,
                     image_size: torch.Tensor, boxes: torch.Tensor, min_depth: float = 0.3) -> torch.Tensor:
    """The inverse of :func:`transl_to_camera`: camera (B,3) -> translation T (B,3) in the camera frame
    (the depth kept ≥ ``min_depth`` m: a scale s ≤ 0 would put the body behind the camera)."""
    c, b = _box_centre_size(boxes)
    p = 0.5 * image_size
    D = (focal_length / (b * camera[:, 0].clamp_min(1e-3))).clamp_min(min_depth)  # (B,)
    txy = camera[:, 1:] - (p - c) * (D / focal_length)[:, None]
    return torch.cat([txy, (D - root_rest[:, 2])[:, None]], dim=1)


def _rest_pelvis(body_model, betas: torch.Tensor) -> torch.Tensor:
    """J_0(β) = (J_regressor (v_template + S β))_0: betas (B,NB) -> (B,3)."""
    v = body_model.v_template + torch.einsum("vcb,nb->nvc", body_model.shapedirs[..., :betas.shape[1]], betas)
    return torch.einsum("v,nvc->nc", body_model.J_regressor[0], v)


def regress(keypoints, confidences, boxes, model: KeypointRegressor, focal_length=None, image_size=None,
            body_model=None) -> dict:
    """The regressor's body for a batch of images.

    keypoints (B,14,2) px in LSP-14 order, confidences (B,14) ≥ 0 (0: not seen), boxes (B,4) the person's box
    (x0, y0, x1, y1) px (:func:`keypoint_boxes` makes one from the keypoints). Returns a dict of tensors:
    global_orient (B,3) and body_pose (B,69) axis-angle (SMPL layout, hands at zero), body21 (B,21,3),
    rotmat (B,22,3,3), betas (B,NB), camera (B,3) = (s, t_x, t_y); with ``focal_length`` (scalar or (B,)),
    ``image_size`` ((2,) or (B,2), width and height px) and ``body_model`` also transl (B,3), the camera-frame
    translation that :func:`posekit.fitting.smplify` uses.
    """
    kp, conf, box = check_regressor_inputs(keypoints, confidences, boxes)
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(regressor_inputs(kp, conf, box).to(device))
    rotmat = out["rotmat"]                                                       # (B,22,3,3)
    aa = roma.rotmat_to_rotvec(rotmat)                                          # (B,22,3)
    body21 = aa[:, 1:]
    res = {"global_orient": aa[:, 0], "body21": body21, "body_pose": body21_to_body_pose(body21),
           "rotmat": rotmat, "betas": out["betas"], "camera": out["camera"]}
    if focal_length is not None or image_size is not None or body_model is not None:
        if focal_length is None or image_size is None or body_model is None:
            raise InputError("regress: focal_length, image_size and body_model are needed together for transl")
        B = kp.shape[0]
        f = torch.as_tensor(focal_length, dtype=torch.float32).flatten().expand(B).to(device)
        size = torch.as_tensor(image_size, dtype=torch.float32).to(device)
        size = size[None].expand(B, 2) if size.dim() == 1 else size
        bm_dev = body_model.v_template.device
        root = _rest_pelvis(body_model, res["betas"].to(bm_dev)).to(device)
        res["transl"] = camera_to_transl(res["camera"], root, f, size, box.to(device))
    return res


def pretrained_regressor_path(verify: bool = True) -> Path | None:
    """The shipped regressor (``posekit/priors/pretrained/regressor.pt``, entry ``models.regressor`` of the
    manifest), its sha256 checked with ``verify``; None when this copy ships none."""
    from ..priors.store import shipped_file

    return shipped_file("models", "regressor", verify,
                        "train your own: python -m posekit.train regressor --motions DIR --out FILE")


def load_regressor(path: str | os.PathLike | None = None, device=None) -> KeypointRegressor:
    """The regressor in ``path``, or the one shipped with posekit (``path=None``); InputError on a bad file."""
    if path is None:
        path = pretrained_regressor_path()
        if path is None:
            raise FileNotFoundError("this copy of posekit ships no pretrained regressor; train one with: "
                                    "python -m posekit.train regressor --motions DIR --out regressor.pt")
    return KeypointRegressor.load(path, device=device)


def start_options(keypoints, confidences, focal_length, image_size, body_model, model=None) -> dict:
    """The :func:`posekit.fitting.smplify` options of a fit started from the regressor's body: {"start": betas,
    global_orient, body_pose, transl, "stages": SMPLify's last stage} (a refinement: the earlier stages' high
    prior weights would pull a good start back toward the prior's mode). Boxes around the visible keypoints
    (:func:`keypoint_boxes`, as in training); ``model`` None: the shipped regressor."""
    from .smplify import SMPLIFY_STAGES

    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    conf = torch.as_tensor(confidences, dtype=torch.float32)
    model = load_regressor() if model is None else model
    out = regress(kp, conf, keypoint_boxes(kp, conf), model, focal_length=focal_length, image_size=image_size,
                  body_model=body_model)
    return {"start": {k: out[k] for k in ("betas", "global_orient", "body_pose", "transl")},
            "stages": SMPLIFY_STAGES[-1:]}
