"""The errors of the photo pipeline: each says what was expected and what to do."""
from __future__ import annotations

from ..errors import InputError

__all__ = ["PhotoError", "NotAnImageError", "NoPersonError", "DetectorUnavailable", "INSTALL_HINT"]

INSTALL_HINT = ("the photo detector needs mediapipe 0.10.21 and OpenCV: run `make photo` in the posekit "
                "folder (it installs requirements-photo.txt, then mediapipe==0.10.21 with --no-deps)")


class PhotoError(InputError):
    """A photo could not be used (base class of the errors below)."""


class NotAnImageError(PhotoError):
    """The file or object is not a readable RGB image (not an image, truncated, empty, wrong array shape)."""


class NoPersonError(PhotoError):
    """The detector found no person in the image."""


class DetectorUnavailable(ImportError):
    """The optional detector dependencies (mediapipe, OpenCV) are not installed."""
