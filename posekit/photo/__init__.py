"""posekit.photo: a real photo as SMPLify's input: load it, its camera, its person's 2D keypoints.

- ``io.py``: ``load_image`` (path / PIL / array -> RGB uint8, EXIF orientation, huge images downscaled,
  16-bit grey scaled to 8 bits, more than ``MAX_PIXELS`` refused);
- ``camera.py``: focal length in px from EXIF or a documented default, principal point at the centre;
- ``detect.py``: the optional offline detector (MediaPipe Pose, ``make photo``) and its 33 landmarks
  mapped to LSP-14 (``detect_keypoints``); importing it never needs mediapipe;
- ``wholebody.py``: the same detector's holistic model (body, hands, face mesh) mapped to the SMPL-X layout's 118
  whole-body keypoints (``detect_wholebody``); ``fit_smplx.py``: ``fit_photo_smplx`` (SMPLify-X on them);
- ``people.py``: every person in a photo (``find_people``: find, mask, repeat; tiles; one crop per person),
  boxes, ``--person`` choices, cached detections (``load_cached_people``);
- ``fit.py``: ``fit_photo`` (one person: load -> camera -> detect -> ``posekit.fitting.smplify``),
  ``fit_people`` (everyone in one batched SMPLify; the parts only the prior placed), ``load_named_prior``;
- ``sample/``: a test image rendered from the open body model, and three small real photographs (public
  domain / CC0, see ``sample/README.md``) with the detector's landmarks of one of them.

May import: ``posekit.fitting``, ``posekit.priors``, ``posekit.body``, ``posekit.data`` and the base
modules; never the experiments or viz (rendering lives in ``posekit.viz.render``).
"""
from .errors import DetectorUnavailable, NoPersonError, NotAnImageError, PhotoError
from .io import MAX_PIXELS, MAX_SIDE, MIN_SIDE, Photo, load_image
from .camera import camera_for, default_focal, focal_from_35mm, focal_from_exif, focal_from_sensor
from .detect import detect_keypoints, detect_landmarks, detector_available, mediapipe_to_lsp
from .wholebody import detect_wholebody

__all__ = ["PhotoError", "NotAnImageError", "NoPersonError", "DetectorUnavailable", "Photo", "load_image",
           "MAX_SIDE", "MAX_PIXELS", "MIN_SIDE", "camera_for", "default_focal", "focal_from_35mm", "focal_from_exif", "focal_from_sensor",
           "detect_keypoints", "detect_landmarks", "detector_available", "mediapipe_to_lsp", "detect_wholebody"]
