"""Loading motions: resampling, ASF/AMC and AMASS readers, bad input, real CMU files."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation, Slerp

from posekit.data import (
    SMPL_JOINT_NAMES, Motion, MotionFormatError, cmu_ids, find_asf, load_motion, parse_amc, parse_asf,
    resample_motion,
)
from posekit.data.amass import AMASS_TO_SMPL_FRAME
from posekit.data.quality import smpl_posed_joints
from posekit.data.retarget import PROVISIONAL_REST_JOINTS, forward_kinematics

REST = PROVISIONAL_REST_JOINTS


def test_smpl_joint_names_reexported():
    import posekit.skeleton
    assert SMPL_JOINT_NAMES is posekit.skeleton.SMPL_JOINT_NAMES and len(SMPL_JOINT_NAMES) == 24


# ------------------------------------------------------------------------------------------------
# resampling


@pytest.mark.parametrize("src_fps,dst_fps", [(120.0, 30.0), (60.0, 45.0), (30.0, 100.0)])
def test_resampling_matches_scipy_slerp(src_fps, dst_fps):
    rng = np.random.default_rng(0)
    T = 13
    poses = Rotation.random(T * 24, random_state=1).as_rotvec().reshape(T, 24, 3)
    trans = rng.normal(size=(T, 3))
    m = Motion(torch.tensor(poses, dtype=torch.float32), torch.tensor(trans, dtype=torch.float32), src_fps, {})
    r = resample_motion(m, dst_fps)
    assert r.fps == dst_fps
    t_src = np.arange(T) / src_fps
    t_dst = np.arange(len(r)) / dst_fps
    assert t_dst[-1] <= t_src[-1] + 1e-9 and t_dst[-1] + 1 / dst_fps > t_src[-1]   # covers the duration
    for j in (0, 5, 17):
        ref = Slerp(t_src, Rotation.from_rotvec(poses[:, j]))(t_dst)
        got = Rotation.from_rotvec(r.poses[:, j].double().numpy())
        assert np.degrees((ref.inv() * got).magnitude()).max() < 1e-3
    for k in range(3):
        np.testing.assert_allclose(r.trans[:, k].numpy(), np.interp(t_dst, t_src, trans[:, k]), atol=1e-5)
    # not the average of axis-angles: a half-way frame between two far-apart rotations differs from it
    q = r.poses[1].numpy() if dst_fps > src_fps else None
    if q is not None:
        naive = poses[0] * (1 - 0.3) + poses[1] * 0.3
        assert np.abs(q - naive).max() > 1e-3


def test_load_motion_fps_argument_resamples(tmp_path):
    p = _amass_file(tmp_path, T=61, fps=60.0)
    m = load_motion(p, fps=30)
    assert m.fps == 30 and len(m) == 31
    full = load_motion(p)
    # every other frame of a 60 fps motion at 30 fps is the original frame
    np.testing.assert_allclose(m.poses.numpy(), full.poses.numpy()[::2], atol=1e-5)


# ------------------------------------------------------------------------------------------------
# ASF / AMC


ASF = """# test skeleton
:version 1.10
:name TEST
:units
  mass 1.0
  length 1.0
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name a
     direction 0 1 0
     length 2
     axis 0 0 0  XYZ
    dof rx ry rz
  end
  begin
     id 2
     name b
     direction 1 0 0
     length 1
     axis 0 0 90  XYZ
    dof rx
  end
:hierarchy
  begin
    root a
    a b
  end
"""


def test_asf_amc_forward_kinematics_by_hand(tmp_path):
    asf = tmp_path / "t.asf"
    asf.write_text(ASF)
    amc = tmp_path / "t_01.amc"
    amc.write_text(":FULLY-SPECIFIED\n:DEGREES\n1\nroot 1 2 3 0 0 0\na 0 0 0\nb 0\n2\nroot 1 2 3 0 0 0\na 0 0 90\nb 30\n")
    sk = parse_asf(asf)
    assert sk.metres_per_unit == pytest.approx(0.0254)
    src = parse_amc(amc, sk, fps=120)
    assert src.names == ["root", "a", "b", "b_End"]
    _, P = forward_kinematics(src.parents, src.offsets, src.local_rot, src.root_pos)
    # frame 0: a starts at the root, b at a's end (0, 2, 0), b's end 1 along +x
    np.testing.assert_allclose(P[0], [[1, 2, 3], [1, 2, 3], [1, 4, 3], [2, 4, 3]], atol=1e-9)
    # frame 1: W_a = Rz(90); W_b = Rz(90) · C_b Rx(30) C_bᵀ = Rz(90) Ry(30) (C_b = Rz(90) maps x to y)
    # a's end = (1,2,3) + Rz90 (0,2,0) = (-1,2,3); b's end = a's end + Rz90 Ry30 (1,0,0)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    np.testing.assert_allclose(P[1, 2], [-1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(P[1, 3], [-1 + 0, 2 + c, 3 - s], atol=1e-9)


def test_amc_unknown_bone_and_wrong_count(tmp_path):
    asf = tmp_path / "t.asf"
    asf.write_text(ASF)
    bad = tmp_path / "bad.amc"
    bad.write_text(":DEGREES\n1\nroot 0 0 0 0 0 0\na 0 0 0\nb 0\n2\nroot 0 0 0 0 0 0\nlfemur 1 2 3\n")
    with pytest.raises(MotionFormatError, match=r"bad\.amc: line 8: bone 'lfemur' is not in the skeleton t\.asf"):
        load_motion(bad, asf=asf)
    bad.write_text(":DEGREES\n1\nroot 0 0 0 0 0 0\na 0 0\nb 0\n")
    with pytest.raises(MotionFormatError, match=r"bad\.amc: line 4: bone 'a' has 2 values.*declares 3 dof"):
        parse_amc(bad, parse_asf(asf))
    bad.write_text(":DEGREES\n1\nroot 0 0 0 0 0 0\na 0 0 0\nb 0\n2\nroot 0 0 0 0 0 0\nb 0\n")
    with pytest.raises(MotionFormatError, match=r"bad\.amc: line 6: frame 2 lacks bone\(s\) \['a'\]"):
        parse_amc(bad, parse_asf(asf))


def test_find_asf_rules(cmu_dir):
    assert find_asf(cmu_dir / "asfamc" / "02_01__with_12asf.amc").name == "12.asf"
    assert find_asf(cmu_dir / "asfamc" / "01_01.amc").name == "01.asf"
    assert find_asf(cmu_dir / "asfamc" / "charleston2.amc").name == "charleston.asf"
    assert find_asf(cmu_dir / "asfamc" / "lambada.amc").name == "lambada.asf"


def test_cmu_ids():
    assert cmu_ids("x/05_03.bvh") == {"subject": "05", "trial": "05_03"}
    assert cmu_ids("02_01__with_12asf.amc") == {"subject": "02", "trial": "02_01"}
    assert cmu_ids("5_3.bvh") == {"subject": "05", "trial": "05_03"}
    assert cmu_ids("lambada.amc") == {"subject": "lambada", "trial": "lambada"}


# ------------------------------------------------------------------------------------------------
# AMASS


def _amass_file(tmp_path, T=20, fps=60.0, seed=0, name="amass_01_02_poses.npz", **extra):
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=0.3, size=(T, 156))
    poses[:, :3] = Rotation.random(T, random_state=seed).as_rotvec()
    trans = rng.normal(size=(T, 3))
    p = tmp_path / name
    np.savez(p, poses=poses, trans=trans, mocap_framerate=np.array(fps), betas=np.zeros(16),
             gender=np.array("neutral"), **extra)
    return p


def test_amass_round_trip_and_z_up_conversion(tmp_path):
    p = _amass_file(tmp_path)
    raw = np.load(p)
    m = load_motion(p, rest_joints=REST)
    assert m.fps == 60.0 and m.poses.shape == (20, 24, 3) and m.poses.dtype == torch.float32
    np.testing.assert_allclose(m.poses[:, 1:22].reshape(20, 63).numpy(), raw["poses"][:, 3:66], atol=1e-6)
    assert torch.all(m.poses[:, 22:] == 0)                                 # SMPL's hands: identity
    # the whole body, as smplx poses it, is the Z-up body rotated by C = Rx(-90°)
    orig = np.zeros((20, 24, 3))
    orig[:, :22] = raw["poses"][:, :66].reshape(20, 22, 3)
    J_orig = smpl_posed_joints(torch.tensor(orig), REST).numpy() + raw["trans"][:, None]
    J_new = smpl_posed_joints(m.poses, REST).numpy() + m.trans.numpy()[:, None]
    np.testing.assert_allclose(J_new, J_orig @ AMASS_TO_SMPL_FRAME.T, atol=1e-5)
    # C maps AMASS's up (+z) to SMPL's up (+y)
    np.testing.assert_allclose(AMASS_TO_SMPL_FRAME @ [0, 0, 1], [0, 1, 0])
    assert m.meta["format"] == "amass" and m.meta["rig"] == "smplh"


def test_non_amass_npz_names_missing_keys(tmp_path):
    p = tmp_path / "weights.npz"
    np.savez(p, W=np.zeros(3), poses=np.zeros((2, 156)))
    with pytest.raises(MotionFormatError) as e:
        load_motion(p)
    assert "weights.npz" in str(e.value) and "'trans'" in str(e.value) and "mocap_framerate" in str(e.value)
    q = tmp_path / "shape.npz"
    np.savez(q, poses=np.zeros((2, 10)), trans=np.zeros((2, 3)), mocap_framerate=np.array(30.0))
    with pytest.raises(MotionFormatError, match=r"shape\.npz: key 'poses' has shape \(2, 10\)"):
        load_motion(q)


# ------------------------------------------------------------------------------------------------
# bad BVH input


BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 10 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 90 0 0 0 0 0 0 0
0 90 0 0 0 0 0 10 0
0 90 0 0 0 0 0 20 0
"""


def test_truncated_bvh_hierarchy(tmp_path):
    p = tmp_path / "cut.bvh"
    p.write_text(BVH[:BVH.index("End Site")])
    with pytest.raises(MotionFormatError, match=r"cut\.bvh: truncated file: the hierarchy ends at line 10 inside joint 'Spine'"):
        load_motion(p)


def test_truncated_bvh_frames(tmp_path):
    p = tmp_path / "cut.bvh"
    p.write_text(BVH[:BVH.rindex("0 90 0")])
    with pytest.raises(MotionFormatError, match=r"cut\.bvh: truncated file: 'Frames: 3' but only 2 frame lines \(the last at line 20\)"):
        load_motion(p)


def test_bvh_channel_count_mismatch(tmp_path):
    p = tmp_path / "count.bvh"
    p.write_text(BVH.replace("0 90 0 0 0 0 0 10 0", "0 90 0 0 0 0 0 10"))
    with pytest.raises(MotionFormatError, match=r"count\.bvh: line 20: frame 1 has 8 values, expected 9"):
        load_motion(p)
    q = tmp_path / "decl.bvh"
    q.write_text(BVH.replace("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation"))
    with pytest.raises(MotionFormatError, match=r"decl\.bvh: line 9: CHANNELS declares 4 channels but lists 3"):
        load_motion(q)


def test_nan_frames_dropped_with_warning(tmp_path):
    from posekit.data.bvh import parse_bvh
    p = tmp_path / "nan.bvh"
    p.write_text(BVH.replace("0 90 0 0 0 0 0 10 0", "0 90 0 0 nan 0 0 10 0"))
    with pytest.warns(RuntimeWarning, match=r"nan\.bvh: dropped 1 frame\(s\) with NaN/inf values: frames 1"):
        src = parse_bvh(p)
    assert src.num_frames == 2
    np.testing.assert_allclose(src.local_rot[1, 1], Rotation.from_euler("ZYX", [0, 20, 0], degrees=True).as_matrix())


def test_nan_amass_frames_dropped(tmp_path):
    p = _amass_file(tmp_path, T=10)
    d = dict(np.load(p))
    d["poses"][[3, 7], 10] = np.nan
    np.savez(p, **d)
    with pytest.warns(RuntimeWarning, match="frames 3, 7"):
        m = load_motion(p, rest_joints=REST)
    assert len(m) == 8 and m.meta["dropped_nan_frames"] == [3, 7]


def test_unknown_extension(tmp_path):
    p = tmp_path / "x.fbx"
    p.write_text("x")
    with pytest.raises(MotionFormatError, match=r"x\.fbx: unknown motion format"):
        load_motion(p)


# ------------------------------------------------------------------------------------------------
# real CMU files (../shared/data/cmu)


def _pelvis_height(m: Motion) -> float:
    J = smpl_posed_joints(m.poses[::7]).numpy() + m.trans[::7, None].numpy()
    return float(np.median(J[:, 0, 1] - J[:, [7, 8, 10, 11], 1].min(1)))


@pytest.mark.parametrize("rel,rig,fps,frames,subject,trial", [
    ("bvh_cgspeed_motionbuilder/01_01.bvh", "cgspeed_motionbuilder", 120, 2751, "01", "01_01"),
    ("bvh_iclone_cc/02_03.bvh", "iclone_cc", 60, 86, "02", "02_03"),
    ("bvh_iclone_cc/02_02.bvh", "iclone_cc", 60, 148, "02", "02_02"),        # with the extra RL_BoneRoot
    ("bvh_secondlife_scaled/60_05.bvh", "secondlife_poser", 120, 1678, "60", "60_05"),
    ("asfamc/02_01__with_12asf.amc", "cmu_asf", 120, 343, "02", "02_01"),
])
def test_real_files_load(cmu_dir, rel, rig, fps, frames, subject, trial):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = load_motion(cmu_dir / rel)
    assert m.meta["rig"] == rig and m.fps == fps and len(m) == frames
    assert m.meta["subject"] == subject and m.meta["trial"] == trial
    assert m.poses.shape == (frames, 24, 3) and m.trans.shape == (frames, 3) and m.poses.dtype == torch.float32
    assert torch.isfinite(m.poses).all() and torch.all(m.poses[:, 22:] == 0)
    assert 0.7 < _pelvis_height(m) < 1.15                                  # metres, SMPL's y up
    step = np.linalg.norm(np.diff(m.trans.numpy(), axis=0), axis=1).max() * fps
    assert step < 12.0                                                     # m/s: no unit blow-up


def test_same_trial_as_bvh_and_amc_agree(cmu_dir):
    """cgspeed's BVH of 01_01 is a conversion of CMU's AMC: two parsers, one motion."""
    a = load_motion(cmu_dir / "bvh_cgspeed_motionbuilder/01_01.bvh")
    b = load_motion(cmu_dir / "asfamc/01_01.amc")
    assert len(a) == len(b)
    ra = Rotation.from_rotvec(a.poses[::5, :20].reshape(-1, 3).numpy())
    rb = Rotation.from_rotvec(b.poses[::5, :20].reshape(-1, 3).numpy())
    assert np.degrees((ra.inv() * rb).magnitude()).max() < 0.5
    np.testing.assert_allclose(a.trans.numpy(), b.trans.numpy(), atol=1e-4)
