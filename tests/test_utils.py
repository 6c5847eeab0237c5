"""Shared helpers: atomic writes, fast mode, rotations, the Pose-NDF distance, the skeleton, result rows."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from posekit import rotations, skeleton, utils
from posekit.experiments import report


def test_atomic_path_leaves_old_content_on_error(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with utils.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]   # no temp file left behind


def test_atomic_path_gives_the_usual_permissions(tmp_path):
    import os
    umask = os.umask(0o022)
    try:
        with utils.atomic_path(tmp_path / "g.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "g.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_save_npz_round_trip_and_refuses_objects(tmp_path):
    a = np.arange(6.0).reshape(2, 3)
    p = utils.atomic_save_npz(tmp_path / "x.npz", a=a)
    with np.load(p, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["a"], a)
    with pytest.raises(TypeError, match="never pickles"):
        utils.atomic_save_npz(tmp_path / "y.npz", a=np.array([{"x": 1}], dtype=object))
    assert not (tmp_path / "y.npz").exists()


def test_fast_mode(monkeypatch):
    monkeypatch.setenv("POSEKIT_FAST", "1")
    assert utils.fast_mode()
    monkeypatch.setenv("POSEKIT_FAST", "0")
    assert not utils.fast_mode()


def test_quaternion_convention_matches_scipy():
    aa = torch.randn(50, 3, dtype=torch.float64)
    q = rotations.aa_to_quat(aa)
    ref = Rotation.from_rotvec(aa.numpy()).as_quat()            # scipy is (x, y, z, w) too
    ref = ref * np.sign(ref[:, 3:4])
    np.testing.assert_allclose(q.numpy(), ref, atol=1e-10)
    assert (q[:, 3] >= 0).all()
    np.testing.assert_allclose(rotations.aa_to_matrix(rotations.quat_to_aa(q)).numpy(),
                               Rotation.from_rotvec(aa.numpy()).as_matrix(), atol=1e-9)


def test_pose_ndf_distance_closed_form_and_sign_flip():
    torch.manual_seed(0)
    K = 21
    aa1, aa2 = torch.randn(4, K, 3, dtype=torch.float64), torch.randn(4, K, 3, dtype=torch.float64)
    q1, q2 = rotations.aa_to_quat(aa1), rotations.aa_to_quat(aa2)
    w = torch.rand(K, dtype=torch.float64)
    d = rotations.pose_ndf_distance(q1, q2, w)
    # arccos|q1·q2| is half the geodesic angle: d² = Σ w/2 (θ_i/2)²
    ang = Rotation.from_rotvec(aa1.reshape(-1, 3).numpy()).inv() * Rotation.from_rotvec(aa2.reshape(-1, 3).numpy())
    theta = torch.from_numpy(ang.magnitude()).reshape(4, K)
    torch.testing.assert_close(d, torch.sqrt((w / 2 * (theta / 2) ** 2).sum(-1)))
    torch.testing.assert_close(rotations.pose_ndf_distance(-q1, q2, w), d)    # q and -q are the same rotation
    assert torch.allclose(rotations.pose_ndf_distance(q1, q1), torch.zeros(4, dtype=torch.float64), atol=1e-6)


def test_geodesic_angle_closed_form():
    R1 = rotations.aa_to_matrix(torch.tensor([[0.0, 0.0, 0.3]], dtype=torch.float64))
    R2 = rotations.aa_to_matrix(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64))
    assert math.isclose(rotations.geodesic_angle(R1, R2).item(), 0.7, rel_tol=1e-9)


def test_skeleton_layouts():
    full = torch.arange(2 * 72, dtype=torch.float32).reshape(2, 72)
    b21 = skeleton.as_body21(full)
    assert b21.shape == (2, 21, 3)
    torch.testing.assert_close(b21, full.reshape(2, 24, 3)[:, 1:22])
    torch.testing.assert_close(skeleton.as_body21(full.reshape(2, 24, 3)[:, 1:]), b21)   # body_pose (B,23,3)
    bp = skeleton.body21_to_body_pose(b21)
    assert bp.shape == (2, 69) and (bp[:, 63:] == 0).all()
    with pytest.raises(ValueError, match="expected a body pose"):
        skeleton.as_body21(torch.zeros(2, 10))
    assert len(skeleton.SMPL_JOINT_NAMES) == len(skeleton.SMPL_PARENTS) == 24
    # every parent precedes its child (the order SMPL's kinematic chain relies on)
    assert all(p < i for i, p in enumerate(skeleton.SMPL_PARENTS) if p >= 0)


def test_results_csv_round_trip_and_validation(tmp_path):
    rows = [dict(experiment="denoise", setting="60f sigma=0.1", method="gmm", metric="v2v_cm", value=1.5, std=0.2, n=10),
            dict(experiment="denoise", setting="60f sigma=0.1", method="none", metric="v2v_cm", value=2.5, std=None, n=10)]
    path = report.write_results(rows, tmp_path)
    assert path.read_text().splitlines()[0] == "experiment,setting,method,metric,value,std,n"
    back = report.read_results(path)
    assert [r["value"] for r in back] == [1.5, 2.5] and math.isnan(back[1]["std"])
    report.write_results(rows[:1], tmp_path, append=True)
    assert len(report.read_results(path)) == 3
    md = (tmp_path / "results.md").read_text()
    assert "| 60f sigma=0.1 |" in md and "gmm" in md
    with pytest.raises(ValueError, match="method must be one of"):
        report.write_results([{**rows[0], "method": "no-such-prior"}], tmp_path)
    with pytest.raises(ValueError, match="lacks columns"):
        report.write_results([{"experiment": "denoise"}], tmp_path)
    assert len(report.read_results(path)) == 3       # a refused write leaves the file as it was
