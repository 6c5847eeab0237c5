"""SYNTHETIC poses: the offline fallback when no real motion capture is available.

Nothing here is measured human motion. :func:`sample_synthetic_poses` draws SMPL poses whose
per-joint clinical angles (flexion/extension, abduction/adduction, rotation...) stay inside
published normal ranges of motion, with a few hand-made correlations (crouch, gait, arm raise,
trunk twist) so that samples look like plausible, smooth human poses rather than independent
noise. Use it only to run the chapters without data; learn priors from real data.

Range-of-motion sources
-----------------------
The limits are the American Academy of Orthopaedic Surgeons (AAOS) average ranges of active
motion for adults, as tabulated in

* R. Greene, J. D. Heckman (eds.), *The Clinical Measurement of Joint Motion*, AAOS, 1994
  (the AAOS averages originally published in *Joint Motion: Method of Measuring and Recording*,
  AAOS, 1965);

and they are consistent with the normal values measured by

* J. M. Soucie et al., "Range of motion measurements: reference values and a database for
  comparison studies", *Haemophilia* 17:500-507, 2011 (e.g. knee flexion ~132-143 deg, hip
  flexion ~120-130 deg, elbow flexion ~140-150 deg across age/sex groups).

Caveat: published "normal" values differ between sources by roughly 5-15 degrees (e.g. the Merck
Manual's table gives hip flexion 125, knee flexion 130, ulnar deviation 65 / 45 in other tables).
The values used here are the AAOS averages as they are commonly reproduced; they were not re-checked
against the printed book (no access offline). They are limits for a *fallback* sampler, not data.

Spine and neck ranges are for the whole thoracolumbar / cervical region; SMPL splits them over
three spine joints (1/3 each) and over neck and head (1/2 each). The shoulder girdle (SMPL's
collar joints) and toe ranges marked ``engineering`` are small ranges chosen here, not taken
from the tables. Joints SMPL has but clinical tables do not sample (knee and elbow rotation,
the two SMPL hand joints 22/23) stay at zero.

SMPL axes (open body model: y up, facing +z, left = +x, T-pose, each joint frame aligned with
the world in the rest pose). Signs derived from the bone directions in the rest pose, e.g. the
left shin points along -y and ``Rx(+a) (0,-1,0) = (0, -cos a, -sin a)`` moves the ankle backwards:
**+x flexes the knee**, **-x flexes the hip** (thigh forwards), +x flexes the spine/neck, -x
dorsiflexes the ankle, left elbow flexion is -y (right +y: mirroring x -> -x keeps the x part of
an axis-angle and flips y and z), left wrist flexion is -z (palm down in the T-pose),
forearm supination is -x on both sides. The T-pose wrist (palm down, arm out) is the clinical
forearm neutral (thumb up with the arm in front).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from posekit.skeleton import SMPL_JOINT_NAMES

__all__ = ["ROM_TABLE", "RangeOfMotion", "sample_synthetic_poses", "synthetic_clinical_angles", "clinical_to_pose",
           "SYNTHETIC_LABEL"]

SYNTHETIC_LABEL = "SYNTHETIC (procedural range-of-motion sampler, not real motion capture)"

_AAOS = "AAOS (Greene & Heckman 1994)"
_ENG = "engineering (not from the tables)"


@dataclass(frozen=True)
class RangeOfMotion:
    """One clinical degree of freedom of one SMPL joint.

    ``lo``/``hi``: clinical limits in degrees of the signed angle (positive = ``positive`` motion,
    negative = ``negative`` motion); ``neutral``: the standing value. ``axis``/``sign``: the SMPL
    local axis and sign the angle drives (``axis`` "custom" for the shoulder, see
    :func:`clinical_to_pose`). ``fraction``: share of a regional range given to this joint.
    """
    joint: str
    motion: str
    positive: str
    negative: str
    lo: float
    hi: float
    neutral: float
    axis: str
    sign: float
    source: str


def _side(name: str) -> float:
    return 1.0 if name.startswith("left") else -1.0


def _build_table() -> tuple[RangeOfMotion, ...]:
    rows: list[RangeOfMotion] = []
    # Thoracolumbar spine, AAOS: flexion 80, extension 25, lateral flexion 35, rotation 45 (split /3).
    for j in ("spine1", "spine2", "spine3"):
        rows += [
            RangeOfMotion(j, "flex_ext", "flexion", "extension", -25 / 3, 80 / 3, 0.0, "x", 1.0, _AAOS + ", 1/3 of thoracolumbar"),
            RangeOfMotion(j, "lateral", "left lateral flexion", "right lateral flexion", -35 / 3, 35 / 3, 0.0, "z", -1.0, _AAOS + ", 1/3 of thoracolumbar"),
            RangeOfMotion(j, "rotation", "left rotation", "right rotation", -45 / 3, 45 / 3, 0.0, "y", 1.0, _AAOS + ", 1/3 of thoracolumbar"),
        ]
    # Cervical spine, AAOS: flexion 45, extension 45, lateral flexion 45, rotation 60 (split /2).
    for j in ("neck", "head"):
        rows += [
            RangeOfMotion(j, "flex_ext", "flexion", "extension", -45 / 2, 45 / 2, 0.0, "x", 1.0, _AAOS + ", 1/2 of cervical"),
            RangeOfMotion(j, "lateral", "left lateral flexion", "right lateral flexion", -45 / 2, 45 / 2, 0.0, "z", -1.0, _AAOS + ", 1/2 of cervical"),
            RangeOfMotion(j, "rotation", "left rotation", "right rotation", -60 / 2, 60 / 2, 0.0, "y", 1.0, _AAOS + ", 1/2 of cervical"),
        ]
    for s in ("left", "right"):
        m = _side(s)   # mirror: y and z signs flip for the right side
        rows += [
            # Hip, AAOS: flexion 120, extension 30, abduction 45, adduction 30, internal 45, external 45.
            RangeOfMotion(f"{s}_hip", "flex_ext", "flexion", "extension", -30, 120, 0.0, "x", -1.0, _AAOS),
            RangeOfMotion(f"{s}_hip", "abd_add", "abduction", "adduction", -30, 45, 3.0, "z", m, _AAOS),
            RangeOfMotion(f"{s}_hip", "rotation", "internal rotation", "external rotation", -45, 45, 0.0, "y", -m, _AAOS),
            # Knee, AAOS: flexion 135 (extension 0).
            RangeOfMotion(f"{s}_knee", "flex_ext", "flexion", "extension", 0, 135, 5.0, "x", 1.0, _AAOS),
            # Ankle, AAOS: dorsiflexion 20, plantarflexion 50; (subtalar) inversion 35, eversion 15.
            RangeOfMotion(f"{s}_ankle", "flex_ext", "plantarflexion", "dorsiflexion", -20, 50, 0.0, "x", 1.0, _AAOS),
            RangeOfMotion(f"{s}_ankle", "inv_ev", "inversion", "eversion", -15, 35, 0.0, "z", -m, _AAOS),
            # Toes (SMPL foot joint), AAOS great-toe MTP: flexion 45, extension 70; narrowed here.
            RangeOfMotion(f"{s}_foot", "flex_ext", "flexion", "extension", -30, 20, 0.0, "x", 1.0, _ENG + " within AAOS MTP 45/70"),
            # Shoulder girdle (SMPL collar): small elevation / protraction ranges.
            RangeOfMotion(f"{s}_collar", "elevation", "elevation", "depression", -5, 20, 0.0, "z", m, _ENG),
            RangeOfMotion(f"{s}_collar", "protraction", "protraction", "retraction", -10, 10, 0.0, "y", -m, _ENG),
            # Shoulder, AAOS: flexion 180, extension 60, abduction 180, internal 70, external 90.
            # Abduction measured from the arm hanging at the side (0) up to overhead (180).
            RangeOfMotion(f"{s}_shoulder", "flex_ext", "flexion", "extension", -60, 180, 0.0, "custom", 1.0, _AAOS),
            RangeOfMotion(f"{s}_shoulder", "abd_add", "abduction", "adduction", 0, 180, 10.0, "custom", 1.0, _AAOS),
            RangeOfMotion(f"{s}_shoulder", "rotation", "external rotation", "internal rotation", -70, 90, 0.0, "custom", 1.0, _AAOS),
            # Elbow, AAOS: flexion 150 (extension 0).
            RangeOfMotion(f"{s}_elbow", "flex_ext", "flexion", "extension", 0, 150, 15.0, "y", -m, _AAOS),
            # Wrist, AAOS: flexion 80, extension 70, radial deviation 20, ulnar deviation 30;
            # forearm pronation 80, supination 80 (applied at SMPL's wrist, which carries the twist).
            RangeOfMotion(f"{s}_wrist", "flex_ext", "flexion", "extension", -70, 80, 0.0, "z", -m, _AAOS),
            RangeOfMotion(f"{s}_wrist", "deviation", "radial deviation", "ulnar deviation", -30, 20, 0.0, "y", -m, _AAOS),
            RangeOfMotion(f"{s}_wrist", "pro_sup", "supination", "pronation", -80, 80, 0.0, "x", -1.0, _AAOS + " (forearm)"),
        ]
    return tuple(rows)


#: Every sampled degree of freedom, its clinical limits (degrees) and its source.
ROM_TABLE: tuple[RangeOfMotion, ...] = _build_table()
_KEYS = [(r.joint, r.motion) for r in ROM_TABLE]
_INDEX = {k: i for i, k in enumerate(_KEYS)}

# Correlated structure: a few latent "activity" factors with loadings on the clinical DOFs
# (signed, in units of the standardised angle). Hand-made, documented, not fitted to data.
_FACTORS: dict[str, dict[tuple[str, str], float]] = {
    "crouch": {("left_hip", "flex_ext"): 0.8, ("right_hip", "flex_ext"): 0.8, ("left_knee", "flex_ext"): 0.9,
               ("right_knee", "flex_ext"): 0.9, ("left_ankle", "flex_ext"): -0.5, ("right_ankle", "flex_ext"): -0.5,
               ("spine1", "flex_ext"): 0.4, ("spine2", "flex_ext"): 0.4, ("spine3", "flex_ext"): 0.4},
    "gait": {("left_hip", "flex_ext"): 0.7, ("right_hip", "flex_ext"): -0.7, ("left_shoulder", "flex_ext"): -0.5,
             ("right_shoulder", "flex_ext"): 0.5, ("left_knee", "flex_ext"): 0.3, ("right_knee", "flex_ext"): 0.3},
    "reach_left": {("left_shoulder", "flex_ext"): 0.8, ("left_elbow", "flex_ext"): -0.3, ("spine3", "rotation"): -0.3},
    "reach_right": {("right_shoulder", "flex_ext"): 0.8, ("right_elbow", "flex_ext"): -0.3, ("spine3", "rotation"): 0.3},
    "arms_up": {("left_shoulder", "abd_add"): 0.8, ("right_shoulder", "abd_add"): 0.8,
                ("left_collar", "elevation"): 0.5, ("right_collar", "elevation"): 0.5},
    "twist": {("spine1", "rotation"): 0.7, ("spine2", "rotation"): 0.7, ("spine3", "rotation"): 0.7, ("neck", "rotation"): 0.4},
    "lean": {("spine1", "lateral"): 0.7, ("spine2", "lateral"): 0.7, ("spine3", "lateral"): 0.7, ("neck", "lateral"): -0.3},
    "look": {("neck", "flex_ext"): 0.7, ("head", "flex_ext"): 0.7},
}


def _correlation() -> np.ndarray:
    """Correlation matrix (D, D) of the standardised clinical angles: normalise(B Bᵀ + I)."""
    D = len(ROM_TABLE)
    B = np.zeros((D, len(_FACTORS)))
    for f, loads in enumerate(_FACTORS.values()):
        for key, w in loads.items():
            B[_INDEX[key], f] = w
    C = B @ B.T + np.eye(D)                                   # (D, D)
    d = np.sqrt(np.diag(C))
    return C / d[:, None] / d[None, :]


def _squash(z: np.ndarray, lo: np.ndarray, hi: np.ndarray, neutral: np.ndarray, spread: float) -> np.ndarray:
    """Standard normal z (n, D) -> angles strictly inside (lo, hi), equal to ``neutral`` at z = 0.

    a = n + (hi - n) tanh(s z) for z >= 0, a = n + (n - lo) tanh(s z) for z < 0 (monotone, bounded).
    """
    t = np.tanh(spread * z)
    return np.where(z >= 0, neutral + (hi - neutral) * t, neutral + (neutral - lo) * t)


def synthetic_clinical_angles(n: int, seed: int = 0, spread: float = 0.6) -> dict[tuple[str, str], np.ndarray]:
    """SYNTHETIC clinical angles in degrees: {(joint, motion): (n,)} for every row of :data:`ROM_TABLE`.

    z ~ N(0, C) with C from the latent activity factors, then squashed into each (lo, hi) range.
    Deterministic given ``seed``.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    rng = np.random.default_rng(seed)
    C = _correlation()
    L = np.linalg.cholesky(C)                                  # (D, D)
    z = rng.standard_normal((int(n), len(ROM_TABLE))) @ L.T    # (n, D)
    lo = np.array([r.lo for r in ROM_TABLE])
    hi = np.array([r.hi for r in ROM_TABLE])
    neu = np.array([r.neutral for r in ROM_TABLE])
    ang = _squash(z, lo, hi, neu, spread)                      # (n, D) degrees
    return {k: ang[:, i] for i, k in enumerate(_KEYS)}


def _shoulder_matrix(side: str, flex: np.ndarray, abd: np.ndarray, ext_rot: np.ndarray) -> np.ndarray:
    """SMPL local rotation (n, 3, 3) of a shoulder from clinical angles (degrees).

    R = Rx(-flex) · Rz(±(abd - 90°)) · Rx(-ext_rot): first the humeral rotation about the arm
    (along ±x in the T-pose), then the arm is brought from the T-pose (abduction 90°) to the
    clinical abduction in the frontal plane, then flexed forwards about the lateral (x) axis.
    Left uses +(abd - 90°) (Rz(-90°) (1,0,0) = (0,-1,0): arm down), the right side the mirror.
    """
    m = _side(side)
    n = flex.shape[0]
    ex = np.stack([-ext_rot, np.zeros(n), np.zeros(n)], -1)
    ab = np.stack([np.zeros(n), np.zeros(n), m * (abd - 90.0)], -1)
    fl = np.stack([-flex, np.zeros(n), np.zeros(n)], -1)
    R = (Rotation.from_rotvec(np.deg2rad(fl)) * Rotation.from_rotvec(np.deg2rad(ab))
         * Rotation.from_rotvec(np.deg2rad(ex)))
    return R.as_matrix()


def clinical_to_pose(angles: dict[tuple[str, str], np.ndarray]) -> np.ndarray:
    """Clinical angles {(joint, motion): (n,) degrees} -> SMPL pose (n, 24, 3) axis-angle (radians).

    Non-shoulder joints: R = Rx(a_x) Ry(a_y) Rz(a_z) (intrinsic x-y-z, scipy ``"XYZ"``) with
    a_axis = sign · clinical angle from :data:`ROM_TABLE`. Joints absent from the table are identity.
    """
    n = len(next(iter(angles.values())))
    pose = np.zeros((n, 24, 3))
    per_joint: dict[str, np.ndarray] = {}
    for r in ROM_TABLE:
        if r.axis == "custom":
            continue
        e = per_joint.setdefault(r.joint, np.zeros((n, 3)))
        e[:, "xyz".index(r.axis)] += r.sign * angles[(r.joint, r.motion)]
    for j, e in per_joint.items():
        pose[:, SMPL_JOINT_NAMES.index(j)] = Rotation.from_euler("XYZ", e, degrees=True).as_rotvec()
    for s in ("left", "right"):
        j = f"{s}_shoulder"
        R = _shoulder_matrix(s, angles[(j, "flex_ext")], angles[(j, "abd_add")], angles[(j, "rotation")])
        pose[:, SMPL_JOINT_NAMES.index(j)] = Rotation.from_matrix(R).as_rotvec()
    return pose


def sample_synthetic_poses(n: int, seed: int = 0, spread: float = 0.6, return_angles: bool = False):
    """SYNTHETIC SMPL poses (n, 24, 3) float32 axis-angle from published range-of-motion tables.

    Not real motion capture: use only as an offline fallback (see the module docstring for the
    sources: AAOS / Greene & Heckman 1994, Soucie et al. 2011). The global orientation (joint 0)
    and the hand joints (22, 23) are identity. Deterministic given ``seed``.
    ``spread`` (> 0) scales how far samples go from the neutral standing pose towards the limits.
    With ``return_angles=True`` also returns the clinical angles {(joint, motion): (n,) degrees}.
    """
    if spread <= 0:
        raise ValueError(f"spread must be > 0, got {spread}")
    angles = synthetic_clinical_angles(n, seed=seed, spread=spread)
    if n == 0:
        poses = torch.zeros(0, 24, 3)
    else:
        poses = torch.from_numpy(clinical_to_pose(angles)).float()
    return (poses, angles) if return_angles else poses
