"""The state's canonical frame: the heading (rotation about the up axis, y-up) removed.

HuMoR (Rempe et al. 2021, https://arxiv.org/abs/2105.04668, Sec. 3) expresses each transition
x_{t-1} -> x_t in the frame of x_{t-1} with its heading removed, so the model does not learn the
same step once for every direction a person may face.
"""
from __future__ import annotations

import torch

from posekit.skeleton import FOOT_JOINTS as _FOOT_JOINTS

UP = torch.tensor([0.0, 1.0, 0.0])


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> 6D (..., 6): the first two columns (Zhou et al. 2019)."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def rot6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """6D (..., 6) -> rotation matrices (..., 3, 3) by Gram-Schmidt."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def heading_rotation(root_R: torch.Tensor) -> torch.Tensor:
    """Rotation about +y (..., 3, 3) that takes +z to the root's forward direction projected on the ground."""
    fwd = root_R[..., :, 2]                                   # (..., 3) body forward (+z in SMPL)
    angle = torch.atan2(fwd[..., 0], fwd[..., 2])             # (...)
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([torch.stack([c, zero, s], -1),
                        torch.stack([zero, one, zero], -1),
                        torch.stack([-s, zero, c], -1)], dim=-2)


def canonicalize(root_R: torch.Tensor, transl: torch.Tensor, joints: torch.Tensor):
    """Express a pose in the frame of its own heading, origin below the root on the ground plane.

    root_R (B, 3, 3), transl (B, 3), joints (B, J, 3) -> (root_R_c, transl_c, joints_c, H, origin)
    with H (B, 3, 3) the heading and origin (B, 3); ``uncanonicalize`` inverts it.
    """
    if root_R.shape[-2:] != (3, 3) or transl.shape[-1] != 3 or joints.shape[-1] != 3:
        raise ValueError(f"expected root_R (B,3,3), transl (B,3), joints (B,J,3); got "
                         f"{tuple(root_R.shape)}, {tuple(transl.shape)}, {tuple(joints.shape)}")
    H = heading_rotation(root_R)                              # (B, 3, 3)
    origin = transl * torch.tensor([1.0, 0.0, 1.0], dtype=transl.dtype)  # (B, 3)
    Ht = H.transpose(-1, -2)
    root_c = Ht @ root_R
    transl_c = (Ht @ (transl - origin)[..., None])[..., 0]
    joints_c = (joints - origin[:, None]) @ H                 # row vectors: (H^T v)^T = v^T H
    return root_c, transl_c, joints_c, H, origin


def uncanonicalize(root_c, transl_c, joints_c, H, origin):
    """Inverse of ``canonicalize``."""
    root_R = H @ root_c
    transl = (H @ transl_c[..., None])[..., 0] + origin
    joints = joints_c @ H.transpose(-1, -2) + origin[:, None]
    return root_R, transl, joints


# ----------------------------------------------------------------------------------------------
# the state x_t (Rempe et al. 2021, Sec. 3.1), one flat vector per frame
# ----------------------------------------------------------------------------------------------

#: SMPL joints in the state: the pelvis and the 21 body joints (the two hand joints are left out).
NUM_STATE_JOINTS = 22
#: (name, size) of each part of the flat state, in order. Positions are metres, velocities m/s or rad/s.
STATE_LAYOUT = (("root_pos", 3),          # r:  pelvis position (SMPL joint 0)
                ("root_vel", 3),          # ṙ:  pelvis velocity
                ("root_orient", 6),       # Φ:  root orientation, 6D
                ("root_angvel", 3),       # Φ̇:  root angular velocity (axis-angle rate, world frame)
                ("body_rot", 21 * 6),     # Θ:  the 21 body joints' rotations, 6D
                ("joints", NUM_STATE_JOINTS * 3),      # J:  positions of joints 0..21
                ("joints_vel", NUM_STATE_JOINTS * 3))  # J̇:  their velocities
STATE_DIM = sum(n for _, n in STATE_LAYOUT)   # 273


def _slices() -> dict:
    out, s = {}, 0
    for name, n in STATE_LAYOUT:
        out[name] = slice(s, s + n)
        s += n
    return out


STATE_SLICES = _slices()

#: Contact labels (documented thresholds): a joint is in contact with the floor at frame t when its
#: height above the floor is below CONTACT_HEIGHT (metres) AND its speed is below CONTACT_SPEED (m/s).
CONTACT_HEIGHT = 0.10
CONTACT_SPEED = 0.30
#: joints whose lowest point over a sequence defines its floor (ankles and toes): ``posekit.skeleton.FOOT_JOINTS``
FOOT_JOINTS = _FOOT_JOINTS


def pack_state(parts: dict) -> torch.Tensor:
    """{name: (..., n) or (..., k, 3) / (..., k, 3, 3) for rotations} -> (..., STATE_DIM)."""
    missing = [n for n, _ in STATE_LAYOUT if n not in parts]
    if missing:
        raise ValueError(f"pack_state: missing parts {missing}; expected {[n for n, _ in STATE_LAYOUT]}")
    lead = parts["root_pos"].shape[:-1]
    return torch.cat([parts[n].reshape(*lead, k) for n, k in STATE_LAYOUT], dim=-1)


def unpack_state(x: torch.Tensor) -> dict:
    """(..., STATE_DIM) -> {name: tensor}; rotations as matrices (root_R (..., 3, 3), body_R (..., 21, 3, 3)),
    joints (..., 22, 3)."""
    if x.shape[-1] != STATE_DIM:
        raise ValueError(f"expected states (..., {STATE_DIM}), got {tuple(x.shape)}")
    lead = x.shape[:-1]
    p = {n: x[..., s] for n, s in STATE_SLICES.items()}
    p["root_R"] = rot6d_to_matrix(p["root_orient"])                                  # (..., 3, 3)
    p["body_R"] = rot6d_to_matrix(p["body_rot"].reshape(*lead, 21, 6))               # (..., 21, 3, 3)
    p["joints"] = p["joints"].reshape(*lead, NUM_STATE_JOINTS, 3)
    p["joints_vel"] = p["joints_vel"].reshape(*lead, NUM_STATE_JOINTS, 3)
    return p


def forward_kinematics(root_R: torch.Tensor, root_pos: torch.Tensor, body_R: torch.Tensor,
                       rest_joints: torch.Tensor, parents) -> torch.Tensor:
    """Positions of joints 0..21 (..., 22, 3) of the mean-shape body.

    root_R (..., 3, 3), root_pos (..., 3) pelvis position, body_R (..., 21, 3, 3), rest_joints (22, 3)
    (J_regressor @ v_template of the body model), parents: the first 22 SMPL parents.
    G_0 = R_0, p_0 = r;  G_k = G_{π(k)} R_k,  p_k = p_{π(k)} + G_{π(k)} (J_k − J_{π(k)}).
    """
    G, p = [root_R], [root_pos]
    for k in range(1, NUM_STATE_JOINTS):
        a = int(parents[k])
        p.append(p[a] + (G[a] @ (rest_joints[k] - rest_joints[a]).unsqueeze(-1)).squeeze(-1))
        G.append(G[a] @ body_R[..., k - 1, :, :])
    return torch.stack(p, dim=-2)


def _rate(x: torch.Tensor, fps: float) -> torch.Tensor:
    """Backward differences (T, ...) * fps; frame 0 gets frame 1's value."""
    if x.shape[0] < 2:
        return torch.zeros_like(x)
    d = (x[1:] - x[:-1]) * fps
    return torch.cat([d[:1], d], dim=0)


def angular_velocity(root_R: torch.Tensor, fps: float) -> torch.Tensor:
    """(T, 3, 3) -> (T, 3): log(R_t R_{t-1}^T) * fps (world frame, rad/s); frame 0 gets frame 1's value."""
    import roma

    if root_R.shape[0] < 2:
        return root_R.new_zeros(root_R.shape[0], 3)
    w = roma.rotmat_to_rotvec(root_R[1:] @ root_R[:-1].transpose(-1, -2)) * fps      # (T-1, 3)
    return torch.cat([w[:1], w], dim=0)


def floor_height(joints: torch.Tensor) -> torch.Tensor:
    """The floor of a sequence (T, J>=12, 3): the lowest height reached by an ankle or toe joint."""
    return joints[:, list(FOOT_JOINTS), 1].min()


def contact_labels(joints: torch.Tensor, fps: float, floor: float | torch.Tensor = 0.0,
                   joint_ids=None, height: float = CONTACT_HEIGHT, speed: float = CONTACT_SPEED) -> torch.Tensor:
    """Contact labels (T, K) float of joints (T, J, 3): height above ``floor`` < ``height`` and speed < ``speed``.

    joint_ids: which joints (default ``cvae.CONTACT_JOINTS``). Speed is the backward difference * fps.
    """
    if joint_ids is None:
        from posekit.priors.humor.cvae import CONTACT_JOINTS as joint_ids
    j = joints[:, list(joint_ids)]                                                    # (T, K, 3)
    v = _rate(j, fps).norm(dim=-1)                                                     # (T, K)
    return ((j[..., 1] - floor < height) & (v < speed)).to(joints.dtype)


def motion_states(root_R: torch.Tensor, root_pos: torch.Tensor, body_R: torch.Tensor, rest_joints: torch.Tensor,
                  parents, fps: float) -> torch.Tensor:
    """World-frame states (T, STATE_DIM) of one motion: root_R (T, 3, 3), root_pos (T, 3) pelvis positions,
    body_R (T, 21, 3, 3). Joint positions by ``forward_kinematics``, velocities by backward differences."""
    J = forward_kinematics(root_R, root_pos, body_R, rest_joints, parents)            # (T, 22, 3)
    return pack_state({"root_pos": root_pos, "root_vel": _rate(root_pos, fps),
                       "root_orient": matrix_to_rot6d(root_R), "root_angvel": angular_velocity(root_R, fps),
                       "body_rot": matrix_to_rot6d(body_R), "joints": J, "joints_vel": _rate(J, fps)})


def canonical_frame(x: torch.Tensor):
    """(B, STATE_DIM) -> the frame of each state: heading H (B, 3, 3) and origin (B, 3) on the floor below the pelvis."""
    p = unpack_state(x)
    H = heading_rotation(p["root_R"])
    origin = p["root_pos"] * torch.tensor([1.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
    return H, origin


def transform_state(x: torch.Tensor, R: torch.Tensor, origin: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Rigidly move states (B, D) into the frame (R (B, 3, 3), origin (B, 3)): positions p -> R^T (p − o),
    vectors v -> R^T v, root orientation Φ -> R^T Φ; body rotations are relative and unchanged.
    ``inverse=True`` goes back: p -> R p + o."""
    B = x.shape[0]
    p = {n: x[..., s] for n, s in STATE_SLICES.items()}
    M = R if inverse else R.transpose(-1, -2)                                         # (B, 3, 3)
    o = origin[:, None]                                                                # (B, 1, 3)

    def vec(v, k):                                                                     # (B, 3k) rotated
        return (v.reshape(B, k, 3) @ M.transpose(-1, -2)).reshape(B, 3 * k)

    def pos(v, k):
        v = v.reshape(B, k, 3)
        out = (v @ M.transpose(-1, -2)) + o if inverse else (v - o) @ M.transpose(-1, -2)
        return out.reshape(B, 3 * k)

    Rr = rot6d_to_matrix(p["root_orient"])
    new = {"root_pos": pos(p["root_pos"], 1), "root_vel": vec(p["root_vel"], 1),
           "root_orient": matrix_to_rot6d(M @ Rr), "root_angvel": vec(p["root_angvel"], 1),
           "body_rot": p["body_rot"], "joints": pos(p["joints"], NUM_STATE_JOINTS),
           "joints_vel": vec(p["joints_vel"], NUM_STATE_JOINTS)}
    return pack_state(new)


def canonicalize_state(x: torch.Tensor):
    """States (B, D) -> (states in their own canonical frame, H, origin); ``uncanonicalize_state`` inverts it."""
    H, o = canonical_frame(x)
    return transform_state(x, H, o), H, o


def uncanonicalize_state(xc: torch.Tensor, H: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
    """Inverse of ``canonicalize_state`` (also for a next state predicted in the previous state's frame)."""
    return transform_state(xc, H, origin, inverse=True)


def orthonormalize_state(x: torch.Tensor) -> torch.Tensor:
    """Project every 6D rotation of states (..., D) back onto SO(3) (Gram-Schmidt, then 6D again)."""
    lead = x.shape[:-1]
    p = {n: x[..., s] for n, s in STATE_SLICES.items()}
    p["root_orient"] = matrix_to_rot6d(rot6d_to_matrix(p["root_orient"]))
    p["body_rot"] = matrix_to_rot6d(rot6d_to_matrix(p["body_rot"].reshape(*lead, 21, 6))).reshape(*lead, 126)
    return pack_state(p)
