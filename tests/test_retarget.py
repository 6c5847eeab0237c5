"""Retargeting: forward kinematics, channel orders, closed-loop SMPL -> BVH -> SMPL, rigs, quality."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from posekit.data import MotionFormatError, load_motion
from posekit.data.bvh import parse_bvh, write_bvh
from posekit.data.quality import retarget_quality, smpl_posed_joints
from posekit.data.retarget import (
    PROVISIONAL_REST_JOINTS, forward_kinematics, kabsch_rotation, minimal_rotation, up_axis_rotation,
)
from posekit.skeleton import SMPL_PARENTS

REST = PROVISIONAL_REST_JOINTS  # an SMPL-like T-pose skeleton, independent of the body model

# SMPL joint -> a source name, per convention (joints in SMPL order, a valid topological order)
MB_NAMES = ["Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
            "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
            "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand", "LeftHandMiddle1", "RightHandMiddle1"]
MAX_NAMES = ["Hips", "LeftHip", "RightHip", "Chest", "LeftKnee", "RightKnee", "Chest2", "LeftAnkle", "RightAnkle",
             "Chest3", "LeftToe", "RightToe", "Neck", "LeftCollar", "RightCollar", "Head", "LeftShoulder",
             "RightShoulder", "LeftElbow", "RightElbow", "LeftWrist", "RightWrist", "LeftFingerBase", "RightFingerBase"]


def geodesic_deg(aa1, aa2) -> np.ndarray:
    r1 = Rotation.from_rotvec(np.asarray(aa1).reshape(-1, 3))
    r2 = Rotation.from_rotvec(np.asarray(aa2).reshape(-1, 3))
    return np.degrees((r1.inv() * r2).magnitude()).reshape(np.asarray(aa1).shape[:-1])


def random_smpl_motion(T: int, seed: int = 0, scale: float = 0.35):
    """Random SMPL poses (T, 24, 3) (hands identity, large global rotations) and translations (T, 3)."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=scale, size=(T, 24, 3))
    poses[:, 0] = Rotation.random(T, random_state=seed).as_rotvec()
    poses[:, 22:] = 0.0
    trans = rng.normal(scale=0.5, size=(T, 3))
    return poses, trans


def write_smpl_as_bvh(path, poses, trans, names, rest=REST, units=1.0, up="+y", order="ZYX", fps=30.0,
                      stretch=None, bind=None):
    """Write SMPL motion as a BVH whose zero pose is SMPL's T-pose: offsets J_c − J_parent (× units,
    optionally each bone stretched along its direction), world rotated so that `up` is the up axis.

    bind: (24, 3, 3) T-pose orientations B_j of the joints' local frames (a rig whose frames follow a
    convention): offsets become B_pᵀ (J_c − J_p) and local rotations B_pᵀ r_j B_j (root: R_0 B_0).
    """
    C = up_axis_rotation(up).T                    # SMPL frame -> file frame
    B = np.broadcast_to(np.eye(3), (24, 3, 3)) if bind is None else bind
    offsets = np.zeros((24, 3))
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        offsets[j] = B[p].T @ (rest[j] - rest[p]) * (1.0 if stretch is None else stretch[j])
    offsets = units * offsets @ C.T
    R = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3)
    Bp = B[[0] + list(SMPL_PARENTS[1:])]
    R = np.swapaxes(Bp, -1, -2) @ R @ B            # local rotations between bind frames
    R[:, 0] = Rotation.from_rotvec(poses[:, 0]).as_matrix() @ B[0]
    R = C @ R @ C.T                               # rotations expressed in the file's frame
    eul = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_euler(order, degrees=True).reshape(-1, 24, 3)
    root = units * (rest[0] + trans) @ C.T
    offsets[0] = 0.0
    ends = {j: units * np.array([0.0, 0.05, 0.0]) @ C.T for j in (10, 11, 15, 22, 23)}
    write_bvh(path, names, list(SMPL_PARENTS), offsets, eul, root, fps, order=order, end_sites=ends)
    return path


# ------------------------------------------------------------------------------------------------
# forward kinematics


def test_fk_of_synthetic_bvh_matches_hand_computation(tmp_path):
    p = tmp_path / "chain.bvh"
    p.write_text("""HIERARCHY
ROOT Root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT A
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT B
    {
      OFFSET 0 2 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0 0 3
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0 0 0 0 0 0 0
1 2 3 0 90 0 90 0 0 90 0 0
""")
    src = parse_bvh(p)
    assert src.names == ["Root", "A", "B", "B_End"] and src.fps == pytest.approx(2.0)
    G, P = forward_kinematics(src.parents, src.offsets, src.local_rot, src.root_pos)
    np.testing.assert_allclose(P[0], [[1, 2, 3], [1, 3, 3], [1, 5, 3], [1, 5, 6]], atol=1e-9)
    # frame 1: root Ry(90); A Rz(90); B Rx(90).  Ry(90): (x,y,z)->(z,y,-x); Rz(90): (x,y,z)->(-y,x,z)
    # A = root + Ry90 (0,1,0) = (1,3,3); B = A + Ry90 Rz90 (0,2,0) = A + Ry90 (-2,0,0) = (1,3,5)
    # B_End = B + Ry90 Rz90 Rx90 (0,0,3) = B + Ry90 Rz90 (0,-3,0) = B + Ry90 (3,0,0) = (1,3,2)
    np.testing.assert_allclose(P[1], [[1, 2, 3], [1, 3, 3], [1, 3, 5], [1, 3, 2]], atol=1e-9)


def test_channel_orders_give_the_same_global_pose(tmp_path):
    poses, trans = random_smpl_motion(5, seed=1, scale=0.6)
    a = write_smpl_as_bvh(tmp_path / "zyx.bvh", poses, trans, MB_NAMES, order="ZYX")
    b = write_smpl_as_bvh(tmp_path / "xyz.bvh", poses, trans, MB_NAMES, order="XYZ")
    c = write_smpl_as_bvh(tmp_path / "yxz.bvh", poses, trans, MB_NAMES, order="YXZ")
    fk = []
    for p in (a, b, c):
        s = parse_bvh(p)
        G, P = forward_kinematics(s.parents, s.offsets, s.local_rot, s.root_pos)
        idx = [s.names.index(n) for n in MB_NAMES]          # file order is depth-first: back to SMPL's
        fk.append((G[:, idx], P[:, idx]))
    assert "Xrotation Yrotation Zrotation" in b.read_text() and "Zrotation Yrotation Xrotation" in a.read_text()
    for G, P in fk[1:]:
        np.testing.assert_allclose(G, fk[0][0], atol=1e-5)
        np.testing.assert_allclose(P, fk[0][1], atol=1e-5)
    # and the global rotations are SMPL's: G_j = Π local rotations along the chain
    R = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(5, 24, 3, 3)
    Gs = np.empty_like(R)
    for j in range(24):
        Gs[:, j] = R[:, j] if j == 0 else Gs[:, SMPL_PARENTS[j]] @ R[:, j]
    np.testing.assert_allclose(fk[0][0], Gs, atol=1e-5)


def test_minimal_rotation_and_kabsch_against_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    R = minimal_rotation(a, b)
    out = np.einsum("nij,nj->ni", R, a / np.linalg.norm(a, axis=1, keepdims=True))
    np.testing.assert_allclose(out, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-9)
    # minimal: the angle equals the angle between a and b
    ang = np.arccos(np.clip((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1), -1, 1))
    np.testing.assert_allclose(Rotation.from_matrix(R).magnitude(), ang, atol=1e-7)
    # antiparallel
    Rpi = minimal_rotation(np.array([0.0, 1, 0]), np.array([0.0, -1, 0]))
    np.testing.assert_allclose(Rpi @ [0, 1, 0], [0, -1, 0], atol=1e-12)
    # Kabsch = scipy's align_vectors (weights equal)
    true = Rotation.random(random_state=3)
    v = rng.normal(size=(6, 3))
    w_noisy = true.apply(v) + 0.01 * rng.normal(size=(6, 3))
    ref, _ = Rotation.align_vectors(w_noisy, v)
    np.testing.assert_allclose(kabsch_rotation(v, w_noisy), ref.as_matrix(), atol=1e-8)


# ------------------------------------------------------------------------------------------------
# closed loop: SMPL motion -> BVH (another convention, units, up axis, proportions) -> SMPL


@pytest.mark.parametrize("names,rig,units,up,order", [
    (MB_NAMES, "cgspeed_motionbuilder", 1.0, "+y", "ZYX"),
    (MB_NAMES, "cgspeed_motionbuilder", 100.0, "+z", "XYZ"),     # centimetres, Z-up
    (MAX_NAMES, "cgspeed_3dsmax", 1 / 0.0254, "+y", "ZXY"),       # the 3dsMax convention, inches
])
def test_closed_loop_recovers_smpl_rotations(tmp_path, names, rig, units, up, order):
    poses, trans = random_smpl_motion(40, seed=2)
    rng = np.random.default_rng(5)
    stretch = rng.uniform(0.8, 1.25, size=24)     # other proportions, same bone directions, symmetric
    for left, right in ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)):
        stretch[right] = stretch[left]
    p = write_smpl_as_bvh(tmp_path / "loop.bvh", poses, trans, names, units=units, up=up, order=order,
                          stretch=stretch)
    m = load_motion(p, rest_joints=REST)           # units and up axis detected
    assert m.meta["rig"] == rig and len(m) == 40 and m.fps == pytest.approx(30.0)
    assert m.meta["unit_scale_m"] == pytest.approx(1 / units, rel=0.35)   # detected from the height
    ang = geodesic_deg(m.poses.numpy(), poses)
    assert ang.max() < 0.05, ang.max()
    # translation: with the detected unit the pelvis lands at scale * source pelvis
    s = m.meta["unit_scale_m"] * units
    np.testing.assert_allclose(m.trans.numpy(), s * (REST[0] + trans) - REST[0], atol=1e-4)


ICLONE_NAMES = ["CC_Base_Hip", "CC_Base_L_Thigh", "CC_Base_R_Thigh", "CC_Base_Waist", "CC_Base_L_Calf",
                "CC_Base_R_Calf", "CC_Base_Spine01", "CC_Base_L_Foot", "CC_Base_R_Foot", "CC_Base_Spine02",
                "CC_Base_L_ToeBase", "CC_Base_R_ToeBase", "CC_Base_NeckTwist01", "CC_Base_L_Clavicle",
                "CC_Base_R_Clavicle", "CC_Base_Head", "CC_Base_L_Upperarm", "CC_Base_R_Upperarm", "CC_Base_L_Forearm",
                "CC_Base_R_Forearm", "CC_Base_L_Hand", "CC_Base_R_Hand", "CC_Base_L_Mid1", "CC_Base_R_Mid1"]


def _convention_bind_frames(rest):
    """iClone-like bind frames: local +y along the bone (torso: up; leaves: out), +z to the front
    (feet: up), as columns of B_j."""
    from posekit.data.retarget import LEAF_DIRECTIONS, triad
    B = np.zeros((24, 3, 3))
    for j in range(24):
        kids = [c for c, p in enumerate(SMPL_PARENTS) if p == j]
        if j in (0, 9):
            y = np.array([0.0, 1.0, 0.0])
        elif kids:
            y = rest[{0: 3, 9: 12}.get(j, kids[0])] - rest[j]
        else:
            y = np.array(LEAF_DIRECTIONS[j])
        z = np.array([0.0, 1.0, 0.0]) if j in (7, 8, 10, 11) else np.array([0.0, 0.0, 1.0])
        B[j] = triad(np.array([0.0, 1, 0]), np.array([0.0, 0, 1]), y, z)   # local y -> y, local z -> ~z
    return B


def test_closed_loop_iclone_convention_rig(tmp_path):
    """A rig whose zero pose is a vertical stick (every bone along its local +y, as iClone CC files):
    the reference pose comes from the bone-frame convention and recovers SMPL's rotations."""
    poses, trans = random_smpl_motion(30, seed=8)
    p = write_smpl_as_bvh(tmp_path / "cc.bvh", poses, trans, ICLONE_NAMES, units=100.0,
                          bind=_convention_bind_frames(REST))
    src = parse_bvh(p)
    _, P0 = forward_kinematics(src.parents, src.offsets, np.broadcast_to(np.eye(3), (1,) + src.local_rot.shape[1:]),
                               np.zeros((1, 3)))
    arm = P0[0, src.names.index("CC_Base_L_Forearm")] - P0[0, src.names.index("CC_Base_L_Upperarm")]
    np.testing.assert_allclose(arm / np.linalg.norm(arm), [0, 1, 0], atol=1e-9)  # zero pose: arms straight up
    m = load_motion(p, rest_joints=REST)
    assert m.meta["rig"] == "iclone_cc"
    assert geodesic_deg(m.poses.numpy(), poses).max() < 0.05
    np.testing.assert_allclose(m.trans.numpy(), trans, atol=1e-4)


def test_closed_loop_reference_frame_rest(tmp_path):
    """rest=0: frame 0 holds the reference T-pose of a rig whose zero pose is not one."""
    from posekit.data.retarget import retarget
    from posekit.data.rigs import detect_rig
    poses, trans = random_smpl_motion(20, seed=9)
    poses[0], trans[0] = 0.0, 0.0                                   # frame 0: SMPL's T-pose
    rng = np.random.default_rng(2)
    bind = Rotation.random(24, random_state=rng.integers(1 << 30)).as_matrix()   # arbitrary bone frames
    p = write_smpl_as_bvh(tmp_path / "ref.bvh", poses, trans, MB_NAMES, bind=bind)
    src = parse_bvh(p)
    _, mapping = detect_rig(src.names)
    res = retarget(src, mapping, rest=0, rest_joints=REST, up_axis="+y", unit_scale=1.0)
    assert geodesic_deg(res.poses, poses).max() < 0.05
    wrong = retarget(src, mapping, rest=None, rest_joints=REST, up_axis="+y", unit_scale=1.0)
    assert geodesic_deg(wrong.poses, poses).max() > 10.0            # the zero pose is not the reference


def test_closed_loop_with_other_rest_directions_matches_bone_directions(tmp_path):
    """Source bones tilted away from SMPL's (another anatomy): the SMPL bones still point like the
    source's (measured through smplx's own kinematics), and the twist-free part of the motion is kept."""
    poses, trans = random_smpl_motion(30, seed=4, scale=0.3)
    rng = np.random.default_rng(1)
    rest = REST.copy()
    for j in range(1, 24):   # tilt each bone by ~8 degrees
        b = REST[j] - REST[SMPL_PARENTS[j]]
        axis = np.cross(b, rng.normal(size=3))
        rest[j] = rest[SMPL_PARENTS[j]] + Rotation.from_rotvec(axis / np.linalg.norm(axis) * 0.14).apply(b)
    p = write_smpl_as_bvh(tmp_path / "tilted.bvh", poses, trans, MB_NAMES, rest=rest)
    q = retarget_quality(p, rest_joints=REST, max_frames=30)
    assert q["mean_deg"] < 0.1
    q_raw = retarget_quality(p, rest_joints=REST, max_frames=30, exact_directions=False)
    assert q_raw["mean_deg"] < 10.0                     # the rest alignment alone: a few degrees
    m = load_motion(p, rest_joints=REST)
    assert np.median(geodesic_deg(m.poses.numpy()[:, 1:22], poses[:, 1:22])) < 12.0


def test_unknown_rig_lists_unmapped_smpl_joints(tmp_path):
    names = ["root", "thing", "other"]
    p = tmp_path / "odd.bvh"
    write_bvh(p, names, [-1, 0, 1], np.array([[0, 0, 0], [0, 1, 0], [0, 1, 0]]), np.zeros((2, 3, 3)),
              np.zeros((2, 3)), 30.0)
    with pytest.raises(MotionFormatError) as e:
        load_motion(p, rest_joints=REST)
    msg = str(e.value)
    assert "odd.bvh" in msg and "could not map SMPL joints" in msg
    for j in ("left_knee", "right_elbow", "head"):
        assert j in msg


def test_partially_known_rig_names_only_missing_joints(tmp_path):
    poses, trans = random_smpl_motion(2)
    names = list(MB_NAMES)
    names[18] = "LeftElbowX"                              # left_elbow has no known name
    p = write_smpl_as_bvh(tmp_path / "part.bvh", poses, trans, names)
    with pytest.raises(MotionFormatError, match=r"\['left_elbow'\]"):
        load_motion(p, rest_joints=REST)


# ------------------------------------------------------------------------------------------------
# real files: quality on one file per rig


@pytest.mark.parametrize("rel", [
    "bvh_cgspeed_motionbuilder/01_01.bvh", "bvh_iclone_cc/02_03.bvh", "bvh_secondlife_scaled/60_05.bvh",
    "asfamc/charleston1.amc",
])
def test_quality_on_real_files(cmu_dir, rel):
    q = retarget_quality(cmu_dir / rel, max_frames=25)
    assert q["frames"] >= 20
    assert q["mean_deg"] < 4.0, q                          # articulated bones (limbs swing-exact)
    assert q["mean_all_deg"] < 10.0, q                     # incl. torso bones set by anatomy
    q_raw = retarget_quality(cmu_dir / rel, max_frames=25, exact_directions=False)
    assert q_raw["mean_deg"] < 6.0, q_raw                  # the rest alignment alone


def test_quality_metric_can_fail(tmp_path):
    """A wrong rest skeleton (SMPL's arms swapped to point down) must show up as a large angle."""
    poses, trans = random_smpl_motion(10, seed=7, scale=0.2)
    p = write_smpl_as_bvh(tmp_path / "m.bvh", poses, trans, MB_NAMES)
    bad = REST.copy()
    for j in (18, 20, 22):
        bad[j] = bad[16] + np.array([0.0, -1.0, 0.0]) * np.linalg.norm(REST[j] - REST[16])
    J_good = smpl_posed_joints(torch.as_tensor(load_motion(p, rest_joints=REST).poses), REST).numpy()
    J_bad = smpl_posed_joints(torch.as_tensor(load_motion(p, rest_joints=REST).poses), bad).numpy()
    from posekit.data.quality import bone_angles
    src = parse_bvh(p)
    _, P = forward_kinematics(src.parents, src.offsets, src.local_rot, src.root_pos)
    mapping = [src.names.index(n) for n in MB_NAMES]
    good, _, _ = bone_angles(P, mapping, J_good)
    worse, _, _ = bone_angles(P, mapping, J_bad)
    assert good.mean() < 0.1 and worse.mean() > 5.0
