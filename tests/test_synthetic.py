"""The SYNTHETIC range-of-motion sampler: ranges, signs on the SMPL skeleton (closed forms), determinism, fallback."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from posekit.data import dataset as ds_mod
from posekit.data import paths
from posekit.data.synthetic import ROM_TABLE, clinical_to_pose, sample_synthetic_poses
from posekit.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS

J = SMPL_JOINT_NAMES.index


def test_every_sampled_angle_within_cited_ranges():
    poses, ang = sample_synthetic_poses(4000, seed=3, return_angles=True)
    assert poses.shape == (4000, 24, 3) and poses.dtype == torch.float32
    for r in ROM_TABLE:
        a = ang[(r.joint, r.motion)]
        assert a.shape == (4000,)
        assert (a >= r.lo).all() and (a <= r.hi).all(), (r.joint, r.motion, a.min(), a.max(), r.lo, r.hi)
        # the sampler explores the range, not just the neutral pose
        assert a.max() - a.min() > 0.3 * (r.hi - r.lo), (r.joint, r.motion)
    # published AAOS limits (Greene & Heckman 1994) for a few joints, written out independently
    lim = {(r.joint, r.motion): (r.lo, r.hi) for r in ROM_TABLE}
    assert lim[("left_knee", "flex_ext")] == (0, 135)
    assert lim[("right_hip", "flex_ext")] == (-30, 120)
    assert lim[("left_elbow", "flex_ext")] == (0, 150)
    assert lim[("left_shoulder", "flex_ext")] == (-60, 180)
    # single-axis joints: the axis-angle is exactly the signed clinical angle on one axis
    k = poses[:, J("left_knee")].double().numpy()
    np.testing.assert_allclose(k[:, 0], np.deg2rad(ang[("left_knee", "flex_ext")]), atol=1e-5)
    np.testing.assert_allclose(k[:, 1:], 0, atol=1e-6)
    e = poses[:, J("right_elbow")].double().numpy()
    np.testing.assert_allclose(e[:, 1], np.deg2rad(ang[("right_elbow", "flex_ext")]), atol=1e-5)
    # identity joints
    assert torch.all(poses[:, [0, 22, 23]] == 0)


def test_multi_axis_joints_match_intrinsic_xyz_euler():
    poses, ang = sample_synthetic_poses(50, seed=1, return_angles=True)
    eul = Rotation.from_rotvec(poses[:, J("left_hip")].double().numpy()).as_euler("XYZ", degrees=True)
    np.testing.assert_allclose(eul[:, 0], -ang[("left_hip", "flex_ext")], atol=1e-3)
    np.testing.assert_allclose(eul[:, 1], -ang[("left_hip", "rotation")], atol=1e-3)
    np.testing.assert_allclose(eul[:, 2], ang[("left_hip", "abd_add")], atol=1e-3)


def _zero(**over):
    a = {(r.joint, r.motion): np.zeros(1) for r in ROM_TABLE}
    for k, v in over.items():
        j, m = k.split("__")
        a[(j, m)] = np.array([float(v)])
    return a


def _bone_dir(pose: np.ndarray, joint: int, rest_dir) -> np.ndarray:
    """World direction of a bone leaving ``joint`` whose rest direction is ``rest_dir`` (global frame)."""
    R = np.eye(3)
    chain = []
    j = joint
    while j != -1:
        chain.append(j)
        j = SMPL_PARENTS[j]
    for j in reversed(chain):
        R = R @ Rotation.from_rotvec(pose[j]).as_matrix()
    return R @ np.asarray(rest_dir, float)


@pytest.mark.parametrize("over, joint, rest, expected", [
    # rest pose (SMPL T-pose, y up, facing +z, left = +x): shin -y, thigh -y, upper arms +-x, feet +z
    ({"left_knee__flex_ext": 90}, "left_knee", (0, -1, 0), (0, 0, -1)),       # knee flexion: shank backwards
    ({"right_hip__flex_ext": 90}, "right_hip", (0, -1, 0), (0, 0, 1)),       # hip flexion: thigh forwards
    ({"left_hip__abd_add": 45}, "left_hip", (0, -1, 0), (np.sqrt(.5), -np.sqrt(.5), 0)),  # abduction: outwards
    ({"spine1__flex_ext": 26.6666667, "spine2__flex_ext": 26.6666667, "spine3__flex_ext": 26.6666667},
     "spine3", (0, 1, 0), (0, np.cos(np.deg2rad(80)), np.sin(np.deg2rad(80)))),                # trunk flexion 80
    ({}, "left_shoulder", (1, 0, 0), (0, -1, 0)),                              # neutral: arm hanging
    ({"left_shoulder__abd_add": 90}, "left_shoulder", (1, 0, 0), (1, 0, 0)),  # abduction 90 = T-pose
    ({"right_shoulder__abd_add": 180}, "right_shoulder", (-1, 0, 0), (0, 1, 0)),  # overhead
    ({"left_shoulder__flex_ext": 90}, "left_shoulder", (1, 0, 0), (0, 0, 1)),  # flexion: arm forwards
    ({"left_shoulder__flex_ext": -45}, "left_shoulder", (1, 0, 0), (0, -np.sqrt(.5), -np.sqrt(.5))),  # extension
    ({"left_elbow__flex_ext": 90}, "left_elbow", (1, 0, 0), (0, 0, 1)),       # arm down, forearm forwards
    ({"left_elbow__flex_ext": 90, "left_shoulder__rotation": 90}, "left_elbow", (1, 0, 0), (1, 0, 0)),  # ext. rot.
    ({"right_elbow__flex_ext": 90, "right_shoulder__rotation": 90}, "right_elbow", (-1, 0, 0), (-1, 0, 0)),
    ({"right_elbow__flex_ext": 90, "right_shoulder__rotation": -60}, "right_elbow", (-1, 0, 0),
     (np.sin(np.deg2rad(60)), 0, np.cos(np.deg2rad(60)))),                    # internal rotation: across the belly
    ({"left_ankle__flex_ext": -20}, "left_ankle", (0, 0, 1), (0, np.sin(np.deg2rad(20)), np.cos(np.deg2rad(20)))),
])
def test_clinical_signs_on_the_smpl_skeleton(over, joint, rest, expected):
    """Closed-form bone directions: each clinical motion moves the bone the anatomical way."""
    pose = clinical_to_pose(_zero(**over))[0]
    d = _bone_dir(pose, J(joint), rest)
    np.testing.assert_allclose(d, expected, atol=1e-6)


def test_deterministic_with_seed():
    a = sample_synthetic_poses(64, seed=7)
    b = sample_synthetic_poses(64, seed=7)
    c = sample_synthetic_poses(64, seed=8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_correlations_follow_the_factors():
    _, ang = sample_synthetic_poses(5000, seed=0, return_angles=True)
    r = np.corrcoef(ang[("left_hip", "flex_ext")], ang[("right_hip", "flex_ext")])[0, 1]
    rk = np.corrcoef(ang[("left_hip", "flex_ext")], ang[("left_knee", "flex_ext")])[0, 1]
    assert rk > 0.2          # crouching couples hip and knee flexion
    assert abs(r) < 0.5      # gait (anti) and crouch (pro) roughly cancel for the two hips


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-negative"):
        sample_synthetic_poses(-1)
    with pytest.raises(ValueError, match="spread"):
        sample_synthetic_poses(3, spread=0)


def test_fallback_warns_and_is_labelled(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(paths, "shared_cmu_dir", lambda: tmp_path / "no_shared")
    monkeypatch.setattr(paths, "embedded_sample_dir", lambda: tmp_path / "no_sample")
    assert paths.find_motion_dir() is None
    with pytest.warns(UserWarning, match=r"SYNTHETIC.*POSEKIT_DATA.*download_cmu.*shared"):
        ds = ds_mod.pose_dataset(synthetic_n=300, progress=False, cache=False)
    assert ds.synthetic is True and ds.kind == "SYNTHETIC"
    assert "SYNTHETIC" in repr(ds) and "SYNTHETIC" in ds.summary_table()
    assert len(ds.train) + len(ds.val) + len(ds.test) == 300
    assert len(ds.val) > 0 and len(ds.test) > 0
    assert not set(ds.subjects("train")) & set(ds.subjects("test"))
    ref = sample_synthetic_poses(300, seed=0)
    assert torch.equal(torch.cat([ds.train, ds.val, ds.test]), ref)


def test_real_data_found_means_no_fallback(tmp_path, monkeypatch):
    d = tmp_path / "data" / "cmu" / "x"
    d.mkdir(parents=True)
    (d / "03_01.bvh").write_text("HIERARCHY\n")
    monkeypatch.setenv("POSEKIT_DATA", str(tmp_path / "data"))
    assert paths.find_motion_dir() == tmp_path / "data" / "cmu"
