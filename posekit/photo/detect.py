"""An offline 2D keypoint detector (MediaPipe Pose) and its 33 landmarks mapped to posekit's LSP-14.

``detect_keypoints(image) -> (keypoints (14,2) px, confidence (14,))`` in the LSP-14 order of
``posekit.fitting.keypoints`` (0 right ankle ... 12 neck, 13 head top; "right" is the person's right).

The detector: ``mediapipe.solutions.pose`` (BlazePose GHUM, Bazarevsky et al. 2020,
https://arxiv.org/abs/2006.10204) of mediapipe 0.10.21 with ``model_complexity=1``: the only pose model
its wheel bundles, so it runs offline. ``static_image_mode=True``: every image is detected afresh.
It is optional (``make photo``); importing this module works without it, and calling the detector then
raises :class:`~posekit.photo.errors.DetectorUnavailable` naming ``make photo``.

One person per call: the pose solution runs its person detector and keeps the best-scoring person only (its
Python API exposes neither the other detections nor their boxes); ``posekit.photo.people.find_people`` finds
everyone by calling it repeatedly (masking, tiles, crops). ``box`` (x0, y0, x1, y1) px of the image given here
detects inside that crop (``posekit.photo.fit`` takes it in the pixels of the original photo and converts it);
keypoints come back in full-image pixels, so the camera of the whole photo still applies. No person:
:class:`~posekit.photo.errors.NoPersonError`.

The detector always gets 8-bit RGB: grey, palette, CMYK or 16-bit pictures and (H, W) arrays are converted
first (``posekit.photo.io``); a picture with a side under ``MIN_SIDE`` px is refused.

The mapping (:func:`mediapipe_to_lsp`), 33 landmarks (image px) -> LSP-14:

- ankles, knees, wrists, elbows, shoulders: the landmark of the same name (MediaPipe's "left" is also the
  person's left);
- **hips**: the body model's hip joints do not sit where MediaPipe puts its hip landmarks: from the hip
  midpoint m_h, hip' = m_h + HIP_WIDTH · (hip − m_h) + HIP_DROP · (m_h − m_s), m_s the shoulder midpoint.
  On the open model (whose MakeHuman rig has wide hips, see ``posekit/body/models/README.md``) the fit
  gives HIP_WIDTH = 1.25 (wider) and HIP_DROP = 0.07 (lower); SMPL's own hip joints are narrower, so with
  real SMPL files refit them (``fit_mapping``) -- the LSP annotation itself is lower and wider still;
- **neck**: the shoulder midpoint moved towards the head: neck = m_s + NECK_UP · (m_e − m_s), m_e the ear
  midpoint (SMPL's neck joint sits above the shoulder line, at the base of the skull's column);
- **head top**: extrapolated from the ears along the neck→head direction: top = m_e + HEAD_UP · (m_e − m_s).

The four constants were fitted by least squares (:func:`fit_mapping`, then rounded) on 40 renders of
posekit's open body model in held-out poses (``posekit.fit.synthetic.rendered_views(..., seed=1)``),
between the detector's landmarks and the model's own LSP-14 points: the mean keypoint error fell from
11.1 px to 9.3 px (bodies ~500 px tall), the neck's median from 20 px (shoulder midpoint) to 4 px.
``tests/test_photo.py`` checks the result on other poses and ``benchmarks/photo.py`` prints it. The
detector sees a rendered mannequin there; on people its landmarks mean the same places, so the offsets
carry over to first order, not exactly.

Confidence: each point's MediaPipe ``visibility`` (the derived points take the smaller of their
sources'); below ``min_visibility`` it is set to 0 (the fit then ignores the point), and so is it for
points outside the image (MediaPipe extrapolates joints cut off by the frame, e.g. the hips of a portrait).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from .errors import INSTALL_HINT, DetectorUnavailable, NoPersonError, PhotoError
from .io import MIN_SIDE, Photo, _from_array, check_photo_size, load_image

__all__ = ["MP_NAMES", "LSP_FROM_MP", "HIP_WIDTH", "HIP_DROP", "NECK_UP", "HEAD_UP", "mediapipe_to_lsp",
           "fit_mapping", "detect_landmarks", "detect_keypoints", "detector_available", "PoseDetector"]

#: MediaPipe Pose's 33 landmarks (the person's left/right)
MP_NAMES = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
            "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
            "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
            "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
            "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
            "left_foot_index", "right_foot_index")
_I = {n: i for i, n in enumerate(MP_NAMES)}
#: LSP-14 index -> MediaPipe landmark taken as it is (hips, neck and head top are derived)
LSP_FROM_MP = {0: _I["right_ankle"], 1: _I["right_knee"], 4: _I["left_knee"], 5: _I["left_ankle"],
               6: _I["right_wrist"], 7: _I["right_elbow"], 8: _I["right_shoulder"], 9: _I["left_shoulder"],
               10: _I["left_elbow"], 11: _I["left_wrist"]}
HIP_WIDTH = 1.25     # hip' = m_h + HIP_WIDTH (hip − m_h) + HIP_DROP (m_h − m_s)
HIP_DROP = 0.07
NECK_UP = 0.3        # neck = m_s + NECK_UP (m_e − m_s)
HEAD_UP = 0.7        # head top = m_e + HEAD_UP (m_e − m_s)


def mediapipe_to_lsp(landmarks, visibility, min_visibility: float = 0.2, hip_width: float = HIP_WIDTH,
                     hip_drop: float = HIP_DROP, neck_up: float = NECK_UP, head_up: float = HEAD_UP,
                     image_size=None):
    """MediaPipe landmarks (33,2) px and visibility (33,) -> LSP-14 keypoints (14,2) px, confidence (14,).

    See the module docstring for the definitions of the hips, neck and head top. ``image_size`` (W, H):
    keypoints outside the image get confidence 0.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    if lm.shape != (33, 2) or vis.shape != (33,):
        raise ValueError(f"expected MediaPipe's 33 landmarks (33, 2) and visibility (33,), got {lm.shape}, {vis.shape}")
    kp = np.zeros((14, 2))
    conf = np.zeros(14)
    for lsp, mp_i in LSP_FROM_MP.items():
        kp[lsp], conf[lsp] = lm[mp_i], vis[mp_i]
    ls, rs, lh, rh = (_I[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    le, re = _I["left_ear"], _I["right_ear"]
    m_s = 0.5 * (lm[ls] + lm[rs])                          # shoulder midpoint
    m_h = 0.5 * (lm[lh] + lm[rh])                          # hip midpoint
    m_e = 0.5 * (lm[le] + lm[re])                          # ear midpoint (≈ the head's centre)
    for lsp, mp_i in ((2, rh), (3, lh)):
        kp[lsp] = m_h + hip_width * (lm[mp_i] - m_h) + hip_drop * (m_h - m_s)
        conf[lsp] = min(vis[lh], vis[rh])
    kp[12] = m_s + neck_up * (m_e - m_s)
    conf[12] = min(vis[ls], vis[rs])
    kp[13] = m_e + head_up * (m_e - m_s)
    conf[13] = min(vis[le], vis[re], vis[ls], vis[rs])
    conf = np.where(conf >= min_visibility, conf, 0.0)
    if image_size is not None:
        W, H = image_size
        outside = (kp[:, 0] < 0) | (kp[:, 1] < 0) | (kp[:, 0] >= W) | (kp[:, 1] >= H)
        conf[outside] = 0.0
    return kp, conf


def fit_mapping(landmarks, targets) -> dict:
    """Least-squares mapping constants from MediaPipe landmarks (N,33,2) to true LSP-14 points (N,14,2).

    Each derived point is linear in its constants: neck − m_s = NECK_UP (m_e − m_s), top − m_e =
    HEAD_UP (m_e − m_s), hip − m_h = HIP_WIDTH (hip_mp − m_h) + HIP_DROP (m_h − m_s). -> {"hip_width",
    "hip_drop", "neck_up", "head_up"} (keyword arguments of :func:`mediapipe_to_lsp`).
    """
    lm, t = np.asarray(landmarks, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 2) or t.shape != (lm.shape[0], 14, 2):
        raise ValueError(f"expected landmarks (N, 33, 2) and targets (N, 14, 2), got {lm.shape}, {t.shape}")
    m_s = 0.5 * (lm[:, _I["left_shoulder"]] + lm[:, _I["right_shoulder"]])
    m_h = 0.5 * (lm[:, _I["left_hip"]] + lm[:, _I["right_hip"]])
    d = 0.5 * (lm[:, _I["left_ear"]] + lm[:, _I["right_ear"]]) - m_s          # (N,2) m_e − m_s
    neck_up = float(((t[:, 12] - m_s) * d).sum() / (d * d).sum())
    head_up = float(((t[:, 13] - m_s - d) * d).sum() / (d * d).sum())
    A = np.concatenate([np.stack([lm[:, mp_i] - m_h, m_h - m_s], -1).reshape(-1, 2)
                        for mp_i in (_I["right_hip"], _I["left_hip"])])        # (4N, 2)
    y = np.concatenate([(t[:, lsp] - m_h).reshape(-1) for lsp in (2, 3)])      # (4N,)
    (hip_width, hip_drop), *_ = np.linalg.lstsq(A, y, rcond=None)
    return {"hip_width": float(hip_width), "hip_drop": float(hip_drop), "neck_up": neck_up, "head_up": head_up}


def detector_available() -> bool:
    """True when mediapipe (with its pose solution) and OpenCV import."""
    try:
        _import_mediapipe()
    except DetectorUnavailable:
        return False
    return True


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")        # keep MediaPipe's native log lines quiet
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import cv2  # noqa: F401  (mediapipe's solutions import it)
        import mediapipe as mp
        pose = mp.solutions.pose
    except (ImportError, AttributeError) as e:
        raise DetectorUnavailable(f"{INSTALL_HINT} ({type(e).__name__}: {e})") from e
    return pose


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence file descriptor 2 while MediaPipe's C++ code logs its start-up lines (Python errors still raise)."""
    try:
        saved = os.dup(2)
    except OSError:                                       # no fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run_graph(graph, rgb: np.ndarray, name: str):
    """One MediaPipe solution (``graph.process``) on an image -> (its result, W, H): the image converted to RGB
    uint8 (``posekit.photo.io``) and checked for size, MediaPipe's native logging silenced; NoPersonError naming
    ``name`` when it finds no pose."""
    rgb = _from_array(rgb)
    H, W = rgb.shape[:2]
    if min(W, H) < MIN_SIDE:
        raise PhotoError(f"the image is {W}×{H} px; a photo of a person needs at least {MIN_SIDE} px on each side")
    with _quiet_native_stderr():
        res = graph.process(np.ascontiguousarray(rgb))
    if res.pose_landmarks is None:
        raise NoPersonError(f"no person found in the {W}×{H} image ({name} detected nobody); "
                            "use a photo where one person is visible, or pass box=(x0, y0, x1, y1) around them")
    return res, W, H


class PoseDetector:
    """MediaPipe Pose (``model_complexity=1``, static images), created once and reused."""

    def __init__(self, min_detection_confidence: float = 0.5):
        pose = _import_mediapipe()
        with _quiet_native_stderr():
            self._pose = pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False,
                                   min_detection_confidence=min_detection_confidence)

    def landmarks(self, rgb: np.ndarray):
        """RGB uint8 (H,W,3) -> (landmarks (33,2) px, visibility (33,)); NoPersonError when none found.
        A grey (H,W) array or another dtype is converted to RGB uint8 first (``posekit.photo.io``)."""
        res, W, H = run_graph(self._pose, rgb, "MediaPipe Pose")
        a = np.array([[p.x * W, p.y * H, p.visibility] for p in res.pose_landmarks.landmark])
        return a[:, :2], a[:, 2]

    def close(self) -> None:
        self._pose.close()


_DEFAULT: list = []


def _default_detector() -> PoseDetector:
    if not _DEFAULT:
        _DEFAULT.append(PoseDetector())
    return _DEFAULT[0]


def _rgb(image) -> np.ndarray:
    """8-bit RGB (H,W,3) of a Photo, path, PIL image or array, at least MIN_SIDE px on each side."""
    photo = image if isinstance(image, Photo) else load_image(image, max_side=None)
    check_photo_size(photo)
    return _from_array(photo.image)


def _check_box(box, W: int, H: int) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (float(b) for b in box)
        ok = all(np.isfinite((x0, y0, x1, y1)))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise PhotoError(f"box must be (x0, y0, x1, y1): four finite numbers of pixels, got {box!r}")
    if x1 <= x0 or y1 <= y0:
        raise PhotoError(f"box {tuple(box)} must have x0 < x1 and y0 < y1 (left, top, right, bottom in pixels)")
    x0, y0, x1, y1 = max(0, round(x0)), max(0, round(y0)), min(W, round(x1)), min(H, round(y1))
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
        raise PhotoError(f"box {tuple(box)} leaves less than {MIN_SIDE}×{MIN_SIDE} px inside the {W}×{H} image")
    return x0, y0, x1, y1


def detect_landmarks(image, box=None, detector: PoseDetector | None = None):
    """MediaPipe's 33 landmarks of the person in ``image`` (path, PIL image, (H,W,3) uint8 array or
    :class:`Photo`), optionally inside ``box`` -> (landmarks (33,2) full-image px, visibility (33,))."""
    rgb = _rgb(image)
    det = detector or _default_detector()
    if box is None:
        return det.landmarks(rgb)
    x0, y0, x1, y1 = _check_box(box, rgb.shape[1], rgb.shape[0])
    lm, vis = det.landmarks(rgb[y0:y1, x0:x1])
    return lm + np.array([x0, y0], dtype=np.float64), vis


def detect_keypoints(image, box=None, min_visibility: float = 0.2, detector: PoseDetector | None = None):
    """The person's LSP-14 keypoints: ``image`` (path, PIL image, (H,W,3) uint8 or :class:`Photo`) ->
    (keypoints (14,2) px, confidence (14,) in [0,1]). Raises NoPersonError / DetectorUnavailable."""
    rgb = _rgb(image)
    lm, vis = detect_landmarks(rgb, box=box, detector=detector)
    return mediapipe_to_lsp(lm, vis, min_visibility=min_visibility, image_size=(rgb.shape[1], rgb.shape[0]))
