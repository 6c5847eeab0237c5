"""Source skeleton conventions (rigs) and their mapping tables to SMPL's 24 joints.

One table per naming convention. Each SMPL joint lists candidate source joint names; the first one
present in the file (and not already taken by another SMPL joint) is used, then, as a last resort,
an already-taken one (a rig with two spine joints shares one between SMPL's spine2 and spine3).
End sites are joints named ``<parent>_End`` (see ``posekit.data.bvh``): a rig without toe joints maps
SMPL's foot to the ankle's end site. SMPL's hand joints 22/23 are optional (they stay identity).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..skeleton import SMPL_JOINT_NAMES
from .motion import MotionFormatError

__all__ = ["Rig", "RIGS", "detect_rig", "resolve_mapping", "OPTIONAL_SMPL_JOINTS"]

#: SMPL joints a rig may leave unmapped (SMPL's crude hand joints; they stay identity anyway)
OPTIONAL_SMPL_JOINTS = ("left_hand", "right_hand")


@dataclass(frozen=True)
class Rig:
    """A naming convention: candidate source names per SMPL joint, plus per-rig defaults.

    rest: "zero" (the all-zero-rotation pose is the reference T-pose), "frame0" (frame 0 is), or
    "convention" (bone frames follow a convention; see ``retarget.convention_rest_orientations``).
    drop_first_frame: frame 0 is a prepended reference pose, not motion (dropped by default).
    units / up: known source units ("cm", "m", "cmu", ...) and up axis ("+y", "+z"), or None to detect.
    signature: names whose presence identifies the convention (used to rank rigs).
    """

    name: str
    table: dict
    signature: tuple
    rest: str = "zero"
    drop_first_frame: bool = False
    units: str | None = None
    up: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)


# -- cgspeed's MotionBuilder-friendly CMU conversion (also Mixamo-like names)
MOTIONBUILDER = Rig(
    name="cgspeed_motionbuilder",
    description="cgspeed MotionBuilder-friendly CMU BVH (Hips, LeftUpLeg, LeftLeg, Spine, Spine1, LeftArm, ...)",
    signature=("Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftArm", "LeftForeArm", "Spine"),
    table={
        "pelvis": ["Hips"],
        "left_hip": ["LeftUpLeg"], "right_hip": ["RightUpLeg"],
        "spine1": ["LowerBack", "Spine"], "spine2": ["Spine", "Spine1"], "spine3": ["Spine1", "Spine2", "Spine"],
        "left_knee": ["LeftLeg"], "right_knee": ["RightLeg"],
        "left_ankle": ["LeftFoot"], "right_ankle": ["RightFoot"],
        "left_foot": ["LeftToeBase", "LeftFoot_End"], "right_foot": ["RightToeBase", "RightFoot_End"],
        "neck": ["Neck"], "head": ["Head"],
        "left_collar": ["LeftShoulder"], "right_collar": ["RightShoulder"],
        "left_shoulder": ["LeftArm"], "right_shoulder": ["RightArm"],
        "left_elbow": ["LeftForeArm"], "right_elbow": ["RightForeArm"],
        "left_wrist": ["LeftHand"], "right_wrist": ["RightHand"],
        "left_hand": ["LeftFingerBase", "LeftHandMiddle1", "LeftHand_End"],
        "right_hand": ["RightFingerBase", "RightHandMiddle1", "RightHand_End"],
    },
    # the CMU conversion prepends a reference T-pose frame (its 2752 frames = AMC's 2751 + 1)
    extra={"drop_first_frame_if": "LHipJoint"},
)

# -- cgspeed's 3dsMax-friendly convention (Hips, LeftHip, LeftKnee, LeftAnkle, Chest, Chest2, LeftCollar, ...)
MAX3DS = Rig(
    name="cgspeed_3dsmax",
    description="cgspeed 3dsMax-friendly BVH (Hips, LeftHip, LeftKnee, LeftAnkle, Chest, Chest2, LeftCollar, ...)",
    signature=("Hips", "LeftHip", "LeftKnee", "LeftAnkle", "Chest", "LeftCollar", "LeftElbow", "LeftWrist"),
    table={
        "pelvis": ["Hips"],
        "left_hip": ["LeftHip"], "right_hip": ["RightHip"],
        "spine1": ["LowerBack", "Chest"], "spine2": ["Chest2", "Spine"], "spine3": ["Chest3", "Chest4", "Chest2"],
        "left_knee": ["LeftKnee"], "right_knee": ["RightKnee"],
        "left_ankle": ["LeftAnkle"], "right_ankle": ["RightAnkle"],
        "left_foot": ["LeftToe", "LeftAnkle_End"], "right_foot": ["RightToe", "RightAnkle_End"],
        "neck": ["Neck"], "head": ["Head"],
        "left_collar": ["LeftCollar"], "right_collar": ["RightCollar"],
        "left_shoulder": ["LeftShoulder"], "right_shoulder": ["RightShoulder"],
        "left_elbow": ["LeftElbow"], "right_elbow": ["RightElbow"],
        "left_wrist": ["LeftWrist"], "right_wrist": ["RightWrist"],
        "left_hand": ["LeftFingerBase", "LeftWrist_End"], "right_hand": ["RightFingerBase", "RightWrist_End"],
    },
)

# -- Reallusion iClone / Character Creator (CC_Base_*), 100 joints with twist bones
ICLONE_CC = Rig(
    name="iclone_cc",
    description="Reallusion iClone/Character Creator CC_Base_* rig (twist bones; y-up, cm; frame 0 is not a T-pose)",
    signature=("CC_Base_Hip", "CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Upperarm", "CC_Base_Spine01"),
    table={
        "pelvis": ["CC_Base_Hip"],
        "left_hip": ["CC_Base_L_Thigh"], "right_hip": ["CC_Base_R_Thigh"],
        "spine1": ["CC_Base_Waist"], "spine2": ["CC_Base_Spine01"], "spine3": ["CC_Base_Spine02"],
        "left_knee": ["CC_Base_L_Calf"], "right_knee": ["CC_Base_R_Calf"],
        "left_ankle": ["CC_Base_L_Foot"], "right_ankle": ["CC_Base_R_Foot"],
        "left_foot": ["CC_Base_L_ToeBase"], "right_foot": ["CC_Base_R_ToeBase"],
        "neck": ["CC_Base_NeckTwist01"], "head": ["CC_Base_Head"],
        "left_collar": ["CC_Base_L_Clavicle"], "right_collar": ["CC_Base_R_Clavicle"],
        "left_shoulder": ["CC_Base_L_Upperarm"], "right_shoulder": ["CC_Base_R_Upperarm"],
        "left_elbow": ["CC_Base_L_Forearm"], "right_elbow": ["CC_Base_R_Forearm"],
        "left_wrist": ["CC_Base_L_Hand"], "right_wrist": ["CC_Base_R_Hand"],
        "left_hand": ["CC_Base_L_Mid1"], "right_hand": ["CC_Base_R_Mid1"],
    },
    # Frame 0 is NOT a T-pose in these files (checked: it is a motion frame), and the all-zero pose is a
    # vertical stick: the reference pose comes from the rig's bone-frame convention instead (each bone
    # along its local +y, local +z to the body's front; see retarget.convention_rest_orientations).
    rest="convention", drop_first_frame=False, units="cm", up="+y",
)

# -- Second Life / Poser (hip, abdomen, chest, lThigh, lShin, lFoot, lCollar, lShldr, ...)
SECOND_LIFE = Rig(
    name="secondlife_poser",
    description="Second Life / Poser skeleton (hip, abdomen, chest, neck, head, lCollar, lShldr, lThigh, lShin, lFoot)",
    signature=("hip", "abdomen", "chest", "lThigh", "lShin", "lFoot", "lShldr", "lForeArm"),
    table={
        "pelvis": ["hip"],
        "left_hip": ["lThigh"], "right_hip": ["rThigh"],
        "spine1": ["abdomen"], "spine2": ["chest2", "chest"], "spine3": ["chest"],
        "left_knee": ["lShin"], "right_knee": ["rShin"],
        "left_ankle": ["lFoot"], "right_ankle": ["rFoot"],
        "left_foot": ["lToe", "lFoot_End"], "right_foot": ["rToe", "rFoot_End"],
        "neck": ["neck"], "head": ["head"],
        "left_collar": ["lCollar"], "right_collar": ["rCollar"],
        "left_shoulder": ["lShldr"], "right_shoulder": ["rShldr"],
        "left_elbow": ["lForeArm"], "right_elbow": ["rForeArm"],
        "left_wrist": ["lHand"], "right_wrist": ["rHand"],
        "left_hand": ["lMid1", "lHand_End"], "right_hand": ["rMid1", "rHand_End"],
    },
    # the unscaled conversion (offsets 128x the scaled one's, about cm) starts with a reference pose
    # (all rotations zero; its frames = AMC frames + 1); the scaled one starts with motion
    extra={"drop_reference_frame0": True},
)

# -- CMU / Acclaim ASF bone names (joint = bone start; see posekit.data.asf_amc)
CMU_ASF = Rig(
    name="cmu_asf",
    description="CMU/VICON Acclaim ASF skeleton (root, lfemur, ltibia, lfoot, lowerback, thorax, lhumerus, ...)",
    signature=("root", "lfemur", "ltibia", "lfoot", "lhumerus", "lradius", "thorax"),
    table={
        "pelvis": ["root"],
        "left_hip": ["lfemur"], "right_hip": ["rfemur"],
        "spine1": ["lowerback"], "spine2": ["upperback"], "spine3": ["thorax"],
        "left_knee": ["ltibia"], "right_knee": ["rtibia"],
        "left_ankle": ["lfoot"], "right_ankle": ["rfoot"],
        "left_foot": ["ltoes", "lfoot_End"], "right_foot": ["rtoes", "rfoot_End"],
        "neck": ["lowerneck"], "head": ["head"],
        "left_collar": ["lclavicle"], "right_collar": ["rclavicle"],
        "left_shoulder": ["lhumerus"], "right_shoulder": ["rhumerus"],
        "left_elbow": ["lradius"], "right_elbow": ["rradius"],
        "left_wrist": ["lwrist"], "right_wrist": ["rwrist"],
        "left_hand": ["lhand", "lwrist_End"], "right_hand": ["rhand", "rwrist_End"],
    },
    units="cmu", up="+y",
)

RIGS = {r.name: r for r in (MOTIONBUILDER, MAX3DS, ICLONE_CC, SECOND_LIFE, CMU_ASF)}


def resolve_mapping(rig: Rig, names: list[str]) -> tuple[list, list[str]]:
    """SMPL joint -> source index (None if unmapped) for the names of a file, and the unmapped SMPL joints."""
    index = {n: i for i, n in enumerate(names)}
    used: set = set()
    mapping: list = [None] * 24
    for j, smpl in enumerate(SMPL_JOINT_NAMES):
        cands = [c for c in rig.table.get(smpl, []) if c in index]
        free = [c for c in cands if c not in used]
        pick = free[0] if free else (cands[-1] if cands else None)
        if pick is not None:
            mapping[j] = index[pick]
            used.add(pick)
    missing = [SMPL_JOINT_NAMES[j] for j in range(24)
               if mapping[j] is None and SMPL_JOINT_NAMES[j] not in OPTIONAL_SMPL_JOINTS]
    return mapping, missing


def detect_rig(names: list[str], path=None, rig: str | None = None) -> tuple[Rig, list]:
    """Pick the convention from the joint names; returns (rig, mapping).

    Raises ``MotionFormatError`` listing the SMPL joints the best-matching convention could not map.
    """
    where = f"{path}: " if path is not None else ""
    if rig is not None:
        if rig not in RIGS:
            raise ValueError(f"unknown rig {rig!r}; known: {sorted(RIGS)}")
        candidates = [RIGS[rig]]
    else:
        present = set(names)
        candidates = sorted(RIGS.values(), key=lambda r: -sum(s in present for s in r.signature) / len(r.signature))
    best = None
    for r in candidates:
        mapping, missing = resolve_mapping(r, names)
        if not missing:
            return r, mapping
        if best is None or len(missing) < len(best[2]):
            best = (r, mapping, missing)
    r, _, missing = best
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise MotionFormatError(
        f"{where}unknown skeleton rig: could not map SMPL joints {missing} "
        f"(closest convention: {r.name}; the file's joints: {shown}). Known conventions: {sorted(RIGS)}")
