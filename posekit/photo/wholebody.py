"""Whole-body 2D keypoints of a photo (body, both hands, face) in posekit's SMPL-X layout.

``detect_wholebody(image, box=None) -> (keypoints (118,2) px, confidence (118,))`` in the order of
``posekit.fitting.wholebody.WHOLEBODY_NAMES``: 25 BODY_25 body points, 21 per hand (left, then right),
51 face landmarks (iBUG 17..67). "Left"/"right" are the person's, as everywhere in posekit.

The detector: MediaPipe Holistic (``mediapipe.solutions.holistic`` of mediapipe 0.10.21, Grishchenko &
Bazarevsky 2020, https://research.google/blog/mediapipe-holistic-simultaneous-face-hand-and-pose-prediction-on-device/),
with the models its wheel bundles (pose ``model_complexity=1``, the hand and the 468-point face-mesh
landmark models; ``refine_face_landmarks=False``), so it runs offline; ``static_image_mode=True``. It finds one
person (the pose model's best), then crops each hand and the face from the pose and runs their landmark
models: hands it cannot find (held behind the body, out of the frame, too small) come back missing. Optional
(``make photo``): importing this module never needs mediapipe; calling the detector without it raises
:class:`~posekit.photo.errors.DetectorUnavailable` naming ``make photo``. Image reading, the box check and the
quiet start-up are ``posekit.photo.detect``'s.

The mapping (:func:`holistic_to_wholebody`):

- **body**: BODY_25's points from MediaPipe Pose's 33 landmarks, each the landmark of the same name (eyes,
  ears, shoulders, elbows, wrists, knees, ankles, heels; big toe = ``foot_index``), except the points the
  pose model has no landmark for, which are built as for the SMPL path (``posekit.photo.detect``): the neck
  and both hips by :func:`~posekit.photo.detect.mediapipe_to_lsp`'s definitions, the mid hip their midpoint
  (both SMPL-X's and the SMPL open model's hip and neck joints come from the same MakeHuman rig). BODY_25's
  small toes have no MediaPipe counterpart: confidence 0. Confidence: the pose landmark's visibility, 0 below
  ``min_visibility``;
- **hands**: MediaPipe's 21 hand landmarks are already in the layout's order (wrist, then thumb CMC, MCP, IP,
  tip, then index, middle, ring, pinky, base to tip); Holistic's ``left_hand_landmarks`` is the person's left
  hand (it crops each hand from the pose's wrist of the same name; ``tests/test_photo_wholebody.py`` checks it
  on the rendered sample photo, whose true hands are known);
- **face**: :data:`FACE51_FROM_MESH`, the documented table below, picks for each of the iBUG-68 points 17..67
  (Sagonas et al. 2013, https://ibug.doc.ic.ac.uk/resources/facial-point-annotations/) one vertex of MediaPipe's
  face mesh (indices < 468, so the 478-point refined mesh maps too). Source of the vertex choices: the named
  contours of ``mediapipe/python/solutions/face_mesh_connections.py`` (FACEMESH_RIGHT_EYEBROW, _RIGHT_EYE, _LIPS,
  _NOSE, ... of mediapipe 0.10.21), where MediaPipe's "right" is also the person's right: each iBUG point is the
  vertex of its part's contour at the iBUG position (brows outer to inner along the upper edge, the eyes'
  corners and the lids' thirds, the nose midline and nostrils, the lips' corners, Cupid's bow and lower
  thirds). The tests check every index against those contours.

Hands and face carry no per-point score in Holistic's Python API (their ``visibility`` is 0): a part it found
gets confidence 1 on its points, a missing part 0. Any point outside the image gets confidence 0.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..fitting.wholebody import GROUPS, num_keypoints
from ..utils import atomic_path
from .detect import _I, _check_box, _import_mediapipe, _quiet_native_stderr, _rgb, mediapipe_to_lsp, run_graph
from .errors import PhotoError

__all__ = ["FACE51_FROM_MESH", "FACE_PARTS", "BODY25_FROM_MP", "HAND_POINTS", "FACE_MESH_POINTS", "PARTS",
           "holistic_to_wholebody", "WholeBodyDetector", "detect_holistic", "detect_wholebody", "save_holistic",
           "load_cached_holistic", "CACHED_SAMPLE", "parts_seen"]

#: points of MediaPipe's face mesh (478 with ``refine_face_landmarks``: the 10 iris points follow)
FACE_MESH_POINTS = 468
#: points of one MediaPipe hand (the layout's hand order)
HAND_POINTS = 21
#: the parts of a Holistic detection besides the pose
PARTS = ("left_hand", "right_hand", "face")

#: iBUG-68 points 17..67 -> MediaPipe face-mesh vertex (the layout's 51 face landmarks, in order)
FACE51_FROM_MESH = (
    70, 63, 105, 66, 107,                       # 17-21 right brow, outer -> inner (FACEMESH_RIGHT_EYEBROW)
    336, 296, 334, 293, 300,                    # 22-26 left brow, inner -> outer (FACEMESH_LEFT_EYEBROW)
    168, 197, 5, 4,                             # 27-30 nose bridge, top -> tip (FACEMESH_NOSE)
    98, 97, 2, 326, 327,                        # 31-35 nostrils' base, right -> left (FACEMESH_NOSE)
    33, 160, 158, 133, 153, 144,                # 36-41 right eye: outer corner, upper lid, inner corner, lower lid
    362, 385, 387, 263, 373, 380,               # 42-47 left eye: inner corner, upper lid, outer corner, lower lid
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,   # 48-59 outer lips from the right corner, clockwise
    78, 82, 13, 312, 308, 317, 14, 87,          # 60-67 inner lips from the right corner, clockwise
)
#: the face parts: (MediaPipe contour of face_mesh_connections.py, iBUG points) -- what the tests check
FACE_PARTS = (("FACEMESH_RIGHT_EYEBROW", range(17, 22)), ("FACEMESH_LEFT_EYEBROW", range(22, 27)),
              ("FACEMESH_NOSE", range(27, 36)), ("FACEMESH_RIGHT_EYE", range(36, 42)),
              ("FACEMESH_LEFT_EYE", range(42, 48)), ("FACEMESH_LIPS", range(48, 68)))

#: BODY_25 index -> MediaPipe Pose landmark taken as it is (neck, hips and mid hip are built; small toes: none)
BODY25_FROM_MP = {0: _I["nose"], 2: _I["right_shoulder"], 3: _I["right_elbow"], 4: _I["right_wrist"],
                  5: _I["left_shoulder"], 6: _I["left_elbow"], 7: _I["left_wrist"], 10: _I["right_knee"],
                  11: _I["right_ankle"], 13: _I["left_knee"], 14: _I["left_ankle"], 15: _I["right_eye"],
                  16: _I["left_eye"], 17: _I["right_ear"], 18: _I["left_ear"], 19: _I["left_foot_index"],
                  21: _I["left_heel"], 22: _I["right_foot_index"], 24: _I["right_heel"]}
_BUILT = {1: 12, 9: 2, 12: 3}                   # BODY_25 neck, right hip, left hip <- LSP-14 rows
_MID_HIP = 8

#: the cached Holistic detection of a packaged photo (for machines without the detector)
CACHED_SAMPLE = Path(__file__).parent / "sample" / "astronaut_holistic.json"


def _points(a, n: int, what: str) -> np.ndarray | None:
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < n or a.shape[1] != 2:
        raise PhotoError(f"expected {what} as ({n}, 2) pixels, got {a.shape}")
    return a


def holistic_to_wholebody(pose, visibility, face=None, left_hand=None, right_hand=None, image_size=None,
                          min_visibility: float = 0.2):
    """A Holistic detection -> whole-body keypoints (118,2) px and confidence (118,) (see the module docstring).

    pose (33,2) px and visibility (33,): MediaPipe Pose's landmarks; face (468 or 478, 2) px or None; left_hand /
    right_hand (21,2) px or None (the person's left / right). ``image_size`` (W, H): points outside get 0.
    """
    lm = _points(pose, 33, "MediaPipe Pose's 33 landmarks")
    vis = np.asarray(visibility, dtype=np.float64)
    if lm.shape != (33, 2) or vis.shape != (33,):
        raise PhotoError(f"expected MediaPipe's 33 landmarks (33, 2) and visibility (33,), got {lm.shape}, {vis.shape}")
    K = num_keypoints()
    kp, conf = np.zeros((K, 2)), np.zeros(K)
    for b, m in BODY25_FROM_MP.items():                                       # body: BODY_25 = rows 0..24
        kp[b], conf[b] = lm[m], vis[m]
    lsp, lsp_conf = mediapipe_to_lsp(lm, vis, min_visibility=0.0)
    for b, row in _BUILT.items():
        kp[b], conf[b] = lsp[row], lsp_conf[row]
    kp[_MID_HIP] = 0.5 * (lsp[2] + lsp[3])
    conf[_MID_HIP] = min(lsp_conf[2], lsp_conf[3])
    conf[:25] = np.where(conf[:25] >= min_visibility, conf[:25], 0.0)
    parts = {"left_hand": _points(left_hand, HAND_POINTS, "a hand's 21 landmarks"),
             "right_hand": _points(right_hand, HAND_POINTS, "a hand's 21 landmarks")}
    face = _points(face, FACE_MESH_POINTS, "the face mesh's 468 landmarks")
    parts["face"] = None if face is None else face[list(FACE51_FROM_MESH)]
    for name, pts in parts.items():
        if pts is not None:
            rows = list(GROUPS[name])
            kp[rows], conf[rows] = pts[:len(rows)], 1.0
    if image_size is not None:
        W, H = image_size
        outside = (kp[:, 0] < 0) | (kp[:, 1] < 0) | (kp[:, 0] >= W) | (kp[:, 1] >= H)
        conf[outside] = 0.0
    return kp, conf


def parts_seen(confidence) -> dict[str, int]:
    """{"body", "left_hand", "right_hand", "face": number of that part's keypoints with confidence > 0}."""
    conf = np.asarray(confidence, dtype=np.float64)
    return {name: int((conf[list(GROUPS[name])] > 0).sum()) for name in ("body", "left_hand", "right_hand", "face")}


def _import_holistic():
    """mediapipe's Holistic solution; DetectorUnavailable (naming ``make photo``) without mediapipe."""
    _import_mediapipe()
    import mediapipe as mp

    return mp.solutions.holistic


class WholeBodyDetector:
    """MediaPipe Holistic (pose ``model_complexity=1``, 468-point face mesh, static images), created once."""

    def __init__(self, min_detection_confidence: float = 0.5):
        holistic = _import_holistic()
        with _quiet_native_stderr():
            self._holistic = holistic.Holistic(static_image_mode=True, model_complexity=1, smooth_landmarks=False,
                                               enable_segmentation=False, refine_face_landmarks=False,
                                               min_detection_confidence=min_detection_confidence)

    def landmarks(self, rgb: np.ndarray) -> dict:
        """RGB uint8 (H,W,3) -> {"pose" (33,2) px, "visibility" (33,), "face" (468,2) | None, "left_hand",
        "right_hand" (21,2) | None}; NoPersonError when the pose model finds nobody."""
        res, W, H = run_graph(self._holistic, rgb, "MediaPipe Holistic")
        px = lambda lms: np.array([[p.x * W, p.y * H] for p in lms.landmark])  # noqa: E731
        out = {"pose": px(res.pose_landmarks),
               "visibility": np.array([p.visibility for p in res.pose_landmarks.landmark])}
        for name, lms in (("face", res.face_landmarks), ("left_hand", res.left_hand_landmarks),
                          ("right_hand", res.right_hand_landmarks)):
            out[name] = None if lms is None else px(lms)
        return out

    def close(self) -> None:
        self._holistic.close()


def detect_holistic(image, box=None, detector: WholeBodyDetector | None = None) -> dict:
    """Holistic's landmarks of the person in ``image`` (path, PIL image, (H,W,3) uint8 array or Photo),
    optionally inside ``box`` (x0, y0, x1, y1) px of that image -> :meth:`WholeBodyDetector.landmarks`'s dict in
    full-image pixels, plus "size" (W, H).

    Without ``detector``, a fresh one per call: Holistic keeps state from one image to the next even in
    static-image mode (the face's crop follows the previous image; the same photo twice through one detector
    moved face points by up to 1.2 px), so only a fresh graph makes a detection reproducible (~0.2 s more)."""
    rgb = _rgb(image)
    H, W = rgb.shape[:2]
    box = None if box is None else _check_box(box, W, H)
    det = detector or WholeBodyDetector()
    try:
        if box is None:
            out = det.landmarks(rgb)
        else:
            x0, y0, x1, y1 = box
            out = det.landmarks(rgb[y0:y1, x0:x1])
            off = np.array([x0, y0], dtype=np.float64)
            out = {k: (v + off if k != "visibility" and v is not None else v) for k, v in out.items()}
    finally:
        if detector is None:
            det.close()
    out["size"] = (W, H)
    return out


def detect_wholebody(image, box=None, min_visibility: float = 0.2, detector: WholeBodyDetector | None = None):
    """The person's whole-body keypoints: ``image`` -> (keypoints (118,2) px, confidence (118,) in [0,1]) in
    ``WHOLEBODY_NAMES`` order. Raises NoPersonError / DetectorUnavailable."""
    d = detect_holistic(image, box=box, detector=detector)
    return holistic_to_wholebody(d["pose"], d["visibility"], d["face"], d["left_hand"], d["right_hand"],
                                 image_size=d["size"], min_visibility=min_visibility)


def save_holistic(path, detection: dict, image: str = "", note: str = "") -> Path:
    """Write a :func:`detect_holistic` result as JSON (rounded to 0.01 px), atomically -> the path."""
    import mediapipe as mp

    r = lambda a: None if a is None else np.round(np.asarray(a, dtype=np.float64), 2).tolist()  # noqa: E731
    d = {"image": image, "size": [int(s) for s in detection["size"]],
         "detector": f"mediapipe {mp.__version__} holistic (model_complexity=1, static images, 468-point face mesh), "
                     "posekit.photo.wholebody.detect_holistic", "note": note,
         "pose": r(detection["pose"]), "visibility": np.round(detection["visibility"], 4).tolist(),
         "face": r(detection["face"]), "left_hand": r(detection["left_hand"]), "right_hand": r(detection["right_hand"])}
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(d, separators=(",", ":")) + "\n")
    return path


def load_cached_holistic(path=CACHED_SAMPLE) -> dict:
    """A saved Holistic detection (:func:`save_holistic`) -> the dict of :func:`detect_holistic` (+ "detector")."""
    try:
        d = json.loads(Path(path).read_text())
        out = {"pose": np.asarray(d["pose"], dtype=np.float64), "visibility": np.asarray(d["visibility"], np.float64),
               "size": tuple(int(s) for s in d["size"]), "detector": d.get("detector", "cached")}
        for name in PARTS:
            out[name] = None if d.get(name) is None else np.asarray(d[name], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PhotoError(f"{path}: expected a saved Holistic detection (JSON with pose, visibility, size, face, "
                         f"left_hand, right_hand) ({type(e).__name__}: {e})") from e
    _points(out["pose"], 33, "the pose's 33 landmarks")
    return out

