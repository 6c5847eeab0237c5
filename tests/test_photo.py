"""Chapter 02b: photo -> keypoints -> SMPLify -> overlay.

Closed loop on renders of the open body model in held-out poses from known cameras; the detector
tests skip when mediapipe is not installed (``make photo``); everything else runs without it.
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from posekit.photo import (DetectorUnavailable, NoPersonError, NotAnImageError, camera_for, detector_available,
                           focal_from_35mm, load_image, mediapipe_to_lsp)
from posekit.photo.camera import EXIF_TAGS, FULL_FRAME_DIAGONAL_MM, default_focal, focal_from_exif
from posekit.photo.detect import _I, HEAD_UP, HIP_DROP, HIP_WIDTH, NECK_UP, PoseDetector, fit_mapping
from posekit.viz.render import project_points, rasterize, render_mesh_image

needs_detector = pytest.mark.skipif(not detector_available(), reason="mediapipe not installed (make photo)")


@pytest.fixture(scope="module")
def body():
    from posekit.body import load_body_model

    return load_body_model(device="cpu")


@pytest.fixture(scope="module")
def views(body):
    from posekit.fit.synthetic import held_out_poses, rendered_views

    torch.set_num_threads(1)
    return rendered_views(body, held_out_poses(3, seed=3), seed=3)        # calibration used seed 1


# ------------------------------------------------------------------------------------------------ mapping


def _random_landmarks(seed=0):
    g = np.random.default_rng(seed)
    return g.uniform(0, 500, (33, 2)), g.uniform(0.5, 1.0, 33)


def test_mapping_copies_the_named_landmarks_person_right_is_right():
    lm, vis = _random_landmarks()
    kp, conf = mediapipe_to_lsp(lm, vis, min_visibility=0.0)
    for lsp, name in ((0, "right_ankle"), (1, "right_knee"), (4, "left_knee"), (5, "left_ankle"), (6, "right_wrist"),
                      (7, "right_elbow"), (8, "right_shoulder"), (9, "left_shoulder"), (10, "left_elbow"),
                      (11, "left_wrist")):
        np.testing.assert_allclose(kp[lsp], lm[_I[name]])
        assert conf[lsp] == vis[_I[name]]


def test_mapping_neck_head_top_and_hips_follow_their_definitions():
    # an upright figure: shoulders at y=100, hips at y=300, ears at y=40
    lm = np.zeros((33, 2))
    lm[_I["left_shoulder"]], lm[_I["right_shoulder"]] = (260, 100), (140, 100)
    lm[_I["left_hip"]], lm[_I["right_hip"]] = (240, 300), (160, 300)
    lm[_I["left_ear"]], lm[_I["right_ear"]] = (215, 40), (185, 40)
    vis = np.ones(33)
    vis[_I["left_ear"]] = 0.4
    kp, conf = mediapipe_to_lsp(lm, vis)
    np.testing.assert_allclose(kp[12], (200, 100 - NECK_UP * 60))                 # above the shoulder midpoint
    np.testing.assert_allclose(kp[13], (200, 40 - HEAD_UP * 60))                  # above the ears
    np.testing.assert_allclose(kp[2], (200 - HIP_WIDTH * 40, 300 + HIP_DROP * 200))   # person's right: image left
    np.testing.assert_allclose(kp[3], (200 + HIP_WIDTH * 40, 300 + HIP_DROP * 200))
    assert kp[13, 1] < kp[12, 1] < kp[2, 1]
    assert conf[13] == pytest.approx(0.4) and conf[12] == 1.0
    # below min_visibility a point is dropped (confidence 0)
    vis[_I["right_hip"]] = 0.1
    assert mediapipe_to_lsp(lm, vis, min_visibility=0.2)[1][[2, 3]].tolist() == [0.0, 0.0]
    # points outside the image (extrapolated by the detector) are dropped when the size is given
    lm = lm + np.array([0.0, 100.0])                                       # head top at y = 98 (inside)
    lm[_I["right_ankle"]] = (200, 900)
    conf_in = mediapipe_to_lsp(lm, np.ones(33), image_size=(400, 800))[1]
    assert conf_in[0] == 0.0 and conf_in[1:].tolist() == [1.0] * 13
    with pytest.raises(ValueError, match="33 landmarks"):
        mediapipe_to_lsp(lm[:17], vis[:17])


def test_fit_mapping_recovers_known_constants():
    g = np.random.default_rng(1)
    lms, targets = [], []
    truth = {"hip_width": 1.1, "hip_drop": 0.05, "neck_up": 0.25, "head_up": 0.8}
    for s in range(12):
        lm, vis = _random_landmarks(s)
        kp, _ = mediapipe_to_lsp(lm, vis, min_visibility=0.0, **truth)
        lms.append(lm)
        targets.append(kp + g.normal(0, 0.5, kp.shape))
    est = fit_mapping(np.array(lms), np.array(targets))
    for k, v in truth.items():
        assert est[k] == pytest.approx(v, abs=0.02), k
    with pytest.raises(ValueError):
        fit_mapping(np.zeros((2, 33, 2)), np.zeros((3, 14, 2)))


# ------------------------------------------------------------------------------------------------ camera


def _jpeg(path, size, exif_ifd=None, base=None):
    ex = Image.Exif()
    if exif_ifd:
        ex[0x8769] = exif_ifd
    for k, v in (base or {}).items():
        ex[k] = v
    Image.new("RGB", size, (120, 130, 140)).save(path, format="JPEG", exif=ex.tobytes())
    return path


def test_focal_from_35mm_equivalent(tmp_path):
    p = _jpeg(tmp_path / "a.jpg", (600, 400), {EXIF_TAGS["FocalLengthIn35mmFilm"]: 50})
    cam = camera_for(load_image(p))
    # a 36x24 mm frame at 3:2 and 50 mm: f_px = 50 / 36 * width exactly
    assert cam["focal_length"] == pytest.approx(50 / 36 * 600)
    assert cam["center"] == (300.0, 200.0) and cam["size"] == (600, 400)
    assert "35mm" in cam["source"].replace(" ", "") or "FocalLengthIn35mmFilm" in cam["source"]
    assert focal_from_35mm(28, 4000, 3000) == pytest.approx(28 * 5000 / math.hypot(36, 24))


def test_focal_from_sensor_resolution_and_rotation(tmp_path):
    # 4.2 mm lens, 1000 px per cm on the sensor (unit 3), stored 800x600, rotated (orientation 6)
    tags = {EXIF_TAGS["FocalLength"]: 4.2, EXIF_TAGS["FocalPlaneXResolution"]: 1000.0,
            EXIF_TAGS["FocalPlaneResolutionUnit"]: 3}
    p = _jpeg(tmp_path / "b.jpg", (800, 600), tags, base={0x0112: 6})
    photo = load_image(p)
    assert photo.size == (600, 800)                                       # upright
    assert camera_for(photo)["focal_length"] == pytest.approx(4.2 * 100)  # 4.2 mm * 100 px/mm
    # PixelXDimension says the resolutions refer to a 1600 px wide original: this file is half of it
    tags[EXIF_TAGS["PixelXDimension"]] = 1600
    p2 = _jpeg(tmp_path / "c.jpg", (800, 600), tags)
    assert camera_for(load_image(p2))["focal_length"] == pytest.approx(4.2 * 100 * 0.5)


def test_default_focal_without_exif_and_given_focal(tmp_path):
    p = _jpeg(tmp_path / "d.jpg", (300, 400))
    photo = load_image(p)
    cam = camera_for(photo)
    assert cam["focal_length"] == pytest.approx(500.0) == default_focal(300, 400)
    assert "default" in cam["source"]
    # the default is a 2 atan(1/2) diagonal field of view
    assert 2 * math.degrees(math.atan(0.5 * 500 / cam["focal_length"])) == pytest.approx(53.13, abs=0.01)
    assert camera_for(photo, focal_length=1234)["focal_length"] == 1234
    with pytest.raises(ValueError, match="positive"):
        camera_for(photo, focal_length=-1)
    assert focal_from_exif({EXIF_TAGS["FocalLength"]: 0}, 100, 100)[0] is None


def test_huge_image_is_downscaled_and_focal_stays_consistent(tmp_path):
    f35 = 35
    p = _jpeg(tmp_path / "big.jpg", (4000, 3000), {EXIF_TAGS["FocalLengthIn35mmFilm"]: f35})
    photo = load_image(p)
    assert max(photo.size) == 1600 and photo.size == (1600, 1200)
    assert photo.scale == pytest.approx(0.4) and photo.original_size == (4000, 3000)
    f = camera_for(photo)["focal_length"]
    assert f == pytest.approx(f35 * 2000 / FULL_FRAME_DIAGONAL_MM)         # same field of view at 1600x1200
    assert f == pytest.approx(0.4 * focal_from_35mm(f35, 4000, 3000))


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_images_are_clear_errors(tmp_path):
    txt = tmp_path / "notes.jpg"
    txt.write_text("this is not an image\n")
    with pytest.raises(NotAnImageError, match="not an image"):
        load_image(txt)
    good = _jpeg(tmp_path / "ok.jpg", (640, 480))
    data = good.read_bytes()
    trunc = tmp_path / "truncated.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotAnImageError, match="truncated"):
        load_image(trunc)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")
    with pytest.raises(NotAnImageError, match=r"\(H, W, 3\)"):
        load_image(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(NotAnImageError, match="uint8"):
        load_image(np.full((10, 10, 3), 7.0))
    assert load_image(np.zeros((10, 12), np.uint8)).size == (12, 10)      # grey -> RGB


def test_missing_detector_names_make_photo(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)                   # import mediapipe -> ImportError
    with pytest.raises(DetectorUnavailable, match="make photo"):
        PoseDetector()
    assert not detector_available()


@needs_detector
def test_no_person_is_a_specific_error():
    with pytest.raises(NoPersonError, match="no person"):
        PoseDetector().landmarks(np.full((480, 640, 3), 200, np.uint8))


# ------------------------------------------------------------------------------------------------ rasteriser


def test_silhouette_matches_the_projected_triangle_footprint(body, views):
    v, f = views["vertices"][0].numpy(), np.asarray(body.faces, np.int64)
    W, H = (int(s) for s in views["image_size"][0])
    uv, z = project_points(v, float(views["focal_length"][0]), (W / 2, H / 2))
    mask = rasterize(uv, z, f, (W, H))["mask"]
    ref = Image.new("L", (W, H), 0)                                        # independent: PIL fills every triangle
    draw = ImageDraw.Draw(ref)
    for tri in uv[f]:
        draw.polygon([tuple(p - 0.5) for p in tri], fill=255)              # PIL samples pixel corners
    ref = np.asarray(ref) > 0
    iou = (mask & ref).sum() / (mask | ref).sum()
    assert iou > 0.97, iou
    # the rendered image's mask is the same, and the keypoints project inside the silhouette
    np.testing.assert_array_equal(views["masks"][0], mask)
    kp = views["keypoints_clean"][0].numpy().astype(int)
    inside = mask[kp[:12, 1].clip(0, H - 1), kp[:12, 0].clip(0, W - 1)]
    assert inside.mean() >= 0.9


def test_z_buffer_keeps_the_nearest_surface_in_any_order():
    # two overlapping fronto-parallel squares, the red one nearer (z=2) than the blue (z=4)
    sq = lambda z, s: np.array([[-s, -s, z], [s, -s, z], [s, s, z], [-s, s, z]], float)
    quad = np.array([[0, 1, 2], [0, 2, 3]])
    verts = np.concatenate([sq(4.0, 1.0), sq(2.0, 0.3)])
    for faces in (np.concatenate([quad, quad + 4]), np.concatenate([quad + 4, quad])):
        uv, z = project_points(verts, 100.0, (50, 50))
        r = rasterize(uv, z, faces, (100, 100))
        near = np.isin(r["face"], np.nonzero((faces >= 4).all(1))[0])
        assert near.sum() == pytest.approx((2 * 0.3 * 100 / 2) ** 2, rel=0.1)   # 15 px square
        assert np.allclose(r["depth"][near], 2.0) and np.allclose(r["depth"][r["mask"] & ~near], 4.0)
        assert r["face"][50, 50] in np.nonzero((faces >= 4).all(1))[0]
        np.testing.assert_allclose(r["bary"][r["mask"]].sum(-1), 1.0)
    # a tilted plane: the interpolated depth is the true (perspective) depth of the ray, not a linear blend
    tri = np.array([[-1.0, -1.0, 2.0], [1.0, -1.0, 6.0], [0.0, 1.5, 4.0]])
    uv, z = project_points(tri, 100.0, (50, 50))
    r = rasterize(uv, z, np.array([[0, 1, 2]]), (100, 100))
    n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    i, j = np.nonzero(r["mask"])
    rays = np.stack([(j + 0.5 - 50) / 100, (i + 0.5 - 50) / 100, np.ones_like(j, float)], 1)
    t = (n @ tri[0]) / (rays @ n)                                           # ray-plane intersection: depth = t
    np.testing.assert_allclose(r["depth"][i, j], t, rtol=1e-9)


def test_render_shapes_and_empty_image():
    img, mask = render_mesh_image(np.array([[0, 0, -1.0], [1, 0, -1], [0, 1, -1]]), np.array([[0, 1, 2]]), 100,
                                  (20, 20), (40, 30))
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8 and not mask.any()   # behind the camera
    with pytest.raises(ValueError, match=r"\(V, 3\)"):
        render_mesh_image(np.zeros((3, 2)), np.array([[0, 1, 2]]), 100, (0, 0), (10, 10))


# ------------------------------------------------------------------------------------------------ closed loop


def _pa_mpjpe(fit, views, i):
    from posekit.fitting import fit_errors

    e = fit_errors(fit["vertices"], fit["joints"], views["vertices"][i:i + 1], views["joints"][i:i + 1])
    return float(e["mpjpe_pa_mm"][0])


def test_fit_from_true_keypoints_recovers_the_pose(body, views):
    """No detector needed: the render's own projected LSP-14 points, the GMM prior."""
    from posekit.photo.fit import fit_photo, load_named_prior

    gmm = load_named_prior("gmm")
    errs = []
    for i in range(2):
        r = fit_photo(views["images"][i], prior=gmm, body_model=body, focal_length=float(views["focal_length"][i]),
                      keypoints=views["keypoints_clean"][i].numpy())
        errs.append(_pa_mpjpe(r["fit"], views, i))
        # the fit explains the keypoints
        assert np.linalg.norm(r["fit"]["projected"][0].numpy() - r["keypoints"], axis=1).mean() < 12
    assert np.mean(errs) < 90, errs


@needs_detector
def test_detector_on_renders_and_fit_closed_loop(body, views):
    from posekit.photo import detect_keypoints
    from posekit.photo.fit import fit_photo, load_named_prior

    px, errs, none_errs = [], [], []
    gmm = load_named_prior("gmm")
    for i, img in enumerate(views["images"]):
        kp, conf = detect_keypoints(img)
        assert kp.shape == (14, 2) and conf.shape == (14,) and (conf > 0).sum() >= 12
        px.append(np.linalg.norm(kp - views["keypoints_clean"][i].numpy(), axis=1))
        r = fit_photo(img, prior=gmm, body_model=body, focal_length=float(views["focal_length"][i]),
                      keypoints=kp, confidence=conf)
        errs.append(_pa_mpjpe(r["fit"], views, i))
    px = np.array(px)
    # detector keypoints vs the projected true joints (bodies ~500 px tall): ~8 px measured; the raw
    # landmarks without the hip/neck/head-top mapping are ~12 px off
    assert np.median(px) < 10 and px.mean() < 11, px.mean(0)
    assert np.mean(errs) < 110, errs


# ------------------------------------------------------------------------------------------------ CLI


@pytest.mark.parametrize("detector", [pytest.param(True, marks=needs_detector), False])
def test_cli_writes_every_output(tmp_path, body, detector):
    import trimesh

    from posekit.fit.__main__ import main
    from posekit.fit.outputs import FILES, PEOPLE_FILES
    from posekit.fit.synthetic import load_sample

    s = load_sample()
    out = tmp_path / "out"
    extra = [] if detector else ["--keypoints", str(s["path"].with_suffix(".json"))]   # the true keypoints
    assert main(["image", str(s["path"]), "--prior", "gmm", "--out", str(out), "--iters", "15", *extra]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*PEOPLE_FILES, "person_0"])
    assert sorted(p.name for p in (out / "person_0").iterdir()) == sorted(FILES)
    assert len(json.loads((out / "people.json").read_text())["people"]) == 1
    out = out / "person_0"
    info = json.loads((out / "fit.json").read_text())
    assert len(info["betas"]) == 10 and len(info["body_pose"]) == 69 and len(info["transl"]) == 3
    assert info["size"] == s["size"] and info["focal_length"] == pytest.approx(s["focal_length_exif"])
    assert "FocalLengthIn35mmFilm" in info["camera_source"]
    npz = np.load(out / "fit.npz")
    np.testing.assert_allclose(npz["body_pose"], info["body_pose"])
    mesh = trimesh.load(out / "mesh.obj", process=False)
    assert mesh.vertices.shape == tuple(body.v_template.shape) and len(mesh.faces) == len(body.faces)
    assert trimesh.load(out / "mesh.ply", process=False).vertices.shape == mesh.vertices.shape
    assert Image.open(out / "overlay.png").size[0] > 300
    # the fitted body is where the person is: its depth is near the true one
    assert npz["transl"][2] == pytest.approx(s["transl"][2], rel=0.25)


def test_cli_errors_write_nothing(tmp_path, monkeypatch, capsys):
    from posekit.fit.__main__ import main

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    assert main(["image", str(bad), "--out", str(out), "--prior", "none"]) == 2
    err = capsys.readouterr().err
    assert "could not be decoded" in err or "not an image" in err
    assert not out.exists()
    # without the detector: a one-line reason naming `make photo`, nothing written
    import posekit.photo.detect as detect

    monkeypatch.setattr(detect, "_DEFAULT", [])
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    sample = tmp_path / "s.png"
    Image.new("RGB", (64, 64)).save(sample)
    assert main(["image", str(sample), "--out", str(out)]) == 2
    assert "make photo" in capsys.readouterr().err and not out.exists()
    with pytest.raises(SystemExit):
        main(["image", str(sample), "--out", str(out), "--box", "1,2,3"])
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps({"keypoints": [[0, 0]] * 13}))
    assert main(["image", str(sample), "--out", str(out), "--keypoints", str(kp)]) == 2
    assert "14 [x, y]" in capsys.readouterr().err and not out.exists()


def test_outputs_are_all_or_nothing(tmp_path, body, views, monkeypatch):
    from posekit.fit import outputs
    from posekit.photo.fit import fit_photo

    r = fit_photo(views["images"][0], prior=None, body_model=body, focal_length=float(views["focal_length"][0]),
                  keypoints=views["keypoints_clean"][0].numpy(), stage_iters=3, camera_iters=3)
    monkeypatch.setattr(outputs, "_overlay_png", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        outputs.write_outputs(r, body.faces, tmp_path / "o")
    assert not (tmp_path / "o").exists()
    monkeypatch.undo()
    paths = outputs.write_outputs(r, body.faces, tmp_path / "o")
    assert sorted(paths) == sorted(outputs.FILES) and not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")]


def test_original_pixel_keypoints_and_focal_follow_the_downscaling(body, views):
    """The command line reads --keypoints and --focal in pixels of the original photo, like --box."""
    from posekit.photo.fit import fit_photo
    from posekit.photo.io import load_image

    img = np.asarray(views["images"][0])
    big = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)                  # the photo at twice the size
    photo = load_image(big, max_side=max(img.shape[:2]))                   # loaded back at the original size
    assert photo.scale == pytest.approx(0.5)
    kp, f = views["keypoints_clean"][0].numpy(), float(views["focal_length"][0])
    opts = {"prior": None, "body_model": body, "stage_iters": 2, "camera_iters": 2}
    a = fit_photo(photo, focal_length=2 * f, keypoints=2 * kp, original_pixels=True, **opts)
    b = fit_photo(photo, focal_length=f, keypoints=kp, **opts)
    np.testing.assert_allclose(a["keypoints"], b["keypoints"], rtol=1e-6)
    assert a["camera"]["focal_length"] == pytest.approx(b["camera"]["focal_length"])
    torch.testing.assert_close(a["fit"]["body_pose"], b["fit"]["body_pose"])
