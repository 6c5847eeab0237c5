"""Retargeting a source skeleton's motion (BVH, ASF/AMC) to SMPL's 24 joints.

The recipe, one function per step:

1. forward kinematics of the source skeleton over all frames (vectorised over frames):
   G_j = G_parent · L_j, p_j = p_parent + G_parent · o_j  (o_j: the joint's rest offset);
2. change of frame to SMPL's: up axis -> +y (a fixed rotation C), units -> metres (scale s):
   G'_j = C G_j Cᵀ, p'_j = s · C p_j;
3. rest alignment, once per file: for each SMPL joint j mapped to source joint m(j), the rotation S_j
   that takes SMPL's rest bones b_jc = J_c − J_j (of the body model's zero-shape joints) onto the
   source rest bones d_jc = p'_m(c) − p'_m(j) (one bone: the minimal rotation; a leaf joint: identity;
   the torso joints pelvis/spine3, whose children sit where each anatomy puts them: the minimal
   rotation of the left-right axis), and A_j = G'_m(j)(rest)ᵀ · S_j. The source rest pose is its
   all-zero pose (a T-pose for CMU/cgspeed/Second Life) or, for rigs whose zero pose is not a human
   pose (iClone CC), orientations built from the rig's bone-frame convention
   (``convention_rest_orientations``);
4. SMPL global rotation R_j(t) = G'_m(j)(t) · A_j; at the source's rest pose R_j = S_j, so the SMPL
   bones point where the source bones point, and the twist about each bone follows the source;
   with ``exact_directions`` a per-frame swing (minimal rotation) then removes the residual direction
   error of the limb joints (``SWING_JOINTS``) that intermediate source bones (twist bones) cause;
5. local rotations r_j = R_parent(j)ᵀ R_j -> axis-angle; SMPL's hand joints 22, 23 stay identity;
6. translation: SMPL's pelvis is at J_0(β) + trans, so trans(t) = p'_m(0)(t) − J_0 (zero shape).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS

__all__ = [
    "SourceMotion", "forward_kinematics", "rest_pose", "up_axis_rotation", "detect_up_axis",
    "detect_unit_scale", "rest_alignment", "retarget", "smpl_rest_joints", "smpl_children",
    "minimal_rotation", "kabsch_rotation", "PROVISIONAL_REST_JOINTS",
]

#: Approximate SMPL-like T-pose joints (metres, y up, +z forward, left = +x), used only when the open
#: body model (posekit.body.load_body_model) cannot be loaded. Provisional: replaced by the model's J(β=0).
PROVISIONAL_REST_JOINTS = np.array([
    [-0.002, -0.223, 0.028], [0.070, -0.314, 0.023], [-0.068, -0.315, 0.022], [-0.003, -0.114, -0.001],
    [0.104, -0.690, 0.017], [-0.106, -0.695, 0.016], [0.005, 0.020, 0.027], [0.088, -1.088, -0.027],
    [-0.092, -1.084, -0.027], [0.002, 0.073, 0.028], [0.119, -1.143, 0.096], [-0.119, -1.144, 0.100],
    [-0.014, 0.287, -0.015], [0.072, 0.192, -0.005], [-0.083, 0.190, -0.005], [0.010, 0.353, 0.046],
    [0.172, 0.239, -0.019], [-0.175, 0.238, -0.022], [0.432, 0.213, -0.042], [-0.430, 0.209, -0.038],
    [0.685, 0.223, -0.044], [-0.688, 0.218, -0.039], [0.773, 0.214, -0.055], [-0.772, 0.206, -0.051],
])


@dataclass
class SourceMotion:
    """A parsed source skeleton and its motion, before retargeting (source units and axes).

    names: J joint names; parents: (J,) parent index (-1 root); offsets: (J, 3) rest offset of each
    joint from its parent, expressed in the parent's rest frame (all rotations zero);
    local_rot: (T, J, 3, 3) local rotations; root_pos: (T, 3) root joint position;
    end_sites: unused by the readers here (they turn end sites into joints named ``<parent>_End``);
    fps; meta (format, units, ...).
    """

    names: list
    parents: np.ndarray
    offsets: np.ndarray
    local_rot: np.ndarray
    root_pos: np.ndarray
    fps: float
    end_sites: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.local_rot.shape[0])

    def index(self, name: str) -> int:
        return self.names.index(name)

    def select_frames(self, keep: np.ndarray) -> "SourceMotion":
        return SourceMotion(self.names, self.parents, self.offsets, self.local_rot[keep], self.root_pos[keep],
                            self.fps, self.end_sites, dict(self.meta))


# ---------------------------------------------------------------------------------------------
# 1. forward kinematics


def forward_kinematics(parents: np.ndarray, offsets: np.ndarray, local_rot: np.ndarray,
                       root_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations and positions of every joint for every frame.

    parents: (J,) topologically ordered (parent index < joint index); offsets: (J, 3);
    local_rot: (T, J, 3, 3); root_pos: (T, 3) position of joint 0 (other roots: offset + root_pos).
    Returns G (T, J, 3, 3), P (T, J, 3).
    """
    T, J = local_rot.shape[:2]
    G = np.empty_like(local_rot)                                           # (T, J, 3, 3)
    P = np.empty((T, J, 3), dtype=local_rot.dtype)                         # (T, J, 3)
    for j in range(J):
        p = parents[j]
        if p < 0:
            G[:, j] = local_rot[:, j]
            P[:, j] = root_pos + offsets[j] if j else root_pos
        else:
            G[:, j] = G[:, p] @ local_rot[:, j]                            # (T, 3, 3)
            P[:, j] = P[:, p] + G[:, p] @ offsets[j]                       # (T, 3)
    return G, P


def rest_pose(src: SourceMotion, rest_frame: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The reference pose: all rotations zero (``rest_frame=None``), or one frame of the motion.

    Returns G_rest (J, 3, 3), P_rest (J, 3) in source units/axes (root at the origin).
    """
    J = len(src.names)
    if rest_frame is None:
        rot = np.broadcast_to(np.eye(3), (1, J, 3, 3)).copy()
    else:
        rot = src.local_rot[rest_frame:rest_frame + 1]
    G, P = forward_kinematics(src.parents, src.offsets, rot, np.zeros((1, 3)))
    return G[0], P[0]


# ---------------------------------------------------------------------------------------------
# 2. units and up axis


_AXES = {"x": 0, "y": 1, "z": 2}


def up_axis_rotation(up: str) -> np.ndarray:
    """The rotation C (3, 3) taking a signed axis ("+z", "-y", ...) to SMPL's up axis +y.

    "+z" -> a −90° rotation about x: (x, y, z) -> (x, z, −y) (the usual Z-up -> Y-up change).
    """
    sign = -1.0 if up.startswith("-") else 1.0
    a = np.zeros(3)
    a[_AXES[up[-1].lower()]] = sign
    return minimal_rotation(a, np.array([0.0, 1.0, 0.0]))


def detect_up_axis(P_rest: np.ndarray, top: int, bottoms: list[int]) -> str:
    """The signed axis ("+y", "+z", ...) closest to the rest pose's feet -> head direction."""
    v = P_rest[top] - P_rest[bottoms].mean(0)
    k = int(np.argmax(np.abs(v)))
    return ("+" if v[k] > 0 else "-") + "xyz"[k]


#: candidate units, metres per unit: metres, centimetres, millimetres, inches, CMU's inches/0.45
UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}


def detect_unit_scale(height: float, expected_height: float = 1.7) -> tuple[str, float]:
    """Pick the unit whose scale brings a rest skeleton's height (source units) closest to ~1.7 m
    (log ratio). Returns (unit name, metres per unit)."""
    if not np.isfinite(height) or height <= 0:
        raise ValueError(f"cannot detect units from a skeleton height of {height}")
    name = min(UNIT_SCALES, key=lambda k: abs(np.log(height * UNIT_SCALES[k] / expected_height)))
    return name, UNIT_SCALES[name]


# ---------------------------------------------------------------------------------------------
# 3. rest alignment


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction a to direction b: a, b (..., 3) -> (..., 3, 3).

    Rodrigues with axis a × b; the antiparallel case rotates by π about an axis ⟂ a.
    """
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)                                                     # (..., 3)
    c = (a * b).sum(-1)                                                    # (...)
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K[..., 1, 0], K[..., 2, 0], K[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    anti = c < -1 + 1e-8
    denom = np.where(anti, 1.0, 1.0 + c)[..., None, None]
    R = np.eye(3) + K + K @ K / denom
    if np.any(anti):                                                      # π about any axis ⟂ a
        aa = a[anti] if a.ndim > 1 else a[None]
        helper = np.where(np.abs(aa[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
        n = np.cross(aa, helper)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        Rpi = 2 * n[:, :, None] * n[:, None, :] - np.eye(3)
        if a.ndim > 1:
            R[anti] = Rpi
        else:
            R = Rpi[0]
    return R


def kabsch_rotation(b: np.ndarray, d: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """The rotation R minimising Σ_k w_k ‖R b_k − d_k‖² (Wahba's problem): b, d (..., K, 3) -> (..., 3, 3)."""
    if w is None:
        w = np.ones(b.shape[-2])
    H = np.einsum("k,...ki,...kj->...ij", w, b, d)                          # (..., 3, 3) Σ w b dᵀ
    U, _, Vt = np.linalg.svd(H)
    det = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    D = np.broadcast_to(np.eye(3), H.shape).copy()
    D[..., 2, 2] = det
    return np.swapaxes(Vt, -1, -2) @ D @ np.swapaxes(U, -1, -2)


def smpl_children(j: int) -> list[int]:
    return [c for c, p in enumerate(SMPL_PARENTS) if p == j]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _bones(j: int, mapping: list, P: np.ndarray, rest_joints: np.ndarray, min_len: float):
    """SMPL children c of j with a usable source bone: list of (c, b_jc (3,), source index of c)."""
    out = []
    for c in smpl_children(j):
        mc = mapping[c]
        if mc is None or mc < 0:
            continue
        if np.linalg.norm(P[mc] - P[mapping[j]]) < min_len:
            continue
        out.append((c, rest_joints[c] - rest_joints[j], mc))
    return out


#: SMPL's torso joints with several children (pelvis, spine3): their children's directions depend on
#: each skeleton's anatomy (where its hip / collar joints sit), so they are aligned by the left-right
#: axis only: a pair of (left, right) SMPL joints, first usable pair wins.
TORSO_LATERAL = {0: [(1, 2)], 9: [(13, 14), (16, 17)]}
#: joints whose bone direction is matched exactly per frame (``exact_directions``): the limbs and the neck
#: (neck -> head), whose bones have a well-defined direction. The spine joints keep the source bone's
#: orientation: their short source segments (e.g. iClone's 5 cm waist) zig-zag differently in every
#: rig, and matching them exactly would bend SMPL's spine back and forth.
SWING_JOINTS = frozenset({1, 2, 4, 5, 7, 8, 12, 13, 14, 16, 17, 18, 19, 20, 21})
#: spine and neck joints: in ``convention_rest_orientations`` their bone frame (local +y), not the
#: short, rig-specific bone vector, is aligned with SMPL's bone
AXIAL_JOINTS = frozenset({3, 6, 12})
#: bones whose direction is set by skeleton proportions, not by a retargeted rotation (reported apart)
STRUCTURAL_BONES = {(0, 1), (0, 2), (0, 3), (9, 12), (9, 13), (9, 14)}


def _torso_alignment(j: int, mapping: list, P: np.ndarray, rest_joints: np.ndarray, min_len: float) -> np.ndarray:
    """S_j for a torso joint: the minimal rotation taking SMPL's left-right axis (J_l − J_r) onto the
    source's (p_m(l) − p_m(r)) in the rest pose; identity when no pair is usable. A source rest pose
    standing like SMPL's T-pose thus gives identity (no forward tilt invented from anatomy)."""
    for l, r in TORSO_LATERAL[j]:
        if mapping[l] is None or mapping[r] is None:
            continue
        d = P[mapping[l]] - P[mapping[r]]
        if np.linalg.norm(d) > min_len:
            return minimal_rotation(rest_joints[l] - rest_joints[r], d)
    return np.eye(3)


def rest_alignment(mapping: list, G_rest: np.ndarray, P_rest: np.ndarray, rest_joints: np.ndarray,
                   min_len: float) -> tuple[np.ndarray, dict]:
    """A_j = G'_rest(m(j))ᵀ S_j for every SMPL joint (identity for unmapped ones).

    mapping: 24 source indices (None: unmapped); G_rest (J, 3, 3), P_rest (J, 3) already in SMPL's frame.
    Returns A (24, 3, 3) and per-joint info (number of bones used, "kind").
    """
    A = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    kinds = {}
    for j in range(24):
        m = mapping[j]
        if m is None or m < 0:
            kinds[j] = "unmapped"
            continue
        if j in TORSO_LATERAL:
            S, kinds[j] = _torso_alignment(j, mapping, P_rest, rest_joints, min_len), "torso"
            A[j] = G_rest[m].T @ S
            continue
        bones = _bones(j, mapping, P_rest, rest_joints, min_len)
        if not bones:
            S, kinds[j] = np.eye(3), "leaf"
        else:
            b = _unit(np.stack([bb for _, bb, _ in bones]))                 # (K, 3) SMPL rest directions
            d = _unit(np.stack([P_rest[mc] - P_rest[m] for _, _, mc in bones]))  # (K, 3) source rest
            if len(bones) >= 2 and np.linalg.matrix_rank(d, tol=0.05) >= 2 and np.linalg.matrix_rank(b, tol=0.05) >= 2:
                S, kinds[j] = kabsch_rotation(b, d), "multi"
            else:
                S, kinds[j] = minimal_rotation(b.mean(0), d.mean(0)), "single"
        A[j] = G_rest[m].T @ S
    return A, kinds


# ---------------------------------------------------------------------------------------------
# the SMPL rest joints


_REST_CACHE: dict = {}


def smpl_rest_joints() -> np.ndarray:
    """SMPL's zero-shape rest joints J(β=0) (24, 3) from the open body model.

    Falls back (with a warning) to ``PROVISIONAL_REST_JOINTS`` when the body model is unavailable.
    """
    if "J" not in _REST_CACHE:
        try:
            from ..body import load_body_model  # noqa: WPS433 (optional until the body model ships)
            model = load_body_model(device="cpu")
            _REST_CACHE["J"] = _model_rest_joints(model)
        except Exception as exc:  # noqa: BLE001 - any failure: use the provisional table
            warnings.warn(f"posekit.body.load_body_model() unavailable ({exc!r}); retargeting uses a "
                          "provisional SMPL-like rest-joint table", RuntimeWarning, stacklevel=2)
            return PROVISIONAL_REST_JOINTS.copy()
    return _REST_CACHE["J"].copy()


def _model_rest_joints(model) -> np.ndarray:
    """J(β=0) = J_regressor · v_template of an smplx body model -> (24, 3) numpy."""
    J = torch.einsum("jv,vc->jc", model.J_regressor.double(), model.v_template.double())
    return J[:24].cpu().numpy()


# ---------------------------------------------------------------------------------------------
# 4.-6. the retargeting


@dataclass
class RetargetResult:
    poses: np.ndarray          # (T, 24, 3) axis-angle
    trans: np.ndarray          # (T, 3) metres
    G: np.ndarray              # (T, J, 3, 3) source global rotations, SMPL frame
    P: np.ndarray              # (T, J, 3) source joint positions, metres, SMPL frame
    mapping: list              # 24 source indices (None: unmapped)
    rest_joints: np.ndarray    # (24, 3)
    info: dict


def needed_joints(parents: np.ndarray, joints) -> np.ndarray:
    """The given joints and all their ancestors, sorted: the joints forward kinematics must visit."""
    keep = set()
    for j in joints:
        while j is not None and j >= 0 and j not in keep:
            keep.add(int(j))
            j = parents[j]
    return np.array(sorted(keep))


def source_in_smpl_frame(src: SourceMotion, C: np.ndarray, scale: float, joints=None) -> tuple[np.ndarray, np.ndarray]:
    """FK of every frame, then G' = C G Cᵀ, P' = s · C P. Returns G' (T, J, 3, 3), P' (T, J, 3).

    joints: compute only these joints (and their ancestors); the others are left as identity / zero.
    """
    J = len(src.names)
    if joints is None:
        keep = np.arange(J)
    else:
        keep = needed_joints(src.parents, joints)
    remap = {int(k): i for i, k in enumerate(keep)}
    par = np.array([remap[int(src.parents[k])] if src.parents[k] >= 0 else -1 for k in keep])
    G_k, P_k = forward_kinematics(par, src.offsets[keep], src.local_rot[:, keep], src.root_pos)
    T = src.local_rot.shape[0]
    G = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy() if len(keep) < J else np.empty_like(src.local_rot)
    P = np.zeros((T, J, 3))
    G[:, keep] = C @ G_k @ C.T
    P[:, keep] = scale * (P_k @ C.T)
    return G, P


#: SMPL-frame direction of the "bone" of SMPL's leaf joints (no child joint): feet forward, head up, hands out
LEAF_DIRECTIONS = {10: (0.0, 0.0, 1.0), 11: (0.0, 0.0, 1.0), 15: (0.0, 1.0, 0.0), 22: (1.0, 0.0, 0.0), 23: (-1.0, 0.0, 0.0)}
#: the child whose bone defines a multi-child SMPL joint's main axis (pelvis -> spine1, spine3 -> neck)
MAIN_CHILD = {0: 3, 9: 12}


def triad(l1: np.ndarray, l2: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    """The rotation taking l1 exactly to e1 and l2 as close as possible to e2 (TRIAD): -> (3, 3)."""
    def frame(a, b):
        a = a / np.linalg.norm(a)
        b = b - a * (a @ b)
        b = b / np.linalg.norm(b)
        return np.stack([a, b, np.cross(a, b)], axis=1)                  # columns
    return frame(e1, e2) @ frame(l1, l2).T


def convention_rest_orientations(src: SourceMotion, mapping: list, rest_joints: np.ndarray, C: np.ndarray,
                                 forward_local=(0.0, 0.0, 1.0), up_local_joints=(7, 8, 10, 11)) -> np.ndarray:
    """Reference (T-pose) global orientations for a rig whose bone frames follow a convention.

    For rigs whose zero-rotation pose is not a human pose (iClone CC: every bone along its local +y,
    local +z pointing to the body's front, feet: local +z up). For each mapped SMPL joint j the
    reference orientation takes the source's local bone vector (to the mapped child; for SMPL's leaf
    joints the local +y axis) onto SMPL's rest bone direction, and the local ``forward_local`` axis as
    close as possible onto SMPL's forward (+z), or up (+y) for the ankles and feet. The torso joints
    (pelvis, spine3) take their local +y to SMPL's up, like a rest pose standing straight.
    Returns G_ref (24, 3, 3) in SMPL's frame (identity for unmapped joints).
    """
    _, P0 = rest_pose(src, None)                                           # zero rotations: global = local axes
    G_ref = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    fwd_l = C @ np.asarray(forward_local, dtype=np.float64)
    for j in range(24):
        m = mapping[j]
        if m is None or m < 0:
            continue
        kids = smpl_children(j)
        c = MAIN_CHILD.get(j, kids[0] if kids else None)
        if j in TORSO_LATERAL:  # torso: the bone frame itself (local +y up, +z forward), no anatomy tilt
            l1, e1 = C @ np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0])
        elif j in AXIAL_JOINTS and c is not None:  # spine, neck: the frame's +y along SMPL's bone
            l1, e1 = C @ np.array([0.0, 1.0, 0.0]), rest_joints[c] - rest_joints[j]
        elif c is not None and mapping[c] is not None and np.linalg.norm(P0[mapping[c]] - P0[m]) > 1e-6:
            l1 = C @ (P0[mapping[c]] - P0[m])
            e1 = rest_joints[c] - rest_joints[j]
        else:
            l1 = C @ np.array([0.0, 1.0, 0.0])
            e1 = np.array(LEAF_DIRECTIONS.get(j, (0.0, 1.0, 0.0)))
        e2 = np.array([0.0, 1.0, 0.0]) if j in up_local_joints else np.array([0.0, 0.0, 1.0])
        G_ref[j] = triad(l1, fwd_l, e1, e2)
    return G_ref


def retarget(src: SourceMotion, mapping: list, rest: int | str | None = None,
             rest_joints: np.ndarray | None = None, unit_scale: float | None = None,
             up_axis: str | None = None, exact_directions: bool = True) -> RetargetResult:
    """Retarget ``src`` to SMPL.

    mapping: 24 source joint indices in SMPL order (None for an unmapped hand joint 22/23).
    rest: the source's reference pose: None (all rotations zero), a frame index, or "convention"
    (see ``convention_rest_orientations``).
    rest_joints: (24, 3) SMPL rest joints (default: the open model's J(β=0)).
    unit_scale: metres per source unit (default: detected from the rest skeleton's height).
    up_axis: the source's up axis, "+y", "+z", ... (default: detected from the rest pose).
    Returns poses (T, 24, 3), trans (T, 3) and the source's global rotations/positions in SMPL's frame.
    """
    rest_joints = smpl_rest_joints() if rest_joints is None else np.asarray(rest_joints, dtype=np.float64)
    if rest_joints.shape != (24, 3):
        raise ValueError(f"rest_joints must be (24, 3), got {rest_joints.shape}")
    G_rest, P_rest = rest_pose(src, 0 if rest == "convention" else rest)
    # -- units and up axis, from the rest pose
    feet = [mapping[7], mapping[8]]
    if up_axis is None:
        up_axis = detect_up_axis(P_rest, mapping[15], feet)
    C = up_axis_rotation(up_axis)
    P_rest_c = P_rest @ C.T
    G_rest_c = C @ G_rest @ C.T
    if unit_scale is None:
        height = P_rest_c[mapping[15], 1] - P_rest_c[feet, 1].min()
        height *= 1.1  # ankle -> head joint is ~90% of the stature
        _, unit_scale = detect_unit_scale(height)
    P_rest_c = P_rest_c * unit_scale
    min_len = 0.005  # 5 mm: shorter source "bones" have no direction
    # -- rest alignment and global SMPL rotations
    if rest == "convention":
        G_ref = convention_rest_orientations(src, mapping, rest_joints, C)
        A = np.swapaxes(G_ref, -1, -2).copy()
        kinds = {}
        for j in range(24):
            n_b = len(_bones(j, mapping, P_rest_c, rest_joints, min_len)) if mapping[j] is not None else -1
            kinds[j] = "unmapped" if n_b < 0 else "leaf" if n_b == 0 else "single" if n_b == 1 or j not in (0, 9) else "multi"
    else:
        A, kinds = rest_alignment(mapping, G_rest_c, P_rest_c, rest_joints, min_len)
    Gs, Ps = source_in_smpl_frame(src, C, unit_scale, [m for m in mapping if m is not None])
    T = Gs.shape[0]
    R = np.broadcast_to(np.eye(3), (T, 24, 3, 3)).copy()                    # SMPL global rotations
    for j in range(24):
        m = mapping[j]
        if m is None or m < 0 or j in (22, 23):
            R[:, j] = R[:, SMPL_PARENTS[j]] if j else R[:, j]                # identity local rotation
            continue
        R[:, j] = Gs[:, m] @ A[j]                                           # (T, 3, 3)
        if exact_directions and kinds[j] == "single" and j in SWING_JOINTS:
            bones = _bones(j, mapping, P_rest_c, rest_joints, min_len)
            b = _unit(np.stack([bb for _, bb, _ in bones]).mean(0))          # (3,) SMPL rest direction
            d = np.stack([Ps[:, mc] - Ps[:, m] for _, _, mc in bones], 1)    # (T, K, 3) source bones
            d = _unit(_unit(d).mean(1))                                      # (T, 3)
            cur = R[:, j] @ b                                               # (T, 3) current direction
            swing = minimal_rotation(cur, d)                                # (T, 3, 3)
            R[:, j] = swing @ R[:, j]
    # -- local rotations r_j = R_parent(j)ᵀ R_j
    local = np.empty_like(R)
    local[:, 0] = R[:, 0]
    par = np.array(SMPL_PARENTS[1:])
    local[:, 1:] = np.swapaxes(R[:, par], -1, -2) @ R[:, 1:]
    local[:, 22:] = np.eye(3)
    poses = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(T, 24, 3)
    trans = Ps[:, mapping[0]] - rest_joints[0]                              # pelvis = J_0 + trans
    info = {"up_axis": up_axis, "unit_scale": float(unit_scale), "rest": rest,
            "alignment": {SMPL_JOINT_NAMES[j]: k for j, k in kinds.items()}}
    return RetargetResult(poses, trans, Gs, Ps, mapping, rest_joints, info)
