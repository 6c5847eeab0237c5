"""Whole-body keypoints (posekit.fitting.wholebody) on the open SMPL-X model: the index map against
smplx's own joint names, the projection against the pinhole formula, and synthetic views."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

smplx = pytest.importorskip("smplx")
from smplx.joint_names import JOINT_NAMES  # noqa: E402

from posekit.body import load_body_model  # noqa: E402
from posekit.fitting import wholebody as wb  # noqa: E402


@pytest.fixture(scope="module")
def model():
    with contextlib.redirect_stdout(io.StringIO()):
        return load_body_model("open", model_type="smplx", device="cpu", use_face_contour=True)


def test_index_map_against_smplx_joint_names():
    """smplx's JOINT_NAMES lists its output joints in order (55 joints, 21 vertex keypoints, 51
    landmarks, 17 contour points): every body and hand keypoint lands on the joint of that name."""
    assert len(wb.WHOLEBODY_NAMES) == len(wb.SMPLX_INDEX) == 135
    # each wrist is both a body and a hand keypoint (as in OpenPose); nothing else repeats
    assert len(set(wb.SMPLX_INDEX)) == 133
    assert wb.SMPLX_INDEX[4] == wb.SMPLX_INDEX[46] == 21 and wb.SMPLX_INDEX[7] == wb.SMPLX_INDEX[25] == 20
    rename = {"mid_hip": "pelvis", "left_thumb4": "left_thumb", "left_index4": "left_index",
              "left_middle4": "left_middle", "left_ring4": "left_ring", "left_pinky4": "left_pinky",
              "right_thumb4": "right_thumb", "right_index4": "right_index", "right_middle4": "right_middle",
              "right_ring4": "right_ring", "right_pinky4": "right_pinky"}
    for k in list(wb.GROUPS["body"]) + list(wb.GROUPS["left_hand"]) + list(wb.GROUPS["right_hand"]):
        name = wb.WHOLEBODY_NAMES[k]
        assert JOINT_NAMES[wb.SMPLX_INDEX[k]] == rename.get(name, name), name
    # the face: smplx's landmark rows in order, then the contour
    assert list(wb.SMPLX_INDEX[67:118]) == list(range(76, 127))
    assert list(wb.SMPLX_INDEX[118:135]) == list(range(127, 144))
    assert JOINT_NAMES[76] == "right_eye_brow1" and JOINT_NAMES[127] == "right_contour_1"
    # hands: 21 points, wrist first, each finger base to tip
    assert wb.WHOLEBODY_NAMES[25] == "left_wrist" and wb.WHOLEBODY_NAMES[29] == "left_thumb4"


def test_keypoints_from_model(model):
    out = model()
    k = wb.wholebody_keypoints(out.joints, contour=True)
    assert k.shape == (1, 135, 3)
    torch.testing.assert_close(k[0, 25], out.joints[0, 20])  # left wrist
    torch.testing.assert_close(k[:, :118], wb.wholebody_keypoints(out.joints[:, :127]))
    with pytest.raises(ValueError, match="use_face_contour=True"):
        wb.wholebody_keypoints(out.joints[:, :127], contour=True)
    # the left hand is at +x, the face landmarks above the shoulders
    assert (k[0, list(wb.GROUPS["left_hand"]), 0] > 0.5).all()
    assert (k[0, 67:, 1] > k[0, 2, 1]).all()


def test_synthetic_views(model):
    rng = np.random.default_rng(0)
    pose = torch.as_tensor(rng.normal(scale=0.2, size=(4, 63)), dtype=torch.float32)
    a = wb.make_wholebody_views(model, pose, seed=3, dropout=0.2)
    b = wb.make_wholebody_views(model, pose, seed=3, dropout=0.2)
    for key in a:
        torch.testing.assert_close(a[key], b[key])  # deterministic for a seed
    K = 135
    assert a["keypoints_2d"].shape == (4, K, 2) and a["confidence"].shape == (4, K)
    # the ground truth regenerates the keypoints: same parameters through the module, then the pinhole formula
    with torch.no_grad():
        out = model(betas=a["betas"], expression=a["expression"], global_orient=a["global_orient"],
                    body_pose=a["body_pose"], left_hand_pose=a["left_hand_pose"], right_hand_pose=a["right_hand_pose"],
                    jaw_pose=a["jaw_pose"], leye_pose=torch.zeros(4, 3), reye_pose=torch.zeros(4, 3), transl=a["transl"])
    k3 = wb.wholebody_keypoints(out.joints, contour=True)
    torch.testing.assert_close(k3, a["keypoints_3d"], atol=1e-5, rtol=0)
    assert (k3[..., 2] > 0.5).all()  # in front of the camera
    f, c = a["focal_length"][:, None, None], 0.5 * a["image_size"][:, None, :]
    torch.testing.assert_close(a["keypoints_clean"], f * k3[..., :2] / k3[..., 2:] + c, atol=1e-3, rtol=0)
    # dropped points are zeroed; the rest are the clean ones plus a few pixels of noise
    dropped = a["confidence"] == 0
    assert dropped.any() and (a["keypoints_2d"][dropped] == 0).all()
    resid = (a["keypoints_2d"] - a["keypoints_clean"])[~dropped]
    assert 1.0 < resid.std() < 3.0
    # the body spans a fraction of the image height, inside the image
    inside = (a["keypoints_clean"] > 0) & (a["keypoints_clean"] < 1000)
    assert inside.all()
    with pytest.raises(ValueError, match=r"\(N, 63\)"):
        wb.make_wholebody_views(model, torch.zeros(2, 69))
