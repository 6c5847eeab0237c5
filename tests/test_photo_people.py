"""Real photographs, several people, grey and 16-bit pictures, cut-off bodies (chapter 02b, issue 25).

The photographs ship in ``posekit/photo/sample/`` (public domain or CC0, from scikit-image's and
matplotlib's wheels; see its README). Tests marked ``needs_detector`` run MediaPipe on them and skip where it
is not installed (``make photo``); everything else (picture modes, boxes, tiles, the people search with a
scripted detector, parts fitted only by the prior, batched fits given detections, the files) runs without it.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from posekit.photo import NoPersonError, PhotoError, detector_available, load_image
from posekit.photo.people import (SAMPLE_DIR, Person, dedupe, find_people, load_cached_people,
                                  mask_boxes, overlap, parse_person, plausible, select_people, square_crop, tiles)

needs_detector = pytest.mark.skipif(not detector_available(),
                                    reason="the photo detector (mediapipe 0.10.21) is not installed: `make photo`")
PHOTOS = ("astronaut.jpg", "camera_grey.png", "grace_hopper.jpg")


@pytest.fixture(scope="module")
def body():
    from posekit.body import load_body_model

    torch.set_num_threads(1)
    return load_body_model(device="cpu")


@pytest.fixture(scope="module")
def gmm():
    from posekit.photo.fit import load_named_prior

    return load_named_prior("gmm")


def frame_of_people(scale: float = 0.5, gap: int = 10):
    """The three packaged photographs side by side in one frame (grey padding), each resized by ``scale`` ->
    (RGB uint8 array, [box (x0, y0, x1, y1) of each photograph in the frame])."""
    ims = [Image.open(SAMPLE_DIR / n).convert("RGB") for n in PHOTOS]
    ims = [im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS) for im in ims]
    W, H = sum(im.width for im in ims) + gap * (len(ims) - 1), max(im.height for im in ims)
    out = Image.new("RGB", (W, H), (128, 128, 128))
    x, boxes = 0, []
    for im in ims:
        out.paste(im, (x, H - im.height))
        boxes.append((x, H - im.height, x + im.width, H))
        x += im.width + gap
    return np.asarray(out), boxes


# ------------------------------------------------------------------------------------------------ picture modes


def test_grey_16_bit_palette_and_cmyk_copies_of_a_real_photo_load_as_its_rgb(tmp_path):
    grey = np.asarray(Image.open(SAMPLE_DIR / "camera_grey.png"))
    assert grey.ndim == 2 and grey.dtype == np.uint8
    img = load_image(SAMPLE_DIR / "camera_grey.png").image
    assert img.shape == (*grey.shape, 3) and (img == grey[..., None]).all()          # grey -> R = G = B
    # the same photograph as a 16-bit PNG (0-65535): the same 8-bit picture comes back
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    np.testing.assert_array_equal(load_image(tmp_path / "grey16.png").image, img)
    rgb = np.asarray(Image.open(SAMPLE_DIR / "astronaut.jpg").convert("RGB"))
    # palette: PIL's own conversion of the palette image is the reference
    pal = Image.fromarray(rgb).quantize(64)
    pal.save(tmp_path / "pal.png")
    np.testing.assert_array_equal(load_image(tmp_path / "pal.png").image, np.asarray(pal.convert("RGB")))
    # CMYK (as print files are): C = 255 − R etc. with K = 0 round-trips exactly through PIL
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    assert Image.open(tmp_path / "cmyk.tif").mode == "CMYK"
    np.testing.assert_array_equal(load_image(tmp_path / "cmyk.tif").image, rgb)
    # grey + alpha: alpha dropped
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png").image, img)


# ------------------------------------------------------------------------------------------------ boxes, tiles


def test_overlap_is_intersection_over_the_smaller_box_and_dedupe_keeps_the_larger():
    a, b = (0, 0, 10, 10), (5, 5, 25, 25)
    assert overlap(a, b) == pytest.approx(25 / 100) == overlap(b, a)
    assert overlap(a, (2, 2, 4, 4)) == 1.0 and overlap(a, (20, 0, 30, 10)) == 0.0
    p = lambda box: Person(np.zeros((33, 2)), np.ones(33), box)
    people = dedupe([p((0, 0, 10, 10)), p((0, 0, 40, 80)), p((100, 0, 120, 30)), p((30, 60, 50, 100))])
    assert [q.box for q in people] == [(0, 0, 40, 80), (30, 60, 50, 100), (100, 0, 120, 30)]


def test_every_person_smaller_than_half_a_tile_lies_whole_in_some_tile():
    g = np.random.default_rng(0)
    for W, H in ((1600, 900), (512, 512), (300, 1200)):
        ts = tiles((W, H))
        assert all(0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H for x0, y0, x1, y1 in ts)
        side = 0.5 * min(W, H) * 0.5                                     # half of the smallest tile
        for _ in range(200):
            w, h = g.uniform(5, side, 2)
            x0, y0 = g.uniform(0, W - w), g.uniform(0, H - h)
            box = (x0, y0, x0 + w, y0 + h)
            assert any(t[0] <= box[0] and t[1] <= box[1] and box[2] <= t[2] and box[3] <= t[3] for t in ts), box


def test_square_crop_and_masking():
    c = square_crop((100, 50, 140, 150), (1000, 1000), margin=0.25)
    assert c == (45, 25, 195, 175)                                        # side 100 · 1.5 around (120, 100)
    assert square_crop((0, 0, 40, 100), (60, 80)) == (0, 0, 60, 80)       # clipped to the image
    rgb = np.zeros((50, 60, 3), np.uint8)
    rgb[:, 30:] = 200
    out = mask_boxes(rgb, [(0, 0, 60, 50)], margin=0.0, keep=(10, 10, 20, 20))
    fill = rgb.reshape(-1, 3).mean(0).astype(np.uint8)
    assert (out[10:20, 10:20] == rgb[10:20, 10:20]).all()                 # kept
    assert (out[30:, 40:] == fill).all() and (out[0, 0] == fill).all()
    assert (rgb[:, 30:] == 200).all()                                     # the input is not changed


def test_person_choice():
    people = [Person(np.zeros((33, 2)), np.ones(33), (0, 0, s, s)) for s in (30, 20, 10)]
    assert select_people(people, "all") == people and select_people(people, "largest") == people[:1]
    assert select_people(people, "2") == people[2:] and parse_person(" Largest ") == "largest"
    for bad in ("3", "-1", "first", "1.5"):
        with pytest.raises(PhotoError, match="--person"):
            select_people(people, bad)


# ------------------------------------------------------------------------------------------------ the people search


class RedBlobDetector:
    """Stands in for MediaPipe with its one-person-per-call behaviour: the largest red blob of the picture it is
    given is "the person", answered as 33 landmarks laid out on a standing figure filling the blob."""

    TEMPLATE = np.array([[0.5, 0.08]] * 11 + [[0.75, 0.25], [0.25, 0.25], [0.8, 0.4], [0.2, 0.4], [0.8, 0.55],
                         [0.2, 0.55]] + [[0.8, 0.58], [0.2, 0.58]] * 3 + [[0.65, 0.55], [0.35, 0.55], [0.65, 0.75],
                        [0.35, 0.75], [0.65, 0.95], [0.35, 0.95], [0.65, 0.97], [0.35, 0.97], [0.7, 1.0], [0.3, 1.0]])

    def __init__(self):
        self.calls = 0

    def landmarks(self, rgb):
        from scipy import ndimage

        self.calls += 1
        red = (rgb[..., 0] > 180) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
        lab, n = ndimage.label(red)
        if n == 0:
            raise NoPersonError("nobody")
        sizes = ndimage.sum(red, lab, range(1, n + 1))
        ys, xs = np.nonzero(lab == 1 + int(np.argmax(sizes)))
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        return self.TEMPLATE * [x1 - x0, y1 - y0] + [x0, y0], np.ones(33)


def test_find_people_finds_every_person_large_and_small_in_photo_pixels():
    rgb = np.full((600, 1000, 3), 90, np.uint8)
    truth = [(100, 100, 260, 500), (600, 380, 630, 440), (820, 300, 860, 390)]       # tall, 60 px, 90 px
    for x0, y0, x1, y1 in truth:
        rgb[y0:y1, x0:x1] = (230, 20, 20)
    det = RedBlobDetector()
    people = find_people(rgb, det)
    assert len(people) == 3
    found = sorted(people, key=lambda p: p.box[0])
    T = RedBlobDetector.TEMPLATE
    for p, (x0, y0, x1, y1) in zip(found, truth):
        # the landmarks come back in pixels of the photo, through every crop and resize
        want = np.array([*(T.min(0) * [x1 - x0, y1 - y0] + [x0, y0]), *(T.max(0) * [x1 - x0, y1 - y0] + [x0, y0])])
        assert np.abs(np.array(p.box) - want).max() <= 0.03 * (y1 - y0) + 2, (p.box, want)
    assert [p.area for p in people] == sorted((p.area for p in people), reverse=True)
    assert det.calls < 300
    assert find_people(np.full((300, 300, 3), 90, np.uint8), RedBlobDetector()) == []


def test_an_upside_down_figure_is_not_a_person():
    """The detector's guesses on texture can come out upside down (nose below the hips): not plausible; the same
    landmarks upright are, and so is a figure whose hips are not seen."""
    (astro,) = load_cached_people(SAMPLE_DIR / "astronaut_mediapipe.json")
    lm, vis = astro.landmarks, astro.visibility
    assert (vis[[0, 23, 24]] > 0.5).all() and plausible(lm, vis)
    flipped = lm * [1, -1] + [0, 2 * lm[:, 1].mean()]                  # mirrored top to bottom
    assert not plausible(flipped, vis)
    no_hips = vis.copy()
    no_hips[[23, 24]] = 0.0
    assert plausible(flipped, no_hips) == plausible(lm, no_hips)          # without hips the rule does not apply


def test_a_crop_does_not_take_a_neighbours_limbs():
    """Refining one person's crop paints the other people's boxes over (outside this person's own box)."""
    from posekit.photo.people import refine_person

    rgb = np.full((400, 600, 3), 90, np.uint8)
    rgb[100:300, 200:260] = (230, 20, 20)                         # this person
    rgb[60:380, 262:400] = (230, 20, 20)                          # a larger neighbour right beside them
    me = Person(np.zeros((33, 2)), np.ones(33), (200, 100, 260, 300))
    other = Person(np.zeros((33, 2)), np.ones(33), (262, 60, 400, 380))
    r = refine_person(rgb, me, [other], RedBlobDetector())
    T = RedBlobDetector.TEMPLATE
    want = np.array([*(T.min(0) * [60, 200] + [200, 100]), *(T.max(0) * [60, 200] + [200, 100])])
    assert r is not me and np.abs(np.array(r.box) - want).max() <= 3, r.box


def test_no_person_names_box_and_the_photo_size():
    from posekit.photo.fit import detect_people

    photo = load_image(np.full((300, 500, 3), 90, np.uint8))
    with pytest.raises(NoPersonError) as e:
        detect_people(photo, detector=RedBlobDetector())
    msg = str(e.value)
    assert "--box X0,Y0,X1,Y1" in msg and "500×300 px" in msg and "cut off" in msg and "80 px" in msg and "\n" not in msg


# ------------------------------------------------------------------------------------------------ fitting


def test_parts_only_the_prior_placed_are_listed_and_drawn_faint(tmp_path, body, gmm):
    """The cached MediaPipe detections of the waist-up astronaut: legs unobserved -> listed in fit.json."""
    from posekit.fit.outputs import composite_overlay, write_people_outputs
    from posekit.photo.fit import fit_people, lsp_people, prior_only_parts, prior_only_vertices

    photo = load_image(SAMPLE_DIR / "astronaut.jpg")
    people = lsp_people(load_cached_people(SAMPLE_DIR / "astronaut_mediapipe.json"), photo.size)
    conf = people[0]["confidence"]
    assert conf[[0, 1, 4, 5]].tolist() == [0, 0, 0, 0] and (conf[[8, 9, 12]] > 0).all()   # no knees/ankles
    assert {"right shin", "left shin", "right foot", "left foot"} <= set(prior_only_parts(conf))
    assert "head" not in prior_only_parts(conf) and "chest" not in prior_only_parts(conf)
    r = fit_people(photo, prior=gmm, body_model=body, people=people, stage_iters=5, camera_iters=5)
    paths = write_people_outputs(r, body.faces, tmp_path / "out", body.lbs_weights)
    info = json.loads((tmp_path / "out" / "person_0" / "fit.json").read_text())
    assert set(info["prior_only_parts"]) == set(prior_only_parts(conf))
    assert {"right_ankle", "left_ankle", "right_knee", "left_knee"} <= set(info["unobserved_keypoints"])
    summary = json.loads((tmp_path / "out" / "people.json").read_text())
    assert summary["people"][0]["prior_only_parts"] == info["prior_only_parts"]
    assert {"overlay.png", "views.png", "people.json", "person_0/mesh.obj"} <= set(paths)
    assert Image.open(tmp_path / "out" / "views.png").size[0] > 2 * Image.open(tmp_path / "out" / "overlay.png").size[0]
    # faint: where the prior-only parts cover the photo, it shows through more than under observed parts
    hidden = prior_only_vertices(body.lbs_weights, conf)
    assert 0 < hidden.sum() < len(hidden)
    v, cam = r["fit"]["vertices"].numpy(), r["camera"]
    grey = np.full_like(photo.image, 128)
    drawn = lambda hid: composite_overlay(grey, v, body.faces, cam["focal_length"], cam["center"], hidden=hid)
    faint, solid = drawn(hidden[None]), drawn(np.zeros_like(hidden)[None])
    changed = (solid != grey).any(-1)
    differ = (faint != solid).any(-1)
    assert differ.any() and (differ <= changed).all()
    assert np.abs(faint.astype(int) - 128)[differ].mean() < np.abs(solid.astype(int) - 128)[differ].mean()


def test_several_people_fit_in_one_batch_as_each_alone(body, gmm):
    """Detections given: two people in one photo are two rows of one SMPLify, each as if fitted alone; the one
    drawn at half the size is fitted about twice as far away."""
    from posekit.fit.synthetic import held_out_poses, rendered_views
    from posekit.photo.fit import fit_people

    views = rendered_views(body, held_out_poses(1, seed=4), seed=4)
    img, f = views["images"][0], float(views["focal_length"][0])
    kp = views["keypoints_clean"][0].numpy()
    c = kp.mean(0)
    small = c + 0.5 * (kp - c) + np.array([-0.25 * img.shape[1], 0.0])               # half size, to the left
    conf = np.ones(14)
    conf[[0, 5]] = 0                                                                  # ankles unobserved
    a = {"keypoints": kp, "confidence": conf}
    b = {"keypoints": small, "confidence": np.ones(14)}
    opts = {"prior": gmm, "body_model": body, "focal_length": f, "stage_iters": 8, "camera_iters": 8}
    both = fit_people(img, people=[a, b], **opts)
    alone = [fit_people(img, people=[p], **opts) for p in (a, b)]
    assert [p["prior_only"] for p in both["people"]][1] == [] and "right foot" in both["people"][0]["prior_only"]
    for k in range(2):
        for key in ("body_pose", "transl", "betas"):
            torch.testing.assert_close(both["fit"][key][k], alone[k]["fit"][key][0], atol=2e-3, rtol=1e-3)
    za, zb = float(both["fit"]["transl"][0, 2]), float(both["fit"]["transl"][1, 2])
    assert 1.6 < zb / za < 2.5, (za, zb)


def test_cli_fits_every_person_given_as_keypoints(tmp_path, body):
    from posekit.fit.__main__ import main
    from posekit.fit.outputs import FILES

    cached = load_cached_people(SAMPLE_DIR / "astronaut_mediapipe.json")[0]
    from posekit.photo.detect import mediapipe_to_lsp

    kp, conf = mediapipe_to_lsp(cached.landmarks, cached.visibility, image_size=(384, 384))
    shifted = kp * 0.6 + np.array([150.0, 140.0])                        # a second, smaller person
    people = [{"keypoints": kp.tolist(), "confidence": conf.tolist()},
              {"keypoints": shifted.tolist(), "confidence": conf.tolist()}]
    (tmp_path / "kp.json").write_text(json.dumps({"people": people}))
    out = tmp_path / "out"
    assert main(["image", str(SAMPLE_DIR / "astronaut.jpg"), "--out", str(out), "--keypoints", str(tmp_path / "kp.json"),
                 "--iters", "4", "--prior", "none"]) == 0
    assert sorted(p.name for p in (out / "person_1").iterdir()) == sorted(FILES)
    info = json.loads((out / "people.json").read_text())
    assert [p["folder"] for p in info["people"]] == ["person_0", "person_1"]
    assert info["people"][1]["depth_m"] > info["people"][0]["depth_m"]
    with pytest.raises(SystemExit):
        main(["image", str(SAMPLE_DIR / "astronaut.jpg"), "--out", str(out), "--box", "1,2,3"])


def test_person_option_is_checked_before_the_photo_is_read(tmp_path, capsys):
    from posekit.fit.__main__ import main

    missing = tmp_path / "nowhere.jpg"
    assert main(["image", str(SAMPLE_DIR / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--person", "tallest"]) == 2
    assert "--person must be all, largest or" in capsys.readouterr().err
    assert main(["image", str(missing), "--out", str(tmp_path / "o"), "--person", "1", "--box", "0,0,10,10"]) == 2
    assert "cannot be combined with --box" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------ with the detector


@pytest.fixture(scope="module")
def detector():
    from posekit.photo.detect import PoseDetector

    return PoseDetector()


@needs_detector
def test_cached_detections_are_the_detectors(detector):
    rgb = load_image(SAMPLE_DIR / "astronaut.jpg").image
    (fresh,) = find_people(rgb, detector)
    (cached,) = load_cached_people(SAMPLE_DIR / "astronaut_mediapipe.json")
    seen = cached.visibility > 0.5
    assert np.linalg.norm(fresh.landmarks - cached.landmarks, axis=1)[seen].max() < 3.0


@needs_detector
def test_several_people_in_one_frame_without_a_box(body, gmm, detector, tmp_path):
    from posekit.fit.outputs import write_people_outputs
    from posekit.photo.fit import detect_people, fit_people

    rgb, photos = frame_of_people(0.5)                    # three photographs, people 130 to 190 px tall
    photo = load_image(rgb)
    people = detect_people(photo, detector=detector)
    assert len(people) >= 2
    inside = []
    for p in people:                                      # each box lies in one photograph, none spans two
        (k,) = [k for k, b in enumerate(photos) if overlap(p["box"], b) > 0.9]
        inside.append(k)
    assert len(set(inside)) == len(inside)
    r = fit_people(photo, prior=gmm, body_model=body, people=people)
    proj = r["fit"]["projected"].numpy()
    for k, p in enumerate(people):                        # each fit explains its own person's keypoints
        seen = p["confidence"] > 0
        err = np.linalg.norm(proj[k] - p["keypoints"], axis=1)[seen]
        assert np.median(err) < 0.1 * (p["box"][3] - p["box"][1]), err
    write_people_outputs(r, body.faces, tmp_path / "out", body.lbs_weights)
    info = json.loads((tmp_path / "out" / "people.json").read_text())
    assert len(info["people"]) == len(people)
    # --person largest: the one with the largest box
    assert detect_people(photo, person="largest", detector=detector)[0]["box"] == people[0]["box"]


@needs_detector
def test_small_people_are_found_on_tiles(detector):
    rgb, photos = frame_of_people(0.5)
    canvas = np.full((720, 1280, 3), 128, np.uint8)
    small = np.asarray(Image.fromarray(rgb).resize((rgb.shape[1] * 2 // 3, rgb.shape[0] * 2 // 3), Image.LANCZOS))
    canvas[400:400 + small.shape[0], 300:300 + small.shape[1]] = small                  # people ~85-125 px tall
    people = find_people(canvas, detector)
    rects = [(300 + b[0] * 2 / 3, 400 + b[1] * 2 / 3, 300 + b[2] * 2 / 3, 400 + b[3] * 2 / 3) for b in photos]
    # someone in each of the three photographs (the first search alone misses the smallest, 2 of 3)
    assert all(any(overlap(p.box, r) > 0.5 for p in people) for r in rects), [p.box for p in people]
    first = find_people(canvas, detector, fine=False)
    assert all(any(p.box == q.box for p in people) for q in first)          # the second search only adds
    assert all(300 <= p.box[0] and p.box[2] <= 300 + small.shape[1] + 2 and 400 - 30 <= p.box[1] for p in people)


@needs_detector
def test_grey_8_and_16_bit_photo_is_detected_alike(detector, tmp_path):
    from posekit.photo.fit import detect_people

    grey = np.asarray(Image.open(SAMPLE_DIR / "camera_grey.png"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    a = detect_people(load_image(SAMPLE_DIR / "camera_grey.png"), detector=detector)
    b = detect_people(load_image(tmp_path / "grey16.png"), detector=detector)
    assert len(a) == len(b) >= 1
    np.testing.assert_allclose(a[0]["keypoints"], b[0]["keypoints"])
    assert (a[0]["confidence"][[8, 9, 12, 13]] > 0).all()                 # shoulders, neck, head top seen


@needs_detector
def test_cut_off_portrait_marks_its_invented_legs(body, gmm, detector, tmp_path):
    from posekit.fit.__main__ import main

    out = tmp_path / "out"
    assert main(["image", str(SAMPLE_DIR / "grace_hopper.jpg"), "--out", str(out), "--iters", "10"]) == 0
    info = json.loads((out / "person_0" / "fit.json").read_text())
    assert {"right_ankle", "left_ankle", "right_knee", "left_knee"} <= set(info["unobserved_keypoints"])
    assert {"right shin", "left shin", "right foot", "left foot"} <= set(info["prior_only_parts"])
    assert "head" not in info["prior_only_parts"]
    assert np.asarray(info["confidence"])[[0, 1, 4, 5]].tolist() == [0, 0, 0, 0]
