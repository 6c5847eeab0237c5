"""Chapter 03b's photo path: whole-body keypoints (MediaPipe Holistic) -> SMPLify-X -> files.

The tables are checked against MediaPipe's own named contours and against the pose model's landmarks on a
shipped photo's cached detection (no detector needed); the detector tests skip without mediapipe (``make photo``);
the command line is checked end to end on a known SMPL-X view (``--keypoints``, no detector) and on a photo.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from posekit.errors import InputError
from posekit.fitting.wholebody import GROUPS, WHOLEBODY_NAMES
from posekit.photo import DetectorUnavailable, detector_available, mediapipe_to_lsp
from posekit.photo.detect import MP_NAMES
from posekit.photo.wholebody import (BODY25_FROM_MP, CACHED_SAMPLE, FACE51_FROM_MESH, FACE_MESH_POINTS, FACE_PARTS,
                                     holistic_to_wholebody, load_cached_holistic, parts_seen)

needs_detector = pytest.mark.skipif(not detector_available(), reason="mediapipe not installed (make photo)")
SAMPLE = CACHED_SAMPLE.parent
N = WHOLEBODY_NAMES


def _rows(lo, hi):
    return [N.index(f"face{i}") for i in range(lo, hi)]


@pytest.fixture(scope="module")
def sx():
    from posekit.photo.fit_smplx import load_smplx_model

    torch.set_num_threads(1)
    return load_smplx_model()


# ------------------------------------------------------------------------------------------------ the tables


def test_face_table_indices_are_distinct_mesh_vertices():
    assert len(FACE51_FROM_MESH) == len(GROUPS["face"]) == 51
    assert len(set(FACE51_FROM_MESH)) == 51
    assert all(0 <= i < FACE_MESH_POINTS for i in FACE51_FROM_MESH)
    assert [r for _, rng in FACE_PARTS for r in rng] == list(range(17, 68))     # every iBUG point once, in order


def test_face_table_follows_mediapipes_named_contours():
    """Each iBUG part's vertices lie on MediaPipe's contour of the same name (its "right" = the person's right)."""
    conn = pytest.importorskip("mediapipe.python.solutions.face_mesh_connections")
    for name, ibug in FACE_PARTS:
        contour = {i for edge in getattr(conn, name) for i in edge}
        picked = {FACE51_FROM_MESH[k - 17] for k in ibug}
        assert picked <= contour, (name, sorted(picked - contour))
    # and never a vertex of the other side's eye or brow
    for side, other in (("RIGHT", "LEFT"), ("LEFT", "RIGHT")):
        mine = {FACE51_FROM_MESH[k - 17] for name, ibug in FACE_PARTS if side in name for k in ibug}
        theirs = {i for part in ("EYE", "EYEBROW") for e in getattr(conn, f"FACEMESH_{other}_{part}") for i in e}
        assert not mine & theirs


def test_body_table_takes_the_landmark_of_the_same_name():
    for b, m in BODY25_FROM_MP.items():
        want = N[b].replace("big_toe", "foot_index")
        assert MP_NAMES[m] == want, (N[b], MP_NAMES[m])
    missing = set(range(25)) - set(BODY25_FROM_MP)
    assert {N[b] for b in missing} == {"neck", "mid_hip", "right_hip", "left_hip", "left_small_toe", "right_small_toe"}


def _fake_detection(seed=0):
    g = np.random.default_rng(seed)
    return {"pose": g.uniform(50, 450, (33, 2)), "visibility": g.uniform(0.5, 1.0, 33),
            "face": g.uniform(50, 450, (468, 2)), "left_hand": g.uniform(50, 450, (21, 2)),
            "right_hand": g.uniform(50, 450, (21, 2))}


def test_mapping_puts_each_part_in_its_rows():
    d = _fake_detection()
    kp, conf = holistic_to_wholebody(**d, min_visibility=0.0, image_size=(500, 500))
    assert kp.shape == (118, 2) and conf.shape == (118,)
    np.testing.assert_array_equal(kp[list(GROUPS["left_hand"])], d["left_hand"])     # the person's left -> left
    np.testing.assert_array_equal(kp[list(GROUPS["right_hand"])], d["right_hand"])
    np.testing.assert_array_equal(kp[list(GROUPS["face"])], d["face"][list(FACE51_FROM_MESH)])
    for b, m in BODY25_FROM_MP.items():
        np.testing.assert_array_equal(kp[b], d["pose"][m])
        assert conf[b] == d["visibility"][m]
    # neck and hips are the SMPL path's (posekit.photo.detect), the mid hip their midpoint
    lsp, _ = mediapipe_to_lsp(d["pose"], d["visibility"], min_visibility=0.0)
    np.testing.assert_allclose(kp[N.index("neck")], lsp[12])
    np.testing.assert_allclose(kp[N.index("right_hip")], lsp[2])
    np.testing.assert_allclose(kp[N.index("left_hip")], lsp[3])
    np.testing.assert_allclose(kp[N.index("mid_hip")], 0.5 * (lsp[2] + lsp[3]))
    assert conf[N.index("left_small_toe")] == 0 and conf[N.index("right_small_toe")] == 0
    assert (conf[67:] == 1).all() and (conf[25:67] == 1).all()


def test_missing_parts_and_points_outside_get_confidence_zero():
    d = _fake_detection(1)
    d["left_hand"] = None
    d["face"] = None
    d["right_hand"][3] = (-5.0, 10.0)                                     # left of the image
    d["visibility"][BODY25_FROM_MP[3]] = 0.1                              # right elbow below min_visibility
    kp, conf = holistic_to_wholebody(**d, image_size=(500, 500))
    assert (conf[list(GROUPS["left_hand"])] == 0).all() and (conf[list(GROUPS["face"])] == 0).all()
    assert conf[GROUPS["right_hand"][3]] == 0 and conf[GROUPS["right_hand"][4]] == 1
    assert conf[3] == 0
    seen = parts_seen(conf)
    assert seen["left_hand"] == 0 and seen["face"] == 0 and seen["right_hand"] == 20


def test_mapping_refuses_wrong_shapes():
    d = _fake_detection()
    with pytest.raises(InputError, match="33 landmarks"):
        holistic_to_wholebody(d["pose"][:20], d["visibility"])
    with pytest.raises(InputError, match="21 landmarks"):
        holistic_to_wholebody(d["pose"], d["visibility"], left_hand=d["left_hand"][:5])
    with pytest.raises(InputError, match="468"):
        holistic_to_wholebody(d["pose"], d["visibility"], face=d["face"][:68])


# ------------------------------------------------------------------------------------------------ on a photo


def _left_right_checks(d):
    """On a frontal photo: the mapped face's person-right parts sit on the image left, next to the pose model's
    own eye landmarks (an independent network), and the mouth's corners are ordered the same way."""
    kp, conf = holistic_to_wholebody(d["pose"], d["visibility"], d["face"], d["left_hand"], d["right_hand"],
                                     image_size=d["size"])
    eye_r, eye_l = kp[_rows(36, 42)].mean(0), kp[_rows(42, 48)].mean(0)
    pose_r, pose_l = d["pose"][MP_NAMES.index("right_eye")], d["pose"][MP_NAMES.index("left_eye")]
    assert pose_r[0] < pose_l[0]                                          # the photo is frontal
    assert eye_r[0] < eye_l[0] and kp[_rows(17, 22)].mean(0)[0] < kp[_rows(22, 27)].mean(0)[0]
    assert kp[N.index("face48")][0] < kp[N.index("face54")][0]
    gap = np.linalg.norm(pose_l - pose_r)
    assert np.linalg.norm(eye_r - pose_r) < 0.35 * gap and np.linalg.norm(eye_l - pose_l) < 0.35 * gap
    return kp, conf


def test_cached_detection_left_right_and_face():
    d = load_cached_holistic()
    assert d["size"] == Image.open(SAMPLE / "astronaut.jpg").size
    kp, conf = _left_right_checks(d)
    assert parts_seen(conf)["face"] == 51


@needs_detector
@pytest.mark.parametrize("photo", ["astronaut.jpg", "grace_hopper.jpg"])
def test_detection_on_a_real_photo(photo):
    import posekit.photo
    from posekit.photo.wholebody import detect_holistic, detect_wholebody

    d = detect_holistic(SAMPLE / photo)
    kp, conf = _left_right_checks(d)
    assert parts_seen(conf)["face"] == 51 and parts_seen(conf)["body"] >= 6
    k2, c2 = detect_wholebody(SAMPLE / photo)
    np.testing.assert_allclose(k2, kp)
    assert detect_wholebody is posekit.photo.detect_wholebody
    if photo == "astronaut.jpg":                                          # the shipped cache is this detector's output
        cached = load_cached_holistic()
        np.testing.assert_allclose(d["face"], cached["face"], atol=2.0)
        np.testing.assert_allclose(d["pose"][:13], cached["pose"][:13], atol=2.0)


@needs_detector
def test_box_detection_returns_full_image_pixels():
    from posekit.photo.wholebody import detect_holistic

    full = detect_holistic(SAMPLE / "astronaut.jpg")
    boxed = detect_holistic(SAMPLE / "astronaut.jpg", box=(20, 10, 300, 384))
    gap = np.linalg.norm(full["pose"][2] - full["pose"][5])                # between the eyes
    err = np.linalg.norm(boxed["face"] - full["face"], axis=1)
    assert np.median(err) < 0.25 * gap


@needs_detector
def test_holistic_left_hand_is_the_persons_left():
    """On the rendered sample photo, whose body is known: each detected hand lies at the true hand of its name."""
    from posekit.body import load_body_model
    from posekit.photo.wholebody import detect_holistic

    s = json.loads((SAMPLE / "open_model_sample.json").read_text())
    d = detect_holistic(SAMPLE / "open_model_sample.jpg")
    assert d["left_hand"] is not None and d["right_hand"] is not None
    body = load_body_model(device="cpu")
    t = {k: torch.tensor(s[k], dtype=torch.float32)[None] for k in ("betas", "global_orient", "body_pose", "transl")}
    with torch.no_grad():
        J = body(**t).joints[0, :24].numpy()
    uv = J[:, :2] / J[:, 2:] * s["focal_length"] + 0.5 * np.asarray(s["size"], float)
    true_l, true_r = uv[22], uv[23]                                        # SMPL's left and right hand joints
    for name, mine, other in (("left_hand", true_l, true_r), ("right_hand", true_r, true_l)):
        c = d[name].mean(0)
        assert np.linalg.norm(c - mine) < 0.5 * np.linalg.norm(c - other), name


def test_missing_detector_names_make_photo(monkeypatch):
    from posekit.photo.wholebody import WholeBodyDetector

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(DetectorUnavailable, match="make photo"):
        WholeBodyDetector()


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def view(sx):
    from posekit.fitting.wholebody import make_wholebody_views

    g = torch.Generator().manual_seed(2)
    return make_wholebody_views(sx, 0.2 * torch.randn(1, 63, generator=g), seed=3, image_size=(600, 800),
                                noise_px=1.0, dropout=0.0, yaw_range=0.4, height_frac=(0.7, 0.8))


def _write_view(tmp_path, view):
    W, H = (int(s) for s in view["image_size"][0])
    photo = tmp_path / "view.png"
    Image.new("RGB", (W, H), (200, 200, 200)).save(photo)
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps({"keypoints": view["keypoints_2d"][0].tolist(),
                              "confidence": view["confidence"][0].tolist()}))
    return photo, kp


def test_cli_smplx_on_known_keypoints(tmp_path, sx, view):
    """--keypoints of a known SMPL-X view, its true focal length: every file, finite numbers, hands' and face's
    parameters, and the body where the truth is (depth within 20 %, keypoints within a few px)."""
    import trimesh

    from posekit.fit.__main__ import main
    from posekit.fit.outputs import FILES, PEOPLE_FILES

    photo, kp = _write_view(tmp_path, view)
    out = tmp_path / "out"
    f = float(view["focal_length"][0])
    assert main(["image", str(photo), "--model", "smplx", "--keypoints", str(kp), "--focal", f"{f}",
                 "--prior", "none", "--iters", "20", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*PEOPLE_FILES, "person_0"])
    assert sorted(p.name for p in (out / "person_0").iterdir()) == sorted(FILES)
    info = json.loads((out / "person_0" / "fit.json").read_text())
    npz = np.load(out / "person_0" / "fit.npz")
    sizes = {"betas": 10, "global_orient": 3, "body_pose": 63, "left_hand_pose": 12, "right_hand_pose": 12,
             "left_hand_pose_full": 45, "right_hand_pose_full": 45, "jaw_pose": 3, "expression": 10, "transl": 3}
    for k, n in sizes.items():
        assert npz[k].shape == (n,) and np.isfinite(npz[k]).all(), k
        np.testing.assert_allclose(npz[k], info[k])
    assert info["keypoint_names"] == list(WHOLEBODY_NAMES) and info["parts_seen"]["left_hand"] == 21
    # the full hand pose is smplx's: coefficients @ components + the mean hand
    np.testing.assert_allclose(npz["left_hand_pose_full"], npz["left_hand_pose"] @ sx.left_hand_components.numpy()
                               + sx.left_hand_mean.numpy(), atol=1e-5)
    assert npz["transl"][2] == pytest.approx(float(view["transl"][0, 2]), rel=0.2)
    err = np.linalg.norm(npz["projected"] - view["keypoints_clean"][0].numpy(), axis=1)
    assert np.median(err) < 15.0, np.median(err)
    mesh = trimesh.load(out / "person_0" / "mesh.obj", process=False)
    assert mesh.vertices.shape == tuple(sx.v_template.shape)
    assert Image.open(out / "overlay.png").size[0] > 500


@needs_detector
def test_cli_smplx_on_a_photo(tmp_path):
    from posekit.fit.__main__ import main

    out = tmp_path / "out"
    assert main(["image", str(SAMPLE / "astronaut.jpg"), "--model", "smplx", "--iters", "3", "--prior", "gmm",
                 "--box", "20,10,300,384", "--out", str(out)]) == 0
    info = json.loads((out / "person_0" / "fit.json").read_text())
    assert info["detection"] == "MediaPipe Holistic in --box"
    assert info["parts_seen"]["face"] == 51 and len(info["right_hand_pose"]) == 12 and len(info["expression"]) == 10
    assert all(np.isfinite(info[k]).all() for k in ("body_pose", "jaw_pose", "transl", "projected"))
    assert json.loads((out / "people.json").read_text())["model"] == "smplx"


@pytest.mark.parametrize("extra, message", [
    (["--person", "all"], "--person"),
    (["--init", "regressor"], "--init regressor"),
    (["--iters", "0"], "--iters"),
])
def test_cli_smplx_bad_combinations_fail_before_any_work(tmp_path, capsys, extra, message):
    from posekit.fit.__main__ import main

    out = tmp_path / "out"
    assert main(["image", str(tmp_path / "absent.jpg"), "--model", "smplx", "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_cli_smplx_keypoint_files_of_another_layout(tmp_path, capsys, view):
    from posekit.fit.__main__ import main

    photo, _ = _write_view(tmp_path, view)
    out = tmp_path / "out"
    cases = [({"keypoints": [[1, 2]] * 14}, "118 [x, y]"),                     # an LSP-14 file
             ({"people": [{"keypoints": [[1, 2]] * 118}]}, "one person"),
             ({"keypoints": [[1, 2]] * 117 + [[float("nan"), 0]]}, "finite"),
             ({"keypoints": [[1, 2]] * 118, "confidence": [0] * 118}, "at least one body keypoint")]
    for content, message in cases:
        kp = tmp_path / "kp.json"
        kp.write_text(json.dumps(content))
        assert main(["image", str(photo), "--model", "smplx", "--keypoints", str(kp), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err, message
        assert not out.exists()
    # and the SMPL fit refuses the whole-body file
    kp.write_text(json.dumps({"keypoints": [[1, 2]] * 118}))
    assert main(["image", str(photo), "--keypoints", str(kp), "--out", str(out)]) == 2
    assert "14 [x, y]" in capsys.readouterr().err and not out.exists()


def test_cli_smplx_without_detector_names_make_photo(tmp_path, capsys, monkeypatch, view):
    from posekit.fit.__main__ import main

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    photo, _ = _write_view(tmp_path, view)
    out = tmp_path / "out"
    assert main(["image", str(photo), "--model", "smplx", "--out", str(out)]) == 2
    assert "make photo" in capsys.readouterr().err and not out.exists()


def test_smplx_outputs_are_all_or_nothing(tmp_path, sx, view, monkeypatch):
    from posekit.fit import outputs_smplx
    from posekit.photo.fit_smplx import fit_photo_smplx

    photo, _ = _write_view(tmp_path, view)
    r = fit_photo_smplx(photo, prior=None, body_model=sx, focal_length=float(view["focal_length"][0]),
                        keypoints=view["keypoints_2d"][0].numpy(), confidence=view["confidence"][0].numpy(),
                        stage_iters=2, camera_iters=2)
    monkeypatch.setattr(outputs_smplx, "_overlay_png", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        outputs_smplx.write_smplx_outputs(r, sx, tmp_path / "o")
    assert not (tmp_path / "o").exists()
    r["fit"]["jaw_pose"][0, 0] = float("nan")
    monkeypatch.undo()
    with pytest.raises(InputError, match="jaw_pose"):
        outputs_smplx.write_smplx_outputs(r, sx, tmp_path / "o")
    assert not (tmp_path / "o").exists()
